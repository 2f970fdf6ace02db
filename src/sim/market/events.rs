//! What the market tells clients about orders, and which clients a real gateway tells.
//!
//! Facts implemented (IBKR Campus "ClientId 0 and the Master Client ID"): "Connecting without
//! using the Master Client ID will mean only trades on the connected Client ID will be
//! returning from calls to the openOrder or execDetails functions"; client 0 "can receive
//! trades made through Trader Workstation … in addition to trades that take place on the
//! current client ID"; "To receive commissions reports for all clients it is necessary to
//! connect as the Master Client ID". So an order's orderStatus / openOrder / execDetails /
//! commissionReport go to the client that placed it (client 0 for orders entered in TWS, and
//! for orders bound to it), and to the master client id.

use serde::Serialize;

use super::orders::{Order, OrderOrigin};

/// Who receives an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EventKind {
    /// The order changed: send openOrder and orderStatus from this snapshot.
    Status(Box<Order>),
    Execution(Box<super::executions::Execution>),
    Commission(super::executions::CommissionReport),
    /// An error/notice on the order id (202 when cancelled).
    Notice {
        code: i32,
        message: String,
    },
    /// orderBound: a TWS order now has API client `client_id` / order `order_id`.
    Bound,
}

/// What happened to an order, for its owner (and whoever else sees it: [`Self::recipients`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketEvent {
    pub account: String,
    pub client_id: i32,
    pub order_id: i32,
    pub perm_id: i64,
    pub origin: OrderOrigin,
    pub kind: EventKind,
}

impl MarketEvent {
    pub fn of(order: &Order, kind: EventKind) -> Self {
        Self {
            account: order.account.clone(),
            client_id: order.client_id,
            order_id: order.order_id,
            perm_id: order.perm_id,
            origin: order.origin,
            kind,
        }
    }

    pub fn status(order: &Order) -> Self {
        Self::of(order, EventKind::Status(Box::new(order.clone())))
    }

    /// The client ids a real gateway sends this event to: the owner (client 0 for TWS
    /// orders) and the master client id (IBKR Campus "ClientId 0 and the Master Client ID").
    pub fn recipients(&self, master_client_id: Option<i32>) -> Vec<i32> {
        let owner = if self.origin == OrderOrigin::Tws { 0 } else { self.client_id };
        let mut out = vec![owner];
        if let Some(m) = master_client_id.filter(|m| *m != owner) {
            out.push(m);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::sim::market::book::OrderBook;
    use crate::sim::market::instruments::{ContractQuery, InstrumentTable};
    use crate::sim::market::orders::{validate, OrderRequest};

    #[test]
    fn recipients_are_the_owner_or_client_zero_and_the_master() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 1, 14, 16, 0, 0).unwrap();
        let aapl = InstrumentTable::new().by_name("AAPL", now).unwrap();
        let req = OrderRequest::new(7, 1, ContractQuery::stock("AAPL"), "BUY", 1.0, "MKT");
        let mut book = OrderBook::default();
        let api = book.place("DU1", &req, aapl.clone(), validate(&req, &aapl).unwrap(), 1, now).unwrap().remove(0);
        assert_eq!(api.recipients(None), [7]);
        assert_eq!(api.recipients(Some(3)), [7, 3]);
        assert_eq!(api.recipients(Some(7)), [7], "the master owning the order gets it once");
        let tws = book.place_tws("DU1", aapl.clone(), validate(&req, &aapl).unwrap(), 2, now).remove(0);
        assert_eq!((tws.client_id, tws.recipients(None), tws.recipients(Some(0))), (0, vec![0], vec![0]));
        assert!(matches!(tws.kind, EventKind::Status(ref o) if o.origin == OrderOrigin::Tws));
    }
}
