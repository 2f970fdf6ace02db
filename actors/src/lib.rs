//! The supervision tree of `ibkr-supervisor`, and the pure logic it is driven by.
//!
//! ```text
//! RootSupervisor (restart intensity per child, meltdown)
//!  ├─ GatewayActor × account   owns the ibapi client and the ConnectionState; probes, notices,
//!  │                           orders and market data; reconciles orders after a reconnect
//!  ├─ GuardActor               engine orders pass only while the account is usable
//!  ├─ ReconnectActor           backoff per account, reset-window calendar, manual attempts
//!  └─ WatchdogActor            heartbeat every interval; reports stuck gateways
//! state changes ──▶ EventPort (reconnect, persistence, guard) and StatusBoard (HTTP, --once)
//! engine ── Guard::place_order / subscribe_market_data ──▶ GuardActor ──▶ GatewayActor ──▶ ibapi
//! ```
//!
//! - [`settings`]: the validated configuration; a mistake names the field.
//! - [`alert`]: the AlertActor: one webhook alert per episode, never inside a reset window.
//! - [`status`]: [`ConnectionState`] and its pure [`transition`], status events, the board.
//! - [`backoff`]: the reconnect policy as a pure state machine with a clock seam.
//! - [`calendar`]: IB's scheduled reset windows, DST-correct via chrono-tz.
//! - [`clock`]: the wall-clock seam.
//! - [`engine`]: what engines exchange with the supervisor: orders, ticks, order events, refusals.
//! - [`guard`]: the GuardActor, the engine's [`Guard`] handle and the bounded tick pump.
//! - [`gateway`], [`guard`], [`reconnect`], [`watchdog`], [`supervisor`]: one actor per file.
//! - [`directory`]: the current ref of every child (children are replaced on restart).

pub mod alert;
pub mod backoff;
pub mod calendar;
pub mod clock;
pub mod conditions;
pub mod directory;
pub mod engine;
pub mod escalation;
pub mod farms;
pub mod gateway;
pub mod guard;
pub mod ibc;
pub mod pacing;
pub mod persistence;
pub mod reauth;
pub mod reconnect;
pub mod settings;
mod smtp;
pub mod status;
pub mod supervisor;
pub mod watchdog;

pub use engine::{OrderEvent, OrderRequest, OrderSink, Refusal, Tick, TickReceiver};
pub use gateway::{Drill, GatewayActor, GatewayMessage, MarketEvent, TickSink};
pub use guard::Guard;
pub use status::{transition, AccountStatus, BoardSnapshot, ConnectionState, EventKind, StatusBoard, StatusEvent};
pub use supervisor::{ActorView, Handle, Outcome, StartOptions, Supervision, SupervisionError};
pub use watchdog::heartbeat_line;
