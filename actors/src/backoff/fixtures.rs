//! What the backoff unit tests share.

use std::time::Duration;

use super::BackoffPolicy;

pub(super) const SEC: Duration = Duration::from_secs(1);

/// The manual-request interval of [`policy`].
pub(super) const MANUAL_MIN_INTERVAL: Duration = Duration::from_secs(10);

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The default schedule (1 s, 2 s, 5 s, then 15 s), ±10 % jitter, at most one manual request
/// per 10 s, client id 7 with fallbacks 8 and 9.
pub(super) fn policy() -> BackoffPolicy {
    BackoffPolicy { manual_min_interval: MANUAL_MIN_INTERVAL, ..BackoffPolicy::new(vec![7, 8, 9]) }
}
