//! The alert rules (*pure*): which published [`StatusEvent`] tells a human something, once
//! per episode.
//!
//! - **Once per episode**, not once per failed attempt: an episode opens when an account becomes
//!   unusable ([`AlertKind::Down`], or [`AlertKind::Degraded`] when IB's upstream is lost) and
//!   closes with one [`AlertKind::Recovered`] when it is connected again.
//! - **Never inside a reset window**: IB's scheduled resets open no episode; an outage that
//!   started before a window is still reported recovered after it.
//! - A meltdown and an order seen nowhere after a reconnect are alerted every time.
//! - A competing live session (10197) is alerted once per episode ([`AlertKind::CompetingSession`]),
//!   never again while it lasts, and never inside a reset window; it opens no connection
//!   episode (the link is fine) and has no recovery.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use serde::Serialize;

use crate::status::{ConnectionState, EventKind, StatusEvent};

/// What an alert says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The account it is about (`*` for the supervisor itself).
    pub account: String,
    /// What happened.
    pub kind: AlertKind,
    /// The message a human reads.
    pub text: String,
}

/// What an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The account became unusable: disconnected, or every attempt failing.
    Down,
    /// Connected, but IB's upstream is lost (1100, 2110).
    Degraded,
    /// Usable again after an alerted episode.
    Recovered,
    /// The supervisor passed its restart limit and exits.
    Meltdown,
    /// An order written to the gateway is seen nowhere after a reconnect.
    OrderUnknown,
    /// Another live session of the same user takes the account's market data (10197).
    CompetingSession,
}

impl AlertKind {
    /// Whether this alert opens an episode, which one [`AlertKind::Recovered`] closes.
    pub fn opens_episode(self) -> bool {
        matches!(self, AlertKind::Down | AlertKind::Degraded)
    }
}

/// The open episode of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Episode {
    /// Opened by a [`AlertKind::Down`] alert.
    Down,
    /// Opened by a [`AlertKind::Degraded`] alert.
    Degraded,
}

/// What the rules remember between events.
#[derive(Debug, Default)]
pub struct Memory {
    /// The open connection episodes, by account.
    pub episodes: HashMap<String, Episode>,
    /// The accounts inside a reset window now.
    in_window: HashSet<String>,
    /// The start of the competing-session episode last alerted, by account.
    competing: HashMap<String, DateTime<Utc>>,
}

/// The alert rules: the next alert for `event`, updating what they remember.
pub fn decide(memory: &mut Memory, event: &StatusEvent) -> Option<Alert> {
    let account = &event.account;
    let alert = |kind, text: String| Some(Alert { account: account.clone(), kind, text });
    if let EventKind::StateChanged { to, .. } = &event.kind {
        if matches!(to, ConnectionState::ResetWindow { .. }) {
            memory.in_window.insert(account.clone());
        } else {
            memory.in_window.remove(account);
        }
    }
    let episodes = &mut memory.episodes;
    match &event.kind {
        EventKind::CompetingSession { since } => {
            if memory.in_window.contains(account) || memory.competing.get(account) == Some(since) {
                return None;
            }
            memory.competing.insert(account.clone(), *since);
            alert(
                AlertKind::CompetingSession,
                format!(
                    "📵 IBKR {account}: no market data during a competing live session (10197): the same user is \
                     logged in elsewhere with live data; orders still work"
                ),
            )
        }
        EventKind::Meltdown { actor, reason } => alert(
            AlertKind::Meltdown,
            format!("🔥 ibkr-supervisor meltdown ({actor}): {reason}; every order is refused and the process restarts"),
        ),
        EventKind::OrderUnknown { order_id, client_id, order_ref, last_status } => alert(
            AlertKind::OrderUnknown,
            format!(
                "❓ IBKR {account}: order {order_id} (client {client_id}, ref {order_ref}, last {last_status}) is seen \
                 nowhere at the gateway after the reconnect; check it in TWS before trading it again"
            ),
        ),
        // Leaving a reset window with the link down is not yet an outage: the attempt at the
        // window's end decides (its failure opens the episode).
        EventKind::StateChanged {
            from: ConnectionState::ResetWindow { .. },
            to: ConnectionState::Disconnected { .. },
        } => None,
        EventKind::StateChanged { to, .. } => match to {
            // Scheduled resets are not alarms; an open episode stays open through them.
            ConnectionState::ResetWindow { .. }
            | ConnectionState::Stopped { .. }
            | ConnectionState::Connecting { .. } => None,
            ConnectionState::Connected { .. } => match episodes.remove(account) {
                Some(_) => alert(AlertKind::Recovered, format!("✅ IBKR {account} connected again")),
                None => None,
            },
            ConnectionState::Disconnected { last_error, .. } => {
                if episodes.contains_key(account) {
                    return None;
                }
                episodes.insert(account.clone(), Episode::Down);
                let why = last_error.as_deref().unwrap_or("connection lost");
                alert(AlertKind::Down, format!("❌ IBKR {account} disconnected: {why}"))
            }
            ConnectionState::Degraded { code, reason, .. } => {
                if episodes.contains_key(account) {
                    return None;
                }
                episodes.insert(account.clone(), Episode::Degraded);
                alert(AlertKind::Degraded, format!("⚠️ IBKR {account} degraded: IB upstream lost ({code}): {reason}"))
            }
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn changed(to: ConnectionState) -> StatusEvent {
        let from = ConnectionState::Disconnected { since: t(0), last_error: None };
        StatusEvent::new("Paper", t(1), EventKind::StateChanged { from, to })
    }

    #[test]
    fn one_alert_per_episode_then_one_recovery() {
        let mut episodes = Memory::default();
        let down = || changed(ConnectionState::Disconnected { since: t(1), last_error: Some("refused".into()) });
        let connecting = changed(ConnectionState::Connecting { since: t(1), attempt: 1, client_id: 1 });
        let first = decide(&mut episodes, &down()).unwrap();
        assert_eq!(first.kind, AlertKind::Down);
        assert!(first.text.contains("refused"));
        for _ in 0..5 {
            assert_eq!(decide(&mut episodes, &connecting), None);
            assert_eq!(decide(&mut episodes, &down()), None, "no alert per failed attempt");
        }
        let up = decide(&mut episodes, &changed(ConnectionState::Connected { since: t(2), client_id: 1 })).unwrap();
        assert_eq!(up.kind, AlertKind::Recovered);
        assert_eq!(decide(&mut episodes, &changed(ConnectionState::Connected { since: t(3), client_id: 1 })), None);
    }

    #[test]
    fn reset_windows_raise_nothing() {
        let mut episodes = Memory::default();
        let window = changed(ConnectionState::ResetWindow { since: t(1), until: t(100), link: None });
        assert_eq!(decide(&mut episodes, &window), None);
        let after = changed(ConnectionState::Connected { since: t(100), client_id: 1 });
        assert_eq!(decide(&mut episodes, &after), None, "no episode was open: no recovery to report");
    }

    #[test]
    fn leaving_a_window_with_the_link_down_waits_for_the_attempt() {
        let mut episodes = Memory::default();
        let from = ConnectionState::ResetWindow { since: t(0), until: t(1), link: None };
        let to = ConnectionState::Disconnected { since: t(1), last_error: None };
        let ended = StatusEvent::new("Paper", t(1), EventKind::StateChanged { from, to });
        assert_eq!(decide(&mut episodes, &ended), None);
        let failed = changed(ConnectionState::Disconnected { since: t(2), last_error: Some("refused".into()) });
        assert_eq!(
            decide(&mut episodes, &failed).unwrap().kind,
            AlertKind::Down,
            "the failed attempt after it is an outage"
        );
    }

    #[test]
    fn a_competing_session_is_alerted_once_per_episode_and_never_inside_a_window() {
        let mut memory = Memory::default();
        let competing =
            |since: i64| StatusEvent::new("Live", t(since), EventKind::CompetingSession { since: t(since) });
        let first = decide(&mut memory, &competing(10)).unwrap();
        assert_eq!((first.account.as_str(), first.kind), ("Live", AlertKind::CompetingSession));
        assert!(first.text.contains("10197"), "{}", first.text);
        assert_eq!(decide(&mut memory, &competing(10)), None, "the same episode is not alerted again");
        assert!(memory.episodes.is_empty(), "no connection episode: nothing to recover from");
        // A later episode is alerted again.
        assert_eq!(decide(&mut memory, &competing(2000)).unwrap().kind, AlertKind::CompetingSession);

        // Inside a reset window: nothing; after it, a new episode is alerted.
        let window = ConnectionState::ResetWindow { since: t(3000), until: t(6600), link: None };
        let entered = StatusEvent::new("Live", t(3000), EventKind::StateChanged { from: window.clone(), to: window });
        assert_eq!(decide(&mut memory, &entered), None);
        assert_eq!(decide(&mut memory, &competing(3100)), None);
        let up = ConnectionState::Connected { since: t(6600), client_id: 2 };
        let left = StatusEvent::new("Live", t(6600), EventKind::StateChanged { from: up.clone(), to: up });
        assert_eq!(decide(&mut memory, &left), None);
        assert_eq!(decide(&mut memory, &competing(6700)).unwrap().kind, AlertKind::CompetingSession);
        // Another account's window does not silence this one.
        let other = ConnectionState::ResetWindow { since: t(7000), until: t(9000), link: None };
        let paper = StatusEvent::new("Paper", t(7000), EventKind::StateChanged { from: other.clone(), to: other });
        decide(&mut memory, &paper);
        assert_eq!(decide(&mut memory, &competing(7100)).unwrap().kind, AlertKind::CompetingSession);
    }
}
