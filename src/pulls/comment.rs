//! The words gitsync posts on a pull request: the plan comment (split into parts under the
//! forge's limit, the summary in the first), the apply's progress and results, and replies to
//! commands it refuses. Pure: it renders strings from the engine's own renderings
//! ([`crate::sync::plan::markdown_parts`], [`crate::sync::apply::show::text`]) and never decides
//! anything. It must never quote a secret: nothing it is given carries one (the engine's
//! renderings leave them out).

use crate::sync::apply::ApplyReport;
use crate::sync::diagnostic::Diagnostic;
use crate::sync::plan::{Plan, ViewContext};

/// The first line of every plan comment: how gitsync knows, among the comments its own login
/// wrote, which one is the plan. Never trusted in a comment by anyone else.
pub const PLAN_MARK: &str = "<!-- gitsync:plan -->";

/// What the plan comment's frame says.
pub struct Frame<'a> {
    /// The head commit planned.
    pub head: &'a str,
    /// The apply command (`segment apply`).
    pub command: &'a str,
    /// `pull request` or `merge request`.
    pub noun: &'a str,
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn header(frame: &Frame<'_>, title: &str, part: usize, parts: usize) -> String {
    let of = if parts > 1 {
        format!(" (part {part} of {parts})")
    } else {
        String::new()
    };
    format!(
        "{PLAN_MARK}\n### gitsync {title} for `{}`{of}\n\n",
        short(frame.head)
    )
}

/// How to apply, under a plan that can be applied.
fn footer(frame: &Frame<'_>, plan: &Plan) -> String {
    let mut text = format!(
        "\n\n---\nTo apply this plan to the workspace, comment `{}`.",
        frame.command
    );
    if plan.deletes().next().is_some() {
        text.push_str(&format!(
            " It deletes or replaces resources: comment `{} --allow-deletes` to allow that.",
            frame.command
        ));
    }
    text.push_str(&format!(
        " A push to this {} makes a new plan; only the plan for the head shown here is applied.",
        frame.noun
    ));
    text
}

/// The most comments one plan takes; a plan longer than that shows its first parts and says
/// how much was left out (Atlantis caps its comments per command the same way).
pub const MAX_PARTS: usize = 20;

/// The plan comment's parts, each at most `limit` bytes, the summary in the first, at most
/// [`MAX_PARTS`] of them.
pub fn plan(frame: &Frame<'_>, plan: &Plan, context: &ViewContext, limit: usize) -> Vec<String> {
    let room = limit.saturating_sub(1024).max(4096);
    let mut body = crate::sync::plan::markdown_parts(plan, context, room);
    if body.len() > MAX_PARTS {
        let left_out = body.len() - (MAX_PARTS - 1);
        body.truncate(MAX_PARTS - 1);
        body.push(format!(
            "_The rest of this plan ({left_out} more part(s)) is too long to post: it is left out here. Every change is in the summary's counts; read the whole plan with `gitsync plan` on this branch._"
        ));
    }
    let parts = body.len().max(1);
    let mut out = Vec::with_capacity(parts);
    for (i, part) in body.iter().enumerate() {
        let mut text = header(frame, "plan", i + 1, parts);
        text.push_str(part);
        if i + 1 == parts && plan.conflicts.is_empty() && !plan.is_empty() {
            text.push_str(&footer(frame, plan));
        }
        out.push(text);
    }
    if out.is_empty() {
        out.push(header(frame, "plan", 1, 1));
    }
    out
}

/// The comment for files that cannot be planned, each problem with its `file:line:column`.
pub fn invalid(frame: &Frame<'_>, diagnostics: &[Diagnostic]) -> String {
    let mut text = header(frame, "cannot plan", 1, 1);
    text.push_str("These files cannot be planned; fix them and push:\n\n");
    text.push_str(&crate::sync::plan::markdown_problems(diagnostics));
    text
}

/// The comment when planning failed for another reason (the workspace could not be read).
pub fn failed(frame: &Frame<'_>, why: &str) -> String {
    let mut text = header(frame, "could not plan", 1, 1);
    text.push_str(&format!(
        "Planning failed: {}\n\ngitsync tries again at its next pass.",
        one_paragraph(why)
    ));
    text
}

/// The first part of the plan comment after an apply that stopped with an error (before its
/// first write, or when it could not go on keeping its journal).
pub fn apply_stopped(frame: &Frame<'_>, why: &str) -> String {
    let mut text = header(frame, "apply failed", 1, 1);
    text.push_str(&format!(
        "The apply stopped: {}\n\nWhat it applied before it stopped stays applied. Comment `{}` again to apply a new plan.",
        one_paragraph(why),
        frame.command
    ));
    text
}

/// The first part of the plan comment while an apply runs.
pub fn applying(frame: &Frame<'_>, login: &str, done: usize, total: usize) -> String {
    let mut text = header(frame, "apply", 1, 1);
    text.push_str(&format!(
        "Applying the plan for @{login}: {done} of {total} step(s) done.\n\nDo not push to this {} until the apply is finished.",
        frame.noun
    ));
    text
}

/// The first part of the plan comment after an apply.
pub fn applied(
    frame: &Frame<'_>,
    login: &str,
    report: &ApplyReport,
    pushed: Option<&str>,
) -> String {
    let title = if report.succeeded() {
        "apply succeeded"
    } else {
        "apply failed"
    };
    let mut text = header(frame, title, 1, 1);
    let done = report.applied.len() + report.already_done.len() + report.reconciled.len();
    text.push_str(&format!(
        "Applied for @{login}: {done} of {} step(s).\n\n```text\n{}\n```\n",
        report.total,
        fence_safe(&crate::sync::apply::show::text(report))
    ));
    match pushed {
        Some(commit) => text.push_str(&format!(
            "\nThe files of created resources were renamed to their ids in `{}` (\"Updating created resources with actual generated files\").\n",
            short(commit)
        )),
        None if !report.rewritten.is_empty() => text.push_str(
            "\nThe renamed files could not be pushed to this branch; see the operator's Events.\n",
        ),
        None => {}
    }
    text
}

/// A reply to a command gitsync will not run.
pub fn refused(login: &str, command: &str, why: &str, remedy: &str) -> String {
    format!(
        "@{login} `{command}` was not applied: {}.\n\n{}.",
        one_paragraph(why),
        capitalize(&one_paragraph(remedy))
    )
}

/// A reply to a second command while an apply runs.
pub fn busy(login: &str, command: &str, holder: &str) -> String {
    format!(
        "@{login} `{command}` was not applied: another apply to this workspace is running ({}). Comment again when it is done.",
        one_paragraph(holder)
    )
}

/// Text inside a ```` ``` ```` block cannot close it.
fn fence_safe(text: &str) -> String {
    text.replace("```", "`\u{200b}``")
}

/// One paragraph: no line breaks that would start Markdown blocks, no mention pings.
fn one_paragraph(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('@', "@\u{200b}")
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame<'static> {
        Frame {
            head: "0123456789abcdef0123456789abcdef01234567",
            command: "segment apply",
            noun: "pull request",
        }
    }

    #[test]
    fn every_part_of_a_plan_comment_starts_with_the_mark_and_fits() {
        let plan = Plan::new(&Vec::new(), None);
        for limit in [5_000, 65_536 - 512] {
            let parts = super::plan(&frame(), &plan, &ViewContext::default(), limit);
            assert!(!parts.is_empty());
            for p in &parts {
                assert!(p.starts_with(PLAN_MARK), "{p}");
                assert!(p.len() <= limit, "{} > {limit}", p.len());
                assert!(p.contains("`0123456789ab`"), "{p}");
            }
        }
    }

    #[test]
    fn a_plan_too_long_for_its_comments_says_what_was_left_out() {
        let mut plan = Plan::new(&Vec::new(), None);
        for i in 0..3000 {
            plan.changes.push(crate::sync::plan::Change {
                action: crate::sync::plan::Action::Create,
                resource_type: "segment_label".into(),
                address: format!("segment_label.l{i}"),
                file: format!("labels/l{i}.tf"),
                import_id: None,
                attributes: vec![crate::sync::plan::AttributeChange {
                    path: "value".into(),
                    before: None,
                    after: Some(serde_json::json!("x".repeat(200))),
                    sensitive: false,
                    forces_replacement: false,
                }],
                live_fingerprint: None,
                desired: None,
                dependents: Vec::new(),
            });
        }
        let parts = super::plan(&frame(), &plan, &ViewContext::default(), 5_000);
        assert_eq!(parts.len(), MAX_PARTS);
        assert!(parts.iter().all(|p| p.len() <= 5_000));
        assert!(parts[0].contains("3000 to add"), "{}", parts[0]);
        let last = parts.last().map(String::as_str).unwrap_or("");
        assert!(last.contains("more part(s)) is too long to post"), "{last}");
    }

    #[test]
    fn replies_cannot_ping_or_break_out_of_their_paragraph() {
        let text = refused(
            "bob",
            "segment apply",
            "x\n\n# heading @everyone",
            "ask @admin",
        );
        assert!(!text.contains("\n# heading"), "{text}");
        assert!(!text.contains("@everyone"), "{text}");
        assert!(
            text.starts_with("@bob `segment apply` was not applied: x # heading"),
            "{text}"
        );
        assert!(text.ends_with("Ask @\u{200b}admin."), "{text}");
    }

    #[test]
    fn a_report_cannot_close_its_code_block() {
        assert_eq!(fence_safe("a```b"), "a`\u{200b}``b");
    }
}
