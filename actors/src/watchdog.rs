//! `WatchdogActor`: the heartbeat. Every interval it sends each GatewayActor a heartbeat
//! (which starts that gateway's liveness probe), records when each answered, logs one line
//! (`IBKR Heartbeat: Paper ✅ | Live ❌`), and reports a gateway that does not answer within the
//! probe timeout plus a margin as stuck, so the root supervisor restarts it.

use std::time::Duration;

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
    /// A gateway (this incarnation of it) answered, or failed to answer, a heartbeat.
    Answered {
        /// The account.
        account: String,
        /// The incarnation asked.
        gateway: ActorId,
        /// False: no answer within `answer_within`.
        answered: bool,
    },
    /// The rounds and stuck reports so far.
    Snapshot(RpcReplyPort<WatchdogSnapshot>),
}

/// What `/actors` shows of the watchdog.
#[derive(Debug, Clone, Serialize)]
pub struct WatchdogSnapshot {
    /// Heartbeat rounds run by this incarnation.
    pub rounds: u64,
    /// Time between rounds.
    pub interval_ms: u64,
    /// Gateways reported stuck to the supervisor.
    pub stuck_reports: u64,
}

/// Everything the WatchdogActor is started with.
#[derive(Clone)]
pub struct WatchdogArgs {
    /// The accounts whose gateways get heartbeats.
    pub accounts: Vec<String>,
    /// Time between rounds (`heartbeat.interval`).
    pub interval: Duration,
    /// How long a gateway may take to answer: probe timeout + stuck margin.
    pub answer_within: Duration,
    /// Where each account's current gateway is found.
    pub directory: Directory,
    /// Where `last_checked` is written, and the heartbeat line read.
    pub board: StatusBoard,
    /// The wall-clock seam.
    pub clock: SharedClock,
    /// Told of a stuck gateway (the root supervisor kills and restarts it).
    pub on_stuck: StuckHook,
    /// Called once per heartbeat round (systemd's WATCHDOG=1 rides on this).
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

/// Called with the account and the incarnation of a gateway that did not answer in time.
pub type StuckHook = std::sync::Arc<dyn Fn(String, ActorId) + Send + Sync>;

/// A callback run on every heartbeat round.
pub type RoundHook = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The actor; its state is [`WatchdogState`].
pub struct WatchdogActor;

/// The round counter, the stuck reports, and the interval timer.
pub struct WatchdogState {
    args: WatchdogArgs,
    /// The heartbeat line last logged, and when.
    logged: Option<(String, DateTime<Utc>)>,
    round: u64,
    stuck_reports: u64,
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
        Ok(WatchdogState { args, logged: None, round: 0, stuck_reports: 0, ticker: None })
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
            WatchdogMessage::Answered { account, gateway, answered } => {
                if answered {
                    let now = state.args.clock.now();
                    state.args.board.update(&account, |s| s.last_checked = Some(now));
                } else {
                    state.stuck_reports += 1;
                    tracing::error!(
                        %account,
                        within_ms = state.args.answer_within.as_millis() as u64,
                        "gateway actor did not answer the heartbeat: stuck, asking for a restart"
                    );
                    // The id names this incarnation: a late report cannot kill its replacement.
                    (state.args.on_stuck)(account, gateway);
                }
            }
            WatchdogMessage::Snapshot(reply) => {
                let _ = reply.send(WatchdogSnapshot {
                    rounds: state.round,
                    interval_ms: state.args.interval.as_millis() as u64,
                    stuck_reports: state.stuck_reports,
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
        if let Some(hook) = &self.args.on_round {
            hook();
        }
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
        for account in &self.args.accounts {
            let Some(gateway) = self.args.directory.gateway(account) else { continue };
            let (account, within, myself) = (account.clone(), self.args.answer_within, myself.clone());
            tokio::spawn(async move {
                let answered =
                    matches!(gateway.call(GatewayMessage::Heartbeat, Some(within)).await, Ok(CallResult::Success(_)));
                let gateway = gateway.get_id();
                let _ = myself.send_message(WatchdogMessage::Answered { account, gateway, answered });
            });
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
