//! `ReconnectActor`: decides when each account's next connection attempt happens.
//!
//! It drives one pure [`Reconnector`] per account (schedule, jitter, fallback client ids,
//! manual attempts) from the gateways' published events, and owns the reset-window
//! [`ResetCalendar`]: inside a window it makes no attempts and tells the gateways so they show
//! "scheduled reset"; at the window's end it makes an attempt at once. Timers are ractor
//! `send_after`s, so tests can run on tokio's paused clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::time::Instant;

use crate::backoff::{sample_jitter, AttemptFailure, BackoffPolicy, ManualRejection, ReconnectEvent, Reconnector};
use crate::calendar::{ResetCalendar, Window};
use crate::clock::{instant_at, wall_time_at, SharedClock};
use crate::directory::Directory;
use crate::drill::Drill;
use crate::gateway::GatewayMessage;
use crate::settings::{AccountSettings, ReconnectSettings};
use crate::status::{EventKind, EventPort, StatusBoard, StatusEvent};

/// The longest the actor sleeps before looking at the calendar again (guards against clock
/// jumps and suspended hosts).
const CALENDAR_RECHECK: Duration = Duration::from_secs(60);

/// Messages the ReconnectActor handles.
pub enum ReconnectMessage {
    /// A published status event (subscribed on the event port).
    Event(StatusEvent),
    /// A scheduled wake for one account.
    Wake {
        /// The account whose reconnector asked to be woken.
        account: String,
    },
    /// Look at the reset calendar.
    CalendarCheck,
    /// An operator asks for an attempt now (`POST /connect_ib`).
    ConnectNow {
        /// The account.
        account: String,
        /// Answered once the attempt was started, or why not.
        reply: RpcReplyPort<Result<(), ConnectNowError>>,
    },
    /// A view for `/actors` and tests.
    Snapshot(RpcReplyPort<Vec<ReconnectSnapshot>>),
    /// A failure injected on purpose (the watchdog finds a frozen reconnect actor; the
    /// supervisor restarts it).
    Drill(Drill),
}

/// Why a manual connect was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ConnectNowError {
    /// No such account in the settings.
    #[error("unknown account {account:?}")]
    UnknownAccount {
        /// The name asked for.
        account: String,
    },
    /// Too soon after the previous manual attempt (`reconnect.manual_min_interval`).
    #[error("too many manual connect requests; retry after {retry_at}")]
    RateLimited {
        /// When a request is accepted again.
        retry_at: DateTime<Utc>,
    },
    /// The account is connected.
    #[error("already connected")]
    AlreadyConnected,
    /// An attempt is running.
    #[error("a connection attempt is already in flight")]
    AttemptInFlight,
    /// IB restarts its servers now; the attempt at the window's end is automatic.
    #[error("inside IB's scheduled reset window until {until}")]
    InResetWindow {
        /// When the window ends.
        until: DateTime<Utc>,
    },
    /// The reconnect actor is being restarted.
    #[error("the reconnect actor is restarting; retry in a moment")]
    Unavailable,
}

/// What `/actors` shows per account.
#[derive(Debug, Clone, Serialize)]
pub struct ReconnectSnapshot {
    /// The account.
    pub account: String,
    /// Where its reconnector stands, in words ("waiting for attempt 3", …).
    pub state: String,
    /// Attempts in the current outage.
    pub attempt: u32,
    /// When the next automatic attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The client id of the next (or current) attempt.
    pub client_id: i32,
}

/// Everything the ReconnectActor is started with.
#[derive(Clone)]
pub struct ReconnectArgs {
    /// The accounts (their client ids and fallbacks).
    pub accounts: Vec<AccountSettings>,
    /// The policy: schedule, jitter, automatic or manual, manual interval.
    pub reconnect: ReconnectSettings,
    /// IB's scheduled reset windows.
    pub calendar: ResetCalendar,
    /// The wall-clock seam (the calendar and the countdowns read it).
    pub clock: SharedClock,
    /// The gateways' events the reconnectors are fed (and where suppressed attempts go).
    pub events: EventPort,
    /// Where the attempt fields of each account's status are written.
    pub board: StatusBoard,
    /// Where each account's current gateway is found.
    pub directory: Directory,
}

/// The actor; its state is [`ReconnectState`].
pub struct ReconnectActor;

struct Entry {
    name: String,
    reconnector: Reconnector,
    wake_at: Option<Instant>,
}

/// One reconnector per account, the reset window the accounts are in, the calendar timer.
pub struct ReconnectState {
    args: ReconnectArgs,
    entries: Vec<Entry>,
    window: Option<Window>,
    calendar_timer: Option<JoinHandle<Result<(), ractor::MessagingErr<ReconnectMessage>>>>,
}

impl Actor for ReconnectActor {
    type Msg = ReconnectMessage;
    type State = ReconnectState;
    type Arguments = ReconnectArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ReconnectArgs,
    ) -> Result<ReconnectState, ActorProcessingErr> {
        args.events.subscribe(myself.clone(), |event| Some(ReconnectMessage::Event(event)));
        let now = Instant::now();
        let board = args.board.snapshot();
        let entries = args
            .accounts
            .iter()
            .map(|account| {
                let policy = BackoffPolicy { client_ids: account.client_ids().collect(), ..(&args.reconnect).into() };
                let mut reconnector = Reconnector::new(policy, now);
                // A restarted reconnect actor picks up accounts that are already connected.
                if board.account(&account.name).is_some_and(|s| s.state.link().is_some()) {
                    reconnector.handle(ReconnectEvent::Connected, now, 0.0);
                }
                Entry { name: account.name.clone(), reconnector, wake_at: None }
            })
            .collect();
        Ok(ReconnectState { args, entries, window: None, calendar_timer: None })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut ReconnectState,
    ) -> Result<(), ActorProcessingErr> {
        state.check_calendar(&myself);
        for index in 0..state.entries.len() {
            state.drive(&myself, index, ReconnectEvent::Tick);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: ReconnectMessage,
        state: &mut ReconnectState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ReconnectMessage::Event(event) => state.on_event(&myself, event),
            ReconnectMessage::Wake { account } => {
                if let Some(index) = state.index(&account) {
                    state.entries[index].wake_at = None;
                    state.drive(&myself, index, ReconnectEvent::Tick);
                }
            }
            ReconnectMessage::CalendarCheck => state.check_calendar(&myself),
            ReconnectMessage::Drill(drill) => drill.run("ReconnectActor").await,
            ReconnectMessage::ConnectNow { account, reply } => {
                let _ = reply.send(state.connect_now(&myself, &account));
            }
            ReconnectMessage::Snapshot(reply) => {
                let clock = state.args.clock.as_ref();
                let snapshot = state
                    .entries
                    .iter()
                    .map(|e| ReconnectSnapshot {
                        account: e.name.clone(),
                        state: e.reconnector.state().to_string(),
                        attempt: e.reconnector.attempt(),
                        next_attempt_at: e.reconnector.next_attempt_at().map(|at| wall_time_at(clock, at)),
                        client_id: e.reconnector.client_id(),
                    })
                    .collect();
                let _ = reply.send(snapshot);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut ReconnectState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = state.calendar_timer.take() {
            timer.abort();
        }
        Ok(())
    }
}

impl ReconnectState {
    fn index(&self, account: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == account)
    }

    fn on_event(&mut self, myself: &ActorRef<ReconnectMessage>, event: StatusEvent) {
        let Some(index) = self.index(&event.account) else { return };
        let input = match event.kind {
            EventKind::Connected { .. } => ReconnectEvent::Connected,
            EventKind::AttemptFailed { client_id_in_use: true, .. } => {
                ReconnectEvent::AttemptFailed(AttemptFailure::ClientIdInUse)
            }
            EventKind::AttemptFailed { error, .. } => ReconnectEvent::AttemptFailed(AttemptFailure::Other(error)),
            EventKind::Lost { reason } => ReconnectEvent::ConnectionLost { reason },
            EventKind::ActorRestarted { actor, .. } if actor == gateway_actor_name(&event.account) => {
                // A fresh gateway starts disconnected; if inside a window, tell it so.
                if let (Some(window), Some(gateway)) = (self.window, self.args.directory.gateway(&event.account)) {
                    let _ = gateway.send_message(GatewayMessage::WindowStarted { until: window.end });
                }
                ReconnectEvent::ConnectionLost { reason: "gateway actor restarted".into() }
            }
            _ => return,
        };
        let lost = matches!(input, ReconnectEvent::ConnectionLost { .. } | ReconnectEvent::AttemptFailed(_));
        self.drive(myself, index, input);
        if let (true, Some(window)) = (lost, self.window) {
            let event = StatusEvent::new(
                &self.entries[index].name,
                self.args.clock.now(),
                EventKind::AttemptSuppressed { until: window.end },
            );
            self.args.events.send(event);
        }
    }

    /// Feed one event to an account's reconnector and carry out what it asks.
    fn drive(
        &mut self,
        myself: &ActorRef<ReconnectMessage>,
        index: usize,
        event: ReconnectEvent,
    ) -> Option<ManualRejection> {
        let now = Instant::now();
        let action = self.entries[index].reconnector.handle(event, now, sample_jitter());
        let rejection = self.perform(myself, index, action, now);
        self.publish_attempts(index);
        rejection
    }

    fn perform(
        &mut self,
        myself: &ActorRef<ReconnectMessage>,
        index: usize,
        action: crate::backoff::Action,
        now: Instant,
    ) -> Option<ManualRejection> {
        use crate::backoff::Action;
        match action {
            Action::None => None,
            Action::Rejected(rejection) => Some(rejection),
            Action::StartAttempt { attempt, client_id } => {
                let name = self.entries[index].name.clone();
                let sent = self
                    .args
                    .directory
                    .gateway(&name)
                    .is_some_and(|g| g.send_message(GatewayMessage::Connect { attempt, client_id }).is_ok());
                if !sent {
                    tracing::warn!(account = %name, attempt, "gateway actor unavailable for a connect attempt");
                    let failure = AttemptFailure::Other("gateway actor unavailable".into());
                    let follow_up = self.entries[index].reconnector.handle(
                        ReconnectEvent::AttemptFailed(failure),
                        now,
                        sample_jitter(),
                    );
                    return self.perform(myself, index, follow_up, now);
                }
                None
            }
            Action::ScheduleWake { at } => {
                let entry = &mut self.entries[index];
                if entry.wake_at.is_none_or(|current| at < current || current <= now) {
                    entry.wake_at = Some(at);
                    let account = entry.name.clone();
                    myself.send_after(at.saturating_duration_since(now), move || ReconnectMessage::Wake { account });
                }
                None
            }
        }
    }

    fn publish_attempts(&self, index: usize) {
        let entry = &self.entries[index];
        let clock = self.args.clock.as_ref();
        let attempts = entry.reconnector.attempt();
        let next = entry.reconnector.next_attempt_at().map(|at| wall_time_at(clock, at));
        self.args.board.update(&entry.name, |s| {
            s.reconnect_attempts = attempts;
            s.next_attempt_at = next;
        });
    }

    fn connect_now(&mut self, myself: &ActorRef<ReconnectMessage>, account: &str) -> Result<(), ConnectNowError> {
        let Some(index) = self.index(account) else {
            return Err(ConnectNowError::UnknownAccount { account: account.to_owned() });
        };
        let clock = self.args.clock.clone();
        let to_wall = |at: Instant| wall_time_at(clock.as_ref(), at);
        match self.drive(myself, index, ReconnectEvent::ManualRequest) {
            None => Ok(()),
            Some(ManualRejection::RateLimited { retry_at }) => {
                Err(ConnectNowError::RateLimited { retry_at: to_wall(retry_at) })
            }
            Some(ManualRejection::AlreadyConnected) => Err(ConnectNowError::AlreadyConnected),
            Some(ManualRejection::AttemptInFlight) => Err(ConnectNowError::AttemptInFlight),
            Some(ManualRejection::InResetWindow { until }) => {
                Err(ConnectNowError::InResetWindow { until: to_wall(until) })
            }
        }
    }

    /// Enter or leave a reset window as the calendar says, then sleep until the next boundary.
    fn check_calendar(&mut self, myself: &ActorRef<ReconnectMessage>) {
        let clock = self.args.clock.clone();
        let now = clock.now();
        let current = self.args.calendar.window_at(now);
        match (self.window, current) {
            (None, Some(window)) => {
                tracing::info!(until = %window.end, "scheduled IB reset window: no reconnect attempts until it ends");
                self.window = Some(window);
                for index in 0..self.entries.len() {
                    self.tell_gateway(index, GatewayMessage::WindowStarted { until: window.end });
                    let until = instant_at(clock.as_ref(), window.end);
                    self.drive(myself, index, ReconnectEvent::WindowStarted { until });
                }
            }
            (Some(old), Some(window)) if old != window => {
                self.window = Some(window);
                for index in 0..self.entries.len() {
                    self.tell_gateway(index, GatewayMessage::WindowStarted { until: window.end });
                    let until = instant_at(clock.as_ref(), window.end);
                    self.drive(myself, index, ReconnectEvent::WindowStarted { until });
                }
            }
            (Some(_), None) => {
                tracing::info!("scheduled IB reset window over: reconnecting where needed");
                self.window = None;
                for index in 0..self.entries.len() {
                    self.tell_gateway(index, GatewayMessage::WindowEnded);
                    self.drive(myself, index, ReconnectEvent::WindowEnded);
                }
            }
            _ => {}
        }
        let boundary = match current {
            Some(window) => Some(window.end),
            None => self.args.calendar.next_window_after(now).map(|w| w.start),
        };
        let wait = boundary
            .and_then(|at| (at - now).to_std().ok())
            .unwrap_or(CALENDAR_RECHECK)
            .min(CALENDAR_RECHECK)
            .max(Duration::from_millis(1));
        if let Some(timer) = self.calendar_timer.take() {
            timer.abort();
        }
        self.calendar_timer = Some(myself.send_after(wait, || ReconnectMessage::CalendarCheck));
    }

    fn tell_gateway(&self, index: usize, message: GatewayMessage) {
        if let Some(gateway) = self.args.directory.gateway(&self.entries[index].name) {
            let _ = gateway.send_message(message);
        }
    }
}

/// The name under which the supervisor reports a gateway's restarts.
pub fn gateway_actor_name(account: &str) -> String {
    format!("gateway:{account}")
}
