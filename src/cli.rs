//! The command line: `ibkr-supervisor [run flags] | sim … | demo … | history …`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Keeps automated-trading connections to IB Gateway / TWS alive, and never lets the trading
/// engine act on a dead one.
#[derive(Debug, Parser)]
#[command(name = "ibkr-supervisor", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Flags of the supervisor itself (the default command).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Settings file (JSON).
    #[arg(long, value_name = "PATH", default_value = "config/settings.json", global = true)]
    pub config: PathBuf,

    /// Heartbeat interval in seconds (overrides heartbeat.interval; fractions allowed).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub interval: Option<f64>,

    /// Track connection status but make no automatic reconnect attempts.
    #[arg(long)]
    pub no_auto_reconnect: bool,

    /// Check every account once, print the heartbeat line, exit 0 if all are connected: the
    /// running supervisor's view when one answers on http.bind, else connect, probe and record
    /// the check in the database.
    #[arg(long)]
    pub once: bool,

    /// Validate the settings file, print a summary, and exit (0 valid, 2 invalid).
    #[arg(long)]
    pub check_config: bool,

    /// Log format: text (default from settings) or json.
    #[arg(long, value_name = "FORMAT", global = true)]
    pub log_format: Option<LogFormatArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a standalone simulated IB Gateway (one listener per --listen/--account pair).
    Sim(SimArgs),
    /// Start simulated paper and live gateways on free loopback ports and the supervisor
    /// pointed at them; print the URLs.
    Demo(DemoArgs),
    /// Print each account's uptime per day and its outages from the database (database.path
    /// of --config), as a table, in the trading time zone.
    History(HistoryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Days to show, today included.
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub days: u32,

    /// Only this account.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Address to listen on, e.g. 127.0.0.1:4002 (repeat with --account for more listeners).
    #[arg(long = "listen", value_name = "ADDR", required = true)]
    pub listen: Vec<SocketAddr>,

    /// Account served by the matching --listen, e.g. DU1234567.
    #[arg(long = "account", value_name = "ID", required = true)]
    pub account: Vec<String>,

    /// Address of the HTTP control API (GET /sim/state, POST /sim/fault, POST /sim/price).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7462")]
    pub control: SocketAddr,

    /// Delay before an accepted order fills, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub fill_delay_ms: u64,

    /// Interval between market-data quote rounds, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    pub tick_interval_ms: u64,

    /// Seed for prices and sizes (random when absent).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Emulate IBC's command server for the matching --listen (in order; "none" skips one),
    /// e.g. 127.0.0.1:7463.
    #[arg(long = "ibc", value_name = "ADDR|none")]
    pub ibc: Vec<IbcAddr>,

    /// How long IBC's RESTART keeps the simulated gateway down, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub ibc_restart_ms: u64,
}

/// `--ibc`: an address, or `none` for a listener without IBC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IbcAddr(pub Option<SocketAddr>);

impl std::str::FromStr for IbcAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("none") {
            return Ok(IbcAddr(None));
        }
        s.parse()
            .map(|a| IbcAddr(Some(a)))
            .map_err(|e| format!("{s:?} is not an address such as 127.0.0.1:7463 or none: {e}"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Port of the supervisor's HTTP server (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub http_port: u16,

    /// Port of the simulator's control API (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 7462)]
    pub control_port: u16,

    /// Guarded TWS API port of the paper account; the live account's is one below (IB's
    /// 4002/4001 shifted by 100). 0 picks free ones.
    #[arg(long, value_name = "PORT", default_value_t = 4102)]
    pub proxy_port: u16,

    /// Database file for the demo (a temporary directory when absent).
    #[arg(long, value_name = "PATH")]
    pub database: Option<PathBuf>,
}
