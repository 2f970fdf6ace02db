//! Log output: human-readable by default, one JSON object per line on request; the level comes
//! from `RUST_LOG` (default `info`).

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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        _ => builder.try_init(),
    };
}
