//! A [`PlanView`] as terminal text, in Terraform's words: call-outs and access changes first,
//! then possible data loss, conflicts and notes, then each change in the order apply makes
//! them, and the summary line last (where a terminal user's eye lands).

use std::fmt::Write;

use super::value::{Line, Mark};
use super::view::PlanView;

fn line(out: &mut String, indent: usize, l: &Line) {
    let mark = match l.mark {
        Mark::Add => '+',
        Mark::Remove => '-',
        Mark::Change => '~',
        Mark::Same | Mark::Skipped => ' ',
    };
    let pad = " ".repeat(indent + 2 * l.depth);
    let _ = writeln!(out, "{pad}{mark} {}", l.text);
}

pub fn render(view: &PlanView) -> String {
    let mut out = String::new();
    for c in &view.callouts {
        let _ = writeln!(out, "!! {c}");
    }
    if !view.callouts.is_empty() {
        let _ = writeln!(out);
    }
    if !view.access.is_empty() {
        let _ = writeln!(out, "Access changes: who gains or loses access\n");
        for a in &view.access {
            let _ = writeln!(
                out,
                "  {} {} ({}, {})",
                if a.gains { '+' } else { '-' },
                a.text,
                a.address,
                a.file
            );
        }
        let _ = writeln!(out);
    }
    if !view.data_loss.is_empty() {
        let _ = writeln!(
            out,
            "Possible data loss: what Segment keeps for these resources goes with them\n"
        );
        for d in &view.data_loss {
            let what = match d.action {
                crate::sync::plan::Action::Replace => "is replaced",
                _ => "is destroyed",
            };
            let _ = write!(out, "  {} {what} ({})", d.address, d.file);
            if !d.reasons.is_empty() {
                let _ = write!(out, ": {} forces replacement", d.reasons.join(", "));
            }
            let _ = writeln!(out);
            if !d.dependents.is_empty() {
                let _ = writeln!(out, "      depends on it: {}", d.dependents.join(", "));
            }
        }
        let _ = writeln!(out);
    }
    if !view.conflicts.is_empty() {
        let _ = writeln!(
            out,
            "Conflicts: the workspace changed these values since the base, and the files change them too. Nothing will be applied until each is resolved in the files (take the workspace's value, or confirm yours on top of it):\n"
        );
        for c in &view.conflicts {
            let _ = writeln!(out, "  ! {} ({}): {}", c.address, c.file, c.path);
            for l in &c.lines {
                line(&mut out, 6, l);
            }
        }
        let _ = writeln!(out);
    }
    if !view.notes.is_empty() {
        let _ = writeln!(out, "Notes:\n");
        for n in &view.notes {
            let place = if n.place.is_empty() {
                String::new()
            } else {
                format!("{}: ", n.place)
            };
            let _ = writeln!(out, "  {place}{}: {}", n.severity, n.message);
        }
        let _ = writeln!(out);
    }
    if !view.changes.is_empty() {
        let _ = writeln!(
            out,
            "gitsync will perform the following actions on the workspace, in the order apply makes them:\n"
        );
    }
    for c in &view.changes {
        let _ = writeln!(
            out,
            "  # {}. {} {} ({})",
            c.step,
            c.address,
            c.verb(),
            c.file
        );
        if c.data_loss {
            let _ = writeln!(
                out,
                "  # possible data loss: what Segment keeps for this resource goes with it"
            );
        }
        if !c.dependents.is_empty() {
            let _ = writeln!(out, "  # depends on it: {}", c.dependents.join(", "));
        }
        let _ = writeln!(out, "  {} {}", c.symbol(), c.address);
        for l in &c.lines {
            line(&mut out, 6, l);
        }
        let _ = writeln!(out);
    }
    if !view.kept.is_empty() {
        let _ = writeln!(
            out,
            "Kept: the workspace changed these since the base and the files do not touch them; they stay as the workspace has them:"
        );
        for k in &view.kept {
            let _ = writeln!(out, "  = {} ({}): {}", k.address, k.file, k.path);
        }
        let _ = writeln!(out);
    }
    if view.no_base_note {
        let _ = writeln!(
            out,
            "Note: made without a base revision, a removed file cannot be told from one never there, so no deletes are planned."
        );
    }
    let _ = writeln!(out, "{}", view.summary);
    out
}
