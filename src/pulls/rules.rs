//! Whether an apply command may run: the rules of the issue as one pure function,
//! [`may_apply`], from what the forge says now, what the plan holds and what the GitSync allows.
//!
//! Every refusal says why, and what would make the apply possible, in words a commenter can act
//! on. This module decides only; it never reads the forge or the workspace.

use crate::forge::{Mergeability, Permission, PullRequest, PullState, User};

/// What the GitSync allows (its `spec.bidirectional`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowances {
    /// Logins that may apply even without write access (and the only ones whose
    /// `--allow-access-changes` counts).
    pub allowed_users: Vec<String>,
    pub allow_deletes: bool,
    pub allow_access_changes: bool,
    pub allow_forks: bool,
}

impl Allowances {
    fn is_allowed_user(&self, login: &str) -> bool {
        self.allowed_users
            .iter()
            .any(|u| u.eq_ignore_ascii_case(login))
    }
}

/// What the plan asks for, as far as the rules go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanFacts {
    /// Deletes and replaces, by address.
    pub deletes: Vec<String>,
    /// Gains and losses of access, in the plan's words.
    pub access_changes: Vec<String>,
    /// Conflicts or file errors block any apply.
    pub blocked: Option<String>,
    /// The head commit the plan was made for.
    pub head: String,
    /// The synced branch the plan was made against.
    pub base_branch: String,
}

/// What the commenter asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    pub allow_deletes: bool,
    pub allow_access_changes: bool,
}

/// Why an apply may not run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The forge is still computing mergeability: not a refusal to reply with, but a reason to
    /// look again shortly.
    MergeabilityPending,
    /// Refused, with the reason and what would make it possible.
    Refused {
        reason: &'static str,
        why: String,
        remedy: String,
    },
}

impl Refusal {
    fn refused(reason: &'static str, why: impl Into<String>, remedy: impl Into<String>) -> Self {
        Refusal::Refused {
            reason,
            why: why.into(),
            remedy: remedy.into(),
        }
    }
}

/// Decides whether `commenter`, with `permission`, may apply `plan` on `pull` as the forge
/// describes it now, having asked `asked`. The order of the checks is the order a commenter
/// fixes things in: who, which pull request, whether it can merge, which plan, what it does.
pub fn may_apply(
    pull: &PullRequest,
    commenter: &User,
    permission: Permission,
    allowances: &Allowances,
    plan: &PlanFacts,
    asked: Asked,
    command: &str,
) -> Result<(), Refusal> {
    let allowed_user = allowances.is_allowed_user(&commenter.login);
    if permission < Permission::Write && !allowed_user {
        return Err(Refusal::refused(
            "NotPermitted",
            format!(
                "@{} has no write access to the repository and is not in the GitSync's allowedUsers",
                commenter.login
            ),
            "ask someone with write access to comment, or add the login to spec.bidirectional.allowedUsers",
        ));
    }
    if pull.state != PullState::Open {
        return Err(Refusal::refused(
            "NotOpen",
            "the pull request is not open",
            "reopen it and comment again",
        ));
    }
    if pull.base_branch != plan.base_branch {
        return Err(Refusal::refused(
            "NotIntoSyncedBranch",
            format!(
                "the pull request now merges into {}, not into the synced branch {}",
                pull.base_branch, plan.base_branch
            ),
            format!("retarget it to {}", plan.base_branch),
        ));
    }
    if pull.from_fork && !allowances.allow_forks {
        return Err(Refusal::refused(
            "FromFork",
            "the pull request comes from a fork, whose branch anyone with the fork can push to",
            "push the branch to this repository and open the pull request from there, or set spec.bidirectional.allowForks",
        ));
    }
    if pull.draft {
        return Err(Refusal::refused(
            "Draft",
            "the pull request is a draft",
            "mark it ready for review and comment again",
        ));
    }
    match &pull.mergeability {
        Mergeability::Mergeable => {}
        Mergeability::Computing => return Err(Refusal::MergeabilityPending),
        Mergeability::Blocked { reason } => {
            return Err(Refusal::refused(
                "NotMergeable",
                format!("the pull request cannot be merged now ({reason})"),
                "bring it up to date with its base branch, resolve conflicts and required reviews or checks, then comment again",
            ));
        }
    }
    if pull.head_sha != plan.head {
        return Err(Refusal::refused(
            "HeadMoved",
            format!(
                "the pull request's head is {}, but the plan was made for {}",
                short(&pull.head_sha),
                short(&plan.head)
            ),
            format!("read the new plan, then comment `{command}` again"),
        ));
    }
    if let Some(blocked) = &plan.blocked {
        return Err(Refusal::refused(
            "PlanBlocked",
            blocked.clone(),
            "fix the files (or resolve the conflicts) and push; the new plan says when it can be applied",
        ));
    }
    let deletes_allowed = allowances.allow_deletes || asked.allow_deletes;
    if !plan.deletes.is_empty() && !deletes_allowed {
        return Err(Refusal::refused(
            "DeletesNotAllowed",
            format!(
                "the plan deletes or replaces {} resource(s): {}",
                plan.deletes.len(),
                list(&plan.deletes)
            ),
            format!("comment `{command} --allow-deletes` to apply them"),
        ));
    }
    if !plan.access_changes.is_empty() && !allowances.allow_access_changes {
        let may_allow = allowed_user && asked.allow_access_changes;
        if !may_allow {
            let remedy = if allowed_user {
                format!("comment `{command} --allow-access-changes` to apply them")
            } else {
                format!(
                    "someone listed in spec.bidirectional.allowedUsers must comment `{command} --allow-access-changes`"
                )
            };
            return Err(Refusal::refused(
                "AccessChangesNotAllowed",
                format!(
                    "the plan changes who has access to the workspace: {}",
                    list(&plan.access_changes)
                ),
                remedy,
            ));
        }
    }
    Ok(())
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The first few items, and how many more.
fn list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > SHOWN {
        text.push_str(&format!("; and {} more", items.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull() -> PullRequest {
        PullRequest {
            number: 7,
            title: "t".into(),
            state: PullState::Open,
            draft: false,
            author: user("author"),
            head_sha: "a".repeat(40),
            head_branch: "feature".into(),
            base_branch: "main".into(),
            from_fork: false,
            mergeability: Mergeability::Mergeable,
            web_url: String::new(),
        }
    }

    fn user(login: &str) -> User {
        User {
            login: login.into(),
            id: 1,
        }
    }

    fn plan() -> PlanFacts {
        PlanFacts {
            head: "a".repeat(40),
            base_branch: "main".into(),
            ..PlanFacts::default()
        }
    }

    fn reason(result: Result<(), Refusal>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(Refusal::MergeabilityPending) => "pending",
            Err(Refusal::Refused { reason, .. }) => reason,
        }
    }

    #[test]
    fn each_rule_refuses_what_it_guards_and_nothing_else() {
        type Case = (
            &'static str,
            PullRequest,
            Permission,
            Allowances,
            PlanFacts,
            Asked,
            &'static str,
        );
        let allowed = Allowances {
            allowed_users: vec!["Alice".into()],
            ..Allowances::default()
        };
        let with = |f: fn(&mut PullRequest)| {
            let mut p = pull();
            f(&mut p);
            p
        };
        let plan_with = |f: fn(&mut PlanFacts)| {
            let mut p = plan();
            f(&mut p);
            p
        };
        let deletes = plan_with(|p| p.deletes = vec!["segment_source.a".into()]);
        let access = plan_with(|p| p.access_changes = vec!["adds x to owners".into()]);
        let cases: Vec<Case> = vec![
            (
                "writer",
                pull(),
                Permission::Write,
                Allowances::default(),
                plan(),
                Asked::default(),
                "ok",
            ),
            (
                "reader",
                pull(),
                Permission::Read,
                Allowances::default(),
                plan(),
                Asked::default(),
                "NotPermitted",
            ),
            (
                "allowed reader",
                pull(),
                Permission::Read,
                allowed.clone(),
                plan(),
                Asked::default(),
                "ok",
            ),
            (
                "closed",
                with(|p| p.state = PullState::Closed),
                Permission::Admin,
                Allowances::default(),
                plan(),
                Asked::default(),
                "NotOpen",
            ),
            (
                "fork",
                with(|p| p.from_fork = true),
                Permission::Admin,
                Allowances::default(),
                plan(),
                Asked::default(),
                "FromFork",
            ),
            (
                "fork allowed",
                with(|p| p.from_fork = true),
                Permission::Admin,
                Allowances {
                    allow_forks: true,
                    ..Allowances::default()
                },
                plan(),
                Asked::default(),
                "ok",
            ),
            (
                "draft",
                with(|p| p.draft = true),
                Permission::Write,
                Allowances::default(),
                plan(),
                Asked::default(),
                "Draft",
            ),
            (
                "computing",
                with(|p| p.mergeability = Mergeability::Computing),
                Permission::Write,
                Allowances::default(),
                plan(),
                Asked::default(),
                "pending",
            ),
            (
                "need rebase",
                with(|p| {
                    p.mergeability = Mergeability::Blocked {
                        reason: "need_rebase".into(),
                    }
                }),
                Permission::Write,
                Allowances::default(),
                plan(),
                Asked::default(),
                "NotMergeable",
            ),
            (
                "pushed since",
                with(|p| p.head_sha = "b".repeat(40)),
                Permission::Write,
                Allowances::default(),
                plan(),
                Asked::default(),
                "HeadMoved",
            ),
            (
                "conflicts",
                pull(),
                Permission::Write,
                Allowances::default(),
                plan_with(|p| p.blocked = Some("conflicts".into())),
                Asked::default(),
                "PlanBlocked",
            ),
            (
                "deletes",
                pull(),
                Permission::Write,
                Allowances::default(),
                deletes.clone(),
                Asked::default(),
                "DeletesNotAllowed",
            ),
            (
                "deletes asked",
                pull(),
                Permission::Write,
                Allowances::default(),
                deletes.clone(),
                Asked {
                    allow_deletes: true,
                    ..Asked::default()
                },
                "ok",
            ),
            (
                "deletes allowed",
                pull(),
                Permission::Write,
                Allowances {
                    allow_deletes: true,
                    ..Allowances::default()
                },
                deletes,
                Asked::default(),
                "ok",
            ),
            (
                "access",
                pull(),
                Permission::Admin,
                Allowances::default(),
                access.clone(),
                Asked::default(),
                "AccessChangesNotAllowed",
            ),
            (
                "access asked by a writer not allowed",
                pull(),
                Permission::Admin,
                Allowances::default(),
                access.clone(),
                Asked {
                    allow_access_changes: true,
                    ..Asked::default()
                },
                "AccessChangesNotAllowed",
            ),
            (
                "access asked by an allowed user",
                pull(),
                Permission::Read,
                allowed,
                access.clone(),
                Asked {
                    allow_access_changes: true,
                    ..Asked::default()
                },
                "ok",
            ),
            (
                "access allowed by the GitSync",
                pull(),
                Permission::Write,
                Allowances {
                    allow_access_changes: true,
                    ..Allowances::default()
                },
                access,
                Asked::default(),
                "ok",
            ),
        ];
        for (name, pull, permission, allowances, plan, asked, want) in cases {
            let commenter = user("alice");
            let got = may_apply(
                &pull,
                &commenter,
                permission,
                &allowances,
                &plan,
                asked,
                "segment apply",
            );
            assert_eq!(reason(got), want, "{name}");
        }
    }

    #[test]
    fn a_refusal_says_what_would_make_it_possible() {
        let plan = PlanFacts {
            deletes: (0..7).map(|i| format!("segment_source.s{i}")).collect(),
            ..plan()
        };
        let Err(Refusal::Refused { why, remedy, .. }) = may_apply(
            &pull(),
            &user("bob"),
            Permission::Write,
            &Allowances::default(),
            &plan,
            Asked::default(),
            "segment apply",
        ) else {
            panic!("a plan with deletes was not refused");
        };
        assert!(
            why.contains("7 resource(s)") && why.contains("and 2 more"),
            "{why}"
        );
        assert_eq!(
            remedy,
            "comment `segment apply --allow-deletes` to apply them"
        );
    }
}
