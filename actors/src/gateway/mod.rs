//! `GatewayActor`: one per account. It alone owns the account's `ibapi::Client` and its
//! [`ConnectionState`](crate::ConnectionState), and publishes every change.
//!
//! No handler awaits I/O: a connect attempt, a probe and the notice stream each run as a task
//! whose result comes back as a message tagged with the attempt or session it belongs to, so
//! the actor always answers heartbeats and stale results are recognised and dropped.
//!
//! - Connects with `max_reconnect_attempts(0)` (one reconnect policy: ours),
//!   `one_shot_timeout` = the probe timeout, and `connect_with_notice_stream()`, each attempt
//!   bounded by the connect timeout (ibapi's async connect has none).
//! - Loss is event-driven: the notice stream ends the moment ibapi sees EOF or a reset.
//! - 1100/2110 → Degraded; 1101 → Connected and market data re-requested; 1102 → Connected.
//! - Farm notices (2103–2108, 2119, 2157, 2158), 10197 and 100 never move the connection
//!   state: they make the account's data plane (`degraded` while a farm is down, with a `Gap`
//!   for subscribers), its competing-session episode and its pacing counters.
//! - Each heartbeat starts a `server_time` probe bounded by the probe timeout; a failure marks
//!   the account Disconnected and drops the socket (a half-open socket still "looks" connected).
//!
//! - Every task and the socket belong to the incarnation (a `JoinSet`, a `Link` holding the
//!   account's connection lease) and end with it however it ends; subscriptions and orders in
//!   flight live in the account's [`registry`](crate::registry) and outlive it.
//!
//! The parts: `actor.rs` (the actor, its messages and state, the state machine's driver),
//! `connection.rs` (attempts, probes, notices, loss, the `Link` and its liveness),
//! `conditions.rs` (farms, a competing live session, pacing: the data plane beside the link),
//! `market_data.rs` (requesting the registry's subscriptions), `orders.rs` (the liveness gate,
//! placing and following orders), `pacing.rs` (IB's message rate, orders first),
//! `reconcile.rs` (settling orders after a reconnect).

mod actor;
mod conditions;
mod connection;
mod market_data;
mod orders;
mod pacing;
mod reconcile;

pub use crate::drill::Drill;
pub use actor::{GatewayActor, GatewayArgs, GatewayMessage, GatewaySnapshot, GatewayState, HeartbeatAck};
#[doc(hidden)]
pub use connection::ConnectOutcome;
pub(crate) use connection::Liveness;
