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
//!       "client_id": 1, "fallback_client_ids": [11, 21],
//!       "proxy": { "listen": "127.0.0.1:4102", "allowed_clients": ["127.0.0.1/32"],
//!                  "max_sessions": 8, "buffer_bytes": 4194304, "write_timeout": "2s" },
//!       "ibc": { "host": "127.0.0.1", "port": 7462 } }
//!   ],
//!   "heartbeat": { "interval": "5s", "probe_timeout": "2s", "connect_timeout": "5s" },
//!   "reconnect": { "auto": true, "schedule": ["1s", "2s", "5s", "15s"], "jitter": 0.1,
//!                  "manual_min_interval": "2s" },
//!   "reset_time": "23:45",
//!   "timezone": "America/New_York",
//!   "reset_duration": "1h",
//!   "reset_windows": [ { "weekday": "sun", "time": "01:00", "duration": "30m" } ],
//!   "http": { "bind": "127.0.0.1:8080", "token": null },
//!   "database": { "path": "ibkr_supervisor.db", "event_log": null, "retention": "90d",
//!                 "keep_audit": "2y" },
//!   "alerts": { "webhook_url": null },
//!   "supervisor": { "max_restarts": 5, "restart_window": "60s" },
//!   "logging": { "format": "text", "heartbeat_line": "changes", "heartbeat_summary_every": "15m" },
//!   "escalation": { "enabled": true, "reconnect_data_after": "5m", "reconnect_account_after": "3m",
//!                   "restart_after": "5m", "restart_command_after": "10m", "min_interval": "15m",
//!                   "restart_command": null, "restart_command_timeout": "60s" }
//! }
//! ```
//!
//! See the field documentation of [`Settings`] and the section structs for the meaning and
//! the rules of each key.
//!
//! The parts, one file each: `model.rs` (the public, typed settings and their defaults),
//! `raw.rs` (the private serde layer), `proxy.rs` (an account's guarded port), `escalation.rs`
//! (the IBC ladder and an account's IBC command server), `scalars.rs` (the value types that check themselves while
//! parsing), `validate.rs` (the rules across values), `error.rs` ([`SettingsError`]).

use std::path::Path;
use std::time::Duration;

mod error;
mod escalation;
mod model;
mod proxy;
mod raw;
mod scalars;
mod validate;

pub use error::SettingsError;
pub use escalation::{EscalationSettings, IbcSettings, DEFAULT_IBC_HOST, DEFAULT_RESTART_COMMAND_TIMEOUT};
pub use model::{
    AccountSettings, AlertSettings, DatabaseSettings, GuardSettings, HeartbeatLine, HeartbeatSettings, HttpSettings,
    LogFormat, LoggingSettings, OrderSettings, ReconnectSettings, ResetWindowSettings, Settings, SmtpSettings, SmtpTls,
    SupervisorSettings, TradingSettings, DEFAULT_HEARTBEAT_SUMMARY_EVERY, DEFAULT_KEEP_AUDIT, DEFAULT_RETENTION,
};
pub use proxy::{Cidr, ProxySettings};

use error::{check_top_level_object, from_serde};
use raw::RawSettings;

/// Minimum length of [`HttpSettings::token`].
pub const MIN_TOKEN_LEN: usize = 16;

/// The smallest duration accepted where a duration must be positive.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// The shortest [`DatabaseSettings::retention`]: a day (raw events are rolled up per day first).
pub const MIN_RETENTION: Duration = Duration::from_secs(86_400);

/// A reset window (daily or extra) must be shorter than this.
pub const MAX_RESET_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

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

#[cfg(test)]
mod tests {
    use super::scalars::parse_weekday;
    use super::*;
    use chrono::{NaiveTime, Weekday};
    use chrono_tz::Tz;
    use std::path::PathBuf;

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
    fn shipped_config_loads_and_equals_the_defaults_but_for_ibs_current_schedule() {
        let s = Settings::load(Path::new(SHIPPED)).unwrap();
        // The one deliberate difference: the shipped file follows IB's published North
        // American schedule (reset_preset) instead of the built-in 23:45 ET daily window.
        assert_eq!((s.reset_preset.as_deref(), s.reset_time), (Some("ib-north-america"), None));
        let defaults = Settings::default();
        assert_eq!(Settings { reset_preset: None, reset_time: defaults.reset_time, ..s.clone() }, defaults);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    }

    #[test]
    fn reauth_parses_and_bad_values_name_their_field() {
        let s = Settings::from_json_str(&doc(
            r#""reauth": {"weekly": {"weekday": "sat", "time": "23:30", "timezone": "Europe/Zurich"}, "grace": "5m"}"#,
        ))
        .unwrap();
        let weekly = crate::reauth::WeeklyTime {
            weekday: Weekday::Sat,
            time: NaiveTime::from_hms_opt(23, 30, 0).unwrap(),
            tz: Tz::Europe__Zurich,
        };
        assert_eq!(
            s.reauth,
            Some(crate::reauth::ReauthConfig { weekly, grace: Duration::from_secs(300), ..Default::default() })
        );
        // A partial object keeps the other defaults.
        let s = Settings::from_json_str(&doc(r#""reauth": {"grace": "30m"}"#)).unwrap();
        let reauth = s.reauth.unwrap();
        assert_eq!(reauth.weekly, crate::reauth::WeeklyTime::ib_default());
        assert_eq!(reauth.grace, Duration::from_secs(1800));
        // Off: every outage is an ordinary one.
        assert_eq!(Settings::from_json_str(&doc(r#""reauth": {"weekly": null}"#)).unwrap().reauth, None);

        rejects(&doc(r#""reauth": {"grace": "soon"}"#), "reauth.grace", &["duration", "soon"]);
        rejects(&doc(r#""reauth": {"grace": "2d"}"#), "reauth.grace", &["less than a day", "2d"]);
        rejects(&doc(r#""reauth": {"weekly": {"weekday": "sunnday"}}"#), "reauth.weekly.weekday", &["sunnday"]);
        rejects(&doc(r#""reauth": {"weekly": {"time": "25:00"}}"#), "reauth.weekly.time", &["25:00"]);
        rejects(&doc(r#""reauth": {"weekly": {"timezone": "Mars/Olympus"}}"#), "reauth.weekly.timezone", &["Mars"]);
        rejects(&doc(r#""reauth": {"weekely": {}}"#), "reauth.weekely", &["weekly"]);
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
        assert!(
            text.starts_with("colour: unknown key at top level; expected one of: accounts, heartbeat, orders,"),
            "{text}"
        );

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

    /// Tokens the settings accept can authenticate: a header value carries printable ASCII and
    /// loses surrounding spaces.
    #[test]
    fn tokens_are_printable_ascii_without_surrounding_spaces() {
        let token = |t: &str| doc(&format!(r#""http": {{"token": {}}}"#, serde_json::to_string(t).unwrap()));
        rejects(&token("päßwörd-päßwörd-päßwörd"), "http.token", &["printable ASCII", "'ä'"]);
        rejects(&token("                    "), "http.token", &["leading or trailing spaces"]);
        rejects(&token(" 0123456789abcdefgh"), "http.token", &["leading or trailing spaces"]);
        rejects(&token("0123456789abcdef\t"), "http.token", &["printable ASCII"]);
        rejects(&token("0123456789abcde"), "http.token", &["at least 16", "got 15"]);
        let s = Settings::from_json_str(&token("0123456789 abcdef!#")).unwrap();
        assert_eq!(s.http.token.as_deref(), Some("0123456789 abcdef!#"), "inner spaces and punctuation are fine");
    }

    #[test]
    fn allowed_hosts_and_connection_bounds() {
        let s = Settings::from_json_str(&doc(
            r#""http": {"allowed_hosts": ["Trader.LAN", "192.168.1.20", "[fd00::2]"], "max_connections": 8,
                        "header_read_timeout": "2s", "idle_timeout": "30s"}"#,
        ))
        .unwrap();
        assert_eq!(s.http.allowed_hosts, ["trader.lan", "192.168.1.20", "[fd00::2]"]);
        assert_eq!(s.http.max_connections, 8);
        assert_eq!(s.http.header_read_timeout, Duration::from_secs(2));
        assert_eq!(s.http.idle_timeout, Duration::from_secs(30));
        let d = Settings::default().http;
        assert_eq!(
            (d.max_connections, d.header_read_timeout, d.idle_timeout),
            (128, Duration::from_secs(10), Duration::from_secs(60))
        );
        rejects(
            &doc(r#""http": {"allowed_hosts": ["http://trader.lan"]}"#),
            "http.allowed_hosts[0]",
            &["without scheme or port"],
        );
        rejects(
            &doc(r#""http": {"allowed_hosts": ["ok", "trader.lan:8080"]}"#),
            "http.allowed_hosts[1]",
            &["trader.lan:8080"],
        );
        rejects(&doc(r#""http": {"allowed_hosts": [""]}"#), "http.allowed_hosts[0]", &["host name"]);
        rejects(&doc(r#""http": {"max_connections": 0}"#), "http.max_connections", &[]);
        rejects(&doc(r#""http": {"max_connections": 100000}"#), "http.max_connections", &["1 to 65536"]);
        rejects(&doc(r#""http": {"idle_timeout": "0s"}"#), "http.idle_timeout", &["at least 1ms"]);
        rejects(&doc(r#""http": {"header_read_timeout": 5}"#), "http.header_read_timeout", &["duration"]);
    }

    #[test]
    fn the_trading_switch_fails_closed_by_default() {
        assert!(Settings::default().trading.start_paused_if_unknown);
        let s = Settings::from_json_str(&doc(r#""trading": {"start_paused_if_unknown": false}"#)).unwrap();
        assert!(!s.trading.start_paused_if_unknown);
        rejects(&doc(r#""trading": {"start_paused": false}"#), "trading.start_paused", &["unknown key"]);
    }

    #[test]
    fn http_debug_hides_the_token() {
        let http = HttpSettings {
            bind: "0.0.0.0:8080".parse().unwrap(),
            token: Some("super-secret-token-123".to_owned()),
            ..HttpSettings::default()
        };
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
    fn retention_and_heartbeat_logging_keys() {
        let s = Settings::default();
        assert_eq!((s.database.retention, s.database.keep_audit), (DEFAULT_RETENTION, DEFAULT_KEEP_AUDIT));
        assert_eq!(
            (s.logging.heartbeat_line, s.logging.heartbeat_summary_every),
            (HeartbeatLine::Changes, DEFAULT_HEARTBEAT_SUMMARY_EVERY)
        );
        let parsed = Settings::from_json_str(&doc(r#""database": {}, "logging": {}"#)).unwrap();
        assert_eq!((parsed.database.clone(), parsed.logging), (s.database.clone(), s.logging), "the defaults");
        let s = Settings::from_json_str(&doc(r#""database": {"retention": "30d", "keep_audit": "1y"},
               "logging": {"heartbeat_line": "every", "heartbeat_summary_every": "1h"}"#))
        .unwrap();
        assert_eq!(s.database.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(s.database.keep_audit, Duration::from_secs(31_557_600), "humantime's year: 365.25 days");
        assert_eq!(
            (s.logging.heartbeat_line, s.logging.heartbeat_summary_every),
            (HeartbeatLine::Every, Duration::from_secs(3600))
        );
        rejects(&doc(r#""database": {"retention": "12h"}"#), "database.retention", &["at least \"1d\"", "\"12h\""]);
        rejects(&doc(r#""database": {"retention": "forever"}"#), "database.retention", &["duration", "\"forever\""]);
        rejects(
            &doc(r#""database": {"retention": "90d", "keep_audit": "30d"}"#),
            "database.keep_audit",
            &["database.retention", "\"90d\"", "\"30d\""],
        );
        rejects(&doc(r#""logging": {"heartbeat_line": "sometimes"}"#), "logging.heartbeat_line", &["every", "changes"]);
        rejects(
            &doc(r#""logging": {"heartbeat_summary_every": "0s"}"#),
            "logging.heartbeat_summary_every",
            &["at least 1ms"],
        );
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
