//! The outages of each account (each stretch of downtime: disconnected, connecting or degraded,
//! reset windows excluded) from the recorded state changes, with the cause the gateway gave: for
//! `ibkr-supervisor history` and the dashboard. Only as far back as the raw events are kept
//! (`database.retention`); the daily counts of older days are in the rollups.

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
        "SELECT account, at, to_state, \
         coalesce(json_extract(detail, '$.to.last_error'), json_extract(detail, '$.to.reason'), '') AS cause \
         FROM connection_events WHERE kind = 'state_changed' AND (:account IS NULL OR account = :account) \
         AND (at >= :since OR id IN (SELECT max(id) FROM connection_events WHERE kind = 'state_changed' \
         AND at < :since GROUP BY account)) ORDER BY account, at, id",
        named_params! { ":account": account, ":since": timestamp(since) },
        "connection_events",
        |c| {
            Ok((
                c.get::<String>("account")?,
                c.required_time("at")?,
                c.get::<Option<String>>("to_state")?.unwrap_or_default(),
                c.get::<Option<String>>("cause")?.unwrap_or_default(),
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
    for (account, at, to, cause) in rows {
        if open.as_ref().is_some_and(|(a, _, _)| *a != account) {
            close(open.take().expect("open"), None, &mut found);
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
