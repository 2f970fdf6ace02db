//! Escalation through IBC: mending a gateway that does not mend itself, without a login.
//!
//! A market-data farm broken for `reconnect_data_after` gets IBC's `RECONNECTDATA`; IB's
//! upstream lost (1100) for `reconnect_account_after` gets `RECONNECTACCOUNT`; an API dead
//! (attempts failing on stalled handshakes, half-open sockets or refusals) for `restart_after`
//! gets `RESTART`; still dead `restart_command_after` later, the configured `restart_command`
//! runs (e.g. `["docker", "restart", "ib-gateway"]`), killed at `restart_command_timeout`.
//! Each rung fires at most once per `min_interval`, never inside a reset window, never
//! anything that needs a second factor (no `STOP`; no restart while the weekly login is due);
//! each firing is published as an [`EventKind::Escalation`](crate::EventKind::Escalation)
//! (once when fired, once with its [`Outcome`]), stored with the other events, alerted
//! ([`AlertKind::Escalation`](crate::alert::AlertKind::Escalation)), shown on `/status`
//! (`accounts[].escalation`), the dashboard and `/metrics` (`ibkr_escalations_total`).
//!
//! The parts: `ladder` (the [`Ladder`] state machine, its rules and defaults: *pure*),
//! `outcome` (what a rung came to, [`Outcome`]: *pure*), `observe` (the [`Observation`] read
//! off an account's status: *pure*), `client` (IBC's command server over TCP, and the restart command: one bounded
//! call each), `book` (the [`EscalationBook`], what outlives an incarnation), `actor` (the
//! [`EscalationActor`]).

mod actor;
mod book;
mod client;
mod ladder;
mod observe;
mod outcome;

pub use actor::{
    EscalationActor, EscalationArgs, EscalationMessage, EscalationSnapshot, EscalationState, IBC_COMMAND_TIMEOUT,
};
pub use book::{EscalationBook, Firing, LadderView};
pub use client::{run_restart_command, send_command, STDERR_TAIL};
pub use ladder::{
    EscalationConfig, IdleReason, Ladder, LadderSnapshot, Observation, Problem, Rung, Step, WaitReason,
    DEFAULT_MIN_INTERVAL, DEFAULT_RECONNECT_ACCOUNT_AFTER, DEFAULT_RECONNECT_DATA_AFTER, DEFAULT_RESTART_AFTER,
    DEFAULT_RESTART_COMMAND_AFTER,
};
pub use observe::observe;
pub use outcome::Outcome;
