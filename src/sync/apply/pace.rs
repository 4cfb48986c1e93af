//! Pacing writes to Segment's published per-operation limits, so that an apply waits its turn
//! instead of running into 429s (which the client would also survive, but only by retrying
//! blindly): five subscription writes a minute, sixty label or IAM writes a minute.
//!
//! The limits themselves are the workspace API's facts and live there
//! ([`crate::workspace::api::write_limit`]); this module only keeps the clock.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::model::ResourceType;
use crate::workspace::api::{WriteLimit, write_limit};

/// The window Segment's limits are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Remembers when each class of writes was last sent.
#[derive(Debug, Default)]
pub struct Pacer {
    sent: BTreeMap<&'static str, VecDeque<Instant>>,
    enabled: bool,
}

impl Pacer {
    /// A pacer; a disabled one never waits (for a workspace without Segment's limits).
    pub fn new(enabled: bool) -> Pacer {
        Pacer {
            sent: BTreeMap::new(),
            enabled,
        }
    }

    /// How long to wait before the next write to `ty` may go (zero if now).
    pub fn wait_for(&mut self, ty: ResourceType, now: Instant) -> Duration {
        let Some(limit) = self.limit(ty) else {
            return Duration::ZERO;
        };
        let sent = self.sent.entry(limit.class).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            sent.pop_front();
        }
        if sent.len() < limit.per_minute as usize {
            return Duration::ZERO;
        }
        sent.front()
            .map(|oldest| WINDOW.saturating_sub(now.duration_since(*oldest)))
            .unwrap_or_default()
    }

    /// Notes that a write to `ty` was sent at `at`.
    pub fn sent(&mut self, ty: ResourceType, at: Instant) {
        if let Some(limit) = self.limit(ty) {
            self.sent.entry(limit.class).or_default().push_back(at);
        }
    }

    fn limit(&self, ty: ResourceType) -> Option<WriteLimit> {
        if !self.enabled {
            return None;
        }
        write_limit(ty)
    }
}

/// The least time `writes` (one type per write) take under the limits: for each class, one
/// window for every full limit's worth beyond the first.
pub fn expected_duration(writes: impl Iterator<Item = ResourceType>) -> Duration {
    let mut per_class: BTreeMap<&'static str, (u32, u32)> = BTreeMap::new();
    for ty in writes {
        if let Some(limit) = write_limit(ty) {
            per_class
                .entry(limit.class)
                .or_insert((0, limit.per_minute))
                .0 += 1;
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

    #[test]
    fn the_sixth_subscription_write_in_a_minute_waits_for_the_first_to_age_out() {
        let mut pacer = Pacer::new(true);
        let t0 = Instant::now();
        for i in 0..5 {
            let at = t0 + Duration::from_secs(i);
            assert_eq!(
                pacer.wait_for(ResourceType::DestinationSubscription, at),
                Duration::ZERO
            );
            pacer.sent(ResourceType::DestinationSubscription, at);
        }
        let at = t0 + Duration::from_secs(10);
        assert_eq!(
            pacer.wait_for(ResourceType::DestinationSubscription, at),
            Duration::from_secs(50)
        );
        // Other types are not held up, and an unpaced workspace never waits.
        assert_eq!(pacer.wait_for(ResourceType::Source, at), Duration::ZERO);
        let mut off = Pacer::new(false);
        for _ in 0..10 {
            off.sent(ResourceType::DestinationSubscription, at);
        }
        assert_eq!(
            off.wait_for(ResourceType::DestinationSubscription, at),
            Duration::ZERO
        );
    }

    #[test]
    fn the_expected_duration_counts_windows_per_class() {
        let subs = std::iter::repeat_n(ResourceType::DestinationSubscription, 11);
        assert_eq!(expected_duration(subs), WINDOW * 2);
        assert_eq!(
            expected_duration(std::iter::repeat_n(ResourceType::Source, 500)),
            Duration::ZERO
        );
    }
}
