//! Status conditions, the kstatus way: `Ready`, plus the abnormal-true `Reconciling` (work in
//! progress) and `Stalled` (cannot progress without a change from a person).
//!
//! A condition keeps its `lastTransitionTime` while its status stays the same, so that `kubectl
//! describe` shows since when something has been wrong, not the time of the last poll. Pure
//! functions (the caller passes the time); writing the status is the controllers' job.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
/// A GitSync's `spec.bidirectional`: `True` (PlanningPullRequests) while pull requests are
/// planned, `False` with why they cannot be (NoGitConnection, UnsupportedProvider,
/// NoForgeCredentials, NotRunning, ...). Positive polarity, present only when
/// `spec.bidirectional.enabled` is true.
pub const BIDIRECTIONAL: &str = "Bidirectional";

/// Segment's own words for a connection failure; the concrete cause follows them.
pub const CONNECTION_ISSUES: &str = "Unable to create Git Sync due to Git connection issues. Please check your configuration and try again";

/// What the object's state is, in kstatus terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Up to date; `message` says what the last run did.
    Ready { reason: String, message: String },
    /// Working on it (a full sync is running, or a failure that may go away is being retried).
    Progressing { reason: String, message: String },
    /// Cannot progress until someone changes something.
    Stalled { reason: String, message: String },
    /// Deliberately not running (`spec.suspend`).
    Suspended,
}

/// The full set of conditions for `state`, carrying over transition times from `previous`;
/// a condition that changes status transitions at `now`.
pub fn conditions(
    state: &State,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> Vec<Condition> {
    let make = |type_: &str, status: bool, reason: &str, message: &str| {
        condition(type_, status, reason, message, generation, previous, now)
    };
    match state {
        State::Ready { reason, message } => vec![make(READY, true, reason, message)],
        State::Progressing { reason, message } => vec![
            make(READY, false, reason, message),
            make(RECONCILING, true, reason, message),
        ],
        State::Stalled { reason, message } => vec![
            make(READY, false, reason, message),
            make(STALLED, true, reason, message),
        ],
        State::Suspended => vec![make(
            READY,
            false,
            "Suspended",
            "Syncing is suspended (spec.suspend is true)",
        )],
    }
}

/// One condition, keeping its `lastTransitionTime` from `previous` while its status holds, else
/// transitioning at `now`.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_owned();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.to_owned(),
        status,
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_is_kept_while_the_status_holds() {
        let stalled = State::Stalled {
            reason: "SecretNotFound".into(),
            message: "x".into(),
        };
        let first = conditions(&stalled, Some(1), &[], Timestamp::now());
        assert_eq!(first.len(), 2);
        let mut aged = first.clone();
        aged[0].last_transition_time = Time(Timestamp::UNIX_EPOCH);
        let again = conditions(&stalled, Some(2), &aged, Timestamp::now());
        assert_eq!(again[0].last_transition_time, aged[0].last_transition_time);
        assert_eq!(again[0].observed_generation, Some(2));
        let ready = conditions(
            &State::Ready {
                reason: "Synced".into(),
                message: "ok".into(),
            },
            Some(2),
            &aged,
            Timestamp::now(),
        );
        assert_eq!(ready.len(), 1, "Stalled goes once the problem is gone");
        assert_ne!(ready[0].last_transition_time, aged[0].last_transition_time);
    }
}
