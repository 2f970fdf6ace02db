//! A check, not a run: how `ibkr-supervisor --once` is recorded.
//!
//! A running supervisor records everything it goes through: every status event, every change
//! of the board, and 'stopped' at shutdown (the time after it counts as not observed). A check
//! connects, probes and exits within a second or two; recorded the same way it would leave an
//! outage per run (its own disconnected → connecting → connected start) and a hole after it
//! ('stopped' until the next run), so a worker that runs `--once` every few minutes would fill
//! `/uptime` with holes and outages that never happened.
//!
//! So a tree started with [`Recording::Check`] records nothing by itself (no events, no board,
//! no 'stopped'), and `--once` hands over what it observed, once, through
//! [`record_check`](super::record_check). That observation becomes, in one transaction on the
//! writer thread ([`check_rows`]):
//!
//! - each account's `ibkr_status` row: `connected` = the result, `last_checked` = the time of
//!   the check, `last_connected` = that time when connected (else the stored value stays);
//!   when the state is the one already recorded, its `state_since` stays the recorded one;
//! - one `state_changed` event per account whose state differs from the recorded one, from the
//!   recorded state (or from 'stopped', not observed, when nothing is recorded) to the observed
//!   one. An unchanged state writes no event: the timeline goes on as it was.
//!
//! Between two checks the account counts as it was last observed, as a sampling monitor counts
//! it; a check that finds it down starts an outage, one that finds it back ends it.

use chrono::{DateTime, Utc};

use super::rows::StoredStatus;
use crate::status::{AccountStatus, ConnectionState, EventKind, StatusEvent};

/// How a supervision tree records into the database (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Recording {
    /// A running supervisor: every status event, the board whenever it changes, and the final
    /// 'stopped' at shutdown.
    #[default]
    Run,
    /// A one-off check (`--once`): nothing of the tree's own connection churn; only the
    /// observation handed over with [`record_check`](super::record_check).
    Check,
}

/// The events and status rows of a check observed at `at`, given the rows recorded so far.
pub(super) fn check_rows(
    prior: &[StoredStatus],
    observed: Vec<AccountStatus>,
    at: DateTime<Utc>,
) -> (Vec<StatusEvent>, Vec<AccountStatus>) {
    let mut events = Vec::new();
    let mut rows = Vec::with_capacity(observed.len());
    for mut status in observed {
        status.last_checked = Some(at);
        // `None` keeps the stored value (the upsert coalesces).
        status.last_connected = status.connected().then_some(at);
        // A check schedules nothing.
        status.next_attempt_at = None;
        let recorded = prior.iter().find(|p| p.status.name == status.name).map(|p| &p.status.state);
        match recorded {
            Some(recorded) if recorded.name() == status.state.name() => {
                status.state = held_since(status.state, recorded.since());
            }
            recorded => {
                let entered = status.state.since();
                let from = recorded.cloned().unwrap_or(ConnectionState::Stopped { since: entered });
                let kind = EventKind::StateChanged { from, to: status.state.clone() };
                events.push(StatusEvent::new(&status.name, entered, kind));
            }
        }
        rows.push(status);
    }
    (events, rows)
}

/// `state` with its data, entered at `since`.
fn held_since(state: ConnectionState, since: DateTime<Utc>) -> ConnectionState {
    use ConnectionState as S;
    match state {
        S::Disconnected { last_error, .. } => S::Disconnected { since, last_error },
        S::Connecting { attempt, client_id, .. } => S::Connecting { since, attempt, client_id },
        S::Connected { client_id, .. } => S::Connected { since, client_id },
        S::Degraded { client_id, code, reason, .. } => S::Degraded { since, client_id, code, reason },
        S::ResetWindow { until, link, .. } => S::ResetWindow { since, until, link },
        S::Stopped { .. } => S::Stopped { since },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::fixtures::at;
    use crate::persistence::uptime::{figures, points, StateChange};
    use crate::settings::Settings;

    fn observed(state: ConnectionState) -> AccountStatus {
        let mut status = AccountStatus::new(&Settings::default().accounts[0], state.since());
        status.state = state;
        status
    }

    fn stored(status: AccountStatus, at: DateTime<Utc>) -> StoredStatus {
        StoredStatus { status, updated_at: at }
    }

    fn change(event: &StatusEvent) -> StateChange {
        match &event.kind {
            EventKind::StateChanged { from, to } => StateChange {
                at: event.at,
                from: from.name().into(),
                from_since: Some(from.since()),
                to: to.name().into(),
            },
            other => panic!("not a state change: {other:?}"),
        }
    }

    #[test]
    fn checks_that_find_the_account_up_leave_no_hole_and_count_no_outage() {
        // A daemon ran until 09:00 and stopped; then a worker checks every 5 minutes.
        let t0 = at("2026-03-09T08:00:00Z");
        let daemon = ConnectionState::Connected { since: t0, client_id: 1 };
        let stopped = ConnectionState::Stopped { since: at("2026-03-09T09:00:00Z") };
        let mut changes = vec![
            StateChange { at: t0, from: "connecting".into(), from_since: Some(t0), to: daemon.name().into() },
            StateChange { at: stopped.since(), from: "connected".into(), from_since: Some(t0), to: "stopped".into() },
        ];
        let mut prior = vec![stored(observed(stopped), at("2026-03-09T09:00:00Z"))];
        let mut check_at = at("2026-03-09T09:05:00Z");
        for _ in 0..6 {
            let connected =
                ConnectionState::Connected { since: check_at - chrono::Duration::milliseconds(40), client_id: 1 };
            let (events, rows) = check_rows(&prior, vec![observed(connected)], check_at);
            changes.extend(events.iter().map(change));
            prior = rows.into_iter().map(|r| stored(r, check_at)).collect();
            assert!(prior[0].status.connected() && prior[0].status.last_checked == Some(check_at));
            assert_eq!(prior[0].status.last_connected, Some(check_at));
            check_at += chrono::Duration::minutes(5);
        }
        assert_eq!(changes.len(), 3, "one change back from 'stopped', then none: {changes:?}");
        assert_eq!(prior[0].status.state.since(), at("2026-03-09T09:04:59.960Z"), "up since the first check");
        let f = figures(&points(&changes), at("2026-03-09T09:05:00Z"), at("2026-03-09T09:35:00Z"));
        assert_eq!((f.up_ms, f.down_ms, f.unknown_ms, f.outages), (30 * 60_000, 0, 0, 0), "{f:?}");
    }

    #[test]
    fn a_check_that_finds_the_account_down_starts_an_outage_and_the_next_good_one_ends_it() {
        let t1 = at("2026-03-09T10:00:00Z");
        let up = ConnectionState::Connected { since: t1, client_id: 1 };
        let prior = vec![stored(
            AccountStatus { last_connected: Some(t1), last_checked: Some(t1), ..observed(up.clone()) },
            t1,
        )];
        let t2 = at("2026-03-09T10:05:00Z");
        let refused = Some("connection refused".to_owned());
        let down = ConnectionState::Disconnected { since: t2, last_error: refused.clone() };
        let (events, rows) = check_rows(&prior, vec![observed(down.clone())], t2);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::StateChanged { from: up.clone(), to: down.clone() });
        assert!(!rows[0].connected() && rows[0].last_checked == Some(t2));
        assert_eq!(rows[0].last_connected, None, "kept as stored (the upsert coalesces a NULL)");

        let prior = vec![stored(rows[0].clone(), t2)];
        let t3 = at("2026-03-09T10:10:00Z");
        let again = ConnectionState::Disconnected { since: t3, last_error: refused };
        let (events, rows) = check_rows(&prior, vec![observed(again)], t3);
        assert!(events.is_empty(), "still down: the outage goes on");
        assert_eq!(rows[0].state.since(), t2, "down since the first check that found it down");

        let t4 = at("2026-03-09T10:15:00Z");
        let back = ConnectionState::Connected { since: t4, client_id: 1 };
        let (events, _) = check_rows(&[stored(rows[0].clone(), t3)], vec![observed(back)], t4);
        let changes = vec![
            StateChange { at: t1, from: "stopped".into(), from_since: Some(t1), to: "connected".into() },
            change(&prior_change(&up, &down)),
            change(&events[0]),
        ];
        let f = figures(&points(&changes), t1, at("2026-03-09T10:20:00Z"));
        assert_eq!((f.up_ms, f.down_ms, f.unknown_ms, f.outages), (10 * 60_000, 10 * 60_000, 0, 1), "{f:?}");
    }

    fn prior_change(from: &ConnectionState, to: &ConnectionState) -> StatusEvent {
        StatusEvent::new("Paper", to.since(), EventKind::StateChanged { from: from.clone(), to: to.clone() })
    }

    #[test]
    fn the_first_check_of_an_account_comes_from_not_observed() {
        let t = at("2026-03-09T10:00:00Z");
        let up = ConnectionState::Connected { since: t, client_id: 1 };
        let (events, rows) = check_rows(&[], vec![observed(up.clone())], t);
        assert_eq!(events[0].kind, EventKind::StateChanged { from: ConnectionState::Stopped { since: t }, to: up });
        let f = figures(&points(&[change(&events[0])]), at("2026-03-09T09:00:00Z"), at("2026-03-09T11:00:00Z"));
        assert_eq!((f.unknown_ms, f.up_ms, f.outages), (3_600_000, 3_600_000, 0), "nothing claimed before: {f:?}");
        assert_eq!(rows[0].last_checked, Some(t));
    }
}
