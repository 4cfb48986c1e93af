//! A plan as people read it, in Terraform's words: each change with its attributes, deletes and
//! replaces first and marked as possible data loss, secrets as `(sensitive)`, and the summary
//! line `Plan: 2 to add, 1 to change, 1 to destroy.` Text only; the plan itself is decided in
//! the parent module.

use std::fmt::Write;

use super::{Action, AttributeChange, Plan};

fn value(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "null".to_owned(),
        Some(v) => {
            let text = v.to_string();
            // A long document is shown by its start: the plan file and --json hold it whole.
            if text.chars().count() > 120 {
                let cut: String = text.chars().take(117).collect();
                format!("{cut}...")
            } else {
                text
            }
        }
    }
}

fn attribute_line(out: &mut String, symbol: char, a: &AttributeChange) {
    let replace = if a.forces_replacement {
        " # forces replacement"
    } else {
        ""
    };
    let _ = if a.sensitive {
        writeln!(out, "      {symbol} {} = (sensitive){replace}", a.path)
    } else {
        match symbol {
            '+' => writeln!(out, "      + {} = {}{replace}", a.path, value(&a.after)),
            _ => writeln!(
                out,
                "      ~ {}: {} -> {}{replace}",
                a.path,
                value(&a.before),
                value(&a.after)
            ),
        }
    };
}

/// `Plan: 2 to add, 1 to change, 1 to destroy.` or `No changes.`
pub fn summary_line(plan: &Plan) -> String {
    if plan.changes.is_empty() {
        return "No changes. The workspace matches the files.".to_owned();
    }
    let (add, change, destroy) = plan.counts();
    format!("Plan: {add} to add, {change} to change, {destroy} to destroy.")
}

/// The whole plan as text.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.conflicts.is_empty() {
        let _ = writeln!(
            out,
            "Conflicts: the workspace changed these values since the base, and the files change them too. Nothing will be applied until each is resolved in the files (take the workspace's value, or confirm yours on top of it):\n"
        );
        for c in &plan.conflicts {
            let _ = writeln!(out, "  ! {} ({}): {}", c.address, c.file, c.path);
            if c.sensitive {
                let _ = writeln!(out, "      base:      (sensitive)");
                let _ = writeln!(out, "      workspace: (sensitive)");
                let _ = writeln!(out, "      file:      (sensitive)");
            } else {
                let _ = writeln!(out, "      base:      {}", value(&c.base));
                let _ = writeln!(out, "      workspace: {}", value(&c.workspace));
                let _ = writeln!(out, "      file:      {}", value(&c.file_value));
            }
        }
        let _ = writeln!(out);
    }
    if !plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "gitsync will perform the following actions on the workspace:\n"
        );
    }
    for c in &plan.changes {
        let (symbol, words) = match c.action {
            Action::Create => ('+', "will be created"),
            Action::Update => ('~', "will be updated in-place"),
            Action::Replace => (
                '±',
                "must be replaced (deleted, then created with a new id)",
            ),
            Action::Delete => ('-', "will be destroyed"),
        };
        let _ = writeln!(out, "  # {} {words} ({})", c.address, c.file);
        if matches!(c.action, Action::Delete | Action::Replace) {
            let _ = writeln!(
                out,
                "  # possible data loss: what Segment keeps for this resource goes with it"
            );
        }
        let _ = writeln!(out, "  {symbol} {}", c.address);
        let attr_symbol = if c.action == Action::Create { '+' } else { '~' };
        for a in &c.attributes {
            attribute_line(&mut out, attr_symbol, a);
        }
        let _ = writeln!(out);
    }
    if !plan.kept.is_empty() {
        let _ = writeln!(
            out,
            "Kept: the workspace changed these since the base and the files do not touch them; they stay as the workspace has them:"
        );
        for k in &plan.kept {
            let _ = writeln!(out, "  = {} ({}): {}", k.address, k.file, k.path);
        }
        let _ = writeln!(out);
    }
    if plan.base.is_none() && plan.changes.iter().all(|c| c.action != Action::Delete) {
        let _ = writeln!(
            out,
            "Note: without a base (--base REV), a removed file cannot be told from one never there, so no deletes are planned."
        );
    }
    if plan.conflicts.is_empty() {
        let _ = writeln!(out, "{}", summary_line(plan));
    } else {
        let _ = writeln!(
            out,
            "{} conflict(s): no plan can be applied.",
            plan.conflicts.len()
        );
    }
    out
}
