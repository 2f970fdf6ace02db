//! The rate limit (`alerts.max_per_minute`), decided once per alert when it is decided, over all
//! accounts and channels (every channel gets every alert) (*pure*: time is passed in).
//!
//! - A "down" or "degraded" beyond the limit is dropped, and its episode remembered as
//!   unreported.
//! - A "recovered" is never dropped for the rate: it goes out when its episode's alert went out
//!   (even past the limit), and is dropped when that alert was dropped — a human never reads
//!   "recovered" for something never reported.
//! - A competing live session (10197) counts like a "down" and has no "recovered".
//! - A meltdown (the process exits and every order is refused), an order seen nowhere (money
//!   at risk; one alert per order, never repeated) and a weekly login needed (once a week per
//!   account; nothing but a human ends it) and an escalation (a rung fired or failed: at most
//!   once per rung and `escalation.min_interval`; a restart of the gateway is never hidden) are
//!   never dropped.
//!
//! Every alert sent takes a place in the one-minute window, so a flood of exempt alerts still
//! holds back the next "down".

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::rules::{Alert, AlertKind};

/// The window the limit counts in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What the rate limit makes of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Queue it on every channel.
    Send,
    /// Dropped: `max_per_minute` alerts went out within the last minute.
    OverLimit,
    /// Dropped: the "recovered" of an episode whose alert was dropped.
    Unreported,
}

/// The alerts sent within the last minute, and the episodes whose alert was dropped.
#[derive(Debug, Default)]
pub struct RateLimit {
    sent: VecDeque<Instant>,
    unreported: HashSet<String>,
}

impl RateLimit {
    /// Admit or drop `alert` at `now`, at most `max_per_minute` a minute.
    pub fn admit(&mut self, alert: &Alert, max_per_minute: u32, now: Instant) -> Admission {
        while self.sent.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            self.sent.pop_front();
        }
        let admission = match alert.kind {
            // A login needed comes once a week per account, and only a human can end it.
            // An escalation fires at most once per rung and `escalation.min_interval`: a restart
            // of the gateway is never hidden.
            AlertKind::Meltdown | AlertKind::OrderUnknown | AlertKind::LoginNeeded | AlertKind::Escalation => {
                Admission::Send
            }
            AlertKind::Recovered if self.unreported.remove(&alert.account) => Admission::Unreported,
            AlertKind::Recovered => Admission::Send,
            AlertKind::Down | AlertKind::Degraded if self.sent.len() >= max_per_minute as usize => {
                self.unreported.insert(alert.account.clone());
                Admission::OverLimit
            }
            AlertKind::Down | AlertKind::Degraded => Admission::Send,
            // Limited like a "down", but it has no "recovered" to hold back.
            AlertKind::CompetingSession if self.sent.len() >= max_per_minute as usize => Admission::OverLimit,
            AlertKind::CompetingSession => Admission::Send,
        };
        if admission == Admission::Send {
            self.sent.push_back(now);
        }
        admission
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(account: &str, kind: AlertKind) -> Alert {
        Alert { account: account.into(), kind, text: format!("{account} {kind:?}") }
    }

    #[test]
    fn a_burst_drops_downs_past_the_limit_and_their_recoveries_only() {
        let (mut limit, now) = (RateLimit::default(), Instant::now());
        let accounts = ["A", "B", "C", "D", "E"];
        let downs: Vec<Admission> = accounts.iter().map(|a| limit.admit(&alert(a, AlertKind::Down), 2, now)).collect();
        assert_eq!(
            downs,
            [Admission::Send, Admission::Send, Admission::OverLimit, Admission::OverLimit, Admission::OverLimit]
        );
        // The window is full, yet the delivered episodes are closed; the dropped ones stay silent.
        let ups: Vec<Admission> =
            accounts.iter().map(|a| limit.admit(&alert(a, AlertKind::Recovered), 2, now)).collect();
        assert_eq!(
            ups,
            [Admission::Send, Admission::Send, Admission::Unreported, Admission::Unreported, Admission::Unreported]
        );
    }

    #[test]
    fn meltdowns_and_unknown_orders_are_never_dropped_but_take_their_place() {
        let (mut limit, now) = (RateLimit::default(), Instant::now());
        assert_eq!(limit.admit(&alert("Paper", AlertKind::Down), 1, now), Admission::Send);
        for _ in 0..3 {
            assert_eq!(limit.admit(&alert("Paper", AlertKind::OrderUnknown), 1, now), Admission::Send);
        }
        assert_eq!(limit.admit(&alert("*", AlertKind::Meltdown), 1, now), Admission::Send);
        // Nor a restart of the gateway by the escalation ladder.
        assert_eq!(limit.admit(&alert("Live", AlertKind::Escalation), 1, now), Admission::Send);
        assert_eq!(limit.admit(&alert("Live", AlertKind::Degraded), 1, now), Admission::OverLimit);
        assert_eq!(limit.admit(&alert("Live", AlertKind::Recovered), 1, now), Admission::Unreported);
    }

    #[test]
    fn the_window_slides_and_a_later_episode_is_reported_again() {
        let (mut limit, t0) = (RateLimit::default(), Instant::now());
        assert_eq!(limit.admit(&alert("A", AlertKind::Down), 1, t0), Admission::Send);
        assert_eq!(limit.admit(&alert("B", AlertKind::Down), 1, t0 + Duration::from_secs(59)), Admission::OverLimit);
        assert_eq!(
            limit.admit(&alert("B", AlertKind::Recovered), 1, t0 + Duration::from_secs(59)),
            Admission::Unreported
        );
        // A minute after an alert its place is free again: A's recovery takes it, then B's next
        // episode; B's recovery goes out past the limit (B's "down" holds the one place).
        assert_eq!(limit.admit(&alert("A", AlertKind::Recovered), 1, t0 + Duration::from_secs(60)), Admission::Send);
        assert_eq!(limit.admit(&alert("B", AlertKind::Down), 1, t0 + Duration::from_secs(120)), Admission::Send);
        assert_eq!(limit.admit(&alert("B", AlertKind::Recovered), 1, t0 + Duration::from_secs(121)), Admission::Send);
    }
}
