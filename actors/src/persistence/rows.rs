//! How a status and an event become rows: the stored timestamp format, the event row (with
//! its JSON), the gap row, the status UPSERT, and one transaction for a batch.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, TransactionBehavior};

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

pub(super) fn parse_ts(conn: &Connection, what: &'static str, value: &str) -> Result<DateTime<Utc>, PersistenceError> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|_| PersistenceError::Malformed {
        path: conn_path(conn),
        what,
        value: value.to_owned(),
    })
}

pub(super) fn parse_opt_ts(
    conn: &Connection,
    what: &'static str,
    value: Option<String>,
) -> Result<Option<DateTime<Utc>>, PersistenceError> {
    value.map(|v| parse_ts(conn, what, &v)).transpose()
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

#[derive(Clone)]
pub(super) struct StatusRow {
    pub(super) status: AccountStatus,
    pub(super) at: DateTime<Utc>,
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
pub(super) fn write_rows<'a>(
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
}
