//! The ProxyActor: one per guarded port. It owns the listener (a task that hands it every
//! accepted connection), decides at accept (allowed client, link up, room for one more
//! session), starts each session as a task it can close, closes them all the moment the
//! account's link is lost, and records the sessions' decisions as events. No handler awaits
//! anything but the binding of the listener in `pre_start`.
//!
//! Sessions are scoped to the actor: each holds the receiving end of a oneshot the actor keeps,
//! so when the actor stops, fails or is restarted, every session closes both its sockets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::session::{self, canonical, SessionCtx};
use super::stats::{PortSnapshot, PortStats};
use crate::clock::SharedClock;
use crate::directory::Directory;
use crate::guard::SharedGates;
use crate::settings::AccountSettings;
use crate::status::{EventKind, EventPort, StatusBoard, StatusEvent};

/// Messages the ProxyActor handles.
pub enum ProxyMessage {
    /// The listener accepted a connection.
    Accepted {
        /// The engine's socket.
        stream: TcpStream,
        /// Its address.
        peer: SocketAddr,
    },
    /// A session decided a `placeOrder` (already answered and counted): record the event.
    Decided {
        /// The engine's client id, if known.
        client_id: Option<i32>,
        /// The order id.
        order_id: i32,
        /// `None`: passed; else the refusal's reason.
        refused: Option<String>,
    },
    /// A session ended (its sockets are closed).
    SessionEnded {
        /// Its id.
        session: u64,
    },
    /// A published status event.
    Event(StatusEvent),
    /// The port's counters and sessions, for `/actors`.
    Snapshot(RpcReplyPort<PortSnapshot>),
}

/// What a ProxyActor is started with.
#[derive(Clone)]
pub struct ProxyArgs {
    /// The account (its gateway address and its `proxy` settings, which must be set).
    pub account: AccountSettings,
    /// Bound on the upstream connect and handshake (`heartbeat.connect_timeout`).
    pub connect_timeout: Duration,
    /// The guard's gates: the decision for every `placeOrder`.
    pub gates: SharedGates,
    /// The published state a new incarnation starts from.
    pub board: StatusBoard,
    /// Where the link's loss is heard and decisions are published.
    pub events: EventPort,
    /// The wall-clock seam.
    pub clock: SharedClock,
    /// The port's counters and sessions (outlive a restart).
    pub stats: Arc<PortStats>,
    /// Where the account's GatewayActor is found: it probes the gateway for a session whose
    /// upstream has been silent too long.
    pub directory: Directory,
    /// A `placeOrder` goes upstream only if the session's upstream showed life within this
    /// (`orders.max_silence`), else after a probe.
    pub max_silence: Duration,
    /// How long a session waits for that probe (probe timeout + stuck margin).
    pub probe_within: Duration,
}

/// The actor; its state is [`ProxyState`].
pub struct ProxyActor;

/// The listener's stop switch, the open sessions' close switches, and whether the link is up.
pub struct ProxyState {
    args: ProxyArgs,
    ctx: SessionCtx,
    link_up: bool,
    sessions: HashMap<u64, oneshot::Sender<()>>,
    _listener: oneshot::Sender<()>,
}

/// Attempts to bind the listen address (a restarted actor may find its predecessor's listener
/// not yet closed).
const BIND_ATTEMPTS: u32 = 20;

impl Actor for ProxyActor {
    type Msg = ProxyMessage;
    type State = ProxyState;
    type Arguments = ProxyArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: ProxyArgs) -> Result<ProxyState, ActorProcessingErr> {
        let proxy = args.account.proxy.clone().ok_or("account has no proxy settings")?;
        // A restart binds what the first incarnation bound (port 0 picked once).
        let addr = args.stats.local_addr().unwrap_or(proxy.listen);
        let mut attempt = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempt + 1 < BIND_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(format!("guarded port of {} cannot listen on {addr}: {e}", args.account.name).into())
                }
            }
        };
        let bound = listener.local_addr()?;
        args.stats.set_bound(Some(bound));
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(accept_loop(listener, myself.clone(), stopped));
        let account = args.account.name.clone();
        args.events
            .subscribe(myself.clone(), move |event| (event.account == account).then_some(ProxyMessage::Event(event)));
        let link_up = args.board.account(&args.account.name).is_some_and(|a| a.state.link().is_some());
        tracing::info!(account = %args.account.name, listen = %bound, upstream = %args.account.address(), "guarded port listening");
        let ctx = SessionCtx {
            account: args.account.name.clone(),
            listen: bound.to_string(),
            upstream: args.account.address(),
            settings: proxy,
            connect_timeout: args.connect_timeout,
            gates: Arc::clone(&args.gates),
            clock: args.clock.clone(),
            port: Arc::clone(&args.stats),
            actor: myself,
            directory: args.directory.clone(),
            max_silence: args.max_silence,
            probe_within: args.probe_within,
        };
        Ok(ProxyState { args, ctx, link_up, sessions: HashMap::new(), _listener: stop })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: ProxyMessage,
        state: &mut ProxyState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProxyMessage::Accepted { stream, peer } => state.accepted(stream, canonical(peer)),
            ProxyMessage::Decided { client_id, order_id, refused } => {
                let kind = EventKind::ProxyOrder { listen: state.ctx.listen.clone(), client_id, order_id, refused };
                state.args.events.send(StatusEvent::new(state.ctx.account.clone(), state.args.clock.now(), kind));
            }
            ProxyMessage::Snapshot(reply) => {
                let _ = reply.send(state.args.stats.snapshot());
            }
            ProxyMessage::SessionEnded { session } => {
                state.sessions.remove(&session);
            }
            ProxyMessage::Event(event) => {
                if let EventKind::StateChanged { to, .. } = &event.kind {
                    state.link_up = to.link().is_some();
                    if !state.link_up && !state.sessions.is_empty() {
                        tracing::warn!(account = %state.ctx.account, listen = %state.ctx.listen, sessions = state.sessions.len(),
                            state = to.name(), "guarded port: account link lost; closing every engine session");
                        let closed = state.sessions.len() as u64;
                        state.args.stats.closed_link_lost.fetch_add(closed, Ordering::Relaxed);
                        for (_, close) in state.sessions.drain() {
                            let _ = close.send(());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut ProxyState) -> Result<(), ActorProcessingErr> {
        for (_, close) in state.sessions.drain() {
            let _ = close.send(());
        }
        Ok(())
    }
}

impl ProxyState {
    fn accepted(&mut self, stream: TcpStream, peer: SocketAddr) {
        let stats = &self.args.stats;
        let settings = &self.ctx.settings;
        let refused = if !settings.allows(peer.ip()) {
            stats.refused_not_allowed.fetch_add(1, Ordering::Relaxed);
            Some("client not in proxy.allowed_clients")
        } else if !self.link_up {
            stats.refused_link_down.fetch_add(1, Ordering::Relaxed);
            Some("the account's link to its gateway is down")
        } else if self.sessions.len() >= settings.max_sessions as usize {
            stats.refused_full.fetch_add(1, Ordering::Relaxed);
            Some("proxy.max_sessions engine sessions are open")
        } else {
            None
        };
        if let Some(why) = refused {
            tracing::warn!(account = %self.ctx.account, listen = %self.ctx.listen, %peer, why, "guarded port: connection closed at accept");
            drop(stream);
            return;
        }
        let _ = stream.set_nodelay(true);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let session = stats.open_session(peer, self.args.clock.now());
        tracing::info!(account = %self.ctx.account, listen = %self.ctx.listen, session = session.id, %peer, "guarded port: engine connected");
        let (close, closed) = oneshot::channel();
        self.sessions.insert(session.id, close);
        tokio::spawn(session::run(stream, session, self.ctx.clone(), closed));
    }
}

async fn accept_loop(listener: TcpListener, actor: ActorRef<ProxyMessage>, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if actor.send_message(ProxyMessage::Accepted { stream, peer }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: keep listening, without spinning.
                    tracing::warn!(error = %e, "guarded port: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}
