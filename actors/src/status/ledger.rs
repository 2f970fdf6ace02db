//! What each account's time and losses add up to: today's [`UptimeLedger`] and the
//! loss-detection [`Histogram`], kept together per account as [`AccountMetrics`] beside the
//! status record (in memory only: the database derives uptime from its event history).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ConnectionState;

/// Upper bounds (seconds) of the detection-latency histogram buckets.
pub const DETECTION_BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A cumulative histogram over [`DETECTION_BUCKETS`] (Prometheus semantics: `counts[i]` is the
/// number of observations ≤ bucket i).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    /// Observations at or below each bucket's bound.
    pub counts: [u64; DETECTION_BUCKETS.len()],
    /// All observations.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
}

impl Histogram {
    /// Count one observation of `seconds`.
    pub fn observe(&mut self, seconds: f64) {
        for (bound, count) in DETECTION_BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// How an account spent today (UTC): milliseconds usable, down, and inside reset windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UptimeLedger {
    /// The UTC day counted.
    pub day: chrono::NaiveDate,
    /// Milliseconds connected.
    pub up_ms: i64,
    /// Milliseconds disconnected, connecting or degraded.
    pub down_ms: i64,
    /// Milliseconds inside scheduled reset windows (neither up nor down).
    pub reset_ms: i64,
    /// Time already accounted for.
    pub until: DateTime<Utc>,
}

impl UptimeLedger {
    /// An empty ledger for the day of `now`, counting from `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { day: now.date_naive(), up_ms: 0, down_ms: 0, reset_ms: 0, until: now }
    }

    /// Account the time from the last record to `now` to `state`'s category, starting afresh
    /// at each UTC midnight.
    pub fn record(&mut self, state: &ConnectionState, now: DateTime<Utc>) {
        while self.until < now {
            let midnight = (self.day + chrono::Days::new(1)).and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
            let end = now.min(midnight);
            let ms = (end - self.until).num_milliseconds();
            match state {
                ConnectionState::Connected { .. } => self.up_ms += ms,
                ConnectionState::ResetWindow { .. } => self.reset_ms += ms,
                ConnectionState::Stopped { .. } => {}
                _ => self.down_ms += ms,
            }
            self.until = end;
            if end == midnight {
                *self = Self::new(midnight);
            }
        }
    }

    /// Up time over up + down time (reset windows excluded), in percent.
    pub fn up_pct(&self) -> Option<f64> {
        let counted = self.up_ms + self.down_ms;
        (counted > 0).then(|| self.up_ms as f64 * 100.0 / counted as f64)
    }
}

/// The running figures of one account, written by its GatewayActor: the uptime ledger (every
/// state change records the state left) and the detection histogram (every loss).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountMetrics {
    /// Time spent up, down and in reset windows today (UTC).
    pub uptime: UptimeLedger,
    /// How long losses took to be noticed: from the last sign of life to the loss.
    pub detection: Histogram,
}

impl AccountMetrics {
    /// Nothing counted yet, from `now` on.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { uptime: UptimeLedger::new(now), detection: Histogram::default() }
    }

    /// Percentage of today (UTC, since the process started if later) the account was usable,
    /// reset windows excluded, given that it is in `state` now; `None` before any time passed.
    pub fn uptime_today_pct(&self, state: &ConnectionState, now: DateTime<Utc>) -> Option<f64> {
        let mut ledger = self.uptime.clone();
        ledger.record(state, now);
        ledger.up_pct()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionState as S;

    #[test]
    fn the_uptime_ledger_excludes_reset_windows_and_starts_afresh_at_midnight() {
        let at = |h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap().and_hms_opt(h, m, 0).unwrap().and_utc()
        };
        let mut ledger = UptimeLedger::new(at(10, 0));
        ledger.record(&S::Connected { since: at(10, 0), client_id: 1 }, at(12, 0));
        ledger.record(&S::ResetWindow { since: at(12, 0), until: at(13, 0), link: None }, at(13, 0));
        ledger.record(&S::Disconnected { since: at(13, 0), last_error: None }, at(14, 0));
        assert_eq!((ledger.up_ms, ledger.down_ms, ledger.reset_ms), (7_200_000, 3_600_000, 3_600_000));
        assert!((ledger.up_pct().unwrap() - 66.666).abs() < 0.01);
        // Across midnight only today's part counts.
        ledger.record(&S::Connected { since: at(14, 0), client_id: 1 }, at(23, 0) + chrono::Duration::hours(2));
        assert_eq!(ledger.day, chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        assert_eq!((ledger.up_ms, ledger.down_ms), (3_600_000, 0));
        assert_eq!(ledger.up_pct(), Some(100.0));
    }

    #[test]
    fn the_histogram_is_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(2.0);
        assert_eq!((h.counts[0], h.counts[1], h.counts[8], h.counts[11]), (0, 1, 2, 2));
        assert_eq!((h.count, h.sum), (2, 2.003));
    }
}
