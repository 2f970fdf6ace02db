//! `EscalationActor`: one for all accounts, a [`Ladder`](super::Ladder) per account in the
//! shared [`EscalationBook`]. It watches the status board (a task of its own turns every
//! change into a [`EscalationMessage::Board`]), reads each account's
//! [`Observation`](super::Observation) off it ([`observe`]) and steps every ladder — on each
//! change and at the moment the earliest [`Step::Wait`] ends ([`EscalationMessage::Due`], sent
//! by a task of its own sleeping until the instant the clock seam gives: tokio's paused time
//! drives it).
//!
//! A rung that fires is published ([`EventKind::Escalation`] without an outcome) and carried
//! out by a task in the actor's [`JoinSet`]: the IBC command ([`send_command`], bounded by
//! [`IBC_COMMAND_TIMEOUT`]) or the restart command ([`run_restart_command`], bounded by
//! `escalation.restart_command_timeout`). No handler awaits I/O: the task's [`Outcome`] comes
//! back as [`EscalationMessage::Done`], which publishes the event again with it.
//!
//! An incarnation that panics or is killed as stuck takes its tasks with it (an IBC command
//! already sent stays sent; a restart command still running is killed) and its successor
//! starts from the book: what fired within `min_interval` does not fire again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use std::sync::Arc;
use tokio::task::JoinSet;

use super::book::{EscalationBook, Firing, LadderView};
use super::client::{run_restart_command, send_command};
use super::ladder::{Observation, Problem, Rung, Step};
use super::observe::observe;
use super::outcome::Outcome;
use crate::calendar::ResetCalendar;
use crate::clock::{instant_at, SharedClock};
use crate::drill::Drill;
use crate::reauth::ReauthConfig;
use crate::settings::{AccountSettings, EscalationSettings};
use crate::status::{EventKind, EventPort, StatusBoard, StatusEvent};

/// How long an IBC command may take: connect, send, and the replies.
pub const IBC_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages the EscalationActor handles.
pub enum EscalationMessage {
    /// The status board changed: step every ladder.
    Board,
    /// A ladder's wait may be over: step every ladder.
    Due,
    /// A fired rung's task finished.
    Done {
        /// The account.
        account: String,
        /// The firing it finishes.
        firing: Firing,
        /// What it came to.
        outcome: Outcome,
    },
    /// Every ladder, for `/actors` and the watchdog.
    Snapshot(RpcReplyPort<EscalationSnapshot>),
    /// A failure injected on purpose.
    Drill(Drill),
}

/// Everything the EscalationActor is started with.
#[derive(Clone)]
pub struct EscalationArgs {
    /// The accounts (their `ibc`, and what the restart command is told).
    pub accounts: Vec<AccountSettings>,
    /// The `escalation` section.
    pub escalation: EscalationSettings,
    /// The weekly login (`None`: off): restarts are held while it is due.
    pub reauth: Option<ReauthConfig>,
    /// IB's reset windows: nothing fires inside one.
    pub calendar: ResetCalendar,
    /// The wall-clock seam.
    pub clock: SharedClock,
    /// Where the observations are read.
    pub board: StatusBoard,
    /// Where the firings and their outcomes are published.
    pub events: EventPort,
    /// The ladders, outliving this incarnation.
    pub book: Arc<EscalationBook>,
    /// How long an IBC command may take ([`IBC_COMMAND_TIMEOUT`]).
    pub ibc_timeout: Duration,
}

/// What `/actors` shows of the escalation actor.
#[derive(Debug, Clone, Serialize)]
pub struct EscalationSnapshot {
    /// Every account's ladder, by name.
    pub accounts: Vec<(String, Option<LadderView>)>,
    /// Rungs being carried out now.
    pub in_flight: usize,
    /// When the ladders are looked at again, if a wait is pending.
    pub armed: Option<DateTime<Utc>>,
}

/// The actor; its state is [`EscalationState`].
pub struct EscalationActor;

/// The arguments, the tasks this incarnation owns (the board watcher, the rungs in flight) and
/// the pending timer.
pub struct EscalationState {
    args: EscalationArgs,
    tasks: JoinSet<()>,
    in_flight: usize,
    armed: Option<DateTime<Utc>>,
}

impl Actor for EscalationActor {
    type Msg = EscalationMessage;
    type State = EscalationState;
    type Arguments = EscalationArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: EscalationArgs,
    ) -> Result<EscalationState, ActorProcessingErr> {
        let mut tasks = JoinSet::new();
        let mut changes = args.board.subscribe();
        let me = myself.clone();
        tasks.spawn(async move {
            while changes.changed().await.is_ok() {
                if me.send_message(EscalationMessage::Board).is_err() {
                    return;
                }
            }
        });
        let mut state = EscalationState { args, tasks, in_flight: 0, armed: None };
        state.step_all(&myself);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: EscalationMessage,
        state: &mut EscalationState,
    ) -> Result<(), ActorProcessingErr> {
        while state.tasks.try_join_next().is_some() {}
        match message {
            EscalationMessage::Board => state.step_all(&myself),
            EscalationMessage::Due => {
                state.armed = None;
                state.step_all(&myself);
            }
            EscalationMessage::Done { account, firing, outcome } => {
                state.in_flight = state.in_flight.saturating_sub(1);
                state.finished(&account, firing, outcome);
                state.step_all(&myself);
            }
            EscalationMessage::Snapshot(reply) => {
                let book = &state.args.book;
                let accounts = state.args.accounts.iter().map(|a| (a.name.clone(), book.view(&a.name))).collect();
                let _ = reply.send(EscalationSnapshot { accounts, in_flight: state.in_flight, armed: state.armed });
            }
            EscalationMessage::Drill(drill) => drill.run("escalation").await,
        }
        Ok(())
    }
}

impl EscalationState {
    /// Step every account's ladder at the clock's now; fire what is due; arm the timer for the
    /// earliest wait.
    fn step_all(&mut self, myself: &ActorRef<EscalationMessage>) {
        let now = self.args.clock.now();
        let board = self.args.board.snapshot();
        let mut earliest: Option<DateTime<Utc>> = None;
        for account in self.args.accounts.clone() {
            let Some(status) = board.account(&account.name) else { continue };
            let observation = observe(status, self.args.reauth.as_ref(), now);
            // An act counts as taken; the step after it says what is next (at most every rung).
            for _ in 0..=Rung::ALL.len() {
                let step = self.args.book.step(&account.name, &observation, &self.args.calendar, now);
                match step {
                    Some(Step::Act { rung, problem }) => self.fire(myself, &account, rung, problem, &observation, now),
                    Some(Step::Wait { until, .. }) => {
                        earliest = Some(earliest.map_or(until, |e| e.min(until)));
                        break;
                    }
                    Some(Step::Idle { .. }) | None => break,
                }
            }
        }
        if let Some(at) = earliest {
            self.arm(myself, at);
        }
    }

    /// Ask for a [`EscalationMessage::Due`] at `at`, unless one is set for then or sooner.
    fn arm(&mut self, myself: &ActorRef<EscalationMessage>, at: DateTime<Utc>) {
        if self.armed.is_some_and(|armed| armed <= at) {
            return;
        }
        self.armed = Some(at);
        // A millisecond past the instant, so that the clock reads at or after it; the deadline
        // is fixed now, not when the task first runs.
        let deadline = instant_at(&*self.args.clock, at) + Duration::from_millis(1);
        let me = myself.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let _ = me.send_message(EscalationMessage::Due);
        });
    }

    /// Publish the firing and start its task.
    fn fire(
        &mut self,
        myself: &ActorRef<EscalationMessage>,
        account: &AccountSettings,
        rung: Rung,
        problem: Problem,
        observation: &Observation,
        now: DateTime<Utc>,
    ) {
        let since = match problem {
            Problem::DataBroken => observation.market_data_down_since,
            Problem::UpstreamLost => observation.upstream_lost_since,
            Problem::ApiDead => observation.api_dead_since,
        }
        .unwrap_or(now);
        let argv = self.args.escalation.restart_command.clone().unwrap_or_default();
        let command = match rung.command() {
            Some(command) => command.name().to_string(),
            None => argv.join(" "),
        };
        let firing = Firing { rung, problem, since, at: now, command: command.clone(), outcome: None };
        tracing::warn!(account = %account.name, ?rung, ?problem, %since, %command, "escalation: firing a rung");
        self.args.book.fired(&account.name, firing.clone());
        self.publish(&account.name, now, &firing);

        let me = myself.clone();
        let name = account.name.clone();
        let ibc = account.ibc.as_ref().map(|ibc| ibc.address());
        let env = [
            ("IBKR_ACCOUNT", account.name.clone()),
            ("IBKR_HOST", account.host.clone()),
            ("IBKR_PORT", account.port.to_string()),
        ];
        let (ibc_timeout, command_timeout) = (self.args.ibc_timeout, self.args.escalation.restart_command_timeout);
        self.in_flight += 1;
        self.tasks.spawn(async move {
            let outcome = match (rung.command(), ibc) {
                (Some(command), Some(address)) => send_command(&address, command, ibc_timeout).await,
                (Some(_), None) => Outcome::Unreachable { error: "no IBC command server configured".into() },
                (None, _) => run_restart_command(&argv, &env, command_timeout).await,
            };
            let _ = me.send_message(EscalationMessage::Done { account: name, firing, outcome });
        });
    }

    fn finished(&mut self, account: &str, mut firing: Firing, outcome: Outcome) {
        let now = self.args.clock.now();
        let rung = firing.rung;
        if outcome.succeeded() {
            tracing::info!(%account, ?rung, outcome = %outcome.describe(), "escalation: rung done");
        } else {
            tracing::warn!(%account, ?rung, outcome = %outcome.describe(), "escalation: rung failed");
        }
        self.args.book.finished(account, rung, firing.at, outcome.clone());
        firing.outcome = Some(outcome);
        self.publish(account, now, &firing);
    }

    fn publish(&self, account: &str, at: DateTime<Utc>, firing: &Firing) {
        let kind = EventKind::Escalation {
            rung: firing.rung,
            problem: firing.problem,
            command: firing.command.clone(),
            since: firing.since,
            fired_at: firing.at,
            outcome: firing.outcome.clone(),
        };
        self.args.events.send(StatusEvent::new(account, at, kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OffsetClock;
    use crate::escalation::{IdleReason, WaitReason};
    use crate::settings::{IbcSettings, Settings};
    use crate::status::ConnectionState;

    /// Let the actor and its tasks run; under paused time each sleep moves the clock a little.
    async fn settle(mut done: impl FnMut() -> bool) -> bool {
        for _ in 0..200 {
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        done()
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_a_timer_on_the_clock_seam_and_board_changes_step_the_ladder() {
        let start = chrono::DateTime::from_timestamp(1_781_704_800, 0).unwrap(); // a Wednesday
        let clock: SharedClock = Arc::new(OffsetClock::starting_at(start));
        let mut settings = Settings::default();
        // Nobody listens there: the outcome does not matter, the moment of firing does.
        settings.accounts[0].ibc = Some(IbcSettings { host: "127.0.0.1".into(), port: 9 });
        let board = StatusBoard::new(&settings.accounts, start);
        let degraded = ConnectionState::Degraded { since: start, client_id: 1, code: 1100, reason: "lost".into() };
        board.update("Paper", |a| {
            a.state = degraded;
            a.outage_since = Some(start);
        });
        let book = Arc::new(EscalationBook::new(&settings));
        let args = EscalationArgs {
            accounts: settings.accounts.clone(),
            escalation: settings.escalation.clone(),
            reauth: None,
            calendar: ResetCalendar::empty(),
            clock: clock.clone(),
            board: board.clone(),
            events: Arc::new(ractor::OutputPort::default()),
            book: Arc::clone(&book),
            ibc_timeout: Duration::from_secs(1),
        };
        let (actor, join) = Actor::spawn(None, EscalationActor, args).await.unwrap();
        let wait = book.view("Paper").unwrap().next;
        let due = start + chrono::TimeDelta::minutes(3);
        assert_eq!(
            wait,
            Some(Step::Wait { until: due, next: Some(Rung::ReconnectAccount), reason: WaitReason::Threshold })
        );

        // The default 3 min pass in virtual time: nothing before, RECONNECTACCOUNT at the mark.
        tokio::time::advance(Duration::from_secs(179)).await;
        settle(|| false).await; // 0.2 s more of virtual time, still before the mark
        assert!(book.view("Paper").unwrap().last.is_none(), "nothing before the threshold");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(settle(|| book.view("Paper").unwrap().last.is_some()).await, "fired by the timer");
        let firing = book.view("Paper").unwrap().last.unwrap();
        assert_eq!((firing.rung, firing.problem, firing.since), (Rung::ReconnectAccount, Problem::UpstreamLost, start));
        assert!(firing.at >= due && firing.at < due + chrono::TimeDelta::seconds(2), "{}", firing.at);
        assert!(settle(|| book.view("Paper").unwrap().last.is_some_and(|f| f.outcome.is_some())).await);
        assert!(matches!(book.view("Paper").unwrap().last.unwrap().outcome, Some(Outcome::Unreachable { .. })));

        // The upstream comes back: the board's change steps the ladder, the episode ends.
        board.update("Paper", |a| {
            a.state = ConnectionState::Connected { since: clock.now(), client_id: 1 };
            a.outage_since = None;
        });
        let healthy = Some(Step::Idle { reason: IdleReason::Healthy });
        assert!(settle(|| book.view("Paper").unwrap().next == healthy).await);
        assert_eq!(book.view("Paper").unwrap().fired_total.get(&Rung::ReconnectAccount), Some(&1));
        assert!(book.view("Live").unwrap().last.is_none(), "Live had no problem");
        actor.stop(None);
        join.await.unwrap();
    }
}
