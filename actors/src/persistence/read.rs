//! The queries: the last known status rows, the operator's paused accounts, the latest
//! events; and [`PersistenceReader`], which runs them off the async runtime for the HTTP layer.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection};
use serde::Serialize;

use super::error::PersistenceError;
use super::rows::{select, timestamp, Column, StoredStatus, STATUS_COLUMNS};
use super::schema::{has_schema, open_read_only};
use super::spans::{spans, Span};
use super::uptime::{uptime, uptime_in, DailyUptime};

/// One `connection_events` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// Publication order.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The account, or `*`.
    pub account: String,
    /// The event's kind (`state_changed`, `lost`, …, or `persistence_gap`).
    pub kind: String,
    /// The event as published (its JSON form).
    pub detail: serde_json::Value,
}

impl StoredEvent {
    fn from_row(column: &Column<'_>) -> Result<StoredEvent, PersistenceError> {
        let detail: String = column.get("detail")?;
        Ok(StoredEvent {
            id: column.get("id")?,
            at: column.required_time("at")?,
            account: column.get("account")?,
            kind: column.get("kind")?,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        })
    }
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
    let latest = select(
        &conn,
        "SELECT account, at, detail FROM connection_events e WHERE kind = 'trading_switched' \
         AND id = (SELECT MAX(id) FROM connection_events WHERE kind = 'trading_switched' AND account = e.account)",
        [],
        "connection_events",
        |column| {
            let detail: String = column.get("detail")?;
            let active = serde_json::from_str::<serde_json::Value>(&detail)
                .ok()
                .and_then(|d| d.get("active").and_then(serde_json::Value::as_bool))
                .unwrap_or(true);
            Ok((column.get::<String>("account")?, column.required_time("at")?, active))
        },
    )?;
    let paused = latest.into_iter().filter(|(_, _, active)| !active).map(|(account, at, _)| (account, at)).collect();
    Ok(paused)
}

/// Every `ibkr_status` row, by account name.
pub fn read_status(conn: &Connection) -> Result<Vec<StoredStatus>, PersistenceError> {
    if !has_schema(conn)? {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {STATUS_COLUMNS} FROM ibkr_status ORDER BY account");
    select(conn, &sql, [], "ibkr_status", StoredStatus::from_row)
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
    select(
        conn,
        "SELECT id, at, account, kind, detail FROM connection_events \
         WHERE (:account IS NULL OR account = :account) AND (:since IS NULL OR at >= :since) \
         ORDER BY id DESC LIMIT :limit",
        named_params! {
            ":account": account,
            ":since": since.map(timestamp),
            ":limit": limit.min(MAX_EVENTS_PER_QUERY),
        },
        "connection_events",
        StoredEvent::from_row,
    )
}

/// The read side for the HTTP layer: every query runs on `spawn_blocking` with its own read-only
/// connection (WAL: readers never wait for the writer, the writer never waits for them), so
/// no request blocks the async runtime or the writer thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PersistenceReader {
    path: PathBuf,
}

impl PersistenceReader {
    /// A reader of the database at `path` (opened read-only for each query).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The database file.
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

    /// [`uptime_in`]: per local day of `zone` (the dashboard's 7-day history in the trading
    /// zone), from the rollups and today's raw events.
    pub async fn uptime_in(
        &self,
        days: u32,
        now: DateTime<Utc>,
        zone: chrono_tz::Tz,
    ) -> Result<Vec<DailyUptime>, PersistenceError> {
        self.run(move |conn| uptime_in(conn, days, now, zone)).await
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

    /// [`spans`]: each account's stretches of `[start, end)`.
    pub async fn spans(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<std::collections::BTreeMap<String, Vec<Span>>, PersistenceError> {
        self.run(move |conn| spans(conn, start, end)).await
    }

    /// Run `query` on `spawn_blocking` with a read-only connection of its own: several reads
    /// that belong together (the dashboard's history) share one connection and one snapshot
    /// of the file.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, PersistenceError> + Send + 'static,
    ) -> Result<T, PersistenceError> {
        self.run(query).await
    }

    /// [`read_status`]: the stored status rows.
    pub async fn status(&self) -> Result<Vec<StoredStatus>, PersistenceError> {
        self.run(read_status).await
    }
}
