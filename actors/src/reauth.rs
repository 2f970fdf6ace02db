//! The weekly login: telling "a human must log in" apart from an ordinary outage.
//!
//! IB Gateway restarts itself daily from a short-lived token, without a second factor, but
//! "this procedure will require manual authentication once a week, the first time you log into
//! the platform after the security tokens have been invalidated, a security process that
//! occurs each Sunday at 1:00 am ET" (IB, *Auto Restart Considerations*,
//! <https://ibkrguides.com/traderworkstation/auto-restart-considerations.htm>). IBC will never
//! automate the second factor (IBC#316, #332), and its `RESTART` "cannot be used to bypass the
//! IBKR requirement that TWS be shut down completely at some point during Sundays" (IBC user
//! guide, *Command Server*). It is the most reported pain in every tracker (IBC#23, #243, #269,
//! gnzsnz/ib-gateway-docker#119 "Monday mornings only", Lean#246: orders rejected for 3 days).
//!
//! So an outage that begins at the weekly expiry, or at the gateway's first restart after it,
//! and does not heal by itself is not something retrying fixes: it needs one distinct alert,
//! "IB Gateway for Live needs a login (weekly re-authentication)", instead of the ordinary
//! outage alert. This module decides that, purely, from the outage's start and `now`
//! ([`ReauthConfig::assess`]), and answers when the next login is due (for the dashboard).
//!
//! # Rule
//!
//! Let `E` be the latest weekly expiry at or before `outage_since + margin`. The outage is
//! explained by the expiry when it began no earlier than `margin` before `E` and less than
//! `after` after `E` (default 24 h: the gateway's first daily auto-restart after the expiry is
//! the one that fails). It then *needs a login* once it has lasted `grace` past the later of
//! `E` and its start (the gateway did not come back by itself); before that it is
//! [`ReauthVerdict::Pending`]. Any other outage is [`ReauthVerdict::Ordinary`].
//!
//! The supervisor cannot see logins, so an outage beginning within `after` of the expiry is
//! blamed on it even if a human already logged in that Sunday; the alert says what to check.
//!
//! # DST
//!
//! The expiry is a local wall-clock time in its own zone (default Sunday 01:00
//! `America/New_York`), resolved like reset windows ([`crate::calendar::local_instant`]): on the
//! fall-back Sunday 01:00 happens twice and the earlier one (EDT) counts, the conservative
//! reading; a time inside a spring-forward gap counts from the end of the gap.

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, NaiveTime, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use crate::calendar::local_instant;

/// Default grace: how long past the expiry a gateway may stay down before a login is asked for.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(15 * 60);

/// Default margin: an outage starting this long before the expiry is still blamed on it.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(15 * 60);

/// Default reach: an outage starting up to this long after the expiry is blamed on it.
pub const DEFAULT_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A weekly local wall-clock instant, e.g. Sunday 01:00 in New York.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyTime {
    /// The local weekday.
    pub weekday: Weekday,
    /// The local time.
    pub time: NaiveTime,
    /// The zone both are read in.
    pub tz: Tz,
}

impl WeeklyTime {
    /// IB's token invalidation: Sunday 01:00 America/New_York.
    pub fn ib_default() -> Self {
        Self {
            weekday: Weekday::Sun,
            time: NaiveTime::from_hms_opt(1, 0, 0).unwrap_or_default(),
            tz: chrono_tz::America::New_York,
        }
    }

    /// The latest occurrence at or before `t`.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local_date = t.with_timezone(&self.tz).date_naive();
        let back = (7 + local_date.weekday().num_days_from_monday() - self.weekday.num_days_from_monday()) % 7;
        let mut date = local_date - Days::new(u64::from(back));
        // At most two steps back: the occurrence on `t`'s own local date may lie after `t`.
        for _ in 0..2 {
            let at = local_instant(self.tz, date.and_time(self.time));
            if at <= t {
                return at;
            }
            date = date - Days::new(7);
        }
        local_instant(self.tz, date.and_time(self.time))
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let last = self.last_at_or_before(t);
        let mut date = last.with_timezone(&self.tz).date_naive();
        // The resolved instant of a gap time shows a later local time, but the same date.
        for _ in 0..3 {
            date = date + Days::new(7);
            let at = local_instant(self.tz, date.and_time(self.time));
            if at > t {
                return at;
            }
        }
        last + TimeDelta::weeks(1)
    }
}

/// When the weekly login is due and how outages are judged (`reauth.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReauthConfig {
    /// The weekly expiry (`reauth.weekly`, default Sunday 01:00 America/New_York).
    pub weekly: WeeklyTime,
    /// How long past the expiry (or the outage's start, if later) before a login is asked for
    /// (`reauth.grace`, default 15 min).
    pub grace: Duration,
    /// How long before the expiry an outage may start and still be blamed on it (15 min).
    pub margin: Duration,
    /// How long after the expiry an outage may start and still be blamed on it (24 h).
    pub after: Duration,
}

impl Default for ReauthConfig {
    fn default() -> Self {
        Self { weekly: WeeklyTime::ib_default(), grace: DEFAULT_GRACE, margin: DEFAULT_MARGIN, after: DEFAULT_AFTER }
    }
}

/// How an outage relates to the weekly login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ReauthVerdict {
    /// Not explained by the weekly expiry: an ordinary outage.
    Ordinary,
    /// Explained by the expiry, but the gateway may still come back by itself before
    /// `alert_at`; hold the ordinary outage alert.
    Pending {
        /// The expiry the outage is blamed on.
        expiry: DateTime<Utc>,
        /// When, still down, it needs a login.
        alert_at: DateTime<Utc>,
    },
    /// A human must log in: send the login alert, not the ordinary outage alert.
    NeedsLogin {
        /// The expiry the outage is blamed on.
        expiry: DateTime<Utc>,
        /// Since when a login has been needed.
        since: DateTime<Utc>,
    },
}

impl ReauthVerdict {
    /// Whether the outage is the weekly login's (pending or due): the ordinary outage alert
    /// is not the right one.
    pub fn is_weekly(&self) -> bool {
        !matches!(self, ReauthVerdict::Ordinary)
    }

    /// The alert text when a login is needed.
    pub fn alert(&self, account: &str) -> Option<String> {
        matches!(self, ReauthVerdict::NeedsLogin { .. }).then(|| login_alert(account))
    }
}

/// The alert for an account whose gateway needs the weekly login.
pub fn login_alert(account: &str) -> String {
    format!("IB Gateway for {account} needs a login (weekly re-authentication)")
}

/// The next expected login, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NextLogin {
    /// The next weekly expiry.
    pub at: DateTime<Utc>,
    /// Whole seconds until then.
    pub in_seconds: u64,
}

impl ReauthConfig {
    /// How an outage that began at `outage_since` stands at `now`.
    pub fn assess(&self, outage_since: DateTime<Utc>, now: DateTime<Utc>) -> ReauthVerdict {
        let expiry = self.weekly.last_at_or_before(outage_since + delta(self.margin));
        let blamed = outage_since >= expiry - delta(self.margin) && outage_since < expiry + delta(self.after);
        if !blamed {
            return ReauthVerdict::Ordinary;
        }
        let alert_at = expiry.max(outage_since) + delta(self.grace);
        if now >= alert_at {
            ReauthVerdict::NeedsLogin { expiry, since: alert_at }
        } else {
            ReauthVerdict::Pending { expiry, alert_at }
        }
    }

    /// The next weekly expiry after `now`, and how far away it is.
    pub fn next_login(&self, now: DateTime<Utc>) -> NextLogin {
        let at = self.weekly.next_after(now);
        NextLogin { at, in_seconds: (at - now).num_seconds().max(0).unsigned_abs() }
    }
}

/// A configured duration as a chrono delta (saturating; configured durations are small).
fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::America::New_York;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn ny(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        New_York.with_ymd_and_hms(y, mo, d, h, mi, 0).earliest().unwrap().with_timezone(&Utc)
    }

    #[test]
    fn expiry_is_sunday_0100_new_york_across_both_dst_changes() {
        let weekly = WeeklyTime::ib_default();
        // Sunday 2026-03-08 (spring forward at 02:00): 01:00 is still EST, 06:00 UTC.
        assert_eq!(weekly.next_after(utc(2026, 3, 7, 12, 0)), utc(2026, 3, 8, 6, 0));
        // The next Sunday is EDT: 05:00 UTC.
        assert_eq!(weekly.next_after(utc(2026, 3, 8, 6, 0)), utc(2026, 3, 15, 5, 0));
        // Sunday 2026-11-01 (fall back): 01:00 happens twice; the earlier one (EDT) counts.
        assert_eq!(weekly.next_after(utc(2026, 10, 31, 12, 0)), utc(2026, 11, 1, 5, 0));
        assert_eq!(weekly.next_after(utc(2026, 11, 1, 5, 0)), utc(2026, 11, 8, 6, 0));
        assert_eq!(weekly.last_at_or_before(utc(2026, 11, 1, 5, 30)), utc(2026, 11, 1, 5, 0));
        assert_eq!(weekly.last_at_or_before(utc(2026, 11, 1, 4, 59)), utc(2026, 10, 25, 5, 0));
        // Asked exactly at the expiry: that one is the last, the next is a week on.
        assert_eq!(weekly.last_at_or_before(utc(2026, 3, 15, 5, 0)), utc(2026, 3, 15, 5, 0));
    }

    #[test]
    fn expiry_inside_a_spring_forward_gap_counts_from_the_end_of_the_gap() {
        let weekly = WeeklyTime { time: NaiveTime::from_hms_opt(2, 30, 0).unwrap(), ..WeeklyTime::ib_default() };
        // 02:30 does not exist on 2026-03-08; the gap ends at 03:00 EDT = 07:00 UTC.
        assert_eq!(weekly.next_after(utc(2026, 3, 7, 12, 0)), utc(2026, 3, 8, 7, 0));
        assert_eq!(weekly.next_after(utc(2026, 3, 8, 7, 0)), utc(2026, 3, 15, 6, 30));
        assert_eq!(weekly.last_at_or_before(utc(2026, 3, 8, 8, 0)), utc(2026, 3, 8, 7, 0));
    }

    #[test]
    fn outage_at_the_expiry_needs_a_login_after_the_grace() {
        let config = ReauthConfig::default();
        // Sunday 2026-06-14 01:00 EDT = 05:00 UTC; the gateway drops at 01:02.
        let expiry = ny(2026, 6, 14, 1, 0);
        let since = ny(2026, 6, 14, 1, 2);
        let alert_at = ny(2026, 6, 14, 1, 17);
        assert_eq!(config.assess(since, ny(2026, 6, 14, 1, 10)), ReauthVerdict::Pending { expiry, alert_at });
        assert!(config.assess(since, ny(2026, 6, 14, 1, 10)).is_weekly());
        assert_eq!(config.assess(since, ny(2026, 6, 14, 1, 10)).alert("Live"), None);
        let verdict = config.assess(since, alert_at);
        assert_eq!(verdict, ReauthVerdict::NeedsLogin { expiry, since: alert_at });
        assert_eq!(verdict.alert("Live").unwrap(), "IB Gateway for Live needs a login (weekly re-authentication)");
        // Still down on Monday morning: still the login, not an ordinary outage.
        assert!(matches!(config.assess(since, ny(2026, 6, 15, 9, 0)), ReauthVerdict::NeedsLogin { .. }));
    }

    #[test]
    fn outage_just_before_the_expiry_counts_from_the_expiry() {
        let config = ReauthConfig::default();
        let expiry = ny(2026, 6, 14, 1, 0);
        // 00:50: within the 15-minute margin; the grace runs from the expiry.
        let verdict = config.assess(ny(2026, 6, 14, 0, 50), ny(2026, 6, 14, 0, 55));
        assert_eq!(verdict, ReauthVerdict::Pending { expiry, alert_at: ny(2026, 6, 14, 1, 15) });
        // 00:40: too early, an ordinary outage however long it lasts.
        assert_eq!(config.assess(ny(2026, 6, 14, 0, 40), ny(2026, 6, 14, 9, 0)), ReauthVerdict::Ordinary);
    }

    #[test]
    fn first_nightly_restart_after_the_expiry_is_blamed_on_it() {
        let config = ReauthConfig::default();
        // The gateway's auto-restart at 23:45 Sunday fails: the token expired at 01:00.
        let since = ny(2026, 6, 14, 23, 45);
        assert_eq!(
            config.assess(since, ny(2026, 6, 14, 23, 50)),
            ReauthVerdict::Pending { expiry: ny(2026, 6, 14, 1, 0), alert_at: ny(2026, 6, 15, 0, 0) }
        );
        assert!(matches!(config.assess(since, ny(2026, 6, 15, 0, 0)), ReauthVerdict::NeedsLogin { .. }));
    }

    #[test]
    fn outages_far_from_the_expiry_are_ordinary() {
        let config = ReauthConfig::default();
        // Wednesday, Saturday (the weekend maintenance), Monday after the 24 h reach.
        for since in [ny(2026, 6, 17, 10, 0), ny(2026, 6, 13, 23, 30), ny(2026, 6, 15, 1, 0)] {
            assert_eq!(config.assess(since, since + TimeDelta::hours(30)), ReauthVerdict::Ordinary, "{since}");
            assert!(!config.assess(since, since + TimeDelta::hours(30)).is_weekly());
        }
        // An outage that began Saturday and spans Sunday's expiry is the maintenance's, not
        // the login's: it began before the margin.
        assert_eq!(config.assess(ny(2026, 6, 13, 12, 0), ny(2026, 6, 14, 2, 0)), ReauthVerdict::Ordinary);
    }

    #[test]
    fn grace_and_reach_are_configurable() {
        let config = ReauthConfig {
            grace: Duration::from_secs(3600),
            after: Duration::from_secs(3600),
            ..ReauthConfig::default()
        };
        let since = ny(2026, 6, 14, 1, 30);
        assert!(matches!(config.assess(since, ny(2026, 6, 14, 2, 29)), ReauthVerdict::Pending { .. }));
        assert!(matches!(config.assess(since, ny(2026, 6, 14, 2, 30)), ReauthVerdict::NeedsLogin { .. }));
        assert_eq!(config.assess(ny(2026, 6, 14, 2, 0), ny(2026, 6, 14, 9, 0)), ReauthVerdict::Ordinary);
    }

    #[test]
    fn next_login_for_the_dashboard() {
        let config = ReauthConfig::default();
        // Saturday 2026-03-07 19:00 EST; the next expiry is Sunday 01:00 EST, 6 h away.
        let now = ny(2026, 3, 7, 19, 0);
        assert_eq!(config.next_login(now), NextLogin { at: utc(2026, 3, 8, 6, 0), in_seconds: 6 * 3600 });
        // Right after it, a week minus the DST hour (the clocks jumped forward in between).
        let after = utc(2026, 3, 8, 6, 0);
        assert_eq!(config.next_login(after), NextLogin { at: utc(2026, 3, 15, 5, 0), in_seconds: (7 * 24 - 1) * 3600 });
        assert_eq!(
            serde_json::to_value(config.next_login(now)).unwrap(),
            serde_json::json!({ "at": "2026-03-08T06:00:00Z", "in_seconds": 21600 })
        );
        assert_eq!(
            serde_json::to_value(config.assess(ny(2026, 6, 14, 1, 2), ny(2026, 6, 14, 1, 20))).unwrap(),
            serde_json::json!({ "verdict": "needs_login", "expiry": "2026-06-14T05:00:00Z", "since": "2026-06-14T05:17:00Z" })
        );
    }
}
