//! Running the supervisor: [`run`] until a shutdown signal (or a meltdown); `--once` is
//! [`crate::once`]. The binary and the tests call the same functions.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use ibkr_supervisor_actors::settings::{Settings, SettingsError};
use ibkr_supervisor_actors::{Handle, Outcome, StartOptions, Supervision};
use std::sync::Arc;

use ibkr_supervisor_actors::persistence::{self, PersistenceReader};

use crate::http::{self, FaultPanel};

use crate::cli::RunArgs;

/// Exit code after a meltdown: non-zero so the service manager restarts the process.
pub const EXIT_MELTDOWN: u8 = 3;

impl RunArgs {
    /// Apply `--interval` and `--no-auto-reconnect` on top of the settings file.
    pub fn apply_overrides(&self, mut settings: Settings) -> Result<Settings, SettingsError> {
        if let Some(secs) = self.interval {
            if !(secs.is_finite() && (0.001..=86_400.0).contains(&secs)) {
                return Err(SettingsError::Invalid {
                    field: "--interval".into(),
                    message: format!("expected a number of seconds between 0.001 and 86400, got {secs}"),
                });
            }
            settings.heartbeat.interval = Duration::from_secs_f64(secs);
        }
        if self.no_auto_reconnect {
            settings.reconnect.auto = false;
        }
        Ok(settings)
    }
}

/// The command line's supervisor modes.
pub async fn run_cli(settings: Settings, args: RunArgs, shutdown: impl Future<Output = ()>) -> ExitCode {
    if args.once {
        return crate::once::run_once(settings).await;
    }
    let mut options = RunOptions::default();
    options.start.on_heartbeat = Some(Arc::new(crate::notify::watchdog));
    match run(settings, options, shutdown).await {
        Ok(outcome) => exit_code(&outcome),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// 0 after a requested shutdown, [`EXIT_MELTDOWN`] after a meltdown.
pub fn exit_code(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::Shutdown => ExitCode::SUCCESS,
        Outcome::Meltdown(_) => ExitCode::from(EXIT_MELTDOWN),
    }
}

/// Extras that are not settings.
#[derive(Default)]
pub struct RunOptions {
    pub start: StartOptions,
    /// Under `demo`: the fault panel the dashboard shows (the simulator's faults).
    pub demo: Option<Arc<dyn FaultPanel>>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("cannot serve HTTP on {addr}: {source} (set http.bind to a free address)")]
    HttpBind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Supervision(#[from] ibkr_supervisor_actors::SupervisionError),
}

/// The running service: the supervision tree and its HTTP surface.
pub struct Service {
    supervision: Supervision,
    http_addr: std::net::SocketAddr,
    http_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Service {
    /// Start the tree, then the HTTP server on `http.bind` (port 0 picks a free one).
    pub async fn start(settings: Settings, options: RunOptions) -> Result<Service, StartError> {
        for warning in settings.warnings() {
            tracing::warn!("{warning}");
        }
        let bind = settings.http.bind;
        let listener =
            tokio::net::TcpListener::bind(bind).await.map_err(|source| StartError::HttpBind { addr: bind, source })?;
        let http_settings = settings.http.clone();
        let accounts: Vec<String> =
            settings.accounts.iter().map(|a| format!("{} ({}:{})", a.name, a.host, a.port)).collect();
        let database = settings.database.path.clone();
        let mut start = options.start;
        let mut notes = std::collections::HashMap::new();
        // The operator's switch survives a restart: the last trading_switched event decides.
        match persistence::paused_accounts(&database) {
            Ok(paused) => {
                for (account, since) in &paused {
                    tracing::warn!(%account, %since, "trading stays paused by operator (from the database)");
                }
                start.paused.extend(paused);
            }
            // Fail closed: a switch we cannot read may have been "paused".
            Err(e) if settings.trading.start_paused_if_unknown => {
                let now = start.clock.now();
                for account in &settings.accounts {
                    tracing::error!(account = %account.name, error = %e,
                        "the trading switch history cannot be read; the account starts paused (trading.start_paused_if_unknown)");
                    start.paused.push((account.name.clone(), now));
                    let text =
                        format!("paused at startup: the switch history could not be read ({e}); activate once checked");
                    notes.insert(account.name.clone(), http::TradingNote { text, while_db_unhealthy: false });
                }
            }
            Err(e) => tracing::warn!(error = %e,
                "could not read the trading switches; every account starts active (trading.start_paused_if_unknown is false)"),
        }
        let (timezone, calendar) = (settings.timezone, ibkr_supervisor_actors::supervisor::calendar_from(&settings));
        let reauth = settings.reauth;
        let supervision = Supervision::start(settings, start).await?;
        let history: Arc<dyn http::History> =
            Arc::new(http::DbHistory::start(PersistenceReader::new(database), &supervision.handle(), timezone));
        let state = Arc::new(http::AppState {
            handle: supervision.handle(),
            http: http_settings,
            history: Some(history),
            demo: options.demo,
            version: env!("CARGO_PKG_VERSION"),
            status_cache: Default::default(),
            connections: Default::default(),
            trading_notes: std::sync::Mutex::new(notes),
            timezone,
            calendar,
            reauth,
        });
        let (http_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let http_addr = http::serve(state, listener, async move {
            let _ = stopped.await;
        })
        .await
        .map_err(|source| StartError::HttpBind { addr: bind, source })?;
        tracing::info!(accounts = %accounts.join(", "), dashboard = %format!("http://{http_addr}/trades"), "supervising");
        Ok(Service { supervision, http_addr, http_stop: Some(http_stop) })
    }

    /// Where the HTTP server listens.
    pub fn http_addr(&self) -> std::net::SocketAddr {
        self.http_addr
    }

    pub fn handle(&self) -> Handle {
        self.supervision.handle()
    }

    /// Wait until the tree stops by itself (a meltdown).
    pub async fn wait(&mut self) -> Outcome {
        self.supervision.wait().await
    }

    /// Ordered shutdown: the tree (within about 2 s), then HTTP.
    pub async fn shutdown(mut self) -> Outcome {
        let outcome = self.supervision.shutdown().await;
        if let Some(stop) = self.http_stop.take() {
            let _ = stop.send(());
        }
        outcome
    }
}

/// How long a melted-down process waits for its queued alerts before it exits.
const MELTDOWN_ALERT_GRACE: Duration = Duration::from_secs(5);

/// Supervise until `shutdown` resolves (then stop in order, within about 2 s) or the tree
/// melts down.
pub async fn run(
    settings: Settings,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<Outcome, StartError> {
    let mut service = Service::start(settings, options).await?;
    crate::notify::ready();
    let stopped = tokio::select! {
        _ = shutdown => None,
        outcome = service.wait() => Some(outcome),
    };
    Ok(match stopped {
        Some(outcome) => {
            // A meltdown exits the process: let the alerts already queued (the meltdown's
            // own among them) go out first, bounded.
            let alerts = service.handle();
            let deadline = tokio::time::Instant::now() + MELTDOWN_ALERT_GRACE;
            while alerts.alerts().queues().iter().any(|q| q.queued > 0) {
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(queues = ?alerts.alerts().queues(), "exiting with alerts still queued");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            outcome
        }
        None => {
            tracing::info!("shutting down: heartbeats stop, clients disconnect");
            crate::notify::stopping();
            service.shutdown().await
        }
    })
}
