//! What each guarded port has seen: counters per port (which outlive a restart of its actor)
//! and, per engine session, who it is and what went through — for `/status`, `/actors`,
//! `/metrics` and the dashboard.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The counters and live sessions of one account's guarded port.
#[derive(Debug)]
pub struct PortStats {
    /// The account.
    pub account: String,
    /// The configured listen address (port 0: any free one).
    pub listen: SocketAddr,
    bound: Mutex<Option<SocketAddr>>,
    next_session: AtomicU64,
    /// Engine sessions accepted.
    pub accepted: AtomicU64,
    /// Connects closed at accept: the client is outside `allowed_clients`.
    pub refused_not_allowed: AtomicU64,
    /// Connects closed at accept: the account's link to its gateway was down.
    pub refused_link_down: AtomicU64,
    /// Connects closed at accept: `max_sessions` were open.
    pub refused_full: AtomicU64,
    /// Sessions closed because the gateway could not be reached or did not answer the handshake.
    pub upstream_failed: AtomicU64,
    /// Sessions closed because the engine sent a malformed frame.
    pub malformed: AtomicU64,
    /// Sessions cut off because the engine (or the gateway) did not keep up.
    pub slow_cut: AtomicU64,
    /// Sessions closed because the account's link was lost.
    pub closed_link_lost: AtomicU64,
    /// `placeOrder`s passed upstream.
    pub orders_passed: AtomicU64,
    /// `placeOrder`s refused (answered with error 201, never forwarded).
    pub orders_refused: AtomicU64,
    sessions: Mutex<BTreeMap<u64, Arc<SessionStats>>>,
}

impl PortStats {
    /// Zeroed counters for `account`'s port on `listen`.
    pub fn new(account: &str, listen: SocketAddr) -> Self {
        PortStats {
            account: account.to_owned(),
            listen,
            bound: Mutex::new(None),
            next_session: AtomicU64::new(1),
            accepted: AtomicU64::new(0),
            refused_not_allowed: AtomicU64::new(0),
            refused_link_down: AtomicU64::new(0),
            refused_full: AtomicU64::new(0),
            upstream_failed: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            slow_cut: AtomicU64::new(0),
            closed_link_lost: AtomicU64::new(0),
            orders_passed: AtomicU64::new(0),
            orders_refused: AtomicU64::new(0),
            sessions: Mutex::new(BTreeMap::new()),
        }
    }

    /// Where the port listens now (`None` before its actor bound it).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *lock(&self.bound)
    }

    pub(super) fn set_bound(&self, addr: Option<SocketAddr>) {
        *lock(&self.bound) = addr;
    }

    pub(super) fn open_session(&self, peer: SocketAddr, since: DateTime<Utc>) -> Arc<SessionStats> {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(SessionStats::new(id, peer, since));
        lock(&self.sessions).insert(id, Arc::clone(&session));
        session
    }

    pub(super) fn close_session(&self, id: u64) {
        lock(&self.sessions).remove(&id);
    }

    /// Open engine sessions now.
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// A copy of every counter and session.
    pub fn snapshot(&self) -> PortSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PortSnapshot {
            account: self.account.clone(),
            listen: self.local_addr().unwrap_or(self.listen).to_string(),
            listening: self.local_addr().is_some(),
            accepted: get(&self.accepted),
            refused_not_allowed: get(&self.refused_not_allowed),
            refused_link_down: get(&self.refused_link_down),
            refused_full: get(&self.refused_full),
            upstream_failed: get(&self.upstream_failed),
            malformed: get(&self.malformed),
            slow_cut: get(&self.slow_cut),
            closed_link_lost: get(&self.closed_link_lost),
            orders_passed: get(&self.orders_passed),
            orders_refused: get(&self.orders_refused),
            sessions: lock(&self.sessions).values().map(|s| s.snapshot()).collect(),
        }
    }
}

/// One engine session: written by its task, read by snapshots.
#[derive(Debug)]
pub struct SessionStats {
    /// Unique per port for the process's life.
    pub id: u64,
    /// The engine's address.
    pub peer: SocketAddr,
    /// When it connected.
    pub since: DateTime<Utc>,
    client_id: AtomicI32,
    version: AtomicI32,
    /// Bytes relayed engine → gateway.
    pub bytes_to_gateway: AtomicU64,
    /// Bytes relayed gateway → engine (201 answers included).
    pub bytes_to_engine: AtomicU64,
    /// `placeOrder`s passed upstream.
    pub orders_passed: AtomicU64,
    /// `placeOrder`s refused.
    pub orders_refused: AtomicU64,
    last_refusal: Mutex<Option<String>>,
}

const UNSET: i32 = i32::MIN;

impl SessionStats {
    fn new(id: u64, peer: SocketAddr, since: DateTime<Utc>) -> Self {
        SessionStats {
            id,
            peer,
            since,
            client_id: AtomicI32::new(UNSET),
            version: AtomicI32::new(UNSET),
            bytes_to_gateway: AtomicU64::new(0),
            bytes_to_engine: AtomicU64::new(0),
            orders_passed: AtomicU64::new(0),
            orders_refused: AtomicU64::new(0),
            last_refusal: Mutex::new(None),
        }
    }

    /// The client id from the engine's startApi.
    pub fn client_id(&self) -> Option<i32> {
        Some(self.client_id.load(Ordering::Relaxed)).filter(|v| *v != UNSET)
    }

    pub(super) fn set_client_id(&self, id: i32) {
        self.client_id.store(id, Ordering::Relaxed);
    }

    pub(super) fn set_version(&self, version: i32) {
        self.version.store(version, Ordering::Relaxed);
    }

    pub(super) fn refused(&self, reason: &str) {
        self.orders_refused.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_refusal) = Some(reason.to_owned());
    }

    /// A copy.
    pub fn snapshot(&self) -> SessionSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SessionSnapshot {
            id: self.id,
            client_id: self.client_id(),
            peer: self.peer.to_string(),
            since: self.since,
            server_version: Some(self.version.load(Ordering::Relaxed)).filter(|v| *v != UNSET),
            bytes_to_gateway: get(&self.bytes_to_gateway),
            bytes_to_engine: get(&self.bytes_to_engine),
            orders_passed: get(&self.orders_passed),
            orders_refused: get(&self.orders_refused),
            last_refusal: lock(&self.last_refusal).clone(),
        }
    }
}

/// One port as `/status` and `/actors` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortSnapshot {
    /// The account.
    pub account: String,
    /// Where it listens (the bound address once listening).
    pub listen: String,
    /// Whether it is listening now.
    pub listening: bool,
    /// See [`PortStats::accepted`].
    pub accepted: u64,
    /// See [`PortStats::refused_not_allowed`].
    pub refused_not_allowed: u64,
    /// See [`PortStats::refused_link_down`].
    pub refused_link_down: u64,
    /// See [`PortStats::refused_full`].
    pub refused_full: u64,
    /// See [`PortStats::upstream_failed`].
    pub upstream_failed: u64,
    /// See [`PortStats::malformed`].
    pub malformed: u64,
    /// See [`PortStats::slow_cut`].
    pub slow_cut: u64,
    /// See [`PortStats::closed_link_lost`].
    pub closed_link_lost: u64,
    /// See [`PortStats::orders_passed`].
    pub orders_passed: u64,
    /// See [`PortStats::orders_refused`].
    pub orders_refused: u64,
    /// The open engine sessions, oldest first.
    pub sessions: Vec<SessionSnapshot>,
}

/// One engine session as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSnapshot {
    /// The session's id.
    pub id: u64,
    /// The engine's client id (once its startApi went through).
    pub client_id: Option<i32>,
    /// The engine's address.
    pub peer: String,
    /// When it connected.
    pub since: DateTime<Utc>,
    /// The version the gateway negotiated with it.
    pub server_version: Option<i32>,
    /// Bytes engine → gateway.
    pub bytes_to_gateway: u64,
    /// Bytes gateway → engine.
    pub bytes_to_engine: u64,
    /// `placeOrder`s passed.
    pub orders_passed: u64,
    /// `placeOrder`s refused.
    pub orders_refused: u64,
    /// Why the last one was refused.
    pub last_refusal: Option<String>,
}

/// Every account's port (the accounts with `proxy` set), fixed at start.
#[derive(Debug, Clone, Default)]
pub struct ProxyStats {
    ports: Arc<Vec<Arc<PortStats>>>,
}

impl ProxyStats {
    /// The ports of the accounts that configure one.
    pub fn new(ports: Vec<Arc<PortStats>>) -> Self {
        ProxyStats { ports: Arc::new(ports) }
    }

    /// `account`'s port.
    pub fn port(&self, account: &str) -> Option<&Arc<PortStats>> {
        self.ports.iter().find(|p| p.account == account)
    }

    /// Every port.
    pub fn ports(&self) -> &[Arc<PortStats>] {
        &self.ports
    }

    /// A snapshot of every port, in settings order.
    pub fn snapshot(&self) -> Vec<PortSnapshot> {
        self.ports.iter().map(|p| p.snapshot()).collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
