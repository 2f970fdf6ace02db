//! `AlertActor`: reads the published events, decides each alert ([`decide`]), admits it
//! through the rate limit ([`RateLimit`](super::RateLimit)) and queues it on every channel's
//! lane ([`Outbox`](super::outbox)). Its handlers never wait: deliveries run in the lanes'
//! tasks, whose results land in the shared [`AlertCounters`].
//!
//! An outage held for the weekly login publishes nothing while the gateway stays away, so the
//! actor sets itself a [`AlertMessage::LoginDue`] for the moment its grace ends (read on the
//! [`SharedClock`]), after each event and at start — a restarted incarnation finds the held
//! outages in the counters and sets the timer again. A timer that finds nothing due (the
//! gateway came back, or an earlier one fired) does nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::time::Instant;

use super::channel::{Channel, Deliver};
use super::counters::{AlertCounters, QueueView};
use super::limit::Admission;
use super::rules::{decide, due, Alert};
use crate::clock::{instant_at, SharedClock};
use crate::reauth::ReauthConfig;
use crate::status::{EventPort, StatusEvent};

/// Messages the AlertActor handles.
pub enum AlertMessage {
    /// A published status event (subscribed on the event port).
    Event(StatusEvent),
    /// The open episodes, the delivery counters and the queues.
    Snapshot(RpcReplyPort<AlertSnapshot>),
    /// A held outage's grace may have ended: send the login alerts now due.
    LoginDue,
}

/// Everything the AlertActor is started with.
#[derive(Clone)]
pub struct AlertArgs {
    /// Where each alert goes (every channel gets every alert, each through its own queue).
    pub channels: Vec<Channel>,
    /// Waits before the retries of a failed delivery (`alerts.retry`).
    pub retry: Vec<Duration>,
    /// At most this many alerts a minute, over all accounts (see [`RateLimit`](super::RateLimit)).
    pub max_per_minute: u32,
    /// The events the rules read.
    pub events: EventPort,
    /// Counters, episodes and queues, shared with the [`Handle`](crate::Handle): they survive
    /// a restart of the actor.
    pub counters: Arc<AlertCounters>,
    /// The weekly login (`reauth`; `None`: off).
    pub reauth: Option<ReauthConfig>,
    /// The wall-clock seam: when a held outage's grace ends.
    pub clock: SharedClock,
}

/// What `/actors` shows of the alert actor.
#[derive(Debug, Clone, Serialize)]
pub struct AlertSnapshot {
    /// Accounts with an alerted, not yet recovered episode, by name.
    pub open_episodes: Vec<String>,
    /// Accounts whose outage the weekly login explains, held within its grace (no alert yet).
    pub held_for_login: Vec<String>,
    /// See [`AlertCounters::sent`].
    pub sent: u64,
    /// See [`AlertCounters::retried`].
    pub retried: u64,
    /// See [`AlertCounters::given_up`].
    pub given_up: u64,
    /// See [`AlertCounters::rate_limited`].
    pub rate_limited: u64,
    /// See [`AlertCounters::last_error`].
    pub last_error: Option<String>,
    /// Each channel's queue.
    pub queues: Vec<QueueView>,
}

/// The actor; its state is [`AlertState`].
pub struct AlertActor;

/// The arguments; everything that must outlive this incarnation is in `args.counters`.
pub struct AlertState {
    args: AlertArgs,
    /// The moment the pending [`AlertMessage::LoginDue`] is set for.
    armed: Option<chrono::DateTime<chrono::Utc>>,
}

impl Actor for AlertActor {
    type Msg = AlertMessage;
    type State = AlertState;
    type Arguments = AlertArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: AlertArgs) -> Result<AlertState, ActorProcessingErr> {
        let channels: Vec<Arc<dyn Deliver>> =
            args.channels.iter().map(|c| Arc::new(c.clone()) as Arc<dyn Deliver>).collect();
        args.counters.outbox(&channels, &args.retry);
        args.events.subscribe(myself.clone(), |event| Some(AlertMessage::Event(event)));
        let mut state = AlertState { args, armed: None };
        state.arm(&myself);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: AlertMessage,
        state: &mut AlertState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AlertMessage::Event(event) => {
                let alert = decide(&mut state.args.counters.book().memory, state.args.reauth.as_ref(), &event);
                if let Some(alert) = alert {
                    state.admit(alert);
                }
                state.arm(&myself);
            }
            AlertMessage::LoginDue => {
                state.armed = None;
                let now = state.args.clock.now();
                let alerts = due(&mut state.args.counters.book().memory, state.args.reauth.as_ref(), now);
                alerts.into_iter().for_each(|alert| state.admit(alert));
                state.arm(&myself);
            }
            AlertMessage::Snapshot(reply) => {
                let _ = reply.send(state.snapshot());
            }
        }
        Ok(())
    }
}

impl AlertState {
    /// Set the timer for the earliest held outage's login, unless it is set already (a timer
    /// that finds nothing due does nothing).
    fn arm(&mut self, myself: &ActorRef<AlertMessage>) {
        let Some(reauth) = &self.args.reauth else { return };
        let Some(at) = self.args.counters.book().memory.login_due(reauth) else { return };
        if self.armed.is_some_and(|armed| armed <= at) {
            return;
        }
        self.armed = Some(at);
        let wait = instant_at(&*self.args.clock, at).saturating_duration_since(Instant::now());
        // A millisecond past the instant, so that the clock reads at or after it.
        myself.send_after(wait + Duration::from_millis(1), || AlertMessage::LoginDue);
    }

    fn admit(&self, alert: Alert) {
        let counters = &self.args.counters;
        let admission = counters.book().limit.admit(&alert, self.args.max_per_minute, Instant::now());
        let (account, kind) = (&alert.account, alert.kind);
        match admission {
            Admission::Send => {
                tracing::info!(%account, ?kind, "sending alert");
                let skipped = counters.push(&alert);
                counters.add(&counters.given_up, skipped);
            }
            Admission::OverLimit => {
                counters.add(&counters.rate_limited, 1);
                tracing::warn!(%account, ?kind, max_per_minute = self.args.max_per_minute,
                    "alert dropped: too many alerts this minute (its recovery will not be sent either)");
            }
            Admission::Unreported => {
                counters.add(&counters.rate_limited, 1);
                tracing::warn!(%account, ?kind, "recovery not sent: the alert of its episode was dropped by the rate limit");
            }
        }
    }

    fn snapshot(&self) -> AlertSnapshot {
        let c = &self.args.counters;
        let mut open_episodes: Vec<String> = c.book().memory.episodes.keys().cloned().collect();
        open_episodes.sort();
        AlertSnapshot {
            open_episodes,
            held_for_login: c.held_for_login(),
            sent: c.sent.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            given_up: c.given_up.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            last_error: c.last_error(),
            queues: c.queues(),
        }
    }
}
