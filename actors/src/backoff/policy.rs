//! [`BackoffPolicy`]: how and when to reconnect — the schedule, its jitter, the client ids, the
//! manual-request interval — as the `reconnect` settings describe it.

use std::time::Duration;

use crate::settings::ReconnectSettings;

/// The floor under every wait the reconnector schedules, including the pause between two
/// client ids of one round after IB error 326: never a tight loop, even with a zero step.
pub const MIN_WAIT: Duration = Duration::from_millis(50);

/// The step used when a policy's schedule is empty.
pub const EMPTY_SCHEDULE_STEP: Duration = Duration::from_secs(1);

/// A jitter sample drawn uniformly from `[-1.0, 1.0]`, for callers of
/// [`Reconnector::handle`](super::Reconnector::handle) and [`BackoffPolicy::delay`].
pub fn sample_jitter() -> f64 {
    rand::random_range(-1.0..=1.0)
}

/// How and when to reconnect.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// The waits before attempt 1, 2, …; the last one repeats forever. Should not be empty
    /// (an empty schedule behaves like `[EMPTY_SCHEDULE_STEP]`).
    pub schedule: Vec<Duration>,
    /// The relative jitter applied to each wait: `0.1` means ±10 %.
    pub jitter: f64,
    /// The minimum interval between two accepted manual requests.
    pub manual_min_interval: Duration,
    /// The client ids to connect with: the primary first, then the fallbacks tried when IB
    /// answers 326 (client id already in use). Should not be empty (an empty list behaves
    /// like `[0]`).
    pub client_ids: Vec<i32>,
    /// Whether attempts start automatically; when `false`, only manual requests start them.
    pub auto: bool,
}

impl BackoffPolicy {
    /// An automatic policy with the default schedule, jitter and manual interval of
    /// [`ReconnectSettings::default`].
    pub fn new(client_ids: Vec<i32>) -> Self {
        BackoffPolicy { client_ids, ..BackoffPolicy::from(&ReconnectSettings::default()) }
    }

    /// The un-jittered wait before attempt `attempt` (1-based; 0 is treated as 1):
    /// `schedule[min(attempt - 1, len - 1)]`.
    pub fn step(&self, attempt: u32) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        match self.schedule.last() {
            Some(last) => *self.schedule.get(index).unwrap_or(last),
            None => EMPTY_SCHEDULE_STEP,
        }
    }

    /// The wait before attempt `attempt` (1-based), jittered:
    /// `step * (1 + jitter * jitter_sample)`, never negative.
    ///
    /// `jitter_sample` is drawn by the caller (see [`sample_jitter`]) so this stays pure; it
    /// is clamped to `[-1.0, 1.0]`, and a NaN counts as `0.0`.
    pub fn delay(&self, attempt: u32, jitter_sample: f64) -> Duration {
        let step = self.step(attempt);
        let sample = if jitter_sample.is_nan() { 0.0 } else { jitter_sample.clamp(-1.0, 1.0) };
        let jitter = if self.jitter.is_finite() { self.jitter } else { 0.0 };
        let factor = (1.0 + jitter * sample).max(0.0);
        Duration::try_from_secs_f64(step.as_secs_f64() * factor).unwrap_or(Duration::MAX)
    }

    /// The client id at `index` in [`client_ids`](Self::client_ids), or the primary one when
    /// out of range.
    pub fn client_id_at(&self, index: usize) -> i32 {
        self.client_ids.get(index).or(self.client_ids.first()).copied().unwrap_or(0)
    }

    /// How many distinct client ids one round may try (at least 1).
    pub(super) fn client_id_count(&self) -> usize {
        self.client_ids.len().max(1)
    }
}

impl From<&ReconnectSettings> for BackoffPolicy {
    /// The policy the `reconnect` settings describe, with no client ids yet (set them from the
    /// account: `BackoffPolicy { client_ids, ..BackoffPolicy::from(&settings.reconnect) }`).
    fn from(reconnect: &ReconnectSettings) -> Self {
        BackoffPolicy {
            schedule: reconnect.schedule.clone(),
            jitter: reconnect.jitter,
            manual_min_interval: reconnect.manual_min_interval,
            client_ids: Vec::new(),
            auto: reconnect.auto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::fixtures::{policy, secs, SEC};

    #[test]
    fn schedule_steps_then_last_step_forever() {
        let p = policy();
        let expected = [(1, 1), (2, 2), (3, 5), (4, 15), (5, 15), (50, 15), (u32::MAX, 15)];
        for (attempt, secs_expected) in expected {
            assert_eq!(p.delay(attempt, 0.0), secs(secs_expected), "attempt {attempt}");
        }
        assert_eq!(p.delay(0, 0.0), SEC, "attempt 0 counts as the first");
        let empty = BackoffPolicy { schedule: vec![], ..policy() };
        assert_eq!(empty.delay(3, 0.0), EMPTY_SCHEDULE_STEP);
    }

    #[test]
    fn jitter_bounds() {
        let p = policy();
        assert_eq!(p.delay(1, -1.0), Duration::from_millis(900));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(1100));
        assert_eq!(p.delay(4, -1.0), Duration::from_millis(13_500));
        assert_eq!(p.delay(4, 1.0), Duration::from_millis(16_500));
        // Out-of-range samples are clamped; NaN means no jitter.
        assert_eq!(p.delay(1, -7.0), Duration::from_millis(900));
        assert_eq!(p.delay(1, 7.0), Duration::from_millis(1100));
        assert_eq!(p.delay(1, f64::NAN), SEC);
        // Random samples stay within bounds.
        for _ in 0..1000 {
            let d = p.delay(2, sample_jitter());
            assert!((Duration::from_millis(1800)..=Duration::from_millis(2200)).contains(&d), "{d:?}");
        }
        // Never negative, even with an absurd jitter.
        let wild = BackoffPolicy { jitter: 3.0, ..policy() };
        assert_eq!(wild.delay(1, -1.0), Duration::ZERO);
    }

    #[test]
    fn the_settings_decide_the_policy() {
        let reconnect =
            ReconnectSettings { auto: false, schedule: vec![secs(3)], jitter: 0.0, manual_min_interval: secs(4) };
        let p = BackoffPolicy { client_ids: vec![1, 11], ..BackoffPolicy::from(&reconnect) };
        assert_eq!(
            (p.step(1), p.step(9), p.jitter, p.manual_min_interval, p.auto),
            (secs(3), secs(3), 0.0, secs(4), false)
        );
        assert_eq!((p.client_id_at(0), p.client_id_at(1), p.client_id_at(2)), (1, 11, 1));
        assert_eq!(BackoffPolicy::new(vec![7]).schedule, ReconnectSettings::default().schedule);
    }
}
