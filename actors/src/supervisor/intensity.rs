//! [`RestartIntensity`]: how many restarts of one child the supervisor allows in a sliding
//! window before it melts down. Pure: the caller passes the instant.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Per-child restart limit: at most `max` restarts within any `window`.
#[derive(Debug, Clone)]
pub struct RestartIntensity {
    max: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartIntensity {
    /// At most `max` restarts within any `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max, window, recent: VecDeque::new() }
    }

    /// Record a restart at `now`: `Ok(n)` with the restarts in the window, or `Err(n)` when
    /// this one is past the limit.
    pub fn record(&mut self, now: Instant) -> Result<u32, u32> {
        while self.recent.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.window) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        let count = self.recent.len() as u32;
        if count > self.max {
            Err(count)
        } else {
            Ok(count)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_allows_max_restarts_per_window_then_refuses() {
        let base = Instant::now();
        let mut intensity = RestartIntensity::new(5, Duration::from_secs(60));
        for i in 0..5 {
            assert_eq!(intensity.record(base + Duration::from_secs(i)), Ok(i as u32 + 1));
        }
        assert_eq!(intensity.record(base + Duration::from_secs(10)), Err(6), "the sixth in 60 s melts down");
    }

    #[test]
    fn intensity_forgets_restarts_older_than_the_window() {
        let base = Instant::now();
        let mut intensity = RestartIntensity::new(2, Duration::from_secs(60));
        assert!(intensity.record(base).is_ok());
        assert!(intensity.record(base + Duration::from_secs(30)).is_ok());
        assert_eq!(intensity.record(base + Duration::from_secs(61)), Ok(2), "the first one aged out");
        assert_eq!(intensity.record(base + Duration::from_secs(89)), Err(3));
    }
}
