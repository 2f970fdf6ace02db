//! `ibkr-supervisor`: keeps automated-trading connections to IB Gateway / TWS alive, and never
//! lets the trading engine act on a dead one. The supervision tree itself is the actors crate
//! ([`actors`]); `docs/architecture.md` maps both.
//!
//! ```text
//! main.rs ── cli ──▶ run (Service: the tree + HTTP) ──▶ actors::Supervision
//!                    once ──▶ GET /status of a running Service, else actors::Supervision (a check)
//!                    demo (simulated gateways + Service, a FaultPanel for the dashboard)
//!                    sim::run_standalone
//! http ──▶ actors::Handle (board, guard, tree), a History (the database), a FaultPanel (demo)
//! ```
//!
//! - [`cli`]: the command line; the binary is a thin shell over [`run_cli`], [`sim`] and [`demo`].
//! - `run.rs`: [`Service`] (the tree, then HTTP on `http.bind`), [`run`] until a signal.
//! - [`once`]: `--once`, one check of every account: the running supervisor's view when one
//!   answers on `http.bind`, else a check of its own, recorded as a check (no 'stopped').
//! - [`http`]: JSON status, the actor tree, health, metrics, history, switches, the dashboard;
//!   it does not know the simulator: the demo hands it a [`http::FaultPanel`].
//! - [`history`]: `ibkr-supervisor history`, uptime per day and outages from the database as a
//!   terminal table.
//! - [`demo`]: simulated paper and live gateways plus the supervisor, for a first look.
//! - [`sim`]: a simulated IB Gateway speaking the real TWS wire protocol (server versions
//!   157..226, text and protobuf) over a simulated market, with fault injection; the tests,
//!   benchmarks and demo run real clients against it (`ibapi`, IB's Python client, ib_async,
//!   ib_insync). `docs/tws-protocol.md`, `docs/simulator.md`.
//! - [`web`]: the protections both HTTP servers share (Host allow-list, same-origin JSON-only
//!   state changes, header/idle timeouts and a connection cap), in front of every route.
//! - [`settings`]: the validated configuration (from the actors crate).
//! - [`logging`], `shutdown.rs`, `notify.rs`: log output, the SIGINT/SIGTERM future, systemd
//!   notifications.

pub mod cli;
pub mod demo;
pub mod history;
pub mod http;
pub mod logging;
mod notify;
pub mod once;
mod run;
mod shutdown;
pub mod sim;
pub mod web;

pub use ibkr_supervisor_actors as actors;
pub use ibkr_supervisor_actors::settings;
pub use once::{once, OnceReport};
pub use run::{exit_code, run, run_cli, RunOptions, Service, StartError, EXIT_MELTDOWN};
pub use shutdown::shutdown_signal;
