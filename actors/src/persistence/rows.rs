//! How a status and an event become rows: the stored timestamp format, the event row (with
//! its JSON), the gap row, the status UPSERT, and one transaction for a batch.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{named_params, Connection, Row, TransactionBehavior};
use serde::Serialize;

use super::error::PersistenceError;
use super::GAP_KIND;
use crate::status::{AccountStatus, EventKind, StatusEvent};

/// The stored form of a timestamp: UTC RFC 3339 with milliseconds, e.g. `2026-03-09T14:00:00.000Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn conn_path(conn: &Connection) -> String {
    conn.path().filter(|p| !p.is_empty()).unwrap_or(":memory:").to_owned()
}

pub(super) fn read_error(conn: &Connection) -> impl Fn(rusqlite::Error) -> PersistenceError + '_ {
    move |source| PersistenceError::Read { path: conn_path(conn), source }
}

/// One event row, prepared off the actor (on the writer thread).
pub(super) struct EventRow {
    pub(super) at: String,
    pub(super) account: String,
    pub(super) kind: String,
    pub(super) from_state: Option<&'static str>,
    pub(super) to_state: Option<&'static str>,
    /// The event as JSON: the `detail` column and the mirror's line.
    pub(super) json: String,
}

impl EventRow {
    pub(super) fn from_event(event: &StatusEvent) -> EventRow {
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

    pub(super) fn gap(gap: &Gap) -> EventRow {
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
pub(super) struct Gap {
    pub(super) dropped: u64,
    pub(super) first_at: DateTime<Utc>,
    pub(super) last_at: DateTime<Utc>,
    pub(super) limit: u64,
}

/// One `ibkr_status` row: an account's status as last recorded, and when. The writer thread
/// upserts it, [`read_status`](super::read_status) reads it back, one column per field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredStatus {
    /// The record, its fields at the top level of the JSON form.
    #[serde(flatten)]
    pub status: AccountStatus,
    /// When the supervisor saw this status.
    pub updated_at: DateTime<Utc>,
}

const INSERT_EVENT: &str = "INSERT INTO connection_events (at, account, kind, from_state, to_state, detail) \
     VALUES (:at, :account, :kind, :from_state, :to_state, :detail)";

/// The columns of `ibkr_status`, as [`StoredStatus::upsert`] writes them and
/// [`StoredStatus::from_row`] reads them.
pub(super) const STATUS_COLUMNS: &str = "account, paper_trading, connected, state, state_since, state_detail, \
     host, port, client_id, last_checked, last_connected, outage_since, reconnect_attempts, next_attempt_at, \
     error_message, probe_rtt_ms, reset_window_ends_at, updated_at";

// Last known times survive a restart: a NULL from a fresh board does not erase a known value.
const UPSERT_STATUS: &str = "INSERT INTO ibkr_status (account, paper_trading, connected, state, state_since, \
     state_detail, host, port, client_id, last_checked, last_connected, outage_since, reconnect_attempts, \
     next_attempt_at, error_message, probe_rtt_ms, reset_window_ends_at, updated_at) \
     VALUES (:account, :paper_trading, :connected, :state, :state_since, :state_detail, :host, :port, :client_id, \
     :last_checked, :last_connected, :outage_since, :reconnect_attempts, :next_attempt_at, :error_message, \
     :probe_rtt_ms, :reset_window_ends_at, :updated_at) \
     ON CONFLICT (account) DO UPDATE SET paper_trading = excluded.paper_trading, \
     connected = excluded.connected, state = excluded.state, state_since = excluded.state_since, \
     state_detail = excluded.state_detail, host = excluded.host, port = excluded.port, \
     client_id = excluded.client_id, \
     last_checked = COALESCE(excluded.last_checked, ibkr_status.last_checked), \
     last_connected = COALESCE(excluded.last_connected, ibkr_status.last_connected), \
     outage_since = excluded.outage_since, \
     reconnect_attempts = excluded.reconnect_attempts, next_attempt_at = excluded.next_attempt_at, \
     error_message = excluded.error_message, probe_rtt_ms = excluded.probe_rtt_ms, \
     reset_window_ends_at = excluded.reset_window_ends_at, updated_at = excluded.updated_at";

impl StoredStatus {
    /// Insert or update the account's row (inside the caller's transaction).
    fn upsert(&self, conn: &Connection) -> rusqlite::Result<()> {
        let s = &self.status;
        let state_detail = serde_json::to_string(&s.state).unwrap_or_else(|_| "{}".into());
        conn.prepare_cached(UPSERT_STATUS)?.execute(named_params! {
            ":account": s.name,
            ":paper_trading": s.paper_trading,
            ":connected": s.connected(),
            ":state": s.state.name(),
            ":state_since": timestamp(s.state.since()),
            ":state_detail": state_detail,
            ":host": s.host,
            ":port": s.port,
            ":client_id": s.client_id,
            ":last_checked": s.last_checked.map(timestamp),
            ":last_connected": s.last_connected.map(timestamp),
            ":outage_since": s.outage_since.map(timestamp),
            ":reconnect_attempts": s.reconnect_attempts,
            ":next_attempt_at": s.next_attempt_at.map(timestamp),
            ":error_message": s.error_message,
            ":probe_rtt_ms": s.probe_rtt_ms,
            ":reset_window_ends_at": s.state.reset_window_ends_at().map(timestamp),
            ":updated_at": timestamp(self.updated_at),
        })?;
        Ok(())
    }

    /// A row selected with [`STATUS_COLUMNS`], by column name. The state comes from
    /// `state_detail` (the `state`, `state_since`, `connected` and `reset_window_ends_at`
    /// columns are derived from it, for SQL readers).
    pub(super) fn from_row(column: &Column<'_>) -> Result<StoredStatus, PersistenceError> {
        let state_detail: String = column.get("state_detail")?;
        let state = serde_json::from_str(&state_detail).map_err(|_| column.malformed("state_detail", state_detail))?;
        let status = AccountStatus {
            name: column.get("account")?,
            paper_trading: column.get("paper_trading")?,
            host: column.get("host")?,
            port: column.get("port")?,
            client_id: column.get("client_id")?,
            state,
            last_checked: column.time("last_checked")?,
            last_connected: column.time("last_connected")?,
            outage_since: column.time("outage_since")?,
            reconnect_attempts: column.get("reconnect_attempts")?,
            next_attempt_at: column.time("next_attempt_at")?,
            error_message: column.get("error_message")?,
            probe_rtt_ms: column.get("probe_rtt_ms")?,
            // Live facts of a session, not stored: the next session reports them again.
            farms: Default::default(),
            competing_session: None,
            pacing: Default::default(),
        };
        Ok(StoredStatus { status, updated_at: column.required_time("updated_at")? })
    }
}

/// Every row `sql` selects with `params`, each decoded by `decode` (which reads its columns by
/// name through [`Column`]).
pub(super) fn select<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    table: &'static str,
    decode: impl Fn(&Column<'_>) -> Result<T, PersistenceError>,
) -> Result<Vec<T>, PersistenceError> {
    let mut stmt = conn.prepare_cached(sql).map_err(read_error(conn))?;
    let mut rows = stmt.query(params).map_err(read_error(conn))?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(read_error(conn))? {
        found.push(decode(&Column { conn, row, table })?);
    }
    Ok(found)
}

/// The columns of one selected row, read by name; a value of the wrong type or out of range
/// is a [`PersistenceError::Malformed`] naming `table.column`.
pub(super) struct Column<'a> {
    conn: &'a Connection,
    row: &'a Row<'a>,
    table: &'static str,
}

impl Column<'_> {
    /// The value of column `name`.
    pub(super) fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> Result<T, PersistenceError> {
        self.row.get(name).map_err(|source| match source {
            rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::IntegralValueOutOfRange(..) => {
                let value = self.row.get_ref(name).map(|v| format!("{v:?}")).unwrap_or_default();
                self.malformed(name, value)
            }
            source => PersistenceError::Read { path: conn_path(self.conn), source },
        })
    }

    /// The stored timestamp in column `name` (see [`timestamp`]), `None` for NULL.
    pub(super) fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, PersistenceError> {
        let Some(text) = self.get::<Option<String>>(name)? else { return Ok(None) };
        DateTime::parse_from_rfc3339(&text).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| self.malformed(name, text))
    }

    /// The stored timestamp in column `name`, which must not be NULL.
    pub(super) fn required_time(&self, name: &str) -> Result<DateTime<Utc>, PersistenceError> {
        self.time(name)?.ok_or_else(|| self.malformed(name, "NULL".into()))
    }

    /// The error for a `value` of column `name` that cannot be what the column holds.
    pub(super) fn malformed(&self, name: &str, value: String) -> PersistenceError {
        PersistenceError::Malformed { path: conn_path(self.conn), what: format!("{}.{name}", self.table), value }
    }
}

/// Write events and status rows in one transaction, and run `also` in it (the rollups' late-event
/// bookkeeping).
pub(super) fn write_rows<'a>(
    conn: &mut Connection,
    events: impl Iterator<Item = &'a EventRow>,
    statuses: impl Iterator<Item = &'a StoredStatus>,
    also: impl FnOnce(&Connection) -> rusqlite::Result<()>,
) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut rows = 0;
    {
        let mut insert = tx.prepare_cached(INSERT_EVENT)?;
        for e in events {
            insert.execute(named_params! {
                ":at": e.at,
                ":account": e.account,
                ":kind": e.kind,
                ":from_state": e.from_state,
                ":to_state": e.to_state,
                ":detail": e.json,
            })?;
            rows += 1;
        }
    }
    for s in statuses {
        s.upsert(&tx)?;
        rows += 1;
    }
    also(&tx)?;
    tx.commit()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::fixtures::{at, event, settings};
    use crate::persistence::read::{read_status, recent_events};
    use crate::persistence::schema::MIGRATIONS;
    use crate::status::{ConnectionState, StatusBoard};
    use rusqlite_migration::Migrations;

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
        let until = at("2026-03-09T13:00:00Z");
        board.update("Live", |s| s.state = ConnectionState::ResetWindow { since: now, until, link: None });
        let rows: Vec<StoredStatus> =
            board.snapshot().accounts.into_iter().map(|status| StoredStatus { status, updated_at: now }).collect();
        let events = [
            EventRow::from_event(&event("Paper", "2026-03-09T11:00:00Z", EventKind::Lost { reason: "eof".into() })),
            EventRow::from_event(&event(
                "Live",
                "2026-03-09T11:30:00Z",
                EventKind::Notice { code: 2104, message: "ok".into() },
            )),
        ];
        assert_eq!(write_rows(&mut conn, events.iter(), rows.iter(), |_| Ok(())).unwrap(), 4);
        let stored = read_status(&conn).unwrap();
        assert_eq!(stored.iter().map(|s| s.status.name.as_str()).collect::<Vec<_>>(), ["Live", "Paper"]);
        assert_eq!(stored[1], rows[0], "the Paper record reads back as it was written");
        assert_eq!(stored[0], rows[1], "the Live record too, its reset window included");
        let column = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Option<String>>(0)).unwrap();
        assert_eq!(
            column("SELECT reset_window_ends_at FROM ibkr_status WHERE account = 'Live'").as_deref(),
            Some("2026-03-09T13:00:00.000Z")
        );
        assert_eq!(column("SELECT reset_window_ends_at FROM ibkr_status WHERE account = 'Paper'"), None);
        assert_eq!(column("SELECT state FROM ibkr_status WHERE account = 'Paper'").as_deref(), Some("connected"));

        // A restarted process starts from a fresh board: the last known times stay.
        let later = now + chrono::Duration::hours(1);
        let fresh = StatusBoard::new(&settings().accounts, later).snapshot().accounts;
        let fresh: Vec<StoredStatus> =
            fresh.into_iter().map(|status| StoredStatus { status, updated_at: later }).collect();
        write_rows(&mut conn, std::iter::empty(), fresh.iter(), |_| Ok(())).unwrap();
        let paper = read_status(&conn).unwrap().remove(1);
        assert_eq!((paper.status.state.name(), paper.status.connected()), ("disconnected", false));
        assert_eq!(
            (paper.status.last_connected, paper.status.last_checked, paper.updated_at),
            (Some(now), Some(now), later)
        );

        let all = recent_events(&conn, None, None, 10).unwrap();
        assert_eq!(all.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["notice", "lost"], "newest first");
        assert_eq!(recent_events(&conn, Some("Paper"), None, 10).unwrap().len(), 1);
        assert_eq!(recent_events(&conn, None, Some(at("2026-03-09T11:15:00Z")), 10).unwrap()[0].account, "Live");
        assert_eq!(recent_events(&conn, None, None, 1).unwrap().len(), 1);
    }

    #[test]
    fn a_malformed_column_is_named_in_the_error() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).unwrap();
        let status = StatusBoard::new(&settings().accounts, at("2026-03-09T12:00:00Z")).snapshot().accounts.remove(0);
        write_rows(
            &mut conn,
            std::iter::empty(),
            [StoredStatus { status, updated_at: at("2026-03-09T12:00:00Z") }].iter(),
            |_| Ok(()),
        )
        .unwrap();
        conn.execute("UPDATE ibkr_status SET port = 70000", []).unwrap();
        let e = read_status(&conn).unwrap_err().to_string();
        assert!(e.contains("malformed ibkr_status.port"), "{e}");
        conn.execute("UPDATE ibkr_status SET port = 4002, last_checked = 'yesterday'", []).unwrap();
        let e = read_status(&conn).unwrap_err().to_string();
        assert!(e.contains("malformed ibkr_status.last_checked") && e.contains("yesterday"), "{e}");
    }
}
