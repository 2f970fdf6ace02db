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
//! - **The weekly login** ([`crate::reauth`]): an outage the weekly token expiry explains is
//!   held ([`Memory::login_due`]) instead of alerted "down"; if the gateway comes back by
//!   itself within the grace nothing is sent, else one [`AlertKind::LoginNeeded`] opens the
//!   episode — decided by the next event or by [`due`], which the actor calls at the moment
//!   the grace ends, since a gateway that stays away publishes nothing — and the recovery
//!   closes it as any other.
//! - **Escalation** ([`crate::escalation`]): every rung fired is alerted ("IB Gateway for Live:
//!   sent RESTART through IBC after the API was dead 5m"), and so is a rung that failed
//!   (IBC refused, silent or unreachable; the command failed or was killed at its timeout);
//!   one that worked is not alerted again. They open no episode.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use serde::Serialize;

use crate::escalation::{Outcome, Problem, Rung};
use crate::reauth::{login_alert, ReauthConfig, ReauthVerdict};
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
    /// The gateway stayed down past the weekly token expiry: a human must log in.
    LoginNeeded,
    /// The escalation ladder fired a rung (IBC command or restart command), or a rung failed.
    Escalation,
}

impl AlertKind {
    /// Whether this alert opens an episode, which one [`AlertKind::Recovered`] closes.
    pub fn opens_episode(self) -> bool {
        matches!(self, AlertKind::Down | AlertKind::Degraded | AlertKind::LoginNeeded)
    }
}

/// The open episode of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Episode {
    /// Opened by a [`AlertKind::Down`] alert.
    Down,
    /// Opened by a [`AlertKind::Degraded`] alert.
    Degraded,
    /// Opened by a [`AlertKind::LoginNeeded`] alert.
    LoginNeeded,
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
    /// Outages held for the weekly login (no alert yet): when each began, by account.
    held: HashMap<String, DateTime<Utc>>,
}

impl Memory {
    /// The accounts whose outage is held for the weekly login (no alert sent yet), sorted.
    pub fn held(&self) -> Vec<String> {
        let mut held: Vec<String> = self.held.keys().cloned().collect();
        held.sort();
        held
    }

    /// The earliest moment a held outage needs a login (when [`due`] must run), if any.
    pub fn login_due(&self, reauth: &ReauthConfig) -> Option<DateTime<Utc>> {
        self.held
            .values()
            .filter_map(|since| match reauth.assess(*since, *since) {
                ReauthVerdict::Pending { alert_at, .. } => Some(alert_at),
                ReauthVerdict::NeedsLogin { since, .. } => Some(since),
                ReauthVerdict::Ordinary => None,
            })
            .min()
    }
}

/// The login alerts due at `now`: each held outage whose grace has passed (outside a reset
/// window) opens its [`Episode::LoginNeeded`], once.
pub fn due(memory: &mut Memory, reauth: Option<&ReauthConfig>, now: DateTime<Utc>) -> Vec<Alert> {
    let mut accounts: Vec<String> = memory.held.keys().filter(|a| !memory.in_window.contains(*a)).cloned().collect();
    accounts.sort();
    accounts.into_iter().filter_map(|account| login_needed(memory, reauth, &account, now)).collect()
}

/// The login alert for `account`'s held outage if it is due at `now`.
fn login_needed(
    memory: &mut Memory,
    reauth: Option<&ReauthConfig>,
    account: &str,
    now: DateTime<Utc>,
) -> Option<Alert> {
    let (since, reauth) = (*memory.held.get(account)?, reauth?);
    if !matches!(reauth.assess(since, now), ReauthVerdict::NeedsLogin { .. }) {
        return None;
    }
    memory.held.remove(account);
    memory.episodes.insert(account.to_owned(), Episode::LoginNeeded);
    Some(Alert {
        account: account.to_owned(),
        kind: AlertKind::LoginNeeded,
        text: format!("🔑 {}", login_alert(account)),
    })
}

/// The alert rules: the next alert for `event`, updating what they remember (`reauth`: the
/// weekly login, `None` when `reauth.weekly` is off).
pub fn decide(memory: &mut Memory, reauth: Option<&ReauthConfig>, event: &StatusEvent) -> Option<Alert> {
    let account = &event.account;
    let alert = |kind, text: String| Some(Alert { account: account.clone(), kind, text });
    if let EventKind::StateChanged { to, .. } = &event.kind {
        if matches!(to, ConnectionState::ResetWindow { .. }) {
            memory.in_window.insert(account.clone());
        } else {
            memory.in_window.remove(account);
        }
    }
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
        EventKind::Escalation { rung, problem, command, since, fired_at, outcome } => {
            escalation_text(account, *rung, *problem, command, *fired_at - *since, outcome.as_ref())
                .and_then(|text| alert(AlertKind::Escalation, text))
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
            ConnectionState::ResetWindow { .. } | ConnectionState::Stopped { .. } => None,
            ConnectionState::Connecting { .. } => {
                if memory.in_window.contains(account) {
                    return None;
                }
                login_needed(memory, reauth, account, event.at)
            }
            ConnectionState::Connected { .. } => {
                // A held outage that heals within the grace was the gateway's own restart.
                memory.held.remove(account);
                match memory.episodes.remove(account) {
                    Some(_) => alert(AlertKind::Recovered, format!("✅ IBKR {account} connected again")),
                    None => None,
                }
            }
            ConnectionState::Disconnected { since, last_error } => {
                if memory.episodes.contains_key(account) {
                    return None;
                }
                if memory.held.contains_key(account) {
                    return login_needed(memory, reauth, account, event.at);
                }
                if reauth.is_some_and(|r| r.assess(*since, event.at).is_weekly()) {
                    memory.held.insert(account.clone(), *since);
                    return login_needed(memory, reauth, account, event.at);
                }
                memory.episodes.insert(account.clone(), Episode::Down);
                let why = last_error.as_deref().unwrap_or("connection lost");
                alert(AlertKind::Down, format!("❌ IBKR {account} disconnected: {why}"))
            }
            ConnectionState::Degraded { code, reason, .. } => {
                memory.held.remove(account);
                if memory.episodes.contains_key(account) {
                    return None;
                }
                memory.episodes.insert(account.clone(), Episode::Degraded);
                alert(AlertKind::Degraded, format!("⚠️ IBKR {account} degraded: IB upstream lost ({code}): {reason}"))
            }
        },
        _ => None,
    }
}

/// The text of an escalation alert: the firing (`outcome` `None`), or a failed outcome.
fn escalation_text(
    account: &str,
    rung: Rung,
    problem: Problem,
    command: &str,
    lasted: chrono::TimeDelta,
    outcome: Option<&Outcome>,
) -> Option<String> {
    let what = match rung {
        Rung::RestartCommand => format!("ran the restart command `{command}`"),
        _ => format!("sent {command} through IBC"),
    };
    match outcome {
        None => {
            let lasted = std::time::Duration::from_secs(lasted.num_seconds().max(0).unsigned_abs());
            let why = match problem {
                Problem::DataBroken => "a market-data farm was broken",
                Problem::UpstreamLost => "IB's upstream was lost (1100)",
                Problem::ApiDead => "the API was dead",
            };
            Some(format!("🔧 IB Gateway for {account}: {what} after {why} {}", humantime::format_duration(lasted)))
        }
        Some(outcome) if outcome.succeeded() => None,
        Some(outcome) => Some(format!("🔧❗ IB Gateway for {account}: {what}: {}", outcome.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    /// The default weekly login; the tests' times (2027-01-15, a Friday) are far from it.
    const R: ReauthConfig = ReauthConfig {
        weekly: crate::reauth::WeeklyTime {
            weekday: chrono::Weekday::Sun,
            time: chrono::NaiveTime::MIN,
            tz: chrono_tz::America::New_York,
        },
        grace: crate::reauth::DEFAULT_GRACE,
        margin: crate::reauth::DEFAULT_MARGIN,
        after: crate::reauth::DEFAULT_AFTER,
    };

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
        let first = decide(&mut episodes, Some(&R), &down()).unwrap();
        assert_eq!(first.kind, AlertKind::Down);
        assert!(first.text.contains("refused"));
        for _ in 0..5 {
            assert_eq!(decide(&mut episodes, Some(&R), &connecting), None);
            assert_eq!(decide(&mut episodes, Some(&R), &down()), None, "no alert per failed attempt");
        }
        let up = decide(&mut episodes, Some(&R), &changed(ConnectionState::Connected { since: t(2), client_id: 1 }))
            .unwrap();
        assert_eq!(up.kind, AlertKind::Recovered);
        assert_eq!(
            decide(&mut episodes, Some(&R), &changed(ConnectionState::Connected { since: t(3), client_id: 1 })),
            None
        );
    }

    #[test]
    fn reset_windows_raise_nothing() {
        let mut episodes = Memory::default();
        let window = changed(ConnectionState::ResetWindow { since: t(1), until: t(100), link: None });
        assert_eq!(decide(&mut episodes, Some(&R), &window), None);
        let after = changed(ConnectionState::Connected { since: t(100), client_id: 1 });
        assert_eq!(decide(&mut episodes, Some(&R), &after), None, "no episode was open: no recovery to report");
    }

    #[test]
    fn leaving_a_window_with_the_link_down_waits_for_the_attempt() {
        let mut episodes = Memory::default();
        let from = ConnectionState::ResetWindow { since: t(0), until: t(1), link: None };
        let to = ConnectionState::Disconnected { since: t(1), last_error: None };
        let ended = StatusEvent::new("Paper", t(1), EventKind::StateChanged { from, to });
        assert_eq!(decide(&mut episodes, Some(&R), &ended), None);
        let failed = changed(ConnectionState::Disconnected { since: t(2), last_error: Some("refused".into()) });
        assert_eq!(
            decide(&mut episodes, Some(&R), &failed).unwrap().kind,
            AlertKind::Down,
            "the failed attempt after it is an outage"
        );
    }

    #[test]
    fn an_escalation_is_alerted_when_fired_and_when_it_failed_and_opens_no_episode() {
        let mut memory = Memory::default();
        let fired = |outcome: Option<Outcome>| {
            let kind = EventKind::Escalation {
                rung: Rung::Restart,
                problem: Problem::ApiDead,
                command: "RESTART".into(),
                since: t(0),
                fired_at: t(300),
                outcome,
            };
            StatusEvent::new("Live", t(300), kind)
        };
        let alert = decide(&mut memory, Some(&R), &fired(None)).unwrap();
        assert_eq!(alert.kind, AlertKind::Escalation);
        assert_eq!(alert.text, "🔧 IB Gateway for Live: sent RESTART through IBC after the API was dead 5m");
        assert!(memory.episodes.is_empty(), "no episode: the outage has its own");
        let worked = fired(Some(Outcome::Accepted { detail: "RESTART at 01:23 PM".into() }));
        assert_eq!(decide(&mut memory, Some(&R), &worked), None, "a rung that worked is not alerted twice");
        let failed = decide(&mut memory, Some(&R), &fired(Some(Outcome::NoAnswer))).unwrap();
        assert_eq!(failed.text, "🔧❗ IB Gateway for Live: sent RESTART through IBC: no answer from IBC");
        let command = EventKind::Escalation {
            rung: Rung::RestartCommand,
            problem: Problem::ApiDead,
            command: "docker restart ib-gateway".into(),
            since: t(0),
            fired_at: t(900),
            outcome: Some(Outcome::TimedOut { after_ms: 60_000 }),
        };
        let killed = decide(&mut memory, Some(&R), &StatusEvent::new("Live", t(960), command)).unwrap();
        assert_eq!(
            killed.text,
            "🔧❗ IB Gateway for Live: ran the restart command `docker restart ib-gateway`: killed after 1m"
        );
    }

    #[test]
    fn a_competing_session_is_alerted_once_per_episode_and_never_inside_a_window() {
        let mut memory = Memory::default();
        let competing =
            |since: i64| StatusEvent::new("Live", t(since), EventKind::CompetingSession { since: t(since) });
        let first = decide(&mut memory, Some(&R), &competing(10)).unwrap();
        assert_eq!((first.account.as_str(), first.kind), ("Live", AlertKind::CompetingSession));
        assert!(first.text.contains("10197"), "{}", first.text);
        assert_eq!(decide(&mut memory, Some(&R), &competing(10)), None, "the same episode is not alerted again");
        assert!(memory.episodes.is_empty(), "no connection episode: nothing to recover from");
        // A later episode is alerted again.
        assert_eq!(decide(&mut memory, Some(&R), &competing(2000)).unwrap().kind, AlertKind::CompetingSession);

        // Inside a reset window: nothing; after it, a new episode is alerted.
        let window = ConnectionState::ResetWindow { since: t(3000), until: t(6600), link: None };
        let entered = StatusEvent::new("Live", t(3000), EventKind::StateChanged { from: window.clone(), to: window });
        assert_eq!(decide(&mut memory, Some(&R), &entered), None);
        assert_eq!(decide(&mut memory, Some(&R), &competing(3100)), None);
        let up = ConnectionState::Connected { since: t(6600), client_id: 2 };
        let left = StatusEvent::new("Live", t(6600), EventKind::StateChanged { from: up.clone(), to: up });
        assert_eq!(decide(&mut memory, Some(&R), &left), None);
        assert_eq!(decide(&mut memory, Some(&R), &competing(6700)).unwrap().kind, AlertKind::CompetingSession);
        // Another account's window does not silence this one.
        let other = ConnectionState::ResetWindow { since: t(7000), until: t(9000), link: None };
        let paper = StatusEvent::new("Paper", t(7000), EventKind::StateChanged { from: other.clone(), to: other });
        decide(&mut memory, Some(&R), &paper);
        assert_eq!(decide(&mut memory, Some(&R), &competing(7100)).unwrap().kind, AlertKind::CompetingSession);
    }

    /// Live's state change at `at`.
    fn live(at: DateTime<Utc>, to: ConnectionState) -> StatusEvent {
        let from = ConnectionState::Connected { since: at, client_id: 2 };
        StatusEvent::new("Live", at, EventKind::StateChanged { from, to })
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn down(at: &str) -> StatusEvent {
        live(utc(at), ConnectionState::Disconnected { since: utc(at), last_error: Some("refused".into()) })
    }

    #[test]
    fn an_outage_at_the_weekly_expiry_gets_one_login_alert_instead_of_a_down() {
        let (mut memory, reauth) = (Memory::default(), ReauthConfig::default());
        // Sunday 2026-06-14 01:00 EDT = 05:00 UTC; the gateway goes away at 01:02 for its login.
        assert_eq!(decide(&mut memory, Some(&reauth), &down("2026-06-14T05:02:00Z")), None, "no ordinary down alert");
        assert_eq!(memory.login_due(&reauth), Some(utc("2026-06-14T05:17:00Z")), "15 min grace from the outage");
        let connecting = ConnectionState::Connecting { since: utc("2026-06-14T05:10:00Z"), attempt: 3, client_id: 2 };
        assert_eq!(decide(&mut memory, Some(&reauth), &live(utc("2026-06-14T05:10:00Z"), connecting)), None);
        assert_eq!(
            decide(&mut memory, Some(&reauth), &down("2026-06-14T05:10:01Z")),
            None,
            "failed attempts: still held"
        );
        assert_eq!(due(&mut memory, Some(&reauth), utc("2026-06-14T05:16:59Z")), [], "not before the grace ends");

        let alerts = due(&mut memory, Some(&reauth), utc("2026-06-14T05:17:00Z"));
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].kind, AlertKind::LoginNeeded);
        assert!(alerts[0].text.contains("IB Gateway for Live needs a login (weekly re-authentication)"), "{alerts:?}");
        assert_eq!(memory.episodes.get("Live"), Some(&Episode::LoginNeeded));
        assert_eq!(memory.login_due(&reauth), None, "nothing held any more");
        assert_eq!(due(&mut memory, Some(&reauth), utc("2026-06-14T06:00:00Z")), [], "sent once");
        assert_eq!(
            decide(&mut memory, Some(&reauth), &down("2026-06-14T06:00:01Z")),
            None,
            "no down alert after it either"
        );

        let up = ConnectionState::Connected { since: utc("2026-06-14T09:00:00Z"), client_id: 2 };
        let recovered = decide(&mut memory, Some(&reauth), &live(utc("2026-06-14T09:00:00Z"), up)).unwrap();
        assert_eq!((recovered.kind, recovered.text.as_str()), (AlertKind::Recovered, "✅ IBKR Live connected again"));
    }

    #[test]
    fn the_next_event_past_the_grace_sends_the_login_alert_without_the_timer() {
        let (mut memory, reauth) = (Memory::default(), ReauthConfig::default());
        // The first restart after the expiry fails (Sunday 15:00 New York), retried for an hour.
        assert_eq!(decide(&mut memory, Some(&reauth), &down("2026-06-14T19:00:00Z")), None);
        let alert = decide(&mut memory, Some(&reauth), &down("2026-06-14T19:15:00Z")).unwrap();
        assert_eq!(alert.kind, AlertKind::LoginNeeded);
        assert_eq!(decide(&mut memory, Some(&reauth), &down("2026-06-14T19:30:00Z")), None);
        assert_eq!(due(&mut memory, Some(&reauth), utc("2026-06-14T20:00:00Z")), []);
    }

    #[test]
    fn a_gateway_back_within_the_grace_is_not_alerted_at_all() {
        let (mut memory, reauth) = (Memory::default(), ReauthConfig::default());
        assert_eq!(decide(&mut memory, Some(&reauth), &down("2026-06-14T05:01:00Z")), None);
        let up = ConnectionState::Connected { since: utc("2026-06-14T05:04:00Z"), client_id: 2 };
        assert_eq!(
            decide(&mut memory, Some(&reauth), &live(utc("2026-06-14T05:04:00Z"), up)),
            None,
            "no recovery either"
        );
        assert_eq!(memory.login_due(&reauth), None);
        assert_eq!(due(&mut memory, Some(&reauth), utc("2026-06-14T06:00:00Z")), []);
    }

    #[test]
    fn with_the_weekly_login_off_the_sunday_outage_is_an_ordinary_one() {
        let mut memory = Memory::default();
        let alert = decide(&mut memory, None, &down("2026-06-14T05:02:00Z")).unwrap();
        assert_eq!(alert.kind, AlertKind::Down);
        assert_eq!(due(&mut memory, None, utc("2026-06-14T06:00:00Z")), []);
    }

    #[test]
    fn an_ordinary_outage_on_a_wednesday_is_alerted_down_at_once() {
        let (mut memory, reauth) = (Memory::default(), ReauthConfig::default());
        let alert = decide(&mut memory, Some(&reauth), &down("2026-06-17T14:00:00Z")).unwrap();
        assert_eq!(alert.kind, AlertKind::Down);
        assert_eq!(memory.login_due(&reauth), None);
        assert_eq!(due(&mut memory, Some(&reauth), utc("2026-06-17T15:00:00Z")), [], "never a login alert for it");
        // Monday 01:00, a day after the expiry, is ordinary again.
        let mut memory = Memory::default();
        assert_eq!(decide(&mut memory, Some(&reauth), &down("2026-06-15T05:00:00Z")).unwrap().kind, AlertKind::Down);
    }

    #[test]
    fn no_login_alert_inside_a_reset_window_until_the_attempt_after_it() {
        let (mut memory, reauth) = (Memory::default(), ReauthConfig::default());
        assert_eq!(decide(&mut memory, Some(&reauth), &down("2026-06-14T05:02:00Z")), None);
        let window = ConnectionState::ResetWindow {
            since: utc("2026-06-14T05:10:00Z"),
            until: utc("2026-06-14T06:00:00Z"),
            link: None,
        };
        assert_eq!(decide(&mut memory, Some(&reauth), &live(utc("2026-06-14T05:10:00Z"), window)), None);
        assert_eq!(due(&mut memory, Some(&reauth), utc("2026-06-14T05:30:00Z")), [], "inside the window: nothing");
        let attempt = ConnectionState::Connecting { since: utc("2026-06-14T06:00:00Z"), attempt: 1, client_id: 2 };
        let alert = decide(&mut memory, Some(&reauth), &live(utc("2026-06-14T06:00:00Z"), attempt)).unwrap();
        assert_eq!(alert.kind, AlertKind::LoginNeeded, "the attempt after the window, still held past the grace");
    }
}
