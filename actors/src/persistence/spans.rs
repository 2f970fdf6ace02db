//! The stretches of one span of time per account, from the recorded state changes: what the
//! dashboard's timeline bar of the last 24 hours draws (connected, degraded, down, reset window,
//! not observed), each stretch with its start and end.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::error::PersistenceError;
use super::schema::has_schema;
use super::uptime::{changes_between, points, Slot};

/// One stretch of time in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Where it begins.
    pub start: DateTime<Utc>,
    /// Where the next begins (or the end of the asked span).
    pub end: DateTime<Utc>,
    /// What it counts as.
    pub slot: Slot,
}

/// The stretches of every account with a recorded state change, covering `[start, end)` from
/// end to end (unobserved time as [`Slot::Unknown`]), neighbours of one slot merged.
pub fn spans(
    conn: &Connection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<Span>>, PersistenceError> {
    if end <= start || !has_schema(conn)? {
        return Ok(BTreeMap::new());
    }
    let mut found = BTreeMap::new();
    for (account, changes) in changes_between(conn, start, end)? {
        let mut line = points(&changes);
        line.sort_by_key(|(at, _)| *at);
        found.insert(account, cut(&line, start, end));
    }
    Ok(found)
}

/// `line` (sorted; unknown before its first point, its last point lasting past `end`) cut to
/// `[start, end)`.
fn cut(line: &[(DateTime<Utc>, Slot)], start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut push = |from: DateTime<Utc>, to: DateTime<Utc>, slot: Slot| {
        let (from, to) = (from.max(start), to.min(end));
        if to <= from {
            return;
        }
        match out.last_mut() {
            Some(last) if last.slot == slot && last.end == from => last.end = to,
            _ => out.push(Span { start: from, end: to, slot }),
        }
    };
    push(start, line.first().map_or(end, |(at, _)| *at), Slot::Unknown);
    for (i, (at, slot)) in line.iter().enumerate() {
        push(*at, line.get(i + 1).map_or(end, |(next, _)| *next), *slot);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::fixtures::at;

    #[test]
    fn the_span_is_covered_end_to_end_and_neighbours_merge() {
        let line = [
            (at("2026-03-09T09:00:00Z"), Slot::Up),
            (at("2026-03-09T11:00:00Z"), Slot::Down),
            (at("2026-03-09T11:00:05Z"), Slot::Down),
            (at("2026-03-09T11:10:00Z"), Slot::Degraded),
            (at("2026-03-09T11:20:00Z"), Slot::Up),
        ];
        let spans = cut(&line, at("2026-03-09T10:00:00Z"), at("2026-03-09T12:00:00Z"));
        let shown: Vec<_> = spans.iter().map(|s| (s.start, s.end, s.slot)).collect();
        assert_eq!(
            shown,
            [
                (at("2026-03-09T10:00:00Z"), at("2026-03-09T11:00:00Z"), Slot::Up),
                (at("2026-03-09T11:00:00Z"), at("2026-03-09T11:10:00Z"), Slot::Down),
                (at("2026-03-09T11:10:00Z"), at("2026-03-09T11:20:00Z"), Slot::Degraded),
                (at("2026-03-09T11:20:00Z"), at("2026-03-09T12:00:00Z"), Slot::Up),
            ]
        );
        let before = cut(&line, at("2026-03-09T08:00:00Z"), at("2026-03-09T09:30:00Z"));
        assert_eq!(
            before.iter().map(|s| (s.slot, s.end)).collect::<Vec<_>>(),
            [(Slot::Unknown, at("2026-03-09T09:00:00Z")), (Slot::Up, at("2026-03-09T09:30:00Z"))],
            "unobserved before the first record"
        );
        assert_eq!(cut(&[], at("2026-03-09T08:00:00Z"), at("2026-03-09T09:00:00Z")).len(), 1);
    }
}
