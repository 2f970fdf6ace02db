//! One client connection to a simulated gateway: handshake, StartApi, then requests.
//!
//! A session is two tasks: this one reads frames and answers them; a writer task owns the
//! write half and delivers frames in order, obeying `hang` (write nothing) and `latency`
//! (each frame leaves `latency` after it was queued). Faults reach the session as
//! [`SessionControl`] messages; how it closes decides what the client sees:
//! FIN (write half shut, input drained), RST (linger 0), or FIN after a final frame (326).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::gateway::{
    commission_report, error_frame, format_qty, notice, open_order_frame, order_status_frame, BookOrder, Conditions,
    Gateway, OrderLogEntry, OrderStatusKind,
};
use super::proto::{self, incoming, outgoing};
use super::wire::{encode_proto, handshake_reply, Frame, FrameReader};

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
}

enum Outgoing {
    Frame(Vec<u8>, Instant),
    /// Stop after everything queued before it was written.
    Finish,
}

/// The queue of frames to one client; cheap to clone.
#[derive(Clone)]
pub(crate) struct Outbox(mpsc::UnboundedSender<Outgoing>);

impl Outbox {
    pub fn send(&self, frame: Vec<u8>) {
        let _ = self.0.send(Outgoing::Frame(frame, Instant::now()));
    }

    fn finish(&self) {
        let _ = self.0.send(Outgoing::Finish);
    }
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
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(write, out_rx, stop_rx, gateway.conditions()));
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let id = gateway.register_session(peer, control_tx);
    let mut session = Session {
        conditions: gateway.conditions(),
        gateway: Arc::clone(&gateway),
        id,
        peer,
        client_id: None,
        outbox: Outbox(out_tx),
        control: control_rx,
        market_data: HashMap::new(),
    };
    let mut reader = FrameReader::new(read);
    let end = session.serve(&mut reader).await;
    session.stop_market_data();
    gateway.unregister_session(id);
    tracing::debug!(port = gateway.port(), %peer, client_id = ?session.client_id, "sim session closing");
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

async fn write_loop(
    mut write: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    mut stop: oneshot::Receiver<()>,
    mut conditions: watch::Receiver<Conditions>,
) -> OwnedWriteHalf {
    loop {
        let item = tokio::select! {
            biased;
            _ = &mut stop => return write,
            item = queue.recv() => item,
        };
        let Some(Outgoing::Frame(frame, queued_at)) = item else { return write };
        let written = tokio::select! {
            biased;
            _ = &mut stop => return write,
            r = deliver(&mut write, &frame, queued_at, &mut conditions) => r,
        };
        if written.is_err() {
            // The peer is gone; the reader sees it too and decides how to close.
            let _ = stop.await;
            return write;
        }
    }
}

async fn deliver(
    write: &mut OwnedWriteHalf,
    frame: &[u8],
    queued_at: Instant,
    conditions: &mut watch::Receiver<Conditions>,
) -> std::io::Result<()> {
    loop {
        if conditions.borrow_and_update().hang {
            if conditions.wait_for(|c| !c.hang).await.is_err() {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            continue;
        }
        let latency = conditions.borrow().latency;
        if !latency.is_zero() {
            tokio::time::sleep_until(queued_at + latency).await;
            if conditions.borrow().hang {
                continue;
            }
        }
        return write.write_all(frame).await;
    }
}

struct Session {
    gateway: Arc<Gateway>,
    conditions: watch::Receiver<Conditions>,
    id: u64,
    peer: SocketAddr,
    client_id: Option<i32>,
    outbox: Outbox,
    control: mpsc::UnboundedReceiver<SessionControl>,
    market_data: HashMap<i32, AbortHandle>,
}

impl Session {
    async fn serve(&mut self, reader: &mut FrameReader<OwnedReadHalf>) -> End {
        match self.handshake(reader).await {
            Ok(()) => {}
            Err(end) => return end,
        }
        loop {
            match self.next_frame(reader).await {
                Ok(frame) => self.handle(frame),
                Err(end) => return end,
            }
        }
    }

    /// Prefix, version reply, StartApi, then the session-start messages.
    async fn handshake(&mut self, reader: &mut FrameReader<OwnedReadHalf>) -> Result<(), End> {
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
        let Some(version) = versions.negotiate(self.gateway.options.server_version) else {
            // TWS closes the socket when it cannot serve the client's range.
            tracing::warn!(
                port = self.gateway.port(), peer = %self.peer, client_min = versions.min, client_max = versions.max,
                "sim: client version range not supported (213..226), closing"
            );
            return Err(End::Fin);
        };
        let connection_time = format!("{} {}", Utc::now().format("%Y%m%d %H:%M:%S"), self.gateway.options.time_zone);
        self.outbox.send(handshake_reply(version, &connection_time));

        // Nothing more until StartApi (the Python client drops bytes that arrive early).
        let client_id = loop {
            match self.next_frame(reader).await? {
                Frame::Proto { id: outgoing::START_API, payload } => {
                    match proto::StartApiRequest::decode(payload.as_slice()) {
                        Ok(req) => break req.client_id.unwrap_or(0),
                        Err(e) => self.outbox.send(error_frame(-1, 320, &read_error(outgoing::START_API, &e))),
                    }
                }
                Frame::Text { id: outgoing::START_API, fields } => {
                    // Legacy text StartApi: VERSION, clientId, optionalCapabilities.
                    break fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0);
                }
                other => tracing::warn!(
                    port = self.gateway.port(),
                    msg_id = other.id(),
                    "sim: request before StartApi ignored"
                ),
            }
        };
        if self.gateway.claim_client_id(self.id, client_id, self.outbox.clone()).is_err() {
            tracing::info!(port = self.gateway.port(), client_id, "sim: client id in use, refusing (326)");
            self.outbox.send(notice(
                326,
                "Unable to connect as the client id is already in use. Retry with a unique client id.",
            ));
            return Err(End::FinAfterFlush);
        }
        self.client_id = Some(client_id);
        tracing::info!(port = self.gateway.port(), peer = %self.peer, client_id, version, "sim: client connected");
        self.send(
            incoming::MANAGED_ACCOUNTS,
            &proto::ManagedAccounts { accounts_list: Some(self.gateway.account.clone()) },
        );
        self.send(incoming::NEXT_VALID_ID, &proto::NextValidId { order_id: Some(self.gateway.next_valid_id()) });
        for (code, text) in [
            (2104, "Market data farm connection is OK:usfarm"),
            (2106, "HMDS data farm connection is OK:ushmds"),
            (2158, "Sec-def data farm connection is OK:secdefnj"),
        ] {
            self.outbox.send(notice(code, text));
        }
        if self.conditions.borrow().upstream_lost {
            self.outbox.send(notice(1100, "Connectivity between IB and Trader Workstation has been lost."));
        }
        Ok(())
    }

    /// The next frame, while obeying faults: no reading while hung.
    async fn next_frame(&mut self, reader: &mut FrameReader<OwnedReadHalf>) -> Result<Frame, End> {
        loop {
            self.wait_until(|c| !c.hang).await?;
            tokio::select! {
                biased;
                _ = self.gateway.shutdown.cancelled() => return Err(End::Fin),
                control = self.control.recv() => self.on_control(control)?,
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

    /// Wait until `ok(conditions)`, still obeying close commands.
    async fn wait_until(&mut self, ok: impl Fn(&Conditions) -> bool) -> Result<(), End> {
        while !ok(&self.conditions.borrow_and_update()) {
            tokio::select! {
                biased;
                _ = self.gateway.shutdown.cancelled() => return Err(End::Fin),
                control = self.control.recv() => self.on_control(control)?,
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
                self.stop_market_data();
                Ok(())
            }
        }
    }

    fn stop_market_data(&mut self) {
        for (_, task) in self.market_data.drain() {
            task.abort();
            self.gateway.subscriptions_changed(-1);
        }
    }

    fn send<M: Message>(&self, id: i32, message: &M) {
        self.outbox.send(encode_proto(id, message));
    }

    fn client_id(&self) -> i32 {
        self.client_id.unwrap_or(0)
    }

    // ---- requests ---------------------------------------------------------------------

    fn handle(&mut self, frame: Frame) {
        let (id, payload) = match frame {
            Frame::Proto { id, payload } => (id, payload),
            Frame::Text { id, .. } => {
                tracing::warn!(port = self.gateway.port(), msg_id = id, "sim: text-encoded request not supported");
                self.outbox.send(error_frame(-1, 321, &unsupported(id)));
                return;
            }
        };
        let result = match id {
            outgoing::REQ_CURRENT_TIME => decode::<proto::Empty>(&payload).map(|_| {
                self.send(incoming::CURRENT_TIME, &proto::CurrentTime { current_time: Some(Utc::now().timestamp()) })
            }),
            outgoing::REQ_CURRENT_TIME_IN_MILLIS => decode::<proto::Empty>(&payload).map(|_| {
                self.send(
                    incoming::CURRENT_TIME_IN_MILLIS,
                    &proto::CurrentTimeInMillis { current_time_in_millis: Some(Utc::now().timestamp_millis()) },
                )
            }),
            outgoing::REQ_IDS => decode::<proto::IdsRequest>(&payload).map(|_| {
                self.send(incoming::NEXT_VALID_ID, &proto::NextValidId { order_id: Some(self.gateway.next_valid_id()) })
            }),
            outgoing::REQ_MANAGED_ACCTS => decode::<proto::Empty>(&payload).map(|_| {
                self.send(
                    incoming::MANAGED_ACCOUNTS,
                    &proto::ManagedAccounts { accounts_list: Some(self.gateway.account.clone()) },
                )
            }),
            outgoing::REQ_MARKET_DATA_TYPE => decode::<proto::MarketDataTypeRequest>(&payload).map(|_| ()),
            outgoing::REQ_AUTO_OPEN_ORDERS => Ok(()),
            outgoing::REQ_MKT_DATA => decode(&payload).map(|req| self.start_market_data(req)),
            outgoing::CANCEL_MKT_DATA => decode::<proto::CancelMarketData>(&payload).map(|req| {
                let req_id = req.req_id.unwrap_or(0);
                match self.market_data.remove(&req_id) {
                    Some(task) => {
                        task.abort();
                        self.gateway.subscriptions_changed(-1);
                    }
                    None => {
                        self.outbox.send(error_frame(req_id, 300, &format!("Can't find EId with tickerId:{req_id}")))
                    }
                }
            }),
            outgoing::PLACE_ORDER => decode(&payload).map(|req| self.place_order(req)),
            outgoing::CANCEL_ORDER => {
                decode::<proto::CancelOrderRequest>(&payload).map(|req| self.cancel_order(req.order_id.unwrap_or(0)))
            }
            outgoing::REQ_GLOBAL_CANCEL => decode::<proto::GlobalCancelRequest>(&payload).map(|_| self.global_cancel()),
            outgoing::REQ_OPEN_ORDERS => {
                self.open_orders(false);
                Ok(())
            }
            outgoing::REQ_ALL_OPEN_ORDERS => {
                self.open_orders(true);
                Ok(())
            }
            outgoing::REQ_EXECUTIONS => decode(&payload).map(|req| self.executions(req)),
            outgoing::START_API => {
                tracing::warn!(port = self.gateway.port(), "sim: second StartApi ignored");
                Ok(())
            }
            other => {
                // Answer on the request's own id when it has one, so the client's request
                // ends with an error instead of waiting forever.
                let req_id = leading_int32(&payload).unwrap_or(-1);
                tracing::warn!(port = self.gateway.port(), msg_id = other, req_id, "sim: unsupported request");
                self.outbox.send(error_frame(req_id, 321, &unsupported(other)));
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(port = self.gateway.port(), msg_id = id, error = %e, "sim: undecodable request");
            self.outbox.send(error_frame(-1, 320, &read_error(id, &e)));
        }
    }

    fn start_market_data(&mut self, req: proto::MarketDataRequest) {
        self.gateway.count_market_data_request();
        let req_id = req.req_id.unwrap_or(0);
        let contract = req.contract.unwrap_or_default();
        if self.market_data.contains_key(&req_id) {
            self.outbox.send(error_frame(req_id, 322, "Error processing request.-'bW' : cause - Duplicate ticker id"));
            return;
        }
        if !has_security(&contract) {
            self.outbox.send(error_frame(req_id, 200, "No security definition has been found for the request"));
            return;
        }
        let symbol = contract.symbol.clone().unwrap_or_else(|| format!("CONID{}", contract.con_id.unwrap_or(0)));
        self.send(
            incoming::MARKET_DATA_TYPE,
            &proto::MarketDataType { req_id: Some(req_id), market_data_type: Some(1) },
        );
        self.send(
            incoming::TICK_REQ_PARAMS,
            &proto::TickReqParams {
                req_id: Some(req_id),
                min_tick: Some("0.01".into()),
                bbo_exchange: Some("9c0001".into()),
                snapshot_permissions: Some(3),
            },
        );
        let mut ticker =
            Ticker { gateway: Arc::clone(&self.gateway), outbox: self.outbox.clone(), req_id, symbol, volume: 0 };
        if req.snapshot.unwrap_or(false) {
            ticker.emit();
            self.send(incoming::TICK_SNAPSHOT_END, &proto::TickSnapshotEnd { req_id: Some(req_id) });
            return;
        }
        let conditions = self.conditions.clone();
        let interval = self.gateway.options.tick_interval;
        let task = tokio::spawn(async move {
            let mut clock = tokio::time::interval(interval);
            clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                clock.tick().await;
                let c = conditions.borrow().clone();
                if !c.upstream_lost && !c.hang {
                    ticker.emit();
                }
            }
        });
        self.market_data.insert(req_id, task.abort_handle());
        self.gateway.subscriptions_changed(1);
    }

    fn place_order(&mut self, req: proto::PlaceOrderRequest) {
        let client_id = self.client_id();
        let order_id = req.order_id.unwrap_or(0);
        let contract = req.contract.unwrap_or_default();
        let order = req.order.unwrap_or_default();
        let quantity_text = order.total_quantity.clone().unwrap_or_default();
        let mut entry = OrderLogEntry {
            order_id,
            client_id,
            account: order.account.clone().filter(|a| !a.is_empty()).unwrap_or_else(|| self.gateway.account.clone()),
            port: self.gateway.port(),
            symbol: contract.symbol.clone().unwrap_or_default(),
            action: order.action.clone().unwrap_or_default(),
            quantity: quantity_text.clone(),
            order_type: order.order_type.clone().unwrap_or_default(),
            limit_price: order.lmt_price,
            received_at: Utc::now(),
            outcome: String::new(),
            status: None,
        };
        let quantity: f64 = quantity_text.parse().unwrap_or(0.0);
        let rejection = if order_id <= 0 {
            Some((321, format!("Error validating request.-'bO' : cause - Invalid order id {order_id}")))
        } else if !has_security(&contract) {
            Some((200, "No security definition has been found for the request".to_owned()))
        } else if !matches!(order.action.as_deref(), Some("BUY" | "SELL" | "SSHORT" | "SLONG")) {
            Some((201, format!("Order rejected - reason:Invalid action {:?}", entry.action)))
        } else if !(quantity > 0.0 && quantity.is_finite()) {
            Some((201, format!("Order rejected - reason:The order quantity {:?} is not positive", quantity_text)))
        } else if order.order_type.as_deref() == Some("LMT")
            && !order.lmt_price.is_some_and(|p| p > 0.0 && p < f64::MAX)
        {
            Some((201, "Order rejected - reason:A limit order needs a positive limit price".to_owned()))
        } else {
            None
        };
        if let Some((code, reason)) = rejection {
            entry.outcome = format!("rejected ({code}): {reason}");
            self.gateway.log_order(entry);
            self.outbox.send(error_frame(order_id, code, &reason));
            return;
        }

        let what_if = order.what_if.unwrap_or(false);
        let transmit = order.transmit.unwrap_or(false);
        let (frames, fill) = {
            let mut inner = self.gateway.lock();
            let key = (client_id, order_id);
            let existing = inner.orders.get(&key).map(|o| (o.is_open(), o.status));
            match existing {
                Some((false, status)) => {
                    entry.outcome = format!("rejected (103): duplicate order id, order is {}", status.as_str());
                    drop(inner);
                    self.gateway.log_order(entry);
                    self.outbox.send(error_frame(order_id, 103, "Duplicate order id"));
                    return;
                }
                Some((true, _)) => entry.outcome = "modified".into(),
                None if what_if => entry.outcome = "what-if".into(),
                None => entry.outcome = "accepted".into(),
            }
            Gateway::note_order_id(&mut inner, order_id);
            let perm_id = match inner.orders.get(&key) {
                Some(o) => o.perm_id,
                None => Gateway::new_perm_id(&mut inner),
            };
            let status = if transmit && !what_if { OrderStatusKind::Submitted } else { OrderStatusKind::PreSubmitted };
            let book_order = BookOrder {
                client_id,
                order_id,
                perm_id,
                contract,
                order,
                quantity,
                status,
                filled: 0.0,
                avg_fill_price: 0.0,
            };
            let mut frames = vec![open_order_frame(&book_order, &self.gateway)];
            if !what_if {
                frames.push(order_status_frame(&book_order));
                inner.orders.insert(key, book_order);
            }
            (frames, status == OrderStatusKind::Submitted && existing.is_none())
        };
        self.gateway.log_order(entry);
        for frame in frames {
            self.outbox.send(frame);
        }
        if fill {
            self.gateway.schedule_fill(client_id, order_id);
        }
    }

    fn cancel_order(&mut self, order_id: i32) {
        let client_id = self.client_id();
        let frames = {
            let mut inner = self.gateway.lock();
            match inner.orders.get_mut(&(client_id, order_id)) {
                Some(order) if order.is_open() => {
                    order.status = OrderStatusKind::Cancelled;
                    vec![order_status_frame(order), error_frame(order_id, 202, "Order Canceled - reason:")]
                }
                Some(order) => vec![error_frame(
                    order_id,
                    10148,
                    &format!(
                        "OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {}.",
                        order.status.as_str()
                    ),
                )],
                None => vec![error_frame(
                    order_id,
                    10147,
                    &format!("OrderId {order_id} that needs to be cancelled is not found."),
                )],
            }
        };
        for frame in frames {
            self.outbox.send(frame);
        }
    }

    fn global_cancel(&mut self) {
        let cancelled: Vec<(i32, Vec<u8>, Vec<u8>)> = {
            let mut inner = self.gateway.lock();
            inner
                .orders
                .values_mut()
                .filter(|o| o.is_open())
                .map(|order| {
                    order.status = OrderStatusKind::Cancelled;
                    let id = order.order_id;
                    (order.client_id, order_status_frame(order), error_frame(id, 202, "Order Canceled - reason:"))
                })
                .collect()
        };
        for (client_id, status, notice) in cancelled {
            if let Some(outbox) = self.gateway.outbox_of(client_id) {
                outbox.send(status);
                outbox.send(notice);
            }
        }
    }

    fn open_orders(&mut self, all_clients: bool) {
        let client_id = self.client_id();
        let frames: Vec<Vec<u8>> = {
            let inner = self.gateway.lock();
            let mut open: Vec<&BookOrder> =
                inner.orders.values().filter(|o| o.is_open() && (all_clients || o.client_id == client_id)).collect();
            open.sort_by_key(|o| (o.client_id, o.order_id));
            open.into_iter().flat_map(|o| [open_order_frame(o, &self.gateway), order_status_frame(o)]).collect()
        };
        for frame in frames {
            self.outbox.send(frame);
        }
        self.send(incoming::OPEN_ORDER_END, &proto::OpenOrdersEnd {});
    }

    fn executions(&mut self, req: proto::ExecutionRequest) {
        let req_id = req.req_id.unwrap_or(-1);
        let filter = req.execution_filter.unwrap_or_default();
        let wanted = |value: &Option<String>, actual: Option<&str>| match value.as_deref() {
            None | Some("") => true,
            Some(v) => actual.is_some_and(|a| a.eq_ignore_ascii_case(v)),
        };
        let frames: Vec<Vec<u8>> = {
            let inner = self.gateway.lock();
            inner
                .executions
                .iter()
                .filter(|e| filter.client_id.is_none_or(|id| id == 0 || id == e.client_id))
                .filter(|e| wanted(&filter.acct_code, e.execution.acct_number.as_deref()))
                .filter(|e| wanted(&filter.symbol, e.contract.symbol.as_deref()))
                .filter(|e| wanted(&filter.sec_type, e.contract.sec_type.as_deref()))
                .filter(|e| wanted(&filter.side.as_deref().map(execution_side), e.execution.side.as_deref()))
                .flat_map(|e| {
                    let exec_id = e.execution.exec_id.clone().unwrap_or_default();
                    [
                        encode_proto(
                            incoming::EXECUTION_DATA,
                            &proto::ExecutionDetails {
                                req_id: Some(req_id),
                                contract: Some(e.contract.clone()),
                                execution: Some(e.execution.clone()),
                            },
                        ),
                        encode_proto(incoming::COMMISSION_REPORT, &commission_report(&exec_id, e.commission)),
                    ]
                })
                .collect()
        };
        for frame in frames {
            self.outbox.send(frame);
        }
        self.send(incoming::EXECUTION_DATA_END, &proto::ExecutionDetailsEnd { req_id: Some(req_id) });
    }
}

/// Emits one round of quotes for a market-data subscription.
struct Ticker {
    gateway: Arc<Gateway>,
    outbox: Outbox,
    req_id: i32,
    symbol: String,
    volume: u64,
}

impl Ticker {
    fn emit(&mut self) {
        let last = self.gateway.step_price(&self.symbol);
        let quotes = [(1, last - 0.01), (2, last + 0.01), (4, last)];
        for (tick_type, price) in quotes {
            let size = self.gateway.random_size();
            if tick_type == 4 {
                self.volume += u64::from(size);
            }
            self.outbox.send(encode_proto(
                incoming::TICK_PRICE,
                &proto::TickPrice {
                    req_id: Some(self.req_id),
                    tick_type: Some(tick_type),
                    price: Some((price * 100.0).round() / 100.0),
                    size: Some(size.to_string()),
                    attr_mask: Some(0),
                },
            ));
        }
        self.outbox.send(encode_proto(
            incoming::TICK_SIZE,
            &proto::TickSize {
                req_id: Some(self.req_id),
                tick_type: Some(8),
                size: Some(format_qty(self.volume as f64)),
            },
        ));
    }
}

/// An execution filter's side (`BUY`/`SELL`) as executions spell it (`BOT`/`SLD`).
fn execution_side(side: &str) -> String {
    match side.to_ascii_uppercase().as_str() {
        "BUY" => "BOT".to_owned(),
        "SELL" | "SSHORT" => "SLD".to_owned(),
        other => other.to_owned(),
    }
}

fn decode<M: Message + Default>(payload: &[u8]) -> Result<M, prost::DecodeError> {
    M::decode(payload)
}

fn has_security(contract: &proto::Contract) -> bool {
    contract.symbol.as_deref().is_some_and(|s| !s.is_empty())
        || contract.local_symbol.as_deref().is_some_and(|s| !s.is_empty())
        || contract.con_id.is_some_and(|id| id > 0)
}

/// Field 1 of a protobuf payload when it is a varint (most requests carry their id there).
fn leading_int32(payload: &[u8]) -> Option<i32> {
    if payload.first() != Some(&0x08) {
        return None;
    }
    let mut buf = &payload[1..];
    prost::encoding::decode_varint(&mut buf).ok().map(|v| v as i32)
}

fn read_error(msg_id: i32, e: &prost::DecodeError) -> String {
    format!("Error reading request. Message id {msg_id}. Unable to parse data. {e}")
}

fn unsupported(msg_id: i32) -> String {
    format!("Error validating request.-'a0' : cause - API message id {msg_id} is not supported by this gateway")
}
