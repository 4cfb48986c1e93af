//! One view of a plan, built once, that every rendering shows: the summary, the call-outs
//! (many deletes, a whole directory deleted), access changes, possible data loss, conflicts,
//! notes, and each change in the order apply makes them ([`Plan::changes`]' order), with its
//! attributes as [`Line`]s. Renderings add layout only; what is shown, and what is never shown
//! (secrets, and control characters that would rewrite a terminal: written as `\u{..}`), is
//! decided here.

use std::collections::{BTreeMap, BTreeSet};

use super::access::{self, RoleNames};
use super::value::{self, Line, Mark, Shape, printable};
use crate::sync::diagnostic::Severity;
use crate::sync::plan::{Action, Change, Plan};

/// More deletes than this in one plan are called out at the top, with the count.
pub const MANY_DELETES: usize = 10;

/// What the caller knows beyond the plan.
#[derive(Debug, Clone, Default)]
pub struct ViewContext {
    /// Role names by id, for access changes (the plan holds role ids only).
    pub role_names: RoleNames,
    /// The top-level directories that still hold files in the tree planned, when known: a
    /// directory a plan deletes from that is not among them is deleted whole.
    pub tree_dirs: Option<BTreeSet<String>>,
}

impl ViewContext {
    /// The directories of a tree's file paths (`sources/a.tf` -> `sources`).
    pub fn with_tree_paths<'a>(mut self, paths: impl IntoIterator<Item = &'a str>) -> Self {
        self.tree_dirs = Some(
            paths
                .into_iter()
                .filter_map(directory)
                .map(str::to_owned)
                .collect(),
        );
        self
    }
}

fn directory(path: &str) -> Option<&str> {
    path.split_once('/').map(|(d, _)| d)
}

/// A gain or loss of access, and the change it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessItem {
    pub gains: bool,
    pub text: String,
    pub address: String,
    pub file: String,
}

/// A delete or a replace: what the workspace keeps for the resource may be lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLossItem {
    pub action: Action,
    pub address: String,
    pub file: String,
    /// What depends on the resource in the workspace.
    pub dependents: Vec<String>,
    /// For a replace: the attributes whose change forces it.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictView {
    pub address: String,
    pub file: String,
    pub path: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteView {
    /// `file:line:column`, as much as is known; empty for the tree as a whole.
    pub place: String,
    pub severity: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeView {
    /// The change's place in the order apply makes them, from 1.
    pub step: usize,
    pub action: Action,
    pub address: String,
    pub file: String,
    pub data_loss: bool,
    pub dependents: Vec<String>,
    pub lines: Vec<Line>,
}

impl ChangeView {
    /// `will be created`, as Terraform words it.
    pub fn verb(&self) -> &'static str {
        match self.action {
            Action::Create => "will be created",
            Action::Update => "will be updated in-place",
            Action::Replace => "must be replaced (deleted, then created with a new id)",
            Action::Delete => "will be destroyed",
        }
    }

    pub fn symbol(&self) -> char {
        match self.action {
            Action::Create => '+',
            Action::Update => '~',
            Action::Replace => '±',
            Action::Delete => '-',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptView {
    pub address: String,
    pub file: String,
    pub path: String,
}

/// A plan as every rendering shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanView {
    pub summary: String,
    pub counts: (usize, usize, usize),
    pub conflicts_block: bool,
    pub callouts: Vec<String>,
    pub access: Vec<AccessItem>,
    pub data_loss: Vec<DataLossItem>,
    pub conflicts: Vec<ConflictView>,
    pub notes: Vec<NoteView>,
    pub changes: Vec<ChangeView>,
    pub kept: Vec<KeptView>,
    /// Made without a base, so no deletes could be planned.
    pub no_base_note: bool,
}

impl PlanView {
    pub fn new(plan: &Plan, context: &ViewContext) -> PlanView {
        let changes: Vec<ChangeView> = plan
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| change_view(i + 1, c))
            .collect();
        let access = plan
            .changes
            .iter()
            .flat_map(|c| {
                access::of(c, &context.role_names)
                    .into_iter()
                    .map(|a| AccessItem {
                        gains: a.gains,
                        text: printable(&a.text),
                        address: printable(&c.address),
                        file: printable(&c.file),
                    })
            })
            .collect();
        let data_loss = plan
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
            .map(|c| DataLossItem {
                action: c.action,
                address: printable(&c.address),
                file: printable(&c.file),
                dependents: c.dependents.iter().map(|d| printable(d)).collect(),
                reasons: c
                    .attributes
                    .iter()
                    .filter(|a| a.forces_replacement)
                    .map(|a| printable(&a.path))
                    .collect(),
            })
            .collect();
        let conflicts = plan
            .conflicts
            .iter()
            .map(|c| ConflictView {
                address: printable(&c.address),
                file: printable(&c.file),
                path: printable(&c.path),
                lines: conflict_lines(c)
                    .into_iter()
                    .map(|l| Line {
                        text: printable(&l.text),
                        ..l
                    })
                    .collect(),
            })
            .collect();
        let notes = plan
            .notes
            .iter()
            .map(|d| NoteView {
                place: printable(&d.place()),
                severity: match d.severity {
                    Severity::Note => "note",
                    Severity::Warning => "warning",
                    Severity::Error => "error",
                },
                message: d
                    .message
                    .split('\n')
                    .map(printable)
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
            .collect();
        PlanView {
            summary: summary(plan),
            counts: plan.counts(),
            conflicts_block: !plan.conflicts.is_empty(),
            callouts: callouts(plan, context),
            access,
            data_loss,
            conflicts,
            notes,
            changes,
            kept: plan
                .kept
                .iter()
                .map(|k| KeptView {
                    address: printable(&k.address),
                    file: printable(&k.file),
                    path: printable(&k.path),
                })
                .collect(),
            no_base_note: plan.base.is_none()
                && plan.changes.iter().all(|c| c.action != Action::Delete),
        }
    }
}

/// `Plan: 2 to add, 1 to change, 1 to destroy.`, `No changes. ...`, or the conflicts that
/// block it.
pub fn summary(plan: &Plan) -> String {
    if !plan.conflicts.is_empty() {
        return format!(
            "{} conflict(s): no plan can be applied.",
            plan.conflicts.len()
        );
    }
    if plan.changes.is_empty() {
        return "No changes. The workspace matches the files.".to_owned();
    }
    let (add, change, destroy) = plan.counts();
    format!("Plan: {add} to add, {change} to change, {destroy} to destroy.")
}

fn callouts(plan: &Plan, context: &ViewContext) -> Vec<String> {
    let deletes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .collect();
    let mut out = Vec::new();
    if deletes.len() > MANY_DELETES {
        out.push(format!(
            "This plan deletes {} resources; what Segment keeps for each of them goes with it.",
            deletes.len()
        ));
    }
    if let Some(remaining) = &context.tree_dirs {
        let mut by_dir: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &deletes {
            if let Some(dir) = directory(&c.file) {
                *by_dir.entry(dir).or_default() += 1;
            }
        }
        for (dir, n) in by_dir {
            if !remaining.contains(dir) {
                out.push(format!(
                    "This plan deletes the whole {dir}/ directory: {n} resource{}.",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
    }
    out
}

fn change_view(step: usize, c: &Change) -> ChangeView {
    let mut lines = Vec::new();
    for a in &c.attributes {
        let start = lines.len();
        if a.sensitive {
            let mark = match c.action {
                Action::Create => Mark::Add,
                _ => Mark::Change,
            };
            lines.push(Line {
                mark,
                depth: 0,
                text: format!("{} = (sensitive)", a.path),
            });
        } else {
            value::diff(
                &a.path,
                Shape::at(&c.resource_type, &a.path),
                a.before.as_ref(),
                a.after.as_ref(),
                &mut lines,
            );
        }
        if a.forces_replacement
            && let Some(first) = lines.get_mut(start)
        {
            first.text.push_str(" # forces replacement");
        }
    }
    // Keys of a JSON document and values were written by whoever wrote the file.
    for l in &mut lines {
        l.text = printable(&l.text);
    }
    ChangeView {
        step,
        action: c.action,
        address: printable(&c.address),
        file: printable(&c.file),
        data_loss: matches!(c.action, Action::Delete | Action::Replace),
        dependents: c.dependents.iter().map(|d| printable(d)).collect(),
        lines,
    }
}

fn conflict_lines(c: &crate::sync::plan::Conflict) -> Vec<Line> {
    let line = |text: String| Line {
        mark: Mark::Same,
        depth: 0,
        text,
    };
    if c.sensitive {
        return ["base:      ", "workspace: ", "file:      "]
            .iter()
            .map(|l| line(format!("{l}(sensitive)")))
            .collect();
    }
    let ty = c.address.split('.').next().unwrap_or_default();
    let shape = Shape::at(ty, &c.path);
    let shown = |v: &Option<serde_json::Value>| match v {
        None => "null".to_owned(),
        Some(v) => value::hcl(shape, v),
    };
    let all = [&c.base, &c.workspace, &c.file_value].map(shown);
    let short = all
        .iter()
        .all(|v| !v.contains('\n') && v.chars().count() <= value::LONG_STRING);
    if short {
        let [base, workspace, file] = all;
        return vec![
            line(format!("base:      {base}")),
            line(format!("workspace: {workspace}")),
            line(format!("file:      {file}")),
        ];
    }
    let mut out = vec![line("the workspace, against the base:".to_owned())];
    value::diff(
        &c.path,
        shape,
        c.base.as_ref(),
        c.workspace.as_ref(),
        &mut out,
    );
    out.push(line("the file, against the base:".to_owned()));
    value::diff(
        &c.path,
        shape,
        c.base.as_ref(),
        c.file_value.as_ref(),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::plan::show::markdown::tests::plan_of;

    fn deleted(dir: &str, n: usize) -> Change {
        Change {
            action: Action::Delete,
            resource_type: "segment_label".into(),
            address: format!("segment_label.{dir}_{n}"),
            file: format!("{dir}/{n}.tf"),
            import_id: Some(n.to_string()),
            attributes: Vec::new(),
            live_fingerprint: None,
            desired: None,
            dependents: vec![format!("segment_destination_filter.of_{n}")],
        }
    }

    #[test]
    fn many_deletes_and_a_directory_deleted_whole_are_called_out_with_the_count() {
        // A tree where each of `dirs` keeps a file.
        let tree = |dirs: &[&str]| {
            let paths: Vec<String> = dirs.iter().map(|d| format!("{d}/kept.tf")).collect();
            ViewContext::default().with_tree_paths(paths.iter().map(String::as_str))
        };
        let cases: Vec<(Vec<Change>, ViewContext, Vec<&str>)> = vec![
            (
                (0..10).map(|n| deleted("labels", n)).collect(),
                ViewContext::default(),
                vec![],
            ),
            (
                (0..11).map(|n| deleted("labels", n)).collect(),
                ViewContext::default(),
                vec![
                    "This plan deletes 11 resources; what Segment keeps for each of them goes with it.",
                ],
            ),
            (
                (0..3).map(|n| deleted("labels", n)).collect(),
                tree(&["sources"]),
                vec!["This plan deletes the whole labels/ directory: 3 resources."],
            ),
            (
                (0..3).map(|n| deleted("labels", n)).collect(),
                tree(&["labels"]),
                vec![],
            ),
            (
                (0..12)
                    .map(|n| deleted(if n < 1 { "users" } else { "labels" }, n))
                    .collect(),
                tree(&["labels"]),
                vec![
                    "This plan deletes 12 resources; what Segment keeps for each of them goes with it.",
                    "This plan deletes the whole users/ directory: 1 resource.",
                ],
            ),
        ];
        for (changes, context, expected) in cases {
            let n = changes.len();
            let view = PlanView::new(&plan_of(changes), &context);
            assert_eq!(
                view.callouts, expected,
                "{n} deletes, {:?}",
                context.tree_dirs
            );
            assert_eq!(view.data_loss.len(), n);
            assert!(view.data_loss.iter().all(|d| d.dependents.len() == 1));
        }
    }
}
