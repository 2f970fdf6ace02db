//! The queries: the last known status rows, the operator's paused accounts, the latest
//! events; and [`PersistenceReader`], which runs them off the async runtime for the HTTP layer.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;

use super::error::PersistenceError;
use super::rows::{parse_opt_ts, parse_ts, read_error, timestamp};
use super::schema::{has_schema, open_read_only};
use super::uptime::{uptime, DailyUptime};

/// One `ibkr_status` row: the last known status of an account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredStatus {
    pub account: String,
    pub paper_trading: bool,
    pub connected: bool,
    pub state: String,
    pub state_since: DateTime<Utc>,
    /// The state with its data (`{"state": "reset_window", "until": ...}`).
    pub state_detail: serde_json::Value,
    pub host: String,
    pub port: u16,
    pub client_id: i32,
    pub last_checked: Option<DateTime<Utc>>,
    pub last_connected: Option<DateTime<Utc>>,
    pub reconnect_attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub error_message: Option<String>,
    pub probe_rtt_ms: Option<f64>,
    pub updated_at: DateTime<Utc>,
}

/// One `connection_events` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// Publication order.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub account: String,
    pub kind: String,
    /// The event as published (its JSON form).
    pub detail: serde_json::Value,
}

/// The last known status rows of a database file, by account name: for startup code to show
/// history after a restart. Call it before the actor starts (which overwrites the rows with the
/// live board). A missing file, or one without the schema yet, has no rows.
pub fn load_status(path: &Path) -> Result<Vec<StoredStatus>, PersistenceError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    read_status(&open_read_only(path)?)
}

/// The accounts the operator left paused, and since when: the latest `trading_switched` event
/// of each account decides. Read at startup so the switch survives a restart. A missing file
/// has none.
pub fn paused_accounts(path: &Path) -> Result<Vec<(String, DateTime<Utc>)>, PersistenceError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let conn = open_read_only(path)?;
    if !has_schema(&conn)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare(
            "SELECT account, at, detail FROM connection_events e WHERE kind = 'trading_switched' \
             AND id = (SELECT MAX(id) FROM connection_events WHERE kind = 'trading_switched' AND account = e.account)",
        )
        .map_err(read_error(&conn))?;
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(|rows| rows.collect())
        .map_err(read_error(&conn))?;
    let mut paused = Vec::new();
    for (account, at, detail) in rows {
        let active = serde_json::from_str::<serde_json::Value>(&detail)
            .ok()
            .and_then(|d| d.get("active").and_then(serde_json::Value::as_bool))
            .unwrap_or(true);
        if !active {
            paused.push((account, parse_ts(&conn, "connection_events.at", &at)?));
        }
    }
    Ok(paused)
}

/// Every `ibkr_status` row, by account name.
pub fn read_status(conn: &Connection) -> Result<Vec<StoredStatus>, PersistenceError> {
    if !has_schema(conn)? {
        return Ok(Vec::new());
    }
    type Raw = (
        String,
        bool,
        bool,
        String,
        String,
        String,
        String,
        i64,
        i64,
        Option<String>,
        Option<String>,
        i64,
        Option<String>,
        Option<String>,
        Option<f64>,
        String,
    );
    let mut stmt = conn
        .prepare(
            "SELECT account, paper_trading, connected, state, state_since, state_detail, host, port, client_id, \
             last_checked, last_connected, reconnect_attempts, next_attempt_at, error_message, probe_rtt_ms, \
             updated_at FROM ibkr_status ORDER BY account",
        )
        .map_err(read_error(conn))?;
    let raws: Vec<Raw> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
                r.get(14)?,
                r.get(15)?,
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(read_error(conn))?;
    raws.into_iter()
        .map(|r| {
            Ok(StoredStatus {
                account: r.0,
                paper_trading: r.1,
                connected: r.2,
                state: r.3,
                state_since: parse_ts(conn, "ibkr_status.state_since", &r.4)?,
                state_detail: serde_json::from_str(&r.5).unwrap_or(serde_json::Value::String(r.5)),
                host: r.6,
                port: u16::try_from(r.7).unwrap_or_default(),
                client_id: i32::try_from(r.8).unwrap_or_default(),
                last_checked: parse_opt_ts(conn, "ibkr_status.last_checked", r.9)?,
                last_connected: parse_opt_ts(conn, "ibkr_status.last_connected", r.10)?,
                reconnect_attempts: u32::try_from(r.11).unwrap_or_default(),
                next_attempt_at: parse_opt_ts(conn, "ibkr_status.next_attempt_at", r.12)?,
                error_message: r.13,
                probe_rtt_ms: r.14,
                updated_at: parse_ts(conn, "ibkr_status.updated_at", &r.15)?,
            })
        })
        .collect()
}

/// Most rows [`recent_events`] returns.
pub const MAX_EVENTS_PER_QUERY: u32 = 10_000;

/// The latest events, newest first: of one account (or all), at or after `since` (or any time),
/// at most `limit` (capped at [`MAX_EVENTS_PER_QUERY`]). For `GET /events`.
pub fn recent_events(
    conn: &Connection,
    account: Option<&str>,
    since: Option<DateTime<Utc>>,
    limit: u32,
) -> Result<Vec<StoredEvent>, PersistenceError> {
    if !has_schema(conn)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, at, account, kind, detail FROM connection_events \
             WHERE (?1 IS NULL OR account = ?1) AND (?2 IS NULL OR at >= ?2) ORDER BY id DESC LIMIT ?3",
        )
        .map_err(read_error(conn))?;
    let raws: Vec<(i64, String, String, String, String)> = stmt
        .query_map(params![account, since.map(timestamp), i64::from(limit.min(MAX_EVENTS_PER_QUERY))], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(read_error(conn))?;
    raws.into_iter()
        .map(|(id, at, account, kind, detail)| {
            Ok(StoredEvent {
                id,
                at: parse_ts(conn, "connection_events.at", &at)?,
                account,
                kind,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
            })
        })
        .collect()
}

/// The read side for the HTTP layer: every query runs on `spawn_blocking` with its own read-only
/// connection (WAL: readers never wait for the writer, the writer never waits for them), so
/// no request blocks the async runtime or the writer thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PersistenceReader {
    path: PathBuf,
}

impl PersistenceReader {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, PersistenceError> + Send + 'static,
    ) -> Result<T, PersistenceError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || query(&open_read_only(&path)?))
            .await
            .map_err(|_| PersistenceError::Unavailable)?
    }

    /// [`uptime`].
    pub async fn uptime(&self, days: u32, now: DateTime<Utc>) -> Result<Vec<DailyUptime>, PersistenceError> {
        self.run(move |conn| uptime(conn, days, now)).await
    }

    /// [`recent_events`].
    pub async fn recent_events(
        &self,
        account: Option<String>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.run(move |conn| recent_events(conn, account.as_deref(), since, limit)).await
    }

    /// [`read_status`]: the stored status rows.
    pub async fn status(&self) -> Result<Vec<StoredStatus>, PersistenceError> {
        self.run(read_status).await
    }
}
