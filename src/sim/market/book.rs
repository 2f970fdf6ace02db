//! One account's order book: placing, modifying and cancelling orders, and which client
//! sees which.
//!
//! Facts implemented (sources):
//! - Order ids: a new order's id must exceed every id this client used before, else 103
//!   "Duplicate order id" (error table: "order ID that is less than or equal to the order ID of
//!   a previous order from this client"); placing the id of an open order modifies it; of a
//!   filled order: 104; changing the contract or side: 105; a price off the tick grid: 110;
//!   an order type the market does not run: 387.
//! - Cancel: 10147 "OrderId N that needs to be cancelled is not found." for an id this client
//!   does not hold; 10148 "… cannot be cancelled, state: S." for a finished order; a
//!   cancellation is confirmed with orderStatus Cancelled and error 202 "Order Canceled -
//!   reason:". 161 (cancel while not in a cancellable state, e.g. pending cancel) is not
//!   produced: the simulated market confirms cancels at once.
//! - Binding: only client 0 takes over TWS (manual) orders, via reqOpenOrders (binds the open
//!   ones) or reqAutoOpenOrders(true) (binds new ones); bound orders get negative order ids
//!   ("Use negative numbers to bind automatic orders", TWS API settings, on by default) and an
//!   orderBound(permId, clientId, orderId) (IBKR Campus "Order Binding Notification").
//! - reqOpenOrders: "all active orders submitted by the client application connected with the
//!   exact same client Id"; for client 0 it binds open TWS orders; reqAllOpenOrders: "all
//!   current open orders in associated accounts", no binding; reqAutoOpenOrders "Can only be
//!   used with client ID 0" (IBKR Campus "Requesting Currently Active Orders"). The master
//!   client id sees every API client's orders.
//! - Cancellations record completedStatus "Cancelled by Trader" (as ib_insync logs of TWS
//!   show for user cancels) and, for system cancels (DAY expiry, IOC remainder, OCA),
//!   "Cancelled by System" (TWS's wording for those is not documented).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::error::{MarketError, ORDER_CANCELLED};
use super::events::{EventKind, MarketEvent};
use super::instruments::{ContractQuery, Instrument};
use super::orders::{day_expiry, Order, OrderOrigin, OrderRequest, OrderStatus, Terms, Tif};

/// Finished orders kept per account, at most (7 days of them otherwise).
pub const COMPLETED_CAP: usize = 20_000;

/// Which orders reqOpenOrders-style requests return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenScope {
    /// reqOpenOrders: this client's (client 0: and TWS orders, which it binds; the master
    /// client: every API client's).
    Client,
    /// reqAllOpenOrders: every open order, no binding.
    All,
}

/// One account's orders.
#[derive(Debug, Clone, Default)]
pub struct OrderBook {
    orders: BTreeMap<i64, Order>,
    by_id: HashMap<(i32, i32), i64>,
    high_water: HashMap<i32, i32>,
    auto_bind: bool,
    last_bound_id: i32,
}

fn cancelled(order: &mut Order, now: DateTime<Utc>, by: &str) -> Vec<MarketEvent> {
    order.status =
        if order.status == OrderStatus::Inactive { OrderStatus::ApiCancelled } else { OrderStatus::Cancelled };
    order.completed_at = Some(now);
    order.completed_status = by.to_owned();
    vec![
        MarketEvent::status(order),
        MarketEvent::of(order, EventKind::Notice { code: ORDER_CANCELLED.0, message: ORDER_CANCELLED.1.to_owned() }),
    ]
}

impl OrderBook {
    pub fn get(&self, perm_id: i64) -> Option<&Order> {
        self.orders.get(&perm_id)
    }

    pub fn get_mut(&mut self, perm_id: i64) -> Option<&mut Order> {
        self.orders.get_mut(&perm_id)
    }

    /// The order `client_id` knows as `order_id`.
    pub fn find(&self, client_id: i32, order_id: i32) -> Option<&Order> {
        self.by_id.get(&(client_id, order_id)).and_then(|p| self.orders.get(p))
    }

    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Perm ids of open orders, oldest first.
    pub fn open_perm_ids(&self) -> Vec<i64> {
        self.orders.values().filter(|o| o.is_open()).map(|o| o.perm_id).collect()
    }

    fn initial_status(&self, order: &Order) -> OrderStatus {
        if !order.transmit {
            OrderStatus::Inactive
        } else if self.parent_pending(order) || (order.order_type.is_stop() && !order.triggered) {
            OrderStatus::PreSubmitted
        } else {
            OrderStatus::Submitted
        }
    }

    /// Whether `order` waits for a parent that has not filled.
    pub fn parent_pending(&self, order: &Order) -> bool {
        order.parent_id != 0
            && self.find(order.client_id, order.parent_id).is_some_and(|p| p.status != OrderStatus::Filled)
    }

    /// Open orders sharing `order`'s parent (its bracket siblings), `order` excluded.
    pub fn siblings(&self, order: &Order) -> Vec<i64> {
        if order.parent_id == 0 {
            return Vec::new();
        }
        self.orders
            .values()
            .filter(|o| {
                o.is_open()
                    && o.perm_id != order.perm_id
                    && o.client_id == order.client_id
                    && o.parent_id == order.parent_id
            })
            .map(|o| o.perm_id)
            .collect()
    }

    /// Place or modify an API order; `perm_id` is used if the order is new.
    pub fn place(
        &mut self,
        account: &str,
        req: &OrderRequest,
        instrument: Instrument,
        terms: Terms,
        perm_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<MarketEvent>, MarketError> {
        if let Some(existing) = self.find(req.client_id, req.order_id).map(|o| o.perm_id) {
            return self.modify(existing, req, &instrument, terms, now);
        }
        if req.order_id <= 0 {
            return Err(MarketError::Validation { token: "bO", cause: format!("Invalid order id {}", req.order_id) });
        }
        if self.high_water.get(&req.client_id).is_some_and(|hw| req.order_id <= *hw) {
            return Err(MarketError::DuplicateOrderId);
        }
        if req.parent_id != 0 && self.find(req.client_id, req.parent_id).is_none_or(|p| !p.is_open()) {
            return Err(MarketError::OrderRejected(format!(
                "Parent order {} is not an open order of this client",
                req.parent_id
            )));
        }
        let mut order = Order::new(perm_id, account, OrderOrigin::Api, req, instrument, terms, now);
        order.status = self.initial_status(&order);
        self.high_water.insert(req.client_id, req.order_id);
        self.by_id.insert((req.client_id, req.order_id), perm_id);
        let mut events = vec![MarketEvent::status(&order)];
        let transmits_bracket = order.transmit && order.parent_id != 0;
        let (client, parent) = (order.client_id, order.parent_id);
        self.orders.insert(perm_id, order);
        if transmits_bracket {
            // The last order of a bracket is sent with transmit = true and carries the held
            // parent and siblings with it.
            events.extend(self.transmit_family(client, parent));
        }
        Ok(events)
    }

    fn transmit_family(&mut self, client_id: i32, parent_id: i32) -> Vec<MarketEvent> {
        // The parent first, so its children see it transmitted.
        let mut family: Vec<(bool, i64)> = self
            .orders
            .values()
            .filter(|o| o.client_id == client_id && o.status == OrderStatus::Inactive)
            .filter(|o| o.order_id == parent_id || o.parent_id == parent_id)
            .map(|o| (o.order_id != parent_id, o.perm_id))
            .collect();
        family.sort();
        let mut events = Vec::new();
        for (_, perm_id) in family {
            let mut o = self.orders[&perm_id].clone();
            o.transmit = true;
            o.status = self.initial_status(&o);
            events.push(MarketEvent::status(&o));
            self.orders.insert(perm_id, o);
        }
        events
    }

    fn modify(
        &mut self,
        perm_id: i64,
        req: &OrderRequest,
        instrument: &Instrument,
        terms: Terms,
        now: DateTime<Utc>,
    ) -> Result<Vec<MarketEvent>, MarketError> {
        let current = &self.orders[&perm_id];
        match current.status {
            OrderStatus::Filled => return Err(MarketError::CannotModifyFilled),
            s if s.is_done() => return Err(MarketError::DuplicateOrderId),
            _ => {}
        }
        if current.instrument.con_id != instrument.con_id || current.action != terms.action {
            return Err(MarketError::ModifyMismatch);
        }
        if terms.quantity < current.filled {
            return Err(MarketError::OrderRejected(format!(
                "The quantity {} is below the {} already filled",
                terms.quantity, current.filled
            )));
        }
        let mut order = current.clone();
        let type_changed = order.order_type != terms.order_type || order.aux_price != terms.aux_price;
        order.total_quantity = terms.quantity;
        order.order_type = terms.order_type;
        order.limit_price = terms.limit_price;
        order.aux_price = terms.aux_price;
        order.tif = terms.tif;
        order.outside_rth = req.outside_rth;
        order.order_ref = req.order_ref.clone();
        order.transmit = order.transmit || req.transmit;
        order.accepted_at = now;
        order.taking = None;
        if type_changed {
            order.triggered = false;
        }
        order.expires_at = (terms.tif == Tif::Day).then(|| day_expiry(instrument, req.outside_rth, order.placed_at));
        order.status = self.initial_status(&order);
        let event = MarketEvent::status(&order);
        self.orders.insert(perm_id, order);
        Ok(vec![event])
    }

    /// cancelOrder(order_id) from `client_id`.
    pub fn cancel(
        &mut self,
        client_id: i32,
        order_id: i32,
        now: DateTime<Utc>,
    ) -> Result<Vec<MarketEvent>, MarketError> {
        let perm_id = *self.by_id.get(&(client_id, order_id)).ok_or(MarketError::CancelNotFound { order_id })?;
        let status = self.orders[&perm_id].status;
        if status.is_done() {
            return Err(MarketError::CancelNotCancellable { order_id, state: status.as_str() });
        }
        Ok(self.cancel_with_children(perm_id, now, "Cancelled by Trader"))
    }

    /// Cancel an open order (and the children waiting on it).
    pub fn cancel_with_children(&mut self, perm_id: i64, now: DateTime<Utc>, by: &str) -> Vec<MarketEvent> {
        let Some(order) = self.orders.get_mut(&perm_id).filter(|o| o.is_open()) else { return vec![] };
        let (client, id) = (order.client_id, order.order_id);
        let mut events = cancelled(order, now, by);
        let children: Vec<i64> = self
            .orders
            .values()
            .filter(|o| o.is_open() && o.client_id == client && o.parent_id == id && id != 0)
            .map(|o| o.perm_id)
            .collect();
        for child in children {
            events.extend(self.cancel_with_children(child, now, by));
        }
        events
    }

    /// reqGlobalCancel: every open order of the account.
    pub fn cancel_all(&mut self, now: DateTime<Utc>) -> Vec<MarketEvent> {
        let mut events = Vec::new();
        for perm_id in self.open_perm_ids() {
            if let Some(o) = self.orders.get_mut(&perm_id).filter(|o| o.is_open()) {
                events.extend(cancelled(o, now, "Cancelled by Trader"));
            }
        }
        events
    }

    /// A manual order entered in TWS: client 0, order id 0 unless client 0 auto-binds.
    pub fn place_tws(
        &mut self,
        account: &str,
        instrument: Instrument,
        terms: Terms,
        perm_id: i64,
        now: DateTime<Utc>,
    ) -> Vec<MarketEvent> {
        let req = OrderRequest::new(
            0,
            0,
            ContractQuery::con_id(instrument.con_id),
            terms.action.as_str(),
            terms.quantity,
            terms.order_type.as_str(),
        );
        let mut order = Order::new(perm_id, account, OrderOrigin::Tws, &req, instrument, terms, now);
        order.status = self.initial_status(&order);
        self.orders.insert(perm_id, order);
        let mut events = vec![MarketEvent::status(&self.orders[&perm_id])];
        if self.auto_bind {
            events.extend(self.bind(perm_id));
        }
        events
    }

    fn bind(&mut self, perm_id: i64) -> Vec<MarketEvent> {
        self.last_bound_id -= 1;
        let id = self.last_bound_id;
        let order = self.orders.get_mut(&perm_id).expect("bound order exists");
        order.order_id = id;
        self.by_id.insert((0, id), perm_id);
        vec![MarketEvent::of(order, EventKind::Bound)]
    }

    /// reqAutoOpenOrders(auto_bind): only client 0 may ask; false for anyone else.
    pub fn set_auto_bind(&mut self, client_id: i32, auto_bind: bool) -> bool {
        if client_id != 0 {
            return false;
        }
        self.auto_bind = auto_bind;
        true
    }

    /// Open orders for `requester` (reqOpenOrders / reqAllOpenOrders) and the orderBound
    /// events binding TWS orders to client 0 causes.
    pub fn open_orders(
        &mut self,
        requester: i32,
        master: Option<i32>,
        scope: OpenScope,
    ) -> (Vec<Order>, Vec<MarketEvent>) {
        let mut bound = Vec::new();
        if scope == OpenScope::Client && requester == 0 {
            let unbound: Vec<i64> = self
                .orders
                .values()
                .filter(|o| o.is_open() && o.origin == OrderOrigin::Tws && o.order_id == 0)
                .map(|o| o.perm_id)
                .collect();
            for perm_id in unbound {
                bound.extend(self.bind(perm_id));
            }
        }
        let is_master = master == Some(requester);
        let orders = self
            .orders
            .values()
            .filter(|o| o.is_open())
            .filter(|o| match scope {
                OpenScope::All => true,
                OpenScope::Client => {
                    let tws = o.origin == OrderOrigin::Tws;
                    (tws && requester == 0) || (!tws && (o.client_id == requester || is_master))
                }
            })
            .cloned()
            .collect();
        (orders, bound)
    }

    /// reqCompletedOrders(api_only): orders finished since `since`, every client's.
    pub fn completed_orders(&self, api_only: bool, since: DateTime<Utc>) -> Vec<Order> {
        let mut done: Vec<Order> = self
            .orders
            .values()
            .filter(|o| o.completed_at.is_some_and(|t| t >= since))
            .filter(|o| !api_only || o.origin == OrderOrigin::Api)
            .cloned()
            .collect();
        done.sort_by_key(|o| (o.completed_at, o.perm_id));
        done
    }

    /// Forget finished orders completed before `before`, and the oldest finished ones beyond
    /// [`COMPLETED_CAP`] (bounds memory over months).
    pub fn prune(&mut self, before: DateTime<Utc>) {
        self.prune_to(before, COMPLETED_CAP);
    }

    fn prune_to(&mut self, before: DateTime<Utc>, cap: usize) {
        let mut done: Vec<(DateTime<Utc>, i64)> =
            self.orders.values().filter_map(|o| o.completed_at.map(|t| (t, o.perm_id))).collect();
        let excess = done.len().saturating_sub(cap);
        if excess > 0 {
            done.sort_unstable();
        }
        let old: Vec<i64> =
            done.iter().enumerate().filter(|(i, (t, _))| *i < excess || *t < before).map(|(_, (_, p))| *p).collect();
        for perm_id in old {
            if let Some(o) = self.orders.remove(&perm_id) {
                self.by_id.remove(&(o.client_id, o.order_id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::sim::market::instruments::InstrumentTable;
    use crate::sim::market::orders::validate;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 16, 0, 0).unwrap()
    }

    fn aapl() -> Instrument {
        InstrumentTable::new().by_name("AAPL", now()).unwrap()
    }

    fn request(action: &str, qty: f64, order_type: &str) -> OrderRequest {
        OrderRequest::new(1, 1, ContractQuery::stock("AAPL"), action, qty, order_type)
    }

    #[test]
    fn order_ids_must_rise_per_client() {
        let mut book = OrderBook::default();
        let terms = validate(&request("BUY", 10.0, "MKT"), &aapl()).unwrap();
        let place = |book: &mut OrderBook, client, id, perm| {
            book.place(
                "DU1",
                &OrderRequest { client_id: client, order_id: id, ..request("BUY", 10.0, "MKT") },
                aapl(),
                terms.clone(),
                perm,
                now(),
            )
        };
        assert!(place(&mut book, 1, 5, 100).is_ok());
        assert_eq!(place(&mut book, 1, 3, 101).unwrap_err(), MarketError::DuplicateOrderId);
        assert!(place(&mut book, 2, 3, 102).is_ok(), "ids are per client");
        assert_eq!(place(&mut book, 1, 0, 103).unwrap_err().code(), 321);
        assert_eq!(book.find(2, 3).unwrap().perm_id, 102);
        assert_eq!(book.open_perm_ids(), [100, 102]);
    }

    #[test]
    fn finished_orders_are_pruned_by_age_and_count_but_ids_stay_used() {
        let mut book = OrderBook::default();
        let terms = validate(&request("BUY", 10.0, "MKT"), &aapl()).unwrap();
        for id in 1..=4 {
            let t = now() + chrono::Duration::seconds(i64::from(id));
            book.place(
                "DU1",
                &OrderRequest { order_id: id, ..request("BUY", 10.0, "MKT") },
                aapl(),
                terms.clone(),
                i64::from(id),
                t,
            )
            .unwrap();
            book.cancel(1, id, t).unwrap();
        }
        book.prune_to(now(), 2);
        assert_eq!(book.orders().map(|o| o.order_id).collect::<Vec<_>>(), [3, 4], "the two newest kept");
        book.prune_to(now() + chrono::Duration::seconds(4), 10);
        assert_eq!(book.orders().count(), 1, "older than the cutoff dropped");
        let again =
            book.place("DU1", &OrderRequest { order_id: 2, ..request("BUY", 10.0, "MKT") }, aapl(), terms, 9, now());
        assert_eq!(again.unwrap_err(), MarketError::DuplicateOrderId, "a pruned id is still used");
    }
}
