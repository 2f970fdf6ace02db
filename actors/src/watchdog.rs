//! `WatchdogActor`: the heartbeat, and the check that every actor of the tree answers.
//!
//! Every interval a round starts: each GatewayActor gets a heartbeat (which starts that
//! gateway's liveness probe), and every other actor of the tree (guard, reconnect,
//! persistence, alert, guarded ports) is asked for its snapshot through the root supervisor's
//! [`TreeCheck`] — which the root answers itself, so a wedged root fails the round too. The
//! asking runs in a task; its answers come back as one [`WatchdogMessage::RoundDone`], so the
//! watchdog's mailbox never waits on another actor.
//!
//! An actor that does not answer within the probe timeout plus a margin is reported stuck (by
//! its incarnation's id, so a late report cannot kill its replacement) and the root supervisor
//! kills and restarts it. The [`RoundHook`] — systemd's `WATCHDOG=1` — runs only for a round in
//! which **every** actor answered ([`RoundReport::all_answered`]): while anything is stuck the
//! pings stop, and if the restart does not cure it, systemd restarts the process. Each round
//! logs one line (`IBKR Heartbeat: Paper ✅ | Live ❌`) as `logging.heartbeat_line` says.

use std::time::Duration;

use futures::future::BoxFuture;
use ractor::concurrency::JoinHandle;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::directory::Directory;
use crate::gateway::GatewayMessage;
use crate::settings::HeartbeatLine;
use crate::status::{AccountStatus, ConnectionState, StatusBoard};

/// Messages the WatchdogActor handles.
pub enum WatchdogMessage {
    /// Time for a heartbeat round (every `heartbeat.interval`).
    Tick,
    /// A round's answers, gathered by its task.
    RoundDone(RoundReport),
    /// The rounds and stuck reports so far.
    Snapshot(RpcReplyPort<WatchdogSnapshot>),
}

/// One actor's answer in a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Its name in `/actors` (`gateway:Paper`, `guard`, …).
    pub actor: String,
    /// The incarnation asked; `None` when there was none to ask (a gateway between a kill and
    /// its restart), which counts as not answered but is not reported stuck.
    pub id: Option<ActorId>,
    /// Whether it answered in time.
    pub answered: bool,
}

/// What one round found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Each account's gateway, with the account.
    pub gateways: Vec<(String, Answer)>,
    /// Every other actor of the tree; `None` when the root supervisor itself did not answer.
    pub others: Option<Vec<Answer>>,
}

impl RoundReport {
    /// Every actor answered, the root included: the round may tell systemd all is well (*pure*).
    pub fn all_answered(&self) -> bool {
        self.others.as_ref().is_some_and(|others| others.iter().all(|a| a.answered))
            && self.gateways.iter().all(|(_, a)| a.answered)
    }

    /// The actors that did not answer (`supervisor` when the root did not).
    pub fn unanswered(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.gateways.iter().filter(|(_, a)| !a.answered).map(|(_, a)| a.actor.clone()).collect();
        match &self.others {
            Some(others) => names.extend(others.iter().filter(|a| !a.answered).map(|a| a.actor.clone())),
            None => names.push("supervisor".into()),
        }
        names
    }

    /// The incarnations to report stuck: asked, and no answer in time.
    pub fn stuck(&self) -> Vec<(String, ActorId)> {
        let gateways = self.gateways.iter().map(|(_, a)| a);
        gateways
            .chain(self.others.iter().flatten())
            .filter(|a| !a.answered)
            .filter_map(|a| a.id.map(|id| (a.actor.clone(), id)))
            .collect()
    }
}

/// What `/actors` shows of the watchdog.
#[derive(Debug, Clone, Serialize)]
pub struct WatchdogSnapshot {
    /// Heartbeat rounds started by this incarnation.
    pub rounds: u64,
    /// Time between rounds.
    pub interval_ms: u64,
    /// Actors reported stuck to the supervisor.
    pub stuck_reports: u64,
    /// Rounds in which every actor answered (each ran the round hook: systemd's WATCHDOG=1).
    pub all_answered_rounds: u64,
    /// Rounds in which some actor did not answer (no WATCHDOG=1 for them).
    pub withheld_rounds: u64,
    /// The actors that did not answer in the last withheld round.
    pub last_unanswered: Vec<String>,
}

/// Asks every actor of the tree except the gateways and the watchdog for an answer within the
/// given time, through the root supervisor; `None` when the root did not answer.
pub type TreeCheck = std::sync::Arc<dyn Fn(Duration) -> BoxFuture<'static, Option<Vec<Answer>>> + Send + Sync>;

/// Everything the WatchdogActor is started with.
#[derive(Clone)]
pub struct WatchdogArgs {
    /// The accounts whose gateways get heartbeats.
    pub accounts: Vec<String>,
    /// Time between rounds (`heartbeat.interval`).
    pub interval: Duration,
    /// How long an actor may take to answer: probe timeout + stuck margin.
    pub answer_within: Duration,
    /// Where each account's current gateway is found.
    pub directory: Directory,
    /// Where `last_checked` is written, and the heartbeat line read.
    pub board: StatusBoard,
    /// The wall-clock seam.
    pub clock: SharedClock,
    /// Asks the rest of the tree (the root supervisor supplies it; `None`: gateways only).
    pub check_tree: Option<TreeCheck>,
    /// Told of a stuck actor (the root supervisor kills and restarts it).
    pub on_stuck: StuckHook,
    /// Called once per round in which every actor answered (systemd's WATCHDOG=1 rides on this).
    pub on_round: Option<RoundHook>,
    /// When the heartbeat line is logged (`logging.heartbeat_line`).
    pub heartbeat_line: HeartbeatLine,
    /// Under [`HeartbeatLine::Changes`], a line at least this often (`logging.heartbeat_summary_every`).
    pub summary_every: Duration,
}

/// Whether this round logs the heartbeat line (*pure*): every round under
/// [`HeartbeatLine::Every`]; under [`HeartbeatLine::Changes`] the first round, a round whose
/// line differs from the last one logged, and one at least every `summary_every`.
pub fn log_heartbeat(
    mode: HeartbeatLine,
    line: &str,
    last: Option<(&str, DateTime<Utc>)>,
    now: DateTime<Utc>,
    summary_every: Duration,
) -> Option<HeartbeatLog> {
    match (mode, last) {
        (HeartbeatLine::Every, _) => Some(HeartbeatLog::Round),
        (HeartbeatLine::Changes, None) => Some(HeartbeatLog::Changed),
        (HeartbeatLine::Changes, Some((previous, _))) if previous != line => Some(HeartbeatLog::Changed),
        (HeartbeatLine::Changes, Some((_, at))) => {
            let every = chrono::Duration::from_std(summary_every).unwrap_or(chrono::Duration::MAX);
            (now.signed_duration_since(at) >= every).then_some(HeartbeatLog::Summary)
        }
    }
}

/// Why a heartbeat line is logged (its `why` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatLog {
    /// `logging.heartbeat_line = "every"`.
    Round,
    /// A status changed (or the first round).
    Changed,
    /// Nothing changed for `logging.heartbeat_summary_every`.
    Summary,
}

/// Called with the name and the incarnation of an actor that did not answer in time.
pub type StuckHook = std::sync::Arc<dyn Fn(String, ActorId) + Send + Sync>;

/// A callback run for every round in which every actor answered.
pub type RoundHook = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The actor; its state is [`WatchdogState`].
pub struct WatchdogActor;

/// The round counters, the stuck reports, and the interval timer.
pub struct WatchdogState {
    args: WatchdogArgs,
    /// The heartbeat line last logged, and when.
    logged: Option<(String, DateTime<Utc>)>,
    round: u64,
    stuck_reports: u64,
    all_answered: u64,
    withheld: u64,
    last_unanswered: Vec<String>,
    ticker: Option<JoinHandle<()>>,
}

impl Actor for WatchdogActor {
    type Msg = WatchdogMessage;
    type State = WatchdogState;
    type Arguments = WatchdogArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: WatchdogArgs,
    ) -> Result<WatchdogState, ActorProcessingErr> {
        Ok(WatchdogState {
            args,
            logged: None,
            round: 0,
            stuck_reports: 0,
            all_answered: 0,
            withheld: 0,
            last_unanswered: Vec::new(),
            ticker: None,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut WatchdogState,
    ) -> Result<(), ActorProcessingErr> {
        // The first heartbeat comes one interval after start, when the first attempts are done.
        state.ticker = Some(myself.send_interval(state.args.interval, || WatchdogMessage::Tick));
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: WatchdogMessage,
        state: &mut WatchdogState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WatchdogMessage::Tick => state.tick(&myself),
            WatchdogMessage::RoundDone(report) => state.round_done(report),
            WatchdogMessage::Snapshot(reply) => {
                let _ = reply.send(WatchdogSnapshot {
                    rounds: state.round,
                    interval_ms: state.args.interval.as_millis() as u64,
                    stuck_reports: state.stuck_reports,
                    all_answered_rounds: state.all_answered,
                    withheld_rounds: state.withheld,
                    last_unanswered: state.last_unanswered.clone(),
                });
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut WatchdogState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(ticker) = state.ticker.take() {
            ticker.abort();
        }
        Ok(())
    }
}

impl WatchdogState {
    fn tick(&mut self, myself: &ActorRef<WatchdogMessage>) {
        self.round += 1;
        let board = self.args.board.snapshot();
        let line = heartbeat_line(&board.accounts);
        let now = self.args.clock.now();
        let last = self.logged.as_ref().map(|(line, at)| (line.as_str(), *at));
        if let Some(why) = log_heartbeat(self.args.heartbeat_line, &line, last, now, self.args.summary_every) {
            let why = match why {
                HeartbeatLog::Round => "round",
                HeartbeatLog::Changed => "changed",
                HeartbeatLog::Summary => "summary",
            };
            tracing::info!(target: "heartbeat", round = self.round, why, "IBKR Heartbeat: {line}");
            self.logged = Some((line, now));
        }
        let within = self.args.answer_within;
        let gateways: Vec<_> =
            self.args.accounts.iter().map(|account| (account.clone(), self.args.directory.gateway(account))).collect();
        let (check_tree, myself) = (self.args.check_tree.clone(), myself.clone());
        tokio::spawn(async move {
            let beats = gateways.into_iter().map(|(account, gateway)| async move {
                let actor = crate::reconnect::gateway_actor_name(&account);
                let Some(gateway) = gateway else { return (account, Answer { actor, id: None, answered: false }) };
                let answered =
                    matches!(gateway.call(GatewayMessage::Heartbeat, Some(within)).await, Ok(CallResult::Success(_)));
                (account, Answer { actor, id: Some(gateway.get_id()), answered })
            });
            let others = async move {
                match check_tree {
                    Some(check) => check(within).await,
                    None => Some(Vec::new()),
                }
            };
            let (gateways, others) = futures::future::join(futures::future::join_all(beats), others).await;
            let _ = myself.send_message(WatchdogMessage::RoundDone(RoundReport { gateways, others }));
        });
    }

    fn round_done(&mut self, report: RoundReport) {
        let now = self.args.clock.now();
        for (account, answer) in &report.gateways {
            if answer.answered {
                self.args.board.update(account, |s| s.last_checked = Some(now));
            }
        }
        for (actor, id) in report.stuck() {
            self.stuck_reports += 1;
            tracing::error!(
                %actor,
                within_ms = self.args.answer_within.as_millis() as u64,
                "actor did not answer the watchdog: stuck, asking for a restart"
            );
            (self.args.on_stuck)(actor, id);
        }
        if report.all_answered() {
            self.all_answered += 1;
            if let Some(hook) = &self.args.on_round {
                hook();
            }
        } else {
            self.withheld += 1;
            self.last_unanswered = report.unanswered();
            tracing::warn!(unanswered = ?self.last_unanswered, "not every actor answered: no watchdog ping this round");
        }
    }
}

/// `Paper ✅ | Live ❌`: ✅ usable, ⚠️ degraded (IB upstream lost), ⏸ scheduled reset, ❌ down.
pub fn heartbeat_line(accounts: &[AccountStatus]) -> String {
    accounts
        .iter()
        .map(|a| {
            let mark = match a.state {
                ConnectionState::Connected { .. } => "✅",
                ConnectionState::Degraded { .. } => "⚠️",
                ConnectionState::ResetWindow { .. } => "⏸",
                _ => "❌",
            };
            format!("{} {mark}", a.name)
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(actor: &str, id: Option<ActorId>, answered: bool) -> Answer {
        Answer { actor: actor.into(), id, answered }
    }

    #[test]
    fn a_round_tells_systemd_all_is_well_only_when_every_actor_and_the_root_answered() {
        let id = ActorId::Local(7);
        let gateway = |answered| ("Paper".to_string(), answer("gateway:Paper", Some(ActorId::Local(1)), answered));
        let healthy = RoundReport {
            gateways: vec![gateway(true)],
            others: Some(vec![answer("guard", Some(id), true), answer("reconnect", Some(ActorId::Local(8)), true)]),
        };
        assert!(healthy.all_answered());
        assert!(healthy.stuck().is_empty() && healthy.unanswered().is_empty());

        let guard_stuck = RoundReport {
            others: Some(vec![answer("guard", Some(id), false), answer("reconnect", Some(ActorId::Local(8)), true)]),
            ..healthy.clone()
        };
        assert!(!guard_stuck.all_answered(), "a stuck guard withholds the ping");
        assert_eq!(guard_stuck.stuck(), vec![("guard".to_string(), id)]);
        assert_eq!(guard_stuck.unanswered(), vec!["guard".to_string()]);

        let root_stuck = RoundReport { others: None, ..healthy.clone() };
        assert!(!root_stuck.all_answered(), "a root that does not answer withholds the ping");
        assert!(root_stuck.stuck().is_empty(), "nobody is left to restart the root: systemd does");
        assert_eq!(root_stuck.unanswered(), vec!["supervisor".to_string()]);

        let gateway_missing =
            RoundReport { gateways: vec![("Paper".into(), answer("gateway:Paper", None, false))], ..healthy.clone() };
        assert!(!gateway_missing.all_answered(), "an account without a gateway is not well");
        assert!(gateway_missing.stuck().is_empty(), "no incarnation to kill");

        let gateway_stuck = RoundReport { gateways: vec![gateway(false)], ..healthy };
        assert_eq!(gateway_stuck.stuck(), vec![("gateway:Paper".to_string(), ActorId::Local(1))]);
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn under_changes_a_steady_day_logs_a_line_per_summary_interval_not_per_round() {
        let every = Duration::from_secs(15 * 60);
        let start = t("2026-03-09T00:00:00Z");
        let mut last: Option<(String, DateTime<Utc>)> = None;
        let mut lines = 0;
        // A day of 5 s rounds, connected, with one drop at noon lasting 20 s.
        for round in 0..(86_400 / 5) {
            let now = start + chrono::Duration::seconds(round * 5);
            let down = (43_200..43_220).contains(&(round * 5));
            let line = if down { "Paper ❌ | Live ✅" } else { "Paper ✅ | Live ✅" };
            let previous = last.as_ref().map(|(l, at)| (l.as_str(), *at));
            if let Some(why) = log_heartbeat(HeartbeatLine::Changes, line, previous, now, every) {
                lines += 1;
                if round == 43_200 / 5 || round == 43_220 / 5 {
                    assert_eq!(why, HeartbeatLog::Changed, "the drop and the recovery are logged at once");
                }
                last = Some((line.to_owned(), now));
            }
        }
        // 96 summaries a day at most, plus the first line and the two changes.
        assert!((96..=99).contains(&lines), "{lines} lines instead of 17 280");
        let every_round =
            (0..17_280).filter(|_| log_heartbeat(HeartbeatLine::Every, "x", None, start, every).is_some());
        assert_eq!(every_round.count(), 17_280);
    }
}
