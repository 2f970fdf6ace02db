//! [`StatusEvent`]: every state change, attempt, probe failure, notice and restart, with a
//! timestamp, published on the [`EventPort`] to the actors that subscribe (reconnect,
//! persistence, guard, alert); the escalation ladder's firings too.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ractor::OutputPort;
use serde::Serialize;

use super::ConnectionState;
use crate::escalation::{Outcome, Problem, Rung};
use crate::farms::FarmSnapshot;

/// One published fact about an account (`account` is `"*"` for supervisor-wide events).
///
/// Its JSON form is the event's `kind` tag and fields beside `account` and `at`: the line the
/// JSON-lines mirror holds and the `detail` column of `connection_events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusEvent {
    /// The account the event is about, or `"*"`.
    pub account: String,
    /// When it happened (the supervisor's clock).
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl StatusEvent {
    /// An event about `account` at `at`.
    pub fn new(account: impl Into<String>, at: DateTime<Utc>, kind: EventKind) -> Self {
        Self { account: account.into(), at, kind }
    }
}

/// What the event says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The GatewayActor moved the account's [`ConnectionState`].
    StateChanged {
        /// The state left.
        from: ConnectionState,
        /// The state entered.
        to: ConnectionState,
    },
    /// A connection attempt began.
    AttemptStarted {
        /// Attempts in this outage, this one included.
        attempt: u32,
        /// The client id it uses.
        client_id: i32,
    },
    /// A connection attempt failed.
    AttemptFailed {
        /// Attempts in this outage, this one included.
        attempt: u32,
        /// The client id it used.
        client_id: i32,
        /// What went wrong.
        error: String,
        /// IB answered 326 (client id in use): the reconnect policy tries the next fallback.
        client_id_in_use: bool,
    },
    /// A connection attempt succeeded.
    Connected {
        /// Attempts in this outage, this one included.
        attempt: u32,
        /// The client id of the session.
        client_id: i32,
        /// The TWS API version the gateway negotiated (0 when already connected).
        server_version: i32,
    },
    /// An established connection was lost (socket closed, reset, or a probe failed).
    Lost {
        /// What went wrong.
        reason: String,
    },
    /// A liveness probe failed (the connection is then dropped).
    ProbeFailed {
        /// What went wrong.
        error: String,
    },
    /// A notice from the gateway (farm status, connectivity, …).
    Notice {
        /// IB's code, e.g. 1100 or 2104.
        code: i32,
        /// The gateway's text.
        message: String,
    },
    /// The account's data plane changed (a farm went down, came back, or the session that
    /// reported them ended): the farms as they are now. The connection state is untouched;
    /// the guard closes the order gate on a market-data farm down only with
    /// `guard.block_orders_on_data_loss`.
    DataPlaneChanged {
        /// Every known farm and the data plane they make.
        farms: FarmSnapshot,
    },
    /// A competing live session (10197) takes the account's market data: published once, when
    /// an episode begins (the notices that repeat it are only [`EventKind::Notice`]s).
    CompetingSession {
        /// The episode's first 10197.
        since: DateTime<Utc>,
    },
    /// An attempt was due but a reset window holds it back until `until`.
    AttemptSuppressed {
        /// When the window ends.
        until: DateTime<Utc>,
    },
    /// An actor was restarted by the root supervisor.
    ActorRestarted {
        /// The child's name, e.g. `gateway:Paper`.
        actor: String,
        /// Why it went down.
        reason: String,
        /// Its restarts since the supervisor started.
        restarts: u32,
    },
    /// The restart limit was passed: every guard closes and the process exits non-zero.
    Meltdown {
        /// The child that failed once too often.
        actor: String,
        /// Why.
        reason: String,
    },
    /// The operator activated or paused trading for the account.
    TradingSwitched {
        /// False: paused.
        active: bool,
    },
    /// After a reconnect: an order's state changed while the connection was down.
    OrderReconciled {
        /// The order.
        order_id: i32,
        /// The client id it was placed with.
        client_id: i32,
        /// Its status before the outage.
        before: String,
        /// Its status at the gateway after the reconnect.
        after: String,
        /// Shares filled.
        filled: f64,
    },
    /// After a reconnect: an order that was written is seen nowhere at the gateway (not open,
    /// not completed, not fully filled); it stays followed and is looked for again.
    OrderUnknown {
        /// The order's id (0 if it never had one).
        order_id: i32,
        /// The client id it was placed with.
        client_id: i32,
        /// Its orderRef.
        order_ref: String,
        /// Its last known status.
        last_status: String,
    },
    /// Open orders and executions could not be fetched after a reconnect.
    ReconcileFailed {
        /// What went wrong.
        error: String,
    },
    /// The escalation ladder fired a rung ([`crate::escalation`]): published once when it
    /// fires (`outcome` null) and once with what it came to.
    Escalation {
        /// The rung: `reconnect_data`, `reconnect_account`, `restart`, `restart_command`.
        rung: Rung,
        /// The problem it answers: `data_broken`, `upstream_lost`, `api_dead`.
        problem: Problem,
        /// What was sent or run: the IBC command, or the restart command's argv joined.
        command: String,
        /// Since when the problem had lasted when the rung fired.
        since: DateTime<Utc>,
        /// When the rung fired.
        fired_at: DateTime<Utc>,
        /// IBC's answer or the command's end; `None` when just fired.
        outcome: Option<Outcome>,
    },
    /// The account's guarded port decided an engine's `placeOrder`.
    ProxyOrder {
        /// The port's listen address.
        listen: String,
        /// The engine session's client id (`None` before its startApi).
        client_id: Option<i32>,
        /// The order id.
        order_id: i32,
        /// `None`: passed upstream; else why it was refused (answered with error 201).
        refused: Option<String>,
    },
}

impl EventKind {
    /// The `kind` tag of the JSON form (and of the `connection_events.kind` column).
    pub fn name(&self) -> &'static str {
        match self {
            Self::StateChanged { .. } => "state_changed",
            Self::AttemptStarted { .. } => "attempt_started",
            Self::AttemptFailed { .. } => "attempt_failed",
            Self::Connected { .. } => "connected",
            Self::Lost { .. } => "lost",
            Self::ProbeFailed { .. } => "probe_failed",
            Self::Notice { .. } => "notice",
            Self::DataPlaneChanged { .. } => "data_plane_changed",
            Self::CompetingSession { .. } => "competing_session",
            Self::AttemptSuppressed { .. } => "attempt_suppressed",
            Self::ActorRestarted { .. } => "actor_restarted",
            Self::Meltdown { .. } => "meltdown",
            Self::TradingSwitched { .. } => "trading_switched",
            Self::OrderReconciled { .. } => "order_reconciled",
            Self::OrderUnknown { .. } => "order_unknown",
            Self::ReconcileFailed { .. } => "reconcile_failed",
            Self::ProxyOrder { .. } => "proxy_order",
            Self::Escalation { .. } => "escalation",
        }
    }
}

/// Where status events are published; actors subscribe with a converter.
pub type EventPort = Arc<OutputPort<StatusEvent>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_the_serde_tag() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let state = ConnectionState::Stopped { since: t };
        let text = String::new;
        let kinds = [
            EventKind::StateChanged { from: state.clone(), to: state },
            EventKind::AttemptStarted { attempt: 1, client_id: 1 },
            EventKind::AttemptFailed { attempt: 1, client_id: 1, error: text(), client_id_in_use: false },
            EventKind::Connected { attempt: 1, client_id: 1, server_version: 0 },
            EventKind::Lost { reason: text() },
            EventKind::ProbeFailed { error: text() },
            EventKind::Notice { code: 1100, message: text() },
            EventKind::DataPlaneChanged { farms: FarmSnapshot::default() },
            EventKind::CompetingSession { since: t },
            EventKind::AttemptSuppressed { until: t },
            EventKind::ActorRestarted { actor: text(), reason: text(), restarts: 1 },
            EventKind::Meltdown { actor: text(), reason: text() },
            EventKind::TradingSwitched { active: true },
            EventKind::OrderReconciled { order_id: 1, client_id: 1, before: text(), after: text(), filled: 0.0 },
            EventKind::OrderUnknown { order_id: 1, client_id: 1, order_ref: text(), last_status: text() },
            EventKind::ReconcileFailed { error: text() },
            EventKind::ProxyOrder { listen: text(), client_id: Some(1), order_id: 1, refused: None },
            EventKind::Escalation {
                rung: Rung::Restart,
                problem: Problem::ApiDead,
                command: "RESTART".into(),
                since: t,
                fired_at: t,
                outcome: Some(Outcome::NoAnswer),
            },
        ];
        for kind in kinds {
            let json = serde_json::to_value(StatusEvent::new("Paper", t, kind.clone())).unwrap();
            assert_eq!(json["kind"], kind.name(), "{kind:?}");
        }
    }
}
