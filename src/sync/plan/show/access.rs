//! Who gains or loses which role on what: a plan's changes to users (invitations and
//! permissions) and user groups (members and permissions) in a reviewer's words, such as
//! "adds bad.actor@hacking.com to group Workspace Owners (role Workspace Owner on workspace
//! mbj3HAIe6A)". Read from each change's before and after values and from its desired file;
//! never from the workspace.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as J;

use super::super::{Action, Change};

/// Role names by role id, when the caller knows them (the plan records ids only).
pub type RoleNames = BTreeMap<String, String>;

/// One gain or loss of access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// True when someone gains access (a new member, a new role, an invitation).
    pub gains: bool,
    pub text: String,
}

const USER: &str = "segment_user";
const GROUP: &str = "segment_user_group";
/// Members named in a line about a whole group; the rest are counted.
const MEMBERS_NAMED: usize = 5;

/// The access a change gives or takes, in the order a reviewer reads them (gains first).
pub fn of(change: &Change, roles: &RoleNames) -> Vec<Access> {
    let mut out = match change.resource_type.as_str() {
        USER => user(change, roles),
        GROUP => group(change, roles),
        _ => Vec::new(),
    };
    out.sort_by_key(|a| !a.gains);
    out
}

/// The value before and after of a top-level attribute the change touches; for an attribute
/// it does not touch, the desired file's value on both sides.
fn sides(change: &Change, desired: &BTreeMap<String, J>, name: &str) -> (Option<J>, Option<J>) {
    match change.attributes.iter().find(|a| a.path == name) {
        Some(a) if !a.sensitive => (a.before.clone(), a.after.clone()),
        _ => {
            let v = desired.get(name).cloned();
            (v.clone(), v)
        }
    }
}

/// The desired file's attributes as JSON (empty for a delete, or a file that does not parse).
fn desired(change: &Change) -> BTreeMap<String, J> {
    change
        .desired
        .as_deref()
        .and_then(|text| crate::hcl::parse(text, &change.file).ok())
        .map(|r| {
            r.attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(v: &Option<J>) -> BTreeSet<String> {
    match v {
        Some(J::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Each role on each resource a `permissions` value grants: `role Workspace Owner on
/// workspace mbj3HAIe6A`.
fn grants(v: &Option<J>, roles: &RoleNames) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(J::Array(permissions)) = v else {
        return out;
    };
    for p in permissions {
        let id = p.get("role_id").and_then(J::as_str).unwrap_or("(no role)");
        let role = format!("role {}", roles.get(id).map_or(id, String::as_str));
        let resources = p.get("resources").and_then(J::as_array);
        match resources {
            Some(resources) if !resources.is_empty() => {
                for r in resources {
                    out.insert(format!("{role} on {}", resource(r)));
                }
            }
            _ => {
                out.insert(role);
            }
        }
    }
    out
}

/// `workspace mbj3HAIe6A`, `source abc labelled env:prod`.
fn resource(r: &J) -> String {
    let ty = r
        .get("type")
        .and_then(J::as_str)
        .unwrap_or("resource")
        .to_ascii_lowercase()
        .replace('_', " ");
    let id = r.get("id").and_then(J::as_str).unwrap_or("?");
    let labels: Vec<String> = r
        .get("labels")
        .and_then(J::as_array)
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    let part = |k| l.get(k).and_then(J::as_str).unwrap_or_default();
                    format!("{}:{}", part("key"), part("value"))
                })
                .collect()
        })
        .unwrap_or_default();
    if labels.is_empty() {
        format!("{ty} {id}")
    } else {
        format!("{ty} {id} labelled {}", labels.join(", "))
    }
}

fn listed(grants: &BTreeSet<String>) -> String {
    if grants.is_empty() {
        "no role".to_owned()
    } else {
        grants.iter().cloned().collect::<Vec<_>>().join("; ")
    }
}

fn gain(text: String) -> Access {
    Access { gains: true, text }
}

fn loss(text: String) -> Access {
    Access { gains: false, text }
}

fn user(change: &Change, roles: &RoleNames) -> Vec<Access> {
    let desired = desired(change);
    let email = desired
        .get("email")
        .and_then(J::as_str)
        .map_or_else(|| change.address.clone(), str::to_owned);
    let (before, after) = sides(change, &desired, "permissions");
    let (old_email, new_email) = sides(change, &desired, "email");
    match change.action {
        Action::Delete => vec![loss(format!(
            "removes user {} from the workspace, with all its access",
            change.address
        ))],
        Action::Create => vec![gain(format!(
            "invites {email} ({})",
            listed(&grants(&after, roles))
        ))],
        Action::Replace if old_email.is_some() && old_email != new_email => {
            // Another e-mail is another user: the old one goes, the new one is invited.
            let old = old_email.as_ref().and_then(J::as_str).unwrap_or_default();
            vec![
                gain(format!(
                    "invites {email} ({})",
                    listed(&grants(&after, roles))
                )),
                loss(format!(
                    "removes {old} from the workspace ({})",
                    listed(&grants(&before, roles))
                )),
            ]
        }
        Action::Update | Action::Replace => {
            let (was, now) = (grants(&before, roles), grants(&after, roles));
            let mut out: Vec<Access> = now
                .difference(&was)
                .map(|g| gain(format!("{email} gains {g}")))
                .collect();
            out.extend(
                was.difference(&now)
                    .map(|g| loss(format!("{email} loses {g}"))),
            );
            out
        }
    }
}

fn group(change: &Change, roles: &RoleNames) -> Vec<Access> {
    let desired = desired(change);
    let name = desired
        .get("name")
        .and_then(J::as_str)
        .map_or_else(|| change.address.clone(), str::to_owned);
    let (members_before, members_after) = sides(change, &desired, "members");
    let (permissions_before, permissions_after) = sides(change, &desired, "permissions");
    let (was, now) = (
        grants(&permissions_before, roles),
        grants(&permissions_after, roles),
    );
    if change.action == Action::Delete {
        return vec![loss(format!(
            "deletes group {}: its members lose the access it gave them",
            change.address
        ))];
    }
    let (had, has) = if change.action == Action::Create {
        (BTreeSet::new(), strings(&members_after))
    } else {
        (strings(&members_before), strings(&members_after))
    };
    let new = if change.action == Action::Create {
        "new group"
    } else {
        "group"
    };
    let mut out: Vec<Access> = has
        .difference(&had)
        .map(|m| gain(format!("adds {m} to {new} {name} ({})", listed(&now))))
        .collect();
    if change.action == Action::Create && has.is_empty() {
        out.push(gain(format!(
            "creates group {name} with no members ({})",
            listed(&now)
        )));
    }
    out.extend(
        had.difference(&has)
            .map(|m| loss(format!("removes {m} from group {name} ({})", listed(&was)))),
    );
    if change.action != Action::Create {
        let members = {
            let named: Vec<&str> = has.iter().take(MEMBERS_NAMED).map(String::as_str).collect();
            let more = has.len().saturating_sub(MEMBERS_NAMED);
            match (named.is_empty(), more) {
                (true, _) => "no members".to_owned(),
                (false, 0) => named.join(", "),
                (false, n) => format!("{}, and {n} more", named.join(", ")),
            }
        };
        out.extend(
            now.difference(&was)
                .map(|g| gain(format!("group {name} ({members}) gains {g}"))),
        );
        out.extend(
            was.difference(&now)
                .map(|g| loss(format!("group {name} ({members}) loses {g}"))),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sync::plan::AttributeChange;

    const OWNER_ROLE: &str = "1Mc8DEHhMqqSkb5cPjtu9pAEyNf";

    fn permissions(role: &str) -> J {
        json!([{"resources": [{"id": "mbj3HAIe6A", "labels": [], "type": "WORKSPACE"}], "role_id": role}])
    }

    fn group_file(members: &[&str], role: &str) -> String {
        let members: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
        format!(
            "resource \"segment_user_group\" \"owners\" {{\n  members = [{}]\n  name = \"Workspace Owners\"\n  permissions = [\n    {{\n      resources = [\n        {{\n          id = \"mbj3HAIe6A\"\n          labels = [\n          ]\n          type = \"WORKSPACE\"\n        }},\n      ]\n      role_id = \"{role}\"\n    }},\n  ]\n}}",
            members.join(", ")
        )
    }

    fn change(
        ty: &str,
        action: Action,
        desired: Option<String>,
        attributes: Vec<(&str, Option<J>, Option<J>)>,
    ) -> Change {
        Change {
            action,
            resource_type: ty.to_owned(),
            address: format!("{ty}.id-x"),
            file: "f.tf".to_owned(),
            import_id: None,
            attributes: attributes
                .into_iter()
                .map(|(path, before, after)| AttributeChange {
                    path: path.to_owned(),
                    before,
                    after,
                    sensitive: false,
                    forces_replacement: false,
                })
                .collect(),
            live_fingerprint: None,
            desired,
            dependents: Vec::new(),
        }
    }

    #[test]
    fn access_changes_say_who_gains_or_loses_which_role_on_what() {
        let roles: RoleNames = [(OWNER_ROLE.to_owned(), "Workspace Owner".to_owned())].into();
        let user_file = |role: &str| {
            format!(
                "resource \"segment_user\" \"u\" {{\n  email = \"new@example.com\"\n  permissions = [\n    {{\n      resources = [\n        {{\n          id = \"mbj3HAIe6A\"\n          labels = [\n          ]\n          type = \"WORKSPACE\"\n        }},\n      ]\n      role_id = \"{role}\"\n    }},\n  ]\n}}"
            )
        };
        let cases: Vec<(Change, Vec<(bool, &str)>)> = vec![
            (
                change(
                    GROUP,
                    Action::Update,
                    Some(group_file(
                        &["a@example.com", "bad.actor@hacking.com"],
                        OWNER_ROLE,
                    )),
                    vec![(
                        "members",
                        Some(json!(["a@example.com"])),
                        Some(json!(["a@example.com", "bad.actor@hacking.com"])),
                    )],
                ),
                vec![(
                    true,
                    "adds bad.actor@hacking.com to group Workspace Owners (role Workspace Owner on workspace mbj3HAIe6A)",
                )],
            ),
            (
                change(
                    GROUP,
                    Action::Update,
                    Some(group_file(&["a@example.com"], "other")),
                    vec![(
                        "permissions",
                        Some(permissions(OWNER_ROLE)),
                        Some(permissions("other")),
                    )],
                ),
                vec![
                    (
                        true,
                        "group Workspace Owners (a@example.com) gains role other on workspace mbj3HAIe6A",
                    ),
                    (
                        false,
                        "group Workspace Owners (a@example.com) loses role Workspace Owner on workspace mbj3HAIe6A",
                    ),
                ],
            ),
            (
                change(
                    GROUP,
                    Action::Update,
                    Some(group_file(&[], OWNER_ROLE)),
                    vec![(
                        "members",
                        Some(json!(["gone@example.com"])),
                        Some(json!([])),
                    )],
                ),
                vec![(
                    false,
                    "removes gone@example.com from group Workspace Owners (role Workspace Owner on workspace mbj3HAIe6A)",
                )],
            ),
            (
                change(
                    USER,
                    Action::Create,
                    Some(user_file(OWNER_ROLE)),
                    vec![("permissions", None, Some(permissions(OWNER_ROLE)))],
                ),
                vec![(
                    true,
                    "invites new@example.com (role Workspace Owner on workspace mbj3HAIe6A)",
                )],
            ),
            (
                change(
                    USER,
                    Action::Update,
                    Some(user_file("r2")),
                    vec![(
                        "permissions",
                        Some(permissions("r1")),
                        Some(permissions("r2")),
                    )],
                ),
                vec![
                    (
                        true,
                        "new@example.com gains role r2 on workspace mbj3HAIe6A",
                    ),
                    (
                        false,
                        "new@example.com loses role r1 on workspace mbj3HAIe6A",
                    ),
                ],
            ),
            (
                change(
                    USER,
                    Action::Replace,
                    Some(user_file(OWNER_ROLE)),
                    vec![(
                        "email",
                        Some(json!("old@example.com")),
                        Some(json!("new@example.com")),
                    )],
                ),
                vec![
                    (
                        true,
                        "invites new@example.com (role Workspace Owner on workspace mbj3HAIe6A)",
                    ),
                    (
                        false,
                        "removes old@example.com from the workspace (role Workspace Owner on workspace mbj3HAIe6A)",
                    ),
                ],
            ),
            (
                change(USER, Action::Delete, None, vec![]),
                vec![(
                    false,
                    "removes user segment_user.id-x from the workspace, with all its access",
                )],
            ),
            (
                change(
                    "segment_source",
                    Action::Update,
                    None,
                    vec![("name", Some(json!("a")), Some(json!("b")))],
                ),
                vec![],
            ),
        ];
        for (change, expected) in cases {
            let got: Vec<(bool, String)> = of(&change, &roles)
                .into_iter()
                .map(|a| (a.gains, a.text))
                .collect();
            let expected: Vec<(bool, String)> = expected
                .into_iter()
                .map(|(g, t)| (g, t.to_owned()))
                .collect();
            assert_eq!(
                got, expected,
                "{:?} {}",
                change.action, change.resource_type
            );
        }
    }
}
