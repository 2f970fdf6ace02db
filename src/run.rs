//! Running the supervisor from the command line.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use ibkr_supervisor_actors::settings::{Settings, SettingsError};

use crate::cli::RunArgs;

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

/// Run the supervisor with `settings` until `shutdown` (or once, with `--once`).
pub async fn run_cli(settings: Settings, args: RunArgs, shutdown: impl Future<Output = ()>) -> ExitCode {
    let _ = (settings, args, shutdown);
    eprintln!("error: the supervision tree is not built yet");
    ExitCode::FAILURE
}
