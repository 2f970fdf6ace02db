//! The escalation ladder (*pure*): what to do about a gateway that does not mend itself.
//!
//! Retrying our socket is all a client can do by itself, but a gateway whose data farms stay
//! broken, whose upstream stays lost (1100) or whose API is dead while its port is open can be
//! mended from outside without a login: IBC's command server ([`crate::ibc`]) reconnects the
//! farms (`RECONNECTDATA`), reconnects to IB's server (`RECONNECTACCOUNT`) or soft-restarts the
//! gateway on its session token (`RESTART`); past that, a configured `restart_command` (argv,
//! e.g. `["docker", "restart", "ib-gateway"]`) restarts it outright. No anchor climbs such a
//! ladder: ib_async's Watchdog always terminates and starts a full login (a request to use
//! `RESTART` instead was declined, ib_insync#546); Lean soft-restarts after 2103/2105 persist
//! 5 min, with a delay growing 5 min per repeat within an hour.
//!
//! [`Ladder`] is a pure state machine per account. Each call of [`Ladder::step`] gets the
//! current [`Observation`] (since when each problem has lasted), the reset calendar and
//! `now`, and answers the one action to take now ([`Step::Act`]) or when to look again
//! ([`Step::Wait`]). The caller carries the action out; the ladder counts it as taken.
//!
//! # Rungs and problems
//!
//! | problem | since | entry rung (after) | then climbs to (after the previous rung) |
//! |---|---|---|---|
//! | market-data farm broken | [`crate::farms::FarmBoard::market_data_down_since`] | `RECONNECTDATA` (`reconnect_data_after`, 5 min) | `RECONNECTACCOUNT` (`reconnect_account_after`), `RESTART` (`restart_after`) |
//! | upstream lost (1100/2110) | the `Degraded` state's `since` | `RECONNECTACCOUNT` (`reconnect_account_after`, 3 min) | `RESTART` (`restart_after`) |
//! | API dead (stalled handshakes, half-open sockets, refusals) | the first failing attempt | `RESTART` (`restart_after`, 5 min) | `restart_command` (`restart_command_after`, 10 min) |
//!
//! - An **episode** lasts while any problem does; within it each rung fires at most once, and
//!   the ladder only climbs: once a rung fired, no lower rung fires in that episode (a
//!   `RECONNECTACCOUNT` also reconnects the farms; a `RESTART` mends everything it can).
//! - Several problems at once: the highest rung that is due goes first.
//! - The `restart_command` is only ever the API-dead ladder's last rung: a hard process restart
//!   for a data-farm or upstream problem would cost a full login for an IB-side outage.
//!   Without IBC, the API-dead ladder starts at the `restart_command` (after `restart_after`)
//!   and the other problems have no remedy here ([`IdleReason::NoRemedy`]).
//! - **Rate limit.** A rung fires at most once per `min_interval` (15 min), across episodes,
//!   so a flapping farm cannot make the ladder hammer the gateway.
//! - **Reset windows.** Nothing fires inside a window ([`WaitReason::ResetWindow`]), and a
//!   window restarts every clock: a problem that began before or during a window counts from
//!   the window's end, because IB's own reset explains it until then.
//! - **Second factor.** Never anything that needs a human to type one: the ladder never sends
//!   `STOP`; and while the weekly re-authentication is due ([`crate::reauth`]) it holds
//!   `RESTART` and the restart command, which would only end at the login dialog
//!   ([`IdleReason::NeedsLogin`]).
//!
//! # Defaults, from the facts in `ib-operations.md`
//!
//! - `reconnect_data_after` 5 min: Lean's wait on 2103/2105 before it restarts; farms flap for
//!   seconds (NautilusTrader #4412), so not sooner.
//! - `reconnect_account_after` 3 min: 1100 heals by itself in seconds (1100 → 1102 in ~15 s,
//!   IBC#251) and gateway restarts take 2–3 s to 60–90 s; 3 min is twice the longest.
//! - `restart_after` 5 min: the reconnect backoff retries all along, and nothing normal keeps
//!   the API dead that long outside a reset window.
//! - `restart_command_after` 10 min: on the Gateway IBC's `RESTART` only sets the auto-restart
//!   time to the next minute (or the one after), then the restart itself takes up to 90 s
//!   observed, and Lean allows 10 min for one; the hard restart waits that out.
//! - `min_interval` 15 min: longer than a whole `RESTART` cycle, so a rung never fires again
//!   while its last firing may still be taking effect.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::calendar::ResetCalendar;
use crate::ibc::Command;

/// Default wait on a broken market-data farm before `RECONNECTDATA`.
pub const DEFAULT_RECONNECT_DATA_AFTER: Duration = Duration::from_secs(5 * 60);
/// Default wait on a lost upstream (1100) before `RECONNECTACCOUNT`.
pub const DEFAULT_RECONNECT_ACCOUNT_AFTER: Duration = Duration::from_secs(3 * 60);
/// Default wait on a dead API before `RESTART`.
pub const DEFAULT_RESTART_AFTER: Duration = Duration::from_secs(5 * 60);
/// Default wait after a `RESTART` that did not mend a dead API before the restart command.
pub const DEFAULT_RESTART_COMMAND_AFTER: Duration = Duration::from_secs(10 * 60);
/// Default shortest interval between two firings of one rung.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How many reset windows a problem's clock looks back over (beyond that it is long overdue).
const MAX_WINDOWS_SCANNED: usize = 64;

/// A rung of the ladder, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rung {
    /// IBC `RECONNECTDATA`: reconnect the data farms.
    ReconnectData,
    /// IBC `RECONNECTACCOUNT`: reconnect to IB's server.
    ReconnectAccount,
    /// IBC `RESTART`: soft restart on the session's token.
    Restart,
    /// The configured `restart_command`.
    RestartCommand,
}

impl Rung {
    /// Every rung, lowest first.
    pub const ALL: [Rung; 4] = [Rung::ReconnectData, Rung::ReconnectAccount, Rung::Restart, Rung::RestartCommand];

    /// The IBC command this rung sends, or `None` for the restart command.
    pub fn command(self) -> Option<Command> {
        match self {
            Rung::ReconnectData => Some(Command::ReconnectData),
            Rung::ReconnectAccount => Some(Command::ReconnectAccount),
            Rung::Restart => Some(Command::Restart),
            Rung::RestartCommand => None,
        }
    }

    /// Its name, as in the JSON form and the `rung` label of `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Rung::ReconnectData => "reconnect_data",
            Rung::ReconnectAccount => "reconnect_account",
            Rung::Restart => "restart",
            Rung::RestartCommand => "restart_command",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A problem the ladder answers, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// A market-data farm is down.
    DataBroken,
    /// IB's upstream is lost (1100 / 2110).
    UpstreamLost,
    /// Connect attempts fail: stalled handshakes, half-open sockets, refusals.
    ApiDead,
}

impl Problem {
    /// The rungs that answer this problem, lowest first.
    fn rungs(self) -> &'static [Rung] {
        match self {
            Problem::DataBroken => &[Rung::ReconnectData, Rung::ReconnectAccount, Rung::Restart],
            Problem::UpstreamLost => &[Rung::ReconnectAccount, Rung::Restart],
            Problem::ApiDead => &[Rung::Restart, Rung::RestartCommand],
        }
    }
}

/// The ladder's thresholds and what is available (`escalation.*`, `accounts[].ibc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationConfig {
    /// A market-data farm down this long → `RECONNECTDATA`.
    pub reconnect_data_after: Duration,
    /// Upstream lost this long → `RECONNECTACCOUNT`; also the climb to it after `RECONNECTDATA`.
    pub reconnect_account_after: Duration,
    /// API dead this long → `RESTART`; also the climb to it after `RECONNECTACCOUNT`.
    pub restart_after: Duration,
    /// Still dead this long after `RESTART` → the restart command.
    pub restart_command_after: Duration,
    /// A rung fires at most once per this interval.
    pub min_interval: Duration,
    /// Whether IBC's command server is configured for the account.
    pub ibc: bool,
    /// Whether a restart command is configured.
    pub restart_command: bool,
}

impl Default for EscalationConfig {
    /// The default thresholds (see the module docs), with no IBC and no restart command: the
    /// ladder does nothing until the account names them.
    fn default() -> Self {
        Self {
            reconnect_data_after: DEFAULT_RECONNECT_DATA_AFTER,
            reconnect_account_after: DEFAULT_RECONNECT_ACCOUNT_AFTER,
            restart_after: DEFAULT_RESTART_AFTER,
            restart_command_after: DEFAULT_RESTART_COMMAND_AFTER,
            min_interval: DEFAULT_MIN_INTERVAL,
            ibc: false,
            restart_command: false,
        }
    }
}

impl EscalationConfig {
    fn available(&self, rung: Rung) -> bool {
        match rung {
            Rung::ReconnectData | Rung::ReconnectAccount | Rung::Restart => self.ibc,
            Rung::RestartCommand => self.restart_command,
        }
    }

    /// How long a problem must last before its first rung.
    fn entry_after(&self, problem: Problem) -> Duration {
        match problem {
            Problem::DataBroken => self.reconnect_data_after,
            Problem::UpstreamLost => self.reconnect_account_after,
            Problem::ApiDead => self.restart_after,
        }
    }

    /// How long after the previous rung fired before climbing to `rung`.
    fn climb_after(&self, rung: Rung) -> Duration {
        match rung {
            Rung::ReconnectData => self.reconnect_data_after,
            Rung::ReconnectAccount => self.reconnect_account_after,
            Rung::Restart => self.restart_after,
            Rung::RestartCommand => self.restart_command_after,
        }
    }
}

/// What the account looks like now: since when each problem has lasted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observation {
    /// A market-data farm has been down since.
    pub market_data_down_since: Option<DateTime<Utc>>,
    /// IB's upstream has been lost since (1100 / 2110).
    pub upstream_lost_since: Option<DateTime<Utc>>,
    /// Connect attempts have failed since (stalled handshake, half-open socket, refusal).
    pub api_dead_since: Option<DateTime<Utc>>,
    /// The weekly re-authentication is due: a restart would end at the login dialog.
    pub needs_login: bool,
}

impl Observation {
    fn problems(&self) -> impl Iterator<Item = (Problem, DateTime<Utc>)> {
        [
            (Problem::DataBroken, self.market_data_down_since),
            (Problem::UpstreamLost, self.upstream_lost_since),
            (Problem::ApiDead, self.api_dead_since),
        ]
        .into_iter()
        .filter_map(|(problem, since)| since.map(|since| (problem, since)))
    }
}

/// Why the ladder waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// Inside a reset window.
    ResetWindow,
    /// The next rung's threshold is not reached yet.
    Threshold,
    /// The next rung fired less than `min_interval` ago.
    MinInterval,
}

/// Why the ladder has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdleReason {
    /// No problem.
    Healthy,
    /// Every rung this episode's problems allow has fired: a human is needed.
    Exhausted,
    /// A restart is all that is left, but the weekly login is due.
    NeedsLogin,
    /// Nothing is configured that answers these problems (no IBC, no restart command).
    NoRemedy,
}

/// The ladder's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Take this rung now (it is counted as taken).
    Act {
        /// The rung.
        rung: Rung,
        /// The problem it answers.
        problem: Problem,
    },
    /// Look again at `until` (or when the observation changes).
    Wait {
        /// When something may be due.
        until: DateTime<Utc>,
        /// The rung that may be due then, if a rung is what is waited for.
        next: Option<Rung>,
        /// Why not now.
        reason: WaitReason,
    },
    /// Nothing to do until the observation changes.
    Idle {
        /// Why.
        reason: IdleReason,
    },
}

/// The serialisable view of a ladder for `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LadderSnapshot {
    /// The rungs fired in the current episode, in order.
    pub episode: Vec<(Rung, DateTime<Utc>)>,
    /// Each rung's last firing, ever.
    pub last_fired: Vec<(Rung, DateTime<Utc>)>,
}

/// The escalation ladder of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    config: EscalationConfig,
    /// When each rung fired in the current episode.
    episode: [Option<DateTime<Utc>>; 4],
    /// When each rung last fired, across episodes.
    last_fired: [Option<DateTime<Utc>>; 4],
}

/// A rung a problem could take, and when.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    rung: Rung,
    problem: Problem,
    due: DateTime<Utc>,
}

impl Ladder {
    /// A ladder that has fired nothing.
    pub fn new(config: EscalationConfig) -> Self {
        Self { config, episode: [None; 4], last_fired: [None; 4] }
    }

    /// The configuration.
    pub fn config(&self) -> &EscalationConfig {
        &self.config
    }

    /// What to do at `now` given `observation`.
    pub fn step(&mut self, observation: &Observation, calendar: &ResetCalendar, now: DateTime<Utc>) -> Step {
        let problems: Vec<(Problem, DateTime<Utc>)> = observation.problems().collect();
        if problems.is_empty() {
            self.episode = [None; 4];
            return Step::Idle { reason: IdleReason::Healthy };
        }
        if let Some(window) = calendar.window_at(now) {
            return Step::Wait { until: window.end, next: None, reason: WaitReason::ResetWindow };
        }

        let mut candidates = Vec::new();
        let mut held_for_login = false;
        for (problem, since) in problems {
            let start = clock_start(calendar, since, now);
            match self.candidate(problem, start, observation.needs_login) {
                Ok(candidate) => candidates.push(candidate),
                Err(held) => held_for_login |= held,
            }
        }
        if candidates.is_empty() {
            let reason = if held_for_login {
                IdleReason::NeedsLogin
            } else if self.episode.iter().any(Option::is_some) {
                IdleReason::Exhausted
            } else {
                IdleReason::NoRemedy
            };
            return Step::Idle { reason };
        }

        // When each candidate may actually fire: its threshold, and the rung's rate limit.
        let ready = |c: &Candidate| {
            let allowed = self.last_fired[c.rung.index()].map(|last| last + delta(self.config.min_interval));
            (c.due.max(allowed.unwrap_or(c.due)), allowed.is_some_and(|allowed| allowed > c.due))
        };
        let due_now = candidates.iter().filter(|c| ready(c).0 <= now).max_by_key(|c| (c.rung, c.problem)).copied();
        if let Some(Candidate { rung, problem, .. }) = due_now {
            self.episode[rung.index()] = Some(now);
            self.last_fired[rung.index()] = Some(now);
            return Step::Act { rung, problem };
        }
        let (until, rate_limited, next) = candidates
            .iter()
            .map(|c| {
                let (at, limited) = ready(c);
                (at, limited, c.rung)
            })
            .min_by_key(|(at, _, rung)| (*at, std::cmp::Reverse(*rung)))
            .unwrap_or((now, false, Rung::ReconnectData));
        let reason = if rate_limited { WaitReason::MinInterval } else { WaitReason::Threshold };
        Step::Wait { until, next: Some(next), reason }
    }

    /// The next rung `problem` may take in this episode and when it is due, or why none:
    /// `Err(true)` when only rungs held for the weekly login remain, `Err(false)` otherwise.
    fn candidate(&self, problem: Problem, start: DateTime<Utc>, needs_login: bool) -> Result<Candidate, bool> {
        let position = Rung::ALL.into_iter().rev().find(|rung| self.episode[rung.index()].is_some());
        let mut held = false;
        let next = problem.rungs().iter().copied().filter(|rung| position.is_none_or(|top| *rung > top)).find(|rung| {
            let holds = needs_login && matches!(rung, Rung::Restart | Rung::RestartCommand);
            held |= holds && self.config.available(*rung);
            self.config.available(*rung) && !holds
        });
        let Some(rung) = next else { return Err(held) };
        let entry = start + delta(self.config.entry_after(problem));
        let due = match position.and_then(|top| self.episode[top.index()]) {
            Some(fired) => entry.max(fired + delta(self.config.climb_after(rung))),
            None => entry,
        };
        Ok(Candidate { rung, problem, due })
    }

    /// The view for `/status`.
    pub fn snapshot(&self) -> LadderSnapshot {
        let list = |times: &[Option<DateTime<Utc>>; 4]| {
            let mut fired: Vec<(Rung, DateTime<Utc>)> =
                Rung::ALL.into_iter().filter_map(|rung| times[rung.index()].map(|at| (rung, at))).collect();
            fired.sort_by_key(|(rung, at)| (*at, *rung));
            fired
        };
        LadderSnapshot { episode: list(&self.episode), last_fired: list(&self.last_fired) }
    }
}

/// When a problem that began at `since` starts to count at `now`: after the end of the last
/// reset window between `since` and `now`, if any (IB's reset explains it until then).
fn clock_start(calendar: &ResetCalendar, since: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let mut start = since;
    if let Some(window) = calendar.window_at(since) {
        start = start.max(window.end);
    }
    let mut cursor = since;
    for _ in 0..MAX_WINDOWS_SCANNED {
        match calendar.next_window_after(cursor) {
            Some(window) if window.start <= now => {
                start = start.max(window.end);
                cursor = window.start;
            }
            _ => break,
        }
    }
    start
}

/// A configured duration as a chrono delta (saturating).
fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::WindowSpec;
    use chrono::{NaiveTime, TimeZone};

    const MIN: i64 = 60;

    fn t(seconds: i64) -> DateTime<Utc> {
        // Wednesday 2026-06-17 14:00 UTC: far from any window of the test calendars.
        Utc.with_ymd_and_hms(2026, 6, 17, 14, 0, 0).unwrap() + TimeDelta::seconds(seconds)
    }

    fn with_ibc() -> EscalationConfig {
        EscalationConfig { ibc: true, restart_command: true, ..EscalationConfig::default() }
    }

    fn data(since: i64) -> Observation {
        Observation { market_data_down_since: Some(t(since)), ..Observation::default() }
    }

    fn upstream(since: i64) -> Observation {
        Observation { upstream_lost_since: Some(t(since)), ..Observation::default() }
    }

    fn dead(since: i64) -> Observation {
        Observation { api_dead_since: Some(t(since)), ..Observation::default() }
    }

    fn act(rung: Rung, problem: Problem) -> Step {
        Step::Act { rung, problem }
    }

    fn wait(until: i64, next: Rung, reason: WaitReason) -> Step {
        Step::Wait { until: t(until), next: Some(next), reason }
    }

    /// Steps every 5 s from `from` to `to` (thresholds here are whole minutes) and returns
    /// every action with its time.
    fn run(ladder: &mut Ladder, obs: &Observation, cal: &ResetCalendar, from: i64, to: i64) -> Vec<(i64, Rung)> {
        (from..=to)
            .step_by(5)
            .filter_map(|s| match ladder.step(obs, cal, t(s)) {
                Step::Act { rung, .. } => Some((s, rung)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn broken_data_farm_climbs_reconnect_data_then_account_then_restart() {
        let mut ladder = Ladder::new(with_ibc());
        let cal = ResetCalendar::empty();
        assert_eq!(
            ladder.step(&data(0), &cal, t(5 * MIN - 1)),
            wait(5 * MIN, Rung::ReconnectData, WaitReason::Threshold)
        );
        assert_eq!(ladder.step(&data(0), &cal, t(5 * MIN)), act(Rung::ReconnectData, Problem::DataBroken));
        // Each rung gets its own time to work before the next.
        assert_eq!(
            ladder.step(&data(0), &cal, t(6 * MIN)),
            wait(8 * MIN, Rung::ReconnectAccount, WaitReason::Threshold)
        );
        assert_eq!(ladder.step(&data(0), &cal, t(8 * MIN)), act(Rung::ReconnectAccount, Problem::DataBroken));
        assert_eq!(ladder.step(&data(0), &cal, t(13 * MIN)), act(Rung::Restart, Problem::DataBroken));
        // Never the hard restart for a data problem; a human is needed now.
        assert_eq!(ladder.step(&data(0), &cal, t(60 * MIN)), Step::Idle { reason: IdleReason::Exhausted });
        assert_eq!(run(&mut ladder, &data(0), &cal, 13 * MIN, 90 * MIN), []);
    }

    #[test]
    fn lost_upstream_reconnects_the_account_then_restarts() {
        let mut ladder = Ladder::new(with_ibc());
        let actions = run(&mut ladder, &upstream(0), &ResetCalendar::empty(), 0, 60 * MIN);
        assert_eq!(actions, [(3 * MIN, Rung::ReconnectAccount), (8 * MIN, Rung::Restart)]);
    }

    #[test]
    fn dead_api_restarts_then_runs_the_restart_command() {
        let mut ladder = Ladder::new(with_ibc());
        let actions = run(&mut ladder, &dead(0), &ResetCalendar::empty(), 0, 60 * MIN);
        assert_eq!(actions, [(5 * MIN, Rung::Restart), (15 * MIN, Rung::RestartCommand)]);
        // Each rung maps to what the caller sends; its name is its JSON form.
        for rung in Rung::ALL {
            assert_eq!(serde_json::to_value(rung).unwrap(), rung.name());
        }
        assert_eq!(Rung::Restart.command(), Some(Command::Restart));
        assert_eq!(Rung::RestartCommand.command(), None);
    }

    #[test]
    fn without_ibc_only_the_restart_command_answers_a_dead_api() {
        let config = EscalationConfig { restart_command: true, ..EscalationConfig::default() };
        let mut ladder = Ladder::new(config);
        let cal = ResetCalendar::empty();
        assert_eq!(run(&mut ladder, &dead(0), &cal, 0, 60 * MIN), [(5 * MIN, Rung::RestartCommand)]);
        let mut ladder = Ladder::new(config);
        assert_eq!(ladder.step(&data(0), &cal, t(30 * MIN)), Step::Idle { reason: IdleReason::NoRemedy });
        assert_eq!(ladder.step(&upstream(0), &cal, t(30 * MIN)), Step::Idle { reason: IdleReason::NoRemedy });
        let mut nothing = Ladder::new(EscalationConfig::default());
        assert_eq!(nothing.step(&dead(0), &cal, t(30 * MIN)), Step::Idle { reason: IdleReason::NoRemedy });
    }

    #[test]
    fn never_inside_a_reset_window_and_the_window_restarts_the_clock() {
        // A daily window 14:10-14:40 UTC (10:10-10:40 EDT) on the test day.
        let cal = ResetCalendar::new(vec![WindowSpec::daily(
            NaiveTime::from_hms_opt(10, 10, 0).unwrap(),
            Duration::from_secs(30 * 60),
            chrono_tz::America::New_York,
        )]);
        let mut ladder = Ladder::new(with_ibc());
        // The API dies at 14:00; the RESTART would be due at 14:05, then the window opens.
        assert_eq!(ladder.step(&dead(0), &cal, t(4 * MIN)), wait(5 * MIN, Rung::Restart, WaitReason::Threshold));
        let mut ladder = Ladder::new(with_ibc());
        let obs = dead(8 * MIN); // dies at 14:08, two minutes before the window
        assert_eq!(
            ladder.step(&obs, &cal, t(10 * MIN)),
            Step::Wait { until: t(40 * MIN), next: None, reason: WaitReason::ResetWindow }
        );
        // Nothing fires in the window; after it the problem counts from the window's end.
        let actions = run(&mut ladder, &obs, &cal, 10 * MIN, 120 * MIN);
        assert_eq!(actions, [(45 * MIN, Rung::Restart), (55 * MIN, Rung::RestartCommand)]);
        // A problem that began inside the window counts from its end too.
        let mut ladder = Ladder::new(with_ibc());
        let actions = run(&mut ladder, &upstream(20 * MIN), &cal, 20 * MIN, 60 * MIN);
        assert_eq!(actions, [(43 * MIN, Rung::ReconnectAccount), (48 * MIN, Rung::Restart)]);
    }

    #[test]
    fn a_rung_fires_at_most_once_per_min_interval_across_episodes() {
        let mut ladder = Ladder::new(with_ibc());
        let cal = ResetCalendar::empty();
        assert_eq!(ladder.step(&data(0), &cal, t(5 * MIN)), act(Rung::ReconnectData, Problem::DataBroken));
        // The farm comes back: the episode ends.
        assert_eq!(ladder.step(&Observation::default(), &cal, t(6 * MIN)), Step::Idle { reason: IdleReason::Healthy });
        // It breaks again at 7 min; 5 min later RECONNECTDATA is due, but fired 7 min ago.
        assert_eq!(
            ladder.step(&data(7 * MIN), &cal, t(12 * MIN)),
            wait(20 * MIN, Rung::ReconnectData, WaitReason::MinInterval)
        );
        assert_eq!(ladder.step(&data(7 * MIN), &cal, t(20 * MIN)), act(Rung::ReconnectData, Problem::DataBroken));
        let snapshot = ladder.snapshot();
        assert_eq!(snapshot.last_fired, [(Rung::ReconnectData, t(20 * MIN))]);
        assert_eq!(snapshot.episode, [(Rung::ReconnectData, t(20 * MIN))]);
    }

    #[test]
    fn flapping_farm_gets_at_most_one_reconnect_per_interval() {
        // Broken 6 min, OK 1 min, for two hours: RECONNECTDATA every 15 min at most.
        let mut ladder = Ladder::new(with_ibc());
        let cal = ResetCalendar::empty();
        let mut fired = Vec::new();
        for s in 0..(120 * MIN) {
            let cycle_start = s - s % (7 * MIN);
            let obs = if s % (7 * MIN) < 6 * MIN { data(cycle_start) } else { Observation::default() };
            if let Step::Act { rung, .. } = ladder.step(&obs, &cal, t(s)) {
                fired.push((s, rung));
            }
        }
        assert!(fired.iter().all(|(_, rung)| *rung == Rung::ReconnectData), "{fired:?}");
        assert!(fired.windows(2).all(|w| w[1].0 - w[0].0 >= 15 * MIN), "{fired:?}");
        assert!(fired.len() >= 5, "{fired:?}");
    }

    #[test]
    fn the_weekly_login_holds_every_restart() {
        let cal = ResetCalendar::empty();
        let mut ladder = Ladder::new(with_ibc());
        let obs = Observation { needs_login: true, ..dead(0) };
        assert_eq!(ladder.step(&obs, &cal, t(60 * MIN)), Step::Idle { reason: IdleReason::NeedsLogin });
        // A data farm can still be reconnected; the climb stops below RESTART.
        let obs = Observation { needs_login: true, ..data(0) };
        let actions = run(&mut ladder, &obs, &cal, 0, 60 * MIN);
        assert_eq!(actions, [(5 * MIN, Rung::ReconnectData), (8 * MIN, Rung::ReconnectAccount)]);
        assert_eq!(ladder.step(&obs, &cal, t(61 * MIN)), Step::Idle { reason: IdleReason::NeedsLogin });
    }

    #[test]
    fn several_problems_take_the_highest_due_rung_and_never_climb_down() {
        let mut ladder = Ladder::new(with_ibc());
        let cal = ResetCalendar::empty();
        // Both since 0: at 5 min RECONNECTDATA and RECONNECTACCOUNT are due; the higher goes.
        let obs =
            Observation { market_data_down_since: Some(t(0)), upstream_lost_since: Some(t(0)), ..Default::default() };
        assert_eq!(ladder.step(&obs, &cal, t(3 * MIN)), act(Rung::ReconnectAccount, Problem::UpstreamLost));
        // RECONNECTDATA is below what fired: the next is RESTART, 5 min after.
        let actions = run(&mut ladder, &obs, &cal, 3 * MIN + 5, 60 * MIN);
        assert_eq!(actions, [(8 * MIN, Rung::Restart)]);
        // The upstream returns, the data farm stays broken: nothing lower fires again.
        assert_eq!(run(&mut ladder, &data(0), &cal, 8 * MIN, 60 * MIN), []);
        assert_eq!(ladder.step(&data(0), &cal, t(61 * MIN)), Step::Idle { reason: IdleReason::Exhausted });
    }

    #[test]
    fn a_problem_joining_an_episode_climbs_from_where_it_stands() {
        let mut ladder = Ladder::new(with_ibc());
        let cal = ResetCalendar::empty();
        assert_eq!(
            run(&mut ladder, &upstream(0), &cal, 0, 8 * MIN),
            [(3 * MIN, Rung::ReconnectAccount), (8 * MIN, Rung::Restart)]
        );
        // At 9 min the API dies too. Its entry rung, RESTART, already fired in this episode:
        // the next is the restart command, 10 min after the RESTART.
        let obs = Observation { api_dead_since: Some(t(9 * MIN)), ..upstream(0) };
        assert_eq!(ladder.step(&obs, &cal, t(14 * MIN)), wait(18 * MIN, Rung::RestartCommand, WaitReason::Threshold));
        assert_eq!(run(&mut ladder, &obs, &cal, 9 * MIN, 60 * MIN), [(18 * MIN, Rung::RestartCommand)]);
        // A new episode starts from the bottom again (rate limits permitting).
        assert_eq!(ladder.step(&Observation::default(), &cal, t(61 * MIN)), Step::Idle { reason: IdleReason::Healthy });
        assert_eq!(
            run(&mut ladder, &data(62 * MIN), &cal, 62 * MIN, 70 * MIN),
            [(67 * MIN, Rung::ReconnectData), (70 * MIN, Rung::ReconnectAccount)]
        );
    }

    #[test]
    fn steps_serialise_for_status() {
        assert_eq!(
            serde_json::to_value(act(Rung::ReconnectData, Problem::DataBroken)).unwrap(),
            serde_json::json!({ "step": "act", "rung": "reconnect_data", "problem": "data_broken" })
        );
        assert_eq!(
            serde_json::to_value(wait(5 * MIN, Rung::Restart, WaitReason::MinInterval)).unwrap(),
            serde_json::json!({ "step": "wait", "until": "2026-06-17T14:05:00Z", "next": "restart", "reason": "min_interval" })
        );
        assert_eq!(
            serde_json::to_value(Step::Idle { reason: IdleReason::NeedsLogin }).unwrap(),
            serde_json::json!({ "step": "idle", "reason": "needs_login" })
        );
        let mut ladder = Ladder::new(with_ibc());
        ladder.step(&dead(0), &ResetCalendar::empty(), t(5 * MIN));
        assert_eq!(
            serde_json::to_value(ladder.snapshot()).unwrap(),
            serde_json::json!({
                "episode": [["restart", "2026-06-17T14:05:00Z"]],
                "last_fired": [["restart", "2026-06-17T14:05:00Z"]]
            })
        );
    }
}
