//! The outages of each account (each stretch of downtime: disconnected, connecting or degraded,
//! reset windows excluded) from the recorded state changes, with the cause the gateway gave: for
//! `ibkr-supervisor history` and the dashboard. Only as far back as the raw events are kept
//! (`database.retention`); the daily counts of older days are in the rollups. The first change
//! recorded of an account says what it left (`from`, with its `since`): an account that was
//! already down then — at startup, or before the retention cut — has its outage begin at that
//! `since`, not at the first change.

use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection};
use serde::Serialize;

use super::error::PersistenceError;
use super::rows::{select, timestamp};
use super::schema::has_schema;
use super::uptime::Slot;

/// One stretch of downtime.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    /// The account.
    pub account: String,
    /// When it began (the first change into a down state).
    pub start: DateTime<Utc>,
    /// When the account was usable again (or entered a reset window, or stopped being
    /// observed); `None` while it lasts.
    pub end: Option<DateTime<Utc>>,
    /// Seconds, up to `now` while it lasts.
    pub duration_secs: f64,
    /// Why: the error or the gateway's message of the change that began it.
    pub cause: String,
}

/// What the first recorded change of an account left.
struct Before {
    state: String,
    since: Option<DateTime<Utc>>,
    cause: String,
}

/// The outages that ended at or after `since` (or last still), of one account or all, oldest
/// first.
pub fn outages(
    conn: &Connection,
    account: Option<&str>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Outage>, PersistenceError> {
    if !has_schema(conn)? {
        return Ok(Vec::new());
    }
    let rows = select(
        conn,
        "SELECT account, at, from_state, to_state, json_extract(detail, '$.from.since') AS from_since, \
         coalesce(json_extract(detail, '$.from.last_error'), json_extract(detail, '$.from.reason'), '') AS from_cause, \
         coalesce(json_extract(detail, '$.to.last_error'), json_extract(detail, '$.to.reason'), '') AS cause \
         FROM connection_events WHERE kind = 'state_changed' AND (:account IS NULL OR account = :account) \
         AND (at >= :since OR id IN (SELECT max(id) FROM connection_events WHERE kind = 'state_changed' \
         AND at < :since GROUP BY account)) ORDER BY account, at, id",
        named_params! { ":account": account, ":since": timestamp(since) },
        "connection_events",
        |c| {
            let before = Before {
                state: c.get::<Option<String>>("from_state")?.unwrap_or_default(),
                since: c.get::<Option<String>>("from_since")?.and_then(|t| t.parse::<DateTime<Utc>>().ok()),
                cause: c.get::<Option<String>>("from_cause")?.unwrap_or_default(),
            };
            Ok((
                c.get::<String>("account")?,
                c.required_time("at")?,
                c.get::<Option<String>>("to_state")?.unwrap_or_default(),
                c.get::<Option<String>>("cause")?.unwrap_or_default(),
                before,
            ))
        },
    )?;
    let mut found = Vec::new();
    let mut open: Option<(String, DateTime<Utc>, String)> = None;
    let close = |open: (String, DateTime<Utc>, String), end: Option<DateTime<Utc>>, found: &mut Vec<Outage>| {
        let (account, start, cause) = open;
        let until = end.unwrap_or(now);
        if until >= since {
            let duration_secs = (until - start).num_milliseconds().max(0) as f64 / 1000.0;
            found.push(Outage { account, start, end, duration_secs, cause });
        }
    };
    let mut seen: Option<String> = None;
    for (account, at, to, cause, before) in rows {
        if open.as_ref().is_some_and(|(a, _, _)| *a != account) {
            close(open.take().expect("open"), None, &mut found);
        }
        if seen.as_deref() != Some(account.as_str()) {
            seen = Some(account.clone());
            // The account's first recorded change: was it down before it?
            if Slot::of_state(&before.state).is_down() {
                let start = before.since.filter(|since| *since <= at).unwrap_or(at);
                open = Some((account.clone(), start, before.cause));
            }
        }
        let down = Slot::of_state(&to).is_down();
        match (&mut open, down) {
            (None, true) => open = Some((account, at, cause)),
            (Some((_, _, known)), true) => {
                if known.is_empty() {
                    *known = cause;
                }
            }
            (Some(_), false) => close(open.take().expect("open"), Some(at), &mut found),
            (None, false) => {}
        }
    }
    if let Some(open) = open {
        close(open, None, &mut found);
    }
    found.sort_by(|a, b| (a.start, &a.account).cmp(&(b.start, &b.account)));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::fixtures::{at, TempDir};
    use crate::persistence::rows::{write_rows, EventRow};
    use crate::persistence::schema::open_database;
    use crate::status::{ConnectionState, EventKind, StatusEvent};

    #[test]
    fn an_account_down_before_its_first_recorded_change_has_that_stretch_as_an_outage() {
        let tmp = TempDir::new("outages-first");
        let mut conn = open_database(&tmp.0.join("o.db")).unwrap();
        let started = at("2026-03-09T09:00:00Z");
        let down = ConnectionState::Disconnected { since: started, last_error: Some("connection refused".into()) };
        let trying = ConnectionState::Connecting { since: at("2026-03-09T09:20:00Z"), attempt: 9, client_id: 1 };
        let up = ConnectionState::Connected { since: at("2026-03-09T09:20:01Z"), client_id: 1 };
        let rows = [
            // The first change kept: down (since the start at 09:00) to connecting at 09:20.
            EventRow::from_event(&StatusEvent::new(
                "Paper",
                at("2026-03-09T09:20:00Z"),
                EventKind::StateChanged { from: down, to: trying.clone() },
            )),
            EventRow::from_event(&StatusEvent::new(
                "Paper",
                at("2026-03-09T09:20:01Z"),
                EventKind::StateChanged { from: trying, to: up },
            )),
        ];
        write_rows(&mut conn, rows.iter(), std::iter::empty(), |_| Ok(())).unwrap();
        let now = at("2026-03-09T12:00:00Z");
        let found = outages(&conn, None, at("2026-03-09T00:00:00Z"), now).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        let outage = &found[0];
        assert_eq!((outage.start, outage.end), (started, Some(at("2026-03-09T09:20:01Z"))));
        assert_eq!(outage.duration_secs, 20.0 * 60.0 + 1.0);
        assert_eq!(outage.cause, "connection refused");
    }
}
