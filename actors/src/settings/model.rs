//! The public, typed settings: what a validated [`Settings`] value holds, and the defaults.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

use super::proxy::ProxySettings;

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
    /// The send path's liveness gate (JSON key `orders`).
    pub orders: OrderSettings,
    /// How fast the gateway actor writes requests to each gateway, orders first (JSON key
    /// `pacing`): `max_messages_per_second` (default 45, at most IB's 50), `order_reserve` (the
    /// share only orders and probes may use, default 5, less than the rate) and `cool_down`
    /// (how long other requests pause after IB answers 100, default `"1s"`); see
    /// [`crate::pacing`].
    pub pacing: crate::pacing::PacingConfig,
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
    /// IB's published reset schedule of a region (JSON key `reset_preset`, default none), e.g.
    /// `"ib-north-america"`, `"ib-europe"`, `"ib-asia"` (`config/reset-presets.json`): its
    /// daily and weekend windows in their own time zones, added to `reset_time` and
    /// `reset_windows`.
    pub reset_preset: Option<String>,
    /// What the guard refuses besides a closed link (JSON key `guard`).
    pub guard: GuardSettings,
    /// The HTTP API (JSON key `http`).
    pub http: HttpSettings,
    /// Persistence (JSON key `database`).
    pub database: DatabaseSettings,
    /// Outbound alerts (JSON key `alerts`).
    pub alerts: AlertSettings,
    /// The weekly login (JSON key `reauth`): `weekly` (`{"weekday", "time", "timezone"}`,
    /// default Sunday 01:00 America/New_York, when IB invalidates the week's tokens) and `grace`
    /// (default `"15m"`, less than a day): a gateway still down that long after the expiry gets
    /// one "needs a login" alert instead of the ordinary outage alert ([`crate::reauth`]).
    /// `"weekly": null` turns it off (`None`): every outage is an ordinary one.
    pub reauth: Option<crate::reauth::ReauthConfig>,
    /// The operator's trading switch (JSON key `trading`).
    pub trading: TradingSettings,
    /// Restart limits of the supervision tree (JSON key `supervisor`).
    pub supervisor: SupervisorSettings,
    /// Log output (JSON key `logging`).
    pub logging: LoggingSettings,
    /// The IBC escalation ladder (JSON key `escalation`): see
    /// [`EscalationSettings`](super::EscalationSettings).
    pub escalation: super::EscalationSettings,
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
    /// The account's guarded TWS API port (`proxy`, default none): see [`ProxySettings`].
    pub proxy: Option<ProxySettings>,
    /// IBC's command server for this account's gateway (`ibc`, default none): see
    /// [`IbcSettings`](super::IbcSettings); the escalation ladder's IBC rungs need it.
    pub ibc: Option<super::IbcSettings>,
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

/// The send path (JSON section `orders`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSettings {
    /// An order is written to the socket only if the gateway showed life (any inbound message
    /// or a probe answer) within this long; otherwise it probes first and refuses the order
    /// "gateway not answering" if the probe fails (`max_silence`, default `"1s"`, at least 1ms).
    pub max_silence: Duration,
}

impl Default for OrderSettings {
    fn default() -> Self {
        OrderSettings { max_silence: Duration::from_secs(1) }
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
    /// Bearer token required by every POST (`token`, optional): printable ASCII, no leading or
    /// trailing space, at least [`MIN_TOKEN_LEN`](super::MIN_TOKEN_LEN) characters; required
    /// when `bind` is not a loopback address.
    pub token: Option<String>,
    /// Extra names the server answers to (`allowed_hosts`, default empty), besides the bind
    /// address, `localhost`, `127.0.0.1` and `[::1]`: a request whose `Host` is anything else
    /// gets 421 (DNS rebinding). Host names or IP literals without a port, lower-cased.
    pub allowed_hosts: Vec<String>,
    /// Open connections at most (`max_connections`, default 128, 1-65536). At the cap a new
    /// connection closes the one idle the longest; `LimitNOFILE` in the unit must exceed it.
    pub max_connections: u32,
    /// A request's headers must arrive within this (`header_read_timeout`, default `"10s"`),
    /// or the connection is closed.
    pub header_read_timeout: Duration,
    /// A connection with no request for this long is closed (`idle_timeout`, default `"60s"`).
    pub idle_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            token: None,
            allowed_hosts: Vec::new(),
            max_connections: 128,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("allowed_hosts", &self.allowed_hosts)
            .field("max_connections", &self.max_connections)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// What the guard refuses besides a closed link (JSON section `guard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    /// New orders are refused "reset window starts in N s" this long before a reset window
    /// opens (`quiesce_before_reset`, default `"30s"`; `"0s"` turns it off).
    pub quiesce_before_reset: Duration,
    /// New orders are refused "market data farm usfarm broken since …" while one of the
    /// account's market-data farms is down (`block_orders_on_data_loss`, default false: a data
    /// problem is not an order problem, and the order link is another path).
    pub block_orders_on_data_loss: bool,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings { quiesce_before_reset: crate::calendar::DEFAULT_QUIESCE_LEAD, block_orders_on_data_loss: false }
    }
}

/// The operator's trading switch (JSON section `trading`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradingSettings {
    /// When the switch history cannot be read at startup (an unreadable database), every
    /// account starts paused with that reason shown, until the operator activates it
    /// (`start_paused_if_unknown`, default true: fail closed).
    pub start_paused_if_unknown: bool,
}

impl Default for TradingSettings {
    fn default() -> Self {
        TradingSettings { start_paused_if_unknown: true }
    }
}

/// Persistence (JSON section `database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// SQLite database file (`path`, default `"ibkr_supervisor.db"`, non-empty).
    pub path: PathBuf,
    /// Optional JSON-lines file that mirrors every recorded event (`event_log`).
    pub event_log: Option<PathBuf>,
    /// How long raw connection events are kept (`retention`, default `"90d"`, at least `"1d"`).
    /// Older ones are deleted in small batches and the file shrinks (incremental vacuum); the
    /// daily uptime rollups are kept for good.
    pub retention: Duration,
    /// How long the audit events are kept: trading-switch and settings changes, meltdowns,
    /// escalations, persistence gaps (`keep_audit`, default `"2y"`, at least `retention`).
    pub keep_audit: Duration,
}

/// Default of [`DatabaseSettings::retention`]: 90 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 86_400);
/// Default of [`DatabaseSettings::keep_audit`]: two years as `"2y"` reads (2 × 365.25 days).
pub const DEFAULT_KEEP_AUDIT: Duration = Duration::from_secs(2 * 31_557_600);

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            path: PathBuf::from("ibkr_supervisor.db"),
            event_log: None,
            retention: DEFAULT_RETENTION,
            keep_audit: DEFAULT_KEEP_AUDIT,
        }
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
    /// beyond it a "down" or "degraded" is dropped and counted, and so is its "recovered". A
    /// "recovered" whose alert went out, a meltdown and an order seen nowhere always go.
    pub max_per_minute: u32,
    /// E-mail alerts too (`smtp`, optional), under the same rules.
    pub smtp: Option<SmtpSettings>,
}

/// How the e-mail connection is protected (`alerts.smtp.tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `"starttls"` (the default, port 587): the server must offer STARTTLS, or nothing is sent.
    StartTls,
    /// `"implicit"` (port 465): TLS from the first byte.
    Implicit,
    /// `"none"`: plain text, only as an explicit choice for a relay on the same machine.
    None,
}

/// E-mail alerts (JSON section `alerts.smtp`): TLS is required unless `tls` is `"none"`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Mail server (`host`, required).
    pub host: String,
    /// Its port (`port`, default 587, or 465 with `tls: "implicit"`, 25 with `"none"`).
    pub port: u16,
    /// `tls`: `"starttls"` (default), `"implicit"` or `"none"`.
    pub tls: SmtpTls,
    /// Extra trust roots (`ca_file`, optional): a PEM file of certificates trusted besides the
    /// public web roots, e.g. a company relay's own CA (and the tests' self-signed server).
    pub ca_file: Option<PathBuf>,
    /// Connect, command and TLS timeout (`timeout`, default `"10s"`).
    pub timeout: Duration,
    /// Sender address (`from`, required).
    pub from: String,
    /// Recipients (`to`, required, at least one).
    pub to: Vec<String>,
    /// AUTH PLAIN credentials (`username`, `password`, optional); never logged.
    pub username: Option<String>,
    /// See `username`.
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggingSettings {
    /// Output format (`format`, `"text"` or `"json"`, default `"text"`).
    pub format: LogFormat,
    /// When the watchdog logs the heartbeat line (`heartbeat_line`, `"changes"` or `"every"`,
    /// default `"changes"`). `--once` prints its line whatever this says.
    pub heartbeat_line: HeartbeatLine,
    /// Under `"changes"`, one heartbeat line at least this often even when nothing changed
    /// (`heartbeat_summary_every`, default `"15m"`, at least 1ms).
    pub heartbeat_summary_every: Duration,
}

/// Default of [`LoggingSettings::heartbeat_summary_every`]: 15 minutes.
pub const DEFAULT_HEARTBEAT_SUMMARY_EVERY: Duration = Duration::from_secs(15 * 60);

impl Default for LoggingSettings {
    fn default() -> Self {
        LoggingSettings {
            format: LogFormat::Text,
            heartbeat_line: HeartbeatLine::Changes,
            heartbeat_summary_every: DEFAULT_HEARTBEAT_SUMMARY_EVERY,
        }
    }
}

/// When the heartbeat line is logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatLine {
    /// Every round (JSON `"every"`): one info line per `heartbeat.interval`, as the seed's
    /// worker did (about 17 000 lines a day at 5 s).
    Every,
    /// Only when an account's mark changes, plus a summary every
    /// `logging.heartbeat_summary_every` (JSON `"changes"`).
    #[default]
    Changes,
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
            proxy: None,
            ibc: None,
        };
        Settings {
            accounts: vec![account("Paper", true, 4002, 1, [11, 21]), account("Live", false, 4001, 2, [12, 22])],
            heartbeat: HeartbeatSettings::default(),
            orders: OrderSettings::default(),
            pacing: crate::pacing::PacingConfig::default(),
            reconnect: ReconnectSettings::default(),
            reset_time: Some(default_reset_time()),
            timezone: DEFAULT_TIMEZONE,
            reset_duration: DEFAULT_RESET_DURATION,
            reset_windows: Vec::new(),
            reset_preset: None,
            guard: GuardSettings::default(),
            http: HttpSettings::default(),
            database: DatabaseSettings::default(),
            alerts: AlertSettings::default(),
            reauth: Some(crate::reauth::ReauthConfig::default()),
            trading: TradingSettings::default(),
            supervisor: SupervisorSettings::default(),
            logging: LoggingSettings::default(),
            escalation: super::EscalationSettings::default(),
        }
    }
}

pub(super) const DEFAULT_TIMEZONE: Tz = Tz::America__New_York;
pub(super) const DEFAULT_RESET_DURATION: Duration = Duration::from_secs(60 * 60);

pub(super) fn default_reset_time() -> NaiveTime {
    NaiveTime::from_hms_opt(23, 45, 0).expect("23:45 is a valid time")
}
