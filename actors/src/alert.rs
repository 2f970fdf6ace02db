//! `AlertActor`: tells a human when an account goes down, degrades, recovers, or the
//! supervisor melts down, by POSTing Slack-compatible JSON (`{"text": …}`) to
//! `alerts.webhook_url` and/or e-mailing `alerts.smtp.to` (`smtp`: lettre, TLS required unless
//! `alerts.smtp.tls` is `"none"`).
//!
//! - **Once per episode**, not once per failed attempt: an episode opens when an account becomes
//!   unusable and closes (with a "recovered" alert) when it is connected again.
//! - **Never inside a reset window**: IB's scheduled resets open no episode; an outage that
//!   started before a window is still reported recovered after it.
//! - **Rate-limited** (`alerts.max_per_minute`, overflow counted), **retried** with the
//!   `alerts.retry` backoff, and **never blocking supervision**: each delivery is a task that
//!   runs the blocking HTTP call on `spawn_blocking`.
//!
//! [`decide`] holds the rules as a pure function over the published events.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::time::Instant;

use crate::settings::SmtpSettings;
use crate::smtp;
use crate::status::{ConnectionState, EventKind, EventPort, StatusEvent};

/// What an alert says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The account it is about (`*` for the supervisor itself).
    pub account: String,
    /// What happened.
    pub kind: AlertKind,
    /// The message a human reads.
    pub text: String,
}

/// What an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The account became unusable: disconnected, or every attempt failing.
    Down,
    /// Connected, but IB's upstream is lost (1100, 2110).
    Degraded,
    /// Usable again after an alerted episode.
    Recovered,
    /// The supervisor passed its restart limit and exits.
    Meltdown,
    /// An order written to the gateway is seen nowhere after a reconnect.
    OrderUnknown,
}

/// The open episode of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Episode {
    /// Opened by a [`AlertKind::Down`] alert.
    Down,
    /// Opened by a [`AlertKind::Degraded`] alert.
    Degraded,
}

/// The alert rules: the next alert for `event`, updating the open episodes.
pub fn decide(episodes: &mut HashMap<String, Episode>, event: &StatusEvent) -> Option<Alert> {
    let account = &event.account;
    let alert = |kind, text: String| Some(Alert { account: account.clone(), kind, text });
    match &event.kind {
        EventKind::Meltdown { actor, reason } => alert(
            AlertKind::Meltdown,
            format!("🔥 ibkr-supervisor meltdown ({actor}): {reason}; every order is refused and the process restarts"),
        ),
        EventKind::OrderUnknown { order_id, client_id, order_ref, last_status } => alert(
            AlertKind::OrderUnknown,
            format!(
                "❓ IBKR {account}: order {order_id} (client {client_id}, ref {order_ref}, last {last_status}) is seen \
                 nowhere at the gateway after the reconnect; check it in TWS before trading it again"
            ),
        ),
        // Leaving a reset window with the link down is not yet an outage: the attempt at the
        // window's end decides (its failure opens the episode).
        EventKind::StateChanged {
            from: ConnectionState::ResetWindow { .. },
            to: ConnectionState::Disconnected { .. },
        } => None,
        EventKind::StateChanged { to, .. } => match to {
            // Scheduled resets are not alarms; an open episode stays open through them.
            ConnectionState::ResetWindow { .. }
            | ConnectionState::Stopped { .. }
            | ConnectionState::Connecting { .. } => None,
            ConnectionState::Connected { .. } => match episodes.remove(account) {
                Some(_) => alert(AlertKind::Recovered, format!("✅ IBKR {account} connected again")),
                None => None,
            },
            ConnectionState::Disconnected { last_error, .. } => {
                if episodes.contains_key(account) {
                    return None;
                }
                episodes.insert(account.clone(), Episode::Down);
                let why = last_error.as_deref().unwrap_or("connection lost");
                alert(AlertKind::Down, format!("❌ IBKR {account} disconnected: {why}"))
            }
            ConnectionState::Degraded { code, reason, .. } => {
                if episodes.contains_key(account) {
                    return None;
                }
                episodes.insert(account.clone(), Episode::Degraded);
                alert(AlertKind::Degraded, format!("⚠️ IBKR {account} degraded: IB upstream lost ({code}): {reason}"))
            }
        },
        _ => None,
    }
}

/// Deliveries, for `/actors` and tests.
#[derive(Debug, Default)]
pub struct AlertCounters {
    /// Deliveries that reached a channel.
    pub sent: AtomicU64,
    /// Delivery attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Deliveries abandoned after the last retry.
    pub given_up: AtomicU64,
    /// Alerts dropped by `alerts.max_per_minute`.
    pub rate_limited: AtomicU64,
    /// The last delivery failure, e.g. "SMTP …: the server does not offer STARTTLS"; cleared
    /// by the next delivery that succeeds on the same channel kind.
    pub last_error: std::sync::Mutex<Option<String>>,
}

impl AlertCounters {
    /// See [`AlertCounters::last_error`].
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, result: &Result<(), String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = result.as_ref().err().cloned();
    }
}

/// What `/actors` shows of the alert actor.
#[derive(Debug, Clone, Serialize)]
pub struct AlertSnapshot {
    /// Accounts with an alerted, not yet recovered episode, by name.
    pub open_episodes: Vec<String>,
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
}

/// Messages the AlertActor handles.
pub enum AlertMessage {
    /// A published status event (subscribed on the event port).
    Event(StatusEvent),
    /// The open episodes and the delivery counters.
    Snapshot(RpcReplyPort<AlertSnapshot>),
}

/// Where alerts go.
#[derive(Clone, Debug)]
pub enum Channel {
    /// Slack-compatible webhook.
    Webhook(String),
    /// E-mail over SMTP.
    Email(SmtpSettings),
}

/// Everything the AlertActor is started with.
#[derive(Clone)]
pub struct AlertArgs {
    /// Where each alert goes (every channel gets every alert).
    pub channels: Vec<Channel>,
    /// Waits before the retries of a failed delivery (`alerts.retry`).
    pub retry: Vec<Duration>,
    /// At most this many alerts a minute, over all accounts.
    pub max_per_minute: u32,
    /// The events the rules read.
    pub events: EventPort,
    /// Delivery counters, shared with the [`Handle`](crate::Handle) (they survive a restart).
    pub counters: Arc<AlertCounters>,
}

/// The actor; its state is [`AlertState`].
pub struct AlertActor;

/// The open episodes and the recent sends (for the rate limit).
pub struct AlertState {
    args: AlertArgs,
    episodes: HashMap<String, Episode>,
    recent: VecDeque<Instant>,
}

impl Actor for AlertActor {
    type Msg = AlertMessage;
    type State = AlertState;
    type Arguments = AlertArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: AlertArgs) -> Result<AlertState, ActorProcessingErr> {
        args.events.subscribe(myself, |event| Some(AlertMessage::Event(event)));
        Ok(AlertState { args, episodes: HashMap::new(), recent: VecDeque::new() })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: AlertMessage,
        state: &mut AlertState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AlertMessage::Event(event) => {
                if let Some(alert) = decide(&mut state.episodes, &event) {
                    state.send(alert);
                }
            }
            AlertMessage::Snapshot(reply) => {
                let c = &state.args.counters;
                let mut open_episodes: Vec<String> = state.episodes.keys().cloned().collect();
                open_episodes.sort();
                let _ = reply.send(AlertSnapshot {
                    open_episodes,
                    sent: c.sent.load(Ordering::Relaxed),
                    retried: c.retried.load(Ordering::Relaxed),
                    given_up: c.given_up.load(Ordering::Relaxed),
                    rate_limited: c.rate_limited.load(Ordering::Relaxed),
                    last_error: c.last_error(),
                });
            }
        }
        Ok(())
    }
}

impl AlertState {
    fn send(&mut self, alert: Alert) {
        let now = Instant::now();
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.args.max_per_minute as usize {
            self.args.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(account = %alert.account, kind = ?alert.kind, "alert dropped: more than {} a minute", self.args.max_per_minute);
            return;
        }
        self.recent.push_back(now);
        tracing::info!(account = %alert.account, kind = ?alert.kind, "sending alert");
        for channel in &self.args.channels {
            tokio::spawn(deliver(
                channel.clone(),
                alert.clone(),
                self.args.retry.clone(),
                Arc::clone(&self.args.counters),
            ));
        }
    }
}

/// Deliver the alert on one channel, retrying with `retry` waits.
async fn deliver(channel: Channel, alert: Alert, retry: Vec<Duration>, counters: Arc<AlertCounters>) {
    let mut waits = retry.into_iter();
    loop {
        let (channel, text) = (channel.clone(), alert.text.clone());
        let result = tokio::task::spawn_blocking(move || match &channel {
            Channel::Webhook(url) => post(url, &serde_json::json!({ "text": text }).to_string()),
            Channel::Email(smtp) => {
                let subject = text.lines().next().unwrap_or("ibkr-supervisor alert").to_owned();
                smtp::send(smtp, &subject, &format!("{text}\n\n(sent by ibkr-supervisor)"))
            }
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        counters.record(&result);
        match (result, waits.next()) {
            (Ok(()), _) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                return;
            }
            (Err(error), Some(wait)) => {
                counters.retried.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(account = %alert.account, %error, retry_in_ms = wait.as_millis() as u64, "alert not delivered; retrying");
                tokio::time::sleep(wait).await;
            }
            (Err(error), None) => {
                counters.given_up.fetch_add(1, Ordering::Relaxed);
                tracing::error!(account = %alert.account, %error, text = %alert.text, "alert not delivered; giving up");
                return;
            }
        }
    }
}

fn post(url: &str, body: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
    agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .map(|_| ())
        .map_err(|e| format!("POST {}: {e}", redact(url)))
}

/// Webhook URLs carry their secret in the path: log only scheme and host.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}/…", rest.split('/').next().unwrap_or_default()),
        None => "<webhook>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn changed(to: ConnectionState) -> StatusEvent {
        let from = ConnectionState::Disconnected { since: t(0), last_error: None };
        StatusEvent::new("Paper", t(1), EventKind::StateChanged { from, to })
    }

    #[test]
    fn one_alert_per_episode_then_one_recovery() {
        let mut episodes = HashMap::new();
        let down = || changed(ConnectionState::Disconnected { since: t(1), last_error: Some("refused".into()) });
        let connecting = changed(ConnectionState::Connecting { since: t(1), attempt: 1, client_id: 1 });
        let first = decide(&mut episodes, &down()).unwrap();
        assert_eq!(first.kind, AlertKind::Down);
        assert!(first.text.contains("refused"));
        for _ in 0..5 {
            assert_eq!(decide(&mut episodes, &connecting), None);
            assert_eq!(decide(&mut episodes, &down()), None, "no alert per failed attempt");
        }
        let up = decide(&mut episodes, &changed(ConnectionState::Connected { since: t(2), client_id: 1 })).unwrap();
        assert_eq!(up.kind, AlertKind::Recovered);
        assert_eq!(decide(&mut episodes, &changed(ConnectionState::Connected { since: t(3), client_id: 1 })), None);
    }

    #[test]
    fn reset_windows_raise_nothing() {
        let mut episodes = HashMap::new();
        let window = changed(ConnectionState::ResetWindow { since: t(1), until: t(100), link: None });
        assert_eq!(decide(&mut episodes, &window), None);
        let after = changed(ConnectionState::Connected { since: t(100), client_id: 1 });
        assert_eq!(decide(&mut episodes, &after), None, "no episode was open: no recovery to report");
    }

    #[test]
    fn leaving_a_window_with_the_link_down_waits_for_the_attempt() {
        let mut episodes = HashMap::new();
        let from = ConnectionState::ResetWindow { since: t(0), until: t(1), link: None };
        let to = ConnectionState::Disconnected { since: t(1), last_error: None };
        let ended = StatusEvent::new("Paper", t(1), EventKind::StateChanged { from, to });
        assert_eq!(decide(&mut episodes, &ended), None);
        let failed = changed(ConnectionState::Disconnected { since: t(2), last_error: Some("refused".into()) });
        assert_eq!(
            decide(&mut episodes, &failed).unwrap().kind,
            AlertKind::Down,
            "the failed attempt after it is an outage"
        );
    }

    #[test]
    fn smtp_settings_are_checked_and_the_password_never_printed() {
        let json = |smtp: &str| {
            format!(
                r#"{{"accounts":[{{"name":"P","paper_trading":true,"host":"h","port":1,"client_id":1}}],"alerts":{{"smtp":{smtp}}}}}"#
            )
        };
        let ok = crate::settings::Settings::from_json_str(&json(
            r#"{"host":"mail","from":"a@b.c","to":["t@b.c"],"username":"u","password":"hunter2"}"#,
        ))
        .unwrap();
        let smtp = ok.alerts.smtp.unwrap();
        assert_eq!(smtp.port, 587);
        assert!(!format!("{smtp:?}").contains("hunter2"));
        let err =
            crate::settings::Settings::from_json_str(&json(r#"{"host":"mail","from":"a@b.c","to":[]}"#)).unwrap_err();
        assert_eq!(err.field(), Some("alerts.smtp.to"));
        let err =
            crate::settings::Settings::from_json_str(&json(r#"{"host":"mail","from":"a@b.c","to":["t@b.c"],"tls":1}"#))
                .unwrap_err();
        assert!(err.to_string().contains("tls"), "{err}");
    }

    #[test]
    fn urls_are_redacted_in_logs() {
        assert_eq!(redact("https://hooks.slack.com/services/T000/B000/SECRET"), "https://hooks.slack.com/…");
    }
}
