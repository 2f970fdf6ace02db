//! Every order the gateway received and what it did with it, as `GET /sim/state` shows.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Gateway;

/// Cap on the order log so a months-long demo cannot grow without bound.
const ORDER_LOG_CAP: usize = 100_000;

/// One received order.
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
    /// What the gateway did with it: accepted, modified, what-if, or the rejection reason.
    pub outcome: String,
    /// The order's status in the book now (Submitted, Filled, Cancelled…), if it is booked.
    pub status: Option<&'static str>,
}

#[derive(Default)]
pub(crate) struct OrderLog {
    entries: std::collections::VecDeque<OrderLogEntry>,
    dropped: u64,
}

impl Gateway {
    pub(crate) fn log_order(&self, entry: OrderLogEntry) {
        let mut inner = self.lock();
        let log = &mut inner.order_log;
        if log.entries.len() >= ORDER_LOG_CAP {
            log.entries.pop_front();
            log.dropped += 1;
        }
        log.entries.push_back(entry);
    }

    /// The order log with each order's current status in the book.
    pub fn order_log(&self) -> (Vec<OrderLogEntry>, u64) {
        let (entries, dropped): (Vec<OrderLogEntry>, u64) = {
            let inner = self.lock();
            (inner.order_log.entries.iter().cloned().collect(), inner.order_log.dropped)
        };
        let market = self.market();
        let log = entries
            .into_iter()
            .map(|entry| {
                let status =
                    market.find_order(&entry.account, entry.client_id, entry.order_id).map(|o| o.status.as_str());
                OrderLogEntry { status, ..entry }
            })
            .collect();
        (log, dropped)
    }
}
