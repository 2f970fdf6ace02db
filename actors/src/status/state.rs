//! [`ConnectionState`], the GatewayActor's state machine, and [`transition`], the one pure
//! function that moves it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The connection state of one account, owned by its GatewayActor.
///
/// Its JSON form is tagged by `state` (`{"state": "connected", "since": …, "client_id": 1}`):
/// `/status` shows it as `detail`, the database stores it in `ibkr_status.state_detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    /// No connection; the reconnect actor decides when to try again.
    Disconnected {
        /// When the connection went (or the supervisor started without one).
        since: DateTime<Utc>,
        /// Why the last connection or attempt ended, when known.
        last_error: Option<String>,
    },
    /// An attempt is in flight (bounded by `heartbeat.connect_timeout`).
    Connecting {
        /// When the attempt started.
        since: DateTime<Utc>,
        /// Attempts in this outage, this one included.
        attempt: u32,
        /// The client id the attempt uses.
        client_id: i32,
    },
    /// Connected and answering probes: the only usable state.
    Connected {
        /// When the connection came up.
        since: DateTime<Utc>,
        /// The client id of the live session.
        client_id: i32,
    },
    /// The socket is up but IB's upstream is lost (1100, 2110): not usable.
    Degraded {
        /// When the gateway reported the loss.
        since: DateTime<Utc>,
        /// The client id of the (still open) session.
        client_id: i32,
        /// IB's notice code (1100 or 2110).
        code: i32,
        /// The gateway's message.
        reason: String,
    },
    /// Inside a scheduled reset window until `until`: not usable, not an alarm.
    ResetWindow {
        /// When the window began.
        since: DateTime<Utc>,
        /// When it ends.
        until: DateTime<Utc>,
        /// The client id while the socket is up, `None` while it is down.
        link: Option<i32>,
    },
    /// The supervisor is shutting down.
    Stopped {
        /// When the shutdown reached this account.
        since: DateTime<Utc>,
    },
}

impl ConnectionState {
    /// Every state's name, in declaration order (the `state` label values of `/metrics`).
    pub const NAMES: [&'static str; 6] =
        ["disconnected", "connecting", "connected", "degraded", "reset_window", "stopped"];

    /// The state's name, as in the JSON form and the database.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Disconnected { .. } => "disconnected",
            Self::Connecting { .. } => "connecting",
            Self::Connected { .. } => "connected",
            Self::Degraded { .. } => "degraded",
            Self::ResetWindow { .. } => "reset_window",
            Self::Stopped { .. } => "stopped",
        }
    }

    /// When the state was entered.
    pub fn since(&self) -> DateTime<Utc> {
        match self {
            Self::Disconnected { since, .. }
            | Self::Connecting { since, .. }
            | Self::Connected { since, .. }
            | Self::Degraded { since, .. }
            | Self::ResetWindow { since, .. }
            | Self::Stopped { since } => *since,
        }
    }

    /// Orders may flow only here.
    pub fn is_usable(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }

    /// The client id of the live socket, if there is one.
    pub fn link(&self) -> Option<i32> {
        match self {
            Self::Connected { client_id, .. } | Self::Degraded { client_id, .. } => Some(*client_id),
            Self::ResetWindow { link, .. } => *link,
            _ => None,
        }
    }

    /// When the outage the account is in began, given when the one before this state began
    /// (`previous`) and that the account has just entered `self`: an outage starts at the first
    /// down state (disconnected, connecting, degraded) and lasts through every attempt and
    /// failure until the account is usable again. A reset window is not an outage (it ends one,
    /// and one that ends without a link starts a new one at its end); stopping is not either.
    pub fn outage_since(&self, previous: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match self {
            Self::Connected { .. } | Self::ResetWindow { .. } | Self::Stopped { .. } => None,
            Self::Disconnected { since, .. } | Self::Connecting { since, .. } | Self::Degraded { since, .. } => {
                Some(previous.unwrap_or(*since))
            }
        }
    }

    /// When the scheduled reset window the account is in ends (`None` outside one).
    pub fn reset_window_ends_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::ResetWindow { until, .. } => Some(*until),
            _ => None,
        }
    }
}

/// What can happen to a connection: the input of [`transition`].
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionEvent {
    /// A connection attempt began.
    AttemptStarted {
        /// Attempts in this outage, this one included.
        attempt: u32,
        /// The client id it uses.
        client_id: i32,
    },
    /// The handshake completed.
    Connected {
        /// The client id of the new session.
        client_id: i32,
    },
    /// The attempt failed (refused, timed out, client id in use, …).
    AttemptFailed {
        /// What went wrong.
        error: String,
    },
    /// An established socket is gone (EOF, reset, failed probe).
    Lost {
        /// What went wrong.
        reason: String,
    },
    /// 1100 or 2110.
    UpstreamLost {
        /// The notice code.
        code: i32,
        /// The gateway's message.
        reason: String,
    },
    /// 1101 or 1102.
    UpstreamRestored {
        /// The notice code.
        code: i32,
    },
    /// A scheduled reset window began (or moved its end).
    WindowStarted {
        /// When it ends.
        until: DateTime<Utc>,
    },
    /// The reset window ended.
    WindowEnded,
    /// The supervisor is shutting down.
    Stop,
}

/// The next state, or `None` when `event` changes nothing in `state`.
pub fn transition(state: &ConnectionState, event: &ConnectionEvent, now: DateTime<Utc>) -> Option<ConnectionState> {
    use ConnectionEvent as E;
    use ConnectionState as S;
    let next = match (state, event) {
        (S::Stopped { .. }, _) => return None,
        (_, E::Stop) => S::Stopped { since: now },
        // Inside a reset window only the link changes; the state stays "scheduled reset".
        (S::ResetWindow { since, until, .. }, E::Connected { client_id }) => {
            S::ResetWindow { since: *since, until: *until, link: Some(*client_id) }
        }
        (S::ResetWindow { since, until, link: Some(_) }, E::Lost { .. } | E::AttemptFailed { .. }) => {
            S::ResetWindow { since: *since, until: *until, link: None }
        }
        (S::ResetWindow { since, until, link }, E::WindowStarted { until: new_until }) if new_until != until => {
            S::ResetWindow { since: *since, until: *new_until, link: *link }
        }
        (S::ResetWindow { link, .. }, E::WindowEnded) => match link {
            Some(client_id) => S::Connected { since: now, client_id: *client_id },
            None => S::Disconnected { since: now, last_error: None },
        },
        (S::ResetWindow { .. }, _) => return None,
        (_, E::WindowStarted { until }) => S::ResetWindow { since: now, until: *until, link: state.link() },
        (S::Disconnected { .. }, E::AttemptStarted { attempt, client_id }) => {
            S::Connecting { since: now, attempt: *attempt, client_id: *client_id }
        }
        (S::Disconnected { .. } | S::Connecting { .. }, E::Connected { client_id }) => {
            S::Connected { since: now, client_id: *client_id }
        }
        (S::Connecting { .. }, E::AttemptFailed { error }) => {
            S::Disconnected { since: now, last_error: Some(error.clone()) }
        }
        (S::Connected { .. } | S::Degraded { .. } | S::Connecting { .. }, E::Lost { reason }) => {
            S::Disconnected { since: now, last_error: Some(reason.clone()) }
        }
        (S::Connected { client_id, .. }, E::UpstreamLost { code, reason }) => {
            S::Degraded { since: now, client_id: *client_id, code: *code, reason: reason.clone() }
        }
        (S::Degraded { client_id, .. }, E::UpstreamRestored { .. }) => {
            S::Connected { since: now, client_id: *client_id }
        }
        _ => return None,
    };
    (next != *state).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionEvent as E;
    use ConnectionState as S;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn run(events: &[ConnectionEvent]) -> Vec<&'static str> {
        let mut state = S::Disconnected { since: t(0), last_error: None };
        let mut names = vec![];
        for (i, event) in events.iter().enumerate() {
            if let Some(next) = transition(&state, event, t(i as i64 + 1)) {
                state = next;
                names.push(state.name());
            }
        }
        names
    }

    #[test]
    fn connect_lose_and_recover() {
        let names = run(&[
            E::AttemptStarted { attempt: 1, client_id: 1 },
            E::AttemptFailed { error: "refused".into() },
            E::AttemptStarted { attempt: 2, client_id: 1 },
            E::Connected { client_id: 1 },
            E::Lost { reason: "eof".into() },
        ]);
        assert_eq!(names, ["connecting", "disconnected", "connecting", "connected", "disconnected"]);
    }

    #[test]
    fn upstream_loss_degrades_and_restore_recovers() {
        let names = run(&[
            E::Connected { client_id: 3 },
            E::UpstreamLost { code: 1100, reason: "lost".into() },
            E::UpstreamLost { code: 2110, reason: "still lost".into() },
            E::UpstreamRestored { code: 1102 },
            E::UpstreamRestored { code: 1102 },
        ]);
        assert_eq!(names, ["connected", "degraded", "connected"]);
        // Restored while not degraded changes nothing; lost while disconnected neither.
        assert_eq!(run(&[E::UpstreamLost { code: 1100, reason: String::new() }]), Vec::<&str>::new());
    }

    #[test]
    fn a_reset_window_hides_link_changes_and_resolves_at_its_end() {
        let until = t(100);
        let mut state = S::Connected { since: t(0), client_id: 1 };
        state = transition(&state, &E::WindowStarted { until }, t(1)).unwrap();
        assert_eq!(state, S::ResetWindow { since: t(1), until, link: Some(1) });
        assert!(!state.is_usable(), "the guard stays closed during a reset");
        state = transition(&state, &E::Lost { reason: "gateway restart".into() }, t(2)).unwrap();
        assert_eq!(state, S::ResetWindow { since: t(1), until, link: None });
        assert_eq!(transition(&state, &E::AttemptStarted { attempt: 1, client_id: 1 }, t(3)), None);
        assert_eq!(transition(&state, &E::UpstreamLost { code: 1100, reason: String::new() }, t(3)), None);
        let ended = transition(&state, &E::WindowEnded, t(100)).unwrap();
        assert_eq!(ended, S::Disconnected { since: t(100), last_error: None });

        let up = S::ResetWindow { since: t(1), until, link: Some(4) };
        assert_eq!(transition(&up, &E::WindowEnded, t(100)), Some(S::Connected { since: t(100), client_id: 4 }));
    }

    #[test]
    fn an_outage_begins_at_the_first_down_state_and_lasts_through_the_attempts() {
        let mut state = S::Connected { since: t(0), client_id: 1 };
        let mut outage = state.outage_since(None);
        let mut seen = vec![];
        let steps = [
            E::Lost { reason: "eof".into() },
            E::AttemptStarted { attempt: 1, client_id: 1 },
            E::AttemptFailed { error: "refused".into() },
            E::AttemptStarted { attempt: 2, client_id: 11 },
            E::Connected { client_id: 11 },
            E::UpstreamLost { code: 1100, reason: "lost".into() },
            E::Lost { reason: "eof".into() },
            E::WindowStarted { until: t(100) },
            E::WindowEnded,
        ];
        for (i, event) in steps.iter().enumerate() {
            if let Some(next) = transition(&state, event, t(10 * (i as i64 + 1))) {
                state = next;
                outage = state.outage_since(outage);
                seen.push((state.name(), outage));
            }
        }
        assert_eq!(
            seen,
            [
                ("disconnected", Some(t(10))),
                ("connecting", Some(t(10))),
                ("disconnected", Some(t(10))),
                ("connecting", Some(t(10))),
                ("connected", None),
                // Degraded is down: the outage begins there and a loss after it continues it.
                ("degraded", Some(t(60))),
                ("disconnected", Some(t(60))),
                ("reset_window", None),
                // A window that ends without a link begins a new outage at its end.
                ("disconnected", Some(t(90))),
            ]
        );
    }

    #[test]
    fn stop_is_final() {
        let stopped = transition(&S::Connected { since: t(0), client_id: 1 }, &E::Stop, t(1)).unwrap();
        assert_eq!(stopped.name(), "stopped");
        assert_eq!(transition(&stopped, &E::Connected { client_id: 1 }, t(2)), None);
    }

    fn every_state() -> [ConnectionState; 6] {
        [
            S::Disconnected { since: t(0), last_error: None },
            S::Connecting { since: t(0), attempt: 1, client_id: 1 },
            S::Connected { since: t(0), client_id: 1 },
            S::Degraded { since: t(0), client_id: 1, code: 1100, reason: String::new() },
            S::ResetWindow { since: t(0), until: t(1), link: Some(1) },
            S::Stopped { since: t(0) },
        ]
    }

    #[test]
    fn only_connected_is_usable() {
        let usable: Vec<_> = every_state().iter().filter(|s| s.is_usable()).map(ConnectionState::name).collect();
        assert_eq!(usable, ["connected"]);
    }

    #[test]
    fn names_are_the_json_tags_and_the_json_form_reads_back() {
        let states = every_state();
        assert_eq!(states.each_ref().map(ConnectionState::name), ConnectionState::NAMES);
        for state in states {
            let json = serde_json::to_value(&state).unwrap();
            assert_eq!(json["state"], state.name());
            assert_eq!(serde_json::from_value::<ConnectionState>(json).unwrap(), state);
        }
    }
}
