//! The market's trading side: placing, modifying and cancelling orders, fills (executions,
//! commissions, portfolio), and the client-id rules for who sees which order and fill.
//!
//! Facts implemented here (sources in `orders`, `executions` and `portfolio`):
//! - A fill produces, in this order, execDetails, orderStatus (Submitted with the new
//!   filled/remaining, or Filled) and its commissionReport (IB sends the report after the
//!   execution; ibapi routes the report by the execId it learned from the execution).
//! - Brackets: children wait (`PreSubmitted`) for their parent; the last order sent with
//!   `transmit = true` transmits its held parent and siblings; when the parent fills the
//!   children become active, and when one child fills its siblings are cancelled (TWS treats
//!   bracket children as one-cancels-all). When an order of an explicit OCA group fills, the
//!   group's other open orders are cancelled (OCA type 1, "cancel all remaining orders").
//! - A what-if order is not booked: TWS answers openOrder with the margin and commission the
//!   order would cause.
//! - Completed orders are "all orders for the given day that are no longer modifiable"
//!   (IBKR Campus "Retrieving Completed Orders"): today in the gateway's zone, every client's.
//!   The text protocol's completedOrder carries permId but no orderId/clientId (IB's Python
//!   `decoder.processCompletedOrderMsg`): match them by permId.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::Serialize;

use super::book::OpenScope;
use super::error::MarketError;
use super::events::{EventKind, MarketEvent};
use super::executions::{fill_commission, CommissionReport, ExecFilter, Execution, ExecutionRecord, RETENTION_DAYS};
use super::instruments::{ContractQuery, SecType};
use super::matching::{evaluate, FillIntent, Outcome};
use super::orders::{validate, Order, OrderRequest, OrderStatus};
use super::sessions::local_midnight;
use super::{Market, Quote};

/// The answer to a what-if order: the order as it would stand and what it would cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    pub order: Order,
    pub init_margin_before: f64,
    pub init_margin_after: f64,
    pub maint_margin_before: f64,
    pub maint_margin_after: f64,
    pub equity_with_loan_before: f64,
    pub equity_with_loan_after: f64,
    pub commission: f64,
    pub commission_currency: String,
}

const VENUES: [&str; 8] = ["ISLAND", "ARCA", "NYSE", "BATS", "IEX", "EDGX", "DRCTEDGE", "BYX"];

impl Market {
    fn take_perm_id(&mut self) -> i64 {
        self.next_perm_id += 1;
        self.next_perm_id
    }

    fn take_exec_id(&mut self) -> String {
        self.next_exec_seq += 1;
        format!("{:08x}.{:08x}.01.01", self.exec_prefix, self.next_exec_seq & 0xffff_ffff)
    }

    /// placeOrder: book a new order or modify an open one; what-if requests are answered by
    /// [`Market::what_if`] instead. The events go to the order's recipients. With a zero fill
    /// delay the market is polled at once and those events (this order's fill, and any other
    /// order that became due) are appended.
    pub fn place_order(&mut self, req: &OrderRequest, now: DateTime<Utc>) -> Result<Vec<MarketEvent>, MarketError> {
        if req.what_if {
            return Err(MarketError::OrderRejected("what-if orders are answered by Market::what_if".into()));
        }
        let name = self.account_name(&req.account)?;
        let instrument = self.instruments.resolve(&req.contract, now)?;
        let terms = validate(req, &instrument)?;
        self.prices.ensure(&instrument, now);
        let modifies = self.accounts[&name].orders.find(req.client_id, req.order_id).is_some();
        let perm_id = if modifies { 0 } else { self.take_perm_id() };
        let acct = self.accounts.get_mut(&name).expect("named account exists");
        let mut events = acct.orders.place(&name, req, instrument, terms, perm_id, now)?;
        if self.options.fill_delay.is_zero() {
            events.extend(self.poll(now));
        }
        Ok(events)
    }

    /// A what-if placeOrder: margin and commission the order would cause, nothing booked.
    pub fn what_if(&mut self, req: &OrderRequest, now: DateTime<Utc>) -> Result<WhatIf, MarketError> {
        let name = self.account_name(&req.account)?;
        let instrument = self.instruments.resolve(&req.contract, now)?;
        let terms = validate(req, &instrument)?;
        let quote = self.prices.ensure(&instrument, now).quote().clone();
        let mut scratch = self.accounts[&name].orders.clone();
        let mut events = scratch.place(
            &name,
            &OrderRequest { order_id: i32::MAX, ..req.clone() },
            instrument.clone(),
            terms.clone(),
            0,
            now,
        )?;
        let EventKind::Status(order) = events.remove(0).kind else { unreachable!("place answers a status first") };
        let mut order = *order;
        order.order_id = req.order_id;
        order.status = OrderStatus::PreSubmitted;
        let price = if terms.action.sign() > 0.0 { quote.ask } else { quote.bid };
        let price =
            terms.limit_price.map_or(price, |l| if terms.action.sign() > 0.0 { l.min(price) } else { l.max(price) });
        let notional = terms.quantity * price * instrument.multiplier;
        let commission = fill_commission(&instrument, (0.0, 0.0), (terms.quantity, notional));
        let marks = Self::marks(&self.prices);
        let portfolio = &self.accounts[&name].portfolio;
        let before = portfolio.figures(&marks);
        let mut after_pf = portfolio.clone();
        after_pf.apply_fill(&instrument, terms.action.sign(), terms.quantity, price, commission);
        let after = after_pf.figures(&marks);
        Ok(WhatIf {
            order,
            init_margin_before: before.init_margin,
            init_margin_after: after.init_margin,
            maint_margin_before: before.maint_margin,
            maint_margin_after: after.maint_margin,
            equity_with_loan_before: before.equity_with_loan,
            equity_with_loan_after: after.equity_with_loan,
            commission,
            commission_currency: "USD".into(),
        })
    }

    /// A manual order entered in TWS (client 0, order id 0 until client 0 binds it); the
    /// request's client and order ids are ignored.
    pub fn place_tws_order(&mut self, req: &OrderRequest, now: DateTime<Utc>) -> Result<Vec<MarketEvent>, MarketError> {
        let name = self.account_name(&req.account)?;
        let instrument = self.instruments.resolve(&req.contract, now)?;
        let terms = validate(req, &instrument)?;
        self.prices.ensure(&instrument, now);
        let perm_id = self.take_perm_id();
        Ok(self.accounts.get_mut(&name).expect("named").orders.place_tws(&name, instrument, terms, perm_id, now))
    }

    /// cancelOrder(order_id) from `client_id`: Cancelled + 202, or 10147 / 10148.
    pub fn cancel_order(
        &mut self,
        account: &str,
        client_id: i32,
        order_id: i32,
        now: DateTime<Utc>,
    ) -> Result<Vec<MarketEvent>, MarketError> {
        let name = self.account_name(account)?;
        self.accounts.get_mut(&name).expect("named").orders.cancel(client_id, order_id, now)
    }

    /// reqGlobalCancel: every open order of the account, whoever placed it.
    pub fn global_cancel(&mut self, account: &str, now: DateTime<Utc>) -> Result<Vec<MarketEvent>, MarketError> {
        let name = self.account_name(account)?;
        Ok(self.accounts.get_mut(&name).expect("named").orders.cancel_all(now))
    }

    /// reqAutoOpenOrders(auto_bind): only client 0 may; false (ignored) for anyone else.
    pub fn auto_open_orders(&mut self, account: &str, client_id: i32, auto_bind: bool) -> Result<bool, MarketError> {
        let name = self.account_name(account)?;
        Ok(self.accounts.get_mut(&name).expect("named").orders.set_auto_bind(client_id, auto_bind))
    }

    /// reqOpenOrders (`OpenScope::Client`) / reqAllOpenOrders (`OpenScope::All`) from
    /// `requester`: the orders to report (openOrder + orderStatus each, then openOrderEnd) and
    /// the orderBound events binding TWS orders to client 0 produces.
    pub fn open_orders(
        &mut self,
        account: &str,
        requester: i32,
        scope: OpenScope,
    ) -> Result<(Vec<Order>, Vec<MarketEvent>), MarketError> {
        let name = self.account_name(account)?;
        let master = self.options.master_client_id;
        Ok(self.accounts.get_mut(&name).expect("named").orders.open_orders(requester, master, scope))
    }

    /// reqCompletedOrders(api_only): orders finished today (gateway zone), every client's —
    /// IB documents no client restriction, and the text form carries no client or order id.
    pub fn completed_orders(
        &self,
        account: &str,
        api_only: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Order>, MarketError> {
        let name = self.account_name(account)?;
        Ok(self.accounts[&name].orders.completed_orders(api_only, local_midnight(self.options.time_zone, now)))
    }

    /// reqExecutions(filter) from `requester` (see `executions` for the visibility rules).
    pub fn executions_for(
        &self,
        account: &str,
        requester: i32,
        filter: &ExecFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<&ExecutionRecord>, MarketError> {
        let name = self.account_name(account)?;
        self.accounts[&name].executions.executions_for(
            requester,
            self.options.master_client_id,
            filter,
            self.options.time_zone,
            now,
        )
    }

    /// The order with `perm_id`, open or finished (finished ones are kept 7 days).
    pub fn order(&self, account: &str, perm_id: i64) -> Option<&Order> {
        self.accounts.get(&self.account_name(account).ok()?)?.orders.get(perm_id)
    }

    /// The order `client_id` knows as `order_id`.
    pub fn find_order(&self, account: &str, client_id: i32, order_id: i32) -> Option<&Order> {
        self.accounts.get(&self.account_name(account).ok()?)?.orders.find(client_id, order_id)
    }

    /// conIds with open orders: step these so resting orders can meet the market.
    pub fn working_instruments(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .accounts
            .values()
            .flat_map(|a| a.orders.orders().filter(|o| o.is_open()).map(|o| o.instrument.con_id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Let time pass to `now`: expire, trigger and fill orders against the current books.
    pub fn poll(&mut self, now: DateTime<Utc>) -> Vec<MarketEvent> {
        let delay = Duration::from_std(self.options.fill_delay).unwrap_or(Duration::zero());
        let display = self.options.display_size.max(1.0);
        let names: Vec<String> = self.accounts.keys().cloned().collect();
        let mut events = Vec::new();
        for name in names {
            let tz = self.options.time_zone;
            let outcomes = {
                let prices = &self.prices;
                let quote = |con_id: i32| -> Option<Quote> { prices.quote(con_id).cloned() };
                let acct = self.accounts.get_mut(&name).expect("listed");
                acct.portfolio.roll_day(tz, now, &Self::marks(prices));
                evaluate(&mut acct.orders, &quote, now, delay, display)
            };
            for outcome in outcomes {
                match outcome {
                    Outcome::Events(e) => events.extend(e),
                    Outcome::Cancel { perm_id, by } => {
                        events.extend(
                            self.accounts.get_mut(&name).expect("listed").orders.cancel_with_children(perm_id, now, by),
                        );
                    }
                    Outcome::Fill(fill) => events.extend(self.apply_fill(&name, fill, now)),
                }
            }
            let acct = self.accounts.get_mut(&name).expect("listed");
            acct.orders.prune(local_midnight(tz, now) - Duration::days(RETENTION_DAYS));
        }
        events
    }

    fn apply_fill(&mut self, account: &str, fill: FillIntent, now: DateTime<Utc>) -> Vec<MarketEvent> {
        let tz = self.options.time_zone;
        let exec_id = self.take_exec_id();
        let venue_pick = self.venues.random_range(0..VENUES.len());
        let acct = self.accounts.get_mut(account).expect("filling account exists");
        let Some(order) = acct.orders.get_mut(fill.perm_id).filter(|o| o.is_open() && o.remaining() > 0.0) else {
            return vec![];
        };
        let inst = order.instrument.clone();
        let qty = fill.qty.min(order.remaining());
        let before = (order.filled, order.notional_filled);
        order.filled += qty;
        order.notional_filled += qty * fill.price * inst.multiplier;
        order.avg_fill_price = order.notional_filled / (order.filled * inst.multiplier);
        order.last_fill_price = fill.price;
        let commission = fill_commission(&inst, before, (order.filled, order.notional_filled));
        let done = order.remaining() <= 1e-9;
        if done {
            order.status = OrderStatus::Filled;
            order.completed_at = Some(now);
            order.completed_status = "Filled".into();
        } else {
            order.status = OrderStatus::Submitted;
        }
        let order = order.clone();
        let realized = acct.portfolio.apply_fill(&inst, order.action.sign(), qty, fill.price, commission);
        let execution = Execution {
            exec_id: exec_id.clone(),
            time: now,
            account: account.to_owned(),
            exchange: match inst.sec_type {
                SecType::Stk => VENUES[venue_pick].to_owned(),
                SecType::Fut => "CME".to_owned(),
                _ => "IDEALPRO".to_owned(),
            },
            side: order.action.exec_side(),
            shares: qty,
            price: fill.price,
            perm_id: order.perm_id,
            client_id: order.client_id,
            order_id: order.order_id,
            liquidation: 0,
            cum_qty: order.filled,
            avg_price: order.avg_fill_price,
            order_ref: order.order_ref.clone(),
            ev_rule: String::new(),
            ev_multiplier: None,
            model_code: order.model_code.clone(),
            last_liquidity: fill.liquidity,
            pending_price_revision: false,
            origin: order.origin,
            instrument: inst,
        };
        let report = CommissionReport {
            exec_id,
            commission,
            currency: "USD".into(),
            realized_pnl: realized,
            yield_: None,
            yield_redemption_date: None,
        };
        acct.executions.push(ExecutionRecord { execution: execution.clone(), commission: report.clone() }, tz);
        let mut events = vec![
            MarketEvent::of(&order, EventKind::Execution(Box::new(execution))),
            MarketEvent::status(&order),
            MarketEvent::of(&order, EventKind::Commission(report)),
        ];
        if done {
            // Bracket children are one-cancels-all: a filled child cancels its siblings.
            for perm_id in acct.orders.siblings(&order) {
                events.extend(acct.orders.cancel_with_children(perm_id, now, "Cancelled by System"));
            }
        }
        if !order.oca_group.is_empty() {
            let group: Vec<i64> = acct
                .orders
                .orders()
                .filter(|o| o.is_open() && o.perm_id != order.perm_id && o.oca_group == order.oca_group)
                .map(|o| o.perm_id)
                .collect();
            for perm_id in group {
                events.extend(acct.orders.cancel_with_children(perm_id, now, "Cancelled by System"));
            }
        }
        if done && order.order_id != 0 {
            let children: Vec<i64> = acct
                .orders
                .orders()
                .filter(|o| o.is_open() && o.client_id == order.client_id && o.parent_id == order.order_id)
                .map(|o| o.perm_id)
                .collect();
            for perm_id in children {
                let child = acct.orders.get_mut(perm_id).expect("listed child");
                if child.status == OrderStatus::PreSubmitted && (child.triggered || !child.order_type.is_stop()) {
                    child.status = OrderStatus::Submitted;
                }
                child.accepted_at = now;
                events.push(MarketEvent::status(child));
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono_tz::Tz;

    use super::*;
    use crate::sim::market::{MarketOptions, OrderOrigin, OrderType};

    const NY: Tz = chrono_tz::America::New_York;
    const AAPL: i32 = 265_598;

    /// Wednesday 2026-01-14 at h:m:s New York (seconds may run past 59).
    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        NY.with_ymd_and_hms(2026, 1, 14, h, m, 0).unwrap().with_timezone(&Utc) + Duration::seconds(i64::from(s))
    }

    fn ms(t: DateTime<Utc>, millis: i64) -> DateTime<Utc> {
        t + Duration::milliseconds(millis)
    }

    fn market(display_size: f64, master: Option<i32>) -> Market {
        let options = MarketOptions { display_size, master_client_id: master, ..MarketOptions::default() };
        let mut m = Market::new(42, options);
        m.open_account("DU1", at(10, 0, 0));
        m.set_price(AAPL, 230.0, at(10, 0, 0)).unwrap();
        m
    }

    fn req(client: i32, id: i32, action: &str, qty: f64, order_type: &str) -> OrderRequest {
        OrderRequest::new(client, id, ContractQuery::stock("AAPL"), action, qty, order_type)
    }

    fn lmt(client: i32, id: i32, action: &str, qty: f64, price: f64) -> OrderRequest {
        OrderRequest { limit_price: Some(price), ..req(client, id, action, qty, "LMT") }
    }

    fn statuses(events: &[MarketEvent]) -> Vec<(String, f64)> {
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Status(o) => Some((o.status.as_str().to_owned(), o.filled)),
                _ => None,
            })
            .collect()
    }

    fn executions(events: &[MarketEvent]) -> Vec<Execution> {
        events
            .iter()
            .filter_map(|e| if let EventKind::Execution(x) = &e.kind { Some((**x).clone()) } else { None })
            .collect()
    }

    fn commissions(events: &[MarketEvent]) -> Vec<CommissionReport> {
        events
            .iter()
            .filter_map(|e| if let EventKind::Commission(c) = &e.kind { Some(c.clone()) } else { None })
            .collect()
    }

    fn notices(events: &[MarketEvent]) -> Vec<(i32, String)> {
        events
            .iter()
            .filter_map(|e| {
                if let EventKind::Notice { code, message } = &e.kind {
                    Some((*code, message.clone()))
                } else {
                    None
                }
            })
            .collect()
    }

    #[test]
    fn limit_order_away_from_the_market_rests_until_the_price_crosses_then_fills_at_the_limit() {
        let mut m = market(1000.0, None);
        let placed = m.place_order(&lmt(1, 1, "BUY", 100.0, 220.0), at(10, 0, 1)).unwrap();
        assert_eq!(statuses(&placed), [("Submitted".to_owned(), 0.0)]);
        // The walk moves for a minute near 230: nothing fills.
        for i in 0..60 {
            m.step(AAPL, at(10, 0, 2 + i)).unwrap();
            assert!(executions(&m.poll(at(10, 0, 2 + i))).is_empty());
        }
        assert_eq!(m.find_order("", 1, 1).unwrap().status, OrderStatus::Submitted);
        m.set_price(AAPL, 219.5, at(10, 1, 10)).unwrap();
        let events = m.poll(at(10, 1, 10));
        let fills = executions(&events);
        assert_eq!(fills.len(), 1);
        assert_eq!((fills[0].price, fills[0].shares, fills[0].side, fills[0].last_liquidity), (220.0, 100.0, "BOT", 1));
        assert_eq!(statuses(&events), [("Filled".to_owned(), 100.0)]);
        // A sell limit marketable on arrival takes at the bid, at or above its limit.
        let bid = m.quote(AAPL, at(10, 2, 0)).unwrap().bid;
        m.place_order(&lmt(1, 2, "SELL", 100.0, 210.0), at(10, 2, 0)).unwrap();
        let fill = &executions(&m.poll(ms(at(10, 2, 0), 200)))[0];
        assert_eq!((fill.price, fill.last_liquidity), (bid, 2));
        assert!(fill.price >= 210.0);
    }

    #[test]
    fn market_order_fills_at_the_touch_after_the_fill_delay() {
        let mut m = market(1000.0, None);
        let q = m.quote(AAPL, at(10, 0, 1)).unwrap();
        m.place_order(&req(1, 1, "BUY", 100.0, "MKT"), at(10, 0, 1)).unwrap();
        assert!(m.poll(ms(at(10, 0, 1), 199)).is_empty(), "not before the fill delay");
        let events = m.poll(ms(at(10, 0, 1), 200));
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| match e.kind {
                EventKind::Execution(_) => "exec",
                EventKind::Status(_) => "status",
                EventKind::Commission(_) => "commission",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["exec", "status", "commission"], "execDetails, orderStatus, commissionReport");
        assert_eq!(executions(&events)[0].price, q.ask);
        m.place_order(&req(1, 2, "SELL", 100.0, "MKT"), at(10, 0, 2)).unwrap();
        assert_eq!(executions(&m.poll(at(10, 0, 3)))[0].price, q.bid);
        // Without a delay the fill comes with the placement.
        let mut instant =
            Market::new(1, MarketOptions { fill_delay: std::time::Duration::ZERO, ..MarketOptions::default() });
        instant.open_account("DU1", at(10, 0, 0));
        let events = instant.place_order(&req(1, 1, "BUY", 10.0, "MKT"), at(10, 0, 0)).unwrap();
        assert_eq!(statuses(&events).last().unwrap().0, "Filled");
    }

    #[test]
    fn stop_orders_trigger_on_the_last_price() {
        let mut m = market(1000.0, None);
        let stop = OrderRequest { aux_price: Some(225.0), ..req(1, 1, "SELL", 100.0, "STP") };
        assert_eq!(statuses(&m.place_order(&stop, at(10, 0, 1)).unwrap()), [("PreSubmitted".to_owned(), 0.0)]);
        assert!(m.poll(at(10, 0, 5)).is_empty());
        let q = m.set_price(AAPL, 224.9, at(10, 0, 6)).unwrap();
        let events = m.poll(at(10, 0, 6));
        assert_eq!(statuses(&events), [("Submitted".to_owned(), 0.0), ("Filled".to_owned(), 100.0)]);
        assert_eq!(executions(&events)[0].price, q.bid);
        // A buy stop-limit elects at its stop and then fills no worse than its limit.
        let stop_limit =
            OrderRequest { aux_price: Some(231.0), limit_price: Some(231.5), ..req(1, 2, "BUY", 100.0, "STP LMT") };
        m.place_order(&stop_limit, at(10, 1, 0)).unwrap();
        m.set_price(AAPL, 231.0, at(10, 1, 1)).unwrap();
        let fills = executions(&m.poll(at(10, 1, 1)));
        assert_eq!(fills.len(), 1);
        assert!(fills[0].price <= 231.5);
    }

    #[test]
    fn ioc_fills_what_it_can_and_cancels_the_rest_at_once() {
        let mut m = market(100.0, None);
        m.place_order(&OrderRequest { tif: "IOC".into(), ..req(1, 1, "BUY", 250.0, "MKT") }, at(10, 0, 1)).unwrap();
        let events = m.poll(at(10, 0, 2));
        assert_eq!(statuses(&events), [("Submitted".to_owned(), 100.0), ("Cancelled".to_owned(), 100.0)]);
        assert_eq!(notices(&events), [(202, "Order Canceled - reason:".to_owned())]);
        let o = m.find_order("", 1, 1).unwrap();
        assert_eq!((o.status, o.filled, o.remaining()), (OrderStatus::Cancelled, 100.0, 150.0));
        // An IOC limit that is not marketable is cancelled unfilled.
        m.place_order(&OrderRequest { tif: "IOC".into(), ..lmt(1, 2, "BUY", 100.0, 200.0) }, at(10, 0, 3)).unwrap();
        assert_eq!(statuses(&m.poll(at(10, 0, 4))), [("Cancelled".to_owned(), 0.0)]);
        // FOK above the displayed size cannot fill at once.
        m.place_order(&OrderRequest { tif: "FOK".into(), ..req(1, 3, "BUY", 150.0, "MKT") }, at(10, 0, 5)).unwrap();
        assert_eq!(statuses(&m.poll(at(10, 0, 6))), [("Cancelled".to_owned(), 0.0)]);
    }

    #[test]
    fn orders_above_the_display_size_fill_in_chunks_one_per_price_step() {
        let mut m = market(100.0, None);
        m.place_order(&req(1, 1, "BUY", 250.0, "MKT"), at(10, 0, 1)).unwrap();
        let mut fills = executions(&m.poll(at(10, 0, 2)));
        assert!(executions(&m.poll(at(10, 0, 2))).is_empty(), "one chunk per step");
        for s in 3..5 {
            m.step(AAPL, at(10, 0, s)).unwrap();
            fills.extend(executions(&m.poll(at(10, 0, s))));
        }
        assert_eq!(
            fills.iter().map(|f| (f.shares, f.cum_qty)).collect::<Vec<_>>(),
            [(100.0, 100.0), (100.0, 200.0), (50.0, 250.0)]
        );
        let notional: f64 = fills.iter().map(|f| f.shares * f.price).sum();
        assert!((fills[2].avg_price - notional / 250.0).abs() < 1e-9);
        assert_eq!(m.find_order("", 1, 1).unwrap().status, OrderStatus::Filled);
        assert!(fills.windows(2).all(|w| w[0].exec_id != w[1].exec_id), "each partial fill has its own execId");
        // The order's commission minimum is charged once: 1.00, 0.00, then 0.25 for 250 shares.
        let records = m.executions_for("", 1, &ExecFilter::default(), at(10, 0, 5)).unwrap();
        let charged: Vec<f64> = records.iter().map(|r| r.commission.commission).collect();
        assert_eq!(charged, [1.0, 0.0, 0.25]);
    }

    #[test]
    fn day_orders_expire_at_the_close_and_gtc_orders_do_not() {
        let mut m = market(1000.0, None);
        m.place_order(&lmt(1, 1, "BUY", 100.0, 200.0), at(11, 0, 0)).unwrap();
        m.place_order(&OrderRequest { tif: "GTC".into(), ..lmt(1, 2, "BUY", 100.0, 200.0) }, at(11, 0, 0)).unwrap();
        assert!(m.poll(at(15, 59, 59)).is_empty());
        let events = m.poll(at(16, 0, 0));
        assert_eq!(statuses(&events), [("Cancelled".to_owned(), 0.0)]);
        assert_eq!(events[0].order_id, 1);
        assert_eq!(m.find_order("", 1, 1).unwrap().completed_status, "Cancelled by System");
        assert_eq!(m.find_order("", 1, 2).unwrap().status, OrderStatus::Submitted);
        // With outsideRth a DAY stock order lives until 20:00.
        m.place_order(&OrderRequest { outside_rth: true, ..lmt(1, 3, "BUY", 100.0, 200.0) }, at(17, 0, 0)).unwrap();
        assert!(m.poll(at(19, 59, 0)).is_empty());
        assert_eq!(statuses(&m.poll(at(20, 0, 0))), [("Cancelled".to_owned(), 0.0)]);
    }

    #[test]
    fn modify_and_cancel_with_tws_errors() {
        let mut m = market(1000.0, None);
        let placed = m.place_order(&lmt(1, 5, "BUY", 100.0, 200.0), at(10, 0, 1)).unwrap();
        let perm_id = placed[0].perm_id;
        let modified = m.place_order(&lmt(1, 5, "BUY", 200.0, 201.0), at(10, 0, 2)).unwrap();
        let EventKind::Status(o) = &modified[0].kind else { panic!() };
        assert_eq!(
            (o.perm_id, o.total_quantity, o.limit_price, o.status),
            (perm_id, 200.0, Some(201.0), OrderStatus::Submitted)
        );
        let e = m.place_order(&lmt(1, 5, "SELL", 200.0, 201.0), at(10, 0, 3)).unwrap_err();
        assert_eq!((e.code(), e.to_string()), (105, "Order being modified does not match original order".into()));
        assert_eq!(m.place_order(&lmt(1, 5, "BUY", 200.0, 201.003), at(10, 0, 3)).unwrap_err().code(), 110);
        assert_eq!(
            m.place_order(&lmt(1, 4, "BUY", 1.0, 200.0), at(10, 0, 3)).unwrap_err().code(),
            103,
            "id below this client's last"
        );
        let e = m.cancel_order("", 2, 5, at(10, 0, 4)).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (10147, "OrderId 5 that needs to be cancelled is not found.".into()),
            "another client's id"
        );
        let cancelled = m.cancel_order("", 1, 5, at(10, 0, 4)).unwrap();
        assert_eq!(statuses(&cancelled), [("Cancelled".to_owned(), 0.0)]);
        assert_eq!(notices(&cancelled), [(202, "Order Canceled - reason:".to_owned())]);
        let e = m.cancel_order("", 1, 5, at(10, 0, 5)).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (10148, "OrderId 5 that needs to be cancelled cannot be cancelled, state: Cancelled.".into())
        );
        assert_eq!(m.place_order(&lmt(1, 5, "BUY", 100.0, 200.0), at(10, 0, 6)).unwrap_err().code(), 103);
        // A filled order cannot be modified, nor cancelled.
        m.place_order(&req(1, 6, "BUY", 10.0, "MKT"), at(10, 0, 7)).unwrap();
        m.poll(at(10, 0, 8));
        assert_eq!(m.place_order(&req(1, 6, "BUY", 20.0, "MKT"), at(10, 0, 9)).unwrap_err().code(), 104);
        assert_eq!(
            m.cancel_order("", 1, 6, at(10, 0, 9)).unwrap_err().to_string(),
            "OrderId 6 that needs to be cancelled cannot be cancelled, state: Filled."
        );
        assert_eq!(m.cancel_order("", 1, 99, at(10, 0, 9)).unwrap_err().code(), 10147);
        // Bad terms are refused with TWS's codes.
        assert_eq!(m.place_order(&req(1, 7, "BUY", 10.0, "TRAIL"), at(10, 0, 9)).unwrap_err().code(), 387);
        assert_eq!(m.place_order(&req(1, 7, "HOLD", 10.0, "MKT"), at(10, 0, 9)).unwrap_err().code(), 201);
        assert_eq!(m.place_order(&req(1, 7, "BUY", 0.0, "MKT"), at(10, 0, 9)).unwrap_err().code(), 201);
        assert_eq!(m.place_order(&req(1, 7, "BUY", 10.0, "LMT"), at(10, 0, 9)).unwrap_err().code(), 201);
        let unknown = OrderRequest { contract: ContractQuery::stock("NOPE"), ..req(1, 7, "BUY", 10.0, "MKT") };
        assert_eq!(m.place_order(&unknown, at(10, 0, 9)).unwrap_err().code(), 200);
    }

    #[test]
    fn round_trip_moves_the_portfolio_and_the_commission_report_carries_realized_pnl() {
        let mut m = market(1000.0, None);
        let q = m.quote(AAPL, at(10, 0, 1)).unwrap();
        m.place_order(&req(1, 1, "BUY", 100.0, "MKT"), at(10, 0, 1)).unwrap();
        let buy = m.poll(at(10, 0, 2));
        assert_eq!(commissions(&buy)[0].realized_pnl, None, "an opening fill realizes nothing");
        let pos = m.positions("", at(10, 0, 3)).unwrap();
        assert_eq!(pos.len(), 1);
        assert_eq!(pos[0].position, 100.0);
        assert!((pos[0].avg_cost - (q.ask + 1.0 / 100.0)).abs() < 1e-9, "average cost includes the commission");
        m.place_order(&req(1, 2, "SELL", 100.0, "MKT"), at(10, 0, 3)).unwrap();
        let sell = m.poll(at(10, 0, 4));
        let realized = commissions(&sell)[0].realized_pnl.unwrap();
        let expected = 100.0 * (q.bid - q.ask) - 2.0;
        assert!((realized - expected).abs() < 1e-6, "{realized} vs {expected}");
        let pos = m.positions("", at(10, 0, 5)).unwrap();
        assert_eq!((pos[0].position, pos[0].avg_cost), (0.0, 0.0));
        let pnl = m.pnl("", at(10, 0, 5)).unwrap();
        assert!((pnl.realized_pnl - expected).abs() < 1e-6 && pnl.unrealized_pnl == 0.0);
        let values = m.account_values("", at(10, 0, 5)).unwrap();
        let cash: f64 = values.iter().find(|v| v.key == "TotalCashValue").unwrap().value.parse().unwrap();
        assert!((cash - (1_000_000.0 + expected)).abs() < 0.01, "{cash}");
    }

    #[test]
    fn net_liquidation_is_cash_plus_market_value() {
        let mut m = market(1000.0, None);
        m.place_order(&req(1, 1, "BUY", 300.0, "MKT"), at(10, 0, 1)).unwrap();
        m.poll(at(10, 0, 2));
        m.set_price(AAPL, 240.0, at(10, 0, 3)).unwrap();
        let values = m.account_values("", at(10, 0, 3)).unwrap();
        let get = |k: &str| -> f64 {
            values.iter().find(|v| v.key == k && v.currency == "USD").unwrap().value.parse().unwrap()
        };
        assert!((get("NetLiquidation") - (get("TotalCashValue") + get("StockMarketValue"))).abs() < 0.011);
        assert!((get("StockMarketValue") - 300.0 * 240.0).abs() < 0.01);
        assert!((get("GrossPositionValue") - 72_000.0).abs() < 0.01);
        let items = m.portfolio("", at(10, 0, 3)).unwrap();
        assert_eq!((items[0].position, items[0].market_price), (300.0, 240.0));
        let single = m.pnl_single("", AAPL, at(10, 0, 3)).unwrap().unwrap();
        assert!(
            (single.value - 72_000.0).abs() < 1e-6 && (single.unrealized_pnl - items[0].unrealized_pnl).abs() < 1e-9
        );
        let summary = m.account_summary("NetLiquidation,TotalCashValue", at(10, 0, 3));
        assert_eq!(summary.len(), 2);
        assert_eq!(summary[0].account, "DU1");
    }

    #[test]
    fn a_fill_at_2358_new_york_is_found_after_midnight_with_last_n_days() {
        let mut m = market(1000.0, None);
        m.place_order(&req(1, 1, "BUY", 100.0, "MKT"), at(23, 58, 0)).unwrap();
        let fill = executions(&m.poll(at(23, 58, 1)))[0].clone();
        assert_eq!(m.completed_orders("", false, at(23, 59, 0)).unwrap().len(), 1);
        let after_midnight = NY.with_ymd_and_hms(2026, 1, 15, 0, 5, 0).unwrap().with_timezone(&Utc);
        let get = |f: ExecFilter| {
            m.executions_for("", 1, &f, after_midnight)
                .unwrap()
                .iter()
                .map(|r| r.execution.exec_id.clone())
                .collect::<Vec<_>>()
        };
        assert!(get(ExecFilter::default()).is_empty(), "the default covers today only, like IB Gateway");
        assert_eq!(get(ExecFilter { last_n_days: 1, ..Default::default() }), vec![fill.exec_id.clone()]);
        assert_eq!(
            get(ExecFilter { last_n_days: 1, time: "20260114 23:55:00".into(), ..Default::default() }),
            vec![fill.exec_id.clone()]
        );
        assert!(get(ExecFilter { last_n_days: 1, time: "20260114 23:59:00".into(), ..Default::default() }).is_empty());
        // The record keeps its own timestamp, not the request's day.
        assert_eq!(
            m.executions_for("", 1, &ExecFilter { last_n_days: 1, ..Default::default() }, after_midnight).unwrap()[0]
                .execution
                .time,
            at(23, 58, 1)
        );
        assert!(m.completed_orders("", false, after_midnight).unwrap().is_empty(), "completed orders are today's");
    }

    #[test]
    fn client_id_semantics_for_events_executions_and_open_orders() {
        let mut m = market(1000.0, Some(5));
        let own = m.place_order(&req(1, 1, "BUY", 10.0, "MKT"), at(10, 0, 1)).unwrap();
        m.place_order(&req(11, 1, "BUY", 20.0, "MKT"), at(10, 0, 1)).unwrap();
        m.place_order(&lmt(11, 2, "BUY", 20.0, 200.0), at(10, 0, 1)).unwrap();
        let tws = m.place_tws_order(&req(0, 0, "BUY", 30.0, "MKT"), at(10, 0, 1)).unwrap();
        assert_eq!(own[0].recipients(Some(5)), [1, 5], "owner and master");
        assert_eq!(own[0].recipients(None), [1]);
        assert_eq!(
            (tws[0].client_id, tws[0].order_id, tws[0].recipients(Some(5))),
            (0, 0, vec![0, 5]),
            "TWS orders go to client 0"
        );
        m.poll(at(10, 0, 2));
        let now = at(10, 0, 3);
        let seen = |m: &Market, client| -> Vec<f64> {
            m.executions_for("", client, &ExecFilter::default(), now)
                .unwrap()
                .iter()
                .map(|r| r.execution.shares)
                .collect()
        };
        assert_eq!(seen(&m, 1), [10.0]);
        assert_eq!(seen(&m, 11), [20.0]);
        assert_eq!(seen(&m, 0), [30.0], "client 0 sees the TWS order's fill");
        assert_eq!(seen(&m, 5), [10.0, 20.0, 30.0], "the master client sees every fill");
        assert_eq!(seen(&m, 7), Vec::<f64>::new());
        let (own, bound) = m.open_orders("", 11, OpenScope::Client).unwrap();
        assert_eq!((own.len(), own[0].order_id, bound.len()), (1, 2, 0));
        assert!(m.open_orders("", 1, OpenScope::Client).unwrap().0.is_empty());
        assert_eq!(m.open_orders("", 5, OpenScope::Client).unwrap().0.len(), 1, "master: every API client's");
        assert_eq!(m.open_orders("", 1, OpenScope::All).unwrap().0.len(), 1, "reqAllOpenOrders: every client's");
    }

    #[test]
    fn client_zero_binds_tws_orders_with_negative_ids() {
        let mut m = market(1000.0, None);
        let far = 200.0;
        m.place_tws_order(&lmt(0, 0, "BUY", 10.0, far), at(10, 0, 1)).unwrap();
        assert!(m.open_orders("", 3, OpenScope::Client).unwrap().0.is_empty());
        let (all, bound) = m.open_orders("", 3, OpenScope::All).unwrap();
        assert_eq!((all.len(), all[0].order_id, bound.len()), (1, 0, 0), "reqAllOpenOrders binds nothing");
        let (orders, bound) = m.open_orders("", 0, OpenScope::Client).unwrap();
        assert_eq!((orders[0].order_id, bound.len()), (-1, 1));
        assert!(matches!(bound[0].kind, EventKind::Bound) && bound[0].order_id == -1 && bound[0].client_id == 0);
        assert!(!m.auto_open_orders("", 3, true).unwrap(), "only client 0 may auto-bind");
        assert!(m.auto_open_orders("", 0, true).unwrap());
        let events = m.place_tws_order(&lmt(0, 0, "BUY", 10.0, far), at(10, 0, 2)).unwrap();
        assert!(events.iter().any(|e| matches!(e.kind, EventKind::Bound) && e.order_id == -2));
        // Client 0 can cancel the order it bound.
        assert_eq!(statuses(&m.cancel_order("", 0, -2, at(10, 0, 3)).unwrap())[0].0, "Cancelled");
    }

    #[test]
    fn completed_orders_are_todays_finished_orders_of_every_client() {
        let mut m = market(1000.0, None);
        m.place_order(&req(1, 1, "BUY", 10.0, "MKT"), at(10, 0, 1)).unwrap();
        m.place_order(&lmt(2, 1, "BUY", 10.0, 200.0), at(10, 0, 1)).unwrap();
        m.place_order(&lmt(2, 2, "BUY", 10.0, 200.0), at(10, 0, 1)).unwrap();
        m.place_tws_order(&req(0, 0, "SELL", 5.0, "MKT"), at(10, 0, 1)).unwrap();
        m.poll(at(10, 0, 2));
        m.cancel_order("", 2, 1, at(10, 0, 3)).unwrap();
        let done = m.completed_orders("", false, at(10, 0, 4)).unwrap();
        let summary: Vec<(i32, &str, &str)> =
            done.iter().map(|o| (o.client_id, o.status.as_str(), o.completed_status.as_str())).collect();
        assert_eq!(
            summary,
            [(1, "Filled", "Filled"), (0, "Filled", "Filled"), (2, "Cancelled", "Cancelled by Trader")]
        );
        assert!(done.iter().all(|o| o.completed_at.is_some()));
        assert_eq!(m.completed_orders("", true, at(10, 0, 4)).unwrap().len(), 2, "apiOnly drops the TWS order");
    }

    #[test]
    fn untransmitted_orders_and_brackets() {
        let mut m = market(1000.0, None);
        let held = OrderRequest { transmit: false, ..req(1, 1, "BUY", 10.0, "MKT") };
        assert_eq!(statuses(&m.place_order(&held, at(10, 0, 1)).unwrap()), [("Inactive".to_owned(), 0.0)]);
        assert!(m.poll(at(10, 0, 5)).is_empty(), "not transmitted, not traded");
        assert_eq!(statuses(&m.cancel_order("", 1, 1, at(10, 0, 6)).unwrap())[0].0, "ApiCancelled");
        // Bracket: parent and take-profit held, the stop-loss transmits all three.
        let parent = OrderRequest { transmit: false, ..lmt(1, 10, "BUY", 100.0, 231.0) };
        let profit = OrderRequest { transmit: false, parent_id: 10, ..lmt(1, 11, "SELL", 100.0, 240.0) };
        let loss = OrderRequest { parent_id: 10, aux_price: Some(220.0), ..req(1, 12, "SELL", 100.0, "STP") };
        m.place_order(&parent, at(10, 1, 0)).unwrap();
        m.place_order(&profit, at(10, 1, 0)).unwrap();
        let sent = m.place_order(&loss, at(10, 1, 0)).unwrap();
        let by_id = |m: &Market, id| m.find_order("", 1, id).unwrap().status;
        assert_eq!(statuses(&sent).len(), 3);
        assert_eq!(
            (by_id(&m, 10), by_id(&m, 11), by_id(&m, 12)),
            (OrderStatus::Submitted, OrderStatus::PreSubmitted, OrderStatus::PreSubmitted)
        );
        m.poll(at(10, 1, 1));
        assert_eq!(
            (by_id(&m, 10), by_id(&m, 11), by_id(&m, 12)),
            (OrderStatus::Filled, OrderStatus::Submitted, OrderStatus::PreSubmitted)
        );
        m.set_price(AAPL, 240.5, at(10, 2, 0)).unwrap();
        m.poll(at(10, 2, 0));
        assert_eq!(
            (by_id(&m, 11), by_id(&m, 12)),
            (OrderStatus::Filled, OrderStatus::Cancelled),
            "one child fills, its sibling is cancelled"
        );
        assert_eq!(m.positions("", at(10, 2, 1)).unwrap()[0].position, 0.0);
    }

    #[test]
    fn global_cancel_and_what_if() {
        let mut m = market(1000.0, None);
        m.place_order(&lmt(1, 1, "BUY", 10.0, 200.0), at(10, 0, 1)).unwrap();
        m.place_order(&lmt(2, 1, "BUY", 10.0, 200.0), at(10, 0, 1)).unwrap();
        let w = m.what_if(&OrderRequest { what_if: true, ..req(1, 2, "BUY", 100.0, "MKT") }, at(10, 0, 2)).unwrap();
        assert!(
            w.init_margin_after > w.init_margin_before
                && w.commission == 1.0
                && w.order.order_type == OrderType::Market
        );
        assert!(m.find_order("", 1, 2).is_none(), "what-if books nothing");
        let events = m.global_cancel("", at(10, 0, 3)).unwrap();
        assert_eq!(statuses(&events).len(), 2);
        assert!(m.working_instruments().is_empty());
    }

    #[test]
    fn same_seed_same_trading_day() {
        let run = || {
            let mut m = market(100.0, Some(5));
            let mut events = Vec::new();
            events.extend(m.place_order(&req(1, 1, "BUY", 300.0, "MKT"), at(10, 0, 0)).unwrap());
            events.extend(m.place_order(&lmt(1, 2, "SELL", 100.0, 230.5), at(10, 0, 0)).unwrap());
            for s in 1..120 {
                for con_id in m.working_instruments() {
                    m.step(con_id, at(10, 0, s)).unwrap();
                }
                events.extend(m.poll(at(10, 0, s)));
            }
            events
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        assert!(executions(&a).len() >= 3, "the market order filled in chunks");
        assert!(executions(&a).iter().all(|e| e.origin == OrderOrigin::Api && e.exec_id.split('.').count() == 4));
    }
}
