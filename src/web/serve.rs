//! The accept loop both servers run instead of `warp::serve`: every request passes
//! [`check`](super::check) first; a connection must send its headers within
//! [`Limits::header_read_timeout`] and is closed after [`Limits::idle_timeout`] without a
//! request; at most [`Limits::max_connections`] are open, and at the cap a new connection
//! closes the one idle the longest (none in a request), so a flood of idle or slow-header
//! sockets never keeps the operator from `/healthz`. Only when every connection is inside a
//! request is a newcomer answered 503 and closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use warp::http::Request;
use warp::reply::Response;
use warp::Reply;

use super::checks::{check, Policy};

/// How many connections, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// A request's headers must arrive within this.
    pub header_read_timeout: Duration,
    /// A connection without a request in flight and without traffic for this long is closed.
    pub idle_timeout: Duration,
}

/// What the accept loop did, for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted in all.
    pub accepted: AtomicU64,
    /// Idle connections closed to make room at the cap.
    pub evicted: AtomicU64,
    /// Connections closed by the idle timeout.
    pub idle_closed: AtomicU64,
    /// Newcomers answered 503 because every connection was inside a request.
    pub refused: AtomicU64,
    /// Requests refused by the Host, origin or Content-Type checks.
    pub rejected_requests: AtomicU64,
}

/// Activity of one connection: the last byte in or out, and requests inside a handler.
struct Activity {
    last: AtomicU64,
    in_flight: AtomicUsize,
    epoch: Instant,
}

impl Activity {
    fn touch(&self) {
        self.last.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

struct Open {
    activity: Arc<Activity>,
    evict: CancellationToken,
}

#[derive(Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Open>,
}

impl Registry {
    /// Make room for one more: close the connection idle the longest; false if all are busy.
    fn make_room(&mut self, max: usize) -> bool {
        if self.open.len() < max {
            return true;
        }
        let victim = self
            .open
            .iter()
            .filter(|(_, c)| c.activity.in_flight.load(Ordering::Relaxed) == 0)
            .max_by_key(|(_, c)| c.activity.idle_for())
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.open.remove(&id)) {
            Some(conn) => {
                conn.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// Serve `service` (e.g. `warp::service(routes)`) on `listener` under `policy` and `limits`
/// until `shutdown`; in-flight requests then get a second to finish. Returns the bound address.
pub fn serve<S>(
    listener: TcpListener,
    service: S,
    policy: Policy,
    limits: Limits,
    stats: Arc<ConnStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<SocketAddr>
where
    S: tower_service::Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let addr = listener.local_addr()?;
    let policy = Arc::new(policy);
    let stop = CancellationToken::new();
    let registry = Arc::new(Mutex::new(Registry::default()));
    let epoch = Instant::now();
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        loop {
            let (stream, _peer) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of descriptors, say: back off a little instead of spinning.
                        tracing::warn!(error = %e, %addr, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            stats.accepted.fetch_add(1, Ordering::Relaxed);
            let activity = Arc::new(Activity { last: AtomicU64::new(0), in_flight: AtomicUsize::new(0), epoch });
            activity.touch();
            let evict = stop.child_token();
            let id = {
                let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
                if !reg.make_room(limits.max_connections) {
                    drop(reg);
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(busy(stream));
                    continue;
                }
                let id = reg.next;
                reg.next += 1;
                reg.open.insert(id, Open { activity: Arc::clone(&activity), evict: evict.clone() });
                id
            };
            stats.open.fetch_add(1, Ordering::Relaxed);
            let (service, policy, stats, registry) =
                (service.clone(), Arc::clone(&policy), Arc::clone(&stats), Arc::clone(&registry));
            let shutting_down = stop.clone();
            tokio::spawn(async move {
                connection(stream, service, policy, limits, &stats, activity, evict, shutting_down).await;
                let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
                if reg.open.remove(&id).is_none() {
                    stats.evicted.fetch_add(1, Ordering::Relaxed);
                }
                stats.open.fetch_sub(1, Ordering::Relaxed);
            });
        }
        stop.cancel();
    });
    Ok(addr)
}

/// Every connection is inside a request: say so and close.
async fn busy(mut stream: TcpStream) {
    let body = r#"{"error":"too many connections in use; try again shortly"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
}

#[allow(clippy::too_many_arguments)]
async fn connection<S>(
    stream: TcpStream,
    service: S,
    policy: Arc<Policy>,
    limits: Limits,
    stats: &Arc<ConnStats>,
    activity: Arc<Activity>,
    evict: CancellationToken,
    stop: CancellationToken,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let local = stream.local_addr().ok();
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Tracked { inner: stream, activity: Arc::clone(&activity) });
    let handler = {
        let activity = Arc::clone(&activity);
        let stats = Arc::clone(stats);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut service = service.clone();
            let verdict = check(&policy, request.method(), request.headers(), local);
            let activity = Arc::clone(&activity);
            let stats = Arc::clone(&stats);
            async move {
                if let Err(refused) = verdict {
                    stats.rejected_requests.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(method = %request.method(), path = %request.uri().path(), %refused, "HTTP request refused");
                    let body = warp::reply::json(&serde_json::json!({ "error": refused.to_string() }));
                    return Ok::<_, Infallible>(warp::reply::with_status(body, refused.status()).into_response());
                }
                activity.in_flight.fetch_add(1, Ordering::Relaxed);
                let _done = InFlight(Arc::clone(&activity));
                tower_service::Service::call(&mut service, request).await
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let conn = builder.serve_connection(io, handler);
    tokio::pin!(conn);
    loop {
        let idle_at = Instant::now() + limits.idle_timeout.saturating_sub(activity.idle_for());
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            // Closed to make room at the cap: dropping the connection closes the socket.
            _ = evict.cancelled(), if !stop.is_cancelled() => return,
            _ = stop.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await;
                return;
            }
            _ = tokio::time::sleep_until(idle_at) => {
                if activity.in_flight.load(Ordering::Relaxed) == 0 && activity.idle_for() >= limits.idle_timeout {
                    stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

/// Counts a request inside the handler until its response is built.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A socket that records when a byte last went in or out.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
