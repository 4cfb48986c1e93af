//! An apply's report as text, for any driver to print (the CLI, the demo, the operator's logs and
//! Events). It says what is true, in the words of the engine: it names no command-line flag, and
//! the caller adds the remedy in its own terms.

use std::fmt::Write;

use super::{ApplyReport, Op, Recovered, Step};

/// The report: the files rewritten, what earlier runs did, and either the totals or what
/// failed, what was applied and what was not tried.
pub fn text(report: &ApplyReport) -> String {
    let mut out = String::new();
    for r in &report.rewritten {
        match &r.removed {
            Some(old) => {
                let _ = writeln!(out, "rewrote {} (was {old})", r.path);
            }
            None => {
                let _ = writeln!(out, "rewrote {}", r.path);
            }
        }
    }
    if !report.already_done.is_empty() {
        let _ = writeln!(
            out,
            "{} step(s) were done by an earlier run of this plan.",
            report.already_done.len()
        );
    }
    for (s, how) in &report.reconciled {
        let _ = match how {
            Recovered::FoundDone => writeln!(
                out,
                "found done in the workspace (an earlier run sent it without hearing back): {s}"
            ),
            Recovered::FinishedHalfMade => writeln!(
                out,
                "found half-made in the workspace (an earlier run's create stopped before its last writes) and finished: {s}"
            ),
        };
    }
    match &report.failed {
        None => {
            // What this run did (an earlier run's steps were reported by that run).
            let ran: Vec<&Step> = report
                .reconciled
                .iter()
                .map(|(s, _)| s)
                .chain(&report.applied)
                .collect();
            let count = |op: Op| ran.iter().filter(|s| s.op == op).count();
            if report.total == 0 {
                let _ = writeln!(
                    out,
                    "The plan has no changes: nothing was applied, and nothing needs to be."
                );
            } else if ran.is_empty() {
                let _ = writeln!(
                    out,
                    "Nothing left to apply: an earlier run of this plan did every step."
                );
            } else {
                let _ = writeln!(
                    out,
                    "Apply complete! Resources: {} added, {} changed, {} destroyed.",
                    count(Op::Create),
                    count(Op::Update),
                    count(Op::Delete)
                );
            }
        }
        Some((step, error)) => {
            let _ = writeln!(out, "error: {step} failed: {error}");
            if let Some(id) = &report.half_made {
                let _ = writeln!(
                    out,
                    "The create made the resource before it failed: {id} exists in the workspace, not yet as the plan asks. Running this apply again finishes it; it is not created twice."
                );
            }
            let mut list = |title: &str, steps: &[&Step]| {
                let _ = writeln!(out, "{title} ({}):", steps.len());
                for s in steps {
                    let _ = writeln!(out, "  {s}");
                }
            };
            let applied: Vec<&Step> = report
                .already_done
                .iter()
                .chain(report.reconciled.iter().map(|(s, _)| s))
                .chain(&report.applied)
                .collect();
            list("applied", &applied);
            list("failed", &[step]);
            list("not tried", &report.not_tried.iter().collect::<Vec<_>>());
            let _ = writeln!(
                out,
                "Fix the cause and run the same apply again: it does only what remains. If the files or the workspace changed meanwhile, make a new plan."
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceType;

    fn step(n: usize, op: Op) -> Step {
        Step {
            step: n,
            change: n,
            op,
            address: format!("segment_source.s{n}"),
            file: format!("sources/s{n}.tf"),
            ty: ResourceType::Source,
        }
    }

    #[test]
    fn each_outcome_says_what_is_true() {
        let empty = ApplyReport::default();
        assert!(text(&empty).contains("The plan has no changes"));
        let again = ApplyReport {
            total: 2,
            already_done: vec![step(0, Op::Create), step(1, Op::Update)],
            ..ApplyReport::default()
        };
        assert!(text(&again).contains("2 step(s) were done by an earlier run"));
        assert!(text(&again).contains("Nothing left to apply"));
        let mixed = ApplyReport {
            total: 3,
            applied: vec![step(1, Op::Update), step(2, Op::Delete)],
            reconciled: vec![(step(0, Op::Create), Recovered::FinishedHalfMade)],
            ..ApplyReport::default()
        };
        let shown = text(&mixed);
        assert!(
            shown.contains("found half-made in the workspace"),
            "{shown}"
        );
        assert!(shown.contains("1 added, 1 changed, 1 destroyed"), "{shown}");
        let failed = ApplyReport {
            total: 3,
            applied: vec![step(0, Op::Update)],
            failed: Some((step(1, Op::Create), "refused".into())),
            half_made: Some("src1".into()),
            not_tried: vec![step(2, Op::Delete)],
            ..ApplyReport::default()
        };
        let shown = text(&failed);
        for want in [
            "error: create segment_source.s1 (sources/s1.tf) failed: refused",
            "src1 exists in the workspace",
            "applied (1):\n  update segment_source.s0",
            "not tried (1):\n  delete segment_source.s2",
        ] {
            assert!(shown.contains(want), "no `{want}` in:\n{shown}");
        }
        assert!(!shown.contains("--"), "names a flag:\n{shown}");
    }
}
