//! Log output: human-readable by default, one JSON object per line on request; the level comes
//! from `RUST_LOG` (default `info,ibapi=warn`). Logs go to stderr.

use ibkr_supervisor_actors::settings::LogFormat;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormatArg;

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> Self {
        match arg {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

/// Install the global subscriber (a second call is a no-op).
pub fn init(format: LogFormat) {
    // ibapi logs every notice itself at info; ours carry the account, so keep its at warn.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,ibapi=warn"));
    // stdout is for command output (the `--once` line); logs go to stderr.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        _ => builder.try_init(),
    };
}
