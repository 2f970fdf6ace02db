//! What trading-engine actors exchange with the supervisor: orders and ticks in, order events
//! and ticks out, and the reasons an order is refused.
//!
//! Order events and ticks are delivered to *sinks*: closures the engine provides, typically
//! `move |event| engine_ref.send_message(EngineMessage::Order(event)).is_ok()`. A sink returns
//! false once its receiver is gone.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use ibapi::contracts::Contract;
use ibapi::orders::Order;
use serde::Serialize;

use crate::status::ConnectionState;

/// A market-data event delivered to a subscriber.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum MarketEvent {
    /// A price (bid 1, ask 2, last 4, …) with its size when the gateway sent one.
    Price {
        /// The subscription's id (from `subscribe_market_data`).
        subscription: u64,
        /// ibapi's tick type, e.g. `Bid`, `Ask`, `Last`.
        tick_type: String,
        /// The price.
        price: f64,
        /// The size, when the tick carried one.
        size: Option<f64>,
    },
    /// Ticks may have been missed: after a reconnect or 1101 (data lost) the subscription
    /// was renewed; after a market-data farm broke (2103) ticks stop until it is OK (2104),
    /// then resume on the same subscription.
    Gap {
        /// The subscription's id.
        subscription: u64,
        /// Why ticks may be missing.
        reason: String,
    },
}

/// Where a subscription's events go; returns false once the receiver is gone (the
/// subscription is then dropped).
pub type TickSink = Arc<dyn Fn(MarketEvent) -> bool + Send + Sync>;

/// Where an order's events go.
pub type OrderSink = Arc<dyn Fn(OrderEvent) -> bool + Send + Sync>;

/// Where an engine's ticks go (only while the account is usable).
pub type TickReceiver = Arc<dyn Fn(Tick) -> bool + Send + Sync>;

/// An order from the engine for one account.
#[derive(Clone)]
pub struct OrderRequest {
    /// The account (settings name) to trade on.
    pub account: String,
    /// `None`: the gateway allocates the next valid id.
    pub order_id: Option<i32>,
    /// What to trade.
    pub contract: Contract,
    /// How: action, quantity, order type, prices.
    pub order: Order,
    /// Receives every [`OrderEvent`] of this order, starting with `Sent` or `Refused`.
    pub sink: OrderSink,
}

impl fmt::Debug for OrderRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderRequest")
            .field("account", &self.account)
            .field("order_id", &self.order_id)
            .field("symbol", &self.contract.symbol.to_string())
            .field("action", &self.order.action)
            .field("quantity", &self.order.total_quantity)
            .finish()
    }
}

/// A tick for the engine, gated like orders: delivered only while the account is usable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tick {
    /// The account the market data came through.
    pub account: String,
    /// The price or gap.
    pub event: MarketEvent,
}

/// What happened to an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrderEvent {
    /// Not sent: the account was not usable. Answered at once; never queued for later.
    Refused {
        /// The account the order was for.
        account: String,
        /// The engine's id, if it chose one.
        order_id: Option<i32>,
        /// Why.
        reason: Refusal,
    },
    /// Written to the socket after a fresh sign of life from the gateway (an inbound message
    /// or a probe answer within `orders.max_silence`).
    Sent {
        /// The account.
        account: String,
        /// The order's id on that connection.
        order_id: i32,
        /// The client id it was placed with (order ids are per client id).
        client_id: i32,
        /// Its orderRef (the engine's, or one the supervisor gave it): how the order is found
        /// under any client id.
        order_ref: String,
    },
    /// The gateway acknowledged the order (OpenOrder).
    Open {
        /// The order.
        order_id: i32,
        /// IB's status, e.g. `Submitted`.
        status: String,
    },
    /// OrderStatus.
    Status {
        /// The order.
        order_id: i32,
        /// IB's status, e.g. `PreSubmitted`, `Filled`.
        status: String,
        /// Shares filled so far.
        filled: f64,
        /// Shares still working.
        remaining: f64,
        /// Average fill price, once something filled.
        avg_fill_price: Option<f64>,
    },
    /// A fill.
    Execution {
        /// The order.
        order_id: i32,
        /// IB's execution id.
        exec_id: String,
        /// Shares in this fill.
        shares: f64,
        /// Its price.
        price: f64,
    },
    /// The commission of a fill.
    Commission {
        /// The execution it belongs to.
        exec_id: String,
        /// The amount.
        commission: f64,
        /// Its currency.
        currency: String,
    },
    /// The gateway or ibapi rejected it, the order stream broke (e.g. the connection was
    /// lost), or the gateway actor stopped (killed, panicked, shut down) before the order was
    /// final: its fate is then settled by reconciliation after the reconnect.
    Failed {
        /// The order's id, once it had one.
        order_id: Option<i32>,
        /// Its orderRef.
        order_ref: String,
        /// What went wrong, and whether the order can have reached the gateway.
        error: String,
    },
    /// After a reconnect: the order's state changed while the connection was down (`after`
    /// is IB's status, or `NotSent` for an order confirmed never written).
    Reconciled {
        /// The order's id, once it had one.
        order_id: Option<i32>,
        /// Its orderRef.
        order_ref: String,
        /// Its last known status before the outage.
        before: String,
        /// Its status at the gateway now.
        after: String,
        /// Shares filled.
        filled: f64,
        /// Average fill price, when known.
        avg_fill_price: Option<f64>,
    },
    /// After a reconnect: the order was written but the gateway shows it nowhere (not open,
    /// not completed, not fully filled). It is kept and looked for again at every reconcile;
    /// never assume it cancelled or unfilled.
    Unknown {
        /// The order's id.
        order_id: Option<i32>,
        /// Its orderRef.
        order_ref: String,
        /// Its last known status.
        last_status: String,
        /// Shares the executions seen show filled.
        filled: f64,
        /// Their average price.
        avg_fill_price: Option<f64>,
    },
}

/// Why an order was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// No connection.
    Disconnected {
        /// Since when.
        since: DateTime<Utc>,
        /// Why the connection went, when known.
        last_error: Option<String>,
    },
    /// A connection attempt is in flight.
    Reconnecting {
        /// Since when.
        since: DateTime<Utc>,
        /// Attempts in this outage.
        attempt: u32,
    },
    /// Connected, but IB's upstream is lost.
    UpstreamLost {
        /// Since when.
        since: DateTime<Utc>,
        /// IB's notice code (1100 or 2110).
        code: i32,
    },
    /// Inside IB's scheduled reset window.
    ResetWindow {
        /// When it ends.
        until: DateTime<Utc>,
    },
    /// A reset window opens within `guard.quiesce_before_reset`: no new orders now, so none
    /// is caught working when the gateway restarts.
    ResetSoon {
        /// When the window opens.
        starts_at: DateTime<Utc>,
        /// Whole seconds until then (rounded up).
        starts_in_s: u64,
    },
    /// A market-data farm of the account is down and `guard.block_orders_on_data_loss` is on:
    /// the engine would trade blind. (Off, the default, orders pass: the order link is
    /// another path than the data farms.)
    DataLost {
        /// The farm, e.g. `usfarm` (the first of them when several are down).
        farm: String,
        /// When its outage began.
        since: DateTime<Utc>,
    },
    /// The supervisor passed its restart limit.
    Meltdown {
        /// When.
        at: DateTime<Utc>,
    },
    /// The operator paused trading for the account.
    PausedByOperator {
        /// Since when.
        since: DateTime<Utc>,
    },
    /// The gateway was silent longer than `orders.max_silence` and did not answer a probe: the
    /// order was never written.
    NotAnswering {
        /// Why the probe failed.
        error: String,
    },
    /// The supervisor is shutting down.
    ShuttingDown,
    /// No such account in the settings.
    UnknownAccount {
        /// The name asked for.
        account: String,
    },
}

impl Refusal {
    /// The refusal that `state` implies, or `None` when the account is usable.
    pub fn from_state(state: &ConnectionState) -> Option<Refusal> {
        Some(match state {
            ConnectionState::Connected { .. } => return None,
            ConnectionState::Disconnected { since, last_error } => {
                Refusal::Disconnected { since: *since, last_error: last_error.clone() }
            }
            ConnectionState::Connecting { since, attempt, .. } => {
                Refusal::Reconnecting { since: *since, attempt: *attempt }
            }
            ConnectionState::Degraded { since, code, .. } => Refusal::UpstreamLost { since: *since, code: *code },
            ConnectionState::ResetWindow { until, .. } => Refusal::ResetWindow { until: *until },
            ConnectionState::Stopped { .. } => Refusal::ShuttingDown,
        })
    }
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Disconnected { since, last_error: Some(e) } => write!(f, "disconnected since {} ({e})", ts(since)),
            Refusal::Disconnected { since, last_error: None } => write!(f, "disconnected since {}", ts(since)),
            Refusal::Reconnecting { since, attempt } => {
                write!(f, "reconnecting since {} (attempt {attempt})", ts(since))
            }
            Refusal::UpstreamLost { since, code } => write!(f, "IB upstream lost since {} ({code})", ts(since)),
            Refusal::ResetWindow { until } => write!(f, "scheduled reset window until {}", ts(until)),
            Refusal::ResetSoon { starts_at, starts_in_s } => {
                write!(f, "reset window starts in {starts_in_s} s (at {})", ts(starts_at))
            }
            Refusal::DataLost { farm, since } => write!(f, "market data farm {farm} broken since {}", ts(since)),
            Refusal::Meltdown { at } => write!(f, "supervisor meltdown at {}", ts(at)),
            Refusal::PausedByOperator { since } => write!(f, "paused by operator since {}", ts(since)),
            Refusal::NotAnswering { error } => write!(f, "gateway not answering ({error})"),
            Refusal::ShuttingDown => write!(f, "supervisor shutting down"),
            Refusal::UnknownAccount { account } => write!(f, "unknown account {account:?}"),
        }
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unusable_state_has_a_reason_that_names_when() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T04:45:00Z").unwrap().with_timezone(&Utc);
        let cases = [
            (
                ConnectionState::Disconnected { since: t, last_error: Some("connection refused".into()) },
                "disconnected since 2026-11-22T04:45:00Z (connection refused)",
            ),
            (
                ConnectionState::Connecting { since: t, attempt: 3, client_id: 1 },
                "reconnecting since 2026-11-22T04:45:00Z (attempt 3)",
            ),
            (
                ConnectionState::Degraded { since: t, client_id: 1, code: 1100, reason: String::new() },
                "IB upstream lost since 2026-11-22T04:45:00Z (1100)",
            ),
            (
                ConnectionState::ResetWindow { since: t, until: t, link: None },
                "scheduled reset window until 2026-11-22T04:45:00Z",
            ),
            (ConnectionState::Stopped { since: t }, "supervisor shutting down"),
        ];
        for (state, text) in cases {
            assert_eq!(Refusal::from_state(&state).unwrap().to_string(), text);
        }
        assert_eq!(Refusal::from_state(&ConnectionState::Connected { since: t, client_id: 1 }), None);
    }
}
