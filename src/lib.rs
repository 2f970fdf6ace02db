//! `ibkr-supervisor`: keeps automated-trading connections to IB Gateway / TWS alive, and never
//! lets the trading engine act on a dead one.
//!
//! - [`sim`]: a simulated IB Gateway speaking the real TWS wire protocol (server versions
//!   157..226, text and protobuf) over a simulated market, with fault injection; the tests,
//!   benchmarks and demo run real clients against it (`ibapi`, IB's Python client, ib_async).
//! - [`settings`]: the validated configuration (from the actors crate).
//! - [`cli`]: the command line; the binary is a thin shell over [`run_cli`], [`sim`] and [`demo`].
//! - [`demo`]: simulated paper and live gateways plus the supervisor, for a first look.
//! - [`http`]: JSON status, actor tree, health, metrics, history, switches, the dashboard.
//! - `logging`, `shutdown`, `notify`: log output, the SIGINT/SIGTERM future, systemd notifications.

pub mod cli;
pub mod demo;
pub mod http;
pub mod logging;
mod notify;
mod run;
mod shutdown;
pub mod sim;

pub use ibkr_supervisor_actors as actors;
pub use ibkr_supervisor_actors::settings;
pub use run::{exit_code, once, run, run_cli, OnceReport, RunOptions, Service, StartError, EXIT_MELTDOWN};
pub use shutdown::shutdown_signal;
