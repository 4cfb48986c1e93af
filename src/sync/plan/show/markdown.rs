//! A [`PlanView`] as Markdown for a pull-request comment, and split into parts under a size
//! (GitHub takes 65,536 characters a comment): one summary line first, call-outs, access
//! changes, possible data loss, conflicts and notes, then each change in the order apply makes
//! them, each in a `<details>` block when the plan is long, attribute lines in ` ```diff `
//! blocks.
//!
//! Whatever a value holds cannot break the layout: code blocks are fenced longer than any run
//! of backticks inside them, and text outside them is escaped (HTML and Markdown punctuation).
//! Every part is valid Markdown on its own: a part never ends inside a block; a block larger
//! than a part is closed, and reopened in the next with "(continued)".

use std::fmt::Write;

use super::value::{Line, Mark};
use super::view::{NoteView, PlanView};
use crate::sync::diagnostic::Diagnostic;
use crate::sync::plan::Action;

/// A plan with more changes than this shows each in a folded `<details>` block.
pub const DETAILS_AFTER: usize = 5;

/// Room kept in each part for the "part k of n" lines around it.
const PART_FRAME: usize = 160;

/// One block of the document: `head`, then `lines`, then `tail`. A block too large for a part
/// is cut between lines; each piece gets `head` (the continuation head after the first) and
/// `tail`, so that it is valid Markdown on its own.
struct Unit {
    /// The section heading to restate when a part starts inside the section.
    section: Option<&'static str>,
    head: String,
    continued_head: String,
    lines: Vec<String>,
    tail: String,
}

impl Unit {
    fn text(head: String) -> Unit {
        Unit {
            section: None,
            continued_head: head.clone(),
            head,
            lines: Vec::new(),
            tail: String::new(),
        }
    }

    fn item(section: &'static str, text: String) -> Unit {
        Unit {
            section: Some(section),
            ..Unit::text(text)
        }
    }

    fn len(&self) -> usize {
        self.head.len() + self.lines.iter().map(String::len).sum::<usize>() + self.tail.len()
    }

    fn write(&self, out: &mut String) {
        out.push_str(&self.head);
        self.lines.iter().for_each(|l| out.push_str(l));
        out.push_str(&self.tail);
    }
}

/// HTML and Markdown punctuation escaped, for text outside code.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escaped for HTML (inside `<summary>`, where Markdown is not read).
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// An inline code span holding `text` whatever it holds.
pub fn code(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    let ticks = "`".repeat(longest_backtick_run(&text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A line of a ` ```diff ` block: the mark in the first column, where GitHub colours it.
fn diff_line(l: &Line) -> String {
    let mark = match l.mark {
        Mark::Add => '+',
        Mark::Remove => '-',
        Mark::Change => '!',
        Mark::Same | Mark::Skipped => ' ',
    };
    format!("{mark} {}{}\n", "  ".repeat(l.depth), l.text)
}

/// The fence for a code block holding these lines: longer than any run of backticks in them.
fn fence(lines: &[String]) -> String {
    let run = lines
        .iter()
        .map(|l| longest_backtick_run(l))
        .max()
        .unwrap_or(0);
    "`".repeat(run.max(2) + 1)
}

const ACCESS: &str = "### Access changes";
const DATA_LOSS: &str = "### Possible data loss";
const CONFLICTS: &str = "### Conflicts";
const NOTES: &str = "### Notes";
const CHANGES: &str = "### Changes, in the order apply makes them";
const KEPT: &str = "### Kept";

/// The one summary line.
fn summary(view: &PlanView) -> String {
    let mut extra = Vec::new();
    if !view.access.is_empty() {
        extra.push(format!(
            "{} access change{}",
            view.access.len(),
            if view.access.len() == 1 { "" } else { "s" }
        ));
    }
    if !view.data_loss.is_empty() {
        extra.push(format!("{} with possible data loss", view.data_loss.len()));
    }
    if !view.notes.is_empty() {
        extra.push(format!(
            "{} note{}",
            view.notes.len(),
            if view.notes.len() == 1 { "" } else { "s" }
        ));
    }
    let mut line = format!("**gitsync plan: {}**", escape(&view.summary));
    if view.conflicts_block && view.counts != (0, 0, 0) {
        let (a, c, d) = view.counts;
        line.push_str(&format!(
            " Changes planned besides: {a} to add, {c} to change, {d} to destroy."
        ));
    }
    if !extra.is_empty() {
        line.push_str(&format!(" {}.", extra.join(", ")));
    }
    line.push_str("\n\n");
    line
}

fn units(view: &PlanView) -> Vec<Unit> {
    let mut out = vec![Unit::text(summary(view))];
    callout_units(view, &mut out);
    access_units(view, &mut out);
    data_loss_units(view, &mut out);
    conflict_units(view, &mut out);
    note_units(view, &mut out);
    change_units(view, &mut out);
    kept_units(view, &mut out);
    if view.no_base_note {
        out.push(Unit::text(
            "_Made without a base revision: a removed file cannot be told from one never there, so no deletes are planned._\n".into(),
        ));
    }
    out
}

fn callout_units(view: &PlanView, out: &mut Vec<Unit>) {
    if view.callouts.is_empty() {
        return;
    }
    let mut text = String::from("> [!CAUTION]\n");
    for c in &view.callouts {
        let _ = writeln!(text, "> **{}**", escape(c));
    }
    text.push('\n');
    out.push(Unit::text(text));
}

fn access_units(view: &PlanView, out: &mut Vec<Unit>) {
    if view.access.is_empty() {
        return;
    }
    out.push(Unit::text(format!("{ACCESS}\n\n")));
    for a in &view.access {
        out.push(Unit::item(
            ACCESS,
            format!(
                "- {} {} ({}, {})\n",
                if a.gains { "**gains:**" } else { "**loses:**" },
                escape(&a.text),
                code(&a.address),
                code(&a.file)
            ),
        ));
    }
    out.push(Unit::text("\n".into()));
}

fn data_loss_units(view: &PlanView, out: &mut Vec<Unit>) {
    if view.data_loss.is_empty() {
        return;
    }
    out.push(Unit::text(format!(
        "{DATA_LOSS}\n\nWhat Segment keeps for these resources goes with them.\n\n"
    )));
    for d in &view.data_loss {
        let mut text = format!(
            "- :warning: **{}** {} ({})",
            if d.action == Action::Replace {
                "replace"
            } else {
                "destroy"
            },
            code(&d.address),
            code(&d.file)
        );
        if !d.reasons.is_empty() {
            let reasons: Vec<String> = d.reasons.iter().map(|r| code(r)).collect();
            let _ = write!(text, ": {} forces replacement", reasons.join(", "));
        }
        if !d.dependents.is_empty() {
            let deps: Vec<String> = d.dependents.iter().map(|r| code(r)).collect();
            let _ = write!(text, "; depends on it: {}", deps.join(", "));
        }
        text.push('\n');
        out.push(Unit::item(DATA_LOSS, text));
    }
    out.push(Unit::text("\n".into()));
}

fn conflict_units(view: &PlanView, out: &mut Vec<Unit>) {
    if view.conflicts.is_empty() {
        return;
    }
    out.push(Unit::text(format!(
        "{CONFLICTS}\n\nThe workspace changed these values since the base, and the files change them too. Nothing is applied until each is resolved in the files.\n\n"
    )));
    for c in &view.conflicts {
        let lines: Vec<String> = c.lines.iter().map(diff_line).collect();
        let f = fence(&lines);
        let head = format!(
            "{} {} ({})\n\n{f}diff\n",
            code(&c.address),
            code(&c.path),
            code(&c.place)
        );
        out.push(Unit {
            section: Some(CONFLICTS),
            continued_head: head.clone(),
            head,
            lines,
            tail: format!("{f}\n\n"),
        });
    }
}

fn note_units(view: &PlanView, out: &mut Vec<Unit>) {
    if view.notes.is_empty() {
        return;
    }
    out.push(Unit::text(format!("{NOTES}\n\n")));
    out.extend(view.notes.iter().map(|n| Unit::item(NOTES, note_item(n))));
    out.push(Unit::text("\n".into()));
}

/// `- `file:line:column` **warning:** message`
fn note_item(n: &NoteView) -> String {
    let place = if n.place.is_empty() {
        String::new()
    } else {
        format!("{} ", code(&n.place))
    };
    format!("- {place}**{}:** {}\n", n.severity, escape(&n.message))
}

/// Why files cannot be planned, for a pull-request comment: one summary line, then each
/// problem with its `file:line:column`.
pub fn problems(diagnostics: &[Diagnostic]) -> String {
    let mut out = format!(
        "**gitsync plan: the files cannot be planned ({} problem{}).** Nothing is applied until each is fixed.\n\n",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    );
    for d in diagnostics {
        out.push_str(&note_item(&NoteView::of(d)));
    }
    out
}

fn change_units(view: &PlanView, out: &mut Vec<Unit>) {
    if !view.changes.is_empty() {
        out.push(Unit::text(format!("{CHANGES}\n\n")));
    }
    let folded = view.changes.len() > DETAILS_AFTER;
    for c in &view.changes {
        let mut lines: Vec<String> = Vec::new();
        if c.data_loss {
            lines.push(
                "# possible data loss: what Segment keeps for this resource goes with it\n".into(),
            );
        }
        if !c.dependents.is_empty() {
            lines.push(format!("# depends on it: {}\n", c.dependents.join(", ")));
        }
        lines.extend(c.lines.iter().map(diff_line));
        let f = fence(&lines);
        let loss = if c.data_loss {
            " :warning: possible data loss"
        } else {
            ""
        };
        let symbol = match c.action {
            Action::Create => '+',
            Action::Update => '~',
            Action::Replace => '±',
            Action::Delete => '-',
        };
        let (head, continued_head, tail) = if folded {
            let summary = |more: &str| {
                format!(
                    "<details><summary>{}. {symbol} <code>{}</code> {}{more} (<code>{}</code>){loss}</summary>\n\n{f}diff\n",
                    c.step,
                    html(&c.address),
                    c.verb(),
                    html(&c.file)
                )
            };
            (
                summary(""),
                summary(", continued"),
                format!("{f}\n\n</details>\n\n"),
            )
        } else {
            let heading = |more: &str| {
                format!(
                    "#### {}. {symbol} {} {}{more} ({}){loss}\n\n{f}diff\n",
                    c.step,
                    code(&c.address),
                    c.verb(),
                    code(&c.file)
                )
            };
            (heading(""), heading(", continued"), format!("{f}\n\n"))
        };
        out.push(Unit {
            section: Some(CHANGES),
            head,
            continued_head,
            lines,
            tail,
        });
    }
}

fn kept_units(view: &PlanView, out: &mut Vec<Unit>) {
    if !view.kept.is_empty() {
        out.push(Unit::text(format!(
            "{KEPT}\n\nThe workspace changed these since the base and the files do not touch them; they stay as the workspace has them.\n\n"
        )));
        for k in &view.kept {
            out.push(Unit::item(
                KEPT,
                format!(
                    "- {} {} ({})\n",
                    code(&k.address),
                    code(&k.path),
                    code(&k.file)
                ),
            ));
        }
        out.push(Unit::text("\n".into()));
    }
}

/// The whole plan as one Markdown document.
pub fn render(view: &PlanView) -> String {
    let mut out = String::new();
    for u in units(view) {
        u.write(&mut out);
    }
    out
}

/// The plan as Markdown parts of at most `max_bytes` bytes each (a byte count is never less
/// than the character count GitHub limits): the summary line first in the first part, each
/// part valid Markdown on its own, nothing left out. A `max_bytes` too small to hold a block's
/// frame (under about 1,000 bytes) still gives parts, some of them over the size.
pub fn render_parts(view: &PlanView, max_bytes: usize) -> Vec<String> {
    let whole = render(view);
    if whole.len() <= max_bytes {
        return vec![whole];
    }
    let budget = max_bytes.saturating_sub(PART_FRAME).max(1);
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let restate = |section: Option<&'static str>| match section {
        Some(s) => format!("{s} (continued)\n\n"),
        None => String::new(),
    };
    for unit in units(view) {
        // A part that starts inside a section says which.
        let opening = |current: &String| {
            if current.is_empty() && unit.section.is_some() {
                restate(unit.section)
            } else {
                String::new()
            }
        };
        let len = unit.len();
        if current.len() + opening(&current).len() + len <= budget {
            current.push_str(&opening(&current));
            unit.write(&mut current);
        } else if restate(unit.section).len() + len <= budget {
            parts.push(std::mem::take(&mut current));
            current.push_str(&restate(unit.section));
            unit.write(&mut current);
        } else {
            // Larger than a part: cut between lines, each piece framed by the unit's head and
            // tail.
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            let mut head = &unit.head;
            let mut piece_lines = 0;
            current.push_str(&restate(unit.section));
            current.push_str(head);
            for line in &unit.lines {
                for chunk in chunks(
                    line,
                    budget
                        .saturating_sub(unit.continued_head.len() + unit.tail.len() + 100)
                        .max(80),
                ) {
                    if piece_lines > 0 && current.len() + chunk.len() + unit.tail.len() > budget {
                        current.push_str(&unit.tail);
                        parts.push(std::mem::take(&mut current));
                        head = &unit.continued_head;
                        current.push_str(&restate(unit.section));
                        current.push_str(head);
                        piece_lines = 0;
                    }
                    current.push_str(&chunk);
                    piece_lines += 1;
                }
            }
            current.push_str(&unit.tail);
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(k, part)| {
            let mut framed = String::with_capacity(part.len() + PART_FRAME);
            if k > 0 {
                let _ = write!(
                    framed,
                    "_gitsync plan, part {} of {n}, continued._\n\n",
                    k + 1
                );
            }
            framed.push_str(&part);
            if k + 1 < n {
                let _ = write!(framed, "\n_Continued in part {} of {n}._\n", k + 2);
            }
            framed
        })
        .collect()
}

/// A line cut into pieces of at most `max` bytes (at character boundaries), each ending in a
/// newline; a line that fits is one piece.
fn chunks(line: &str, max: usize) -> Vec<String> {
    if line.len() <= max {
        return vec![line.to_owned()];
    }
    let body = line.strip_suffix('\n').unwrap_or(line);
    let mut out = Vec::new();
    let mut piece = String::new();
    for c in body.chars() {
        if piece.len() + c.len_utf8() + 1 > max {
            piece.push('\n');
            out.push(std::mem::take(&mut piece));
        }
        piece.push(c);
    }
    piece.push('\n');
    out.push(piece);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::sync::plan::show::view::ViewContext;
    use crate::sync::plan::{AttributeChange, Change, Plan};

    pub(crate) fn plan_of(changes: Vec<Change>) -> Plan {
        Plan {
            changes,
            ..Plan::new(&[], Some("main".into()))
        }
    }

    pub(crate) fn update(
        n: usize,
        path: &str,
        before: Option<serde_json::Value>,
        after: serde_json::Value,
    ) -> Change {
        Change {
            action: Action::Update,
            resource_type: "segment_source".into(),
            address: format!("segment_source.id-src{n:05}"),
            file: format!("sources/src{n:05}.tf"),
            import_id: Some(format!("src{n:05}")),
            attributes: vec![AttributeChange {
                path: path.into(),
                before,
                after: Some(after),
                sensitive: false,
                forces_replacement: false,
            }],
            live_fingerprint: None,
            desired: None,
            dependents: Vec::new(),
        }
    }

    /// The lines inside code blocks, in order; and whether every block is closed.
    pub(crate) fn code_lines(md: &str) -> (Vec<String>, bool) {
        let mut open: Option<usize> = None;
        let mut out = Vec::new();
        for line in md.lines() {
            let ticks = line.len() - line.trim_start_matches('`').len();
            match open {
                None if ticks >= 3 => open = Some(ticks),
                Some(n) if ticks >= n && line.trim_start_matches('`').trim().is_empty() => {
                    open = None
                }
                Some(_) => out.push(line.to_owned()),
                None => {}
            }
        }
        (out, open.is_none())
    }

    /// `<details>` opened and closed as often, outside code blocks.
    pub(crate) fn details_balanced(md: &str) -> bool {
        let mut in_code: Option<usize> = None;
        let mut depth = 0i64;
        for line in md.lines() {
            let ticks = line.len() - line.trim_start_matches('`').len();
            match in_code {
                None if ticks >= 3 => in_code = Some(ticks),
                Some(n) if ticks >= n && line.trim_start_matches('`').trim().is_empty() => {
                    in_code = None
                }
                Some(_) => {}
                None => {
                    depth += line.matches("<details>").count() as i64;
                    depth -= line.matches("</details>").count() as i64;
                    if depth < 0 {
                        return false;
                    }
                }
            }
        }
        depth == 0 && in_code.is_none()
    }

    #[test]
    fn notes_conflicts_and_kept_values_say_where_and_never_show_a_secret() {
        use crate::sync::diagnostic::Diagnostic;
        use crate::sync::plan::{Conflict, Kept};
        let mut plan = plan_of(vec![update(1, "name", Some(json!("a")), json!("b"))]);
        plan.notes = vec![
            Diagnostic::warning(
                "sources/x.tf",
                "the import block's `to` names <another> resource",
            )
            .at(3, 8),
            Diagnostic::note("", "2 files are not read"),
        ];
        plan.conflicts = vec![Conflict {
            address: "segment_destination.id-d".into(),
            file: "destinations/d.tf".into(),
            path: "settings.apiKey".into(),
            base: None,
            workspace: None,
            file_value: None,
            sensitive: true,
        }];
        plan.kept = vec![Kept {
            address: "segment_source.id-src00001".into(),
            file: "sources/src00001.tf".into(),
            path: "enabled".into(),
        }];
        let md = render(&PlanView::new(&plan, &ViewContext::default()));
        let expected = [
            "**gitsync plan: 1 conflict(s): no plan can be applied.** Changes planned besides: 0 to add, 1 to change, 0 to destroy. 2 notes.\n",
            "- `sources/x.tf:3:8` **warning:** the import block's \\`to\\` names &lt;another&gt; resource\n",
            "- **note:** 2 files are not read\n",
            "`segment_destination.id-d` `settings.apiKey` (`destinations/d.tf`)\n\n```diff\n  base:      (sensitive)\n  workspace: (sensitive)\n  file:      (sensitive)\n```\n",
            "- `segment_source.id-src00001` `enabled` (`sources/src00001.tf`)\n",
            "#### 1. ~ `segment_source.id-src00001` will be updated in-place (`sources/src00001.tf`)\n\n```diff\n! name = \"a\" -> \"b\"\n```\n",
        ];
        for e in expected {
            assert!(md.contains(e), "no {e:?} in:\n{md}");
        }
        let order: Vec<usize> = ["### Conflicts", "### Notes", "### Changes", "### Kept"]
            .iter()
            .map(|h| md.find(h).unwrap_or(usize::MAX))
            .collect();
        assert!(
            order.is_sorted() && order[3] < usize::MAX,
            "{order:?}\n{md}"
        );
    }

    #[test]
    fn files_that_cannot_be_planned_are_listed_with_their_place() {
        let cases: Vec<(Vec<Diagnostic>, &str)> = vec![
            (
                vec![Diagnostic::error("sources/a.tf", "expected `=`").at(4, 9)],
                "**gitsync plan: the files cannot be planned (1 problem).** Nothing is applied until each is fixed.\n\n- `sources/a.tf:4:9` **error:** expected \\`=\\`\n",
            ),
            (
                vec![
                    Diagnostic::error("a.tf", "<b>bold</b>"),
                    Diagnostic::error("", "no resource directories"),
                ],
                "**gitsync plan: the files cannot be planned (2 problems).** Nothing is applied until each is fixed.\n\n- `a.tf` **error:** &lt;b&gt;bold&lt;/b&gt;\n- **error:** no resource directories\n",
            ),
        ];
        for (diagnostics, expected) in cases {
            assert_eq!(problems(&diagnostics), expected);
        }
    }

    #[test]
    fn text_and_code_spans_cannot_break_the_layout() {
        let cases = [
            ("plain", "plain", "`plain`"),
            ("a `b` c", "a \\`b\\` c", "``a `b` c``"),
            (
                "</details><script>",
                "&lt;/details&gt;&lt;script&gt;",
                "`</details><script>`",
            ),
            ("`edge`", "\\`edge\\`", "`` `edge` ``"),
            (
                "**bold** _x_ [l](u) #h",
                "\\*\\*bold\\*\\* \\_x\\_ \\[l\\](u) \\#h",
                "`**bold** _x_ [l](u) #h`",
            ),
            ("two\nlines", "two lines", "`two lines`"),
        ];
        for (text, escaped, coded) in cases {
            assert_eq!(escape(text), escaped, "{text}");
            assert_eq!(code(text), coded, "{text}");
        }
    }

    #[test]
    fn code_blocks_are_fenced_longer_than_any_backticks_they_hold() {
        let cases = [
            (vec!["a"], "```"),
            (vec!["```", "x"], "````"),
            (vec!["a ````` b"], "``````"),
        ];
        for (lines, expected) in cases {
            let lines: Vec<String> = lines.into_iter().map(str::to_owned).collect();
            assert_eq!(fence(&lines), expected, "{lines:?}");
        }
        let md = render(&PlanView::new(
            &plan_of(vec![update(
                1,
                "description",
                Some(json!("a")),
                json!("```\n</details>\n"),
            )]),
            &ViewContext::default(),
        ));
        let (lines, closed) = code_lines(&md);
        assert!(closed && details_balanced(&md), "{md}");
        assert!(lines.iter().any(|l| l.contains("</details>")), "{md}");
    }

    #[test]
    fn splitting_keeps_every_part_under_the_size_valid_and_loses_nothing() {
        // (changes, lines in one change's value, limit)
        let cases = [
            (3, 5, 65_536),
            (40, 30, 4_000),
            (2, 3_000, 20_000),
            (300, 2, 10_000),
        ];
        for (changes, lines, limit) in cases {
            let big = |k: usize| {
                (0..lines)
                    .map(|i| format!("line {i} of {k}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let plan = plan_of(
                (0..changes)
                    .map(|k| update(k, "description", None, json!(big(k))))
                    .collect(),
            );
            let view = PlanView::new(&plan, &ViewContext::default());
            let whole = render(&view);
            let parts = render_parts(&view, limit);
            let what = format!("{changes} changes of {lines} lines under {limit}");
            assert!(
                parts[0].starts_with("**gitsync plan: Plan: 0 to add"),
                "{what}: {}",
                &parts[0][..60]
            );
            if whole.len() <= limit {
                assert_eq!(parts, std::slice::from_ref(&whole), "{what}");
            } else {
                assert!(parts.len() > 1, "{what}");
            }
            let mut joined = Vec::new();
            for (k, part) in parts.iter().enumerate() {
                assert!(
                    part.len() <= limit,
                    "{what}: part {k} has {} bytes",
                    part.len()
                );
                let (lines, closed) = code_lines(part);
                assert!(
                    closed && details_balanced(part),
                    "{what}: part {k} is not valid on its own:\n{part}"
                );
                joined.extend(lines);
            }
            assert_eq!(
                joined,
                code_lines(&whole).0,
                "{what}: lines lost or repeated between parts"
            );
            for k in 0..changes {
                let address = format!("segment_source.id-src{k:05}");
                let starts = parts
                    .iter()
                    .map(|p| p.matches(&format!("<code>{address}</code> will")).count())
                    .sum::<usize>()
                    + parts
                        .iter()
                        .map(|p| p.matches(&format!("`{address}` will")).count())
                        .sum::<usize>();
                assert!(starts >= 1, "{what}: {address} missing");
            }
        }
    }
}
