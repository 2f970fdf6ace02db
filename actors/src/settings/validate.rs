//! The rules that span several values (unique account names, distinct fallback client ids, a
//! token when the API is reachable from other machines, …), and the conversion of the raw
//! layer into the public types.

use std::collections::HashMap;

use super::error::SettingsError;
use super::model::{
    AccountSettings, AlertSettings, DatabaseSettings, GuardSettings, HeartbeatSettings, HttpSettings, LoggingSettings,
    OrderSettings, ReconnectSettings, ResetWindowSettings, Settings, SmtpSettings, SmtpTls, SupervisorSettings,
    TradingSettings,
};
use super::raw::{RawAccount, RawSettings};
use super::scalars::Dur;
use super::{MAX_RESET_DURATION, MIN_RETENTION, MIN_TOKEN_LEN};

impl RawSettings {
    pub(super) fn validate(self) -> Result<Settings, SettingsError> {
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

        let http = HttpSettings {
            bind: self.http.bind.0,
            token: self.http.token,
            allowed_hosts: validate_hosts(self.http.allowed_hosts)?,
            max_connections: self.http.max_connections.0,
            header_read_timeout: self.http.header_read_timeout.value,
            idle_timeout: self.http.idle_timeout.value,
        };
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

        let reset_preset = match self.reset_preset {
            None => None,
            Some(name) => {
                let catalog = crate::calendar::PresetCatalog::builtin();
                if catalog.get(name.trim()).is_err() {
                    return Err(SettingsError::invalid(
                        "reset_preset",
                        format!("expected one of {}, got {name:?}", catalog.names().join(", ")),
                    ));
                }
                Some(name.trim().to_owned())
            }
        };

        let (retention, keep_audit) = (&self.database.retention, &self.database.keep_audit);
        if retention.value < MIN_RETENTION {
            return Err(SettingsError::invalid(
                "database.retention",
                format!("expected a duration of at least \"1d\" such as \"90d\", got {:?}", retention.text),
            ));
        }
        if keep_audit.value < retention.value {
            return Err(SettingsError::invalid(
                "database.keep_audit",
                format!(
                    "expected a duration at least as long as database.retention ({:?}) such as \"2y\", got {:?}",
                    retention.text, keep_audit.text
                ),
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

        let pacing = validate_pacing(&self.pacing)?;

        let reauth = self.reauth.weekly.map(|weekly| crate::reauth::ReauthConfig {
            weekly: crate::reauth::WeeklyTime { weekday: weekly.weekday.0, time: weekly.time.0, tz: weekly.timezone.0 },
            grace: self.reauth.grace.value,
            ..crate::reauth::ReauthConfig::default()
        });
        if self.reauth.grace.value >= crate::reauth::DEFAULT_AFTER {
            return Err(SettingsError::invalid(
                "reauth.grace",
                format!(
                    "expected less than a day such as \"15m\" (an outage is blamed on the weekly login for a day), \
                     got {:?}",
                    self.reauth.grace.text
                ),
            ));
        }

        let escalation = self.escalation.validate()?;

        Ok(Settings {
            accounts,
            escalation,
            heartbeat: HeartbeatSettings {
                interval: self.heartbeat.interval.value,
                probe_timeout: self.heartbeat.probe_timeout.value,
                connect_timeout: self.heartbeat.connect_timeout.value,
            },
            orders: OrderSettings { max_silence: self.orders.max_silence.value },
            pacing,
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
            reset_preset,
            reauth,
            guard: GuardSettings {
                quiesce_before_reset: self.guard.quiesce_before_reset.0,
                block_orders_on_data_loss: self.guard.block_orders_on_data_loss,
            },
            http,
            database: DatabaseSettings {
                path: self.database.path,
                event_log: self.database.event_log,
                retention: self.database.retention.value,
                keep_audit: self.database.keep_audit.value,
            },
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
                        let tls = match smtp.tls.as_deref().map(str::trim) {
                            None | Some("starttls") => SmtpTls::StartTls,
                            Some("implicit") => SmtpTls::Implicit,
                            Some("none") => SmtpTls::None,
                            Some(other) => {
                                return Err(invalid(
                                    "tls",
                                    &format!(
                                        "expected \"starttls\" (port 587), \"implicit\" (port 465) or \"none\" \
                                         (plain text, a relay on this machine only), got {other:?}"
                                    ),
                                ))
                            }
                        };
                        let port = smtp.port.unwrap_or(match tls {
                            SmtpTls::StartTls => 587,
                            SmtpTls::Implicit => 465,
                            SmtpTls::None => 25,
                        });
                        if port == 0 {
                            return Err(invalid("port", "expected a TCP port 1-65535, got 0"));
                        }
                        if smtp.ca_file.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                            return Err(invalid("ca_file", "expected the path of a PEM file, got an empty string"));
                        }
                        if tls == SmtpTls::None && smtp.password.is_some() {
                            return Err(invalid(
                                "tls",
                                "\"none\" would send the password in plain text; use \"starttls\" or \"implicit\", \
                                 or drop the credentials for a local relay",
                            ));
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
                            port,
                            tls,
                            ca_file: smtp.ca_file,
                            timeout: smtp.timeout.map_or(std::time::Duration::from_secs(10), |d| d.value),
                            from: smtp.from,
                            to: smtp.to,
                            username: smtp.username,
                            password: smtp.password,
                        })
                    }
                },
            },
            trading: TradingSettings { start_paused_if_unknown: self.trading.start_paused_if_unknown },
            supervisor: SupervisorSettings {
                max_restarts: self.supervisor.max_restarts.0,
                restart_window: self.supervisor.restart_window.value,
                stuck_margin: self.supervisor.stuck_margin.value,
            },
            logging: LoggingSettings {
                format: self.logging.format,
                heartbeat_line: self.logging.heartbeat_line,
                heartbeat_summary_every: self.logging.heartbeat_summary_every.value,
            },
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

        let proxy = a.proxy.map(|p| p.validate(i)).transpose()?;
        let ibc = a.ibc.map(|c| c.validate(i)).transpose()?;
        accounts.push(AccountSettings {
            name,
            paper_trading: a.paper_trading,
            host,
            port: a.port.0,
            client_id,
            fallback_client_ids,
            proxy,
            ibc,
        });
    }
    let listens: Vec<_> =
        accounts.iter().enumerate().filter_map(|(i, a)| a.proxy.as_ref().map(|p| (i, p.listen))).collect();
    super::proxy::check_distinct(&listens)?;
    Ok(accounts)
}

fn check_reset_duration(field: &str, d: &Dur) -> Result<(), SettingsError> {
    if d.value >= MAX_RESET_DURATION {
        return Err(SettingsError::invalid(field, format!("expected a duration shorter than 24h, got {:?}", d.text)));
    }
    Ok(())
}

/// `http.allowed_hosts`: bare host names or IP literals (`[::1]` for IPv6), no port, no scheme.
fn validate_hosts(hosts: Vec<String>) -> Result<Vec<String>, SettingsError> {
    let mut out = Vec::with_capacity(hosts.len());
    for (i, host) in hosts.into_iter().enumerate() {
        let field = format!("http.allowed_hosts[{i}]");
        let name = host.trim().to_ascii_lowercase();
        let ipv6 = name.starts_with('[')
            && name.ends_with(']')
            && name[1..name.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
        let plain =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !(ipv6 || plain) {
            return Err(SettingsError::invalid(
                field,
                format!(
                    "expected a host name such as \"trader.lan\" or an IP such as \"192.168.1.20\" or \"[fd00::2]\", \
                     without scheme or port, got {host:?}"
                ),
            ));
        }
        out.push(name);
    }
    Ok(out)
}

fn validate_http(http: &HttpSettings) -> Result<(), SettingsError> {
    if http.max_connections > 65_536 {
        return Err(SettingsError::invalid(
            "http.max_connections",
            format!("expected a number from 1 to 65536, got {}", http.max_connections),
        ));
    }
    let token = http.token.as_deref();
    if let Some(token) = token {
        // A token a browser or curl can send as-is: an HTTP header value that is not trimmed away.
        if let Some((at, c)) = token.char_indices().find(|(_, c)| !(c.is_ascii_graphic() || *c == ' ')) {
            return Err(SettingsError::invalid(
                "http.token",
                format!("expected printable ASCII only (letters, digits, punctuation), got {c:?} at byte {at}"),
            ));
        }
        if token.trim() != token {
            return Err(SettingsError::invalid(
                "http.token",
                "expected no leading or trailing spaces (HTTP drops them, so the token could never match)",
            ));
        }
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

/// The pacer's limits: below IB's rate, with a share left for requests other than orders.
fn validate_pacing(raw: &super::raw::RawPacing) -> Result<crate::pacing::PacingConfig, SettingsError> {
    use crate::pacing::{Pacer, PacingConfig, PacingError, IB_MAX_MESSAGES_PER_SECOND};
    let config = PacingConfig {
        max_messages_per_second: raw.max_messages_per_second.0,
        order_reserve: raw.order_reserve,
        cool_down: raw.cool_down.value,
        ..PacingConfig::default()
    };
    if config.max_messages_per_second > IB_MAX_MESSAGES_PER_SECOND {
        return Err(SettingsError::invalid(
            "pacing.max_messages_per_second",
            format!(
                "expected at most IB's limit of {IB_MAX_MESSAGES_PER_SECOND} (above it IB answers 100 and may \
                 disconnect), such as 45, got {}",
                config.max_messages_per_second
            ),
        ));
    }
    match Pacer::<()>::new(config) {
        Ok(_) => Ok(config),
        Err(e @ PacingError::ReserveTooLarge { .. }) => {
            Err(SettingsError::invalid("pacing.order_reserve", e.to_string()))
        }
        Err(e) => Err(SettingsError::invalid("pacing.max_messages_per_second", e.to_string())),
    }
}
