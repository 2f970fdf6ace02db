//! `--once`: one check of every account, for cron, a monitoring check or a worker that records
//! the status. The exit code says it all: 0 every account connected, 1 otherwise.
//!
//! ```text
//! once ──▶ daemon::ask  GET http://<http.bind>/status (ASK_WITHIN)
//!            ├─ our JSON, our accounts ──▶ the daemon's view, "(from the running supervisor at …)"
//!            └─ nothing there, or not a supervisor of these accounts (say why) ──▶ alone::check
//! alone::check  a tree with Recording::Check: connect, probe, record the observation, shut down
//! ```
//!
//! - **Beside a daemon** (`daemon.rs`): a supervisor already running on the same settings holds
//!   the gateways' client ids; a second connection would be refused (326) or fall to a fallback
//!   id. So `--once` asks its `/status` first and reports that view, without a connection of its
//!   own. A view whose last check is older than a few heartbeats is stale and fails the check.
//! - **Alone** (`alone.rs`): check and record. The tree records a check, not a run
//!   ([`Recording::Check`](crate::actors::persistence::Recording)): each account's `ibkr_status`
//!   row gets `connected` = the result, `last_checked` = now, `last_connected` = now when
//!   connected, and a `state_changed` only when the state differs from the recorded one; no
//!   'stopped' at the end and no outage at the start, so periodic checks leave `/uptime`
//!   without holes. Guarded ports are not opened.

mod alone;
mod daemon;

use std::process::ExitCode;

use ibkr_supervisor_actors::settings::Settings;
use ibkr_supervisor_actors::{AccountStatus, StartOptions};

pub use daemon::ASK_WITHIN;

/// Where a [`OnceReport`] comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// This process connected and probed every account.
    Alone,
    /// The supervisor already running on these settings, at `url`: no connection was opened.
    Daemon {
        /// Its HTTP surface, e.g. `http://127.0.0.1:8080`.
        url: String,
    },
}

/// What `--once` found.
#[derive(Debug, Clone)]
pub struct OnceReport {
    /// `Paper ✅ | Live ❌`.
    pub line: String,
    /// Every account connected (and, from a daemon, checked recently).
    pub all_connected: bool,
    /// One line per account that is not connected, with the reason.
    pub problems: Vec<String>,
    /// The accounts as found.
    pub accounts: Vec<AccountStatus>,
    /// Who checked.
    pub source: Source,
    /// Alone: whether the check is in the database (`Err` says why not); `None` from a daemon,
    /// which records its own view.
    pub recorded: Option<Result<(), String>>,
    /// Why a daemon was not asked, or not believed (e.g. "… answers, but not as
    /// ibkr-supervisor"): printed on stderr.
    pub notes: Vec<String>,
}

impl OnceReport {
    /// 0 when every account is connected, else 1.
    pub fn exit_code(&self) -> ExitCode {
        if self.all_connected {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Check every account once: through the running supervisor when one answers on `http.bind`,
/// else alone (and record the check).
pub async fn once(settings: Settings, options: StartOptions) -> OnceReport {
    let notes = match daemon::ask(&settings).await {
        daemon::Answer::View(report) => return report,
        daemon::Answer::Absent => Vec::new(),
        daemon::Answer::NotUsable(note) => vec![note],
    };
    let mut report = alone::check(settings, options).await;
    report.notes.splice(0..0, notes);
    report
}

/// `ibkr-supervisor --once`: check, print the line and the problems, exit 0 or 1.
pub async fn run_once(settings: Settings) -> ExitCode {
    let database = settings.database.path.clone();
    let report = once(settings, StartOptions::default()).await;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    println!("IBKR Heartbeat: {}", report.line);
    if let Source::Daemon { url } = &report.source {
        println!("  (from the running supervisor at {url})");
    }
    for problem in &report.problems {
        println!("  {problem}");
    }
    if let Some(Err(e)) = &report.recorded {
        eprintln!("warning: the check is not recorded in {}: {e}", database.display());
    }
    report.exit_code()
}

/// One problem line per account that is not connected.
fn problems(accounts: &[AccountStatus]) -> Vec<String> {
    accounts
        .iter()
        .filter(|a| !a.connected())
        .map(|a| {
            let reason = a.error_message.clone().unwrap_or_else(|| a.state.name().to_owned());
            format!("{}: {reason}", a.name)
        })
        .collect()
}
