//! The gateway's orders, executions and prices, kept across client connections as a real
//! gateway keeps them, and the order log `GET /sim/state` shows.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::Gateway;
use crate::sim::msg::{self, CommissionReport, Contract, Execution, Order, OrderState, Reply};
use crate::sim::SimOptions;

/// Cap on the order log so a months-long demo cannot grow without bound.
const ORDER_LOG_CAP: usize = 100_000;

/// Status of an order in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderStatusKind {
    PreSubmitted,
    Submitted,
    Filled,
    Cancelled,
}

impl OrderStatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreSubmitted => "PreSubmitted",
            Self::Submitted => "Submitted",
            Self::Filled => "Filled",
            Self::Cancelled => "Cancelled",
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, Self::PreSubmitted | Self::Submitted)
    }
}

/// An order the gateway holds (it outlives the client connection, as on a real gateway).
#[derive(Debug, Clone)]
pub(crate) struct BookOrder {
    pub contract: Contract,
    /// As placed, stamped with the owner's client id, order id and perm id.
    pub order: Order,
    pub status: OrderStatusKind,
    pub filled: f64,
    pub avg_fill_price: f64,
}

impl BookOrder {
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    pub fn client_id(&self) -> i32 {
        self.order.client_id
    }

    pub fn open_order(&self) -> Reply {
        Reply::OpenOrder {
            contract: self.contract.clone(),
            order: Box::new(self.order.clone()),
            state: OrderState { status: self.status.as_str().into(), ..OrderState::default() },
        }
    }

    pub fn order_status(&self) -> Reply {
        let filled = self.filled > 0.0;
        Reply::OrderStatus(msg::OrderStatus {
            order_id: self.order.order_id,
            status: self.status.as_str().into(),
            filled: self.filled,
            remaining: self.order.total_quantity - self.filled,
            avg_fill_price: if filled { self.avg_fill_price } else { 0.0 },
            perm_id: self.order.perm_id,
            parent_id: self.order.parent_id,
            last_fill_price: if filled { self.avg_fill_price } else { 0.0 },
            client_id: self.order.client_id,
            why_held: String::new(),
            mkt_cap_price: 0.0,
        })
    }
}

/// A fill, kept for reqExecutions.
#[derive(Debug, Clone)]
pub(crate) struct ExecRecord {
    pub client_id: i32,
    pub contract: Contract,
    pub execution: Execution,
    pub commission: f64,
}

impl ExecRecord {
    pub fn commission_report(&self) -> Reply {
        Reply::CommissionReport(CommissionReport {
            exec_id: self.execution.exec_id.clone(),
            commission: self.commission,
            currency: "USD".into(),
            realized_pnl: None,
        })
    }
}

/// Every order the gateway received, as shown by `GET /sim/state`.
#[derive(Debug, Clone, Serialize)]
pub struct OrderLogEntry {
    pub order_id: i32,
    pub client_id: i32,
    pub account: String,
    pub port: u16,
    pub symbol: String,
    pub action: String,
    pub quantity: String,
    pub order_type: String,
    pub limit_price: Option<f64>,
    pub received_at: DateTime<Utc>,
    /// What the gateway did with it: accepted, modified, or the rejection reason.
    pub outcome: String,
    /// The order's status in the book now (Submitted, Filled, Cancelled…), if it is booked.
    pub status: Option<&'static str>,
}

pub(crate) struct Book {
    pub orders: HashMap<(i32, i32), BookOrder>,
    pub executions: Vec<ExecRecord>,
    order_log: Vec<OrderLogEntry>,
    order_log_dropped: u64,
    next_order_id: i32,
    next_perm_id: i64,
    next_exec_id: u64,
    prices: HashMap<String, f64>,
    rng: StdRng,
}

impl Book {
    pub fn new(options: &SimOptions, port: u16, seed: u64) -> Self {
        Self {
            orders: HashMap::new(),
            executions: Vec::new(),
            order_log: Vec::new(),
            order_log_dropped: 0,
            next_order_id: options.first_order_id,
            next_perm_id: 1_000_000_000 + i64::from(port) * 1000,
            next_exec_id: 1,
            prices: HashMap::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn note_order_id(&mut self, order_id: i32) {
        self.next_order_id = self.next_order_id.max(order_id.saturating_add(1));
    }

    pub fn new_perm_id(&mut self) -> i64 {
        self.next_perm_id += 1;
        self.next_perm_id
    }
}

impl Gateway {
    pub(crate) fn log_order(&self, entry: OrderLogEntry) {
        let mut inner = self.lock();
        let book = &mut inner.book;
        if book.order_log.len() >= ORDER_LOG_CAP {
            book.order_log.remove(0);
            book.order_log_dropped += 1;
        }
        book.order_log.push(entry);
    }

    /// The order log with each order's current status.
    pub fn order_log(&self) -> (Vec<OrderLogEntry>, u64) {
        let inner = self.lock();
        let book = &inner.book;
        let log = book
            .order_log
            .iter()
            .map(|entry| OrderLogEntry {
                status: book.orders.get(&(entry.client_id, entry.order_id)).map(|o| o.status.as_str()),
                ..entry.clone()
            })
            .collect();
        (log, book.order_log_dropped)
    }

    /// The next order id a client may use (NextValidId).
    pub(crate) fn next_valid_id(&self) -> i32 {
        self.lock().book.next_order_id
    }

    /// Current price of `symbol`, moved one random-walk step (±0.05 %), rounded to the cent.
    pub(crate) fn step_price(&self, symbol: &str) -> f64 {
        let mut inner = self.lock();
        let book = &mut inner.book;
        let step: f64 = book.rng.random_range(-0.0005..=0.0005);
        let start = start_price(symbol);
        let price = book.prices.entry(symbol.to_owned()).or_insert(start);
        *price = (*price * (1.0 + step)).max(0.01);
        (*price * 100.0).round() / 100.0
    }

    pub(crate) fn random_size(&self) -> u32 {
        self.lock().book.rng.random_range(1..=20) * 100
    }

    /// Fill an accepted order after the configured delay (and once upstream is up).
    pub(crate) fn schedule_fill(self: &Arc<Self>, client_id: i32, order_id: i32) {
        let gateway = Arc::clone(self);
        let mut conditions = self.conditions();
        let delay = self.options.fill_delay;
        tokio::spawn(async move {
            tokio::select! {
                _ = gateway.shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            tokio::select! {
                _ = gateway.shutdown.cancelled() => return,
                _ = conditions.wait_for(|c| !c.upstream_lost) => {}
            }
            gateway.fill(client_id, order_id);
        });
    }

    fn fill(&self, client_id: i32, order_id: i32) {
        let symbol = {
            let inner = self.lock();
            match inner.book.orders.get(&(client_id, order_id)) {
                Some(o) if o.status == OrderStatusKind::Submitted => o.contract.symbol.clone(),
                _ => return, // cancelled or modified into something else meanwhile
            }
        };
        let market = self.step_price(&symbol);
        let replies = {
            let mut inner = self.lock();
            let book = &mut inner.book;
            let exec_seq = book.next_exec_id;
            book.next_exec_id += 1;
            let Some(order) = book.orders.get_mut(&(client_id, order_id)) else { return };
            let price = match order.order.order_type.as_str() {
                "LMT" => order.order.lmt_price.unwrap_or(market),
                _ => market,
            };
            order.status = OrderStatusKind::Filled;
            order.filled = order.order.total_quantity;
            order.avg_fill_price = price;
            let order = order.clone();
            let quantity = order.order.total_quantity;
            let execution = Execution {
                order_id,
                exec_id: format!("0000e0d5.{exec_seq:08x}.01.01"),
                time: Utc::now().format("%Y%m%d %H:%M:%S UTC").to_string(),
                acct_number: if order.order.account.is_empty() {
                    self.account.clone()
                } else {
                    order.order.account.clone()
                },
                exchange: "ISLAND".into(),
                side: if order.order.action == "BUY" { "BOT" } else { "SLD" }.into(),
                shares: quantity,
                price,
                perm_id: order.order.perm_id,
                client_id,
                cum_qty: quantity,
                avg_price: price,
                order_ref: order.order.order_ref.clone(),
                last_liquidity: 2,
                ..Execution::default()
            };
            let record = ExecRecord {
                client_id,
                contract: order.contract.clone(),
                execution: execution.clone(),
                commission: (quantity * 0.005).max(1.0),
            };
            let commission = record.commission_report();
            book.executions.push(record);
            vec![
                Reply::ExecutionData { req_id: -1, contract: order.contract.clone(), execution },
                order.open_order(),
                order.order_status(),
                commission,
            ]
        };
        tracing::debug!(port = self.port(), client_id, order_id, "sim order filled");
        if let Some(outbox) = self.outbox_of(client_id) {
            for reply in &replies {
                outbox.send(reply);
            }
        }
    }
}

/// A start price derived from the symbol so every run quotes the same neighbourhood.
fn start_price(symbol: &str) -> f64 {
    let h = symbol.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    50.0 + f64::from(h % 45_000) / 100.0
}
