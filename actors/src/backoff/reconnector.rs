//! [`Reconnector`]: the reconnect state machine. It is fed [`ReconnectEvent`]s with the instant
//! and a jitter sample, and answers the [`Action`] to carry out.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::policy::{BackoffPolicy, MIN_WAIT};

/// Where the reconnector stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconnectState {
    /// The connection is up.
    Connected {
        /// When it came up.
        since: Instant,
    },
    /// Disconnected, waiting for the next scheduled attempt.
    Waiting {
        /// Attempts already made in this outage; the next one is `attempt + 1`.
        attempt: u32,
        /// The schedule step (1-based) this wait was taken from; 0 when the wait is not a
        /// backoff step (startup, or the pause between client ids of one round).
        step: u32,
        /// When the next attempt is due.
        next_at: Instant,
        /// Index into [`BackoffPolicy::client_ids`] of the id for the next attempt.
        client_id_index: usize,
        /// Why the connection was lost or the last attempt failed.
        last_error: Option<String>,
    },
    /// An attempt is in flight.
    Attempting {
        /// Attempts made in this outage, this one included.
        attempt: u32,
        /// The schedule step of the wait that preceded this attempt (see `Waiting`).
        step: u32,
        /// When the attempt started.
        started_at: Instant,
        /// Index into [`BackoffPolicy::client_ids`] of the id in use.
        client_id_index: usize,
    },
    /// Disconnected with automatic attempts off (`auto = false`): only manual requests
    /// start attempts.
    Idle {
        /// Attempts already made in this outage.
        attempt: u32,
        /// Index into [`BackoffPolicy::client_ids`] of the id for the next attempt.
        client_id_index: usize,
        /// Why the connection was lost or the last attempt failed.
        last_error: Option<String>,
    },
    /// Inside a scheduled reset window: no attempts until `until`.
    Suspended {
        /// When the window ends.
        until: Instant,
        /// Attempts already made in this outage (0 while the link is up).
        attempt: u32,
        /// Whether the connection is up meanwhile.
        link: SuspendedLink,
    },
}

/// The state of the connection while inside a reset window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuspendedLink {
    /// The connection is up (it survived the start of the window, or came back inside it).
    Up {
        /// When it came up.
        since: Instant,
    },
    /// The connection is down.
    Down {
        /// Why it went down, or why the last attempt failed.
        last_error: Option<String>,
    },
}

/// Why a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptFailure {
    /// Nothing listens on the gateway's port (gateway down or restarting).
    #[error("connection refused")]
    Refused,
    /// The gateway did not complete the handshake in time.
    #[error("timed out")]
    TimedOut,
    /// IB error 326: the client id is already in use by another session.
    #[error("client id already in use (IB error 326)")]
    ClientIdInUse,
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

/// What happened, as reported to [`Reconnector::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconnectEvent {
    /// The established connection was lost.
    ConnectionLost {
        /// Why, for the dashboard and the logs.
        reason: String,
    },
    /// The caller started an attempt on its own (not in answer to
    /// [`Action::StartAttempt`], which already moves the state to `Attempting`).
    AttemptStarted,
    /// The attempt in flight failed.
    AttemptFailed(AttemptFailure),
    /// The connection is up (the attempt in flight succeeded, or it came up otherwise).
    Connected,
    /// An operator asked for an attempt now.
    ManualRequest,
    /// A scheduled reset window started; it ends at `until`.
    WindowStarted {
        /// When the window ends.
        until: Instant,
    },
    /// The reset window ended (possibly earlier than announced).
    WindowEnded,
    /// A wake scheduled with [`Action::ScheduleWake`] fired (early or spurious ticks are
    /// harmless).
    Tick,
}

/// What the caller must do after [`Reconnector::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Connect now, with `client_id`; then report `Connected` or `AttemptFailed`.
    StartAttempt {
        /// The attempt's number in this outage (1-based).
        attempt: u32,
        /// The client id to connect with.
        client_id: i32,
    },
    /// Send [`ReconnectEvent::Tick`] at `at`.
    ScheduleWake {
        /// When to tick.
        at: Instant,
    },
    /// A manual request was refused.
    Rejected(ManualRejection),
}

/// Why a manual request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManualRejection {
    /// Too soon after the previous accepted manual request.
    #[error("too many manual requests; retry later")]
    RateLimited {
        /// When a manual request will be accepted again.
        retry_at: Instant,
    },
    /// The connection is already up.
    #[error("already connected")]
    AlreadyConnected,
    /// An attempt is already in flight.
    #[error("an attempt is already in flight")]
    AttemptInFlight,
    /// Inside a scheduled reset window.
    #[error("inside IB's scheduled reset window")]
    InResetWindow {
        /// When the window ends.
        until: Instant,
    },
}

/// The reconnect state machine: a [`BackoffPolicy`] and where the current outage stands.
#[derive(Debug, Clone)]
pub struct Reconnector {
    policy: BackoffPolicy,
    state: ReconnectState,
    last_manual_at: Option<Instant>,
}

impl Reconnector {
    /// A reconnector that starts disconnected: in automatic mode it wants its first attempt
    /// at once (`Waiting` with `next_at = now`: the caller ticks right away), in manual mode
    /// it is `Idle`.
    pub fn new(policy: BackoffPolicy, now: Instant) -> Self {
        let state = if policy.auto {
            ReconnectState::Waiting { attempt: 0, step: 0, next_at: now, client_id_index: 0, last_error: None }
        } else {
            ReconnectState::Idle { attempt: 0, client_id_index: 0, last_error: None }
        };
        Self { policy, state, last_manual_at: None }
    }

    /// Feeds `event`, which happened at `now`, and answers what to do. `jitter_sample` (in
    /// `[-1.0, 1.0]`, see [`sample_jitter`](super::sample_jitter)) is used if a backoff wait is scheduled.
    pub fn handle(&mut self, event: ReconnectEvent, now: Instant, jitter_sample: f64) -> Action {
        let placeholder = ReconnectState::Connected { since: now };
        let state = std::mem::replace(&mut self.state, placeholder);
        let (next, action) = match event {
            ReconnectEvent::ConnectionLost { reason } => self.on_connection_lost(state, reason, now, jitter_sample),
            ReconnectEvent::AttemptStarted => on_attempt_started(state, now),
            ReconnectEvent::AttemptFailed(failure) => self.on_attempt_failed(state, failure, now, jitter_sample),
            ReconnectEvent::Connected => on_connected(state, now),
            ReconnectEvent::ManualRequest => self.on_manual_request(state, now),
            ReconnectEvent::WindowStarted { until } => on_window_started(state, until),
            ReconnectEvent::WindowEnded => self.on_window_ended(state, now),
            ReconnectEvent::Tick => self.on_tick(state, now),
        };
        self.state = next;
        action
    }

    /// The current state.
    pub fn state(&self) -> &ReconnectState {
        &self.state
    }

    /// The policy in force.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// Attempts made in the current outage (0 when connected).
    pub fn attempt(&self) -> u32 {
        match &self.state {
            ReconnectState::Connected { .. } => 0,
            ReconnectState::Waiting { attempt, .. }
            | ReconnectState::Attempting { attempt, .. }
            | ReconnectState::Idle { attempt, .. }
            | ReconnectState::Suspended { attempt, .. } => *attempt,
        }
    }

    /// When the next automatic attempt is due, for the dashboard's countdown: `next_at`
    /// while waiting, the window's end while suspended with the link down (automatic mode
    /// only), `None` otherwise (connected, attempt in flight, idle).
    pub fn next_attempt_at(&self) -> Option<Instant> {
        match &self.state {
            ReconnectState::Waiting { next_at, .. } => Some(*next_at),
            ReconnectState::Suspended { until, link: SuspendedLink::Down { .. }, .. } if self.policy.auto => {
                Some(*until)
            }
            _ => None,
        }
    }

    /// The client id for the next attempt (the one in use while an attempt is in flight;
    /// the primary one when connected or suspended).
    pub fn client_id(&self) -> i32 {
        let index = match &self.state {
            ReconnectState::Waiting { client_id_index, .. }
            | ReconnectState::Attempting { client_id_index, .. }
            | ReconnectState::Idle { client_id_index, .. } => *client_id_index,
            ReconnectState::Connected { .. } | ReconnectState::Suspended { .. } => 0,
        };
        self.policy.client_id_at(index)
    }

    /// Why the connection was lost or the last attempt failed, while disconnected.
    pub fn last_error(&self) -> Option<&str> {
        match &self.state {
            ReconnectState::Waiting { last_error, .. }
            | ReconnectState::Idle { last_error, .. }
            | ReconnectState::Suspended { link: SuspendedLink::Down { last_error }, .. } => last_error.as_deref(),
            _ => None,
        }
    }

    fn on_connection_lost(
        &self,
        state: ReconnectState,
        reason: String,
        now: Instant,
        jitter_sample: f64,
    ) -> (ReconnectState, Action) {
        match state {
            ReconnectState::Connected { .. } => {
                let lost = Waiting { attempt: 0, step: 0, client_id_index: 0, error: reason };
                self.after_failure(lost, now, jitter_sample)
            }
            // The attempt's connection dropped before we heard it succeed: a failed attempt.
            attempting @ ReconnectState::Attempting { .. } => {
                self.on_attempt_failed(attempting, AttemptFailure::Other(reason), now, jitter_sample)
            }
            ReconnectState::Waiting { attempt, step, next_at, client_id_index, .. } => (
                ReconnectState::Waiting { attempt, step, next_at, client_id_index, last_error: Some(reason) },
                Action::None,
            ),
            ReconnectState::Idle { attempt, client_id_index, .. } => {
                (ReconnectState::Idle { attempt, client_id_index, last_error: Some(reason) }, Action::None)
            }
            ReconnectState::Suspended { until, attempt, .. } => (
                ReconnectState::Suspended { until, attempt, link: SuspendedLink::Down { last_error: Some(reason) } },
                Action::None,
            ),
        }
    }

    fn on_attempt_failed(
        &self,
        state: ReconnectState,
        failure: AttemptFailure,
        now: Instant,
        jitter_sample: f64,
    ) -> (ReconnectState, Action) {
        match state {
            ReconnectState::Attempting { attempt, step, client_id_index, .. } => {
                let error = failure.to_string();
                let next_index = client_id_index + 1;
                let untried_ids_remain = next_index < self.policy.client_id_count();
                if failure == AttemptFailure::ClientIdInUse && untried_ids_remain {
                    // The round goes on with the next client id, without consuming a schedule step.
                    self.retry_after(MIN_WAIT, Waiting { attempt, step, client_id_index: next_index, error }, now)
                } else {
                    self.after_failure(Waiting { attempt, step, client_id_index: 0, error }, now, jitter_sample)
                }
            }
            ReconnectState::Suspended { until, attempt, .. } => (
                ReconnectState::Suspended {
                    until,
                    attempt,
                    link: SuspendedLink::Down { last_error: Some(failure.to_string()) },
                },
                Action::None,
            ),
            // A stale report (no attempt in flight): nothing to do.
            other => (other, Action::None),
        }
    }

    /// The round is over (or the connection was lost, `step == 0`): wait for the next
    /// schedule step (automatic mode) or go idle (manual mode).
    fn after_failure(&self, failed: Waiting, now: Instant, jitter_sample: f64) -> (ReconnectState, Action) {
        let step = failed.step.saturating_add(1);
        let wait = self.policy.delay(step, jitter_sample);
        self.retry_after(wait, Waiting { step, ..failed }, now)
    }

    /// Wait `wait` (at least [`MIN_WAIT`]) for the next attempt in automatic mode; go idle in
    /// manual mode.
    fn retry_after(&self, wait: Duration, next: Waiting, now: Instant) -> (ReconnectState, Action) {
        let Waiting { attempt, step, client_id_index, error } = next;
        if !self.policy.auto {
            return (ReconnectState::Idle { attempt, client_id_index, last_error: Some(error) }, Action::None);
        }
        let next_at = later(now, wait.max(MIN_WAIT));
        (
            ReconnectState::Waiting { attempt, step, next_at, client_id_index, last_error: Some(error) },
            Action::ScheduleWake { at: next_at },
        )
    }

    fn on_manual_request(&mut self, state: ReconnectState, now: Instant) -> (ReconnectState, Action) {
        let (attempt, step, client_id_index) = match &state {
            ReconnectState::Connected { .. } => return rejected(state, ManualRejection::AlreadyConnected),
            ReconnectState::Attempting { .. } => return rejected(state, ManualRejection::AttemptInFlight),
            ReconnectState::Suspended { until, .. } => {
                let until = *until;
                return rejected(state, ManualRejection::InResetWindow { until });
            }
            ReconnectState::Waiting { attempt, step, client_id_index, .. } => (*attempt, *step, *client_id_index),
            ReconnectState::Idle { attempt, client_id_index, .. } => (*attempt, 0, *client_id_index),
        };
        if let Some(last) = self.last_manual_at {
            let retry_at = later(last, self.policy.manual_min_interval);
            if now < retry_at {
                return rejected(state, ManualRejection::RateLimited { retry_at });
            }
        }
        self.last_manual_at = Some(now);
        self.start_attempt(attempt, step, client_id_index, now)
    }

    fn on_window_ended(&self, state: ReconnectState, now: Instant) -> (ReconnectState, Action) {
        match state {
            ReconnectState::Suspended { link: SuspendedLink::Up { since }, .. } => {
                (ReconnectState::Connected { since }, Action::None)
            }
            ReconnectState::Suspended { attempt, link: SuspendedLink::Down { last_error }, .. } => {
                if self.policy.auto {
                    // The counter continues (same outage); the schedule restarts (step 0).
                    self.start_attempt(attempt, 0, 0, now)
                } else {
                    (ReconnectState::Idle { attempt, client_id_index: 0, last_error }, Action::None)
                }
            }
            other => (other, Action::None),
        }
    }

    fn on_tick(&self, state: ReconnectState, now: Instant) -> (ReconnectState, Action) {
        match state {
            ReconnectState::Waiting { attempt, step, next_at, client_id_index, .. } if now >= next_at => {
                self.start_attempt(attempt, step, client_id_index, now)
            }
            waiting @ ReconnectState::Waiting { next_at, .. } => (waiting, Action::ScheduleWake { at: next_at }),
            suspended @ ReconnectState::Suspended { until, .. } => {
                if now >= until {
                    self.on_window_ended(suspended, now)
                } else {
                    (suspended, Action::ScheduleWake { at: until })
                }
            }
            other => (other, Action::None),
        }
    }

    /// Attempt number `attempts_made + 1` starts now with the id at `client_id_index`.
    fn start_attempt(
        &self,
        attempts_made: u32,
        step: u32,
        client_id_index: usize,
        now: Instant,
    ) -> (ReconnectState, Action) {
        let attempt = attempts_made.saturating_add(1);
        let client_id = self.policy.client_id_at(client_id_index);
        (
            ReconnectState::Attempting { attempt, step, started_at: now, client_id_index },
            Action::StartAttempt { attempt, client_id },
        )
    }
}

fn on_attempt_started(state: ReconnectState, now: Instant) -> (ReconnectState, Action) {
    let next = match state {
        ReconnectState::Waiting { attempt, step, client_id_index, .. } => {
            ReconnectState::Attempting { attempt: attempt.saturating_add(1), step, started_at: now, client_id_index }
        }
        ReconnectState::Idle { attempt, client_id_index, .. } => {
            ReconnectState::Attempting { attempt: attempt.saturating_add(1), step: 0, started_at: now, client_id_index }
        }
        // Already attempting (an acknowledgement of our own StartAttempt), connected, or
        // suspended: nothing changes.
        other => other,
    };
    (next, Action::None)
}

fn on_connected(state: ReconnectState, now: Instant) -> (ReconnectState, Action) {
    let next = match state {
        connected @ ReconnectState::Connected { .. } => connected,
        ReconnectState::Suspended { until, link: SuspendedLink::Up { since }, .. } => {
            ReconnectState::Suspended { until, attempt: 0, link: SuspendedLink::Up { since } }
        }
        ReconnectState::Suspended { until, .. } => {
            ReconnectState::Suspended { until, attempt: 0, link: SuspendedLink::Up { since: now } }
        }
        ReconnectState::Waiting { .. } | ReconnectState::Attempting { .. } | ReconnectState::Idle { .. } => {
            ReconnectState::Connected { since: now }
        }
    };
    (next, Action::None)
}

fn on_window_started(state: ReconnectState, until: Instant) -> (ReconnectState, Action) {
    let (attempt, link) = match state {
        ReconnectState::Connected { since } => (0, SuspendedLink::Up { since }),
        ReconnectState::Waiting { attempt, last_error, .. } | ReconnectState::Idle { attempt, last_error, .. } => {
            (attempt, SuspendedLink::Down { last_error })
        }
        // The attempt in flight reports Connected or AttemptFailed later; down until then.
        ReconnectState::Attempting { attempt, .. } => (attempt, SuspendedLink::Down { last_error: None }),
        // A new announcement replaces the window's end.
        ReconnectState::Suspended { attempt, link, .. } => (attempt, link),
    };
    (ReconnectState::Suspended { until, attempt, link }, Action::ScheduleWake { at: until })
}

fn rejected(state: ReconnectState, reason: ManualRejection) -> (ReconnectState, Action) {
    (state, Action::Rejected(reason))
}

/// What the next wait is for: the outage so far, the schedule step, the client id to try, and
/// why the last attempt failed.
struct Waiting {
    attempt: u32,
    step: u32,
    client_id_index: usize,
    error: String,
}

/// `now + wait`, saturating far in the future instead of overflowing.
fn later(now: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(wait.min(FAR)).unwrap_or(now)
}

impl fmt::Display for ReconnectState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReconnectState::Connected { .. } => f.write_str("connected"),
            ReconnectState::Waiting { attempt, .. } => {
                write!(f, "waiting for attempt {}", attempt.saturating_add(1))
            }
            ReconnectState::Attempting { attempt, .. } => write!(f, "attempt {attempt} in flight"),
            ReconnectState::Idle { .. } => f.write_str("disconnected, waiting for a manual request"),
            ReconnectState::Suspended { .. } => f.write_str("inside a scheduled reset window"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::fixtures::{policy, secs, MANUAL_MIN_INTERVAL, SEC};

    fn lost() -> ReconnectEvent {
        ReconnectEvent::ConnectionLost { reason: "socket closed".into() }
    }

    fn failed(failure: AttemptFailure) -> ReconnectEvent {
        ReconnectEvent::AttemptFailed(failure)
    }

    /// A reconnector that is connected at `base`.
    fn connected(policy: BackoffPolicy, base: Instant) -> Reconnector {
        let mut r = Reconnector::new(policy, base);
        r.handle(ReconnectEvent::AttemptStarted, base, 0.0);
        assert_eq!(r.handle(ReconnectEvent::Connected, base, 0.0), Action::None);
        assert_eq!(r.state(), &ReconnectState::Connected { since: base });
        r
    }

    /// An operator's request for an attempt at `now`.
    fn manual(r: &mut Reconnector, now: Instant) -> Action {
        r.handle(ReconnectEvent::ManualRequest, now, 0.0)
    }

    /// A reconnector with [`policy`], connected now.
    fn connected_now() -> (Instant, Reconnector) {
        let base = Instant::now();
        (base, connected(policy(), base))
    }

    #[test]
    fn starts_with_an_immediate_attempt() {
        let base = Instant::now();
        let mut r = Reconnector::new(policy(), base);
        assert_eq!(r.next_attempt_at(), Some(base));
        assert_eq!(r.attempt(), 0);
        assert_eq!(r.handle(ReconnectEvent::Tick, base, 0.0), Action::StartAttempt { attempt: 1, client_id: 7 });
        assert_eq!(r.attempt(), 1);
        // A failed startup attempt waits for the first schedule step.
        assert_eq!(r.handle(failed(AttemptFailure::Refused), base, 0.0), Action::ScheduleWake { at: base + SEC });
    }

    #[test]
    fn backs_off_along_the_schedule_after_a_loss() {
        let (base, mut r) = connected_now();
        let mut now = base + secs(100);
        // The first attempt comes after schedule[0], not at once.
        assert_eq!(r.handle(lost(), now, 0.0), Action::ScheduleWake { at: now + SEC });
        assert_eq!(r.last_error(), Some("socket closed"));
        let mut waits = Vec::new();
        for attempt in 1..=8 {
            let next_at = r.next_attempt_at().unwrap();
            waits.push(next_at - now);
            // Early ticks only re-arm the wake.
            assert_eq!(
                r.handle(ReconnectEvent::Tick, next_at - Duration::from_millis(1), 0.0),
                Action::ScheduleWake { at: next_at }
            );
            now = next_at;
            assert_eq!(r.handle(ReconnectEvent::Tick, now, 0.0), Action::StartAttempt { attempt, client_id: 7 });
            assert_eq!(r.attempt(), attempt);
            assert_eq!(r.next_attempt_at(), None, "no countdown while an attempt is in flight");
            now += Duration::from_millis(300);
            assert!(matches!(r.handle(failed(AttemptFailure::Refused), now, 0.0), Action::ScheduleWake { .. }));
            assert_eq!(r.last_error(), Some("connection refused"));
        }
        assert_eq!(waits, [1, 2, 5, 15, 15, 15, 15, 15].map(secs));
    }

    #[test]
    fn success_resets_the_schedule_and_the_client_id() {
        let (base, mut r) = connected_now();
        let mut now = base;
        r.handle(lost(), now, 0.0);
        for _ in 0..4 {
            now = r.next_attempt_at().unwrap();
            r.handle(ReconnectEvent::Tick, now, 0.0);
            r.handle(failed(AttemptFailure::TimedOut), now, 0.0);
        }
        // Fall back to a secondary id, and connect with it.
        now = r.next_attempt_at().unwrap();
        r.handle(ReconnectEvent::Tick, now, 0.0);
        r.handle(failed(AttemptFailure::ClientIdInUse), now, 0.0);
        now = r.next_attempt_at().unwrap();
        assert_eq!(r.handle(ReconnectEvent::Tick, now, 0.0), Action::StartAttempt { attempt: 6, client_id: 8 });
        assert_eq!(r.handle(ReconnectEvent::Connected, now, 0.0), Action::None);
        assert_eq!(r.state(), &ReconnectState::Connected { since: now });
        assert_eq!(r.attempt(), 0);
        assert_eq!(r.client_id(), 7);
        // The next outage starts from the first step and the primary id.
        now += secs(3600);
        assert_eq!(r.handle(lost(), now, 0.0), Action::ScheduleWake { at: now + SEC });
        assert_eq!(r.handle(ReconnectEvent::Tick, now + SEC, 0.0), Action::StartAttempt { attempt: 1, client_id: 7 });
    }

    #[test]
    fn client_id_in_use_rotates_through_fallbacks_then_backs_off() {
        let (base, mut r) = connected_now();
        let mut now = base;
        r.handle(lost(), now, 0.0);
        now += SEC;
        assert_eq!(r.handle(ReconnectEvent::Tick, now, 0.0), Action::StartAttempt { attempt: 1, client_id: 7 });
        // 326: the next id after the small floor, without consuming a schedule step.
        assert_eq!(
            r.handle(failed(AttemptFailure::ClientIdInUse), now, 0.0),
            Action::ScheduleWake { at: now + MIN_WAIT }
        );
        assert_eq!(r.client_id(), 8);
        now += MIN_WAIT;
        assert_eq!(r.handle(ReconnectEvent::Tick, now, 0.0), Action::StartAttempt { attempt: 2, client_id: 8 });
        assert_eq!(
            r.handle(failed(AttemptFailure::ClientIdInUse), now, 0.0),
            Action::ScheduleWake { at: now + MIN_WAIT }
        );
        now += MIN_WAIT;
        assert_eq!(r.handle(ReconnectEvent::Tick, now, 0.0), Action::StartAttempt { attempt: 3, client_id: 9 });
        // Every id was refused: the schedule's second step, from the primary id again.
        assert_eq!(
            r.handle(failed(AttemptFailure::ClientIdInUse), now, 0.0),
            Action::ScheduleWake { at: now + secs(2) }
        );
        assert_eq!(r.client_id(), 7);
        now += secs(2);
        assert_eq!(r.handle(ReconnectEvent::Tick, now, 0.0), Action::StartAttempt { attempt: 4, client_id: 7 });
    }

    #[test]
    fn a_gateway_answering_326_forever_never_causes_a_tight_loop() {
        let p = policy();
        let ids = p.client_ids.len();
        let min_step = Duration::from_millis(900); // schedule[0] with -10 % jitter
        let base = Instant::now();
        let mut r = connected(p, base);
        let mut now = base;
        let mut wake = match r.handle(lost(), now, -1.0) {
            Action::ScheduleWake { at } => at,
            other => panic!("{other:?}"),
        };
        let mut attempts: Vec<(Instant, i32)> = Vec::new();
        let end = base + secs(600);
        let mut sample = -1.0;
        while now < end {
            now = wake;
            let client_id = match r.handle(ReconnectEvent::Tick, now, sample) {
                Action::StartAttempt { client_id, .. } => client_id,
                other => panic!("{other:?}"),
            };
            attempts.push((now, client_id));
            sample = -sample; // alternate the extremes of the jitter
            wake = match r.handle(failed(AttemptFailure::ClientIdInUse), now, sample) {
                Action::ScheduleWake { at } => at,
                other => panic!("{other:?}"),
            };
            assert!(wake >= now + MIN_WAIT);
        }
        // Ids cycle primary, fallbacks, primary, ...
        for (i, (_, client_id)) in attempts.iter().enumerate() {
            assert_eq!(*client_id, [7, 8, 9][i % ids]);
        }
        // Any ids.len() + 1 consecutive attempts span at least one (jittered) schedule step.
        for run in attempts.windows(ids + 1) {
            assert!(run[ids].0 - run[0].0 >= min_step, "too many attempts within one step");
        }
        // 600 s of 1, 2, 5, then 15 s steps: at most ~44 rounds of `ids` attempts each.
        assert!(attempts.len() <= ids * (4 + 600 / 13), "{} attempts", attempts.len());
        assert_eq!(r.attempt() as usize, attempts.len());
    }

    #[test]
    fn a_single_client_id_backs_off_on_326() {
        let base = Instant::now();
        let mut r = Reconnector::new(BackoffPolicy::new(vec![7]), base);
        assert_eq!(r.handle(ReconnectEvent::Tick, base, 0.0), Action::StartAttempt { attempt: 1, client_id: 7 });
        assert_eq!(r.handle(failed(AttemptFailure::ClientIdInUse), base, 0.0), Action::ScheduleWake { at: base + SEC });
    }

    #[test]
    fn another_failure_on_a_fallback_id_restarts_the_next_round_from_the_primary() {
        let base = Instant::now();
        let mut r = Reconnector::new(policy(), base);
        r.handle(ReconnectEvent::Tick, base, 0.0);
        r.handle(failed(AttemptFailure::ClientIdInUse), base, 0.0);
        let now = base + MIN_WAIT;
        assert_eq!(r.handle(ReconnectEvent::Tick, now, 0.0), Action::StartAttempt { attempt: 2, client_id: 8 });
        assert_eq!(r.handle(failed(AttemptFailure::Refused), now, 0.0), Action::ScheduleWake { at: now + SEC });
        assert_eq!(r.handle(ReconnectEvent::Tick, now + SEC, 0.0), Action::StartAttempt { attempt: 3, client_id: 7 });
    }

    #[test]
    fn manual_mode_only_attempts_on_request() {
        let base = Instant::now();
        let p = BackoffPolicy { auto: false, ..policy() };
        let mut r = Reconnector::new(p.clone(), base);
        assert!(matches!(r.state(), ReconnectState::Idle { attempt: 0, .. }));
        assert_eq!(r.next_attempt_at(), None);
        assert_eq!(r.handle(ReconnectEvent::Tick, base + secs(60), 0.0), Action::None);

        let mut r = connected(p, base);
        let mut now = base + secs(10);
        assert_eq!(r.handle(lost(), now, 0.0), Action::None);
        assert!(matches!(r.state(), ReconnectState::Idle { attempt: 0, .. }));
        assert_eq!(r.handle(ReconnectEvent::Tick, now + secs(60), 0.0), Action::None);
        now += secs(60);
        assert_eq!(manual(&mut r, now), Action::StartAttempt { attempt: 1, client_id: 7 });
        // A 326 does not retry by itself, but the next request uses the next id.
        assert_eq!(r.handle(failed(AttemptFailure::ClientIdInUse), now, 0.0), Action::None);
        assert!(matches!(r.state(), ReconnectState::Idle { attempt: 1, client_id_index: 1, .. }));
        assert_eq!(r.client_id(), 8);
        assert_eq!(r.handle(ReconnectEvent::Tick, now + secs(60), 0.0), Action::None);
        now += secs(60);
        assert_eq!(manual(&mut r, now), Action::StartAttempt { attempt: 2, client_id: 8 });
        assert_eq!(r.handle(failed(AttemptFailure::Refused), now, 0.0), Action::None);
        assert_eq!(r.client_id(), 7);
    }

    #[test]
    fn manual_request_is_immediate_and_rate_limited() {
        let (base, mut r) = connected_now();
        assert_eq!(manual(&mut r, base), Action::Rejected(ManualRejection::AlreadyConnected));
        let mut now = base + secs(1);
        r.handle(lost(), now, 0.0);
        // Deep into the schedule: the next automatic attempt is 15 s away.
        for _ in 0..4 {
            now = r.next_attempt_at().unwrap();
            r.handle(ReconnectEvent::Tick, now, 0.0);
            r.handle(failed(AttemptFailure::Refused), now, 0.0);
        }
        assert_eq!(r.next_attempt_at(), Some(now + secs(15)));
        now += secs(3);
        // The manual request is not rate-limited by the earlier AlreadyConnected rejection.
        assert_eq!(manual(&mut r, now), Action::StartAttempt { attempt: 5, client_id: 7 });
        assert_eq!(manual(&mut r, now), Action::Rejected(ManualRejection::AttemptInFlight));
        let first_manual = now;
        now += secs(1);
        assert!(matches!(r.handle(failed(AttemptFailure::Refused), now, 0.0), Action::ScheduleWake { .. }));
        let retry_at = first_manual + MANUAL_MIN_INTERVAL;
        assert_eq!(manual(&mut r, now), Action::Rejected(ManualRejection::RateLimited { retry_at }));
        assert!(matches!(r.state(), ReconnectState::Waiting { attempt: 5, .. }), "a rejection changes nothing");
        assert_eq!(manual(&mut r, retry_at), Action::StartAttempt { attempt: 6, client_id: 7 });
    }

    #[test]
    fn window_suspends_and_resumes_with_an_immediate_attempt() {
        let (base, mut r) = connected_now();
        let start = base + secs(3600);
        let until = start + secs(600);
        // The window starts while connected; the gateway then goes down for its restart.
        assert_eq!(r.handle(ReconnectEvent::WindowStarted { until }, start, 0.0), Action::ScheduleWake { at: until });
        assert!(matches!(r.state(), ReconnectState::Suspended { link: SuspendedLink::Up { .. }, .. }));
        assert_eq!(r.next_attempt_at(), None);
        assert_eq!(r.handle(lost(), start + secs(5), 0.0), Action::None);
        assert!(matches!(r.state(), ReconnectState::Suspended { link: SuspendedLink::Down { .. }, .. }));
        assert_eq!(r.next_attempt_at(), Some(until), "the countdown shows the window's end");
        // No attempts and no backoff inside the window.
        assert_eq!(r.handle(ReconnectEvent::Tick, start + secs(6), 0.0), Action::ScheduleWake { at: until });
        assert_eq!(r.handle(failed(AttemptFailure::Refused), start + secs(7), 0.0), Action::None);
        assert_eq!(manual(&mut r, start + secs(8)), Action::Rejected(ManualRejection::InResetWindow { until }));
        // The window ends: an attempt at once, and the schedule restarts at its first step.
        assert_eq!(
            r.handle(ReconnectEvent::WindowEnded, until, 0.0),
            Action::StartAttempt { attempt: 1, client_id: 7 }
        );
        assert_eq!(r.handle(failed(AttemptFailure::Refused), until, 0.0), Action::ScheduleWake { at: until + SEC });
    }

    #[test]
    fn a_tick_at_the_window_end_resumes_too_and_the_counter_continues() {
        let base = Instant::now();
        let mut r = Reconnector::new(policy(), base);
        let mut now = base;
        for _ in 0..5 {
            now = r.next_attempt_at().unwrap();
            r.handle(ReconnectEvent::Tick, now, 0.0);
            r.handle(failed(AttemptFailure::Refused), now, 0.0);
        }
        let until = now + secs(300);
        assert_eq!(r.handle(ReconnectEvent::WindowStarted { until }, now, 0.0), Action::ScheduleWake { at: until });
        assert_eq!(r.attempt(), 5);
        assert_eq!(r.last_error(), Some("connection refused"));
        assert_eq!(r.handle(ReconnectEvent::Tick, until - SEC, 0.0), Action::ScheduleWake { at: until });
        assert_eq!(r.handle(ReconnectEvent::Tick, until, 0.0), Action::StartAttempt { attempt: 6, client_id: 7 });
    }

    #[test]
    fn a_connection_that_survives_the_window_stays_connected() {
        let (base, mut r) = connected_now();
        let until = base + secs(60);
        r.handle(ReconnectEvent::WindowStarted { until }, base + SEC, 0.0);
        assert_eq!(r.handle(ReconnectEvent::Tick, until, 0.0), Action::None);
        assert_eq!(r.state(), &ReconnectState::Connected { since: base });
    }

    #[test]
    fn a_connection_restored_inside_the_window_is_kept_at_its_end() {
        let base = Instant::now();
        let mut r = Reconnector::new(policy(), base);
        r.handle(ReconnectEvent::Tick, base, 0.0);
        let until = base + secs(60);
        // The window starts while an attempt is in flight, which then succeeds.
        r.handle(ReconnectEvent::WindowStarted { until }, base, 0.0);
        assert_eq!(r.handle(ReconnectEvent::Connected, base + SEC, 0.0), Action::None);
        assert_eq!(r.attempt(), 0);
        assert_eq!(r.handle(ReconnectEvent::WindowEnded, until, 0.0), Action::None);
        assert_eq!(r.state(), &ReconnectState::Connected { since: base + SEC });
    }

    #[test]
    fn window_end_in_manual_mode_goes_idle() {
        let base = Instant::now();
        let mut r = connected(BackoffPolicy { auto: false, ..policy() }, base);
        let until = base + secs(60);
        r.handle(ReconnectEvent::WindowStarted { until }, base, 0.0);
        r.handle(lost(), base + SEC, 0.0);
        assert_eq!(r.next_attempt_at(), None);
        assert_eq!(r.handle(ReconnectEvent::WindowEnded, until, 0.0), Action::None);
        assert!(matches!(r.state(), ReconnectState::Idle { .. }));
        assert_eq!(manual(&mut r, until), Action::StartAttempt { attempt: 1, client_id: 7 });
    }

    #[test]
    fn next_attempt_at_drives_a_countdown() {
        let (base, mut r) = connected_now();
        let lost_at = base + secs(10);
        // With a +1 sample, the first wait is 1.1 s.
        assert_eq!(r.handle(lost(), lost_at, 1.0), Action::ScheduleWake { at: lost_at + Duration::from_millis(1100) });
        let next = r.next_attempt_at().unwrap();
        let now = lost_at + Duration::from_millis(400);
        assert_eq!(next.saturating_duration_since(now), Duration::from_millis(700));
        assert_eq!(r.handle(ReconnectEvent::Tick, next, 0.0), Action::StartAttempt { attempt: 1, client_id: 7 });
        assert_eq!(r.next_attempt_at(), None);
        r.handle(failed(AttemptFailure::TimedOut), next + secs(5), -1.0);
        assert_eq!(r.next_attempt_at(), Some(next + secs(5) + Duration::from_millis(1800)));
        r.handle(ReconnectEvent::Connected, next + secs(6), 0.0);
        assert_eq!(r.next_attempt_at(), None);
    }

    #[test]
    fn stale_reports_are_ignored() {
        let (base, mut r) = connected_now();
        assert_eq!(r.handle(failed(AttemptFailure::Refused), base, 0.0), Action::None);
        assert_eq!(r.handle(ReconnectEvent::WindowEnded, base, 0.0), Action::None);
        assert_eq!(r.handle(ReconnectEvent::Tick, base, 0.0), Action::None);
        assert_eq!(r.state(), &ReconnectState::Connected { since: base });
    }

    #[test]
    fn failure_messages() {
        assert_eq!(AttemptFailure::ClientIdInUse.to_string(), "client id already in use (IB error 326)");
        assert_eq!(AttemptFailure::Other("handshake garbled".into()).to_string(), "handshake garbled");
    }
}
