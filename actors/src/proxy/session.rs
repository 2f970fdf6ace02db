//! One engine session on a guarded port: the engine's own handshake relayed to a fresh upstream
//! session with the gateway, then two directions in one task, both ending when either does or
//! when the port closes the session (dropping the task closes both sockets):
//!
//! - engine → gateway: complete frames only, each looked at by [`inspect`]; a `placeOrder` goes
//!   upstream only if the guard's gates let it (the very [`Gates::refusal`](crate::guard::Gates)
//!   the library guard uses) and the link is fresh — the session's upstream sent something
//!   within `orders.max_silence`, or else the account's GatewayActor answered a probe of the
//!   gateway (the engine's later frames wait meanwhile, so their order is kept) — otherwise it
//!   is answered with error 201 and never forwarded;
//! - gateway → engine: bytes as they come, with only the frame boundaries tracked, so a 201
//!   answer is slipped in between two gateway frames, never inside one.
//!
//! Bounds: a frame from the engine may not exceed `buffer_bytes` (judged from its length prefix,
//! before the body arrives); a write that blocks beyond `write_timeout` — an engine not reading,
//! a gateway not reading — cuts the session off.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use super::actor::ProxyMessage;
use super::inspect::{inspect, rejection, Inspected};
use super::stats::{PortStats, SessionStats};
use crate::clock::SharedClock;
use crate::directory::Directory;
use crate::engine::Refusal;
use crate::gateway::{GatewayMessage, Liveness};
use crate::guard::SharedGates;
use crate::settings::ProxySettings;
use crate::wire::frame::{frame_head, parse_prefix, Framing, WireError, MAX_FRAME_LEN, MAX_PREFIX_LEN};

/// Read buffer per direction.
const READ_CHUNK: usize = 64 * 1024;
/// 201 answers waiting for a frame boundary; one more means the engine floods orders without
/// reading its answers, and is cut off.
const PENDING_ANSWERS: usize = 256;

/// Everything a session needs; cheap to clone per session.
#[derive(Clone)]
pub(super) struct SessionCtx {
    pub(super) directory: Directory,
    pub(super) max_silence: Duration,
    pub(super) probe_within: Duration,
    pub(super) account: String,
    pub(super) listen: String,
    pub(super) upstream: String,
    pub(super) settings: ProxySettings,
    pub(super) connect_timeout: Duration,
    pub(super) gates: SharedGates,
    pub(super) clock: SharedClock,
    pub(super) port: Arc<PortStats>,
    pub(super) actor: ActorRef<ProxyMessage>,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    /// The port closed it (the account's link was lost, or the port stopped).
    Closed,
    EngineClosed,
    UpstreamClosed,
    UpstreamFailed(String),
    Malformed(String),
    Slow(&'static str),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Closed => write!(f, "closed by the port (account link lost or port stopping)"),
            End::EngineClosed => write!(f, "engine closed"),
            End::UpstreamClosed => write!(f, "gateway closed the upstream session"),
            End::UpstreamFailed(e) => write!(f, "gateway unreachable: {e}"),
            End::Malformed(e) => write!(f, "malformed frame from the engine: {e}"),
            End::Slow(who) => write!(f, "{who} too slow: a write blocked past proxy.write_timeout"),
        }
    }
}

/// Run one session to its end; `close` fires (or is dropped) when the port closes it. A
/// close lets the session finish the engine frame it is deciding and write the 201 answers
/// already decided (bounded), so an order refused as the link died is answered before the FIN.
pub(super) async fn run(
    mut engine: TcpStream,
    session: Arc<SessionStats>,
    ctx: SessionCtx,
    close: oneshot::Receiver<()>,
) {
    let mut upstream = None;
    let (closing, closed) = watch::channel(false);
    let end = {
        let relay = relay(&mut engine, &mut upstream, &session, &ctx, closed);
        tokio::pin!(relay);
        tokio::select! {
            end = &mut relay => end,
            _ = close => {
                let _ = closing.send(true);
                let flush = ctx.probe_within + ctx.settings.write_timeout;
                let _ = tokio::time::timeout(flush, &mut relay).await;
                End::Closed
            }
        }
    };
    match &end {
        End::Malformed(_) => ctx.port.malformed.fetch_add(1, Ordering::Relaxed),
        End::Slow(_) => ctx.port.slow_cut.fetch_add(1, Ordering::Relaxed),
        End::UpstreamFailed(_) => ctx.port.upstream_failed.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    // FIN both ways at once; the sockets close when this task ends.
    if let Some(mut upstream) = upstream {
        let _ = upstream.shutdown().await;
    }
    let _ = tokio::time::timeout(Duration::from_millis(100), engine.shutdown()).await;
    ctx.port.close_session(session.id);
    tracing::info!(account = %ctx.account, listen = %ctx.listen, session = session.id, peer = %session.peer,
        client_id = ?session.client_id(), reason = %end, "guarded port: engine session ended");
    let _ = ctx.actor.send_message(ProxyMessage::SessionEnded { session: session.id });
    // Let the engine read the FIN before unread bytes would turn the close into a reset.
    let mut sink = [0u8; 4096];
    let linger = async { while matches!(engine.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(Duration::from_millis(500), linger).await;
}

async fn relay(
    engine: &mut TcpStream,
    upstream_slot: &mut Option<TcpStream>,
    session: &SessionStats,
    ctx: &SessionCtx,
    closed: watch::Receiver<bool>,
) -> End {
    // 1. The engine's `API\0` and version range, kept as sent.
    let mut from_engine = Vec::with_capacity(READ_CHUNK);
    let prefix_len = match tokio::time::timeout(ctx.connect_timeout, read_prefix(engine, &mut from_engine)).await {
        Ok(Ok(Some(len))) => len,
        Ok(Ok(None)) => return End::EngineClosed,
        Ok(Err(e)) => return End::Malformed(e.to_string()),
        Err(_) => return End::Malformed("no API prefix within the connect timeout".into()),
    };
    // 2. One upstream session per engine session, with the engine's own handshake.
    let connect = tokio::time::timeout(ctx.connect_timeout, TcpStream::connect(&ctx.upstream)).await;
    let mut upstream = match connect {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return End::UpstreamFailed(e.to_string()),
        Err(_) => return End::UpstreamFailed(format!("no TCP connection within {:?}", ctx.connect_timeout)),
    };
    let _ = upstream.set_nodelay(true);
    let handshake = async {
        upstream.write_all(&from_engine[..prefix_len]).await?;
        let len = upstream.read_u32().await?;
        if len == 0 || len > MAX_PREFIX_LEN {
            return Err(std::io::Error::other(format!("handshake reply of {len} bytes")));
        }
        let mut body = vec![0; len as usize];
        upstream.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>((len, body))
    };
    let (len, body) = match tokio::time::timeout(ctx.connect_timeout, handshake).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => return End::UpstreamFailed(format!("handshake: {e}")),
        Err(_) => return End::UpstreamFailed(format!("no handshake reply within {:?}", ctx.connect_timeout)),
    };
    let version = std::str::from_utf8(&body).ok().and_then(|t| t.split('\0').next()?.parse::<i32>().ok());
    let Some(version) = version else {
        return End::UpstreamFailed("the handshake reply names no server version".into());
    };
    session.set_version(version);
    let mut reply = len.to_be_bytes().to_vec();
    reply.extend_from_slice(&body);
    if write_bounded(engine, &reply, ctx.settings.write_timeout).await.is_err() {
        return End::Slow("engine");
    }
    from_engine.drain(..prefix_len);
    if *closed.borrow() {
        return End::Closed;
    }
    *upstream_slot = Some(upstream);
    let upstream = upstream_slot.as_mut().expect("just set");

    // 3. Both directions until either ends. The handshake reply was the first sign of life.
    let liveness = Liveness::default();
    liveness.touch();
    let (engine_read, engine_write) = engine.split();
    let (upstream_read, upstream_write) = upstream.split();
    let (answers, pending) = mpsc::channel(PENDING_ANSWERS);
    let toward = Toward { version, answers, session, ctx, liveness: &liveness, closed };
    let up = to_gateway(engine_read, upstream_write, from_engine, toward);
    let down = to_engine(upstream_read, engine_write, pending, session, ctx, &liveness);
    tokio::pin!(down);
    tokio::select! {
        end = up => {
            if end == End::Closed {
                // Closed by the port: the answers already decided go out first (`down` ends
                // once the channel is drained; the caller bounds the wait).
                let _ = (&mut down).await;
            }
            end
        }
        end = &mut down => end,
    }
}

/// Read `API\0` + the version string into `buf`: its length once complete, `None` if the engine
/// closed first.
async fn read_prefix(engine: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<usize>, WireError> {
    loop {
        if let Some((_, used)) = parse_prefix(buf)? {
            return Ok(Some(used));
        }
        buf.reserve(1024);
        if engine.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// What the engine → gateway direction works with besides its sockets and buffer.
struct Toward<'a> {
    /// The negotiated server version (text or protobuf framing).
    version: i32,
    /// Where 201 answers go, for the other direction to slip in between gateway frames.
    answers: mpsc::Sender<Vec<u8>>,
    session: &'a SessionStats,
    ctx: &'a SessionCtx,
    /// The upstream's last sign of life.
    liveness: &'a Liveness,
    /// True once the port closes the session: stop reading the engine between frames.
    closed: watch::Receiver<bool>,
}

async fn to_gateway(
    mut engine: impl AsyncRead + Unpin,
    mut upstream: impl AsyncWrite + Unpin,
    mut buf: Vec<u8>,
    toward: Toward<'_>,
) -> End {
    let Toward { version, answers, session, ctx, liveness, mut closed } = toward;
    let framing = Framing::for_version(version);
    let limit = ctx.settings.buffer_bytes.min(MAX_FRAME_LEN) as usize;
    loop {
        // Every complete frame in the buffer: spans that pass are written as they came.
        let (mut pos, mut span_start) = (0, 0);
        loop {
            let rest = &buf[pos..];
            if rest.len() >= 4 {
                let announced = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                if announced + 4 > limit {
                    return End::Malformed(format!(
                        "a frame of {announced} bytes exceeds proxy.buffer_bytes ({limit})"
                    ));
                }
            }
            let head = match frame_head(rest, framing) {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(e) => return End::Malformed(e.to_string()),
            };
            let frame = &rest[..head.len];
            match inspect(&head, frame, version) {
                Inspected::PlaceOrder { order_id } => {
                    let now = ctx.clock.now();
                    let mut refusal = crate::guard::read_gates(&ctx.gates).order_refusal(&ctx.account, now);
                    if refusal.is_none() && liveness.silent_for() > ctx.max_silence {
                        refusal = prove_alive(ctx, session, liveness).await;
                    }
                    match refusal {
                        None => {
                            session.orders_passed.fetch_add(1, Ordering::Relaxed);
                            ctx.port.orders_passed.fetch_add(1, Ordering::Relaxed);
                            decided(ctx, session, order_id, None);
                        }
                        Some(reason) => {
                            let reason = reason.to_string();
                            if write_bounded(&mut upstream, &buf[span_start..pos], ctx.settings.write_timeout)
                                .await
                                .is_err()
                            {
                                return End::Slow("gateway");
                            }
                            session.bytes_to_gateway.fetch_add((pos - span_start) as u64, Ordering::Relaxed);
                            span_start = pos + head.len;
                            session.refused(&reason);
                            ctx.port.orders_refused.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(account = %ctx.account, listen = %ctx.listen, session = session.id,
                                client_id = ?session.client_id(), order_id, %reason, "guarded port: order refused (201)");
                            let answer = rejection(version, order_id, &reason, ctx.clock.now().timestamp_millis());
                            if answers.try_send(answer).is_err() {
                                return End::Slow("engine");
                            }
                            decided(ctx, session, order_id, Some(reason));
                        }
                    }
                }
                Inspected::StartApi { client_id } => session.set_client_id(client_id),
                Inspected::Malformed(why) => return End::Malformed(why),
                Inspected::Other => {}
            }
            pos += head.len;
        }
        if span_start < pos {
            if write_bounded(&mut upstream, &buf[span_start..pos], ctx.settings.write_timeout).await.is_err() {
                return End::Slow("gateway");
            }
            session.bytes_to_gateway.fetch_add((pos - span_start) as u64, Ordering::Relaxed);
        }
        buf.drain(..pos);
        if buf.capacity() > 4 * READ_CHUNK && buf.len() <= READ_CHUNK {
            buf.shrink_to(READ_CHUNK);
        }
        buf.reserve(READ_CHUNK.min(limit));
        tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => return End::Closed,
            read = engine.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => return End::EngineClosed,
                Ok(_) => {}
            },
        }
    }
}

async fn to_engine(
    mut upstream: impl AsyncRead + Unpin,
    mut engine: impl AsyncWrite + Unpin,
    mut answers: mpsc::Receiver<Vec<u8>>,
    session: &SessionStats,
    ctx: &SessionCtx,
    liveness: &Liveness,
) -> End {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut boundary = Boundary::default();
    loop {
        tokio::select! {
            biased;
            answer = answers.recv(), if boundary.at_frame_start() => {
                // None: the other direction ended, and every answer it decided is written.
                let Some(answer) = answer else { return End::Closed };
                if write_bounded(&mut engine, &answer, ctx.settings.write_timeout).await.is_err() {
                    return End::Slow("engine");
                }
                session.bytes_to_engine.fetch_add(answer.len() as u64, Ordering::Relaxed);
            }
            read = upstream.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => return End::UpstreamClosed,
                    Ok(n) => n,
                };
                liveness.touch();
                boundary.advance(&buf[..n]);
                if write_bounded(&mut engine, &buf[..n], ctx.settings.write_timeout).await.is_err() {
                    return End::Slow("engine");
                }
                session.bytes_to_engine.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Where a byte stream of length-prefixed frames stands: in a 4-byte prefix, or in a body.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Boundary {
    prefix: [u8; 4],
    prefix_have: u8,
    body_left: u32,
}

impl Boundary {
    /// Between two frames (where another frame may be inserted).
    pub(super) fn at_frame_start(&self) -> bool {
        self.prefix_have == 0 && self.body_left == 0
    }

    /// Account for `bytes` having passed.
    pub(super) fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let take = (self.body_left as usize).min(bytes.len());
                self.body_left -= take as u32;
                bytes = &bytes[take..];
                continue;
            }
            self.prefix[self.prefix_have as usize] = bytes[0];
            self.prefix_have += 1;
            bytes = &bytes[1..];
            if self.prefix_have == 4 {
                self.body_left = u32::from_be_bytes(self.prefix);
                self.prefix_have = 0;
            }
        }
    }
}

/// The session's upstream was silent longer than `orders.max_silence`: have the account's
/// GatewayActor probe the gateway (bounded by `probe_within`); `None` when it answered. The
/// gateway's API thread serves every socket, so its answer on the actor's own connection
/// vouches for this one; a failed probe also marks the link down, which closes this session.
async fn prove_alive(ctx: &SessionCtx, session: &SessionStats, liveness: &Liveness) -> Option<Refusal> {
    tracing::debug!(account = %ctx.account, session = session.id, silent_ms = liveness.silent_for().as_millis() as u64,
        "guarded port: order waits for a probe");
    let Some(gateway) = ctx.directory.gateway(&ctx.account) else {
        return Some(Refusal::NotAnswering { error: "no gateway actor to probe the gateway".into() });
    };
    match gateway.call(GatewayMessage::ProbeNow, Some(ctx.probe_within)).await {
        Ok(ractor::rpc::CallResult::Success(Ok(_))) => {
            liveness.touch();
            None
        }
        Ok(ractor::rpc::CallResult::Success(Err(error))) => Some(Refusal::NotAnswering { error }),
        _ => Some(Refusal::NotAnswering {
            error: format!("no probe answer within {}", humantime::format_duration(ctx.probe_within)),
        }),
    }
}

fn decided(ctx: &SessionCtx, session: &SessionStats, order_id: i32, refused: Option<String>) {
    let _ = ctx.actor.send_message(ProxyMessage::Decided { client_id: session.client_id(), order_id, refused });
}

async fn write_bounded(to: &mut (impl AsyncWrite + Unpin), bytes: &[u8], within: Duration) -> Result<(), ()> {
    if bytes.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(within, to.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// The peer's address with IPv4-mapped IPv6 shown as IPv4.
pub(super) fn canonical(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => peer,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_tracked_across_split_reads() {
        let frames = [&[0, 0, 0, 3][..], b"abc", &[0, 0, 0, 1], b"z"].concat();
        for cut in 0..=frames.len() {
            let mut b = Boundary::default();
            b.advance(&frames[..cut]);
            let expected = cut == 0 || cut == 7 || cut == frames.len();
            assert_eq!(b.at_frame_start(), expected, "cut at {cut}");
            b.advance(&frames[cut..]);
            assert!(b.at_frame_start());
        }
    }
}
