//! What the supervisor knows about each account, and how that knowledge travels.
//!
//! - `state.rs`: [`ConnectionState`], the GatewayActor's state machine, and [`transition`], the
//!   one pure function that moves it.
//! - `events.rs`: [`StatusEvent`]s, published on the [`EventPort`] to the actors that subscribe
//!   (reconnect, persistence, guard, alert).
//! - `account.rs`: [`AccountStatus`], the one status record: the board holds it, `/status`
//!   serialises it, the `ibkr_status` table stores it.
//! - `ledger.rs`: today's uptime and the loss-detection histogram per account ([`AccountMetrics`]).
//! - `board.rs`: the [`StatusBoard`] every reader shares, in memory.

mod account;
mod board;
mod events;
mod ledger;
mod state;

pub use account::AccountStatus;
pub use board::{BoardSnapshot, Meltdown, PersistenceHealth, StatusBoard};
pub use events::{EventKind, EventPort, StatusEvent};
pub use ledger::{AccountMetrics, Histogram, UptimeLedger, DETECTION_BUCKETS};
pub use state::{transition, ConnectionEvent, ConnectionState};
