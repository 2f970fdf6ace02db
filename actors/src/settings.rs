//! The validated configuration of `ibkr-supervisor`.
//!
//! Settings live in a JSON file (by default `config/settings.json`). Loading happens in two
//! steps:
//!
//! 1. **Parsing** into a private "raw" layer of `#[serde(deny_unknown_fields)]` structs, run
//!    through [`serde_path_to_error`] so that every error names the offending key by its full
//!    path (`accounts[1].port`, `heartbeat.interval`, ...). Scalar values are checked while they
//!    are parsed: durations are [`humantime`] strings (`"5s"`, `"250ms"`, `"1h 30m"`), time
//!    zones are IANA names checked against [`chrono_tz`], ports must be 1-65535, and so on.
//! 2. **Validation** of the rules that span several values (unique account names, distinct
//!    fallback client ids, an HTTP token when the API is reachable from other machines, ...).
//!
//! Either way a mistake becomes a [`SettingsError`] whose message has the form
//! `"{field}: {message}"`, says what was expected and what was given, for example:
//!
//! ```text
//! heartbeat.interval: expected a duration such as "5s" or "250ms", got "5 parsecs"
//! timezone: 'Sydney' is not an IANA time zone name; use e.g. 'Australia/Sydney'
//! accounts[1].name: duplicate account name "Paper"; account names must be unique
//! accounts[0].port: expected a TCP port 1-65535, got 70000
//! accounts[0].colour: unknown key; expected one of: name, paper_trading, host, ...
//! ```
//!
//! # The file
//!
//! Only `accounts` is required; every other key is optional and takes the default shown:
//!
//! ```json
//! {
//!   "accounts": [
//!     { "name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002,
//!       "client_id": 1, "fallback_client_ids": [11, 21] }
//!   ],
//!   "heartbeat": { "interval": "5s", "probe_timeout": "2s", "connect_timeout": "5s" },
//!   "reconnect": { "auto": true, "schedule": ["1s", "2s", "5s", "15s"], "jitter": 0.1,
//!                  "manual_min_interval": "2s" },
//!   "reset_time": "23:45",
//!   "timezone": "America/New_York",
//!   "reset_duration": "1h",
//!   "reset_windows": [ { "weekday": "sun", "time": "01:00", "duration": "30m" } ],
//!   "http": { "bind": "127.0.0.1:8080", "token": null },
//!   "database": { "path": "ibkr_supervisor.db", "event_log": null },
//!   "alerts": { "webhook_url": null },
//!   "supervisor": { "max_restarts": 5, "restart_window": "60s" },
//!   "logging": { "format": "text" }
//! }
//! ```
//!
//! See the field documentation of [`Settings`] and the section structs for the meaning and
//! the rules of each key.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Minimum length of [`HttpSettings::token`].
pub const MIN_TOKEN_LEN: usize = 16;

/// The smallest duration accepted where a duration must be positive.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// A reset window (daily or extra) must be shorter than this.
pub const MAX_RESET_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

// ---------------------------------------------------------------------------------------------
// Public, typed settings
// ---------------------------------------------------------------------------------------------

/// The complete, validated configuration of the supervisor.
///
/// Obtain it with [`Settings::load`] (a file) or [`Settings::from_json_str`] (a string); both
/// parse *and* validate, so a `Settings` value always satisfies the rules documented on its
/// fields. [`Settings::default`] gives the defaults with two accounts, "Paper" and "Live".
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The IB Gateway / TWS connections to supervise (JSON key `accounts`, required).
    ///
    /// Never empty; names are non-empty and unique, compared case-insensitively.
    pub accounts: Vec<AccountSettings>,
    /// How liveness of each connection is probed (JSON key `heartbeat`).
    pub heartbeat: HeartbeatSettings,
    /// How lost connections are re-established (JSON key `reconnect`).
    pub reconnect: ReconnectSettings,
    /// Local start time of IB's daily reset window in [`Settings::timezone`] (JSON key
    /// `reset_time`, `"HH:MM"`, default `"23:45"`); `None` (JSON `null`) disables the daily
    /// window.
    pub reset_time: Option<NaiveTime>,
    /// IANA time zone of [`Settings::reset_time`], and the default zone of the
    /// [`Settings::reset_windows`] (JSON key `timezone`, default `"America/New_York"`).
    pub timezone: Tz,
    /// Length of the daily reset window (JSON key `reset_duration`, default `"1h"`);
    /// at least 1ms and shorter than 24h.
    pub reset_duration: Duration,
    /// Extra reset windows, e.g. IB's weekly weekend maintenance (JSON key `reset_windows`,
    /// default empty).
    pub reset_windows: Vec<ResetWindowSettings>,
    /// The HTTP API (JSON key `http`).
    pub http: HttpSettings,
    /// Persistence (JSON key `database`).
    pub database: DatabaseSettings,
    /// Outbound alerts (JSON key `alerts`).
    pub alerts: AlertSettings,
    /// Restart limits of the supervision tree (JSON key `supervisor`).
    pub supervisor: SupervisorSettings,
    /// Log output (JSON key `logging`).
    pub logging: LoggingSettings,
}

/// One IB Gateway / TWS connection (an element of the JSON `accounts` list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    /// Name used in the API, logs and alerts (`name`, required, non-empty, unique
    /// case-insensitively). Leading and trailing whitespace is removed.
    pub name: String,
    /// Whether this is a paper-trading account (`paper_trading`, required).
    pub paper_trading: bool,
    /// Host name or IP of the gateway (`host`, required, non-empty).
    pub host: String,
    /// TCP port of the gateway API (`port`, required, 1-65535). IB's defaults are 4002
    /// (Gateway, paper), 4001 (Gateway, live), 7497 (TWS, paper) and 7496 (TWS, live).
    pub port: u16,
    /// The API client id to connect with (`client_id`, required, >= 0).
    pub client_id: i32,
    /// Client ids to try, in order, when `client_id` is still held by a stale session
    /// (`fallback_client_ids`, default empty). Each >= 0, all distinct, none equal to
    /// `client_id`.
    pub fallback_client_ids: Vec<i32>,
}

impl AccountSettings {
    /// `host:port`, as used to connect.
    pub fn address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            // A bare IPv6 address.
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `client_id` followed by the `fallback_client_ids`: every id that may be used, in order.
    pub fn client_ids(&self) -> impl Iterator<Item = i32> + '_ {
        std::iter::once(self.client_id).chain(self.fallback_client_ids.iter().copied())
    }
}

/// Liveness probing (JSON section `heartbeat`). Every duration is at least 1ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatSettings {
    /// Time between two probes of a connection (`interval`, default `"5s"`).
    pub interval: Duration,
    /// How long a probe may take before the connection is considered dead (`probe_timeout`,
    /// default `"2s"`). It should be below `interval` so that probes do not overlap; this is
    /// not enforced, but reported by [`Settings::warnings`].
    pub probe_timeout: Duration,
    /// How long a connection attempt may take (`connect_timeout`, default `"5s"`).
    pub connect_timeout: Duration,
}

impl Default for HeartbeatSettings {
    fn default() -> Self {
        HeartbeatSettings {
            interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Reconnection policy (JSON section `reconnect`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectSettings {
    /// Whether lost connections are re-established automatically (`auto`, default `true`);
    /// when `false`, only manual reconnects (via the API) are made.
    pub auto: bool,
    /// Delays before the successive attempts (`schedule`, default `["1s","2s","5s","15s"]`);
    /// the last step repeats. Non-empty, every step at least 1ms.
    pub schedule: Vec<Duration>,
    /// Random spread applied to each delay, as a fraction of it (`jitter`, default `0.1`,
    /// i.e. ±10%); in `[0.0, 1.0)`.
    pub jitter: f64,
    /// Minimum time between two manual reconnect requests for one account
    /// (`manual_min_interval`, default `"2s"`); `"0s"` disables the limit.
    pub manual_min_interval: Duration,
}

impl Default for ReconnectSettings {
    fn default() -> Self {
        ReconnectSettings {
            auto: true,
            schedule: [1, 2, 5, 15].into_iter().map(Duration::from_secs).collect(),
            jitter: 0.1,
            manual_min_interval: Duration::from_secs(2),
        }
    }
}

/// An extra scheduled reset window (an element of the JSON `reset_windows` list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetWindowSettings {
    /// Day of the week the window starts on (`weekday`: `"mon"`..`"sun"` or full English
    /// names, case-insensitive); `None` (key absent or `null`) means every day.
    pub weekday: Option<Weekday>,
    /// Local start time (`time`, `"HH:MM"`, 24-hour, required).
    pub time: NaiveTime,
    /// Length of the window (`duration`, required); at least 1ms and shorter than 24h.
    pub duration: Duration,
    /// Zone of `time` (`timezone`, IANA name); defaults to [`Settings::timezone`].
    pub timezone: Tz,
}

/// The HTTP API (JSON section `http`).
///
/// `Debug` never prints the token, only whether one is set.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Address to listen on (`bind`, default `"127.0.0.1:8080"`).
    pub bind: SocketAddr,
    /// Bearer token required by the API (`token`, optional). At least
    /// [`MIN_TOKEN_LEN`] characters when set, and required when `bind` is not a loopback
    /// address.
    pub token: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080), token: None }
    }
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Persistence (JSON section `database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// SQLite database file (`path`, default `"ibkr_supervisor.db"`, non-empty).
    pub path: PathBuf,
    /// Optional JSON-lines file that mirrors every recorded event (`event_log`).
    pub event_log: Option<PathBuf>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings { path: PathBuf::from("ibkr_supervisor.db"), event_log: None }
    }
}

/// Outbound alerts (JSON section `alerts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// URL that alerts are POSTed to (`webhook_url`, optional); must start with `http://`
    /// or `https://`.
    pub webhook_url: Option<String>,
    /// Waits before the retries of an alert the receiver did not take (`retry`, default
    /// `["1s","5s","15s","60s"]`); after the last one the alert is given up and logged.
    pub retry: Vec<Duration>,
    /// At most this many alerts per minute over all accounts (`max_per_minute`, default 20);
    /// beyond it alerts are dropped and counted.
    pub max_per_minute: u32,
    /// E-mail alerts too (`smtp`, optional), under the same rules.
    pub smtp: Option<SmtpSettings>,
}

/// E-mail alerts (JSON section `alerts.smtp`): STARTTLS is used when the server offers it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Mail server (`host`, required).
    pub host: String,
    /// Its port (`port`, default 587).
    pub port: u16,
    /// Sender address (`from`, required).
    pub from: String,
    /// Recipients (`to`, required, at least one).
    pub to: Vec<String>,
    /// AUTH PLAIN credentials (`username`, `password`, optional); never logged.
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            webhook_url: None,
            retry: [1, 5, 15, 60].into_iter().map(Duration::from_secs).collect(),
            max_per_minute: 20,
            smtp: None,
        }
    }
}

/// Restart limits of the supervision tree (JSON section `supervisor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorSettings {
    /// How many times a failed actor is restarted within `restart_window` before the
    /// failure escalates (`max_restarts`, default `5`, >= 1).
    pub max_restarts: u32,
    /// The sliding window the restarts are counted in (`restart_window`, default `"60s"`,
    /// at least 1ms).
    pub restart_window: Duration,
    /// How much longer than `heartbeat.probe_timeout` an actor may take to answer a heartbeat
    /// before it is declared stuck and restarted (`stuck_margin`, default `"1s"`, at least 1ms).
    pub stuck_margin: Duration,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        SupervisorSettings {
            max_restarts: 5,
            restart_window: Duration::from_secs(60),
            stuck_margin: Duration::from_secs(1),
        }
    }
}

/// Log output (JSON section `logging`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoggingSettings {
    /// Output format (`format`, `"text"` or `"json"`, default `"text"`).
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (JSON `"text"`).
    #[default]
    Text,
    /// One JSON object per line (JSON `"json"`).
    Json,
}

impl Default for Settings {
    /// The defaults, with two local IB Gateway accounts: "Paper" (port 4002, client id 1,
    /// fallbacks 11 and 21) and "Live" (port 4001, client id 2, fallbacks 12 and 22).
    fn default() -> Self {
        let account = |name: &str, paper_trading, port, client_id, fallbacks: [i32; 2]| AccountSettings {
            name: name.to_owned(),
            paper_trading,
            host: "127.0.0.1".to_owned(),
            port,
            client_id,
            fallback_client_ids: fallbacks.to_vec(),
        };
        Settings {
            accounts: vec![account("Paper", true, 4002, 1, [11, 21]), account("Live", false, 4001, 2, [12, 22])],
            heartbeat: HeartbeatSettings::default(),
            reconnect: ReconnectSettings::default(),
            reset_time: Some(default_reset_time()),
            timezone: DEFAULT_TIMEZONE,
            reset_duration: DEFAULT_RESET_DURATION,
            reset_windows: Vec::new(),
            http: HttpSettings::default(),
            database: DatabaseSettings::default(),
            alerts: AlertSettings::default(),
            supervisor: SupervisorSettings::default(),
            logging: LoggingSettings::default(),
        }
    }
}

const DEFAULT_TIMEZONE: Tz = Tz::America__New_York;
const DEFAULT_RESET_DURATION: Duration = Duration::from_secs(60 * 60);

fn default_reset_time() -> NaiveTime {
    NaiveTime::from_hms_opt(23, 45, 0).expect("23:45 is a valid time")
}

impl Settings {
    /// Reads, parses and validates the JSON settings file at `path`.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Io`] if the file cannot be read; otherwise as for
    /// [`Settings::from_json_str`].
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let json =
            std::fs::read_to_string(path).map_err(|source| SettingsError::Io { path: path.to_path_buf(), source })?;
        Settings::from_json_str(&json)
    }

    /// Parses and validates settings from a JSON document.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Malformed`] if the text is not a JSON object, otherwise
    /// [`SettingsError::Invalid`] naming the first offending key.
    pub fn from_json_str(json: &str) -> Result<Settings, SettingsError> {
        // Editors on Windows like to start files with a byte order mark; JSON does not allow it.
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        check_top_level_object(json)?;
        let mut de = serde_json::Deserializer::from_str(json);
        let raw: RawSettings = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            from_serde(&path, e.into_inner())
        })?;
        // Trailing characters after the object.
        de.end().map_err(|e| from_serde(".", e))?;
        raw.validate()
    }

    /// The account called `name`, compared case-insensitively (as uniqueness is).
    pub fn account(&self, name: &str) -> Option<&AccountSettings> {
        let wanted = name.trim().to_lowercase();
        self.accounts.iter().find(|a| a.name.to_lowercase() == wanted)
    }

    /// Legal but suspicious settings, one human-readable line each, in the same
    /// `"{field}: {message}"` form as errors; worth logging at start-up.
    ///
    /// Reported: a `heartbeat.probe_timeout` not below `heartbeat.interval`, and an account
    /// whose `paper_trading` flag contradicts IB's default port for the other mode (e.g. a
    /// live account on 4002).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.heartbeat.probe_timeout >= self.heartbeat.interval {
            warnings.push(format!(
                "heartbeat.probe_timeout: {} is not below heartbeat.interval ({}); probes may overlap",
                humantime::format_duration(self.heartbeat.probe_timeout),
                humantime::format_duration(self.heartbeat.interval),
            ));
        }
        for (i, account) in self.accounts.iter().enumerate() {
            let mismatch = match (account.paper_trading, account.port) {
                (false, 4002) => Some("IB Gateway's default paper-trading port"),
                (false, 7497) => Some("TWS's default paper-trading port"),
                (true, 4001) => Some("IB Gateway's default live-trading port"),
                (true, 7496) => Some("TWS's default live-trading port"),
                _ => None,
            };
            if let Some(what) = mismatch {
                warnings.push(format!(
                    "accounts[{i}].port: {} is {what}, but paper_trading is {}",
                    account.port, account.paper_trading
                ));
            }
        }
        warnings
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why settings could not be loaded.
///
/// `Display` gives one actionable line: which file or field, what is expected, what was
/// given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read config file \"{}\": {}", path.display(), io_message(source))]
    Io {
        /// The file that was to be read.
        path: PathBuf,
        /// Why it could not be.
        source: io::Error,
    },
    /// The document is not valid JSON, or not a JSON object.
    #[error("config is not a valid JSON settings object: {message} at line {line}, column {column}")]
    Malformed {
        /// What is wrong, e.g. "trailing comma".
        message: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// A key is unknown, missing, or has a value that is not allowed.
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the offending key, e.g. `accounts[1].port` or `heartbeat.interval`.
        field: String,
        /// What is expected and what was given.
        message: String,
    },
}

impl SettingsError {
    /// The path of the offending key (e.g. `accounts[1].port`), if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            SettingsError::Invalid { field, .. } => Some(field),
            SettingsError::Io { .. } | SettingsError::Malformed { .. } => None,
        }
    }

    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError::Invalid { field: field.into(), message: message.into() }
    }
}

/// `io::Error`'s message without the " (os error 2)" suffix.
fn io_message(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    }
}

/// Rejects a document whose first token is not `{`, with a clearer message than serde's
/// (which would e.g. accept a JSON array as a positional struct, then complain about its length).
fn check_top_level_object(json: &str) -> Result<(), SettingsError> {
    let Some(start) = json.find(|c: char| !c.is_whitespace()) else {
        return Err(SettingsError::Malformed {
            message: "the document is empty; expected a JSON object such as \
                      {\"accounts\": [...]}"
                .to_owned(),
            line: json.lines().count().max(1),
            column: 1,
        });
    };
    if json[start..].starts_with('{') {
        return Ok(());
    }
    let before = &json[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let found: String = json[start..].chars().take(10).collect();
    Err(SettingsError::Malformed {
        message: format!("expected a JSON object such as {{\"accounts\": [...]}} at top level, got {found:?}"),
        line,
        column,
    })
}

/// Converts a serde error found at `path` (`"."` for the root) into a [`SettingsError`].
fn from_serde(path: &str, inner: serde_json::Error) -> SettingsError {
    let path = if path == "." { "" } else { path };

    // serde_json appends " at line L column C"; the path says where, so drop it.
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();

    if !matches!(inner.classify(), serde_json::error::Category::Data) {
        return SettingsError::Malformed { message, line: inner.line(), column: inner.column() };
    }

    // serde_path_to_error already includes an unknown key in the path; a missing one not.
    let join = |key: &str| {
        if path == key || path.ends_with(&format!(".{key}")) {
            path.to_owned()
        } else if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };

    if let Some((key, rest)) = backticked(&message, "unknown field `") {
        let expected = rest
            .trim_start_matches(", ")
            .replace('`', "")
            .replace("expected one of ", "expected one of: ")
            .replace("expected ", "expected: ")
            .replace("expected: one of: ", "expected one of: ");
        let field = join(key);
        let place = if field.contains(['.', '[']) { "" } else { " at top level" };
        let message = if expected.is_empty() || expected.starts_with("there are no fields") {
            format!("unknown key{place}; no keys are allowed here")
        } else {
            format!("unknown key{place}; {expected}")
        };
        return SettingsError::invalid(field, message);
    }
    if let Some((key, _)) = backticked(&message, "missing field `") {
        return SettingsError::invalid(join(key), "required key is missing");
    }
    if let Some((key, _)) = backticked(&message, "duplicate field `") {
        return SettingsError::invalid(join(key), "key is given more than once");
    }
    if path.is_empty() {
        return SettingsError::Malformed { message, line: inner.line(), column: inner.column() };
    }
    SettingsError::invalid(path, message)
}

/// For `"<prefix>name`rest"`, returns `("name", "rest")`.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let after = message.strip_prefix(prefix)?;
    let end = after.find('`')?;
    Some((&after[..end], &after[end + 1..]))
}

// ---------------------------------------------------------------------------------------------
// Raw serde layer
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object of settings")]
struct RawSettings {
    accounts: Vec<RawAccount>,
    #[serde(default)]
    heartbeat: RawHeartbeat,
    #[serde(default)]
    reconnect: RawReconnect,
    #[serde(default = "raw_default_reset_time")]
    reset_time: Option<Clock>,
    #[serde(default)]
    timezone: Zone,
    #[serde(default = "raw_default_reset_duration")]
    reset_duration: Dur,
    #[serde(default)]
    reset_windows: Vec<RawResetWindow>,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    alerts: RawAlerts,
    #[serde(default)]
    supervisor: RawSupervisor,
    #[serde(default)]
    logging: RawLogging,
}

fn raw_default_reset_time() -> Option<Clock> {
    Some(Clock(default_reset_time()))
}

fn raw_default_reset_duration() -> Dur {
    Dur::from(DEFAULT_RESET_DURATION)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an account object")]
struct RawAccount {
    name: String,
    paper_trading: bool,
    host: String,
    port: Port,
    client_id: ClientId,
    #[serde(default)]
    fallback_client_ids: Vec<ClientId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a heartbeat object")]
struct RawHeartbeat {
    interval: Dur,
    probe_timeout: Dur,
    connect_timeout: Dur,
}

impl Default for RawHeartbeat {
    fn default() -> Self {
        let d = HeartbeatSettings::default();
        RawHeartbeat {
            interval: d.interval.into(),
            probe_timeout: d.probe_timeout.into(),
            connect_timeout: d.connect_timeout.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a reconnect object")]
struct RawReconnect {
    auto: bool,
    schedule: Vec<Dur>,
    jitter: Fraction,
    manual_min_interval: ZeroOkDur,
}

impl Default for RawReconnect {
    fn default() -> Self {
        let d = ReconnectSettings::default();
        RawReconnect {
            auto: d.auto,
            schedule: d.schedule.into_iter().map(Dur::from).collect(),
            jitter: Fraction(d.jitter),
            manual_min_interval: ZeroOkDur(d.manual_min_interval),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a reset window object")]
struct RawResetWindow {
    #[serde(default)]
    weekday: Option<Day>,
    time: Clock,
    duration: Dur,
    #[serde(default)]
    timezone: Option<Zone>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "an http object")]
struct RawHttp {
    bind: Bind,
    token: Option<String>,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp { bind: Bind(HttpSettings::default().bind), token: None }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a database object")]
struct RawDatabase {
    path: PathBuf,
    event_log: Option<PathBuf>,
}

impl Default for RawDatabase {
    fn default() -> Self {
        let d = DatabaseSettings::default();
        RawDatabase { path: d.path, event_log: d.event_log }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "an alerts object")]
struct RawAlerts {
    webhook_url: Option<String>,
    retry: Vec<Dur>,
    max_per_minute: Count,
    smtp: Option<RawSmtp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an smtp object")]
struct RawSmtp {
    host: String,
    #[serde(default = "default_smtp_port")]
    port: u16,
    from: String,
    to: Vec<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

impl Default for RawAlerts {
    fn default() -> Self {
        let d = AlertSettings::default();
        RawAlerts {
            webhook_url: d.webhook_url,
            retry: d.retry.into_iter().map(Dur::from).collect(),
            max_per_minute: Count(d.max_per_minute),
            smtp: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a supervisor object")]
struct RawSupervisor {
    max_restarts: Count,
    restart_window: Dur,
    stuck_margin: Dur,
}

impl Default for RawSupervisor {
    fn default() -> Self {
        let d = SupervisorSettings::default();
        RawSupervisor {
            max_restarts: Count(d.max_restarts),
            restart_window: d.restart_window.into(),
            stuck_margin: d.stuck_margin.into(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a logging object")]
struct RawLogging {
    format: LogFormat,
}

// --- Scalar newtypes: each checks its value while parsing, so serde_path_to_error names it.

/// A humantime duration of at least [`MIN_DURATION`]; keeps the text for later messages.
struct Dur {
    value: Duration,
    text: String,
}

impl From<Duration> for Dur {
    fn from(value: Duration) -> Self {
        Dur { value, text: humantime::format_duration(value).to_string() }
    }
}

const DURATION_EXPECTED: &str = "a duration such as \"5s\" or \"250ms\"";

fn parse_duration<E: de::Error>(text: &str) -> Result<Duration, E> {
    humantime::parse_duration(text.trim()).map_err(|_| E::custom(format!("expected {DURATION_EXPECTED}, got {text:?}")))
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{DURATION_EXPECTED}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Err(E::custom(format!("expected {DURATION_EXPECTED} (a string with a unit), got the number {v}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Err(E::custom(format!("expected {DURATION_EXPECTED} (a string with a unit), got the number {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Err(E::custom(format!("expected {DURATION_EXPECTED} (a string with a unit), got the number {v}")))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(DurationVisitor)?;
        let value = parse_duration::<D::Error>(&text)?;
        if value < MIN_DURATION {
            return Err(de::Error::custom(format!("expected a duration of at least 1ms, got {text:?}")));
        }
        Ok(Dur { value, text })
    }
}

/// A humantime duration that may be zero.
struct ZeroOkDur(Duration);

impl<'de> Deserialize<'de> for ZeroOkDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(DurationVisitor)?;
        parse_duration::<D::Error>(&text).map(ZeroOkDur)
    }
}

/// An IANA time zone name.
struct Zone(Tz);

impl Default for Zone {
    fn default() -> Self {
        Zone(DEFAULT_TIMEZONE)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = expect_string(d, "an IANA time zone name such as \"America/New_York\"")?;
        parse_timezone(&text).map(Zone).map_err(de::Error::custom)
    }
}

/// Parses an IANA zone name; the error suggests the closest real name.
fn parse_timezone(text: &str) -> Result<Tz, String> {
    if let Ok(tz) = Tz::from_str(text) {
        return Ok(tz);
    }
    let wanted = text.trim().replace(' ', "_").to_lowercase();
    let suggestion =
        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).find(|name| name.to_lowercase() == wanted).or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| tz.name())
                .filter(|name| name.contains('/'))
                .find(|name| name.rsplit('/').next().map(str::to_lowercase) == Some(wanted.clone()))
        });
    Err(match suggestion {
        Some(name) => format!("'{text}' is not an IANA time zone name; use e.g. '{name}'"),
        None => format!("'{text}' is not an IANA time zone name; use e.g. 'America/New_York'"),
    })
}

/// A time of day, `"HH:MM"`.
struct Clock(NaiveTime);

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a 24-hour time \"HH:MM\" such as \"23:45\"";
        let text = expect_string(d, EXPECTED)?;
        parse_clock(&text).map(Clock).ok_or_else(|| de::Error::custom(format!("expected {EXPECTED}, got {text:?}")))
    }
}

fn parse_clock(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// A day of the week.
struct Day(Weekday);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a weekday such as \"sun\" or \"Sunday\"";
        let text = expect_string(d, EXPECTED)?;
        parse_weekday(&text).map(Day).ok_or_else(|| de::Error::custom(format!("expected {EXPECTED}, got {text:?}")))
    }
}

/// `"mon"`..`"sun"` or `"monday"`..`"sunday"`, case-insensitive.
fn parse_weekday(text: &str) -> Option<Weekday> {
    const DAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    let text = text.trim().to_lowercase();
    DAYS.iter().find(|(full, _)| text == *full || text == full[..3]).map(|(_, day)| *day)
}

/// A socket address, `"IP:port"`.
struct Bind(SocketAddr);

impl<'de> Deserialize<'de> for Bind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "an IP:port address such as \"127.0.0.1:8080\" or \"[::1]:8080\"";
        let text = expect_string(d, EXPECTED)?;
        SocketAddr::from_str(text.trim())
            .map(Bind)
            .map_err(|_| de::Error::custom(format!("expected {EXPECTED}, got {text:?}")))
    }
}

/// An integer in `lo..=hi`, from any JSON number; the message names the range.
struct RangeVisitor {
    what: &'static str,
    lo: i64,
    hi: i64,
}

impl RangeVisitor {
    fn out_of_range<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format!("expected {} {}-{}, got {got}", self.what, self.lo, self.hi))
    }
}

impl<'de> Visitor<'de> for RangeVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {}-{}", self.what, self.lo, self.hi)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if (self.lo..=self.hi).contains(&v) {
            Ok(v)
        } else {
            Err(self.out_of_range(v))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(self.out_of_range(v)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        Err(self.out_of_range(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        Err(self.out_of_range(format_args!("the string {v:?} (write it without quotes)")))
    }
}

/// A fraction in `[0.0, 1.0)`.
struct Fraction(f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FractionVisitor;

        impl<'de> Visitor<'de> for FractionVisitor {
            type Value = f64;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(FRACTION_EXPECTED)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                if (0.0..1.0).contains(&v) {
                    Ok(v)
                } else {
                    Err(E::custom(format!("expected {FRACTION_EXPECTED}, got {v}")))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                self.visit_f64(v as f64)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                self.visit_f64(v as f64)
            }
        }

        d.deserialize_any(FractionVisitor).map(Fraction)
    }
}

const FRACTION_EXPECTED: &str = "a fraction from 0.0 (no jitter) up to but excluding 1.0, e.g. 0.1";

/// A TCP port, 1-65535.
struct Port(u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(RangeVisitor { what: "a TCP port", lo: 1, hi: i64::from(u16::MAX) })?;
        Ok(Port(u16::try_from(v).expect("range checked")))
    }
}

/// An IB API client id, 0-2147483647.
#[derive(Clone, Copy)]
struct ClientId(i32);

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(RangeVisitor { what: "a client id", lo: 0, hi: i64::from(i32::MAX) })?;
        Ok(ClientId(i32::try_from(v).expect("range checked")))
    }
}

/// A count, 1-4294967295.
struct Count(u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(RangeVisitor { what: "an integer", lo: 1, hi: i64::from(u32::MAX) })?;
        Ok(Count(u32::try_from(v).expect("range checked")))
    }
}

/// Deserializes a string; anything else is reported as "expected {what}, got ...".
fn expect_string<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<String, D::Error> {
    struct StringVisitor(&'static str);

    impl<'de> Visitor<'de> for StringVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }

    d.deserialize_str(StringVisitor(what))
}

// ---------------------------------------------------------------------------------------------
// Validation: rules across values, then conversion to the public types
// ---------------------------------------------------------------------------------------------

impl RawSettings {
    fn validate(self) -> Result<Settings, SettingsError> {
        let accounts = validate_accounts(self.accounts)?;

        let reconnect = self.reconnect;
        if reconnect.schedule.is_empty() {
            return Err(SettingsError::invalid(
                "reconnect.schedule",
                "expected at least one delay such as [\"1s\", \"5s\"], got an empty list",
            ));
        }
        check_reset_duration("reset_duration", &self.reset_duration)?;
        let timezone = self.timezone.0;
        let mut reset_windows = Vec::with_capacity(self.reset_windows.len());
        for (i, w) in self.reset_windows.into_iter().enumerate() {
            check_reset_duration(&format!("reset_windows[{i}].duration"), &w.duration)?;
            reset_windows.push(ResetWindowSettings {
                weekday: w.weekday.map(|d| d.0),
                time: w.time.0,
                duration: w.duration.value,
                timezone: w.timezone.map_or(timezone, |z| z.0),
            });
        }

        let http = HttpSettings { bind: self.http.bind.0, token: self.http.token };
        validate_http(&http)?;

        if self.database.path.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "database.path",
                "expected a file path such as \"ibkr_supervisor.db\", got an empty string",
            ));
        }
        if self.database.event_log.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(SettingsError::invalid(
                "database.event_log",
                "expected a file path such as \"events.jsonl\" (or null to disable), got an empty string",
            ));
        }

        if let Some(url) = &self.alerts.webhook_url {
            let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|rest| rest.trim().is_empty()) {
                return Err(SettingsError::invalid(
                    "alerts.webhook_url",
                    format!(
                        "expected an http:// or https:// URL such as \"https://hooks.example.com/ibkr\", got {url:?}"
                    ),
                ));
            }
        }

        Ok(Settings {
            accounts,
            heartbeat: HeartbeatSettings {
                interval: self.heartbeat.interval.value,
                probe_timeout: self.heartbeat.probe_timeout.value,
                connect_timeout: self.heartbeat.connect_timeout.value,
            },
            reconnect: ReconnectSettings {
                auto: reconnect.auto,
                schedule: reconnect.schedule.into_iter().map(|d| d.value).collect(),
                jitter: reconnect.jitter.0,
                manual_min_interval: reconnect.manual_min_interval.0,
            },
            reset_time: self.reset_time.map(|c| c.0),
            timezone,
            reset_duration: self.reset_duration.value,
            reset_windows,
            http,
            database: DatabaseSettings { path: self.database.path, event_log: self.database.event_log },
            alerts: AlertSettings {
                webhook_url: self.alerts.webhook_url,
                retry: self.alerts.retry.into_iter().map(|d| d.value).collect(),
                max_per_minute: self.alerts.max_per_minute.0,
                smtp: match self.alerts.smtp {
                    None => None,
                    Some(smtp) => {
                        let invalid = |field: &str, message: &str| SettingsError::Invalid {
                            field: format!("alerts.smtp.{field}"),
                            message: message.to_owned(),
                        };
                        if smtp.host.trim().is_empty() {
                            return Err(invalid("host", "expected the mail server's host name, got an empty string"));
                        }
                        if smtp.port == 0 {
                            return Err(invalid("port", "expected a TCP port 1-65535, got 0"));
                        }
                        if !smtp.from.contains('@') {
                            return Err(invalid("from", "expected an e-mail address such as alerts@example.com"));
                        }
                        if smtp.to.is_empty() || smtp.to.iter().any(|t| !t.contains('@')) {
                            return Err(invalid(
                                "to",
                                "expected a list of e-mail addresses such as [\"me@example.com\"]",
                            ));
                        }
                        Some(SmtpSettings {
                            host: smtp.host.trim().to_owned(),
                            port: smtp.port,
                            from: smtp.from,
                            to: smtp.to,
                            username: smtp.username,
                            password: smtp.password,
                        })
                    }
                },
            },
            supervisor: SupervisorSettings {
                max_restarts: self.supervisor.max_restarts.0,
                restart_window: self.supervisor.restart_window.value,
                stuck_margin: self.supervisor.stuck_margin.value,
            },
            logging: LoggingSettings { format: self.logging.format },
        })
    }
}

fn validate_accounts(raw: Vec<RawAccount>) -> Result<Vec<AccountSettings>, SettingsError> {
    if raw.is_empty() {
        return Err(SettingsError::invalid("accounts", "expected at least one account, got an empty list"));
    }
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    let mut accounts = Vec::with_capacity(raw.len());
    for (i, a) in raw.into_iter().enumerate() {
        let name = a.name.trim().to_owned();
        if name.is_empty() {
            return Err(SettingsError::invalid(
                format!("accounts[{i}].name"),
                "expected a non-empty account name such as \"Paper\", got an empty string",
            ));
        }
        if let Some((first, first_name)) = seen.get(&name.to_lowercase()) {
            let also =
                if *first_name == name { String::new() } else { format!(" (same as {first_name:?} ignoring case)") };
            return Err(SettingsError::invalid(
                format!("accounts[{i}].name"),
                format!(
                    "duplicate account name {name:?}{also}; account names must be unique \
                     (already used by accounts[{first}])"
                ),
            ));
        }
        seen.insert(name.to_lowercase(), (i, name.clone()));

        let host = a.host.trim().to_owned();
        if host.is_empty() {
            return Err(SettingsError::invalid(
                format!("accounts[{i}].host"),
                "expected a non-empty host name or IP such as \"127.0.0.1\", got an empty string",
            ));
        }

        let client_id = a.client_id.0;
        let mut fallback_client_ids = Vec::with_capacity(a.fallback_client_ids.len());
        for (j, id) in a.fallback_client_ids.iter().map(|id| id.0).enumerate() {
            let field = format!("accounts[{i}].fallback_client_ids[{j}]");
            if id == client_id {
                return Err(SettingsError::invalid(
                    field,
                    format!(
                        "fallback client id {id} equals accounts[{i}].client_id; \
                         fallbacks must differ from the client id"
                    ),
                ));
            }
            if let Some(k) = fallback_client_ids.iter().position(|&other| other == id) {
                return Err(SettingsError::invalid(
                    field,
                    format!(
                        "duplicate fallback client id {id} (already at \
                         fallback_client_ids[{k}]); fallback client ids must be distinct"
                    ),
                ));
            }
            fallback_client_ids.push(id);
        }

        accounts.push(AccountSettings {
            name,
            paper_trading: a.paper_trading,
            host,
            port: a.port.0,
            client_id,
            fallback_client_ids,
        });
    }
    Ok(accounts)
}

fn check_reset_duration(field: &str, d: &Dur) -> Result<(), SettingsError> {
    if d.value >= MAX_RESET_DURATION {
        return Err(SettingsError::invalid(field, format!("expected a duration shorter than 24h, got {:?}", d.text)));
    }
    Ok(())
}

fn validate_http(http: &HttpSettings) -> Result<(), SettingsError> {
    let token = http.token.as_deref();
    if let Some(token) = token {
        let len = token.chars().count();
        if len < MIN_TOKEN_LEN {
            return Err(SettingsError::invalid(
                "http.token",
                format!(
                    "expected a token of at least {MIN_TOKEN_LEN} characters, got {len} \
                     (use a long random string)"
                ),
            ));
        }
    } else if !http.bind.ip().is_loopback() {
        return Err(SettingsError::invalid(
            "http.token",
            format!(
                "a token of at least {MIN_TOKEN_LEN} characters is required because http.bind \
                 ({}) is not a loopback address; set http.token or bind to 127.0.0.1",
                http.bind
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/settings.json");

    /// A minimal valid document with `extra` spliced in at top level.
    fn doc(extra: &str) -> String {
        let sep = if extra.is_empty() { "" } else { "," };
        format!(
            r#"{{"accounts": [
                {{"name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002, "client_id": 1}}
            ]{sep}{extra}}}"#
        )
    }

    fn account(fields: &str) -> String {
        format!(r#"{{"accounts": [{{{fields}}}]}}"#)
    }

    const ACCOUNT: &str =
        r#""name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002, "client_id": 1"#;

    #[track_caller]
    fn err(json: &str) -> SettingsError {
        match Settings::from_json_str(json) {
            Ok(s) => panic!("expected an error, got {s:#?}"),
            Err(e) => e,
        }
    }

    /// Asserts the error names `field` and its message contains every one of `words`.
    #[track_caller]
    fn rejects(json: &str, field: &str, words: &[&str]) {
        let e = err(json);
        assert_eq!(e.field(), Some(field), "wrong field in: {e}");
        let text = e.to_string();
        assert!(text.starts_with(&format!("{field}: ")), "{text}");
        for w in words {
            assert!(text.contains(w), "{text:?} should contain {w:?}");
        }
    }

    #[test]
    fn defaults() {
        let s = Settings::default();
        assert_eq!(s.accounts.len(), 2);
        assert_eq!(s.accounts[0].name, "Paper");
        assert!(s.accounts[0].paper_trading);
        assert_eq!(s.accounts[0].address(), "127.0.0.1:4002");
        assert_eq!(s.accounts[0].client_ids().collect::<Vec<_>>(), [1, 11, 21]);
        assert_eq!(s.accounts[1].name, "Live");
        assert!(!s.accounts[1].paper_trading);
        assert_eq!(s.accounts[1].port, 4001);
        assert_eq!(s.accounts[1].fallback_client_ids, [12, 22]);
        assert_eq!(s.heartbeat.interval, Duration::from_secs(5));
        assert_eq!(s.heartbeat.probe_timeout, Duration::from_secs(2));
        assert_eq!(s.heartbeat.connect_timeout, Duration::from_secs(5));
        assert!(s.reconnect.auto);
        assert_eq!(s.reconnect.schedule, [1, 2, 5, 15].map(Duration::from_secs).to_vec());
        assert_eq!(s.reconnect.jitter, 0.1);
        assert_eq!(s.reconnect.manual_min_interval, Duration::from_secs(2));
        assert_eq!(s.reset_time, NaiveTime::from_hms_opt(23, 45, 0));
        assert_eq!(s.timezone, Tz::America__New_York);
        assert_eq!(s.reset_duration, Duration::from_secs(3600));
        assert!(s.reset_windows.is_empty());
        assert_eq!(s.http.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.http.token, None);
        assert_eq!(s.database.path, PathBuf::from("ibkr_supervisor.db"));
        assert_eq!(s.database.event_log, None);
        assert_eq!(s.alerts.webhook_url, None);
        assert_eq!(s.supervisor.max_restarts, 5);
        assert_eq!(s.supervisor.restart_window, Duration::from_secs(60));
        assert_eq!(s.logging.format, LogFormat::Text);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    }

    #[test]
    fn omitted_sections_take_the_defaults() {
        let s = Settings::from_json_str(&doc("")).unwrap();
        let d = Settings::default();
        let paper = AccountSettings { fallback_client_ids: Vec::new(), ..d.accounts[0].clone() };
        assert_eq!(s.accounts, [paper]);
        assert_eq!(Settings { accounts: d.accounts.clone(), ..s }, d);

        // Empty sections too.
        let s = Settings::from_json_str(&doc(
            r#""heartbeat": {}, "reconnect": {}, "http": {}, "database": {}, "alerts": {},
               "supervisor": {}, "logging": {}"#,
        ))
        .unwrap();
        assert_eq!(Settings { accounts: d.accounts.clone(), ..s }, d);
    }

    #[test]
    fn shipped_config_loads_and_equals_the_defaults() {
        let s = Settings::load(Path::new(SHIPPED)).unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    }

    #[test]
    fn full_document_parses() {
        let s = Settings::from_json_str(&doc(
            r#""heartbeat": {"interval": "250ms", "probe_timeout": "100ms", "connect_timeout": "1m 30s"},
               "reconnect": {"auto": false, "schedule": ["500ms", "2s"], "jitter": 0, "manual_min_interval": "0s"},
               "reset_time": null, "timezone": "Europe/London", "reset_duration": "45m",
               "reset_windows": [
                   {"weekday": "SUN", "time": "01:00", "duration": "30m"},
                   {"time": "5:30", "duration": "2h", "timezone": "Asia/Hong_Kong"}
               ],
               "http": {"bind": "0.0.0.0:9000", "token": "0123456789abcdef"},
               "database": {"path": "/var/lib/x.db", "event_log": "events.jsonl"},
               "alerts": {"webhook_url": "https://hooks.example.com/x"},
               "supervisor": {"max_restarts": 1, "restart_window": "10m"},
               "logging": {"format": "json"}"#,
        ))
        .unwrap();
        assert_eq!(s.heartbeat.interval, Duration::from_millis(250));
        assert_eq!(s.heartbeat.probe_timeout, Duration::from_millis(100));
        assert_eq!(s.heartbeat.connect_timeout, Duration::from_secs(90));
        assert!(!s.reconnect.auto);
        assert_eq!(s.reconnect.schedule, [Duration::from_millis(500), Duration::from_secs(2)]);
        assert_eq!(s.reconnect.jitter, 0.0);
        assert_eq!(s.reconnect.manual_min_interval, Duration::ZERO);
        assert_eq!(s.reset_time, None);
        assert_eq!(s.timezone, Tz::Europe__London);
        assert_eq!(s.reset_duration, Duration::from_secs(45 * 60));
        assert_eq!(
            s.reset_windows,
            [
                ResetWindowSettings {
                    weekday: Some(Weekday::Sun),
                    time: NaiveTime::from_hms_opt(1, 0, 0).unwrap(),
                    duration: Duration::from_secs(1800),
                    timezone: Tz::Europe__London, // inherited
                },
                ResetWindowSettings {
                    weekday: None,
                    time: NaiveTime::from_hms_opt(5, 30, 0).unwrap(),
                    duration: Duration::from_secs(7200),
                    timezone: Tz::Asia__Hong_Kong,
                },
            ]
        );
        assert_eq!(s.http.bind, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(s.http.token.as_deref(), Some("0123456789abcdef"));
        assert_eq!(s.database.path, PathBuf::from("/var/lib/x.db"));
        assert_eq!(s.database.event_log, Some(PathBuf::from("events.jsonl")));
        assert_eq!(s.alerts.webhook_url.as_deref(), Some("https://hooks.example.com/x"));
        assert_eq!(s.supervisor.max_restarts, 1);
        assert_eq!(s.supervisor.restart_window, Duration::from_secs(600));
        assert_eq!(s.logging.format, LogFormat::Json);
    }

    #[test]
    fn missing_file() {
        let e = Settings::load(Path::new("definitely/not/here.json")).unwrap_err();
        assert!(matches!(e, SettingsError::Io { .. }));
        assert_eq!(e.field(), None);
        assert_eq!(e.to_string(), "cannot read config file \"definitely/not/here.json\": No such file or directory");
    }

    #[test]
    fn malformed_json() {
        let e = err(r#"{"accounts": [}"#);
        assert!(matches!(e, SettingsError::Malformed { line: 1, .. }), "{e:?}");
        assert_eq!(e.field(), None);
        let e = err(&format!("{} trailing", doc("")));
        assert!(matches!(e, SettingsError::Malformed { .. }), "{e:?}");
        let e = err("\n  [1, 2]");
        assert!(matches!(e, SettingsError::Malformed { line: 2, column: 3, .. }), "{e:?}");
        assert!(e.to_string().contains("expected a JSON object"), "{e}");
        let e = err(" \n ");
        assert!(e.to_string().contains("the document is empty"), "{e}");
        // A byte order mark is tolerated.
        assert!(Settings::from_json_str(&format!("\u{feff}{}", doc(""))).is_ok());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_path() {
        let e = err(&doc(r#""colour": "red""#));
        assert_eq!(e.field(), Some("colour"));
        let text = e.to_string();
        assert!(text.starts_with("colour: unknown key at top level; expected one of: accounts, heartbeat,"), "{text}");

        rejects(
            &account(&format!(r#"{ACCOUNT}, "colour": "red""#)),
            "accounts[0].colour",
            &["unknown key", "paper_trading", "fallback_client_ids"],
        );
        rejects(&doc(r#""heartbeat": {"intervall": "5s"}"#), "heartbeat.intervall", &["interval"]);
        rejects(&doc(r#""reconnect": {"backoff": []}"#), "reconnect.backoff", &["schedule"]);
        rejects(
            &doc(r#""reset_windows": [{"time": "01:00", "duration": "1h", "day": "sun"}]"#),
            "reset_windows[0].day",
            &["weekday"],
        );
        rejects(&doc(r#""http": {"port": 80}"#), "http.port", &["bind", "token"]);
        rejects(&doc(r#""database": {"file": "x"}"#), "database.file", &["path"]);
        rejects(&doc(r#""alerts": {"slack": "x"}"#), "alerts.slack", &["webhook_url"]);
        rejects(&doc(r#""supervisor": {"restarts": 1}"#), "supervisor.restarts", &["max_restarts"]);
        rejects(&doc(r#""logging": {"level": "info"}"#), "logging.level", &["format"]);
    }

    #[test]
    fn missing_and_duplicate_keys() {
        rejects("{}", "accounts", &["required key is missing"]);
        rejects(
            &account(r#""name": "Paper", "paper_trading": true, "host": "h", "client_id": 1"#),
            "accounts[0].port",
            &["required"],
        );
        rejects(
            &doc(r#""heartbeat": {"interval": "5s", "interval": "6s"}"#),
            "heartbeat.interval",
            &["more than once"],
        );
    }

    #[test]
    fn accounts_rules() {
        rejects(r#"{"accounts": []}"#, "accounts", &["at least one account"]);
        rejects(
            &account(r#""name": " ", "paper_trading": true, "host": "h", "port": 1, "client_id": 1"#),
            "accounts[0].name",
            &["non-empty"],
        );
        let dup = |second: &str| {
            format!(
                r#"{{"accounts": [
                    {{{ACCOUNT}}},
                    {{"name": "{second}", "paper_trading": false, "host": "h", "port": 4001, "client_id": 2}}
                ]}}"#
            )
        };
        let e = err(&dup("Paper"));
        assert_eq!(e.field(), Some("accounts[1].name"));
        assert!(
            e.to_string()
                .starts_with("accounts[1].name: duplicate account name \"Paper\"; account names must be unique"),
            "{e}"
        );
        rejects(&dup("pAPER"), "accounts[1].name", &["duplicate", "ignoring case"]);
        assert!(Settings::from_json_str(&dup("Live")).is_ok());

        rejects(
            &account(r#""name": "A", "paper_trading": true, "host": "", "port": 1, "client_id": 1"#),
            "accounts[0].host",
            &["non-empty", "empty string"],
        );
        rejects(
            &account(r#""name": "A", "paper_trading": "yes", "host": "h", "port": 1, "client_id": 1"#),
            "accounts[0].paper_trading",
            &["boolean"],
        );
    }

    #[test]
    fn ports() {
        let with_port = |p: &str| {
            account(&format!(r#""name": "A", "paper_trading": true, "host": "h", "port": {p}, "client_id": 1"#))
        };
        let e = err(&with_port("70000"));
        assert_eq!(e.to_string(), "accounts[0].port: expected a TCP port 1-65535, got 70000");
        let e = err(&with_port("0"));
        assert_eq!(e.to_string(), "accounts[0].port: expected a TCP port 1-65535, got 0");
        rejects(&with_port("-1"), "accounts[0].port", &["1-65535", "got -1"]);
        rejects(&with_port("4002.5"), "accounts[0].port", &["1-65535", "4002.5"]);
        rejects(&with_port("\"4002\""), "accounts[0].port", &["1-65535", "the string \"4002\""]);
        rejects(&with_port("99999999999999999999"), "accounts[0].port", &["1-65535"]);
        let s = Settings::from_json_str(&with_port("65535")).unwrap();
        assert_eq!(s.accounts[0].port, 65535);
        assert_eq!(Settings::from_json_str(&with_port("1")).unwrap().accounts[0].port, 1);

        // Second account: the index is in the path.
        let e = err(&format!(
            r#"{{"accounts": [{{{ACCOUNT}}}, {{"name": "B", "paper_trading": true, "host": "h", "port": 0, "client_id": 2}}]}}"#
        ));
        assert_eq!(e.field(), Some("accounts[1].port"));
    }

    #[test]
    fn client_ids() {
        let with =
            |ids: &str| account(&format!(r#""name": "A", "paper_trading": true, "host": "h", "port": 1, {ids}"#));
        rejects(&with(r#""client_id": -1"#), "accounts[0].client_id", &["0-2147483647", "got -1"]);
        rejects(&with(r#""client_id": 2147483648"#), "accounts[0].client_id", &["got 2147483648"]);
        assert_eq!(Settings::from_json_str(&with(r#""client_id": 0"#)).unwrap().accounts[0].client_id, 0);
        rejects(
            &with(r#""client_id": 1, "fallback_client_ids": [2, -3]"#),
            "accounts[0].fallback_client_ids[1]",
            &["got -3"],
        );
        rejects(
            &with(r#""client_id": 1, "fallback_client_ids": [2, 3, 2]"#),
            "accounts[0].fallback_client_ids[2]",
            &["duplicate fallback client id 2", "fallback_client_ids[0]"],
        );
        rejects(
            &with(r#""client_id": 1, "fallback_client_ids": [2, 1]"#),
            "accounts[0].fallback_client_ids[1]",
            &["equals accounts[0].client_id"],
        );
        let s = Settings::from_json_str(&with(r#""client_id": 1, "fallback_client_ids": [2, 0]"#)).unwrap();
        assert_eq!(s.accounts[0].fallback_client_ids, [2, 0]);
    }

    #[test]
    fn durations() {
        let e = err(&doc(r#""heartbeat": {"interval": "5 parsecs"}"#));
        assert_eq!(
            e.to_string(),
            r#"heartbeat.interval: expected a duration such as "5s" or "250ms", got "5 parsecs""#
        );
        rejects(&doc(r#""heartbeat": {"probe_timeout": 5}"#), "heartbeat.probe_timeout", &["got the number 5"]);
        rejects(
            &doc(r#""heartbeat": {"connect_timeout": "0s"}"#),
            "heartbeat.connect_timeout",
            &["at least 1ms", "\"0s\""],
        );
        rejects(&doc(r#""heartbeat": {"interval": "500us"}"#), "heartbeat.interval", &["at least 1ms"]);
        rejects(&doc(r#""heartbeat": {"interval": "5"}"#), "heartbeat.interval", &["\"5s\""]);
        rejects(&doc(r#""heartbeat": {"interval": null}"#), "heartbeat.interval", &["duration"]);
        rejects(&doc(r#""supervisor": {"restart_window": "0ms"}"#), "supervisor.restart_window", &["at least 1ms"]);
        rejects(
            &doc(r#""reconnect": {"manual_min_interval": "soon"}"#),
            "reconnect.manual_min_interval",
            &["\"soon\""],
        );

        for (text, expected) in [
            ("250ms", Duration::from_millis(250)),
            ("1ms", Duration::from_millis(1)),
            ("2s", Duration::from_secs(2)),
            ("1m30s", Duration::from_secs(90)),
            ("1h 30m", Duration::from_secs(5400)),
            (" 3s ", Duration::from_secs(3)),
        ] {
            let s = Settings::from_json_str(&doc(&format!(r#""heartbeat": {{"interval": "{text}"}}"#)))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.heartbeat.interval, expected, "{text}");
        }

        // probe_timeout >= interval is allowed, but warned about.
        let s = Settings::from_json_str(&doc(r#""heartbeat": {"interval": "1s", "probe_timeout": "2s"}"#)).unwrap();
        let w = s.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("heartbeat.probe_timeout: "), "{w:?}");
    }

    #[test]
    fn reconnect_rules() {
        rejects(&doc(r#""reconnect": {"schedule": []}"#), "reconnect.schedule", &["at least one"]);
        rejects(&doc(r#""reconnect": {"schedule": ["1s", "0s"]}"#), "reconnect.schedule[1]", &["at least 1ms"]);
        rejects(
            &doc(r#""reconnect": {"schedule": ["1s", "two seconds"]}"#),
            "reconnect.schedule[1]",
            &["\"two seconds\""],
        );
        rejects(&doc(r#""reconnect": {"jitter": 1.0}"#), "reconnect.jitter", &["got 1"]);
        rejects(&doc(r#""reconnect": {"jitter": -0.1}"#), "reconnect.jitter", &["got -0.1"]);
        rejects(&doc(r#""reconnect": {"jitter": "x"}"#), "reconnect.jitter", &["fraction"]);
        rejects(&doc(r#""reconnect": {"auto": "true"}"#), "reconnect.auto", &["boolean"]);
        let s = Settings::from_json_str(&doc(r#""reconnect": {"jitter": 0.99}"#)).unwrap();
        assert_eq!(s.reconnect.jitter, 0.99);
    }

    #[test]
    fn timezones() {
        let e = err(&doc(r#""timezone": "Sydney""#));
        assert_eq!(e.to_string(), "timezone: 'Sydney' is not an IANA time zone name; use e.g. 'Australia/Sydney'");
        rejects(&doc(r#""timezone": "new york""#), "timezone", &["'America/New_York'"]);
        rejects(&doc(r#""timezone": "Mars/Olympus""#), "timezone", &["'Mars/Olympus'", "'America/New_York'"]);
        rejects(&doc(r#""timezone": 5"#), "timezone", &["IANA time zone name"]);
        rejects(
            &doc(r#""reset_windows": [{"time": "01:00", "duration": "1h", "timezone": "EST5"}]"#),
            "reset_windows[0].timezone",
            &["not an IANA time zone name"],
        );
        let s = Settings::from_json_str(&doc(r#""timezone": "UTC""#)).unwrap();
        assert_eq!(s.timezone, Tz::UTC);
    }

    #[test]
    fn reset_rules() {
        rejects(&doc(r#""reset_time": "11pm""#), "reset_time", &["\"HH:MM\"", "\"11pm\""]);
        rejects(&doc(r#""reset_time": "24:00""#), "reset_time", &["\"24:00\""]);
        rejects(&doc(r#""reset_time": "23:45:00""#), "reset_time", &["HH:MM"]);
        rejects(&doc(r#""reset_time": "23:5""#), "reset_time", &["HH:MM"]);
        rejects(&doc(r#""reset_duration": "24h""#), "reset_duration", &["shorter than 24h", "\"24h\""]);
        rejects(&doc(r#""reset_duration": "0s""#), "reset_duration", &["at least 1ms"]);
        rejects(
            &doc(r#""reset_windows": [{"time": "01:00", "duration": "1day"}]"#),
            "reset_windows[0].duration",
            &["shorter than 24h"],
        );
        rejects(&doc(r#""reset_windows": [{"duration": "1h"}]"#), "reset_windows[0].time", &["required"]);
        let s = Settings::from_json_str(&doc(r#""reset_time": "00:00", "reset_duration": "23h 59m""#)).unwrap();
        assert_eq!(s.reset_time, NaiveTime::from_hms_opt(0, 0, 0));
    }

    #[test]
    fn weekdays() {
        for (text, day) in [
            ("mon", Weekday::Mon),
            ("Tue", Weekday::Tue),
            ("WEDNESDAY", Weekday::Wed),
            ("thursday", Weekday::Thu),
            ("fri", Weekday::Fri),
            ("Saturday", Weekday::Sat),
            ("sun", Weekday::Sun),
        ] {
            assert_eq!(parse_weekday(text), Some(day), "{text}");
            let s = Settings::from_json_str(&doc(&format!(
                r#""reset_windows": [{{"weekday": "{text}", "time": "01:00", "duration": "1h"}}]"#
            )))
            .unwrap();
            assert_eq!(s.reset_windows[0].weekday, Some(day));
        }
        for bad in ["", "su", "sund", "funday", "7"] {
            assert_eq!(parse_weekday(bad), None, "{bad}");
        }
        rejects(
            &doc(r#""reset_windows": [{"weekday": "funday", "time": "01:00", "duration": "1h"}]"#),
            "reset_windows[0].weekday",
            &["\"sun\"", "\"funday\""],
        );
        let s =
            Settings::from_json_str(&doc(r#""reset_windows": [{"weekday": null, "time": "01:00", "duration": "1h"}]"#))
                .unwrap();
        assert_eq!(s.reset_windows[0].weekday, None);
    }

    #[test]
    fn http_rules() {
        rejects(&doc(r#""http": {"bind": "0.0.0.0:8080"}"#), "http.token", &["required", "0.0.0.0:8080"]);
        rejects(&doc(r#""http": {"bind": "[::]:8080"}"#), "http.token", &["required"]);
        rejects(&doc(r#""http": {"bind": "0.0.0.0:8080", "token": "short"}"#), "http.token", &["at least 16", "got 5"]);
        rejects(&doc(r#""http": {"token": "short"}"#), "http.token", &["at least 16"]);
        rejects(&doc(r#""http": {"bind": "localhost:8080"}"#), "http.bind", &["IP:port", "\"localhost:8080\""]);
        rejects(&doc(r#""http": {"bind": "127.0.0.1"}"#), "http.bind", &["IP:port"]);
        let s = Settings::from_json_str(&doc(r#""http": {"bind": "[::1]:9090"}"#)).unwrap();
        assert!(s.http.bind.ip().is_loopback());
        let s =
            Settings::from_json_str(&doc(r#""http": {"bind": "0.0.0.0:8080", "token": "0123456789abcdef"}"#)).unwrap();
        assert_eq!(s.http.bind.port(), 8080);
    }

    #[test]
    fn http_debug_hides_the_token() {
        let http =
            HttpSettings { bind: "0.0.0.0:8080".parse().unwrap(), token: Some("super-secret-token-123".to_owned()) };
        let shown = format!("{http:?} {http:#?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        let settings = Settings { http, ..Settings::default() };
        assert!(!format!("{settings:?}").contains("super-secret"));
        assert!(format!("{:?}", HttpSettings::default()).contains("None"));
    }

    #[test]
    fn database_alerts_supervisor_logging_rules() {
        rejects(&doc(r#""database": {"path": ""}"#), "database.path", &["empty"]);
        rejects(&doc(r#""database": {"event_log": ""}"#), "database.event_log", &["empty"]);
        rejects(
            &doc(r#""alerts": {"webhook_url": "hooks.example.com"}"#),
            "alerts.webhook_url",
            &["http://", "https://", "\"hooks.example.com\""],
        );
        rejects(&doc(r#""alerts": {"webhook_url": "https://"}"#), "alerts.webhook_url", &["https://"]);
        assert!(Settings::from_json_str(&doc(r#""alerts": {"webhook_url": "http://h/x"}"#)).is_ok());
        rejects(&doc(r#""supervisor": {"max_restarts": 0}"#), "supervisor.max_restarts", &["got 0"]);
        rejects(&doc(r#""supervisor": {"max_restarts": -2}"#), "supervisor.max_restarts", &["got -2"]);
        rejects(&doc(r#""logging": {"format": "xml"}"#), "logging.format", &["text", "json", "xml"]);
    }

    #[test]
    fn account_lookup_is_case_insensitive() {
        let s = Settings::default();
        assert_eq!(s.account("Paper").unwrap().port, 4002);
        assert_eq!(s.account("live").unwrap().port, 4001);
        assert!(s.account("Other").is_none());
    }

    #[test]
    fn port_mode_mismatch_is_warned_about() {
        let s = Settings::from_json_str(&account(
            r#""name": "Live", "paper_trading": false, "host": "h", "port": 4002, "client_id": 1"#,
        ))
        .unwrap();
        let w = s.warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("accounts[0].port: 4002"), "{w:?}");
    }
}
