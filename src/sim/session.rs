//! One client connection to a simulated gateway: handshake, StartApi, then requests.
//!
//! A session is two tasks: this one reads frames, decodes them with the codec of the
//! negotiated version and hands the [`Request`](super::msg::Request)s to the handlers; the
//! writer (`outbox`) delivers the encoded replies in order. Faults reach the session as
//! [`SessionControl`] messages; how it closes decides what the client sees: FIN (write half
//! shut, input drained), RST (linger 0), or FIN after a final frame (326).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::codec::Codec;
use super::farms;
use super::gateway::{notice, Conditions, Gateway, CONTROL_QUEUE};
use super::handlers::{self, subscriptions::Kind, subscriptions::Subscriptions, Ctx};
use super::msg::ids::outgoing as out;
use super::msg::{Reply, Request};
use super::outbox::{self, Outbox};
use crate::actors::wire::frame::{handshake_reply, Frame, FrameReader};

/// How long a closing session waits for the client to close its side after our FIN.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What a fault asks of a session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionControl {
    /// Close cleanly: FIN after the frames already written.
    CloseFin,
    /// Abort the connection: RST.
    CloseRst,
    /// Upstream came back with data lost: every market-data subscription is gone.
    MarketDataLost,
    /// A competing live session began: 10197 on every market-data line.
    CompetingSession,
}

/// How a session ends.
enum End {
    /// The client closed (or the socket failed).
    PeerClosed,
    /// We close with FIN.
    Fin,
    /// We close with RST.
    Rst,
    /// We close with FIN once the queued frames are out (e.g. after 326).
    FinAfterFlush,
}

pub(crate) fn spawn(gateway: Arc<Gateway>, stream: TcpStream, peer: SocketAddr) {
    tokio::spawn(run(gateway, stream, peer));
}

async fn run(gateway: Arc<Gateway>, stream: TcpStream, peer: SocketAddr) {
    let (read, write) = stream.into_split();
    let (stop_tx, stop_rx) = oneshot::channel();
    let limit = gateway.options.outbox_limit_bytes;
    let (outbox, writer) = outbox::spawn_writer(write, stop_rx, gateway.conditions(), limit);
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let id = gateway.register_session(peer, control_tx);
    let mut session = Session {
        conditions: gateway.conditions(),
        gateway: Arc::clone(&gateway),
        id,
        peer,
        outbox,
        control: control_rx,
        ctx: None,
        pacing: RateWindow::default(),
    };
    let mut reader = FrameReader::new(read);
    let end = session.serve(&mut reader).await;
    if let Some(ctx) = session.ctx.as_mut() {
        ctx.stop_all();
    }
    gateway.unregister_session(id);
    let client_id = session.ctx.as_ref().map(|c| c.client_id);
    tracing::debug!(port = gateway.port(), %peer, ?client_id, "sim session closing");
    match end {
        End::Rst => {
            let _ = stop_tx.send(());
            if let Ok(write) = writer.await {
                if let Ok(stream) = reader.into_inner().reunite(write) {
                    // Linger 0 makes close() send RST instead of FIN.
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                }
            }
        }
        End::Fin | End::FinAfterFlush | End::PeerClosed => {
            if matches!(end, End::FinAfterFlush) {
                session.outbox.finish();
            } else {
                let _ = stop_tx.send(());
            }
            drop(writer.await); // dropping the write half sends FIN
            if !matches!(end, End::PeerClosed) {
                // Read until the client closes, so unread input cannot turn our FIN into RST.
                let _ = tokio::time::timeout(DRAIN_TIMEOUT, reader.drain()).await;
            }
        }
    }
}

struct Session {
    gateway: Arc<Gateway>,
    conditions: watch::Receiver<Conditions>,
    id: u64,
    peer: SocketAddr,
    /// Encodes for the negotiated version once the handshake set it.
    outbox: Outbox,
    control: mpsc::Receiver<SessionControl>,
    /// Set once StartApi was accepted.
    ctx: Option<Ctx>,
    /// Messages this client sent per second, against IB's limit.
    pacing: RateWindow,
}

/// Messages counted in one-second windows; IB answers 100 once per window a client exceeds
/// [`farms::MAX_MESSAGES_PER_SECOND`] in (the link stays up).
#[derive(Debug, Default)]
struct RateWindow {
    started: Option<Instant>,
    count: u32,
    answered: bool,
    /// The most messages seen in any window so far.
    max_per_second: u32,
}

impl RateWindow {
    /// Count one message at `now`; `Some(count)` when this one should be answered 100.
    fn count(&mut self, now: Instant) -> Option<u32> {
        if self.started.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            *self = RateWindow { started: Some(now), max_per_second: self.max_per_second, ..RateWindow::default() };
        }
        self.count += 1;
        self.max_per_second = self.max_per_second.max(self.count);
        (self.count > farms::MAX_MESSAGES_PER_SECOND && !std::mem::replace(&mut self.answered, true))
            .then_some(self.count)
    }
}

impl Session {
    async fn serve(&mut self, reader: &mut FrameReader<OwnedReadHalf>) -> End {
        let codec = match self.handshake(reader).await {
            Ok(codec) => codec,
            Err(end) => return end,
        };
        loop {
            match self.next_frame(reader).await {
                Ok(frame) => self.on_frame(codec, frame),
                Err(end) => return end,
            }
        }
    }

    /// Prefix, version reply, StartApi, then the session-start messages.
    async fn handshake(&mut self, reader: &mut FrameReader<OwnedReadHalf>) -> Result<Codec, End> {
        let versions = loop {
            tokio::select! {
                biased;
                _ = self.gateway.shutdown.cancelled() => return Err(End::Fin),
                control = self.control.recv() => self.on_control(control)?,
                prefix = reader.read_prefix() => match prefix {
                    Ok(Some(v)) => break v,
                    Ok(None) => return Err(End::PeerClosed),
                    Err(e) => {
                        tracing::warn!(port = self.gateway.port(), peer = %self.peer, error = %e, "sim: bad connection prefix, closing");
                        return Err(End::Fin);
                    }
                }
            }
        };
        // A stalled (or hung) gateway accepts TCP but never answers the handshake.
        self.wait_until(|c| !c.stall_handshake && !c.hang).await?;
        let server_max = self.gateway.options.server_version;
        let Some(version) = versions.negotiate(server_max) else {
            // TWS closes the socket when it cannot serve the client's range.
            tracing::warn!(
                port = self.gateway.port(), peer = %self.peer, client_min = versions.min, client_max = versions.max,
                server_min = crate::actors::wire::version::MIN_SERVER_VERSION, server_max,
                "sim: client version range not supported, closing"
            );
            return Err(End::Fin);
        };
        let codec = Codec::new(version);
        reader.set_framing(codec.framing());
        self.outbox = self.outbox.with_codec(codec);
        let connection_time = format!("{} {}", Utc::now().format("%Y%m%d %H:%M:%S"), self.gateway.options.time_zone);
        self.outbox.send_bytes(handshake_reply(version, &connection_time));

        // Nothing more until StartApi (the Python client drops bytes that arrive early).
        let client_id = loop {
            match codec.decode(self.next_frame(reader).await?) {
                Ok(Request::StartApi { client_id, .. }) => break client_id,
                Err(e) if e.msg_id == out::START_API => self.outbox.send(&e.reply()),
                other => {
                    tracing::warn!(port = self.gateway.port(), request = ?other.map(|r| r.msg_id()), "sim: request before StartApi ignored")
                }
            }
        };
        if self.gateway.claim_client_id(self.id, client_id, self.outbox.clone()).is_err() {
            tracing::info!(port = self.gateway.port(), client_id, "sim: client id in use, refusing (326)");
            self.outbox.send(&notice(
                326,
                "Unable to connect as the client id is already in use. Retry with a unique client id.",
            ));
            return Err(End::FinAfterFlush);
        }
        tracing::info!(port = self.gateway.port(), peer = %self.peer, client_id, version, "sim: client connected");
        self.outbox.send(&Reply::ManagedAccounts(self.gateway.account.clone()));
        self.outbox.send(&Reply::NextValidId(self.gateway.next_valid_id()));
        for farm_notice in farms::on_connect(&self.conditions.borrow().farms_broken) {
            self.outbox.send(&farm_notice);
        }
        if self.conditions.borrow().upstream_lost {
            self.outbox.send(&notice(1100, "Connectivity between IB and Trader Workstation has been lost."));
        }
        self.ctx = Some(Ctx {
            gateway: Arc::clone(&self.gateway),
            outbox: self.outbox.clone(),
            client_id,
            conditions: self.conditions.clone(),
            subs: Subscriptions::with_market_data_lines(self.gateway.options.market_data_lines),
        });
        Ok(codec)
    }

    fn on_frame(&mut self, codec: Codec, frame: Frame) {
        let Some(ctx) = self.ctx.as_mut() else { return };
        if let Some(received) = self.pacing.count(Instant::now()) {
            tracing::warn!(port = self.gateway.port(), peer = %self.peer, received, "sim: client over the message rate (100)");
            ctx.send(&farms::pacing_violation(received));
        }
        self.gateway.record_message_rate(self.id, self.pacing.max_per_second);
        match codec.decode(frame) {
            Ok(request) => handlers::handle(ctx, request),
            Err(e) => {
                tracing::warn!(port = self.gateway.port(), msg_id = e.msg_id, error = %e.error, "sim: unreadable request");
                ctx.send(&e.reply());
            }
        }
    }

    /// The next frame, while obeying faults: no reading while hung.
    async fn next_frame(&mut self, reader: &mut FrameReader<OwnedReadHalf>) -> Result<Frame, End> {
        loop {
            self.wait_until(|c| !c.hang).await?;
            tokio::select! {
                biased;
                _ = self.gateway.shutdown.cancelled() => return Err(End::Fin),
                control = self.control.recv() => self.on_control(control)?,
                _ = self.outbox.overflowed() => return Err(self.overflowed()),
                _ = self.conditions.changed() => {}
                frame = reader.read_frame() => return match frame {
                    Ok(Some(frame)) => Ok(frame),
                    Ok(None) => Err(End::PeerClosed),
                    Err(e) => {
                        // TWS drops a connection whose framing it cannot follow.
                        tracing::warn!(port = self.gateway.port(), peer = %self.peer, error = %e, "sim: bad frame, closing");
                        Err(End::Fin)
                    }
                },
            }
        }
    }

    fn overflowed(&self) -> End {
        tracing::warn!(
            port = self.gateway.port(), peer = %self.peer, queued_bytes = self.outbox.queued_bytes(),
            limit_bytes = self.gateway.options.outbox_limit_bytes,
            "sim: client is not reading its replies; outbox full, closing"
        );
        End::Rst
    }

    /// Wait until `ok(conditions)`, still obeying close commands.
    async fn wait_until(&mut self, ok: impl Fn(&Conditions) -> bool) -> Result<(), End> {
        while !ok(&self.conditions.borrow_and_update()) {
            tokio::select! {
                biased;
                _ = self.gateway.shutdown.cancelled() => return Err(End::Fin),
                control = self.control.recv() => self.on_control(control)?,
                _ = self.outbox.overflowed() => return Err(self.overflowed()),
                changed = self.conditions.changed() => if changed.is_err() { return Err(End::Fin) },
            }
        }
        Ok(())
    }

    fn on_control(&mut self, control: Option<SessionControl>) -> Result<(), End> {
        match control {
            Some(SessionControl::CloseFin) | None => Err(End::Fin),
            Some(SessionControl::CloseRst) => Err(End::Rst),
            Some(SessionControl::MarketDataLost) => {
                if let Some(ctx) = self.ctx.as_mut() {
                    ctx.market_data_lost();
                }
                Ok(())
            }
            Some(SessionControl::CompetingSession) => {
                if let Some(ctx) = self.ctx.as_ref() {
                    let lines = ctx.subs.ids(Kind::MarketData);
                    for req_id in if lines.is_empty() { vec![-1] } else { lines } {
                        ctx.send(&farms::competing_session(req_id));
                    }
                }
                Ok(())
            }
        }
    }
}
