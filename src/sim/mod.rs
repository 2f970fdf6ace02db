//! A simulated IB Gateway speaking the real TWS wire protocol, with fault injection.
//!
//! One [`Simulator`] serves any number of listeners, each acting as the gateway of one account.
//! Real TWS API clients (ibapi, IB's official Python client, ib_async, ib_insync) connect to
//! it over TCP and cannot tell it from a gateway for what it covers, at any server version from
//! [`MIN_SERVER_VERSION`] (157) to [`MAX_SERVER_VERSION`] (226): the classic text protocol
//! below 201, protobuf per message above. Behind each listener is a simulated market
//! (`market`): instruments and contract details, a seeded walk with ticks and bars, orders that
//! trade like a market, executions with TWS's client-id visibility, and a portfolio. Faults
//! ([`Fault`]) are injected in process or over HTTP ([`Simulator::serve_control`]), where
//! `POST /sim/price` moves a symbol too. `docs/simulator.md` says what is covered and
//! `docs/tws-protocol.md` where each wire fact came from.
//!
//! - framing, versions, message ids and the `error` encoding are production code shared with
//!   the guarded port: [`crate::actors::wire`].
//! - `msg`: version-independent requests and replies.
//! - `codec`: one codec per encoding (`text`, `proto`), chosen per message and version.
//! - `handlers`: what the gateway does with each request, by family.
//! - `market`: the simulated market (pure: no I/O, time passed in).
//! - `gateway`: one listener: clients, fault conditions, its market and the clock moving it.
//! - `session`: one client connection; `outbox`: its bounded reply queue and writer.
//! - `fault`: the fault model and its JSON form.
//! - `control`: the HTTP control API (`GET /sim/state`, `POST /sim/fault`, `POST /sim/price`).

mod codec;
mod control;
mod farms;
mod fault;
mod gateway;
mod handlers;
mod ibc;
// The market model's API is wider than the gateway uses (TWS-entered orders, the master
// client id at run time, accessors its own tests use); those parts are kept, not dead.
#[allow(dead_code, unused_imports)]
mod market;
mod msg;
mod outbox;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use crate::actors::wire::version::{MAX_SERVER_VERSION, MIN_SERVER_VERSION};
pub use fault::{Fault, FaultError, FaultRequest};
pub use gateway::{ClientInfo, Conditions, OrderLogEntry, PortfolioState, PositionState, PriceError};
pub use ibc::{IbcCommandLog, IbcState};

use gateway::Gateway;

/// One listener: the address to bind (port 0 picks a free one) and the account it serves.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub addr: SocketAddr,
    pub account: String,
    /// Where to serve IBC's command server for this gateway (`--ibc`), if anywhere.
    pub ibc: Option<SocketAddr>,
}

/// Behaviour shared by every listener.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Delay between an accepted order and its fill.
    pub fill_delay: Duration,
    /// Interval between market-data quote rounds per subscription.
    pub tick_interval: Duration,
    /// Highest server version offered (157..=226); a client gets `min(its max, this)`.
    pub server_version: i32,
    /// Zone name in the handshake's connection time (`UTC`, or `EST` for TWS realism).
    pub time_zone: String,
    /// First NextValidId.
    pub first_order_id: i32,
    /// Seed for prices and sizes (random when `None`).
    pub seed: Option<u64>,
    /// Bytes of replies a session may have queued for a client that is not reading; one more
    /// closes the connection (see `outbox.rs`).
    pub outbox_limit_bytes: usize,
    /// Most an order fills per price step; larger orders fill in parts.
    pub display_size: f64,
    /// Cash each account starts with (USD).
    pub starting_cash: f64,
    /// TWS's "Master API client ID" setting: that client sees every client's orders and fills.
    pub master_client_id: Option<i32>,
    /// How long IBC's `RESTART` keeps the gateway down before it listens again.
    pub ibc_restart: Duration,
    /// Market-data lines a session may hold (IB's default allowance is 100; commissions and
    /// quote booster packs raise it); one more is answered 101.
    pub market_data_lines: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            fill_delay: Duration::from_millis(200),
            tick_interval: Duration::from_millis(250),
            server_version: MAX_SERVER_VERSION,
            time_zone: "UTC".into(),
            first_order_id: 1,
            seed: None,
            outbox_limit_bytes: 8 * 1024 * 1024,
            display_size: 1000.0,
            starting_cash: 1_000_000.0,
            master_client_id: None,
            ibc_restart: Duration::from_secs(2),
            market_data_lines: handlers::subscriptions::DEFAULT_MARKET_DATA_LINES,
        }
    }
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    pub listeners: Vec<ListenerConfig>,
    pub options: SimOptions,
}

impl SimConfig {
    /// Add a listener for `account` on `addr`.
    pub fn listener(mut self, addr: impl Into<SocketAddr>, account: impl Into<String>) -> Self {
        self.listeners.push(ListenerConfig { addr: addr.into(), account: account.into(), ibc: None });
        self
    }

    /// Serve an IBC command server on `addr` (port 0: a free one) for the listener added last.
    pub fn ibc(mut self, addr: impl Into<SocketAddr>) -> Self {
        if let Some(last) = self.listeners.last_mut() {
            last.ibc = Some(addr.into());
        }
        self
    }

    /// Add a listener for `account` on a free loopback port.
    pub fn loopback(self, account: impl Into<String>) -> Self {
        self.listener(SocketAddr::from(([127, 0, 0, 1], 0)), account)
    }

    pub fn options(mut self, options: SimOptions) -> Self {
        self.options = options;
        self
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("no listener configured; add at least one --listen ADDR --account ID")]
    NoListener,
    #[error(
        "server_version {0} is outside {MIN_SERVER_VERSION}..={MAX_SERVER_VERSION}, the versions the simulator speaks"
    )]
    BadServerVersion(i32),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A listener as shown in [`SimState`].
#[derive(Debug, Clone, Serialize)]
pub struct ListenerState {
    pub port: u16,
    pub addr: SocketAddr,
    pub account: String,
    pub listening: bool,
    pub upstream: &'static str,
    pub conditions: Conditions,
    pub last_fault: Option<Fault>,
    pub open_sockets: usize,
    /// TCP connections accepted since start (every session a client tried to open).
    pub connections_accepted: u64,
    pub market_data_subscriptions: u64,
    /// reqMktData requests received since start.
    pub market_data_requests: u64,
    pub clients: Vec<ClientInfo>,
    /// The account's portfolio: positions, cash, values.
    pub portfolio: PortfolioState,
    /// Each data farm the gateway reports, and whether it is `ok` or `broken`.
    pub farms: std::collections::BTreeMap<String, &'static str>,
    /// The emulated IBC command server and the commands it received, when `--ibc` is set.
    pub ibc: Option<IbcState>,
}

/// Everything `GET /sim/state` shows.
#[derive(Debug, Clone, Serialize)]
pub struct SimState {
    pub listeners: Vec<ListenerState>,
    pub clients: Vec<ClientInfo>,
    pub orders: Vec<OrderLogEntry>,
    /// Orders pushed out of the (capped) log.
    pub orders_dropped: u64,
}

/// A running simulator; dropping it does not stop it, call [`Simulator::shutdown`].
#[derive(Clone)]
pub struct Simulator {
    gateways: Vec<Arc<Gateway>>,
    /// The IBC emulation of each gateway, in the same order.
    ibc: Vec<Option<Arc<ibc::Ibc>>>,
    shutdown: CancellationToken,
}

impl Simulator {
    /// Bind every listener and start serving.
    pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
        if config.listeners.is_empty() {
            return Err(SimError::NoListener);
        }
        let version = config.options.server_version;
        if !(MIN_SERVER_VERSION..=MAX_SERVER_VERSION).contains(&version) {
            return Err(SimError::BadServerVersion(version));
        }
        let options = Arc::new(config.options);
        let shutdown = CancellationToken::new();
        let mut gateways = Vec::with_capacity(config.listeners.len());
        let mut ibcs = Vec::with_capacity(config.listeners.len());
        for listener in config.listeners {
            let gateway = Gateway::start(listener.addr, listener.account, Arc::clone(&options), shutdown.child_token())
                .await
                .map_err(|source| {
                    shutdown.cancel();
                    SimError::Bind { addr: listener.addr, source }
                })?;
            tracing::info!(addr = %gateway.addr, account = %gateway.account, "simulated gateway listening");
            let emulation = match listener.ibc {
                Some(addr) => {
                    Some(ibc::start(Arc::clone(&gateway), addr, options.ibc_restart).await.map_err(|source| {
                        shutdown.cancel();
                        SimError::Bind { addr, source }
                    })?)
                }
                None => None,
            };
            gateways.push(gateway);
            ibcs.push(emulation);
        }
        Ok(Simulator { gateways, ibc: ibcs, shutdown })
    }

    /// The bound address of every listener, in configuration order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.gateways.iter().map(|g| g.addr).collect()
    }

    /// The bound address of the `index`th listener's IBC command server, if it has one.
    pub fn ibc_addr(&self, index: usize) -> Option<SocketAddr> {
        self.ibc.get(index).and_then(|i| i.as_ref().map(|i| i.addr))
    }

    /// The bound address of the `index`th listener.
    pub fn addr(&self, index: usize) -> SocketAddr {
        self.gateways[index].addr
    }

    /// The bound port of the `index`th listener.
    pub fn port(&self, index: usize) -> u16 {
        self.gateways[index].port()
    }

    /// Inject a fault into one listener (`port`) or all (`None`).
    pub fn inject(&self, fault: Fault, port: Option<u16>) -> Result<(), FaultError> {
        let targets: Vec<&Arc<Gateway>> = self.gateways.iter().filter(|g| port.is_none_or(|p| g.port() == p)).collect();
        if targets.is_empty() {
            return Err(FaultError::UnknownPort(port.unwrap_or(0)));
        }
        for gateway in targets {
            gateway.apply(&fault);
        }
        Ok(())
    }

    /// Inject a fault into every listener.
    pub fn inject_all(&self, fault: Fault) {
        self.inject(fault, None).expect("a simulator has at least one listener");
    }

    /// A snapshot of clients, orders and faults.
    pub fn state(&self) -> SimState {
        let mut state = SimState { listeners: vec![], clients: vec![], orders: vec![], orders_dropped: 0 };
        for (gateway, ibc) in self.gateways.iter().zip(&self.ibc) {
            let conditions = gateway.publish_conditions();
            let mut farms: std::collections::BTreeMap<String, &'static str> =
                farms::DEFAULT_FARMS.iter().map(|f| (f.to_string(), "ok")).collect();
            farms.extend(conditions.farms_broken.iter().map(|f| (f.clone(), "broken")));
            let clients = gateway.clients();
            let (orders, dropped) = gateway.order_log();
            state.clients.extend(clients.iter().cloned());
            state.orders.extend(orders);
            state.orders_dropped += dropped;
            state.listeners.push(ListenerState {
                port: gateway.port(),
                addr: gateway.addr,
                account: gateway.account.clone(),
                listening: !conditions.refusing,
                upstream: if conditions.upstream_lost { "lost" } else { "connected" },
                conditions,
                last_fault: gateway.last_fault(),
                open_sockets: gateway.open_socket_count(),
                connections_accepted: gateway.connections_accepted(),
                market_data_subscriptions: gateway.market_data_subscriptions(),
                market_data_requests: gateway.market_data_requests(),
                clients,
                portfolio: gateway.portfolio_state(),
                farms,
                ibc: ibc.as_ref().map(|i| i.state()),
            });
        }
        state.orders.sort_by_key(|o| o.received_at);
        state
    }

    /// Move `symbol` (`AAPL`, `ES`, `EUR.USD` or a conId) to `price` at once on one listener
    /// (`port`) or all (`None`), then let the market react: resting orders the move crosses
    /// fill, stops trigger, subscribers see the new quote. Returns the ports it applied to.
    pub fn set_price(&self, symbol: &str, price: f64, port: Option<u16>) -> Result<Vec<u16>, PriceError> {
        let targets: Vec<&Arc<Gateway>> = self.gateways.iter().filter(|g| port.is_none_or(|p| g.port() == p)).collect();
        if targets.is_empty() {
            return Err(PriceError::UnknownPort(port.unwrap_or(0)));
        }
        for gateway in &targets {
            gateway.set_price(symbol, price)?;
        }
        Ok(targets.iter().map(|g| g.port()).collect())
    }

    /// Move every listener's time forward by `by`: fills, execution times, completed orders,
    /// "today" (executions and completed orders since the gateway's midnight) and
    /// reqCurrentTime follow. Stages an outage that spans midnight without waiting for one.
    pub fn advance_clock(&self, by: Duration) {
        for gateway in &self.gateways {
            gateway.advance_clock(by);
        }
    }

    /// The gateway's time on listener `index` (the wall clock plus what was advanced).
    pub fn now(&self, index: usize) -> chrono::DateTime<chrono::Utc> {
        self.gateways[index].now()
    }

    /// Every order received so far, oldest first.
    pub fn orders(&self) -> Vec<OrderLogEntry> {
        self.state().orders
    }

    /// Connected clients (past StartApi), over all listeners.
    pub fn clients(&self) -> Vec<ClientInfo> {
        self.gateways.iter().flat_map(|g| g.clients()).collect()
    }

    /// Serve the HTTP control API on `addr`; returns the bound address.
    pub async fn serve_control(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        control::serve(self.clone(), addr, self.shutdown.child_token()).await
    }

    /// Stop listening and close every connection.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Resolves once [`Simulator::shutdown`] was called.
    pub async fn stopped(&self) {
        self.shutdown.cancelled().await
    }
}

/// `ibkr-supervisor sim …`: serve the listeners and the control API until `shutdown`.
pub async fn run_standalone(
    args: crate::cli::SimArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    if args.listen.len() != args.account.len() {
        eprintln!(
            "error: --listen and --account come in pairs: got {} --listen and {} --account",
            args.listen.len(),
            args.account.len()
        );
        return ExitCode::from(2);
    }
    if args.ibc.len() > args.listen.len() {
        eprintln!(
            "error: --ibc pairs with --listen in order (\"none\" skips one): got {} --ibc for {} --listen",
            args.ibc.len(),
            args.listen.len()
        );
        return ExitCode::from(2);
    }
    let config = SimConfig {
        listeners: args
            .listen
            .iter()
            .zip(&args.account)
            .enumerate()
            .map(|(i, (addr, account))| ListenerConfig {
                addr: *addr,
                account: account.clone(),
                ibc: args.ibc.get(i).and_then(|a| a.0),
            })
            .collect(),
        options: SimOptions {
            fill_delay: Duration::from_millis(args.fill_delay_ms),
            tick_interval: Duration::from_millis(args.tick_interval_ms.max(1)),
            seed: args.seed,
            ibc_restart: Duration::from_millis(args.ibc_restart_ms),
            ..SimOptions::default()
        },
    };
    let sim = match Simulator::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let control = match sim.serve_control(args.control).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: cannot serve the control API on {}: {e}", args.control);
            sim.shutdown();
            return ExitCode::FAILURE;
        }
    };
    for (i, (addr, account)) in sim.addrs().iter().zip(&args.account).enumerate() {
        println!("simulated IB Gateway for {account} on {addr}");
        if let Some(ibc) = sim.ibc_addr(i) {
            println!("  IBC command server for {account} on {ibc}");
        }
    }
    println!("control API on http://{control}/sim/state (POST /sim/fault, POST /sim/price)");
    shutdown.await;
    sim.shutdown();
    ExitCode::SUCCESS
}
