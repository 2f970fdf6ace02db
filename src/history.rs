//! `ibkr-supervisor history`: each account's uptime per day and its outages, from the database,
//! as a plain terminal table for the operator on SSH with no browser. Days are local days of the
//! trading time zone (the settings' `timezone`), read from the daily rollups (and today's raw
//! events); outages are listed as far back as the raw events are kept (`database.retention`).

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ibkr_supervisor_actors::persistence::{self, DailyUptime, Outage, PersistenceError};

/// Why the history cannot be shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// `--account` names no account of the database.
    #[error("--account: no account {wanted:?} in the database (known: {known})")]
    UnknownAccount { wanted: String, known: String },
    /// `--days` out of range.
    #[error("--days: expected 1 to {max}, got {got}")]
    Days { got: u32, max: u32 },
    /// The database could not be read.
    #[error(transparent)]
    Database(#[from] PersistenceError),
}

/// The report for the last `days` days (today included, up to `now`) of `account` (or every
/// account), in `zone`.
pub fn report(
    database: &Path,
    zone: Tz,
    days: u32,
    account: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, HistoryError> {
    if days == 0 || days > persistence::MAX_UPTIME_DAYS {
        return Err(HistoryError::Days { got: days, max: persistence::MAX_UPTIME_DAYS });
    }
    let conn = persistence::open_read_only(database)?;
    let mut uptime = persistence::uptime_in(&conn, days, now, zone)?;
    if let Some(wanted) = account {
        if !uptime.iter().any(|d| d.account == wanted) {
            let mut known: Vec<String> = uptime.iter().map(|d| d.account.clone()).collect();
            known.dedup();
            return Err(HistoryError::UnknownAccount { wanted: wanted.to_owned(), known: known.join(", ") });
        }
        uptime.retain(|d| d.account == wanted);
    }
    let first = uptime.iter().map(|d| d.day).min();
    let since = first.map_or(now, |day| persistence::day_bounds(zone, day).0);
    let outages = persistence::outages(&conn, account, since, now)?;
    Ok(render(database, zone, &uptime, &outages))
}

/// `1h 05m`, `4m 07s`, `12s`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

fn render(database: &Path, zone: Tz, uptime: &[DailyUptime], outages: &[Outage]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Uptime per day ({zone}) from {}", database.display());
    let header =
        ["account", "day", "up", "avail", "down", "degraded", "reset", "unknown", "outages", "longest", "attempts"];
    let mut table = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for d in uptime {
        table.push(vec![
            d.account.clone(),
            d.day.to_string(),
            format!("{:.2}%", d.up_pct),
            d.availability_pct.map_or("-".into(), |a| format!("{a:.2}%")),
            duration(d.down_secs),
            duration(d.degraded_secs),
            duration(d.reset_secs),
            duration(d.unknown_secs),
            d.outages.to_string(),
            duration(d.longest_outage_secs),
            d.reconnect_attempts.to_string(),
        ]);
    }
    write_table(&mut out, &table);
    let _ = writeln!(out);
    if outages.is_empty() {
        let _ = writeln!(out, "No outages recorded in these days.");
        return out;
    }
    let _ = writeln!(out, "Outages ({zone})");
    let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S").to_string();
    let mut table =
        vec![["account", "start", "end", "duration", "cause"].iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for o in outages {
        table.push(vec![
            o.account.clone(),
            local(o.start),
            o.end.map_or("ongoing".into(), local),
            duration(o.duration_secs),
            o.cause.chars().filter(|c| !c.is_control()).collect(),
        ]);
    }
    write_table(&mut out, &table);
    out
}

/// Columns padded to their widest cell, two spaces apart.
fn write_table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> =
        (0..columns).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
}
