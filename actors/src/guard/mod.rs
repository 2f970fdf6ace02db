//! `GuardActor`: the only way engine orders reach a gateway. It lets an order through only
//! while that account's connection is usable (connected, not degraded, not in a reset window,
//! not paused, no meltdown) and answers every refused order at once with the reason; nothing
//! is dropped silently and nothing is queued to fire after a reconnect.
//!
//! The guard decides from the last *published* state (status events), with no I/O on its
//! path; the GatewayActor checks its own state again before placing, so an order racing a
//! disconnect is still refused by the owner of the fact.
//!
//! Ticks do not pass through the guard's mailbox, so a tick flood cannot starve orders: they
//! go through a bounded queue drained by a pump task that applies the same gate. Beyond the
//! queue's bound ticks are shed and counted; memory stays bounded.
//!
//! The parts: `actor.rs` (the GuardActor), `gates.rs` (what it knows per account, and the
//! reason it refuses), `counters.rs` (what passed, was refused, skipped or shed), `ticks.rs`
//! (the bounded tick queue and its pump), `handle.rs` (the engine's [`Guard`]).

use std::time::Duration;

mod actor;
mod counters;
mod gates;
mod handle;
mod ticks;

pub use actor::{GuardActor, GuardArgs, GuardMessage, GuardSnapshot, GuardState};
pub use counters::{AccountCounters, GuardCounts, GuardStats};
pub use gates::{read as read_gates, GateSnapshot, Gates, SharedGates};
pub use handle::Guard;
pub use ticks::{tick_pump, TickQueue};

/// Ticks waiting for the pump, at most; beyond it they are shed.
pub const TICK_QUEUE: usize = 4096;
/// At most one "ticks skipped" warning per account per this interval.
const SKIP_WARN_EVERY: Duration = Duration::from_secs(5);
