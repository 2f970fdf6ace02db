//! Connection attempts, liveness probes, gateway notices and the loss of a connection. Each
//! I/O runs as a task of this incarnation whose result comes back as a message tagged with its
//! attempt or session. [`Link`] is the connection itself: it holds the account's connection
//! lease and, however it is dropped, closes the socket before releasing it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ibapi::prelude::NoticeStream;
use ibapi::{Client, Error as IbError};
use ractor::ActorRef;
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

use super::actor::{GatewayMessage, GatewayState};
use crate::backoff::AttemptFailure;
use crate::engine::Refusal;
use crate::status::{ConnectionEvent, EventKind};

/// How long closing a socket may take (ibapi's disconnect joins its dispatcher).
const CLOSE_WITHIN: Duration = Duration::from_millis(500);

/// A live connection and the account's connection lease. Dropped (a loss, a panic, a kill):
/// a task closes the socket, bounded, then releases the lease, so the next attempt of any
/// incarnation connects only once this session is gone at the gateway.
pub(crate) struct Link {
    pub(super) client: Arc<Client>,
    lease: Option<OwnedMutexGuard<()>>,
}

impl Link {
    fn new(client: Client, lease: OwnedMutexGuard<()>) -> Self {
        Self { client: Arc::new(client), lease: Some(lease) }
    }

    /// Close now and wait for it (bounded), then release the lease.
    pub(super) async fn close(mut self) {
        let lease = self.lease.take();
        let _ = tokio::time::timeout(CLOSE_WITHIN, self.client.disconnect()).await;
        drop(lease);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else { return };
        let client = Arc::clone(&self.client);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _ = tokio::time::timeout(CLOSE_WITHIN, client.disconnect()).await;
                    drop(lease);
                });
            }
            // No runtime (the process is ending): ibapi's own Drop requests the shutdown.
            Err(_) => drop(lease),
        }
    }
}

/// The last sign of life of a session: any inbound message a task of this incarnation saw
/// (ticks, order events, notices) or a probe answer. Shared with those tasks.
#[derive(Debug)]
pub(crate) struct Liveness {
    base: Instant,
    last_nanos: AtomicU64,
}

impl Default for Liveness {
    fn default() -> Self {
        Self { base: Instant::now(), last_nanos: AtomicU64::new(0) }
    }
}

impl Liveness {
    /// The gateway just showed life.
    pub(crate) fn touch(&self) {
        let nanos = self.base.elapsed().as_nanos() as u64;
        self.last_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// How long since the last sign of life.
    pub(crate) fn silent_for(&self) -> Duration {
        self.base.elapsed().saturating_sub(Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed)))
    }

    fn since(&self) -> Instant {
        self.base + Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed))
    }
}

#[doc(hidden)]
pub struct ConnectOutcome {
    pub(super) seq: u64,
    pub(super) attempt: u32,
    pub(super) client_id: i32,
    pub(super) result: Result<(Link, NoticeStream), (AttemptFailure, String)>,
}

impl GatewayState {
    pub(super) fn client(&self) -> Option<Arc<Client>> {
        self.link.as_ref().map(|l| Arc::clone(&l.client))
    }

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
        let lease = self.args.registry.lease();
        let myself = myself.clone();
        self.tasks.spawn(async move {
            let deadline = Instant::now() + connect_timeout;
            let within = humantime::format_duration(connect_timeout);
            let result = match tokio::time::timeout_at(deadline, lease.lock_owned()).await {
                Err(_) => Err((
                    AttemptFailure::Other("previous connection still closing".into()),
                    format!("the account's previous connection did not close within the connect timeout ({within})"),
                )),
                Ok(lease) => {
                    let connect = Client::builder()
                        .address(address)
                        .client_id(client_id)
                        .max_reconnect_attempts(0)
                        .one_shot_timeout(probe_timeout)
                        .connect_with_notice_stream();
                    match tokio::time::timeout_at(deadline, connect).await {
                        Ok(Ok((client, notices))) => Ok((Link::new(client, lease), notices)),
                        Ok(Err(e)) => Err((classify(&e), e.to_string())),
                        Err(_) => Err((
                            AttemptFailure::TimedOut,
                            format!("no handshake within the connect timeout ({within})"),
                        )),
                    }
                }
            };
            let outcome = ConnectOutcome { seq, attempt, client_id, result };
            if let Err(ractor::MessagingErr::SendErr(GatewayMessage::ConnectDone(outcome))) =
                myself.send_message(GatewayMessage::ConnectDone(Box::new(outcome)))
            {
                // The actor is gone: do not leave the session open.
                if let Ok((link, _)) = outcome.result {
                    link.close().await;
                }
            }
        });
    }

    pub(super) fn attempt_done(&mut self, myself: &ActorRef<GatewayMessage>, outcome: ConnectOutcome) {
        let ConnectOutcome { seq, attempt, client_id, result } = outcome;
        if self.in_flight.map(|(s, _)| s) != Some(seq) {
            // A stale attempt's link is dropped here: its Drop closes it.
            return;
        }
        self.in_flight = None;
        match result {
            Ok((link, notices)) => {
                self.session += 1;
                self.liveness = Arc::new(Liveness::default());
                self.liveness.touch();
                let server_version = link.client.server_version();
                self.link = Some(link);
                self.spawn_notice_reader(myself, notices);
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
                // The registry outlives incarnations: a subscription asked for before this
                // connection (by this incarnation or an earlier one) may have missed ticks.
                for sub in self.args.registry.subscriptions() {
                    if self.args.registry.mark_requested(sub.id) {
                        self.gap(sub.id, "reconnected: ticks may have been missed");
                    }
                    self.request_market_data(sub.id);
                }
                self.follow_orders(myself);
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
        let Some(client) = self.client() else { return false };
        if self.conn.link().is_none() {
            return false;
        }
        if self.probe.is_some() {
            return true;
        }
        self.probe = Some(Vec::new());
        self.record_unpaced(1);
        let session = self.session;
        let timeout = self.args.heartbeat.probe_timeout;
        let myself = myself.clone();
        self.tasks.spawn(async move {
            let started = Instant::now();
            let result = match tokio::time::timeout(timeout, client.server_time()).await {
                Ok(Ok(_)) => Ok(()),
                // Any notice is a frame from the gateway's API thread: it is alive. Dropping
                // the link on one would turn IB's pacing warning (100, which arrives as the
                // answer of whatever request is pending) into an outage.
                Ok(Err(IbError::Notice(notice))) => {
                    tracing::info!(code = notice.code, message = %notice.message, "probe answered with a notice: alive");
                    Ok(())
                }
                Ok(Err(e)) => Err(format!("probe failed: {e}")),
                Err(_) => Err(format!("no answer to the probe within {}", humantime::format_duration(timeout))),
            };
            let _ = myself.send_message(GatewayMessage::ProbeDone { session, started, result });
        });
        true
    }

    pub(super) fn probe_done(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        session: u64,
        started: Instant,
        result: Result<(), String>,
    ) {
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
                self.liveness.touch();
                let rtt_ms = rtt.as_secs_f64() * 1000.0;
                self.args.board.update(&self.args.account.name, |s| s.probe_rtt_ms = Some(rtt_ms));
                // The link just answered: the orders that waited for it are written now.
                for ticket in std::mem::take(&mut self.awaiting_probe) {
                    self.place_order(myself, ticket);
                }
            }
            Err(error) => {
                tracing::warn!(account = %self.name(), %error, "liveness probe failed; dropping the connection");
                for ticket in std::mem::take(&mut self.awaiting_probe) {
                    tracing::warn!(account = %self.name(), %error, "order refused: gateway not answering");
                    ticket.refuse(Refusal::NotAnswering { error: error.clone() });
                }
                self.publish(EventKind::ProbeFailed { error: error.clone() });
                self.lose(error);
            }
        }
    }

    /// An established connection is gone: record it, drop the socket, forget the session.
    pub(super) fn lose(&mut self, reason: String) {
        self.session += 1;
        if self.link.is_some() {
            let seconds = self.liveness.since().elapsed().as_secs_f64();
            self.args.board.update_metrics(&self.args.account.name, |m| m.detection.observe(seconds));
        }
        // Its Drop closes the socket (bounded) and then frees the lease.
        self.link = None;
        for (_, stream) in self.streams.drain() {
            stream.abort();
        }
        // Every task of the old session (order streams, the order-update stream, a reconcile)
        // holds the old client: end them. Orders they followed stay in the registry.
        self.tasks.abort_all();
        self.probe = None;
        self.reconciling = false;
        self.farms_session_ended();
        if let Some((seq, _)) = self.in_flight.take() {
            tracing::debug!(account = %self.name(), seq, "attempt aborted with the session");
        }
        let name = self.args.account.name.clone();
        tracing::warn!(account = %name, %reason, "connection to IBKR {name} lost");
        self.publish(EventKind::Lost { reason: reason.clone() });
        self.apply(ConnectionEvent::Lost { reason: reason.clone() });
        let refusal = Refusal::from_state(&self.conn)
            .unwrap_or(Refusal::Disconnected { since: self.conn.since(), last_error: Some(reason) });
        for ticket in std::mem::take(&mut self.awaiting_probe) {
            ticket.refuse(refusal.clone());
        }
        self.pacing_session_ended();
    }

    pub(super) fn notice(&mut self, session: u64, code: i32, message: String) {
        if session != self.session {
            return;
        }
        self.liveness.touch();
        if matches!(code, 2104 | 2106 | 2158) {
            tracing::debug!(account = %self.name(), code, %message, "IB notice");
        } else {
            tracing::info!(account = %self.name(), code, %message, "IB notice");
        }
        self.publish(EventKind::Notice { code, message: message.clone() });
        // Farms, a competing session, pacing: conditions beside the link, never a loss.
        self.condition(code, &message);
        match code {
            1100 | 2110 => self.apply(ConnectionEvent::UpstreamLost { code, reason: message }),
            1101 => {
                self.apply(ConnectionEvent::UpstreamRestored { code });
                // Data lost: IB dropped every market-data subscription; ask again.
                for sub in self.args.registry.subscriptions() {
                    self.request_market_data(sub.id);
                    self.gap(sub.id, "IB connectivity restored with data lost (1101)");
                }
            }
            1102 => self.apply(ConnectionEvent::UpstreamRestored { code }),
            _ => {}
        }
    }

    fn spawn_notice_reader(&mut self, myself: &ActorRef<GatewayMessage>, mut notices: NoticeStream) {
        let (myself, session) = (myself.clone(), self.session);
        self.tasks.spawn(async move {
            while let Some(notice) = notices.next().await {
                let message = GatewayMessage::Notice { session, code: notice.code, message: notice.message };
                if myself.send_message(message).is_err() {
                    return;
                }
            }
            let _ = myself.send_message(GatewayMessage::StreamEnded { session });
        });
    }
}

/// Map ibapi's connect error to the reconnect policy's failure kinds.
fn classify(error: &IbError) -> AttemptFailure {
    match error {
        IbError::ClientIdInUse { .. } => AttemptFailure::ClientIdInUse,
        IbError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => AttemptFailure::Refused,
        other => AttemptFailure::Other(other.to_string()),
    }
}
