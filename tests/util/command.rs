//! `gitsync` as a process, as a user runs it: the binary Cargo built for these tests, in ripgrep's
//! `TestCommand` style. `gitsync(ARGS)` gives a builder (arguments, directory, environment, all
//! for the child only), and `run()` its exit code, stdout and stderr as text. The tests make their
//! own assertions on what ran; this module checks nothing but that the binary could start.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};

/// The `gitsync` binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gitsync"))
}

/// `gitsync ARGS`, ready to run; add more (paths, environment) with the builder's methods.
pub fn gitsync(args: &[&str]) -> Gitsync {
    let mut command = Command::new(bin());
    command.args(args);
    Gitsync { command }
}

/// A `gitsync` command line being built; see the module docs.
pub struct Gitsync {
    command: Command,
}

impl Gitsync {
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Gitsync {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Gitsync
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Gitsync {
        self.command.current_dir(dir);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Gitsync {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Gitsync {
        self.command.env_remove(key);
        self
    }

    pub fn stdout(&mut self, to: impl Into<Stdio>) -> &mut Gitsync {
        self.command.stdout(to);
        self
    }

    pub fn stderr(&mut self, to: impl Into<Stdio>) -> &mut Gitsync {
        self.command.stderr(to);
        self
    }

    /// Runs it to the end; what it printed, as bytes.
    pub fn output(&mut self) -> Output {
        self.command
            .output()
            .unwrap_or_else(|e| panic!("running {:?}: {e}", self.command))
    }

    /// Runs it to the end; its exit and what it printed, as text.
    pub fn run(&mut self) -> Ran {
        Ran::from(self.output())
    }

    /// Starts it and leaves it running (a long-running `sync` or `workspace serve`).
    pub fn spawn(&mut self) -> Child {
        self.command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", self.command))
    }
}

/// What a finished `gitsync` did: its exit, and its stdout and stderr (lossy UTF-8).
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Its stderr, then its stdout: all it said, for messages and for checks on either stream.
    pub fn text(&self) -> String {
        format!("{}{}", self.stderr, self.stdout)
    }

    /// Its exit and [`Ran::text`], for tests that read the two streams as one.
    pub fn status_and_text(self) -> (ExitStatus, String) {
        let text = self.text();
        (self.status, text)
    }

    /// Its stdout, line by line.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lines().map(str::to_owned).collect()
    }
}

impl From<Output> for Ran {
    fn from(out: Output) -> Ran {
        Ran {
            status: out.status,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
