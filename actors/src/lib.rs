//! The supervision tree of `ibkr-supervisor`, and the pure logic it is driven by.
//! `docs/architecture.md` follows one connection loss through all of it.
//!
//! ```text
//! RootSupervisor (supervisor/)  restart intensity per child, meltdown, ordered shutdown
//!  ├─ PersistenceActor          SQLite on its own thread: status rows, event history
//!  ├─ GatewayActor × account    owns the ibapi client and the ConnectionState; probes, notices,
//!  │                            market data, orders; reconciles orders after a reconnect
//!  ├─ AlertActor                one alert per episode (webhook, e-mail), never in a reset window;
//!  │                            one ordered delivery queue per channel
//!  ├─ GuardActor                engine orders pass only while the account is usable
//!  ├─ ProxyActor × port         guarded TWS API port: engine sessions relayed, placeOrder gated
//!  ├─ ReconnectActor            backoff per account, reset-window calendar, manual attempts
//!  ├─ EscalationActor           the IBC ladder per account: RECONNECTDATA, RECONNECTACCOUNT,
//!  │                            RESTART, the restart command (only with accounts[].ibc or one)
//!  └─ WatchdogActor             heartbeat every interval; checks every actor, reports stuck
//!                               ones; WATCHDOG=1 to systemd only when every actor answered
//! gateway ── StatusEvent ──▶ EventPort ──▶ reconnect, persistence, guard, alert
//! gateway, reconnect, watchdog ── write ──▶ StatusBoard ◀── read ── HTTP, --once, persistence,
//!                                                                 escalation ── IBC, restart command
//! engine ── Guard::place_order ──▶ GuardActor ──▶ GatewayActor ──▶ ibapi ──▶ IB Gateway
//! engine (any TWS client) ──▶ ProxyActor session ── Gates::refusal ──▶ its own upstream session
//! ```
//!
//! Each module depends only on modules above it in this list, except `directory`, the registry
//! of current refs, which names the message types of the actors it holds, and `escalation`,
//! whose pure parts (`ladder`, `outcome`) the status events name while its actor reads the
//! status board. Pure logic (no actors,
//! no I/O, time passed in) is marked *pure*.
//!
//! - [`wire`]: the TWS API framing, versions, message ids and `error` encoding, shared by the
//!   simulator and the guarded port (*pure*, plus a cancel-safe frame reader).
//! - [`clock`]: the wall-clock seam. [`calendar`]: IB's reset windows, DST-correct, and the
//!   presets per region from `config/reset-presets.json`; quiesce before a window (*pure*).
//! - [`settings`]: the validated configuration; a mistake names the field (`model`, `raw`,
//!   `scalars`, `validate`, `error`).
//! - [`drill`]: failures injected on purpose (panic, freeze) into an actor.
//! - IB's operating facts, each *pure* (wired by issue 14): [`farms`] (data-farm notices per
//!   farm), [`conditions`] (10197 competing session, 100 pacing violations), [`pacing`] (the
//!   outgoing message budget, orders first), [`reauth`] (the weekly login), [`ibc`] (IBC's
//!   command-server line protocol).
//! - [`escalation`]: the IBC ladder (`ladder`, `outcome`, `observe`: *pure*), IBC's TCP client
//!   and the restart command (`client`), what outlives an incarnation (`book`), the
//!   EscalationActor (`actor`).
//! - [`status`]: [`ConnectionState`] and its [`transition`] (*pure*), [`StatusEvent`]s, the
//!   [`AccountStatus`] record, the uptime ledger, the [`StatusBoard`].
//! - [`engine`]: what engines exchange with the supervisor: orders, ticks, market events,
//!   order events, refusals.
//! - [`backoff`]: the reconnect policy and its state machine (*pure*).
//! - [`directory`]: the current ref of every gateway, the guard and the reconnect actor.
//! - [`registry`]: each account's durable facts beside the directory — subscriptions, orders in
//!   flight behind a [`Ticket`](registry::Ticket), the connection lease — outliving any one
//!   gateway incarnation; the reconcile decision (*pure*).
//! - [`gateway`]: the GatewayActor (`actor`, `connection`, `market_data`, `orders`, `reconcile`).
//! - [`guard`]: the GuardActor, its gates and counters, the tick pump, the engine's [`Guard`].
//! - [`proxy`]: the guarded TWS API port per account (ProxyActor, sessions, what is read of a
//!   frame, the 201 answer, counters): engines in any language trade through the guard.
//! - [`reconnect`], [`watchdog`]: one actor per file.
//! - [`alert`]: the AlertActor (`actor`), its rules (`rules`, `limit`: *pure*), one ordered
//!   delivery queue per channel (`queue`: *pure*; `outbox`: its task), what outlives an
//!   incarnation (`counters`), the channels (`channel`, `smtp` sends the e-mails).
//! - [`persistence`]: the PersistenceActor (`schema`, `rows`, `read`, `uptime`, `writer`, `actor`).
//! - [`supervisor`]: the [`RootSupervisor`](supervisor::RootSupervisor), and [`Supervision`] /
//!   [`Handle`], what a program holds on the running tree (`/actors` in `tree`).

pub mod alert;
pub mod backoff;
pub mod calendar;
pub mod clock;
pub mod conditions;
pub mod directory;
pub mod drill;
pub mod engine;
pub mod escalation;
pub mod farms;
pub mod gateway;
pub mod guard;
pub mod ibc;
pub mod pacing;
pub mod persistence;
pub mod proxy;
pub mod reauth;
pub mod reconnect;
pub mod registry;
pub mod settings;
pub mod status;
pub mod supervisor;
pub mod watchdog;
pub mod wire;

pub use drill::Drill;
pub use engine::{MarketEvent, OrderEvent, OrderRequest, OrderSink, Refusal, Tick, TickReceiver, TickSink};
pub use gateway::{GatewayActor, GatewayMessage};
pub use guard::Guard;
pub use status::{transition, AccountStatus, BoardSnapshot, ConnectionState, EventKind, StatusBoard, StatusEvent};
pub use supervisor::{ActorView, Handle, Outcome, StartOptions, Supervision, SupervisionError};
pub use watchdog::heartbeat_line;
