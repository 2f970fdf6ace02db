//! Retention: raw connection events older than `database.retention` are deleted, audit events
//! (see [`AUDIT_KINDS`]) after `database.keep_audit`, in short transactions of at most
//! [`PRUNE_ROWS_PER_STEP`] rows, and the freed pages are given back to the file system with
//! `PRAGMA incremental_vacuum` (the file is in `auto_vacuum = INCREMENTAL` mode, see `schema.rs`).
//!
//! Nothing is deleted that a later answer needs: only events before the first instant not rolled
//! up yet (in every zone), and per account the last `state_changed` before the cutoff (it tells the
//! state the kept history starts in) and the last `trading_switched` (the operator's switch
//! survives a restart however old it is).

use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection};

use super::error::PersistenceError;
use super::rows::{conn_path, timestamp};

/// Event kinds kept for `database.keep_audit` rather than `database.retention`: what an operator
/// or an auditor asks about long after (who paused trading, when the supervisor melted down or
/// escalated, when a settings change took effect, when history was lost).
pub const AUDIT_KINDS: &[&str] =
    &["trading_switched", "settings_changed", "meltdown", "escalation", "escalated", super::GAP_KIND];

/// Most rows one prune step deletes (one short transaction).
pub const PRUNE_ROWS_PER_STEP: u32 = 2_000;
/// Most pages one incremental-vacuum step gives back (4 KiB each).
pub const VACUUM_PAGES_PER_STEP: u32 = 1_024;

/// How long each kind of event is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw events.
    pub raw: std::time::Duration,
    /// [`AUDIT_KINDS`].
    pub audit: std::time::Duration,
}

fn cutoff(now: DateTime<Utc>, keep: std::time::Duration, safe_before: DateTime<Utc>) -> String {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    timestamp(now.checked_sub_signed(keep).unwrap_or(DateTime::<Utc>::MIN_UTC).min(safe_before))
}

/// Delete at most `limit` expired events (the oldest first), in one transaction; nothing at or
/// after `safe_before`. Returns how many were deleted.
pub fn prune_step(
    conn: &mut Connection,
    now: DateTime<Utc>,
    retention: Retention,
    safe_before: DateTime<Utc>,
    limit: u32,
) -> Result<u64, PersistenceError> {
    let path = conn_path(conn);
    let failed = |source| PersistenceError::Maintenance { path: path.clone(), what: "pruning old events", source };
    let raw = cutoff(now, retention.raw, safe_before);
    let audit = cutoff(now, retention.audit, safe_before);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(failed)?;
    let deleted = {
        // Each kind on its own range of the (kind, at) index: no scan of the whole table.
        let kinds: Vec<String> = {
            let mut stmt = tx
                .prepare_cached(
                    "WITH RECURSIVE k(kind) AS (SELECT min(kind) FROM connection_events UNION ALL \
                     SELECT (SELECT min(kind) FROM connection_events WHERE kind > k.kind) FROM k \
                     WHERE k.kind IS NOT NULL) SELECT kind FROM k WHERE kind IS NOT NULL",
                )
                .map_err(failed)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(failed)?;
            rows.collect::<Result<_, _>>().map_err(failed)?
        };
        let mut deleted = 0_u64;
        let mut delete = tx
            .prepare_cached(
                "DELETE FROM connection_events WHERE id IN (SELECT id FROM connection_events \
                 WHERE kind = :kind AND at < :cutoff \
                 AND id NOT IN (SELECT max(id) FROM connection_events WHERE kind = 'state_changed' \
                                AND :kind = 'state_changed' AND at < :cutoff GROUP BY account) \
                 AND id NOT IN (SELECT max(id) FROM connection_events WHERE kind = 'trading_switched' \
                                AND :kind = 'trading_switched' GROUP BY account) \
                 ORDER BY at LIMIT :limit)",
            )
            .map_err(failed)?;
        for kind in kinds {
            let left = u64::from(limit).saturating_sub(deleted);
            if left == 0 {
                break;
            }
            let cutoff = if AUDIT_KINDS.contains(&kind.as_str()) { &audit } else { &raw };
            deleted += delete
                .execute(named_params! { ":kind": kind, ":cutoff": cutoff, ":limit": left as i64 })
                .map_err(failed)? as u64;
        }
        deleted
    };
    tx.commit().map_err(failed)?;
    Ok(deleted)
}

/// Give at most `pages` free pages back to the file system. Returns how many were free before.
pub fn vacuum_step(conn: &Connection, pages: u32) -> Result<u64, PersistenceError> {
    let path = conn_path(conn);
    let failed = |source| PersistenceError::Maintenance { path: path.clone(), what: "incremental vacuum", source };
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0)).map_err(failed)?;
    if free > 0 {
        // incremental_vacuum returns a row per page freed: drain them.
        let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({pages})")).map_err(failed)?;
        let mut rows = stmt.query([]).map_err(failed)?;
        while rows.next().map_err(failed)?.is_some() {}
    }
    Ok(free.max(0) as u64)
}
