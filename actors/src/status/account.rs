//! [`AccountStatus`]: the one record of an account's status. The [`StatusBoard`](super::StatusBoard)
//! holds it, `GET /status` serialises it, and the persistence actor writes it to (and reads it
//! from) the `ibkr_status` table, one column per connection field (the data-plane fields are
//! live facts of the current session and are not stored: see [`AccountStatus::farms`]).

use chrono::{DateTime, Utc};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::ConnectionState;
use crate::conditions::{CompetingEpisode, PacingCounters};
use crate::farms::FarmSnapshot;
use crate::settings::AccountSettings;

/// Everything known about one account's connection right now.
///
/// Each field has one writer: the GatewayActor writes the connection fields (`state`,
/// `client_id`, `last_connected`, `outage_since`, `error_message`, `probe_rtt_ms`) and the data-plane
/// fields (`farms`, `competing_session`, `pacing`), the ReconnectActor the
/// attempt fields (`reconnect_attempts`, `next_attempt_at`), the WatchdogActor `last_checked`.
///
/// Its JSON form (see the `Serialize` impl) has the fields above, with `state` as the state's
/// name and the state's data beside it:
///
/// ```text
/// name, paper_trading, state, connected, host, port, client_id, last_checked, last_connected,
/// outage_since, reconnect_attempts, next_attempt_at, error_message, probe_rtt_ms,
/// in_reset_window, reset_window_ends_at, detail, data_plane, farms, competing_session, pacing
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AccountStatus {
    /// The account's name from the settings.
    pub name: String,
    /// Whether it is a paper-trading account.
    pub paper_trading: bool,
    /// The gateway's host.
    pub host: String,
    /// The gateway's API port.
    pub port: u16,
    /// The client id in use (or the one the next attempt will use).
    pub client_id: i32,
    /// The connection state, with when it was entered (`since`) and its data; a reset window
    /// carries its end here.
    pub state: ConnectionState,
    /// When the watchdog last had an answer from the account's GatewayActor.
    pub last_checked: Option<DateTime<Utc>>,
    /// When the account last became usable.
    pub last_connected: Option<DateTime<Utc>>,
    /// When the current outage began: the account's first step out of `connected` into a down
    /// state (or the supervisor's start, before the first connection), kept through every
    /// attempt and failure that follows. `None` while usable or inside a reset window. See
    /// [`ConnectionState::outage_since`].
    pub outage_since: Option<DateTime<Utc>>,
    /// Attempts made in the current outage (0 when connected).
    pub reconnect_attempts: u32,
    /// When the next automatic attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the account is not usable (the last error, or IB's upstream-lost notice).
    pub error_message: Option<String>,
    /// Round-trip time of the last successful liveness probe.
    pub probe_rtt_ms: Option<f64>,
    /// IB's data farms as the current session reports them (ok / broken / inactive, since
    /// when) and the data plane they make: `degraded` while one is down, whatever the
    /// connection state says. Not stored in the database: each session reports every farm
    /// again, and the board forgets them when a session ends.
    pub farms: FarmSnapshot,
    /// The competing live session (10197) in progress, if any: another session of the same
    /// user takes the market data.
    pub competing_session: Option<CompetingEpisode>,
    /// IB's message-rate notices (100 and the warning before it) since the supervisor started.
    pub pacing: PacingCounters,
}

impl AccountStatus {
    /// The status of `account` before anything is known: disconnected since `now`.
    pub fn new(account: &AccountSettings, now: DateTime<Utc>) -> Self {
        Self {
            name: account.name.clone(),
            paper_trading: account.paper_trading,
            host: account.host.clone(),
            port: account.port,
            client_id: account.client_id,
            state: ConnectionState::Disconnected { since: now, last_error: None },
            last_checked: None,
            last_connected: None,
            outage_since: Some(now),
            reconnect_attempts: 0,
            next_attempt_at: None,
            error_message: None,
            probe_rtt_ms: None,
            farms: FarmSnapshot::default(),
            competing_session: None,
            pacing: PacingCounters::default(),
        }
    }

    /// True only while orders may flow (state `connected`).
    pub fn connected(&self) -> bool {
        self.state.is_usable()
    }
}

impl Serialize for AccountStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let reset_until = self.state.reset_window_ends_at();
        let mut s = serializer.serialize_struct("AccountStatus", 21)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("paper_trading", &self.paper_trading)?;
        s.serialize_field("state", self.state.name())?;
        s.serialize_field("connected", &self.connected())?;
        s.serialize_field("host", &self.host)?;
        s.serialize_field("port", &self.port)?;
        s.serialize_field("client_id", &self.client_id)?;
        s.serialize_field("last_checked", &self.last_checked)?;
        s.serialize_field("last_connected", &self.last_connected)?;
        s.serialize_field("outage_since", &self.outage_since)?;
        s.serialize_field("reconnect_attempts", &self.reconnect_attempts)?;
        s.serialize_field("next_attempt_at", &self.next_attempt_at)?;
        s.serialize_field("error_message", &self.error_message)?;
        s.serialize_field("probe_rtt_ms", &self.probe_rtt_ms)?;
        s.serialize_field("in_reset_window", &reset_until.is_some())?;
        s.serialize_field("reset_window_ends_at", &reset_until)?;
        s.serialize_field("detail", &self.state)?;
        s.serialize_field("data_plane", &self.farms.data_plane)?;
        s.serialize_field("farms", &self.farms.farms)?;
        s.serialize_field("competing_session", &self.competing_session)?;
        s.serialize_field("pacing", &self.pacing)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn the_json_form_names_the_state_and_carries_its_data() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let mut status = AccountStatus::new(&Settings::default().accounts[0], t(0));
        status.state = ConnectionState::ResetWindow { since: t(1), until: t(3600), link: Some(1) };
        status.reconnect_attempts = 2;
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["name"], "Paper");
        assert_eq!((json["state"].as_str(), json["connected"].as_bool()), (Some("reset_window"), Some(false)));
        assert_eq!(json["in_reset_window"], true);
        assert_eq!(json["reset_window_ends_at"], serde_json::to_value(t(3600)).unwrap());
        assert_eq!(json["detail"], serde_json::to_value(&status.state).unwrap());
        assert_eq!((json["port"].as_u64(), json["reconnect_attempts"].as_u64()), (Some(4002), Some(2)));
        assert_eq!(json.as_object().unwrap().len(), 21, "{json}");
        assert_eq!(json["data_plane"], serde_json::json!({ "status": "ok" }));
        assert_eq!((json["farms"].as_array().map(Vec::len), json["pacing"]["violations"].as_u64()), (Some(0), Some(0)));
        assert!(json["competing_session"].is_null());

        status.state = ConnectionState::Connected { since: t(2), client_id: 1 };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!((json["connected"].as_bool(), json["in_reset_window"].as_bool()), (Some(true), Some(false)));
        assert!(json["reset_window_ends_at"].is_null());
    }
}
