//! The deployment artifacts against the operator's contract: the plain manifests in deploy/, the
//! Helm chart in charts/gitsync, the Argo CD health check in argocd/, the Grafana dashboard in
//! dashboards/ and the CRD copy the chart ships; a real API server accepts deploy/ and the
//! examples, and the operator runs in one namespace under the chart's namespaced RBAC (labels
//! its own Pod as the leader's, keeps an apply journal and reads SyncSecrets under it). And
//! docs/pull-requests.md names what it documents: every spec.bidirectional field, state,
//! pull-request metric and alert.
//!
//! Some checks need a tool: `promtool` (Debian `prometheus`) for the alert rules and the
//! dashboard's queries, a Lua interpreter (`lua5.4`, `lua5.3`, `lua5.1` or `lua`) for
//! argocd/health_test.lua, Go with Debian's sprig and yaml.v3 sources
//! (`golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev`) to render the chart
//! without helm, and kube-apiserver, etcd and kubectl (scripts/install-test-tools.sh) and curl
//! for the RBAC run. Without one, its check is skipped with a note; with CI set, it fails instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::cluster::{TestCluster, condition};
use crate::util::command::gitsync;
use crate::util::operator::Operator;
use crate::util::{missing_tool, which};
use serde::Deserialize;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The contract: what the operator exposes and needs.

/// The operator's metric families (the Prometheus text names) and their types.
const METRIC_FAMILIES: &[(&str, &str)] = &[
    ("gitsync_sync_duration_seconds", "histogram"),
    ("gitsync_syncs_total", "counter"),
    ("gitsync_commits_pushed_total", "counter"),
    ("gitsync_push_failures_total", "counter"),
    ("gitsync_workspace_requests_total", "counter"),
    ("gitsync_workspace_rate_limited_waits_total", "counter"),
    ("gitsync_resources", "gauge"),
    ("gitsync_last_successful_sync_timestamp_seconds", "gauge"),
    ("gitsync_reconcile_errors_total", "counter"),
    ("gitsync_leader", "gauge"),
    ("gitsync_webhook_deliveries_total", "counter"),
    ("gitsync_plans_total", "counter"),
    ("gitsync_plan_duration_seconds", "histogram"),
    ("gitsync_applies_total", "counter"),
];

/// The labels of each family's series (histogram buckets also have `le`).
const METRIC_LABELS: &[(&str, &[&str])] = &[
    (
        "gitsync_sync_duration_seconds_bucket",
        &["namespace", "name", "kind"],
    ),
    (
        "gitsync_syncs_total",
        &["namespace", "name", "kind", "result"],
    ),
    ("gitsync_commits_pushed_total", &["namespace", "name"]),
    (
        "gitsync_push_failures_total",
        &["namespace", "name", "reason"],
    ),
    ("gitsync_workspace_requests_total", &["status"]),
    ("gitsync_workspace_rate_limited_waits_total", &[]),
    ("gitsync_resources", &["namespace", "name", "type"]),
    (
        "gitsync_last_successful_sync_timestamp_seconds",
        &["namespace", "name"],
    ),
    ("gitsync_reconcile_errors_total", &["controller", "reason"]),
    ("gitsync_leader", &[]),
    ("gitsync_webhook_deliveries_total", &["forge", "result"]),
    ("gitsync_plans_total", &["result"]),
    ("gitsync_plan_duration_seconds_bucket", &[]),
    ("gitsync_applies_total", &["result"]),
];

/// `gitsync operator`'s flags: all of them (but `--help`), so that a new one is added here and
/// the deployment's arguments are checked against it.
const OPERATOR_FLAGS: &[&str] = &[
    "--namespace",
    "--label-selector",
    "--state-dir",
    "--listen",
    "--lease-name",
    "--lease-namespace",
    "--identity",
    "--lease-seconds",
    "--concurrency",
    "--webhook-listen",
    "--pod-name",
    "--log-format",
    "--log-level",
];

/// (API group, resource, verb, resource name) — one permission.
type Grant = (String, String, String, Option<String>);

fn grant(group: &str, resource: &str, verb: &str, name: Option<&str>) -> Grant {
    (
        group.to_owned(),
        resource.to_owned(),
        verb.to_owned(),
        name.map(str::to_owned),
    )
}

/// Everything the operator does in the namespaces it watches, and nothing more.
fn expected_watch_grants() -> BTreeSet<Grant> {
    let mut g = BTreeSet::new();
    for resource in ["gitsyncs", "gitconnections", "syncsecrets"] {
        for verb in ["get", "list", "watch"] {
            g.insert(grant("gitsync.dev", resource, verb, None));
        }
        g.insert(grant(
            "gitsync.dev",
            &format!("{resource}/status"),
            "patch",
            None,
        ));
    }
    for verb in ["get", "list", "watch"] {
        g.insert(grant("", "secrets", verb, None));
    }
    // Apply journals (src/operator/journal.rs).
    for verb in [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ] {
        g.insert(grant("", "configmaps", verb, None));
    }
    for group in ["events.k8s.io", ""] {
        for verb in ["create", "patch"] {
            g.insert(grant(group, "events", verb, None));
        }
    }
    g
}

/// Leader election on the Lease `lease`, and the leader's label on its own Pod
/// (src/operator/leader_label.rs: a merge patch, nothing else).
fn expected_lease_grants(lease: &str) -> BTreeSet<Grant> {
    let mut g = BTreeSet::new();
    g.insert(grant("coordination.k8s.io", "leases", "create", None));
    for verb in ["get", "patch", "update"] {
        g.insert(grant("coordination.k8s.io", "leases", verb, Some(lease)));
    }
    g.insert(grant("", "pods", "patch", None));
    g
}

/// The label the leader's Pod carries and the webhook Service selects.
const LEADER_LABEL: &str = "gitsync.dev/leader";

// ---------------------------------------------------------------------------------------------
// Helpers.

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every non-empty YAML document of `text`.
fn documents(text: &str, origin: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{origin}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// The .yaml files in `dir` (not below it), sorted as `kubectl apply -f dir` reads them.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
}

/// An object with the file it came from.
#[derive(Debug, Clone)]
struct Object {
    file: String,
    value: Value,
}

impl Object {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
    fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }
}

fn objects_in(files: &[PathBuf]) -> Vec<Object> {
    files
        .iter()
        .flat_map(|f| {
            let file = f.strip_prefix(root()).unwrap_or(f).display().to_string();
            documents(&read(f), &file)
                .into_iter()
                .map(move |value| Object {
                    file: file.clone(),
                    value,
                })
        })
        .collect()
}

fn deploy_objects() -> Vec<Object> {
    objects_in(&yaml_files(&root().join("deploy")))
}

fn example_objects() -> Vec<Object> {
    objects_in(&yaml_files(&root().join("deploy/examples")))
}

fn find<'a>(objects: &'a [Object], kind: &str, name: &str) -> &'a Value {
    &objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .value
}

fn has(objects: &[Object], kind: &str) -> bool {
    objects.iter().any(|o| o.kind() == kind)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    s.as_str()
                        .unwrap_or_else(|| panic!("not a string: {s}"))
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The string at JSON `pointer` in `v`; panics when there is none.
fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

/// The permissions an RBAC rule list grants, one per group × resource × verb × name.
fn grants(rules: &Value) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules is a list") {
        assert!(
            rule.get("nonResourceURLs").is_none(),
            "no non-resource URLs: {rule}"
        );
        let names = strings(&rule["resourceNames"]);
        let names: Vec<Option<String>> = if names.is_empty() {
            vec![None]
        } else {
            names.into_iter().map(Some).collect()
        };
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    for name in &names {
                        out.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    out
}

fn assert_grants(actual: &BTreeSet<Grant>, expected: &BTreeSet<Grant>, what: &str) {
    let extra: Vec<_> = actual.difference(expected).collect();
    let missing: Vec<_> = expected.difference(actual).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: grants more than the operator needs: {extra:?}; lacks: {missing:?}"
    );
    for (group, resource, verb, _) in actual {
        assert!(
            group != "*" && resource != "*" && verb != "*",
            "{what}: wildcard"
        );
        assert!(
            !["deployments", "replicasets", "statefulsets"].contains(&resource.as_str()),
            "{what}: the operator never touches {resource}"
        );
        // Only its own Pod's leader label, by patch: it never reads, makes or removes a Pod.
        assert!(
            resource != "pods" || verb == "patch",
            "{what}: {verb} on pods"
        );
        if ["gitsyncs", "gitconnections", "syncsecrets"].contains(&resource.as_str()) {
            assert!(
                ["get", "list", "watch"].contains(&verb.as_str()),
                "{what}: {verb} on {resource} itself (only its /status is written)"
            );
        }
        // The one deletion: an abandoned apply's journal (a ConfigMap the operator made).
        let journal_removal = resource == "configmaps" && verb == "delete";
        assert!(
            journal_removal
                || ![
                    "delete",
                    "deletecollection",
                    "escalate",
                    "bind",
                    "impersonate"
                ]
                .contains(&verb.as_str()),
            "{what}: {verb} on {resource}"
        );
    }
}

/// The series names the operator exposes: counters and gauges as named, histograms as their
/// `_bucket`, `_sum` and `_count` series.
fn known_series() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (family, kind) in METRIC_FAMILIES {
        if *kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{family}{suffix}"));
            }
        } else {
            out.insert((*family).to_owned());
        }
    }
    out
}

/// The `gitsync_*` names a PromQL expression mentions (outside quoted strings).
fn gitsync_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut quote: Option<char> = None;
    let mut token = String::new();
    let mut flush = |token: &mut String| {
        if token.starts_with("gitsync_") {
            out.insert(token.clone());
        }
        token.clear();
    };
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' || c == '`' => {
                flush(&mut token);
                quote = Some(c);
            }
            None if c.is_ascii_alphanumeric() || c == '_' || c == ':' => token.push(c),
            None => flush(&mut token),
        }
    }
    flush(&mut token);
    out
}

fn assert_known_metrics(expr: &str, what: &str) -> BTreeSet<String> {
    let names = gitsync_names(expr);
    assert!(!names.is_empty(), "{what}: no gitsync metric in `{expr}`");
    let known = known_series();
    for name in &names {
        assert!(
            known.contains(name),
            "{what}: `{name}` is not a metric the operator exposes (`{expr}`); known: {known:?}"
        );
    }
    names
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// ---------------------------------------------------------------------------------------------
// deploy/

#[test]
fn every_deploy_object_has_api_version_kind_and_name() {
    let mut seen = BTreeSet::new();
    let objects: Vec<Object> = deploy_objects()
        .into_iter()
        .chain(example_objects())
        .collect();
    assert!(objects.len() >= 12, "{} objects", objects.len());
    for o in &objects {
        let v = &o.value;
        for (field, value) in [
            ("apiVersion", &v["apiVersion"]),
            ("kind", &v["kind"]),
            ("metadata.name", &v["metadata"]["name"]),
        ] {
            assert!(
                value.as_str().is_some_and(|s| !s.is_empty()),
                "{}: an object without {field}: {v}",
                o.file
            );
        }
        assert!(
            seen.insert((
                o.kind().to_owned(),
                o.namespace().map(str::to_owned),
                o.name().to_owned()
            )),
            "{}: {} {} twice",
            o.file,
            o.kind(),
            o.name()
        );
    }
    // Everything but cluster-scoped objects lands in gitsync-system.
    for o in deploy_objects() {
        let cluster_scoped = ["Namespace", "ClusterRole", "ClusterRoleBinding"].contains(&o.kind());
        let expected = (!cluster_scoped).then_some("gitsync-system");
        assert_eq!(
            o.namespace(),
            expected,
            "{}: {} {}",
            o.file,
            o.kind(),
            o.name()
        );
    }
}

#[test]
fn deploy_files_are_numbered_commented_and_ordered() {
    let dir = root().join("deploy");
    let files = yaml_files(&dir);
    let mut kinds_in_order = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .unwrap_or_else(|| panic!("{}: no file name", f.display()))
            .to_string_lossy()
            .into_owned();
        assert!(
            name.len() > 3 && name[..2].chars().all(|c| c.is_ascii_digit()) && &name[2..3] == "-",
            "deploy/{name}: name it NN-what.yaml so that `kubectl apply -f deploy/` keeps the order"
        );
        for o in objects_in(std::slice::from_ref(f)) {
            kinds_in_order.push(o.kind().to_owned());
        }
    }
    let position = |kind: &str| {
        kinds_in_order
            .iter()
            .position(|k| k == kind)
            .unwrap_or_else(|| panic!("deploy/ has no {kind}"))
    };
    assert_eq!(position("Namespace"), 0, "the Namespace comes first");
    assert!(position("ServiceAccount") < position("Deployment"));
    assert!(position("ClusterRoleBinding") < position("Deployment"));
    assert!(position("RoleBinding") < position("Deployment"));
    for kind in [
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "PodDisruptionBudget",
    ] {
        position(kind);
    }
    let examples = yaml_files(&dir.join("examples"));
    for f in files.iter().chain(&examples) {
        assert!(
            read(f).starts_with('#'),
            "{}: start with a comment saying what it is",
            f.display()
        );
    }
    for kind in ["Secret", "GitConnection", "GitSync", "SyncSecret"] {
        assert!(
            has(&example_objects(), kind),
            "deploy/examples has no {kind}"
        );
    }
}

#[test]
fn deployment_runs_the_operator_as_documented() {
    let objects = deploy_objects();
    let deployment = find(&objects, "Deployment", "gitsync-operator");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"];
    let pod_labels = pod["metadata"]["labels"].as_object().expect("pod labels");
    let matches_pod = |selector: &Value, what: &str| {
        let selector = selector
            .as_object()
            .unwrap_or_else(|| panic!("{what}: no selector"));
        assert!(!selector.is_empty(), "{what}: empty selector");
        for (k, v) in selector {
            assert_eq!(
                pod_labels.get(k),
                Some(v),
                "{what} selects {k}={v}, the pods do not"
            );
        }
    };
    matches_pod(&deployment["spec"]["selector"]["matchLabels"], "Deployment");

    let spec = &pod["spec"];
    assert_eq!(spec["serviceAccountName"], "gitsync-operator");
    find(&objects, "ServiceAccount", "gitsync-operator");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(spec["securityContext"]["runAsUser"], 65532);
    let lease_seconds = 15;
    let grace = spec["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace period");
    assert!(grace > lease_seconds, "grace period {grace}s");

    let containers = spec["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args = strings(&c["args"]);
    assert_eq!(
        args.first().map(String::as_str),
        Some("operator"),
        "{args:?}"
    );
    let flag = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    for a in &args[1..] {
        let name = a.split('=').next().unwrap_or(a);
        assert!(OPERATOR_FLAGS.contains(&name), "unknown flag {a}");
    }
    let env: BTreeMap<&str, &Value> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("env without name: {e}")),
                e,
            )
        })
        .collect();
    assert_eq!(
        env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );

    let ports = c["ports"].as_array().expect("ports");
    let metrics_port = ports
        .iter()
        .find(|p| p["name"] == "http-metrics")
        .expect("a port named http-metrics");
    assert_eq!(metrics_port["containerPort"], 8080);
    let listen = flag("--listen").unwrap_or_else(|| "0.0.0.0:8080".into());
    assert!(listen.ends_with(":8080"), "--listen={listen}");
    // Webhook deliveries: their own port, flag and Service.
    let webhook_port = ports
        .iter()
        .find(|p| p["name"] == "http-webhook")
        .expect("a port named http-webhook");
    assert_eq!(webhook_port["containerPort"], 8081);
    assert_eq!(flag("--webhook-listen").as_deref(), Some("0.0.0.0:8081"));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "http-metrics", "{probe}");
    }
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                !c["resources"][kind][resource].is_null(),
                "resources.{kind}.{resource}"
            );
        }
    }
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert!(strings(&sc["capabilities"]["drop"]).contains(&"ALL".to_owned()));

    // The state dir and /tmp are writable volumes.
    let state_dir = flag("--state-dir").unwrap_or_else(|| "/var/lib/gitsync".into());
    let volumes: BTreeMap<&str, &Value> = spec["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| {
            (
                v["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("volume without name: {v}")),
                v,
            )
        })
        .collect();
    for path in [state_dir.as_str(), "/tmp"] {
        let mount = c["volumeMounts"]
            .as_array()
            .expect("volumeMounts")
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        let volume = volumes[mount["name"]
            .as_str()
            .unwrap_or_else(|| panic!("volumeMount without name: {mount}"))];
        assert!(
            volume.get("emptyDir").is_some() || volume.get("persistentVolumeClaim").is_some(),
            "{path}: {volume}"
        );
        assert_ne!(mount["readOnly"], true, "{path} is read-only");
    }

    // Service, ServiceMonitor and PodDisruptionBudget find the pods and the port.
    let service = find(&objects, "Service", "gitsync-operator-metrics");
    matches_pod(&service["spec"]["selector"], "Service");
    let sport = &service["spec"]["ports"][0];
    assert_eq!(sport["port"], 8080);
    assert_eq!(sport["targetPort"], "http-metrics");
    assert_eq!(sport["name"], "http-metrics");
    // The webhook Service selects the pods and, of them, the leader's alone: the label the
    // leader sets on its own Pod, which the template does not carry.
    let webhook = find(&objects, "Service", "gitsync-operator-webhook");
    let mut selector = webhook["spec"]["selector"].clone();
    let leader = selector
        .as_object_mut()
        .and_then(|s| s.remove(LEADER_LABEL))
        .unwrap_or_else(|| panic!("the webhook Service does not select {LEADER_LABEL}"));
    assert_eq!(leader, "true");
    assert!(
        pod_labels.get(LEADER_LABEL).is_none(),
        "every pod would carry {LEADER_LABEL}"
    );
    matches_pod(&selector, "webhook Service");
    assert!(
        !args.iter().any(|a| a.starts_with("--pod-name")),
        "--pod-name comes from POD_NAME (the downward API)"
    );
    assert_eq!(
        webhook["spec"]["ports"],
        json!([{ "name": "http-webhook", "port": 8081, "targetPort": "http-webhook", "protocol": "TCP" }])
    );
    let monitor = find(&objects, "ServiceMonitor", "gitsync-operator");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap_or_else(|| panic!("ServiceMonitor without selector.matchLabels: {monitor}"))
    {
        assert_eq!(
            service["metadata"]["labels"].get(k),
            Some(v),
            "ServiceMonitor selects {k}"
        );
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "http-metrics");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(
        endpoint["honorLabels"], true,
        "the series' namespace/name labels are the GitSync's"
    );
    let pdb = find(&objects, "PodDisruptionBudget", "gitsync-operator");
    matches_pod(
        &pdb["spec"]["selector"]["matchLabels"],
        "PodDisruptionBudget",
    );

    // The Lease the Role allows is the one the operator uses.
    let lease = flag("--lease-name").unwrap_or_else(|| "gitsync-operator".into());
    let role = find(&objects, "Role", "gitsync-operator-leader-election");
    assert_grants(
        &grants(&role["rules"]),
        &expected_lease_grants(&lease),
        "leader election Role",
    );
}

#[test]
fn deployment_flags_exist_in_the_binary() {
    let out = gitsync(&["operator", "--help"]).output();
    assert_success(&out, "gitsync operator --help");
    let help = String::from_utf8_lossy(&out.stdout);
    // Whole flags at the start of an option line (`  -n, --namespace <NAMESPACE>`), not
    // substrings: `--namespace` is in `--lease-namespace` too.
    let offered: BTreeSet<&str> = help
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line
                .strip_prefix('-')
                .and_then(|l| l.get(1..)?.strip_prefix(", "))
                .unwrap_or(line);
            let flag = line.split([' ', '=', '<']).next()?;
            flag.starts_with("--").then_some(flag)
        })
        .filter(|flag| *flag != "--help")
        .collect();
    let expected: BTreeSet<&str> = OPERATOR_FLAGS.iter().copied().collect();
    assert_eq!(
        offered, expected,
        "`gitsync operator --help` against OPERATOR_FLAGS:\n{help}"
    );
    for env in [
        "GITSYNC_NAMESPACE",
        "GITSYNC_LABEL_SELECTOR",
        "GITSYNC_STATE_DIR",
        "POD_NAMESPACE",
        "POD_NAME",
    ] {
        // `[env: POD_NAME=]`: the whole name (`POD_NAME` is in `POD_NAMESPACE` too).
        assert!(
            help.contains(&format!("[env: {env}=")),
            "`gitsync operator --help` has no {env}:\n{help}"
        );
    }
}

#[test]
fn cluster_role_grants_exactly_what_the_operator_needs() {
    let objects = deploy_objects();
    let role = find(&objects, "ClusterRole", "gitsync-operator");
    assert_grants(
        &grants(&role["rules"]),
        &expected_watch_grants(),
        "ClusterRole",
    );

    for (kind, name, role_kind) in [
        ("ClusterRoleBinding", "gitsync-operator", "ClusterRole"),
        ("RoleBinding", "gitsync-operator-leader-election", "Role"),
    ] {
        let binding = find(&objects, kind, name);
        assert_eq!(binding["roleRef"]["kind"], role_kind, "{kind}");
        assert_eq!(binding["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        find(
            &objects,
            role_kind,
            binding["roleRef"]["name"]
                .as_str()
                .unwrap_or_else(|| panic!("binding without roleRef.name: {binding}")),
        );
        assert_eq!(
            binding["subjects"],
            json!([{ "kind": "ServiceAccount", "name": "gitsync-operator", "namespace": "gitsync-system" }]),
            "{kind}"
        );
    }
    // Nothing else in deploy/ grants anything.
    let rbac: Vec<_> = objects
        .iter()
        .filter(|o| o.kind().ends_with("Role") || o.kind().ends_with("RoleBinding"))
        .map(|o| format!("{} {}", o.kind(), o.name()))
        .collect();
    assert_eq!(rbac.len(), 4, "{rbac:?}");
}

// ---------------------------------------------------------------------------------------------
// Alerts.

fn prometheus_rule() -> Value {
    let objects = deploy_objects();
    find(&objects, "PrometheusRule", "gitsync-operator").clone()
}

/// The rules of a PrometheusRule, by alert name.
fn alerts(rule: &Value) -> BTreeMap<String, Value> {
    rule["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| {
            (
                r["alert"].as_str().expect("alert rules only").to_owned(),
                r.clone(),
            )
        })
        .collect()
}

#[test]
fn metric_contract_matches_the_operator() {
    use gitsync::telemetry::{DeliveryResult, GitSyncKey, Metrics, SyncKind, SyncResult};
    use gitsync::workspace::client::RequestObserver;

    // One series in every family (prometheus-client leaves out families without one).
    let metrics = Metrics::new();
    let key = GitSyncKey::new("ns", "a");
    metrics.observe_sync(
        &key,
        SyncKind::Full,
        SyncResult::Success,
        std::time::Duration::from_millis(1500),
    );
    metrics.commits_pushed(&key, 1);
    metrics.push_failure(&key, "host_key");
    metrics.set_resources(&key, &BTreeMap::from([("segment_source".to_owned(), 3)]));
    metrics.set_last_success(&key, 1_700_000_000.0);
    metrics.reconcile_error("gitsync", "SecretNotFound");
    metrics.set_leader(true);
    metrics.response(Some(200));
    metrics.rate_limited_wait(std::time::Duration::from_secs(1));
    metrics.webhook_delivery("github", DeliveryResult::Accepted);
    metrics.observe_plan("planned", 0.4);
    metrics.observe_apply("failed");
    let text = metrics.encode_prometheus().expect("encode");

    // The families the artifacts may use are the ones the operator registers, with their types
    // and labels.
    let registered: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    for (family, kind) in METRIC_FAMILIES {
        assert_eq!(
            registered.get(family),
            Some(kind),
            "{family} ({kind}) is not registered by the operator: {registered:?}"
        );
    }
    for (series, labels) in METRIC_LABELS {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{series}{{")) || l.starts_with(&format!("{series} ")))
            .unwrap_or_else(|| panic!("no {series} series in:\n{text}"));
        let found: Vec<&str> = line
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(inner, _)| {
                inner
                    .split(',')
                    .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
                    .filter(|k| *k != "le")
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(found, *labels, "labels of {series}");
    }
}

#[test]
fn alerts_use_only_the_operators_metrics() {
    let rule = prometheus_rule();
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let alerts = alerts(&rule);
    let names: BTreeSet<&str> = alerts.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "GitSyncStalled",
            "GitSyncPushFailing",
            "GitSyncOperatorNoLeader",
            "GitSyncApplyFailed",
            "GitSyncWebhookUnauthorized",
            "GitSyncPlansErroring",
        ])
    );
    for (name, alert) in &alerts {
        let expr = alert["expr"].as_str().expect("expr");
        assert_known_metrics(expr, name);
        assert!(alert["labels"]["severity"].is_string(), "{name}: severity");
        for annotation in ["summary", "description", "runbook"] {
            assert!(
                alert["annotations"][annotation]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name}: no {annotation} annotation"
            );
        }
    }
    let expr = |n: &str| {
        alerts[n]["expr"]
            .as_str()
            .unwrap_or_else(|| panic!("alert {n} without expr"))
            .to_owned()
    };
    assert!(expr("GitSyncStalled").contains("gitsync_last_successful_sync_timestamp_seconds"));
    assert!(expr("GitSyncStalled").contains("> 900"));
    assert_eq!(alerts["GitSyncStalled"]["for"], "10m");
    assert!(expr("GitSyncPushFailing").contains("increase(gitsync_push_failures_total[15m])"));
    assert!(expr("GitSyncPushFailing").contains("> 3"));
    assert!(expr("GitSyncOperatorNoLeader").contains("gitsync_leader) < 1"));
    assert_eq!(alerts["GitSyncOperatorNoLeader"]["for"], "5m");
    assert!(
        expr("GitSyncApplyFailed")
            .contains(r#"increase(gitsync_applies_total{result="failed"}[30m])"#)
    );
    assert!(expr("GitSyncApplyFailed").trim_end().ends_with("> 0"));
    assert!(
        expr("GitSyncWebhookUnauthorized")
            .contains(r#"increase(gitsync_webhook_deliveries_total{result="unauthorized"}[15m])"#)
    );
    assert!(expr("GitSyncWebhookUnauthorized").contains("forge"));
    assert!(
        expr("GitSyncPlansErroring")
            .contains(r#"increase(gitsync_plans_total{result="error"}[30m])"#)
    );
}

/// `promtool check rules` and `promtool test rules` on the PrometheusRule's groups: the
/// expressions parse, and each alert fires (with its annotations rendered) when it should.
fn promtool_rules(rule: &Value, what: &str) {
    let Some(promtool) = which("promtool") else {
        missing_tool("promtool (alert rules)", "the Debian package prometheus");
        return;
    };
    let dir = temp_dir();
    let rules = dir.path().join("rules.yaml");
    let yaml = serde_norway::to_string(&rule["spec"])
        .unwrap_or_else(|e| panic!("the PrometheusRule's spec as YAML: {e}"));
    fs::write(&rules, yaml).unwrap_or_else(|e| panic!("{}: {e}", rules.display()));
    let out = run(Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(&rules));
    assert_success(&out, &format!("promtool check rules ({what})"));

    // Expected annotations: the rule's own templates, filled in for the series below.
    let alerts = alerts(rule);
    let fill = |alert: &str, labels: &[(&str, &str)], value: &str| -> Value {
        let mut out = serde_json::Map::new();
        let annotations = alerts[alert]["annotations"]
            .as_object()
            .unwrap_or_else(|| panic!("alert {alert} without annotations"));
        for (k, v) in annotations {
            let mut s = v
                .as_str()
                .unwrap_or_else(|| panic!("alert {alert}: annotation {k} is not a string"))
                .to_owned();
            for (label, val) in labels {
                s = s.replace(&format!("{{{{ $labels.{label} }}}}"), val);
            }
            s = s.replace("{{ $value | humanizeDuration }}", value);
            s = s.replace("{{ $value | humanize }}", value);
            assert!(
                !s.contains("{{"),
                "{alert}: unexpected template in {k}: {s}"
            );
            out.insert(k.clone(), Value::String(s));
        }
        Value::Object(out)
    };
    let sync = [("namespace", "segment"), ("name", "prod")];
    let push = [
        ("namespace", "segment"),
        ("name", "prod"),
        ("reason", "host_key"),
    ];
    let leader = [
        ("namespace", "gitsync-system"),
        ("job", "gitsync-operator-metrics"),
    ];
    let webhook = [
        ("namespace", "gitsync-system"),
        ("job", "gitsync-operator-metrics"),
        ("forge", "github"),
    ];
    let operator_series = |name: &str, labels: &str| {
        format!(
            r#"{name}{{namespace="gitsync-system",job="gitsync-operator-metrics",pod="a",{labels}}}"#
        )
    };
    let tests = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                // Synced every minute (the value is the sync's time) until 10m, then stuck.
                { "series": r#"gitsync_last_successful_sync_timestamp_seconds{namespace="segment",name="prod",pod="a"}"#,
                  "values": "0+60x10 600x40" },
                // Another GitSync that keeps syncing.
                { "series": r#"gitsync_last_successful_sync_timestamp_seconds{namespace="segment",name="ok",pod="a"}"#,
                  "values": "0+60x50" },
                { "series": r#"gitsync_push_failures_total{namespace="segment",name="prod",reason="host_key",pod="a"}"#,
                  "values": "0x10 0+1x40" },
                // The leader (pod a) goes away at 10m; pod b stays a standby.
                { "series": r#"gitsync_leader{namespace="gitsync-system",job="gitsync-operator-metrics",pod="a"}"#,
                  "values": "1x10 0x40" },
                { "series": r#"gitsync_leader{namespace="gitsync-system",job="gitsync-operator-metrics",pod="b"}"#,
                  "values": "0x50" },
                // Applies: one succeeds at 5m, one fails at 20m.
                { "series": operator_series("gitsync_applies_total", r#"result="succeeded""#),
                  "values": "0x5 1x45" },
                { "series": operator_series("gitsync_applies_total", r#"result="failed""#),
                  "values": "0x20 1x30" },
                // GitHub deliveries: accepted all along; a wrong secret from 20m, one a minute;
                // GitLab: two unauthorized ones only (a scan), under the threshold.
                { "series": operator_series("gitsync_webhook_deliveries_total", r#"forge="github",result="accepted""#),
                  "values": "0+1x50" },
                { "series": operator_series("gitsync_webhook_deliveries_total", r#"forge="github",result="unauthorized""#),
                  "values": "0x20 1+1x30" },
                { "series": operator_series("gitsync_webhook_deliveries_total", r#"forge="gitlab",result="unauthorized""#),
                  "values": "0x20 2x30" },
                // Plans: conflicted ones do not count; errors from 20m, one a minute.
                { "series": operator_series("gitsync_plans_total", r#"result="conflicted""#),
                  "values": "0+1x50" },
                { "series": operator_series("gitsync_plans_total", r#"result="error""#),
                  "values": "0x20 1+1x30" },
            ],
            "alert_rule_test": [
                // 20 minutes since the last sync, under 10m of it past 900s: pending.
                { "eval_time": "30m", "alertname": "GitSyncStalled", "exp_alerts": [] },
                { "eval_time": "40m", "alertname": "GitSyncStalled", "exp_alerts": [{
                    "exp_labels": { "severity": "warning", "namespace": "segment", "name": "prod" },
                    "exp_annotations": fill("GitSyncStalled", &sync, "30m 0s"),
                }]},
                { "eval_time": "10m", "alertname": "GitSyncPushFailing", "exp_alerts": [] },
                { "eval_time": "30m", "alertname": "GitSyncPushFailing", "exp_alerts": [{
                    "exp_labels": { "severity": "warning", "namespace": "segment", "name": "prod", "reason": "host_key" },
                    "exp_annotations": fill("GitSyncPushFailing", &push, "15"),
                }]},
                { "eval_time": "10m", "alertname": "GitSyncOperatorNoLeader", "exp_alerts": [] },
                { "eval_time": "14m", "alertname": "GitSyncOperatorNoLeader", "exp_alerts": [] },
                { "eval_time": "20m", "alertname": "GitSyncOperatorNoLeader", "exp_alerts": [{
                    "exp_labels": { "severity": "critical", "namespace": "gitsync-system", "job": "gitsync-operator-metrics" },
                    "exp_annotations": fill("GitSyncOperatorNoLeader", &leader, ""),
                }]},
                // A success is no alert; the failure is, until it is 30m old.
                { "eval_time": "15m", "alertname": "GitSyncApplyFailed", "exp_alerts": [] },
                { "eval_time": "25m", "alertname": "GitSyncApplyFailed", "exp_alerts": [{
                    "exp_labels": { "severity": "warning", "namespace": "gitsync-system", "job": "gitsync-operator-metrics" },
                    "exp_annotations": fill("GitSyncApplyFailed", &leader, "1"),
                }]},
                { "eval_time": "55m", "alertname": "GitSyncApplyFailed", "exp_alerts": [] },
                { "eval_time": "20m", "alertname": "GitSyncWebhookUnauthorized", "exp_alerts": [] },
                { "eval_time": "30m", "alertname": "GitSyncWebhookUnauthorized", "exp_alerts": [{
                    "exp_labels": { "severity": "warning", "namespace": "gitsync-system", "job": "gitsync-operator-metrics", "forge": "github" },
                    "exp_annotations": fill("GitSyncWebhookUnauthorized", &webhook, "10"),
                }]},
                { "eval_time": "20m", "alertname": "GitSyncPlansErroring", "exp_alerts": [] },
                { "eval_time": "30m", "alertname": "GitSyncPlansErroring", "exp_alerts": [{
                    "exp_labels": { "severity": "warning", "namespace": "gitsync-system", "job": "gitsync-operator-metrics" },
                    "exp_annotations": fill("GitSyncPlansErroring", &leader, "10"),
                }]},
            ],
        }],
    });
    let test_file = dir.path().join("rules_test.yaml");
    let yaml =
        serde_norway::to_string(&tests).unwrap_or_else(|e| panic!("the rule tests as YAML: {e}"));
    fs::write(&test_file, yaml).unwrap_or_else(|e| panic!("{}: {e}", test_file.display()));
    let out = run(Command::new(&promtool).current_dir(dir.path()).args([
        "test",
        "rules",
        "rules_test.yaml",
    ]));
    assert_success(&out, &format!("promtool test rules ({what})"));
}

#[test]
fn promtool_checks_and_tests_the_alert_rules() {
    promtool_rules(&prometheus_rule(), "deploy/70-prometheusrule.yaml");
}

// ---------------------------------------------------------------------------------------------
// Dashboard.

fn dashboard() -> Value {
    serde_json::from_str(&read(&root().join("dashboards/gitsync.json")))
        .expect("dashboards/gitsync.json is JSON")
}

/// Every panel, rows' collapsed panels included.
fn panels(dashboard: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        out.push(p.clone());
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter().cloned());
        }
    }
    out
}

/// (panel title, refId, expr) of every query.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String, String)> {
    panels(dashboard)
        .iter()
        .filter(|p| p["type"] != "row")
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("").to_owned();
            p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("panel {title} has no targets"))
                .iter()
                .map(move |t| {
                    (
                        title.clone(),
                        t["refId"].as_str().unwrap_or("").to_owned(),
                        t["expr"]
                            .as_str()
                            .unwrap_or_else(|| panic!("{title}: no expr"))
                            .to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn dashboard_uses_only_the_operators_metrics() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion"
    );
    assert!(d["uid"].is_string() && d["title"].is_string());

    let vars: BTreeMap<&str, &Value> = d["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .map(|v| {
            (
                v["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("variable without name: {v}")),
                v,
            )
        })
        .collect();
    assert_eq!(vars["DS_PROMETHEUS"]["type"], "datasource");
    assert_eq!(vars["DS_PROMETHEUS"]["query"], "prometheus");
    for (var, label) in [("namespace", "namespace"), ("name", "name")] {
        let query = vars[var]["definition"].as_str().expect("definition");
        assert!(
            query.starts_with("label_values(gitsync_syncs_total")
                && query.ends_with(&format!(", {label})")),
            "${var}: {query}"
        );
        assert_known_metrics(query, var);
    }

    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "panel id twice"
        );
        assert!(p["gridPos"].is_object(), "{}: gridPos", p["title"]);
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        }
    }
    let mut used = BTreeSet::new();
    for (title, _, expr) in dashboard_queries(&d) {
        used.extend(assert_known_metrics(&expr, &title));
    }
    // Every metric has a panel.
    for (family, kind) in METRIC_FAMILIES {
        let series = if *kind == "histogram" {
            format!("{family}_bucket")
        } else {
            (*family).to_owned()
        };
        assert!(used.contains(&series), "no panel shows {series}");
    }
    let exprs: Vec<String> = dashboard_queries(&d).into_iter().map(|q| q.2).collect();
    for quantile in ["histogram_quantile(0.5,", "histogram_quantile(0.95,"] {
        assert!(exprs.iter().any(|e| e.contains(quantile)), "no {quantile}");
    }
}

#[test]
fn promtool_parses_the_dashboard_queries() {
    let Some(promtool) = which("promtool") else {
        missing_tool(
            "promtool (dashboard queries)",
            "the Debian package prometheus",
        );
        return;
    };
    // Each query as a recording rule, with Grafana's variables filled in.
    let rules: Vec<Value> = dashboard_queries(&dashboard())
        .into_iter()
        .enumerate()
        .map(|(i, (title, _, expr))| {
            let expr = expr
                .replace("$__rate_interval", "5m")
                .replace("$__interval", "1m")
                .replace("$namespace", ".*")
                .replace("$name", ".*");
            json!({ "record": format!("dashboard:query_{i}"), "expr": expr, "labels": { "panel": title } })
        })
        .collect();
    let dir = temp_dir();
    let file = dir.path().join("dashboard_rules.yaml");
    let groups = json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    let yaml = serde_norway::to_string(&groups)
        .unwrap_or_else(|e| panic!("the dashboard's rules as YAML: {e}"));
    fs::write(&file, yaml).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let out = run(Command::new(&promtool).arg("check").arg("rules").arg(&file));
    assert_success(&out, "promtool check rules (dashboard queries)");
}

// ---------------------------------------------------------------------------------------------
// Examples.

#[test]
fn examples_match_the_crds_and_refer_to_each_other() {
    let crds = documents(
        &read(&root().join("crds/gitsync.dev.yaml")),
        "crds/gitsync.dev.yaml",
    );
    let examples = example_objects();
    for o in &examples {
        if !o.value["apiVersion"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no apiVersion", o.file))
            .starts_with("gitsync.dev/")
        {
            continue;
        }
        let crd = crds
            .iter()
            .find(|c| c["spec"]["names"]["kind"] == o.kind())
            .unwrap_or_else(|| panic!("no CRD for {}", o.kind()));
        let version = &crd["spec"]["versions"][0];
        assert_eq!(
            o.value["apiVersion"],
            format!(
                "gitsync.dev/{}",
                version["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("CRD version without name: {version}"))
            )
        );
        let schema = &version["schema"]["openAPIV3Schema"];
        let validator = jsonschema::draft4::new(schema).expect("the CRD schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&o.value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {} {}: {errors:?}",
            o.file,
            o.kind(),
            o.name()
        );
    }

    // The references resolve, and the Secrets use the keys the operator reads.
    let secret_keys = |name: &str| -> BTreeSet<String> {
        let s = find(&examples, "Secret", name);
        s["stringData"]
            .as_object()
            .or_else(|| s["data"].as_object())
            .expect("Secret data")
            .keys()
            .cloned()
            .collect()
    };
    let gitsync = find(&examples, "GitSync", "segment-production");
    let connection = find(
        &examples,
        "GitConnection",
        str_at(gitsync, "/spec/connectionRef/name"),
    );
    let git_keys = secret_keys(str_at(connection, "/spec/secretRef/name"));
    let url = str_at(gitsync, "/spec/repository/url");
    let flux_sets: &[&[&str]] = if url.starts_with("ssh://") {
        &[&["identity", "known_hosts"]]
    } else {
        &[&["username", "password"], &["bearerToken"]]
    };
    assert!(
        flux_sets
            .iter()
            .any(|set| set.iter().all(|k| git_keys.contains(*k))),
        "the Git Secret for {url} has {git_keys:?}"
    );
    let token = &gitsync["spec"]["workspace"]["tokenSecretRef"];
    assert!(secret_keys(str_at(token, "/name")).contains(str_at(token, "/key")));
    for o in examples.iter().filter(|o| o.kind() == "SyncSecret") {
        let r = &o.value["spec"]["secretRef"];
        assert!(
            secret_keys(str_at(r, "/name")).contains(str_at(r, "/key")),
            "SyncSecret {}",
            o.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Helm chart.

#[test]
fn chart_ships_the_generated_crds() {
    let generated = fs::read(root().join("crds/gitsync.dev.yaml")).expect("crds/gitsync.dev.yaml");
    let shipped = fs::read(root().join("charts/gitsync/crds/gitsync.dev.yaml"))
        .expect("charts/gitsync/crds/gitsync.dev.yaml");
    assert!(
        generated == shipped,
        "charts/gitsync/crds/gitsync.dev.yaml differs from crds/gitsync.dev.yaml; copy it: \
         cp crds/gitsync.dev.yaml charts/gitsync/crds/"
    );
}

#[test]
fn chart_metadata_and_values_parse() {
    let dir = root().join("charts/gitsync");
    let chart = &documents(&read(&dir.join("Chart.yaml")), "Chart.yaml")[0];
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "gitsync");
    assert_eq!(chart["type"], "application");
    assert!(chart["version"].is_string());
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "appVersion is the operator's version"
    );
    let objects = deploy_objects();
    let image =
        find(&objects, "Deployment", "gitsync-operator")["spec"]["template"]["spec"]["containers"]
            [0]["image"]
            .as_str()
            .unwrap_or_else(|| panic!("deploy/'s Deployment has no image"))
            .to_owned();
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "deploy/ runs {image}"
    );

    let values = &documents(&read(&dir.join("values.yaml")), "values.yaml")[0];
    for path in [
        "/image/repository",
        "/image/tag",
        "/replicaCount",
        "/watch/namespace",
        "/watch/labelSelector",
        "/resources/requests",
        "/resources/limits",
        "/serviceMonitor/enabled",
        "/prometheusRule/enabled",
        "/persistence/enabled",
        "/extraArgs",
    ] {
        assert!(values.pointer(path).is_some(), "values.yaml has no {path}");
    }
    assert_eq!(values["replicaCount"], 2);

    for f in [dir.join("Chart.yaml"), dir.join("values.yaml")] {
        assert!(read(&f).starts_with('#'), "{}: header comment", f.display());
    }
    let templates = dir.join("templates");
    for entry in fs::read_dir(&templates).unwrap_or_else(|e| panic!("{}: {e}", templates.display()))
    {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", templates.display()))
            .path();
        let text = read(&path);
        if path.extension().is_some_and(|x| x == "yaml" || x == "tpl") {
            assert!(
                text.starts_with("{{/*") || text.starts_with("{{- /*"),
                "{}: start with a {{{{/* comment */}}}}",
                path.display()
            );
        }
    }
}

/// A small Go program that renders a chart the way `helm template` does (Go's text/template,
/// sprig's functions and Helm's include/tpl/toYaml/required), for machines without helm.
const HELM_TEMPLATE_LITE: &str = r#"// helm-template-lite CHART RELEASE NAMESPACE [VALUES...]: renders a Helm chart's templates
// like `helm template` (values files merged over values.yaml, numbers read as float64 as Helm
// does), without helm. Written by tests/deploy_manifests.rs.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "helm-template-lite:", err)
	os.Exit(1)
}

func readYAML(path string) map[string]interface{} {
	raw, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var v map[string]interface{}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		fail(fmt.Errorf("%s: %w", path, err))
	}
	j, err := json.Marshal(v)
	if err != nil {
		fail(fmt.Errorf("%s: %w", path, err))
	}
	out := map[string]interface{}{}
	if err := json.Unmarshal(j, &out); err != nil {
		fail(err)
	}
	return out
}

func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			merge(dm, sm)
		} else {
			dst[k] = v
		}
	}
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func main() {
	if len(os.Args) < 4 {
		fail(fmt.Errorf("usage: helm-template-lite CHART RELEASE NAMESPACE [VALUES...]"))
	}
	chartDir, release, namespace := os.Args[1], os.Args[2], os.Args[3]
	chart := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	values := readYAML(filepath.Join(chartDir, "values.yaml"))
	for _, f := range os.Args[4:] {
		merge(values, readYAML(f))
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
			"Description": chart["description"], "Type": chart["type"],
		},
	}

	t := template.New("gotpl")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := t.Clone()
		if err == nil {
			c, err = c.New("tpl").Parse(text)
		}
		if err != nil {
			return "", err
		}
		var buf strings.Builder
		err = c.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if s, ok := v.(string); v == nil || (ok && s == "") {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	t.Funcs(funcs).Option("missingkey=zero")

	name, _ := chart["name"].(string)
	var files []string
	err := filepath.Walk(filepath.Join(chartDir, "templates"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		full := filepath.ToSlash(filepath.Join(name, rel))
		if _, err := t.New(full).Parse(string(src)); err != nil {
			return err
		}
		files = append(files, full)
		return nil
	})
	if err != nil {
		fail(err)
	}
	sort.Strings(files)
	var out strings.Builder
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") {
			continue
		}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, f, top); err != nil {
			fail(err)
		}
		if base == "NOTES.txt" {
			continue
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) != "" {
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", f, strings.TrimLeft(text, "\n"))
		}
	}
	fmt.Print(out.String())
}
"#;

/// Builds helm-template-lite with Debian's Go and sprig (GOPATH mode), or None without them.
fn helm_template_lite() -> Option<PathBuf> {
    let gocode = Path::new("/usr/share/gocode/src");
    let sources = ["github.com/Masterminds/sprig", "gopkg.in/yaml.v3"];
    let go = which("go").filter(|_| sources.iter().all(|s| gocode.join(s).is_dir()));
    let Some(go) = go else {
        missing_tool(
            "rendering the Helm chart (no helm here)",
            "the Debian packages golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev",
        );
        return None;
    };
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-template-lite");
    let src_dir = work.join(format!("src-{}", std::process::id()));
    fs::create_dir_all(&src_dir).unwrap_or_else(|e| panic!("{}: {e}", src_dir.display()));
    fs::write(src_dir.join("main.go"), HELM_TEMPLATE_LITE)
        .unwrap_or_else(|e| panic!("{}/main.go: {e}", src_dir.display()));
    let bin = src_dir.join("helm-template-lite");
    let out = run(Command::new(go)
        .current_dir(&src_dir)
        .args(["build", "-o"])
        .arg(&bin)
        .arg("main.go")
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", work.join("gocache"))
        .env("GOFLAGS", ""));
    assert_success(&out, "go build helm-template-lite");
    Some(bin)
}

/// The chart rendered for `release` in `namespace` with extra values (YAML).
fn render_chart(bin: &Path, release: &str, namespace: &str, values: &str) -> Vec<Object> {
    let dir = temp_dir();
    let values_file = dir.path().join("values.yaml");
    fs::write(&values_file, values).unwrap_or_else(|e| panic!("{}: {e}", values_file.display()));
    let out = run(Command::new(bin)
        .arg(root().join("charts/gitsync"))
        .args([release, namespace])
        .arg(&values_file));
    assert_success(&out, &format!("rendering the chart with {values}"));
    let text = String::from_utf8(out.stdout)
        .unwrap_or_else(|e| panic!("the rendered chart is not UTF-8: {e}"));
    documents(&text, "rendered chart")
        .into_iter()
        .map(|value| Object {
            file: "charts/gitsync".into(),
            value,
        })
        .collect()
}

/// Helm's bookkeeping labels, which deploy/ does not carry.
fn without_helm_labels(mut v: Value) -> Value {
    if let Some(labels) = v["metadata"]["labels"].as_object_mut() {
        labels.remove("helm.sh/chart");
        labels.remove("app.kubernetes.io/managed-by");
    }
    v
}

fn keyed(objects: &[Object]) -> BTreeMap<String, Value> {
    objects
        .iter()
        .map(|o| {
            (
                format!("{} {}", o.kind(), o.name()),
                without_helm_labels(o.value.clone()),
            )
        })
        .collect()
}

fn deployment_args(objects: &[Object], name: &str) -> Vec<String> {
    strings(&find(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["args"])
}

#[test]
fn chart_renders_the_same_objects_as_deploy() {
    let Some(bin) = helm_template_lite() else {
        return;
    };
    let monitoring = "serviceMonitor:\n  enabled: true\nprometheusRule:\n  enabled: true\n";

    // Defaults (plus monitoring) for a release `gitsync` in gitsync-system: deploy/, minus the
    // Namespace (helm install --create-namespace makes it).
    let rendered = render_chart(&bin, "gitsync", "gitsync-system", monitoring);
    let deploy: Vec<Object> = deploy_objects()
        .into_iter()
        .filter(|o| o.kind() != "Namespace")
        .collect();
    let (rendered, deploy) = (keyed(&rendered), keyed(&deploy));
    assert_eq!(
        rendered.keys().collect::<Vec<_>>(),
        deploy.keys().collect::<Vec<_>>(),
        "the chart and deploy/ make different objects"
    );
    for (key, want) in &deploy {
        let got = &rendered[key];
        assert!(
            got == want,
            "{key} differs between the chart and deploy/\nchart:\n{}\ndeploy/:\n{}",
            serde_json::to_string_pretty(got)
                .unwrap_or_else(|e| panic!("{key} of the chart as JSON: {e}")),
            serde_json::to_string_pretty(want)
                .unwrap_or_else(|e| panic!("{key} of deploy/ as JSON: {e}"))
        );
    }

    // Plain defaults: no monitoring objects (their CRDs may be missing).
    let plain = render_chart(&bin, "gitsync", "gitsync-system", "{}\n");
    assert!(!has(&plain, "ServiceMonitor") && !has(&plain, "PrometheusRule"));
    assert!(has(&plain, "Deployment") && has(&plain, "ClusterRole"));

    // No webhook listener: no flag, no port, no Service.
    let quiet = render_chart(
        &bin,
        "gitsync",
        "gitsync-system",
        "webhook:\n  enabled: false\n",
    );
    assert!(
        !deployment_args(&quiet, "gitsync-operator")
            .iter()
            .any(|a| a.starts_with("--webhook-listen")),
    );
    assert!(
        !quiet
            .iter()
            .any(|o| o.kind() == "Service" && o.name() == "gitsync-operator-webhook")
    );
    let ports = &find(&quiet, "Deployment", "gitsync-operator")["spec"]["template"]["spec"]["containers"]
        [0]["ports"];
    assert_eq!(ports.as_array().map(Vec::len), Some(1), "{ports}");

    // One namespace, one shard, a PVC, another release name.
    let values = r#"
watch:
  namespace: team-a
  labelSelector: shard=a
persistence:
  enabled: true
extraEnv:
  - name: RUST_LOG
    value: gitsync=debug,info
serviceMonitor:
  enabled: true
  labels:
    release: kube-prometheus-stack
prometheusRule:
  enabled: true
  runbookBaseURL: https://runbooks.example.com/gitsync
"#;
    let scoped = render_chart(&bin, "prod", "ops", values);
    let name = "prod-gitsync-operator";
    assert!(!has(&scoped, "ClusterRole") && !has(&scoped, "ClusterRoleBinding"));
    let role = scoped
        .iter()
        .find(|o| o.kind() == "Role" && o.name() == name)
        .expect("a Role for the watched namespace");
    assert_eq!(role.namespace(), Some("team-a"));
    assert_grants(
        &grants(&role.value["rules"]),
        &expected_watch_grants(),
        "namespaced Role",
    );
    let binding = scoped
        .iter()
        .find(|o| o.kind() == "RoleBinding" && o.name() == name)
        .expect("RoleBinding");
    assert_eq!(binding.namespace(), Some("team-a"));
    assert_eq!(
        binding.value["subjects"],
        json!([{ "kind": "ServiceAccount", "name": name, "namespace": "ops" }])
    );
    let leader = find(&scoped, "Role", &format!("{name}-leader-election"));
    assert_eq!(leader["metadata"]["namespace"], "ops");
    assert_grants(
        &grants(&leader["rules"]),
        &expected_lease_grants(name),
        "leader election Role",
    );
    let args = deployment_args(&scoped, name);
    for arg in [
        "--namespace=team-a",
        "--label-selector=shard=a",
        &format!("--lease-name={name}"),
    ] {
        assert!(args.iter().any(|a| a == arg), "no {arg} in {args:?}");
    }
    let deployment = find(&scoped, "Deployment", name);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        format!("{name}-state")
    );
    assert_eq!(pod["containers"][0]["env"][2]["name"], "RUST_LOG");
    let pvc = find(&scoped, "PersistentVolumeClaim", &format!("{name}-state"));
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteMany"]));
    let monitor = find(&scoped, "ServiceMonitor", name);
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!(["ops"])
    );
    let rule = find(&scoped, "PrometheusRule", name).clone();
    for (alert, r) in alerts(&rule) {
        let url = r["annotations"]["runbook_url"].as_str().unwrap_or("");
        assert!(
            url.starts_with("https://runbooks.example.com/gitsync#"),
            "{alert}: runbook_url {url}"
        );
    }
    promtool_rules(&rule, "the chart's PrometheusRule");

    // An existing ServiceAccount.
    let sa = render_chart(
        &bin,
        "gitsync",
        "gitsync-system",
        "serviceAccount:\n  create: false\n  name: platform-operators\n",
    );
    assert!(!has(&sa, "ServiceAccount"));
    assert_eq!(
        find(&sa, "Deployment", "gitsync-operator")["spec"]["template"]["spec"]["serviceAccountName"],
        "platform-operators"
    );
    assert_eq!(
        find(&sa, "ClusterRoleBinding", "gitsync-operator")["subjects"][0]["name"],
        "platform-operators"
    );
}

// ---------------------------------------------------------------------------------------------
// Argo CD health check.

#[test]
fn argocd_health_check_passes_its_tests() {
    let mut interpreters = Vec::new();
    let mut seen = BTreeSet::new();
    for name in ["lua5.4", "lua5.3", "lua5.1", "lua"] {
        if let Some(path) = which(name) {
            // `lua` is usually an alternative for one of the others.
            if seen.insert(fs::canonicalize(&path).unwrap_or(path.clone())) {
                interpreters.push(path);
            }
        }
    }
    if interpreters.is_empty() {
        missing_tool(
            "argocd/health_test.lua",
            "the Debian package lua5.4 (or lua5.1)",
        );
        return;
    }
    let test = root().join("argocd/health_test.lua");
    for lua in interpreters {
        let out = run(Command::new(&lua).arg(&test));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_success(&out, &format!("{} argocd/health_test.lua", lua.display()));
        assert!(
            stdout
                .lines()
                .any(|l| l.ends_with(" passed, 0 failed") && !l.starts_with("0 ")),
            "{}: {stdout}",
            lua.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The operator against a real API server, with deploy/'s RBAC and nothing more.

/// The test user of scripts/test-cluster (only in group system:authenticated).
const TEST_USER: &str = "gitsync-operator-test";

/// A throwaway etcd + kube-apiserver (scripts/test-cluster); None (after a note) when the API
/// server, etcd, kubectl or curl are not installed.
fn start_cluster() -> Option<TestCluster> {
    let tools = std::env::var_os("GITSYNC_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/gitsync/tools")));
    let apiserver = tools.map(|t| t.join("bin/kube-apiserver"));
    let etcd = std::env::var_os("GITSYNC_ETCD")
        .map(PathBuf::from)
        .or_else(|| which("etcd"));
    if !apiserver.is_some_and(|a| a.is_file())
        || etcd.is_none()
        || which("kubectl").is_none()
        || which("curl").is_none()
    {
        missing_tool(
            "running the operator under deploy/'s RBAC",
            "kube-apiserver, etcd and kubectl with scripts/install-test-tools.sh, and curl",
        );
        return None;
    }
    Some(TestCluster::start())
}

fn apply(cluster: &TestCluster, objects: &[Value]) {
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": objects });
    cluster.kubectl_stdin_ok(&["apply", "-f", "-"], &list.to_string());
}

/// Polls `check` (which says what it still waits for) for up to 60 s.
fn eventually(what: &str, operator: &Operator, mut check: impl FnMut() -> Option<String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        assert_no_forbidden(&operator.log_text());
        let Some(waiting) = check() else { return };
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: still {waiting}\noperator log:\n{}",
            operator.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// A GitSync that cannot reach anything: its token Secret is missing, so the operator reports
/// it Stalled without a network request (and its URLs are local anyway).
fn unreachable_gitsync(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "gitsync.dev/v1alpha1",
        "kind": "GitSync",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "repository": { "url": "file:///nonexistent/segment-config.git" },
            "workspace": {
                "endpoint": "http://127.0.0.1:9",
                "tokenSecretRef": { "name": "missing-token", "key": "token" },
            },
        },
    })
}

fn with_user_subject(mut binding: Value) -> Value {
    binding["subjects"] = json!([{
        "kind": "User", "name": TEST_USER, "apiGroup": "rbac.authorization.k8s.io",
    }]);
    binding
}

fn assert_no_forbidden(log: &str) {
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was refused something deploy/'s RBAC does not grant:\n{log}"
    );
}

/// tests/operator.rs runs the operator under deploy/'s ClusterRole (every namespace). This covers
/// the rest: the API server accepts deploy/ and the examples, and the chart's `watch.namespace`
/// mode, the ClusterRole's rules in a Role in one namespace, is enough for `--namespace`.
#[test]
fn api_server_accepts_deploy_and_one_namespace_rbac_suffices() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    let objects = deploy_objects();
    let examples = example_objects();

    let crds = root().join("crds");
    cluster.kubectl_ok(&["apply", "-f", &crds.to_string_lossy()]);
    cluster.kubectl_ok(&[
        "wait",
        "--for=condition=established",
        "crd",
        "--all",
        "--timeout=60s",
    ]);
    let namespace = root().join("deploy/00-namespace.yaml");
    cluster.kubectl_ok(&["apply", "-f", &namespace.to_string_lossy()]);
    cluster.kubectl_ok(&["create", "namespace", "team-a"]);
    cluster.kubectl_ok(&["create", "namespace", "demo"]);

    // What this API server (1.20) serves validates against its schemas: deploy/ (but
    // policy/v1 and the Prometheus Operator's kinds, which it lacks) and the examples.
    let unknown_here = [
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
        "Namespace",
    ];
    let servable: Vec<Value> = objects
        .iter()
        .filter(|o| !unknown_here.contains(&o.kind()))
        .map(|o| o.value.clone())
        .collect();
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": servable });
    cluster.kubectl_stdin_ok(
        &["apply", "--dry-run=server", "--validate=true", "-f", "-"],
        &list.to_string(),
    );
    let list = json!({
        "apiVersion": "v1", "kind": "List",
        "items": examples.iter().map(|o| o.value.clone()).collect::<Vec<_>>(),
    });
    cluster.kubectl_stdin_ok(
        &[
            "apply",
            "-n",
            "team-a",
            "--dry-run=server",
            "--validate=true",
            "-f",
            "-",
        ],
        &list.to_string(),
    );

    // The ClusterRole's rules as a Role in team-a, and deploy/'s leader-election Role, bound to
    // the test user instead of the ServiceAccount (this API server issues no ServiceAccount
    // tokens).
    let mut role = find(&objects, "ClusterRole", "gitsync-operator").clone();
    role["kind"] = json!("Role");
    role["metadata"]["namespace"] = json!("team-a");
    let binding = with_user_subject(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": "gitsync-operator", "namespace": "team-a" },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gitsync-operator",
        },
    }));
    apply(
        &cluster,
        &[
            role,
            binding,
            find(&objects, "Role", "gitsync-operator-leader-election").clone(),
            with_user_subject(
                find(&objects, "RoleBinding", "gitsync-operator-leader-election").clone(),
            ),
        ],
    );

    // The examples' GitConnection and SyncSecret (their Secrets hold placeholders, so the
    // connection is refused locally), a GitSync that stalls without touching the network, and
    // one in another namespace that must be left alone.
    let mut team: Vec<Value> = examples
        .iter()
        .filter(|o| ["Secret", "GitConnection", "SyncSecret"].contains(&o.kind()))
        .map(|o| o.value.clone())
        .collect();
    team.push(unreachable_gitsync("scoped", "team-a"));
    for o in &mut team {
        o["metadata"]["namespace"] = json!("team-a");
    }
    team.push(unreachable_gitsync("elsewhere", "demo"));
    apply(&cluster, &team);
    // The replica's own Pod, made from the Deployment's template (no kubelet runs it: the
    // object is what the leader labels).
    let template = &find(&objects, "Deployment", "gitsync-operator")["spec"]["template"];
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template["metadata"].clone(),
        "spec": template["spec"].clone(),
    });
    pod["metadata"]["name"] = json!("replica-0");
    pod["metadata"]["namespace"] = json!("gitsync-system");
    apply(&cluster, &[pod]);
    let webhook_selector =
        find(&objects, "Service", "gitsync-operator-webhook")["spec"]["selector"]
            .as_object()
            .expect("the webhook Service's selector")
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",");
    let webhook_pods = || {
        cluster.kubectl_ok(&[
            "get",
            "pods",
            "-n",
            "gitsync-system",
            "-l",
            &webhook_selector,
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
    };
    assert_eq!(webhook_pods(), "", "no leader yet");

    let state = temp_dir();
    let operator = Operator::start(
        cluster.user_kubeconfig(),
        &state.path().join("replica-0"),
        "replica-0",
        &[
            "--pod-name",
            "replica-0",
            "--lease-namespace",
            "gitsync-system",
            "--log-format",
            "json",
            "--log-level",
            "info",
            "--namespace",
            "team-a",
        ],
    );
    eventually("the single-namespace operator", &operator, || {
        let lease = cluster.get_or_null(&[
            "leases.coordination.k8s.io",
            "-n",
            "gitsync-system",
            "gitsync-operator",
        ]);
        if lease["spec"]["holderIdentity"] != "replica-0" {
            return Some(format!("waiting for the Lease: {}", lease["spec"]));
        }
        // The webhook Service's selector finds the leader's Pod once it is labelled.
        if webhook_pods() != "replica-0" {
            return Some("waiting for the leader label on Pod replica-0".into());
        }
        let gs = cluster.get_or_null(&["gitsyncs.gitsync.dev", "-n", "team-a", "scoped"]);
        let stalled = condition(&gs, "Stalled");
        if stalled.is_none_or(|c| c["status"] != "True" || c["reason"] != "SecretNotFound") {
            return Some(format!(
                "waiting for the GitSync's status: {}",
                gs["status"]
            ));
        }
        for (kind, name) in [
            ("gitconnections.gitsync.dev", "github"),
            ("syncsecrets.gitsync.dev", "amplitude-api-key"),
        ] {
            let o = cluster.get_or_null(&[kind, "-n", "team-a", name]);
            if condition(&o, "Ready").is_none() {
                return Some(format!(
                    "waiting for {kind} {name}'s status: {}",
                    o["status"]
                ));
            }
        }
        let events = cluster.get_or_null(&["events.v1.events.k8s.io", "-n", "team-a"]);
        if events["items"].as_array().is_none_or(Vec::is_empty) {
            return Some("waiting for an Event".into());
        }
        if !operator
            .metrics("text/plain")
            .lines()
            .any(|l| l == "gitsync_leader 1")
        {
            return Some("waiting for gitsync_leader 1".into());
        }
        None
    });
    let ss = cluster.get_or_null(&[
        "syncsecrets.gitsync.dev",
        "-n",
        "team-a",
        "amplitude-api-key",
    ]);
    let ready = condition(&ss, "Ready").unwrap_or_else(|| panic!("no Ready condition: {ss}"));
    assert_eq!(ready["status"], "True", "{ss}");
    let elsewhere = cluster.get_or_null(&["gitsyncs.gitsync.dev", "-n", "demo", "elsewhere"]);
    assert!(
        elsewhere["status"].is_null(),
        "outside --namespace: {elsewhere}"
    );
    let (status, log) = operator.stop();
    assert!(status.success(), "exit {status} after SIGTERM:\n{log}");
    assert_no_forbidden(&log);
    assert_eq!(
        webhook_pods(),
        "",
        "the leader label outlived the leader:\n{log}"
    );

    // What an apply of a pull request does with the cluster works under the same Role, as the
    // user bound to it: its journal in a ConfigMap (taken, written, read, removed) and the
    // SyncSecrets' values.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(journal_and_sync_secrets_as_the_operator(&cluster));
}

async fn journal_and_sync_secrets_as_the_operator(cluster: &TestCluster) {
    use gitsync::operator::crd::GitSync;
    use gitsync::operator::journal::{ConfigMapJournal, Takeover};
    use gitsync::sync::apply::{Entry, JournalStore};
    use gitsync::sync::secrets::SecretSource;
    let client = cluster.user_client().await;
    let gitsync = kube::Api::<GitSync>::namespaced(client.clone(), "team-a")
        .get("scoped")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut journal = ConfigMapJournal::new(client.clone(), &gitsync, Takeover::AsLeader);
    let header = Entry::Header { plan: "p".into() };
    let steps = async {
        journal.acquire("replica-0").await?;
        journal.append(&header).await?;
        journal.replace(std::slice::from_ref(&header)).await?;
        let entries = journal.load().await?;
        journal.remove().await?;
        Ok::<_, gitsync::sync::apply::JournalError>(entries)
    };
    let entries = steps.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries, [header]);
    let secrets = gitsync::operator::sync_secrets::resolve(&client, "team-a")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        secrets.names().collect::<Vec<_>>(),
        ["amplitude_api_key"],
        "the example SyncSecret"
    );
    assert!(secrets.get("amplitude_api_key").is_some());
}

// ---------------------------------------------------------------------------------------------
// docs/pull-requests.md against what it documents.

#[test]
fn the_pull_request_doc_names_every_field_state_metric_and_alert() {
    use gitsync::pulls::record::Stage;
    let doc = read(&root().join("docs/pull-requests.md"));
    let readme = read(&root().join("README.md"));
    assert!(
        readme.contains("(docs/pull-requests.md)"),
        "README.md does not link docs/pull-requests.md"
    );
    let crds = documents(
        &read(&root().join("crds/gitsync.dev.yaml")),
        "crds/gitsync.dev.yaml",
    );
    let gitsync = crds
        .iter()
        .find(|c| c["spec"]["names"]["kind"] == "GitSync")
        .expect("the GitSync CRD");
    let fields = gitsync
        .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/bidirectional/properties")
        .and_then(Value::as_object)
        .expect("spec.bidirectional's properties");
    assert!(fields.len() >= 8, "{fields:?}");
    for field in fields.keys() {
        let row = format!("| `{field}` |");
        assert!(doc.contains(&row), "docs/pull-requests.md has no row {row}");
        assert!(
            readme.contains(&format!("`{field}`")),
            "README.md does not name spec.bidirectional.{field}"
        );
    }
    for stage in [
        Stage::Planned,
        Stage::NoChanges,
        Stage::Conflicted,
        Stage::Invalid,
        Stage::Applying,
        Stage::Applied,
        Stage::Failed,
    ] {
        assert!(
            doc.contains(&format!("`{}`", stage.as_str())),
            "docs/pull-requests.md does not name the state {}",
            stage.as_str()
        );
    }
    for family in [
        "gitsync_plans_total",
        "gitsync_plan_duration_seconds",
        "gitsync_applies_total",
        "gitsync_webhook_deliveries_total",
    ] {
        assert!(
            METRIC_FAMILIES.iter().any(|(f, _)| *f == family),
            "{family} is not a metric the operator exposes"
        );
        assert!(doc.contains(family), "docs/pull-requests.md: no {family}");
        assert!(readme.contains(family), "README.md: no {family}");
    }
    for result in gitsync::telemetry::DeliveryResult::ALL {
        assert!(
            doc.contains(&format!("`{}`", result.as_str())),
            "docs/pull-requests.md does not name the delivery result {}",
            result.as_str()
        );
    }
    for alert in [
        "GitSyncApplyFailed",
        "GitSyncWebhookUnauthorized",
        "GitSyncPlansErroring",
    ] {
        assert!(
            alerts(&prometheus_rule()).contains_key(alert),
            "no alert {alert}"
        );
        assert!(doc.contains(alert), "docs/pull-requests.md: no {alert}");
    }
    for (what, text) in [
        ("/hooks/github", "/hooks/github"),
        ("/hooks/gitlab", "/hooks/gitlab"),
        ("--webhook-listen", "--webhook-listen"),
        ("the leader label", LEADER_LABEL),
        ("the Plans column", "Plans"),
    ] {
        assert!(doc.contains(text), "docs/pull-requests.md: no {what}");
        assert!(readme.contains(text), "README.md: no {what}");
    }
}
