//! `PersistenceActor`: the last known status of every account and the history of every
//! connection event, in SQLite, without ever holding up supervision.
//!
//! ```text
//! EventPort ──Event──▶ PersistenceActor ──Command (std mpsc)──▶ writer thread ──▶ SQLite (WAL)
//! StatusBoard ─watch─▶ watcher task ─BoardChanged─┘   (admission bound)        └─▶ JSON-lines mirror
//! ```
//!
//! - **Its own thread.** Every SQLite call runs on one `std::thread` ("ibkr-persistence") fed by
//!   a channel; the actor's handlers only move messages, so the actor answers at once even while
//!   the thread waits on a lock or a slow disk.
//! - **Batches.** The thread takes whatever has accumulated while the previous transaction ran
//!   (at most [`MAX_BATCH_ROWS`] events) and writes it in one transaction, status rows included.
//! - **Status rows coalesce.** Only the latest status of each account matters: a pending status row
//!   is replaced by a newer one, and an unchanged status is not rewritten.
//! - **Bounded, counted, retried.** At most [`MAX_PENDING_EVENTS`] events wait to reach the
//!   database (in the channel or in the thread's queue). Past that, new events are dropped and
//!   *counted* (`PersistenceHealth::dropped`, a rate-limited warning, and a `persistence_gap` row
//!   recording how many were lost and when, written where they were lost). The mirror may lag the
//!   database by as many lines again; past that its oldest lines are dropped and counted the same
//!   way, so a broken mirror never holds the database back. Failed writes stay queued and are
//!   retried with backoff ([`RETRY_FIRST`] doubling to [`RETRY_MAX`]); a `Flush` retries at once.
//!   `pending` in the health counts events not yet in the database, status rows not yet written
//!   and mirror lines not yet appended.
//! - **Faults.** A read-only file, a lock held by another connection ([`BUSY_TIMEOUT`] then retry),
//!   a full disk: supervision goes on, `PersistenceHealth { ok: false, last_error, pending }` is on
//!   the board, one warning is logged (then at most one every 30 s while it lasts, and one info line
//!   when writes land again). A database file that was deleted or replaced while open (its
//!   directory removed, say) is noticed before and after every transaction by its device and inode;
//!   the next retry recreates the directory and a new file and writes every pending row there (the
//!   rows of the deleted file are gone with it).
//! - **Flush on stop.** `post_stop` hands the final board to the thread and waits (at most
//!   [`STOP_FLUSH_WITHIN`], in real time) until everything has landed.
//! - **Reads** ([`uptime`], [`recent_events`], [`read_status`]) take a `&Connection`; the HTTP
//!   layer calls them through [`PersistenceReader`], which runs each on `spawn_blocking` with its
//!   own read-only connection (WAL lets readers run beside the writer), so no read touches the
//!   writer thread or blocks the async runtime. [`load_status`] reads a file's last known status
//!   rows at startup.
//!
//! Every event is stored, farm-OK notices 2104/2106/2158 included: they are real events (when a
//! data farm came back), there are a handful per connection, and the history should show what the
//! gateway said. Uptime is derived from `state_changed` rows only, per UTC day: see [`timeline`] and
//! [`daily_uptime`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, SecondsFormat, Utc};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};
use rusqlite_migration::{Migrations, M};
use serde::Serialize;
use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::settings::DatabaseSettings;
use crate::status::{
    AccountStatus, BoardSnapshot, ConnectionState, EventKind, EventPort, PersistenceHealth, StatusBoard, StatusEvent,
};

/// Events that may wait to land (in the channel or the writer's queue) before new ones are dropped.
pub const MAX_PENDING_EVENTS: u64 = 100_000;
/// Most events written in one transaction.
pub const MAX_BATCH_ROWS: usize = 5_000;
/// How long one write waits for a lock held by another connection before it counts as failed.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// First wait before retrying a failed write; doubled after each failure up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between retries.
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long `post_stop` waits for the last writes to land.
pub const STOP_FLUSH_WITHIN: Duration = Duration::from_secs(1);
/// At most one "still failing" warning per this interval.
const LOG_EVERY: Duration = Duration::from_secs(30);
/// The board's copy of the health is refreshed at least this often while counters move.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Batch durations kept for [`PersistenceStats`].
const RECENT_BATCHES: usize = 4096;

/// The schema, embedded so the binary is self-contained (files in the top-level `migrations/`).
const MIGRATIONS: &[M<'static>] = &[M::up(include_str!("../../migrations/0001_status_and_events.sql"))];

/// Event `kind` of the row that records dropped events.
pub const GAP_KIND: &str = "persistence_gap";

// ---------------------------------------------------------------------------------------------
// Errors

/// What went wrong with the database, phrased so the operator knows what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    #[error(
        "cannot create the database directory \"{dir}\": {source} (is its parent writable, and is no file in the way?)"
    )]
    CreateDir { dir: PathBuf, source: std::io::Error },
    #[error("cannot open database \"{path}\": {source} (is the directory writable?)")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("cannot configure database \"{path}\" (busy timeout, WAL mode): {source} ({hint})")]
    Configure { path: PathBuf, source: rusqlite::Error, hint: &'static str },
    #[error("cannot apply the schema migrations to database \"{path}\": {source} (was it written by a newer ibkr-supervisor, or is it another program's file? set database.path to a new file)")]
    Migrate { path: PathBuf, source: rusqlite_migration::Error },
    #[error("cannot write to database \"{path}\": {source} ({hint})")]
    Write { path: PathBuf, source: rusqlite::Error, hint: &'static str },
    #[error("database file \"{path}\" was deleted or replaced while open (was its directory removed?); a new file is created on the next retry and the pending rows are written there")]
    Vanished { path: PathBuf },
    #[error("cannot append to the event log \"{path}\": {source} (is its directory writable, and the disk not full?)")]
    EventLog { path: PathBuf, source: std::io::Error },
    #[error("no database at \"{path}\" yet (the persistence actor creates it at startup: check database.path)")]
    Missing { path: PathBuf },
    #[error("cannot read database \"{path}\": {source}")]
    Read { path: String, source: rusqlite::Error },
    #[error("database \"{path}\" holds a malformed {what}: {value:?}")]
    Malformed { path: String, what: &'static str, value: String },
    #[error("the persistence actor is not running or did not answer in time")]
    Unavailable,
}

impl PersistenceError {
    /// Whether it is a lock held by another connection (the open connection stays usable).
    fn is_busy(&self) -> bool {
        match self {
            Self::Write { source, .. } | Self::Configure { source, .. } => {
                matches!(source.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
            }
            _ => false,
        }
    }
}

/// A hint for the operator, by SQLite's error code.
fn write_hint(error: &rusqlite::Error) -> &'static str {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "another connection holds a lock on it; the writes are kept and retried"
        }
        Some(ErrorCode::ReadOnly) => {
            "the file, its directory or its filesystem is read-only; the writes are kept and retried"
        }
        Some(ErrorCode::DiskFull) => "the disk is full; the writes are kept and retried",
        Some(ErrorCode::CannotOpen) => "is the directory writable, and does it still exist?",
        Some(ErrorCode::SystemIoFailure) => {
            "an I/O error: was the file or its directory removed, or is the disk failing? the writes are kept and retried"
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            "the file is not a healthy SQLite database: move it away and a new one is created"
        }
        _ => "the writes are kept and retried",
    }
}

// ---------------------------------------------------------------------------------------------
// Opening

/// Open (creating the directory and the file if needed) the database for writing: busy timeout,
/// WAL mode, `synchronous = NORMAL` (durable across a crash of the process; a power cut may lose
/// the last transactions), and the schema migrations applied.
pub fn open_database(path: &Path) -> Result<Connection, PersistenceError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|source| PersistenceError::CreateDir { dir: dir.to_owned(), source })?;
    }
    let mut conn = Connection::open(path).map_err(|source| PersistenceError::Open { path: path.to_owned(), source })?;
    let configure = |source: rusqlite::Error| PersistenceError::Configure {
        path: path.to_owned(),
        hint: write_hint(&source),
        source,
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(configure)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(configure)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), %mode, "persistence: the database is not in WAL mode; readers may wait for the writer");
    }
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(configure)?;
    Migrations::from_slice(MIGRATIONS)
        .to_latest(&mut conn)
        .map_err(|source| PersistenceError::Migrate { path: path.to_owned(), source })?;
    Ok(conn)
}

/// Open the database read-only (for the HTTP layer, tools and tests): never creates anything.
pub fn open_read_only(path: &Path) -> Result<Connection, PersistenceError> {
    if !path.exists() {
        return Err(PersistenceError::Missing { path: path.to_owned() });
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|source| PersistenceError::Open { path: path.to_owned(), source })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|source| PersistenceError::Open { path: path.to_owned(), source })?;
    Ok(conn)
}

/// A file's identity, to notice it was deleted or replaced under an open connection.
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|_| (0, 0))
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/// The stored form of a timestamp: UTC RFC 3339 with milliseconds, e.g. `2026-03-09T14:00:00.000Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn conn_path(conn: &Connection) -> String {
    conn.path().filter(|p| !p.is_empty()).unwrap_or(":memory:").to_owned()
}

fn read_error(conn: &Connection) -> impl Fn(rusqlite::Error) -> PersistenceError + '_ {
    move |source| PersistenceError::Read { path: conn_path(conn), source }
}

fn parse_ts(conn: &Connection, what: &'static str, value: &str) -> Result<DateTime<Utc>, PersistenceError> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|_| PersistenceError::Malformed {
        path: conn_path(conn),
        what,
        value: value.to_owned(),
    })
}

fn parse_opt_ts(
    conn: &Connection,
    what: &'static str,
    value: Option<String>,
) -> Result<Option<DateTime<Utc>>, PersistenceError> {
    value.map(|v| parse_ts(conn, what, &v)).transpose()
}

/// Whether the schema has been created (a file the actor never got to migrate reads as empty).
fn has_schema(conn: &Connection) -> Result<bool, PersistenceError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(read_error(conn))?;
    Ok(version >= 1)
}

// ---------------------------------------------------------------------------------------------
// Rows

/// One event row, prepared off the actor (on the writer thread).
struct EventRow {
    at: String,
    account: String,
    kind: String,
    from_state: Option<&'static str>,
    to_state: Option<&'static str>,
    /// The event as JSON: the `detail` column and the mirror's line.
    json: String,
}

impl EventRow {
    fn from_event(event: &StatusEvent) -> EventRow {
        let json = serde_json::to_string(event).unwrap_or_else(|e| {
            serde_json::json!({ "account": event.account, "at": event.at, "kind": "unserializable", "error": e.to_string() })
                .to_string()
        });
        let kind = event.kind.name().to_owned();
        let (from_state, to_state) = match &event.kind {
            EventKind::StateChanged { from, to } => (Some(from.name()), Some(to.name())),
            _ => (None, None),
        };
        EventRow { at: timestamp(event.at), account: event.account.clone(), kind, from_state, to_state, json }
    }

    fn gap(gap: &Gap) -> EventRow {
        let json = serde_json::json!({
            "account": "*",
            "at": gap.first_at,
            "kind": GAP_KIND,
            "dropped": gap.dropped,
            "last_at": gap.last_at,
            "reason": format!("more than {} events were waiting to be written", gap.limit),
        })
        .to_string();
        EventRow {
            at: timestamp(gap.first_at),
            account: "*".into(),
            kind: GAP_KIND.into(),
            from_state: None,
            to_state: None,
            json,
        }
    }
}

/// Events dropped in a row, recorded where they were lost.
#[derive(Debug, Clone, PartialEq)]
struct Gap {
    dropped: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    limit: u64,
}

#[derive(Clone)]
struct StatusRow {
    status: AccountStatus,
    at: DateTime<Utc>,
}

const INSERT_EVENT: &str = "INSERT INTO connection_events (at, account, kind, from_state, to_state, detail) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

const UPSERT_STATUS: &str = "INSERT INTO ibkr_status (account, paper_trading, connected, state, state_since, \
     state_detail, host, port, client_id, last_checked, last_connected, reconnect_attempts, next_attempt_at, \
     error_message, probe_rtt_ms, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
     ON CONFLICT (account) DO UPDATE SET paper_trading = excluded.paper_trading, \
     connected = excluded.connected, state = excluded.state, state_since = excluded.state_since, \
     state_detail = excluded.state_detail, host = excluded.host, port = excluded.port, \
     client_id = excluded.client_id, \
     last_checked = COALESCE(excluded.last_checked, ibkr_status.last_checked), \
     last_connected = COALESCE(excluded.last_connected, ibkr_status.last_connected), \
     reconnect_attempts = excluded.reconnect_attempts, next_attempt_at = excluded.next_attempt_at, \
     error_message = excluded.error_message, probe_rtt_ms = excluded.probe_rtt_ms, \
     updated_at = excluded.updated_at";

fn upsert_status(conn: &Connection, row: &StatusRow) -> rusqlite::Result<()> {
    let s = &row.status;
    let state_detail = serde_json::to_string(&s.state).unwrap_or_else(|_| "{}".into());
    conn.prepare_cached(UPSERT_STATUS)?.execute(params![
        s.name,
        s.paper_trading,
        s.connected(),
        s.state.name(),
        timestamp(s.state.since()),
        state_detail,
        s.host,
        i64::from(s.port),
        i64::from(s.client_id),
        s.last_checked.map(timestamp),
        s.last_connected.map(timestamp),
        i64::from(s.reconnect_attempts),
        s.next_attempt_at.map(timestamp),
        s.error_message,
        s.probe_rtt_ms,
        timestamp(row.at),
    ])?;
    Ok(())
}

/// Write events and status rows in one transaction.
fn write_rows<'a>(
    conn: &mut Connection,
    events: impl Iterator<Item = &'a EventRow>,
    statuses: impl Iterator<Item = &'a StatusRow>,
) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut rows = 0;
    {
        let mut insert = tx.prepare_cached(INSERT_EVENT)?;
        for e in events {
            insert.execute(params![e.at, e.account, e.kind, e.from_state, e.to_state, e.json])?;
            rows += 1;
        }
    }
    for s in statuses {
        upsert_status(&tx, s)?;
        rows += 1;
    }
    tx.commit()?;
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Reads

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

// ---------------------------------------------------------------------------------------------
// Uptime

/// What a span of time counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Connected: usable.
    Up,
    /// Disconnected, connecting or degraded (IB upstream lost): not usable.
    Down,
    /// Inside a scheduled reset window: not usable, not an outage.
    Reset,
    /// Not observed: before the first record, while the supervisor was stopped, or across a gap
    /// in the records (a crash, events that were lost).
    Unknown,
}

impl Availability {
    /// By a [`ConnectionState`] name.
    pub fn of_state(name: &str) -> Availability {
        match name {
            "connected" => Availability::Up,
            "disconnected" | "connecting" | "degraded" => Availability::Down,
            "reset_window" => Availability::Reset,
            _ => Availability::Unknown,
        }
    }
}

/// One recorded state change (a `state_changed` row).
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub at: DateTime<Utc>,
    /// The state left, and since when it held (from the event's `from.since`).
    pub from: String,
    pub from_since: Option<DateTime<Utc>>,
    /// The state entered at `at`.
    pub to: String,
}

/// A timeline: from each point on, the account was in that availability until the next point.
/// Before the first point it is unknown; the last point lasts until "now".
pub type Timeline = Vec<(DateTime<Utc>, Availability)>;

/// The timeline of one account's state changes (in time order). A change whose `from` is not the
/// previous change's `to` marks a discontinuity (a restart, lost records): from the previous
/// change to `from_since` counts as unknown, then `from` from `from_since` on. The first change
/// also tells, through `from_since`, how long the state before it held.
pub fn timeline(changes: &[StateChange]) -> Timeline {
    let mut points = Vec::with_capacity(changes.len() + 1);
    let mut prev: Option<&StateChange> = None;
    for change in changes {
        let continuous = prev.is_some_and(|p| p.to == change.from);
        if !continuous {
            match (prev, change.from_since) {
                (None, Some(since)) if since <= change.at => points.push((since, Availability::of_state(&change.from))),
                (Some(p), Some(since)) if since > p.at && since <= change.at => {
                    points.push((p.at, Availability::Unknown));
                    points.push((since, Availability::of_state(&change.from)));
                }
                _ => {}
            }
        }
        points.push((change.at, Availability::of_state(&change.to)));
        prev = Some(change);
    }
    points
}

/// Uptime of one account on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyUptime {
    pub account: String,
    /// The UTC day.
    pub day: NaiveDate,
    /// Seconds of the day covered: the whole day (86 400), or up to now for today.
    pub covered_secs: f64,
    pub up_secs: f64,
    pub down_secs: f64,
    /// Inside scheduled reset windows: reported apart, not downtime.
    pub reset_secs: f64,
    pub unknown_secs: f64,
    /// Shares of `covered_secs`, in percent (rounded to 0.001); the four add up to 100.
    pub up_pct: f64,
    pub down_pct: f64,
    pub reset_pct: f64,
    pub unknown_pct: f64,
    /// `up / (up + down)` in percent: availability outside reset windows and unobserved time
    /// (`None` when neither was observed that day).
    pub availability_pct: Option<f64>,
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        0.0
    } else {
        (part / whole * 100_000.0).round() / 1000.0
    }
}

/// Uptime per UTC day of `account`, from `first_day` through the day of `now` (today counts up to
/// `now`), given its [`timeline`]. Pure: the whole arithmetic of `GET /uptime`.
pub fn daily_uptime(
    account: &str,
    timeline: &[(DateTime<Utc>, Availability)],
    first_day: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<DailyUptime> {
    let mut points = timeline.to_vec();
    points.sort_by_key(|(at, _)| *at);
    let mut days = Vec::new();
    let mut day = first_day;
    while day <= now.date_naive() {
        let start = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        let end = (start + chrono::Duration::days(1)).min(now);
        if end > start {
            let mut secs = [0.0_f64; 4];
            let add = |secs: &mut [f64; 4], a: Availability, from: DateTime<Utc>, to: DateTime<Utc>| {
                let (from, to) = (from.max(start), to.min(end));
                if to > from {
                    let slot = match a {
                        Availability::Up => 0,
                        Availability::Down => 1,
                        Availability::Reset => 2,
                        Availability::Unknown => 3,
                    };
                    secs[slot] += (to - from).num_milliseconds() as f64 / 1000.0;
                }
            };
            match points.first() {
                Some((first, _)) => add(&mut secs, Availability::Unknown, start, *first),
                None => add(&mut secs, Availability::Unknown, start, end),
            }
            for (i, (at, a)) in points.iter().enumerate() {
                let until = points.get(i + 1).map_or(end, |(next, _)| *next);
                add(&mut secs, *a, *at, until);
            }
            let covered = (end - start).num_milliseconds() as f64 / 1000.0;
            let [up, down, reset, unknown] = secs;
            days.push(DailyUptime {
                account: account.to_owned(),
                day,
                covered_secs: covered,
                up_secs: up,
                down_secs: down,
                reset_secs: reset,
                unknown_secs: unknown,
                up_pct: pct(up, covered),
                down_pct: pct(down, covered),
                reset_pct: pct(reset, covered),
                unknown_pct: pct(unknown, covered),
                availability_pct: (up + down > 0.0).then(|| pct(up, up + down)),
            });
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    days
}

/// account, at, from_state, from.since, to_state, id.
type ChangeColumns = (String, String, Option<String>, Option<String>, Option<String>, i64);

/// Most days [`uptime`] reports.
pub const MAX_UPTIME_DAYS: u32 = 3660;

/// Uptime per account per UTC day for the last `days` days (today included, up to `now`), from the
/// `state_changed` rows. Accounts: those with a status row or a recorded state change.
pub fn uptime(conn: &Connection, days: u32, now: DateTime<Utc>) -> Result<Vec<DailyUptime>, PersistenceError> {
    let days = days.min(MAX_UPTIME_DAYS);
    if days == 0 || !has_schema(conn)? {
        return Ok(Vec::new());
    }
    let first_day = now.date_naive().checked_sub_days(Days::new(u64::from(days) - 1)).unwrap_or(NaiveDate::MIN);
    let start = timestamp(first_day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    let end = timestamp(now);
    let columns = "SELECT account, at, from_state, json_extract(detail, '$.from.since'), to_state, id \
                   FROM connection_events";
    // The last change before the window tells the state the window starts in.
    let before = format!(
        "{columns} WHERE id IN (SELECT max(id) FROM connection_events \
         WHERE kind = 'state_changed' AND at < ?1 GROUP BY account)"
    );
    let within = format!("{columns} WHERE kind = 'state_changed' AND at >= ?1 AND at <= ?2");
    let mut by_account: BTreeMap<String, Vec<(String, i64, StateChange)>> = BTreeMap::new();
    for (sql, args) in [(before, vec![start.clone()]), (within, vec![start, end])] {
        let mut stmt = conn.prepare(&sql).map_err(read_error(conn))?;
        let raws: Vec<ChangeColumns> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(read_error(conn))?;
        for (account, at, from, from_since, to, id) in raws {
            let change = StateChange {
                at: parse_ts(conn, "connection_events.at", &at)?,
                from: from.unwrap_or_default(),
                from_since: from_since
                    .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                    .map(|t| t.with_timezone(&Utc)),
                to: to.unwrap_or_default(),
            };
            by_account.entry(account).or_default().push((at, id, change));
        }
    }
    let mut stmt = conn.prepare("SELECT account FROM ibkr_status").map_err(read_error(conn))?;
    let known: BTreeSet<String> =
        stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(read_error(conn))?;
    for account in known {
        by_account.entry(account).or_default();
    }
    let mut report = Vec::new();
    for (account, mut changes) in by_account {
        changes.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let changes: Vec<StateChange> = changes.into_iter().map(|(_, _, c)| c).collect();
        report.extend(daily_uptime(&account, &timeline(&changes), first_day, now));
    }
    Ok(report)
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

// ---------------------------------------------------------------------------------------------
// Shared between the actor and the writer thread

/// Write statistics, for the benchmark and `/actors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PersistenceStats {
    /// Transactions committed.
    pub batches: u64,
    /// Rows written (events and status rows).
    pub rows: u64,
    pub largest_batch: u64,
    /// Write attempts that failed.
    pub failed_attempts: u64,
    /// The most recent failure, kept after writes land again (the health's `last_error` is
    /// cleared then): a fault that healed at the next retry still shows here.
    pub last_failure: Option<String>,
    /// Durations of the most recent transactions (at most 4096, oldest first), in microseconds.
    pub recent_batch_micros: Vec<u64>,
}

#[derive(Default)]
struct Shared {
    /// Events (and gap rows) accepted by the actor and not yet in the database.
    outstanding: AtomicU64,
    /// Status rows waiting.
    status_pending: AtomicU64,
    /// Events in the database but not yet in the JSON-lines mirror.
    mirror_pending: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    stats: Mutex<(PersistenceStats, VecDeque<u64>)>,
    /// A `BoardChanged` is in the actor's mailbox.
    board_signal: AtomicBool,
}

impl Shared {
    fn health(&self) -> PersistenceHealth {
        PersistenceHealth {
            ok: !self.failing.load(Ordering::Acquire),
            last_error: self.last_error.lock().map(|e| e.clone()).unwrap_or_default(),
            pending: self.outstanding.load(Ordering::Acquire)
                + self.status_pending.load(Ordering::Acquire)
                + self.mirror_pending.load(Ordering::Acquire),
            dropped: self.dropped.load(Ordering::Acquire),
            written: self.written.load(Ordering::Acquire),
        }
    }

    fn stats(&self) -> PersistenceStats {
        let guard = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = guard.0.clone();
        stats.recent_batch_micros = guard.1.iter().copied().collect();
        stats
    }
}

/// What the actor hands to the writer thread.
enum Command {
    Event(Box<StatusEvent>),
    Gap(Gap),
    Status { accounts: Vec<AccountStatus>, at: DateTime<Utc> },
    Flush(RpcReplyPort<()>),
    Shutdown { deadline: Instant, done: mpsc::Sender<bool> },
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_pending: u64,
    max_batch: usize,
    retry_first: Duration,
    retry_max: Duration,
    stop_flush: Duration,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        max_pending: MAX_PENDING_EVENTS,
        max_batch: MAX_BATCH_ROWS,
        retry_first: RETRY_FIRST,
        retry_max: RETRY_MAX,
        stop_flush: STOP_FLUSH_WITHIN,
    };
}

// ---------------------------------------------------------------------------------------------
// The writer thread

struct Failure {
    since: Instant,
    attempts: u32,
    backoff: Duration,
    next_retry: Instant,
    last_logged: Instant,
    error: String,
}

struct OpenDb {
    conn: Connection,
    id: Option<(u64, u64)>,
}

struct Writer {
    path: PathBuf,
    event_log: Option<PathBuf>,
    board: StatusBoard,
    shared: Arc<Shared>,
    limits: Limits,
    db: Option<OpenDb>,
    /// Accepted events in order; the first `db_done` are in the database, the first `log_done`
    /// in the mirror; a prefix in both leaves the queue. Bounded: the actor admits at most
    /// `max_pending` events not yet in the database, and the mirror may lag the database by at
    /// most `max_pending` lines.
    queue: VecDeque<EventRow>,
    db_done: usize,
    log_done: usize,
    /// Coalesced: the latest unwritten status of each account.
    status: BTreeMap<String, StatusRow>,
    /// The last written status of each account (rewritten after a reopen: the file may be new).
    written_status: HashMap<String, StatusRow>,
    failure: Option<Failure>,
    flush_waiters: Vec<RpcReplyPort<()>>,
    forced: bool,
    stop: Option<(Instant, mpsc::Sender<bool>)>,
    published: Option<(PersistenceHealth, Instant)>,
    mirror_drop_logged: Option<Instant>,
}

impl Writer {
    fn new(database: &DatabaseSettings, board: StatusBoard, shared: Arc<Shared>, limits: Limits) -> Self {
        Writer {
            path: database.path.clone(),
            event_log: database.event_log.clone(),
            board,
            shared,
            limits,
            db: None,
            queue: VecDeque::new(),
            db_done: 0,
            log_done: 0,
            status: BTreeMap::new(),
            written_status: HashMap::new(),
            failure: None,
            flush_waiters: Vec::new(),
            forced: false,
            stop: None,
            published: None,
            mirror_drop_logged: None,
        }
    }

    fn run(mut self, rx: Receiver<Command>) {
        loop {
            let mut disconnected = false;
            let first = if !self.has_work() {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                match &self.failure {
                    Some(f) if !self.forced => {
                        let wait = f.next_retry.saturating_duration_since(Instant::now()).min(HEALTH_EVERY);
                        rx.recv_timeout(wait)
                    }
                    _ => rx.try_recv().map_err(|e| match e {
                        TryRecvError::Empty => RecvTimeoutError::Timeout,
                        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    }),
                }
            };
            match first {
                Ok(command) => self.accept(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => disconnected = true,
            }
            // Take what accumulated meanwhile: it goes into the same transaction.
            for _ in 0..self.limits.max_batch {
                if disconnected || self.stop.is_some() {
                    break;
                }
                match rx.try_recv() {
                    Ok(command) => self.accept(command),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => disconnected = true,
                }
            }
            if disconnected || self.stop.is_some() {
                self.finish();
                return;
            }
            let due = self.forced || self.failure.as_ref().is_none_or(|f| Instant::now() >= f.next_retry);
            if self.has_work() && due {
                self.attempt();
            }
            // The board first: whoever waits for the flush then sees the outcome there too.
            let flushed = std::mem::take(&mut self.forced);
            self.publish(flushed);
            for waiter in self.flush_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    fn accept(&mut self, command: Command) {
        match command {
            Command::Event(event) => self.queue.push_back(EventRow::from_event(&event)),
            Command::Gap(gap) => self.queue.push_back(EventRow::gap(&gap)),
            Command::Status { accounts, at } => {
                for status in accounts {
                    let latest = self.status.get(&status.name).or_else(|| self.written_status.get(&status.name));
                    if latest.is_none_or(|row| row.status != status) {
                        self.status.insert(status.name.clone(), StatusRow { status, at });
                    }
                }
                self.shared.status_pending.store(self.status.len() as u64, Ordering::Release);
            }
            Command::Flush(reply) => {
                self.flush_waiters.push(reply);
                self.forced = true;
            }
            Command::Shutdown { deadline, done } => self.stop = Some((deadline, done)),
        }
        if self.event_log.is_none() {
            self.log_done = self.queue.len();
        }
    }

    fn has_work(&self) -> bool {
        self.db_done < self.queue.len() || self.log_done < self.queue.len() || !self.status.is_empty()
    }

    /// Write everything pending (in transactions of at most `max_batch` events) and mirror it.
    fn attempt(&mut self) {
        let mut errors = Vec::new();
        while self.db_done < self.queue.len() || !self.status.is_empty() {
            if let Err(e) = self.write_batch() {
                if !e.is_busy() {
                    self.db = None; // reopen on the next attempt
                }
                errors.push(e.to_string());
                break;
            }
        }
        if let Err(e) = self.write_log() {
            errors.push(e.to_string());
        }
        // The mirror must not hold the database back: past the bound, its oldest lines go (counted).
        let behind = self.db_done.saturating_sub(self.log_done) as u64;
        if behind > self.limits.max_pending {
            let skip = behind - self.limits.max_pending;
            self.log_done += skip as usize;
            let dropped = self.shared.dropped.fetch_add(skip, Ordering::AcqRel) + skip;
            if self.mirror_drop_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                tracing::warn!(path = ?self.event_log, skipped = skip, dropped,
                    "persistence: the event log mirror is too far behind; its oldest lines are dropped (counted)");
                self.mirror_drop_logged = Some(Instant::now());
            }
        }
        let done = self.db_done.min(self.log_done);
        self.queue.drain(..done);
        self.db_done -= done;
        self.log_done -= done;
        self.shared.mirror_pending.store(self.db_done.saturating_sub(self.log_done) as u64, Ordering::Release);
        self.shared.status_pending.store(self.status.len() as u64, Ordering::Release);
        if errors.is_empty() {
            self.recovered();
        } else {
            self.failed(errors.join("; "));
        }
    }

    fn ensure_open(&mut self) -> Result<&mut OpenDb, PersistenceError> {
        if let Some(db) = &self.db {
            if file_id(&self.path) != db.id {
                self.db = None;
                return Err(PersistenceError::Vanished { path: self.path.clone() });
            }
        }
        if self.db.is_none() {
            let conn = open_database(&self.path)?;
            let id = file_id(&self.path);
            // The file may be a new one: every known status row goes into it again.
            for (account, row) in self.written_status.drain() {
                self.status.entry(account).or_insert(row);
            }
            self.db = Some(OpenDb { conn, id });
        }
        Ok(self.db.as_mut().expect("just opened"))
    }

    fn write_batch(&mut self) -> Result<(), PersistenceError> {
        self.ensure_open()?;
        let end = self.queue.len().min(self.db_done + self.limits.max_batch);
        let db = self.db.as_mut().expect("opened");
        let started = Instant::now();
        let rows = write_rows(&mut db.conn, self.queue.range(self.db_done..end), self.status.values())
            .map_err(|source| PersistenceError::Write { path: self.path.clone(), hint: write_hint(&source), source })?;
        let elapsed = started.elapsed();
        if file_id(&self.path) != db.id {
            // Committed into a file that is no longer there: write the rows again in a new one.
            self.db = None;
            return Err(PersistenceError::Vanished { path: self.path.clone() });
        }
        self.shared.outstanding.fetch_sub((end - self.db_done) as u64, Ordering::AcqRel);
        self.db_done = end;
        self.written_status.extend(std::mem::take(&mut self.status));
        self.shared.written.fetch_add(rows, Ordering::AcqRel);
        let mut stats = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.0.batches += 1;
        stats.0.rows += rows;
        stats.0.largest_batch = stats.0.largest_batch.max(rows);
        if stats.1.len() == RECENT_BATCHES {
            stats.1.pop_front();
        }
        stats.1.push_back(elapsed.as_micros() as u64);
        Ok(())
    }

    fn write_log(&mut self) -> Result<(), PersistenceError> {
        let Some(path) = &self.event_log else { return Ok(()) };
        while self.log_done < self.queue.len() {
            let end = self.queue.len().min(self.log_done + self.limits.max_batch);
            let mut buffer = String::new();
            for row in self.queue.range(self.log_done..end) {
                buffer.push_str(&row.json);
                buffer.push('\n');
            }
            append(path, buffer.as_bytes())
                .map_err(|source| PersistenceError::EventLog { path: path.clone(), source })?;
            self.log_done = end;
        }
        Ok(())
    }

    fn failed(&mut self, error: String) {
        let now = Instant::now();
        {
            let mut stats = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            stats.0.failed_attempts += 1;
            stats.0.last_failure = Some(error.clone());
        }
        let pending = self.shared.health().pending;
        match &mut self.failure {
            None => {
                tracing::warn!(path = %self.path.display(), %error, pending,
                    "persistence: cannot write; supervision goes on, the writes are kept and retried");
                self.failure = Some(Failure {
                    since: now,
                    attempts: 1,
                    backoff: self.limits.retry_first,
                    next_retry: now + self.limits.retry_first,
                    last_logged: now,
                    error: error.clone(),
                });
            }
            Some(f) => {
                f.attempts += 1;
                f.backoff = (f.backoff * 2).min(self.limits.retry_max);
                f.next_retry = now + f.backoff;
                let quiet = now.duration_since(f.last_logged);
                if quiet >= LOG_EVERY || (error != f.error && quiet >= Duration::from_secs(5)) {
                    tracing::warn!(path = %self.path.display(), %error, pending, attempts = f.attempts,
                        failing_for = ?f.since.elapsed(), "persistence: still cannot write; retrying");
                    f.last_logged = now;
                }
                f.error = error.clone();
            }
        }
        self.shared.failing.store(true, Ordering::Release);
        *self.shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    fn recovered(&mut self) {
        if let Some(f) = self.failure.take() {
            tracing::info!(path = %self.path.display(), attempts = f.attempts, failing_for = ?f.since.elapsed(),
                last_error = %f.error, "persistence: writes land again");
        }
        self.shared.failing.store(false, Ordering::Release);
        *self.shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Put the health on the board: at once when it matters (ok, error, drops, queue emptied,
    /// a flush), else at most every [`HEALTH_EVERY`].
    fn publish(&mut self, force: bool) {
        let health = self.shared.health();
        let due = match &self.published {
            None => true,
            Some((last, _)) if *last == health => false,
            Some((last, at)) => {
                force
                    || last.ok != health.ok
                    || last.last_error != health.last_error
                    || last.dropped != health.dropped
                    || health.pending == 0
                    || at.elapsed() >= HEALTH_EVERY
            }
        };
        if due {
            self.board.set_persistence(health.clone());
            self.published = Some((health, Instant::now()));
        }
    }

    /// The actor stopped: write what is left, retrying until the deadline, then close.
    fn finish(&mut self) {
        let (deadline, done) = match self.stop.take() {
            Some((deadline, done)) => (deadline, Some(done)),
            None => (Instant::now() + self.limits.stop_flush, None),
        };
        loop {
            if self.has_work() {
                self.attempt();
            }
            let now = Instant::now();
            if !self.has_work() || now >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50).min(deadline - now));
        }
        self.publish(true);
        for waiter in self.flush_waiters.drain(..) {
            let _ = waiter.send(());
        }
        let landed = !self.has_work();
        if !landed {
            let health = self.shared.health();
            tracing::error!(path = %self.path.display(), pending = health.pending,
                error = health.last_error.as_deref().unwrap_or(""),
                "persistence: writes could not be saved before shutdown and are lost");
        }
        self.db = None; // closing checkpoints the WAL into the file
        if let Some(done) = done {
            let _ = done.send(landed);
        }
    }
}

/// Append `bytes` to the file at `path` (creating it and its directory); on failure, cut back
/// what was partly written so a retry does not leave half a line.
fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let open = || fs::OpenOptions::new().create(true).append(true).open(path);
    let mut file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)?;
            }
            open()?
        }
        other => other?,
    };
    let before = file.metadata()?.len();
    if let Err(e) = file.write_all(bytes).and_then(|()| file.flush()) {
        let _ = file.set_len(before);
        return Err(e);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The actor

/// Everything the PersistenceActor is started with.
#[derive(Clone)]
pub struct PersistenceArgs {
    pub database: DatabaseSettings,
    pub board: StatusBoard,
    pub events: EventPort,
    pub clock: SharedClock,
}

/// Messages the PersistenceActor handles. Every handler returns at once: the database work is
/// on the writer thread.
pub enum PersistenceMessage {
    /// A published status event (the actor subscribes to the event port in `pre_start`).
    Event(StatusEvent),
    /// The board's accounts changed (sent by the actor's board watcher, coalesced).
    BoardChanged,
    /// Write everything received so far now (retrying at once if writes were failing), and
    /// answer after that attempt, whether it succeeded or not: `Snapshot` then tells.
    Flush(RpcReplyPort<()>),
    /// The persistence health (the same figures as the board's `persistence`), answered at once.
    Snapshot(RpcReplyPort<PersistenceHealth>),
    /// Write statistics, answered at once.
    Stats(RpcReplyPort<PersistenceStats>),
    /// Answered once, for every account, the last `StateChanged` received ends in the board's
    /// current state: the events that led there (which travel through the event port's fan-out
    /// task, behind the board) have all reached the actor. Used at shutdown, see [`stop_last`].
    Settle(RpcReplyPort<()>),
}

/// Records the status board and every status event in SQLite; see the module documentation.
/// Spawn it as `PersistenceActor::new()`.
pub struct PersistenceActor {
    limits: Limits,
}

impl PersistenceActor {
    pub fn new() -> Self {
        Self { limits: Limits::DEFAULT }
    }
}

impl Default for PersistenceActor {
    fn default() -> Self {
        Self::new()
    }
}

/// Aborts the board watcher when the actor's state goes (stop, failure or kill).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct PersistenceState {
    board: StatusBoard,
    clock: SharedClock,
    tx: Sender<Command>,
    shared: Arc<Shared>,
    limits: Limits,
    gap: Option<Gap>,
    last_drop_log: Option<Instant>,
    /// The state each account's last `StateChanged` entered.
    last_state: HashMap<String, ConnectionState>,
    settle_waiters: Vec<RpcReplyPort<()>>,
    _watcher: AbortOnDrop,
}

impl Actor for PersistenceActor {
    type Msg = PersistenceMessage;
    type State = PersistenceState;
    type Arguments = PersistenceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PersistenceArgs,
    ) -> Result<PersistenceState, ActorProcessingErr> {
        PersistenceState::start(myself, args, self.limits)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: PersistenceMessage,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        state.handle(message)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        state.stop().await;
        Ok(())
    }
}

impl PersistenceState {
    fn start(
        myself: ActorRef<PersistenceMessage>,
        args: PersistenceArgs,
        limits: Limits,
    ) -> Result<PersistenceState, ActorProcessingErr> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(&args.database, args.board.clone(), shared.clone(), limits);
        std::thread::Builder::new()
            .name("ibkr-persistence".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| format!("cannot start the persistence writer thread: {e}"))?;
        args.events.subscribe(myself.clone(), |event| Some(PersistenceMessage::Event(event)));
        let watcher = AbortOnDrop(tokio::spawn(watch_board(args.board.subscribe(), myself, shared.clone())));
        let state = PersistenceState {
            board: args.board,
            clock: args.clock,
            tx,
            shared,
            limits,
            gap: None,
            last_drop_log: None,
            last_state: HashMap::new(),
            settle_waiters: Vec::new(),
            _watcher: watcher,
        };
        state.send_status()?;
        Ok(state)
    }

    fn send(&self, command: Command) -> Result<(), ActorProcessingErr> {
        self.tx.send(command).map_err(|_| "the persistence writer thread has stopped".into())
    }

    fn send_status(&self) -> Result<(), ActorProcessingErr> {
        let accounts = self.board.snapshot().accounts;
        self.send(Command::Status { accounts, at: self.clock.now() })
    }

    fn send_gap(&mut self) -> Result<(), ActorProcessingErr> {
        match self.gap.take() {
            Some(gap) => {
                self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
                self.send(Command::Gap(gap))
            }
            None => Ok(()),
        }
    }

    fn handle(&mut self, message: PersistenceMessage) -> Result<(), ActorProcessingErr> {
        match message {
            PersistenceMessage::Event(event) => {
                let entered = match &event.kind {
                    EventKind::StateChanged { to, .. } => Some((event.account.clone(), to.clone())),
                    _ => None,
                };
                self.admit(event)?;
                if let Some((account, state)) = entered {
                    self.last_state.insert(account, state);
                    if !self.settle_waiters.is_empty() && self.settled() {
                        for waiter in self.settle_waiters.drain(..) {
                            let _ = waiter.send(());
                        }
                    }
                }
            }
            PersistenceMessage::Settle(reply) => {
                if self.settled() {
                    let _ = reply.send(());
                } else {
                    self.settle_waiters.push(reply);
                }
            }
            PersistenceMessage::BoardChanged => {
                self.shared.board_signal.store(false, Ordering::Release);
                self.send_status()?;
            }
            PersistenceMessage::Flush(reply) => {
                self.send_gap()?;
                self.send_status()?;
                self.send(Command::Flush(reply))?;
            }
            PersistenceMessage::Snapshot(reply) => {
                let _ = reply.send(self.shared.health());
            }
            PersistenceMessage::Stats(reply) => {
                let _ = reply.send(self.shared.stats());
            }
        }
        Ok(())
    }

    fn settled(&self) -> bool {
        self.board.snapshot().accounts.iter().all(|a| self.last_state.get(&a.name) == Some(&a.state))
    }

    /// Queue an event, or count it dropped when too many wait already.
    fn admit(&mut self, event: StatusEvent) -> Result<(), ActorProcessingErr> {
        let limit = self.limits.max_pending;
        if self.shared.outstanding.load(Ordering::Acquire) >= limit {
            let dropped = self.shared.dropped.fetch_add(1, Ordering::AcqRel) + 1;
            match &mut self.gap {
                Some(gap) => {
                    gap.dropped += 1;
                    gap.last_at = event.at;
                }
                None => self.gap = Some(Gap { dropped: 1, first_at: event.at, last_at: event.at, limit }),
            }
            if self.last_drop_log.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                tracing::warn!(
                    dropped,
                    limit,
                    "persistence: too many events waiting to be written; dropping new ones (counted)"
                );
                self.last_drop_log = Some(Instant::now());
            }
            return Ok(());
        }
        self.send_gap()?;
        self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
        self.send(Command::Event(Box::new(event)))
    }

    /// Hand the final board to the thread and wait (in real time, bounded) for it to land.
    async fn stop(&mut self) {
        let _ = self.send_gap();
        let _ = self.send_status();
        let (done_tx, done_rx) = mpsc::channel();
        let within = self.limits.stop_flush;
        if self.send(Command::Shutdown { deadline: Instant::now() + within, done: done_tx }).is_err() {
            tracing::warn!("persistence: the writer thread was already gone at shutdown");
            return;
        }
        // A real-time wait on a blocking thread: correct under tokio's paused test clock too.
        let wait = tokio::task::spawn_blocking(move || done_rx.recv_timeout(within + Duration::from_millis(300)));
        match wait.await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {} // the thread logged what was lost
            _ => tracing::warn!(within = ?within, "persistence: the final writes did not finish in time"),
        }
    }
}

/// Send `BoardChanged` when the board's accounts change; at most one waits in the mailbox
/// (the actor reads the board itself, so changes in between coalesce). Changes of the board's
/// `persistence` field (our own health) are ignored.
async fn watch_board(mut rx: watch::Receiver<BoardSnapshot>, actor: ActorRef<PersistenceMessage>, shared: Arc<Shared>) {
    let mut last = rx.borrow_and_update().accounts.clone();
    while rx.changed().await.is_ok() {
        let changed = {
            let board = rx.borrow_and_update();
            if board.accounts != last {
                last = board.accounts.clone();
                true
            } else {
                false
            }
        };
        if changed
            && !shared.board_signal.swap(true, Ordering::AcqRel)
            && actor.cast(PersistenceMessage::BoardChanged).is_err()
        {
            return;
        }
    }
}

/// Ask the actor to write everything it has received, and wait for that attempt (see
/// [`PersistenceMessage::Flush`]).
pub async fn flush(actor: &ActorRef<PersistenceMessage>, within: Duration) -> Result<(), PersistenceError> {
    match actor.call(PersistenceMessage::Flush, Some(within)).await {
        Ok(CallResult::Success(())) => Ok(()),
        _ => Err(PersistenceError::Unavailable),
    }
}

/// The actor's persistence health.
pub async fn health(actor: &ActorRef<PersistenceMessage>) -> Result<PersistenceHealth, PersistenceError> {
    match actor.call(PersistenceMessage::Snapshot, Some(Duration::from_secs(1))).await {
        Ok(CallResult::Success(health)) => Ok(health),
        _ => Err(PersistenceError::Unavailable),
    }
}

/// How long [`stop_last`] waits for the final state changes to arrive.
pub const SETTLE_WITHIN: Duration = Duration::from_millis(300);

/// Stop the actor as the last child of an ordered shutdown, so the final states are recorded:
/// wait (at most [`SETTLE_WITHIN`]) until the events of every account's current state have
/// arrived through the event port (see [`PersistenceMessage::Settle`]), then drain the mailbox
/// and let `post_stop` flush (at most [`STOP_FLUSH_WITHIN`]). Returns whether it stopped in time.
pub async fn stop_last(actor: &ActorRef<PersistenceMessage>) -> bool {
    let _ = actor.call(PersistenceMessage::Settle, Some(SETTLE_WITHIN)).await;
    actor.drain_and_wait(Some(STOP_FLUSH_WITHIN + Duration::from_millis(300))).await.is_ok()
}

/// The actor's write statistics.
pub async fn stats(actor: &ActorRef<PersistenceMessage>) -> Result<PersistenceStats, PersistenceError> {
    match actor.call(PersistenceMessage::Stats, Some(Duration::from_secs(1))).await {
        Ok(CallResult::Success(stats)) => Ok(stats),
        _ => Err(PersistenceError::Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::settings::Settings;
    use crate::status::ConnectionState;
    use ractor::OutputPort;
    use Availability::{Down, Reset, Unknown, Up};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    fn change(t: &str, from: &str, since: Option<&str>, to: &str) -> StateChange {
        StateChange { at: at(t), from: from.into(), from_since: since.map(at), to: to.into() }
    }

    /// Connected 10:00-12:00, reset window 12:00-13:00, disconnected 13:00-14:00, connected from
    /// 14:00 through midnight until 03:00 the next day, then disconnected.
    fn scripted() -> Vec<StateChange> {
        vec![
            change("2026-03-09T10:00:00Z", "disconnected", Some("2026-03-09T10:00:00Z"), "connected"),
            change("2026-03-09T12:00:00Z", "connected", Some("2026-03-09T10:00:00Z"), "reset_window"),
            change("2026-03-09T13:00:00Z", "reset_window", Some("2026-03-09T12:00:00Z"), "disconnected"),
            change("2026-03-09T14:00:00Z", "disconnected", Some("2026-03-09T13:00:00Z"), "connected"),
            change("2026-03-10T03:00:00Z", "connected", Some("2026-03-09T14:00:00Z"), "disconnected"),
        ]
    }

    #[test]
    fn reset_window_time_is_reported_apart_and_today_counts_up_to_now() {
        let line = timeline(&scripted()[..4]);
        let days = daily_uptime("Paper", &line, day("2026-03-09"), at("2026-03-09T16:00:00Z"));
        assert_eq!(days.len(), 1);
        let d = &days[0];
        assert_eq!(d.covered_secs, 16.0 * 3600.0);
        assert_eq!((d.up_secs, d.down_secs, d.reset_secs, d.unknown_secs), (4.0 * 3600.0, 3600.0, 3600.0, 36_000.0));
        assert_eq!((d.up_pct, d.down_pct, d.reset_pct, d.unknown_pct), (25.0, 6.25, 6.25, 62.5));
        assert_eq!(d.availability_pct, Some(80.0), "reset and unknown time are not downtime");
    }

    #[test]
    fn a_day_boundary_splits_the_time_at_utc_midnight() {
        let line = timeline(&scripted());
        let days = daily_uptime("Paper", &line, day("2026-03-09"), at("2026-03-10T06:00:00Z"));
        assert_eq!(days.iter().map(|d| d.day).collect::<Vec<_>>(), [day("2026-03-09"), day("2026-03-10")]);
        let (first, second) = (&days[0], &days[1]);
        assert_eq!(first.covered_secs, 86_400.0);
        assert_eq!(first.up_secs, 12.0 * 3600.0, "10-12 and 14-24");
        assert_eq!((first.down_secs, first.reset_secs, first.unknown_secs), (3600.0, 3600.0, 36_000.0));
        assert_eq!(first.up_pct, 50.0);
        assert!(close(first.reset_pct, 4.167) && close(first.down_pct, 4.167) && close(first.unknown_pct, 41.667));
        assert_eq!((second.covered_secs, second.up_secs, second.down_secs), (6.0 * 3600.0, 3.0 * 3600.0, 3.0 * 3600.0));
        assert_eq!((second.up_pct, second.down_pct, second.reset_pct, second.unknown_pct), (50.0, 50.0, 0.0, 0.0));
        // A window that starts before the records: days without any are all unknown.
        let days = daily_uptime("Paper", &line, day("2026-03-08"), at("2026-03-08T12:00:00Z"));
        assert_eq!((days[0].unknown_pct, days[0].availability_pct), (100.0, None));
        // Midnight exactly: today has no time yet, so it is left out.
        assert_eq!(daily_uptime("Paper", &line, day("2026-03-09"), at("2026-03-10T00:00:00Z")).len(), 1);
    }

    #[test]
    fn a_discontinuity_counts_as_unknown_not_as_the_last_state() {
        // Connected at 10:00, the process stopped at 11:00 and came back at 15:00.
        let changes = [
            change("2026-03-09T10:00:00Z", "connecting", Some("2026-03-09T09:59:00Z"), "connected"),
            change("2026-03-09T11:00:00Z", "connected", Some("2026-03-09T10:00:00Z"), "stopped"),
            change("2026-03-09T15:00:05Z", "disconnected", Some("2026-03-09T15:00:00Z"), "connecting"),
            change("2026-03-09T15:00:10Z", "connecting", Some("2026-03-09T15:00:05Z"), "connected"),
        ];
        let line = timeline(&changes);
        assert_eq!(
            line,
            vec![
                (at("2026-03-09T09:59:00Z"), Down),
                (at("2026-03-09T10:00:00Z"), Up),
                (at("2026-03-09T11:00:00Z"), Unknown),
                (at("2026-03-09T11:00:00Z"), Unknown),
                (at("2026-03-09T15:00:00Z"), Down),
                (at("2026-03-09T15:00:05Z"), Down),
                (at("2026-03-09T15:00:10Z"), Up),
            ]
        );
        let d = &daily_uptime("Paper", &line, day("2026-03-09"), at("2026-03-09T16:00:00Z"))[0];
        assert_eq!(d.unknown_secs, (9.0 * 3600.0 + 59.0 * 60.0) + 4.0 * 3600.0);
        assert_eq!(d.down_secs, 60.0 + 10.0);
        assert_eq!(d.up_secs, 3600.0 + 3600.0 - 10.0);
        assert_eq!(Availability::of_state("degraded"), Down);
        assert_eq!(Availability::of_state("reset_window"), Reset);
    }

    fn event(account: &str, t: &str, kind: EventKind) -> StatusEvent {
        StatusEvent::new(account, at(t), kind)
    }

    #[test]
    fn event_rows_carry_the_serde_kind_and_the_state_names() {
        let changed = event(
            "Paper",
            "2026-03-09T10:00:00.123456Z",
            EventKind::StateChanged {
                from: ConnectionState::Connecting { since: at("2026-03-09T09:59:00Z"), attempt: 1, client_id: 7 },
                to: ConnectionState::Connected { since: at("2026-03-09T10:00:00Z"), client_id: 7 },
            },
        );
        let row = EventRow::from_event(&changed);
        assert_eq!(
            (row.kind.as_str(), row.from_state, row.to_state),
            ("state_changed", Some("connecting"), Some("connected"))
        );
        assert_eq!(row.at, "2026-03-09T10:00:00.123Z");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&row.json).unwrap(),
            serde_json::to_value(&changed).unwrap()
        );
        let notice = EventRow::from_event(&event(
            "Live",
            "2026-03-09T10:00:00Z",
            EventKind::Notice { code: 1100, message: "\"kind\":\"x\"".into() },
        ));
        assert_eq!((notice.kind.as_str(), notice.from_state), ("notice", None));
        let gap = EventRow::gap(&Gap {
            dropped: 3,
            first_at: at("2026-03-09T10:00:00Z"),
            last_at: at("2026-03-09T10:00:01Z"),
            limit: 10,
        });
        assert_eq!((gap.kind.as_str(), gap.account.as_str()), (GAP_KIND, "*"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&gap.json).unwrap()["dropped"], 3);
    }

    fn settings() -> Settings {
        Settings::from_json_str(
            r#"{"accounts": [
                {"name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002, "client_id": 1},
                {"name": "Live", "paper_trading": false, "host": "127.0.0.1", "port": 4001, "client_id": 2}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn rows_round_trip_through_sql_and_last_known_values_survive_a_fresh_board() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).unwrap();
        let now = at("2026-03-09T12:00:00Z");
        let board = StatusBoard::new(&settings().accounts, now);
        board.update("Paper", |s| {
            s.state = ConnectionState::Connected { since: now, client_id: 1 };
            s.last_connected = Some(now);
            s.last_checked = Some(now);
            s.probe_rtt_ms = Some(1.25);
        });
        let rows: Vec<StatusRow> =
            board.snapshot().accounts.into_iter().map(|status| StatusRow { status, at: now }).collect();
        let events = [
            EventRow::from_event(&event("Paper", "2026-03-09T11:00:00Z", EventKind::Lost { reason: "eof".into() })),
            EventRow::from_event(&event(
                "Live",
                "2026-03-09T11:30:00Z",
                EventKind::Notice { code: 2104, message: "ok".into() },
            )),
        ];
        assert_eq!(write_rows(&mut conn, events.iter(), rows.iter()).unwrap(), 4);
        let stored = read_status(&conn).unwrap();
        assert_eq!(stored.iter().map(|s| s.account.as_str()).collect::<Vec<_>>(), ["Live", "Paper"]);
        let paper = &stored[1];
        assert!(paper.connected && paper.paper_trading);
        assert_eq!(
            (paper.state.as_str(), paper.last_connected, paper.probe_rtt_ms),
            ("connected", Some(now), Some(1.25))
        );
        assert_eq!(paper.state_detail["client_id"], 1);

        // A restarted process starts from a fresh board: the last known times stay.
        let later = now + chrono::Duration::hours(1);
        let fresh = StatusBoard::new(&settings().accounts, later).snapshot().accounts;
        let fresh: Vec<StatusRow> = fresh.into_iter().map(|status| StatusRow { status, at: later }).collect();
        write_rows(&mut conn, std::iter::empty(), fresh.iter()).unwrap();
        let paper = read_status(&conn).unwrap().remove(1);
        assert_eq!((paper.state.as_str(), paper.connected), ("disconnected", false));
        assert_eq!((paper.last_connected, paper.last_checked, paper.updated_at), (Some(now), Some(now), later));

        let all = recent_events(&conn, None, None, 10).unwrap();
        assert_eq!(all.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["notice", "lost"], "newest first");
        assert_eq!(recent_events(&conn, Some("Paper"), None, 10).unwrap().len(), 1);
        assert_eq!(recent_events(&conn, None, Some(at("2026-03-09T11:15:00Z")), 10).unwrap()[0].account, "Live");
        assert_eq!(recent_events(&conn, None, None, 1).unwrap().len(), 1);
    }

    #[test]
    fn uptime_is_derived_from_the_state_changed_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).unwrap();
        let (t, s) = (at, |name: &str, since: &str| match name {
            "connected" => ConnectionState::Connected { since: at(since), client_id: 1 },
            "reset_window" => {
                ConnectionState::ResetWindow { since: at(since), until: at("2026-03-09T13:00:00Z"), link: None }
            }
            _ => ConnectionState::Disconnected { since: at(since), last_error: None },
        });
        let rows: Vec<EventRow> = scripted()
            .iter()
            .map(|c| {
                let since = c.from_since.map(timestamp).unwrap();
                let kind = EventKind::StateChanged { from: s(&c.from, &since), to: s(&c.to, &timestamp(c.at)) };
                EventRow::from_event(&StatusEvent::new("Paper", c.at, kind))
            })
            .collect();
        write_rows(&mut conn, rows.iter(), std::iter::empty()).unwrap();
        let report = uptime(&conn, 2, t("2026-03-10T06:00:00Z")).unwrap();
        assert_eq!(report.len(), 2);
        assert_eq!((report[0].up_pct, report[1].up_pct, report[1].down_pct), (50.0, 50.0, 50.0));
        // A window starting after the first changes: the state it starts in comes from before.
        let report = uptime(&conn, 1, t("2026-03-10T06:00:00Z")).unwrap();
        assert_eq!((report.len(), report[0].unknown_pct, report[0].up_pct), (1, 0.0, 50.0));
        assert!(uptime(&conn, 0, t("2026-03-10T06:00:00Z")).unwrap().is_empty());
    }

    #[test]
    fn errors_say_what_to_check() {
        let e = Connection::open_with_flags("/nonexistent-dir/x.db", OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap_err();
        let message = PersistenceError::Open { path: "x.db".into(), source: e }.to_string();
        assert!(message.starts_with("cannot open database \"x.db\": "), "{message}");
        assert!(message.ends_with("(is the directory writable?)"), "{message}");
        let message = PersistenceError::Missing { path: "y.db".into() }.to_string();
        assert!(message.contains("check database.path"), "{message}");
    }

    /// A temporary directory removed on drop (the actors crate has no tempfile dependency).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("ibkr-persistence-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn a_failing_mirror_never_holds_the_database_back() {
        let tmp = TempDir::new("mirror");
        let (path, log) = (tmp.0.join("status.db"), tmp.0.join("connection_log.json"));
        fs::create_dir_all(&log).unwrap(); // a directory cannot be appended to, even by root
        let board = StatusBoard::new(&settings().accounts, Utc::now());
        let events: EventPort = Arc::new(OutputPort::default());
        let limits = Limits { max_pending: 10, ..Limits::DEFAULT };
        let args = PersistenceArgs {
            database: DatabaseSettings { path: path.clone(), event_log: Some(log.clone()) },
            board,
            events: events.clone(),
            clock: Arc::new(SystemClock),
        };
        let (actor, handle) = Actor::spawn(None, PersistenceActor { limits }, args).await.unwrap();
        let base = at("2026-03-09T10:00:00Z");
        let stored = || open_read_only(&path).and_then(|c| recent_events(&c, None, None, 100)).map_or(0, |e| e.len());
        for round in 0..5 {
            for i in 0..5 {
                let kind = EventKind::Lost { reason: format!("lost {}", round * 5 + i) };
                events.send(StatusEvent::new("Paper", base + chrono::Duration::seconds(round * 5 + i), kind));
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while stored() < (round as usize + 1) * 5 {
                assert!(Instant::now() < deadline, "round {round} did not reach the database");
                flush(&actor, Duration::from_secs(2)).await.unwrap();
            }
        }
        let h = health(&actor).await.unwrap();
        assert_eq!(stored(), 25, "every event is in the database");
        assert!(!h.ok && h.last_error.as_deref().unwrap().contains("cannot append to the event log"), "{h:?}");
        assert_eq!((h.pending, h.dropped), (10, 15), "the mirror lags by at most the bound; the rest is counted");

        fs::remove_dir(&log).unwrap();
        flush(&actor, Duration::from_secs(2)).await.unwrap();
        let h = health(&actor).await.unwrap();
        assert!(h.ok && h.pending == 0, "{h:?}");
        let lines: Vec<String> = fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
        let reasons: Vec<String> =
            lines.iter().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"].to_string()).collect();
        assert_eq!(reasons, (15..25).map(|i| format!("\"lost {i}\"")).collect::<Vec<_>>(), "the newest 10");
        actor.stop(None);
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn past_the_bound_events_are_dropped_counted_and_the_gap_is_recorded() {
        let tmp = TempDir::new("overflow");
        // A file where the database directory should be: nothing can be written for now.
        let blocker = tmp.0.join("blocked");
        fs::write(&blocker, b"not a directory").unwrap();
        let path = blocker.join("status.db");
        let board = StatusBoard::new(&settings().accounts, Utc::now());
        let events: EventPort = Arc::new(OutputPort::default());
        let limits = Limits {
            max_pending: 10,
            retry_first: Duration::from_millis(20),
            retry_max: Duration::from_millis(50),
            ..Limits::DEFAULT
        };
        let args = PersistenceArgs {
            database: DatabaseSettings { path: path.clone(), event_log: None },
            board: board.clone(),
            events: events.clone(),
            clock: Arc::new(SystemClock),
        };
        let (actor, handle) = Actor::spawn(None, PersistenceActor { limits }, args).await.unwrap();
        let base = at("2026-03-09T10:00:00Z");
        for i in 0..25 {
            let kind = EventKind::ProbeFailed { error: format!("probe {i}") };
            events.send(StatusEvent::new("Paper", base + chrono::Duration::seconds(i), kind));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let health = loop {
            let h = health(&actor).await.unwrap();
            if h.dropped == 15 || Instant::now() > deadline {
                break h;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(health.dropped, 15, "{health:?}");
        flush(&actor, Duration::from_secs(2)).await.unwrap();
        let health = super::health(&actor).await.unwrap();
        assert!(
            !health.ok && health.last_error.as_deref().unwrap().contains("cannot create the database directory"),
            "{health:?}"
        );
        assert_eq!(health.pending, 10 + 1 + 2, "10 events, the gap row, 2 status rows: {health:?}");
        assert_eq!(board.snapshot().persistence.as_ref().map(|p| p.ok), Some(false), "the board shows it");

        fs::remove_file(&blocker).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while super::health(&actor).await.unwrap().pending > 0 && Instant::now() < deadline {
            flush(&actor, Duration::from_secs(2)).await.unwrap();
        }
        let health = super::health(&actor).await.unwrap();
        assert!(health.ok && health.pending == 0 && health.dropped == 15 && health.written == 13, "{health:?}");
        let conn = open_read_only(&path).unwrap();
        let events = recent_events(&conn, None, None, 100).unwrap();
        assert_eq!(events.len(), 11);
        assert_eq!(events[0].kind, GAP_KIND, "the gap comes after the events that made it in");
        assert_eq!(events[0].detail["dropped"], 15);
        assert_eq!(events[0].at, base + chrono::Duration::seconds(10), "the first dropped event's time");
        assert_eq!(events[1].detail["error"], "probe 9");
        actor.stop(None);
        handle.await.unwrap();
    }
}
