//! The sync against real Git servers on loopback: `git http-backend` behind Basic auth (through a
//! small CGI bridge), `git daemon`, and OpenSSH's `sshd` (key authentication, strict host keys).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util;
use crate::util::{
    TestWorkspace, bare_remote, exported_tree_of, fixture_dir, git, sync_target, tree_of,
};
use gitsync::git::remote::{Auth, Remote, RemoteError};
use gitsync::model::ResourceType;
use gitsync::sync::full::{SyncError, full_sync};
use gitsync::workspace::Workspace;

#[tokio::test(flavor = "multi_thread")]
async fn https_style_basic_auth_through_git_http_backend() {
    let ws = TestWorkspace::seeded(None).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, _) = bare_remote(&repos, "repo.git");
    let port = util::git_http::serve(repos.clone()).await;
    let url = format!("http://127.0.0.1:{port}/repo.git");
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let client = ws.client("");

    let right = sync_target(
        root.path(),
        "cache-1.git",
        Remote {
            url: url.clone(),
            branch: "main".into(),
            auth: Auth::Basic {
                username: "gitsync".into(),
                password: "s3cret".into(),
            },
        },
    );
    let report = full_sync(&client, &right, &types, "2026-01-01T00:00:00.000Z")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.commits.len(), 12);
    assert_eq!(
        git(&remote_path, &["rev-parse", "main"]),
        report.commits[11].to_string()
    );

    let wrong = sync_target(
        root.path(),
        "cache-2.git",
        Remote {
            url: url.clone(),
            branch: "main".into(),
            auth: Auth::Basic {
                username: "gitsync".into(),
                password: "nope".into(),
            },
        },
    );
    let e = full_sync(&client, &wrong, &types, "2026-01-01T00:00:00.000Z")
        .await
        .err();
    assert!(
        matches!(
            &e,
            Some(SyncError::Remote(RemoteError::AuthenticationFailed { .. }))
        ),
        "{e:?}"
    );
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(format!(
            "{url}: authentication failed; check the credentials (the GitConnection's Secret, or the --git-* flags)"
        ))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn git_daemon() {
    let ws = TestWorkspace::seeded(None).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, _) = bare_remote(&repos, "repo.git");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    // `git daemon` runs `git-daemon` as a child; start that program itself so that killing it
    // stops the server.
    let exec_path = git(root.path(), &["--exec-path"]);
    let mut daemon = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
        .args([
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", repos.display()))
        .arg(&repos)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let t = sync_target(
        root.path(),
        "cache-3.git",
        Remote {
            url: format!("git://127.0.0.1:{port}/repo.git"),
            branch: "main".into(),
            auth: Auth::None,
        },
    );
    let report = full_sync(&ws.client(""), &t, &types, "2026-01-01T00:00:00.000Z").await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.commits.len(), 12);
    assert_eq!(
        git(&remote_path, &["rev-parse", "main"]),
        report.commits[11].to_string()
    );
}

/// OpenSSH's `sshd`, run by the test on a free loopback port with keys of its own: it lets in the
/// current user with the client key, and nothing else. Stopped when dropped.
struct Sshd {
    child: std::process::Child,
    port: u16,
    user: String,
    /// The key `authorized_keys` lists.
    client_key: PathBuf,
    /// `[127.0.0.1]:PORT` with the server's real host key.
    known_hosts: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

const SSHD: &str = "/usr/sbin/sshd";

impl Sshd {
    /// `None` when `sshd` is not installed and the run is not CI (`scripts/install-test-tools.sh`
    /// installs it); under CI its absence fails the test.
    fn start() -> Option<Sshd> {
        if !Path::new(SSHD).is_file() {
            assert!(
                !util::in_ci(),
                "{SSHD} is required under CI; run scripts/install-test-tools.sh"
            );
            eprintln!("note: {SSHD} not installed; skipping (run scripts/install-test-tools.sh)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let host_key = dir.path().join("host_key");
        keygen(dir.path(), "host_key");
        let client_key = dir.path().join("client_key");
        let client_pub = keygen(dir.path(), "client_key");
        let authorized_keys = dir.path().join("authorized_keys");
        std::fs::write(&authorized_keys, format!("{client_pub}\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        // The privilege-separation directory sshd insists on when run as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let user = run_program("id", &["-un"]);
        let log = dir.path().join("sshd.log");
        for _ in 0..10 {
            let port = util::free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\n\
                     Port {port}\n\
                     HostKey {host_key}\n\
                     AuthorizedKeysFile {authorized_keys}\n\
                     PidFile {pid}\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     PermitRootLogin prohibit-password\n\
                     UsePAM no\n\
                     StrictModes no\n",
                    host_key = host_key.display(),
                    authorized_keys = authorized_keys.display(),
                    pid = dir.path().join("sshd.pid").display(),
                ),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            // Its log goes to a file: no pipe of the test stays open behind sshd or the session
            // processes it forks.
            let log_file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("running {SSHD}: {e}"));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let exited = loop {
                if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                    break Some(status);
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break None;
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("sshd did not listen in time:\n{}", read_log(&log));
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            };
            match exited {
                None => {
                    let known_hosts = dir.path().join("known_hosts");
                    write_known_hosts(&known_hosts, port, &host_key);
                    return Some(Sshd {
                        child,
                        port,
                        user,
                        client_key,
                        known_hosts,
                        log,
                        _dir: dir,
                    });
                }
                // Another process took the port meanwhile: try another one.
                Some(_) if read_log(&log).contains("Address already in use") => continue,
                Some(status) => panic!("sshd exited with {status}:\n{}", read_log(&log)),
            }
        }
        panic!("sshd found no free port:\n{}", read_log(&log))
    }

    /// The `ssh://` URL of a repository on this machine.
    fn url(&self, repo: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    fn remote(&self, repo: &Path, identity: &Path, known_hosts: &Path) -> Remote {
        Remote {
            url: self.url(repo),
            branch: "main".into(),
            auth: Auth::Ssh {
                identity: identity.to_owned(),
                known_hosts: known_hosts.to_owned(),
            },
        }
    }

    fn log(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new ed25519 key pair `<dir>/<name>` (no passphrase); returns the public key line.
fn keygen(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "gitsync-test", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("ssh-keygen: {e}"));
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap_or_else(|e| panic!("{e}"))
        .trim()
        .to_owned()
}

/// A known_hosts file that names `[127.0.0.1]:port` with the public half of `<key>`.
fn write_known_hosts(path: &Path, port: u16, key: &Path) {
    let public =
        std::fs::read_to_string(key.with_extension("pub")).unwrap_or_else(|e| panic!("{e}"));
    let mut fields = public.split_whitespace();
    let (kind, blob) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
    std::fs::write(path, format!("[127.0.0.1]:{port} {kind} {blob}\n"))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Runs a program that is not git; returns its trimmed stdout.
fn run_program(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_with_the_right_key_and_host_key_syncs_and_syncs_again() {
    let Some(sshd) = Sshd::start() else { return };
    let ws = TestWorkspace::seeded(None).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, _) = bare_remote(root.path(), "repo.git");
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let client = ws.client("");
    let target = sync_target(
        root.path(),
        "cache.git",
        sshd.remote(&remote_path, &sshd.client_key, &sshd.known_hosts),
    );

    // The first sync: the branch does not exist yet.
    let report = full_sync(&client, &target, &types, "2026-01-01T00:00:00.000Z")
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log()));
    assert_eq!(report.commits.len(), 12);
    assert_eq!(
        git(&remote_path, &["rev-parse", "main"]),
        report.commits[11].to_string()
    );
    let checkout = root.path().join("checkout");
    git(
        root.path(),
        &[
            "clone",
            "-q",
            &remote_path.to_string_lossy(),
            &checkout.to_string_lossy(),
        ],
    );
    assert_eq!(tree_of(&checkout), exported_tree_of(&fixture_dir("v2025")));

    // A deleted resource: the next sync fetches the branch over SSH and pushes one commit on top.
    let labels = client
        .list(ResourceType::Label)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .delete(&labels[0])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = full_sync(&client, &target, &types, "2026-01-01T00:01:00.000Z")
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log()));
    assert_eq!(after.commits.len(), 1);
    assert_eq!(
        git(&remote_path, &["rev-parse", "main"]),
        after.commits[0].to_string()
    );
    assert_eq!(
        git(&remote_path, &["rev-parse", "main^"]),
        report.commits[11].to_string()
    );
    assert_eq!(
        git(
            &remote_path,
            &["show", "--name-status", "--format=", "main"]
        ),
        "D\tlabels/environment_dev.tf"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_refuses_a_host_whose_key_is_not_in_known_hosts() {
    let Some(sshd) = Sshd::start() else { return };
    let ws = TestWorkspace::seeded(None).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, _) = bare_remote(root.path(), "repo.git");
    let before = util::commit_readme(
        root.path(),
        &remote_path.to_string_lossy(),
        "Create README.md",
    );
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();
    let client = ws.client("");

    // known_hosts names the host with another key (as after a man-in-the-middle or a
    // reinstalled server), or does not name it at all.
    keygen(root.path(), "other_host_key");
    let changed = root.path().join("known_hosts_changed");
    write_known_hosts(&changed, sshd.port, &root.path().join("other_host_key"));
    let empty = root.path().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap_or_else(|e| panic!("{e}"));

    for (i, known_hosts) in [changed, empty].iter().enumerate() {
        let remote = sshd.remote(&remote_path, &sshd.client_key, known_hosts);
        let url = remote.url.clone();
        let target = sync_target(root.path(), &format!("cache-{i}.git"), remote);
        let e = full_sync(&client, &target, &types, "2026-01-01T00:00:00.000Z")
            .await
            .err();
        assert!(
            matches!(&e, Some(SyncError::Remote(RemoteError::HostKey { .. }))),
            "{}: {e:?}",
            known_hosts.display()
        );
        assert_eq!(
            e.map(|e| e.to_string()),
            Some(format!(
                "{url}: the host key is unknown or does not match known_hosts; add the host's key to known_hosts"
            ))
        );
        assert_eq!(git(&remote_path, &["rev-parse", "main"]), before);
    }
    // ssh gave up before authenticating: the server never let the client in.
    assert!(!sshd.log().contains("Accepted publickey"), "{}", sshd.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_refuses_a_key_the_server_does_not_authorize() {
    let Some(sshd) = Sshd::start() else { return };
    let ws = TestWorkspace::seeded(None).await;
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (remote_path, _) = bare_remote(root.path(), "repo.git");
    let before = util::commit_readme(
        root.path(),
        &remote_path.to_string_lossy(),
        "Create README.md",
    );
    let types: Vec<ResourceType> = ResourceType::git_sync_types().collect();

    keygen(root.path(), "stranger_key");
    let remote = sshd.remote(
        &remote_path,
        &root.path().join("stranger_key"),
        &sshd.known_hosts,
    );
    let url = remote.url.clone();
    let target = sync_target(root.path(), "cache.git", remote);
    let e = full_sync(&ws.client(""), &target, &types, "2026-01-01T00:00:00.000Z")
        .await
        .err();
    assert!(
        matches!(
            &e,
            Some(SyncError::Remote(RemoteError::AuthenticationFailed { .. }))
        ),
        "{e:?}"
    );
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(format!(
            "{url}: authentication failed; check the credentials (the GitConnection's Secret, or the --git-* flags)"
        ))
    );
    assert_eq!(git(&remote_path, &["rev-parse", "main"]), before);
}
