//! What the ladder sees of an account (*pure*): the [`Observation`] read off its
//! [`AccountStatus`] on the status board.
//!
//! - **API dead** since the outage began, while attempts fail: `disconnected` after at least
//!   one attempt of this outage, or `connecting` again after one failed (stalled handshakes,
//!   half-open sockets and refusals all end an attempt this way). A first attempt still in
//!   flight is not yet a failure; a reset window is no outage at all.
//! - **Upstream lost** since the `degraded` state began (1100 / 2110, the socket still up).
//! - **Market data down** since the first market-data farm of the session went down.
//! - **Needs login** while the weekly token expiry explains the outage ([`ReauthConfig::assess`]:
//!   pending or due): a restart would only end at the login dialog.

use chrono::{DateTime, Utc};

use super::ladder::Observation;
use crate::reauth::ReauthConfig;
use crate::status::{AccountStatus, ConnectionState};

/// The ladder's view of `status` at `now` (`reauth`: the weekly login, `None` when off).
pub fn observe(status: &AccountStatus, reauth: Option<&ReauthConfig>, now: DateTime<Utc>) -> Observation {
    let failing = match &status.state {
        ConnectionState::Disconnected { .. } => status.reconnect_attempts >= 1,
        ConnectionState::Connecting { attempt, .. } => *attempt >= 2,
        _ => false,
    };
    let api_dead_since = if failing { status.outage_since } else { None };
    let upstream_lost_since = match &status.state {
        ConnectionState::Degraded { since, .. } => Some(*since),
        _ => None,
    };
    let market_data_down_since = status.farms.market_data_down().and_then(|farm| farm.down_since);
    let needs_login = match (reauth, status.outage_since) {
        (Some(reauth), Some(since)) => reauth.assess(since, now).is_weekly(),
        _ => false,
    };
    Observation { market_data_down_since, upstream_lost_since, api_dead_since, needs_login }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::farms::{FarmBoard, FarmNotice};
    use crate::settings::Settings;

    fn t(s: i64) -> DateTime<Utc> {
        // Wednesday 2026-06-17 14:00 UTC, far from the weekly login.
        DateTime::from_timestamp(1_781_704_800 + s, 0).unwrap()
    }

    fn status(state: ConnectionState, attempts: u32, outage_since: Option<DateTime<Utc>>) -> AccountStatus {
        let mut status = AccountStatus::new(&Settings::default().accounts[0], t(0));
        status.state = state;
        status.reconnect_attempts = attempts;
        status.outage_since = outage_since;
        status
    }

    #[test]
    fn the_api_is_dead_only_once_an_attempt_failed() {
        let down = || ConnectionState::Disconnected { since: t(5), last_error: None };
        let first = status(down(), 0, Some(t(0)));
        assert_eq!(observe(&first, None, t(9)).api_dead_since, None, "no attempt yet");
        let trying = status(ConnectionState::Connecting { since: t(5), attempt: 1, client_id: 1 }, 1, Some(t(0)));
        assert_eq!(observe(&trying, None, t(9)).api_dead_since, None, "the first attempt is in flight");
        let failed = status(down(), 1, Some(t(0)));
        assert_eq!(observe(&failed, None, t(9)).api_dead_since, Some(t(0)), "counts from the outage's start");
        let again = status(ConnectionState::Connecting { since: t(7), attempt: 2, client_id: 1 }, 2, Some(t(0)));
        assert_eq!(observe(&again, None, t(9)).api_dead_since, Some(t(0)));
        let window = status(ConnectionState::ResetWindow { since: t(1), until: t(99), link: None }, 3, None);
        assert_eq!(observe(&window, None, t(9)), Observation::default());
    }

    #[test]
    fn upstream_and_market_data_and_the_weekly_login() {
        let degraded = ConnectionState::Degraded { since: t(3), client_id: 1, code: 1100, reason: "lost".into() };
        let mut s = status(degraded, 0, Some(t(3)));
        let mut farms = FarmBoard::new();
        farms.apply(&FarmNotice::parse(2103, "Market data farm connection is broken:usfarm").unwrap(), t(4));
        farms.apply(&FarmNotice::parse(2105, "HMDS data farm connection is broken:ushmds").unwrap(), t(1));
        s.farms = farms.snapshot();
        let seen = observe(&s, None, t(9));
        assert_eq!((seen.upstream_lost_since, seen.market_data_down_since), (Some(t(3)), Some(t(4))));
        assert!(!seen.needs_login);
        // Sunday 2026-06-21 05:10 UTC, ten minutes after the expiry (01:00 New York): held.
        let sunday = DateTime::from_timestamp(1_782_018_600, 0).unwrap();
        let dead = status(ConnectionState::Disconnected { since: sunday, last_error: None }, 2, Some(sunday));
        assert!(observe(&dead, Some(&ReauthConfig::default()), sunday).needs_login);
        assert!(!observe(&dead, None, sunday).needs_login, "reauth.weekly off");
    }
}
