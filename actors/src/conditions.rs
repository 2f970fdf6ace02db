//! The IB notices that are neither the link nor a farm state, each its own condition.
//!
//! [`Condition::classify`] tells, for a notice code and text, which of the conditions this
//! crate tracks beyond the connection state it is: a farm notice ([`crate::farms`]), a
//! competing live session (10197) or the message rate (100, and the code-less warning before
//! it). None of them is a lost link: the gateway keeps the connection state as it is.
//!
//! # Facts (IB's TWS API message codes, IBKR Campus *TWS API → Error Handling → Message
//! Codes*, formerly <https://interactivebrokers.github.io/tws-api/message_codes.html>)
//!
//! - **10197** "No market data during competing session": the user is logged in to the paper
//!   and the live account at once and requests live market data on both; IB gives the live
//!   session preference (ibkr.info/node/1719). It comes per market-data request and has no
//!   "over" notice, so an episode ends after [`CompetingSessionConfig::quiet`] without one
//!   (default 15 min, the interval Lean throttles this warning to) or when the caller sees
//!   market data flow again ([`CompetingSession::clear`]). One alert per episode.
//! - **100** "Max rate of messages per second has been exceeded": "the client application has
//!   exceeded the rate of 50 messages/second. The TWS will likely disconnect the client
//!   application after this message." Counted, never a lost link; the pacer
//!   ([`crate::pacing::Pacer::violation`]) backs off when it arrives.
//! - IB Gateway also sends a code-less notice (code 0 once decoded) "Warning: Approaching max
//!   rate of 50 messages per second" before that (ibapi 5.5 `messages/notice.rs`,
//!   `is_warning_message`); it is counted as a pacing warning.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::farms::FarmNotice;

/// IB's code for "no market data during competing session".
pub const COMPETING_SESSION_CODE: i32 = 10197;

/// IB's code for "max rate of messages per second has been exceeded".
pub const PACING_VIOLATION_CODE: i32 = 100;

/// A condition a notice reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A farm changed state (2103–2108, 2119, 2157, 2158).
    Farm(FarmNotice),
    /// Another live session takes the market data (10197).
    CompetingSession,
    /// Too many messages per second (100).
    PacingViolation,
    /// Approaching the message rate limit (code-less warning).
    PacingWarning,
}

impl Condition {
    /// The condition `(code, message)` reports, or `None` for every other notice (the
    /// connection codes 1100/1101/1102/2110 included: those are the link's, not these).
    pub fn classify(code: i32, message: &str) -> Option<Condition> {
        if let Some(farm) = FarmNotice::parse(code, message) {
            return Some(Condition::Farm(farm));
        }
        match code {
            COMPETING_SESSION_CODE => Some(Condition::CompetingSession),
            PACING_VIOLATION_CODE => Some(Condition::PacingViolation),
            0 if message.to_ascii_lowercase().contains("approaching max rate") => Some(Condition::PacingWarning),
            _ => None,
        }
    }
}

/// The default quiet period that ends a competing-session episode.
pub const DEFAULT_COMPETING_QUIET: Duration = Duration::from_secs(15 * 60);

/// How a competing-session episode ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompetingSessionConfig {
    /// An episode is over after this long without a 10197.
    pub quiet: Duration,
}

impl Default for CompetingSessionConfig {
    fn default() -> Self {
        Self { quiet: DEFAULT_COMPETING_QUIET }
    }
}

/// One competing-session episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompetingEpisode {
    /// The first 10197 of the episode.
    pub since: DateTime<Utc>,
    /// The latest 10197.
    pub last_seen: DateTime<Utc>,
    /// How many 10197 notices the episode had.
    pub notices: u64,
}

/// What a 10197 meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// A new episode: alert once.
    Raised,
    /// The episode goes on: no new alert.
    Repeated,
}

/// The competing-session condition of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompetingSession {
    episode: Option<CompetingEpisode>,
}

impl CompetingSession {
    /// Records a 10197 received at `now`.
    pub fn observe(&mut self, now: DateTime<Utc>, config: CompetingSessionConfig) -> Sighting {
        match &mut self.episode {
            Some(episode) if !expired(episode, now, config) => {
                episode.last_seen = episode.last_seen.max(now);
                episode.notices += 1;
                Sighting::Repeated
            }
            _ => {
                self.episode = Some(CompetingEpisode { since: now, last_seen: now, notices: 1 });
                Sighting::Raised
            }
        }
    }

    /// The episode in progress at `now`, if any.
    pub fn active(&self, now: DateTime<Utc>, config: CompetingSessionConfig) -> Option<CompetingEpisode> {
        self.episode.filter(|episode| !expired(episode, now, config))
    }

    /// Whether an episode was raised and not cleared (it may have gone quiet since).
    pub fn raised(&self) -> bool {
        self.episode.is_some()
    }

    /// Ends the episode: market data flows again, or the session ended.
    pub fn clear(&mut self) {
        self.episode = None;
    }
}

fn expired(episode: &CompetingEpisode, now: DateTime<Utc>, config: CompetingSessionConfig) -> bool {
    (now - episode.last_seen).to_std().is_ok_and(|quiet| quiet >= config.quiet)
}

/// How often the account hit IB's message rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacingCounters {
    /// 100s received.
    pub violations: u64,
    /// "Approaching max rate" warnings received.
    pub warnings: u64,
    /// The latest 100.
    pub last_violation: Option<DateTime<Utc>>,
}

impl PacingCounters {
    /// Counts a pacing condition received at `now`; other conditions are ignored.
    pub fn record(&mut self, condition: &Condition, now: DateTime<Utc>) {
        match condition {
            Condition::PacingViolation => {
                self.violations += 1;
                self.last_violation = Some(self.last_violation.map_or(now, |last| last.max(now)));
            }
            Condition::PacingWarning => self.warnings += 1,
            Condition::Farm(_) | Condition::CompetingSession => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::farms::{FarmKind, FarmState};
    use chrono::{TimeDelta, TimeZone};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 17, 14, 0, 0).unwrap() + TimeDelta::seconds(s)
    }

    #[test]
    fn classifies_each_condition_and_leaves_the_link_codes_alone() {
        assert_eq!(
            Condition::classify(10197, "No market data during competing live session"),
            Some(Condition::CompetingSession)
        );
        assert_eq!(
            Condition::classify(100, "Max rate of messages per second has been exceeded:max=50 rec=73 (1)"),
            Some(Condition::PacingViolation)
        );
        assert_eq!(
            Condition::classify(0, "Warning: Approaching max rate of 50 messages per second (46)"),
            Some(Condition::PacingWarning)
        );
        let Some(Condition::Farm(farm)) = Condition::classify(2103, "Market data farm connection is broken:usfarm")
        else {
            panic!("farm notice expected")
        };
        assert_eq!((farm.kind, farm.state, farm.farm.as_str()), (FarmKind::MarketData, FarmState::Broken, "usfarm"));
        // The link's codes and ordinary errors are none of these conditions.
        for (code, text) in [
            (1100, "Connectivity between IB and Trader Workstation has been lost."),
            (1101, "Connectivity between IB and TWS has been restored- data lost."),
            (1102, "Connectivity between IB and TWS has been restored- data maintained."),
            (2110, "Connectivity between TWS and server is broken. It will be restored automatically."),
            (0, "some code-less notice"),
            (200, "No security definition has been found for the request"),
        ] {
            assert_eq!(Condition::classify(code, text), None, "{code}");
        }
    }

    #[test]
    fn competing_session_alerts_once_per_episode() {
        let config = CompetingSessionConfig::default();
        let mut session = CompetingSession::default();
        assert_eq!(session.active(t(0), config), None);
        assert_eq!(session.observe(t(0), config), Sighting::Raised);
        // Every market-data request repeats it; no new alert for 15 minutes of repeats.
        for s in (30..3600).step_by(30) {
            assert_eq!(session.observe(t(s), config), Sighting::Repeated, "{s}");
        }
        let episode = session.active(t(3600), config).unwrap();
        assert_eq!((episode.since, episode.last_seen, episode.notices), (t(0), t(3570), 120));
        // Quiet for 15 minutes: the episode is over, and the next 10197 raises again.
        let quiet_end = t(3570 + 15 * 60);
        assert!(session.active(quiet_end - TimeDelta::seconds(1), config).is_some());
        assert_eq!(session.active(quiet_end, config), None);
        assert_eq!(session.observe(quiet_end, config), Sighting::Raised);
        // Cleared by data flowing again: the next one raises at once.
        session.clear();
        assert_eq!(session.active(quiet_end, config), None);
        assert_eq!(session.observe(quiet_end + TimeDelta::seconds(1), config), Sighting::Raised);
    }

    #[test]
    fn pacing_counts_violations_and_warnings() {
        let mut counters = PacingCounters::default();
        counters.record(&Condition::PacingWarning, t(0));
        counters.record(&Condition::PacingViolation, t(1));
        counters.record(&Condition::PacingViolation, t(2));
        counters.record(&Condition::CompetingSession, t(3));
        assert_eq!(counters, PacingCounters { violations: 2, warnings: 1, last_violation: Some(t(2)) });
        assert_eq!(
            serde_json::to_value(counters).unwrap(),
            serde_json::json!({ "violations": 2, "warnings": 1, "last_violation": "2026-06-17T14:00:02Z" })
        );
    }
}
