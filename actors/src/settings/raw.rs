//! The private serde layer: `#[serde(deny_unknown_fields)]` mirrors of the public settings,
//! built from the [self-checking scalars](super::scalars), with the same defaults.

use std::path::PathBuf;

use serde::Deserialize;

use super::model::{
    default_reset_time, AlertSettings, DatabaseSettings, GuardSettings, HeartbeatLine, HeartbeatSettings, HttpSettings,
    LogFormat, LoggingSettings, OrderSettings, ReconnectSettings, SupervisorSettings, TradingSettings,
    DEFAULT_RESET_DURATION,
};
use super::scalars::{Bind, ClientId, Clock, Count, Day, Dur, Fraction, Port, ZeroOkDur, Zone};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object of settings")]
pub(super) struct RawSettings {
    pub(super) accounts: Vec<RawAccount>,
    #[serde(default)]
    pub(super) heartbeat: RawHeartbeat,
    #[serde(default)]
    pub(super) orders: RawOrders,
    #[serde(default)]
    pub(super) pacing: RawPacing,
    #[serde(default)]
    pub(super) reconnect: RawReconnect,
    #[serde(default = "raw_default_reset_time")]
    pub(super) reset_time: Option<Clock>,
    #[serde(default)]
    pub(super) timezone: Zone,
    #[serde(default = "raw_default_reset_duration")]
    pub(super) reset_duration: Dur,
    #[serde(default)]
    pub(super) reset_windows: Vec<RawResetWindow>,
    #[serde(default)]
    pub(super) reset_preset: Option<String>,
    #[serde(default)]
    pub(super) guard: RawGuard,
    #[serde(default)]
    pub(super) http: RawHttp,
    #[serde(default)]
    pub(super) database: RawDatabase,
    #[serde(default)]
    pub(super) alerts: RawAlerts,
    #[serde(default)]
    pub(super) reauth: RawReauth,
    #[serde(default)]
    pub(super) trading: RawTrading,
    #[serde(default)]
    pub(super) supervisor: RawSupervisor,
    #[serde(default)]
    pub(super) logging: RawLogging,
    #[serde(default)]
    pub(super) escalation: super::escalation::RawEscalation,
}

fn raw_default_reset_time() -> Option<Clock> {
    Some(Clock(default_reset_time()))
}

fn raw_default_reset_duration() -> Dur {
    Dur::from(DEFAULT_RESET_DURATION)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an account object")]
pub(super) struct RawAccount {
    pub(super) name: String,
    pub(super) paper_trading: bool,
    pub(super) host: String,
    pub(super) port: Port,
    pub(super) client_id: ClientId,
    #[serde(default)]
    pub(super) fallback_client_ids: Vec<ClientId>,
    #[serde(default)]
    pub(super) proxy: Option<super::proxy::RawProxy>,
    #[serde(default)]
    pub(super) ibc: Option<super::escalation::RawIbc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a heartbeat object")]
pub(super) struct RawHeartbeat {
    pub(super) interval: Dur,
    pub(super) probe_timeout: Dur,
    pub(super) connect_timeout: Dur,
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
#[serde(deny_unknown_fields, default, expecting = "an orders object")]
pub(super) struct RawOrders {
    pub(super) max_silence: Dur,
}

impl Default for RawOrders {
    fn default() -> Self {
        RawOrders { max_silence: OrderSettings::default().max_silence.into() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a pacing object")]
pub(super) struct RawPacing {
    pub(super) max_messages_per_second: Count,
    pub(super) order_reserve: u32,
    pub(super) cool_down: Dur,
}

impl Default for RawPacing {
    fn default() -> Self {
        let d = crate::pacing::PacingConfig::default();
        RawPacing {
            max_messages_per_second: Count(d.max_messages_per_second),
            order_reserve: d.order_reserve,
            cool_down: d.cool_down.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a reconnect object")]
pub(super) struct RawReconnect {
    pub(super) auto: bool,
    pub(super) schedule: Vec<Dur>,
    pub(super) jitter: Fraction,
    pub(super) manual_min_interval: ZeroOkDur,
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
pub(super) struct RawResetWindow {
    #[serde(default)]
    pub(super) weekday: Option<Day>,
    pub(super) time: Clock,
    pub(super) duration: Dur,
    #[serde(default)]
    pub(super) timezone: Option<Zone>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "an http object")]
pub(super) struct RawHttp {
    pub(super) bind: Bind,
    pub(super) token: Option<String>,
    pub(super) allowed_hosts: Vec<String>,
    pub(super) max_connections: Count,
    pub(super) header_read_timeout: Dur,
    pub(super) idle_timeout: Dur,
}

impl Default for RawHttp {
    fn default() -> Self {
        let d = HttpSettings::default();
        RawHttp {
            bind: Bind(d.bind),
            token: None,
            allowed_hosts: d.allowed_hosts,
            max_connections: Count(d.max_connections),
            header_read_timeout: d.header_read_timeout.into(),
            idle_timeout: d.idle_timeout.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a guard object")]
pub(super) struct RawGuard {
    pub(super) quiesce_before_reset: ZeroOkDur,
    pub(super) block_orders_on_data_loss: bool,
}

impl Default for RawGuard {
    fn default() -> Self {
        let defaults = GuardSettings::default();
        RawGuard {
            quiesce_before_reset: ZeroOkDur(defaults.quiesce_before_reset),
            block_orders_on_data_loss: defaults.block_orders_on_data_loss,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a trading object")]
pub(super) struct RawTrading {
    pub(super) start_paused_if_unknown: bool,
}

impl Default for RawTrading {
    fn default() -> Self {
        RawTrading { start_paused_if_unknown: TradingSettings::default().start_paused_if_unknown }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a database object")]
pub(super) struct RawDatabase {
    pub(super) path: PathBuf,
    pub(super) event_log: Option<PathBuf>,
    pub(super) retention: Dur,
    pub(super) keep_audit: Dur,
}

impl Default for RawDatabase {
    fn default() -> Self {
        let d = DatabaseSettings::default();
        RawDatabase {
            path: d.path,
            event_log: d.event_log,
            retention: Dur::from(d.retention),
            keep_audit: Dur::from(d.keep_audit),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "an alerts object")]
pub(super) struct RawAlerts {
    pub(super) webhook_url: Option<String>,
    pub(super) retry: Vec<Dur>,
    pub(super) max_per_minute: Count,
    pub(super) smtp: Option<RawSmtp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an smtp object")]
pub(super) struct RawSmtp {
    pub(super) host: String,
    #[serde(default)]
    pub(super) port: Option<u16>,
    #[serde(default)]
    pub(super) tls: Option<String>,
    #[serde(default)]
    pub(super) ca_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) timeout: Option<Dur>,
    pub(super) from: String,
    pub(super) to: Vec<String>,
    #[serde(default)]
    pub(super) username: Option<String>,
    #[serde(default)]
    pub(super) password: Option<String>,
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

/// `reauth`: the weekly login ([`crate::reauth`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a reauth object such as {\"weekly\": {…}, \"grace\": \"15m\"}")]
pub(super) struct RawReauth {
    pub(super) weekly: Option<RawWeekly>,
    pub(super) grace: Dur,
}

/// `reauth.weekly`: when IB invalidates the week's tokens.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a weekly time such as {\"weekday\": \"sun\", \"time\": \"01:00\", \"timezone\": \"America/New_York\"}"
)]
pub(super) struct RawWeekly {
    pub(super) weekday: Day,
    pub(super) time: Clock,
    pub(super) timezone: Zone,
}

impl Default for RawReauth {
    fn default() -> Self {
        RawReauth { weekly: Some(RawWeekly::default()), grace: Dur::from(crate::reauth::DEFAULT_GRACE) }
    }
}

impl Default for RawWeekly {
    fn default() -> Self {
        let d = crate::reauth::WeeklyTime::ib_default();
        RawWeekly { weekday: Day(d.weekday), time: Clock(d.time), timezone: Zone(d.tz) }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a supervisor object")]
pub(super) struct RawSupervisor {
    pub(super) max_restarts: Count,
    pub(super) restart_window: Dur,
    pub(super) stuck_margin: Dur,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a logging object")]
pub(super) struct RawLogging {
    pub(super) format: LogFormat,
    pub(super) heartbeat_line: HeartbeatLine,
    pub(super) heartbeat_summary_every: Dur,
}

impl Default for RawLogging {
    fn default() -> Self {
        let d = LoggingSettings::default();
        RawLogging {
            format: d.format,
            heartbeat_line: d.heartbeat_line,
            heartbeat_summary_every: d.heartbeat_summary_every.into(),
        }
    }
}
