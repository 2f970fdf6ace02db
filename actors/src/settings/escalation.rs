//! `escalation` and `accounts[].ibc`: the IBC escalation ladder's thresholds, the optional
//! `restart_command`, and where each account's IBC command server listens — their raw serde
//! form and their validation ([`crate::escalation`] does the work).

use std::time::Duration;

use serde::Deserialize;

use super::error::SettingsError;
use super::scalars::{Dur, Port};
use crate::escalation::{
    EscalationConfig, DEFAULT_MIN_INTERVAL, DEFAULT_RECONNECT_ACCOUNT_AFTER, DEFAULT_RECONNECT_DATA_AFTER,
    DEFAULT_RESTART_AFTER, DEFAULT_RESTART_COMMAND_AFTER,
};
use crate::ibc::DEFAULT_COMMAND_PORT;

/// Default `escalation.restart_command_timeout`.
pub const DEFAULT_RESTART_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Default `accounts[].ibc.host`.
pub const DEFAULT_IBC_HOST: &str = "127.0.0.1";

/// Where an account's IBC command server listens (`accounts[].ibc`, optional): IBC's
/// `CommandServerPort`. Without it the ladder has no `RECONNECTDATA`, `RECONNECTACCOUNT` or
/// `RESTART` for the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IbcSettings {
    /// Host of IBC's command server (`host`, default `"127.0.0.1"`, non-empty). IBC serves
    /// only loopback, its own bind address and its `ControlFrom` addresses.
    pub host: String,
    /// Its port (`port`, default 7462, IBC's convention; 1-65535).
    pub port: u16,
}

impl IbcSettings {
    /// `host:port`, as used to connect.
    pub fn address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The escalation ladder (JSON section `escalation`): how long each problem may last before
/// its rung fires, how often a rung may fire, and the last resort. Every duration is at least
/// 1ms; see [`crate::escalation`] for why the defaults are what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationSettings {
    /// Whether the ladder runs at all (`enabled`, default `true`). It runs only where
    /// something can act: an account with `ibc`, or a `restart_command`.
    pub enabled: bool,
    /// A market-data farm broken this long → IBC `RECONNECTDATA` (`reconnect_data_after`,
    /// default `"5m"`).
    pub reconnect_data_after: Duration,
    /// IB's upstream lost (1100) this long → `RECONNECTACCOUNT` (`reconnect_account_after`,
    /// default `"3m"`).
    pub reconnect_account_after: Duration,
    /// The API dead (attempts failing) this long → `RESTART` (`restart_after`, default `"5m"`).
    pub restart_after: Duration,
    /// Still dead this long after `RESTART` → the `restart_command` (`restart_command_after`,
    /// default `"10m"`).
    pub restart_command_after: Duration,
    /// A rung fires at most once per this interval (`min_interval`, default `"15m"`).
    pub min_interval: Duration,
    /// The hard restart (`restart_command`, default `null`): an argv such as
    /// `["docker", "restart", "ib-gateway"]`, run without a shell, with `IBKR_ACCOUNT`,
    /// `IBKR_HOST` and `IBKR_PORT` set to the account's. Non-empty, its program non-empty.
    pub restart_command: Option<Vec<String>>,
    /// The restart command is killed, and reported timed out, after this long
    /// (`restart_command_timeout`, default `"60s"`).
    pub restart_command_timeout: Duration,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        EscalationSettings {
            enabled: true,
            reconnect_data_after: DEFAULT_RECONNECT_DATA_AFTER,
            reconnect_account_after: DEFAULT_RECONNECT_ACCOUNT_AFTER,
            restart_after: DEFAULT_RESTART_AFTER,
            restart_command_after: DEFAULT_RESTART_COMMAND_AFTER,
            min_interval: DEFAULT_MIN_INTERVAL,
            restart_command: None,
            restart_command_timeout: DEFAULT_RESTART_COMMAND_TIMEOUT,
        }
    }
}

impl EscalationSettings {
    /// The ladder's configuration for an account (`ibc`: whether it names IBC's command server).
    pub fn ladder(&self, ibc: bool) -> EscalationConfig {
        EscalationConfig {
            reconnect_data_after: self.reconnect_data_after,
            reconnect_account_after: self.reconnect_account_after,
            restart_after: self.restart_after,
            restart_command_after: self.restart_command_after,
            min_interval: self.min_interval,
            ibc,
            restart_command: self.restart_command.is_some(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an ibc object such as {\"host\": \"127.0.0.1\", \"port\": 7462}")]
pub(super) struct RawIbc {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<Port>,
}

impl RawIbc {
    /// The validated settings of `accounts[i].ibc`.
    pub(super) fn validate(self, i: usize) -> Result<IbcSettings, SettingsError> {
        let host = self.host.map_or_else(|| DEFAULT_IBC_HOST.to_owned(), |h| h.trim().to_owned());
        if host.is_empty() {
            return Err(SettingsError::invalid(
                format!("accounts[{i}].ibc.host"),
                "expected the host of IBC's command server such as \"127.0.0.1\", got an empty string",
            ));
        }
        Ok(IbcSettings { host, port: self.port.map_or(DEFAULT_COMMAND_PORT, |p| p.0) })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "an escalation object such as {\"restart_after\": \"5m\"}")]
pub(super) struct RawEscalation {
    enabled: bool,
    reconnect_data_after: Dur,
    reconnect_account_after: Dur,
    restart_after: Dur,
    restart_command_after: Dur,
    min_interval: Dur,
    restart_command: Option<Vec<String>>,
    restart_command_timeout: Dur,
}

impl Default for RawEscalation {
    fn default() -> Self {
        let d = EscalationSettings::default();
        RawEscalation {
            enabled: d.enabled,
            reconnect_data_after: d.reconnect_data_after.into(),
            reconnect_account_after: d.reconnect_account_after.into(),
            restart_after: d.restart_after.into(),
            restart_command_after: d.restart_command_after.into(),
            min_interval: d.min_interval.into(),
            restart_command: None,
            restart_command_timeout: d.restart_command_timeout.into(),
        }
    }
}

impl RawEscalation {
    /// The validated `escalation` section (zero durations are refused while parsing).
    pub(super) fn validate(self) -> Result<EscalationSettings, SettingsError> {
        if let Some(argv) = &self.restart_command {
            match argv.first() {
                None => {
                    return Err(SettingsError::invalid(
                        "escalation.restart_command",
                        "expected a command line as a list such as [\"docker\", \"restart\", \"ib-gateway\"] \
                         (or null for none), got an empty list",
                    ))
                }
                Some(program) if program.trim().is_empty() => {
                    return Err(SettingsError::invalid(
                        "escalation.restart_command[0]",
                        "expected the program to run such as \"docker\", got an empty string",
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(EscalationSettings {
            enabled: self.enabled,
            reconnect_data_after: self.reconnect_data_after.value,
            reconnect_account_after: self.reconnect_account_after.value,
            restart_after: self.restart_after.value,
            restart_command_after: self.restart_command_after.value,
            min_interval: self.min_interval.value,
            restart_command: self.restart_command,
            restart_command_timeout: self.restart_command_timeout.value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    const PAPER: &str = r#""name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002, "client_id": 1"#;

    #[test]
    fn defaults_and_what_an_account_gets() {
        let plain = Settings::from_json_str(&format!(r#"{{ "accounts": [ {{ {PAPER} }} ] }}"#)).unwrap();
        assert_eq!(plain.escalation, EscalationSettings::default());
        assert_eq!(plain.accounts[0].ibc, None);
        assert_eq!(plain.escalation.ladder(false), EscalationConfig::default(), "nothing to act with");

        let json = format!(
            r#"{{ "accounts": [ {{ {PAPER}, "ibc": {{}} }} ],
                 "escalation": {{ "restart_after": "90s", "restart_command": ["systemctl", "restart", "ibgw"] }} }}"#
        );
        let settings = Settings::from_json_str(&json).unwrap();
        let ibc = settings.accounts[0].ibc.as_ref().unwrap();
        assert_eq!((ibc.host.as_str(), ibc.port, ibc.address()), ("127.0.0.1", 7462, "127.0.0.1:7462".into()));
        let ladder = settings.escalation.ladder(true);
        assert_eq!((ladder.restart_after, ladder.ibc, ladder.restart_command), (Duration::from_secs(90), true, true));
        assert_eq!(ladder.min_interval, DEFAULT_MIN_INTERVAL);
        assert_eq!(settings.escalation.restart_command_timeout, DEFAULT_RESTART_COMMAND_TIMEOUT);
        let v6 = IbcSettings { host: "::1".into(), port: 7462 };
        assert_eq!(v6.address(), "[::1]:7462");
    }
}
