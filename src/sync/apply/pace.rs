//! Pacing writes to Segment's published per-operation limits, so that an apply waits its turn
//! instead of running into 429s (which the client would also survive, but only by retrying
//! blindly): five subscription writes a minute, sixty label or IAM writes a minute.
//!
//! The limits themselves are the workspace API's facts and live there
//! ([`crate::workspace::api::WRITE_LIMITS`], the table the embedded workspace enforces too);
//! this module only keeps the clock, one window per (type, operation). It counts steps, and a
//! step is one request for every limited type but user groups (up to three: name, members,
//! permissions), whose rare 429 the client still waits out.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::model::ResourceType;
use crate::workspace::api::{WriteOp, write_limit};

/// The window Segment's limits are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Remembers when each (type, operation) of writes was last sent.
#[derive(Debug, Default)]
pub struct Pacer {
    sent: BTreeMap<(ResourceType, WriteOp), VecDeque<Instant>>,
    /// The window the limits count over; `None`: never wait.
    window: Option<Duration>,
}

impl Pacer {
    /// A pacer counting over `window` ([`WINDOW`] for Segment); without one it never waits
    /// (for a workspace without Segment's limits).
    pub fn new(window: Option<Duration>) -> Pacer {
        Pacer {
            sent: BTreeMap::new(),
            window,
        }
    }

    /// How long to wait before the next `op` of `ty` may go (zero if now).
    pub fn wait_for(&mut self, ty: ResourceType, op: WriteOp, now: Instant) -> Duration {
        let (Some(per_window), Some(window)) = (self.limit(ty, op), self.window) else {
            return Duration::ZERO;
        };
        let sent = self.sent.entry((ty, op)).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            sent.pop_front();
        }
        if sent.len() < per_window as usize {
            return Duration::ZERO;
        }
        sent.front()
            .map(|oldest| window.saturating_sub(now.duration_since(*oldest)))
            .unwrap_or_default()
    }

    /// Notes that an `op` of `ty` was sent at `at`.
    pub fn sent(&mut self, ty: ResourceType, op: WriteOp, at: Instant) {
        if self.limit(ty, op).is_some() {
            self.sent.entry((ty, op)).or_default().push_back(at);
        }
    }

    fn limit(&self, ty: ResourceType, op: WriteOp) -> Option<u32> {
        self.window?;
        write_limit(ty, op)
    }
}

/// The least time `writes` take under the limits: for each (type, operation), one window for
/// every full limit's worth beyond the first.
pub fn expected_duration(writes: impl Iterator<Item = (ResourceType, WriteOp)>) -> Duration {
    let mut per_class: BTreeMap<(ResourceType, WriteOp), (u32, u32)> = BTreeMap::new();
    for (ty, op) in writes {
        if let Some(per_minute) = write_limit(ty, op) {
            per_class.entry((ty, op)).or_insert((0, per_minute)).0 += 1;
        }
    }
    per_class
        .values()
        .map(|(count, per_minute)| {
            let windows = count.saturating_sub(1) / (*per_minute).max(1);
            WINDOW * windows
        })
        .max()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: ResourceType = ResourceType::DestinationSubscription;

    #[test]
    fn the_sixth_subscription_write_in_a_minute_waits_for_the_first_to_age_out() {
        let mut pacer = Pacer::new(Some(WINDOW));
        let t0 = Instant::now();
        for i in 0..5 {
            let at = t0 + Duration::from_secs(i);
            assert_eq!(pacer.wait_for(SUB, WriteOp::Create, at), Duration::ZERO);
            pacer.sent(SUB, WriteOp::Create, at);
        }
        let at = t0 + Duration::from_secs(10);
        assert_eq!(
            pacer.wait_for(SUB, WriteOp::Create, at),
            Duration::from_secs(50)
        );
        // Other types and operations are not held up, and an unpaced workspace never waits.
        assert_eq!(pacer.wait_for(SUB, WriteOp::Update, at), Duration::ZERO);
        assert_eq!(
            pacer.wait_for(ResourceType::Source, WriteOp::Create, at),
            Duration::ZERO
        );
        let mut off = Pacer::new(None);
        for _ in 0..10 {
            off.sent(SUB, WriteOp::Create, at);
        }
        assert_eq!(off.wait_for(SUB, WriteOp::Create, at), Duration::ZERO);
    }

    #[test]
    fn the_expected_duration_counts_windows_per_class() {
        let subs = std::iter::repeat_n((SUB, WriteOp::Update), 11);
        assert_eq!(expected_duration(subs), WINDOW * 2);
        assert_eq!(
            expected_duration(std::iter::repeat_n(
                (ResourceType::Source, WriteOp::Update),
                500
            )),
            Duration::ZERO
        );
    }
}
