//! Connection attempts, liveness probes, gateway notices and the loss of a connection. Each
//! I/O runs as a task whose result comes back as a message tagged with its attempt or session.

use std::sync::Arc;
use std::time::Duration;

use ibapi::prelude::NoticeStream;
use ibapi::{Client, Error as IbError};
use ractor::ActorRef;
use tokio::time::Instant;

use super::actor::{GatewayMessage, GatewayState};
use crate::backoff::AttemptFailure;
use crate::status::{ConnectionEvent, EventKind};

#[doc(hidden)]
pub struct ConnectOutcome {
    pub(super) seq: u64,
    pub(super) attempt: u32,
    pub(super) client_id: i32,
    pub(super) result: Result<(Client, NoticeStream), (AttemptFailure, String)>,
}

impl GatewayState {
    pub(super) fn start_attempt(&mut self, myself: &ActorRef<GatewayMessage>, attempt: u32, client_id: i32) {
        if self.in_flight.is_some() {
            tracing::debug!(account = %self.name(), attempt, "attempt already in flight; connect ignored");
            return;
        }
        if let Some(client_id) = self.conn.link() {
            // Already up: say so, so the reconnect actor's view converges.
            self.publish(EventKind::Connected { attempt, client_id, server_version: 0 });
            return;
        }
        self.attempt_seq += 1;
        let seq = self.attempt_seq;
        self.in_flight = Some((seq, attempt));
        self.apply(ConnectionEvent::AttemptStarted { attempt, client_id });
        self.args.board.update(&self.args.account.name, |s| s.client_id = client_id);
        self.publish(EventKind::AttemptStarted { attempt, client_id });
        tracing::info!(account = %self.name(), attempt, client_id, address = %self.args.account.address(), "connecting to IBKR");

        let address = self.args.account.address();
        let connect_timeout = self.args.heartbeat.connect_timeout;
        let probe_timeout = self.args.heartbeat.probe_timeout;
        let myself = myself.clone();
        tokio::spawn(async move {
            let connect = Client::builder()
                .address(address)
                .client_id(client_id)
                .max_reconnect_attempts(0)
                .one_shot_timeout(probe_timeout)
                .connect_with_notice_stream();
            let result = match tokio::time::timeout(connect_timeout, connect).await {
                Ok(Ok(connected)) => Ok(connected),
                Ok(Err(e)) => Err((classify(&e), e.to_string())),
                Err(_) => Err((
                    AttemptFailure::TimedOut,
                    format!(
                        "no handshake within the connect timeout ({})",
                        humantime::format_duration(connect_timeout)
                    ),
                )),
            };
            let outcome = ConnectOutcome { seq, attempt, client_id, result };
            if let Err(ractor::MessagingErr::SendErr(GatewayMessage::ConnectDone(outcome))) =
                myself.send_message(GatewayMessage::ConnectDone(Box::new(outcome)))
            {
                // The actor is gone: do not leave the session open.
                if let Ok((client, _)) = outcome.result {
                    let _ = tokio::time::timeout(Duration::from_millis(500), client.disconnect()).await;
                }
            }
        });
    }

    pub(super) fn attempt_done(&mut self, myself: &ActorRef<GatewayMessage>, outcome: ConnectOutcome) {
        let ConnectOutcome { seq, attempt, client_id, result } = outcome;
        if self.in_flight.map(|(s, _)| s) != Some(seq) {
            if let Ok((client, _)) = result {
                tokio::spawn(async move { client.disconnect().await });
            }
            return;
        }
        self.in_flight = None;
        match result {
            Ok((client, notices)) => {
                self.session += 1;
                self.last_alive = Some(Instant::now());
                let server_version = client.server_version();
                self.client = Some(Arc::new(client));
                spawn_notice_reader(myself.clone(), self.session, notices);
                let was_connected = self.ever_connected;
                self.ever_connected = true;
                self.apply(ConnectionEvent::Connected { client_id });
                self.publish(EventKind::Connected { attempt, client_id, server_version });
                let name = self.args.account.name.clone();
                if was_connected || attempt > 1 {
                    tracing::info!(account = %name, attempt, client_id, "✅ Reconnected to IBKR {name}");
                } else {
                    tracing::info!(account = %name, attempt, client_id, "✅ Connected to IBKR {name}");
                }
                for id in self.subscriptions.iter().map(|s| s.id).collect::<Vec<_>>() {
                    self.request_market_data(id);
                    if was_connected {
                        self.gap(id, "reconnected: ticks may have been missed");
                    }
                }
                if !self.orders.is_empty() {
                    self.start_reconcile(myself);
                    self.follow_interrupted(myself);
                }
            }
            Err((failure, detail)) => {
                let name = self.args.account.name.clone();
                tracing::warn!(account = %name, attempt, client_id, error = %detail, "❌ Failed to reconnect to IBKR {name}");
                self.apply(ConnectionEvent::AttemptFailed { error: detail.clone() });
                self.publish(EventKind::AttemptFailed {
                    attempt,
                    client_id,
                    error: detail,
                    client_id_in_use: failure == AttemptFailure::ClientIdInUse,
                });
            }
        }
    }

    /// Start a probe if linked and none is running; true if one runs now.
    pub(super) fn start_probe(&mut self, myself: &ActorRef<GatewayMessage>) -> bool {
        let Some(client) = self.client.clone() else { return false };
        if self.conn.link().is_none() {
            return false;
        }
        if self.probe.is_some() {
            return true;
        }
        self.probe = Some(Vec::new());
        let session = self.session;
        let timeout = self.args.heartbeat.probe_timeout;
        let myself = myself.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = match tokio::time::timeout(timeout, client.server_time()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("probe failed: {e}")),
                Err(_) => Err(format!("no answer to the probe within {}", humantime::format_duration(timeout))),
            };
            let _ = myself.send_message(GatewayMessage::ProbeDone { session, started, result });
        });
        true
    }

    pub(super) fn probe_done(&mut self, session: u64, started: Instant, result: Result<(), String>) {
        let rtt = started.elapsed();
        let waiters = self.probe.take().unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(result.clone().map(|_| rtt));
        }
        if session != self.session {
            return;
        }
        match result {
            Ok(()) => {
                self.last_alive = Some(Instant::now());
                let rtt_ms = rtt.as_secs_f64() * 1000.0;
                self.args.board.update(&self.args.account.name, |s| s.probe_rtt_ms = Some(rtt_ms));
            }
            Err(error) => {
                tracing::warn!(account = %self.name(), %error, "liveness probe failed; dropping the connection");
                self.publish(EventKind::ProbeFailed { error: error.clone() });
                self.lose(error);
            }
        }
    }

    /// An established connection is gone: record it, drop the socket, forget the session.
    pub(super) fn lose(&mut self, reason: String) {
        self.session += 1;
        if let Some(alive) = self.last_alive.take() {
            let seconds = alive.elapsed().as_secs_f64();
            self.args.board.update_metrics(&self.args.account.name, |m| m.detection.observe(seconds));
        }
        if let Some(client) = self.client.take() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_millis(500), client.disconnect()).await;
            });
        }
        for sub in &mut self.subscriptions {
            if let Some(task) = sub.task.take() {
                task.abort();
            }
        }
        let name = self.args.account.name.clone();
        tracing::warn!(account = %name, %reason, "connection to IBKR {name} lost");
        self.publish(EventKind::Lost { reason: reason.clone() });
        self.apply(ConnectionEvent::Lost { reason });
    }

    pub(super) fn notice(&mut self, myself: &ActorRef<GatewayMessage>, session: u64, code: i32, message: String) {
        if session != self.session {
            return;
        }
        self.last_alive = Some(Instant::now());
        let _ = myself;
        if matches!(code, 2104 | 2106 | 2158) {
            tracing::debug!(account = %self.name(), code, %message, "IB notice");
        } else {
            tracing::info!(account = %self.name(), code, %message, "IB notice");
        }
        self.publish(EventKind::Notice { code, message: message.clone() });
        match code {
            1100 | 2110 => self.apply(ConnectionEvent::UpstreamLost { code, reason: message }),
            1101 => {
                self.apply(ConnectionEvent::UpstreamRestored { code });
                // Data lost: IB dropped every market-data subscription; ask again.
                for id in self.subscriptions.iter().map(|s| s.id).collect::<Vec<_>>() {
                    self.request_market_data(id);
                    self.gap(id, "IB connectivity restored with data lost (1101)");
                }
            }
            1102 => self.apply(ConnectionEvent::UpstreamRestored { code }),
            _ => {}
        }
    }
}

fn spawn_notice_reader(myself: ActorRef<GatewayMessage>, session: u64, mut notices: NoticeStream) {
    tokio::spawn(async move {
        while let Some(notice) = notices.next().await {
            let message = GatewayMessage::Notice { session, code: notice.code, message: notice.message };
            if myself.send_message(message).is_err() {
                return;
            }
        }
        let _ = myself.send_message(GatewayMessage::StreamEnded { session });
    });
}

/// Map ibapi's connect error to the reconnect policy's failure kinds.
fn classify(error: &IbError) -> AttemptFailure {
    match error {
        IbError::ClientIdInUse { .. } => AttemptFailure::ClientIdInUse,
        IbError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => AttemptFailure::Refused,
        other => AttemptFailure::Other(other.to_string()),
    }
}
