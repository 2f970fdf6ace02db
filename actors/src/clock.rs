//! The wall-clock seam. Timestamps, the reset-window calendar and uptime arithmetic read the
//! time through a [`Clock`], so tests can start "a minute before the nightly reset" or move
//! time with tokio's paused clock instead of sleeping.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall time that starts at a chosen moment and then moves with tokio's clock: real time in
/// a normal runtime, virtual time under `tokio::time::pause`.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    start_utc: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl OffsetClock {
    /// A clock that reads `start_utc` now.
    pub fn starting_at(start_utc: DateTime<Utc>) -> Self {
        Self { start_utc, start: tokio::time::Instant::now() }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        self.start_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}

/// The tokio instant at which `clock` will read `at` (now, if `at` is past).
pub fn instant_at(clock: &dyn Clock, at: DateTime<Utc>) -> tokio::time::Instant {
    let ahead = (at - clock.now()).to_std().unwrap_or_default();
    tokio::time::Instant::now() + ahead
}

/// The wall time `clock` will read at `instant`.
pub fn wall_time_at(clock: &dyn Clock, instant: tokio::time::Instant) -> DateTime<Utc> {
    let now = tokio::time::Instant::now();
    if instant >= now {
        clock.now() + chrono::Duration::from_std(instant - now).unwrap_or(chrono::Duration::MAX)
    } else {
        clock.now() - chrono::Duration::from_std(now - instant).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn offset_clock_moves_with_tokio_time() {
        let start = DateTime::parse_from_rfc3339("2026-03-08T06:59:00Z").unwrap().with_timezone(&Utc);
        let clock = OffsetClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        let at = instant_at(&clock, start + chrono::Duration::seconds(100));
        assert_eq!(at - tokio::time::Instant::now(), Duration::from_secs(10));
        assert_eq!(wall_time_at(&clock, at), start + chrono::Duration::seconds(100));
    }
}
