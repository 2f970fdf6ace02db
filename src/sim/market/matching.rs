//! Matching: when an order in the book trades against the simulated market, and at what price.
//!
//! Rules (the simulated exchange's; TWS semantics where they exist):
//! - An order may trade only once `fill_delay` has passed since it was accepted (placed or
//!   modified): the delay bounds how long a marketable order takes to fill.
//! - Market orders take liquidity at the touch: buys at the ask, sells at the bid (last
//!   liquidity 2, "removed").
//! - A limit order marketable when first evaluated (buy: ask ≤ limit; sell: bid ≥ limit)
//!   takes at the touch, i.e. at its limit or better, while it stays marketable. Otherwise it
//!   rests, and fills at its limit (liquidity 1, "added") when the market trades through it:
//!   for a buy, a print (last trade; the ask for forex) or the ask at or below the limit.
//! - Stop and stop-limit orders trigger on the last price (mid for forex, which has no
//!   trades): buy stops when last ≥ stop, sell stops when last ≤ stop. Until then they are
//!   `PreSubmitted`; once elected they become a market or limit order and `Submitted`.
//! - Partial fills: at most `display_size` per order per price step (the walk's step counter,
//!   which `set_price` advances too), so an order larger than the displayed size fills in
//!   chunks as the market moves.
//! - IOC: whatever the first evaluation can fill (one chunk), the rest is cancelled at once;
//!   FOK: all at once or nothing. DAY orders past their session end are cancelled.
//! - Untransmitted orders (`Inactive`) and children whose parent has not filled do not trade.

use chrono::{DateTime, Duration, Utc};

use super::book::OrderBook;
use super::events::MarketEvent;
use super::orders::{Action, OrderStatus, OrderType, Tif};
use super::prices::Quote;

/// A fill the market decided on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillIntent {
    pub perm_id: i64,
    pub qty: f64,
    pub price: f64,
    /// 1 added liquidity, 2 removed.
    pub liquidity: i32,
}

/// What one evaluation round decided, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Events(Vec<MarketEvent>),
    Fill(FillIntent),
    Cancel { perm_id: i64, by: &'static str },
}

/// Evaluate every open order of `book` against the current quotes.
pub fn evaluate(
    book: &mut OrderBook,
    quote: &dyn Fn(i32) -> Option<Quote>,
    now: DateTime<Utc>,
    fill_delay: Duration,
    display_size: f64,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for perm_id in book.open_perm_ids() {
        let held = book.get(perm_id).is_some_and(|o| book.parent_pending(o));
        let Some(order) = book.get_mut(perm_id) else { continue };
        if order.expires_at.is_some_and(|t| now >= t) {
            out.push(Outcome::Cancel { perm_id, by: "Cancelled by System" });
            continue;
        }
        if order.status == OrderStatus::Inactive || held {
            continue;
        }
        let Some(q) = quote(order.instrument.con_id) else { continue };
        let buy = order.action == Action::Buy;
        if order.order_type.is_stop() && !order.triggered {
            let print = if q.has_trades { q.last } else { q.mid() };
            let stop = order.aux_price.unwrap_or(f64::NAN);
            if (buy && print >= stop) || (!buy && print <= stop) {
                order.triggered = true;
                order.status = OrderStatus::Submitted;
                order.taking = None;
                out.push(Outcome::Events(vec![MarketEvent::status(order)]));
            } else {
                continue;
            }
        }
        if now < order.accepted_at + fill_delay || order.last_fill_step == Some(q.step) {
            continue;
        }
        let touch = if buy { q.ask } else { q.bid };
        let limit = match order.order_type {
            OrderType::Market | OrderType::Stop => None,
            OrderType::Limit | OrderType::StopLimit => order.limit_price,
        };
        let marketable = limit.is_none_or(|l| if buy { touch <= l } else { touch >= l });
        let first = order.taking.is_none();
        let fill = if marketable && order.taking != Some(false) {
            Some((touch, 2))
        } else if !first {
            let print = if q.has_trades { q.last } else { touch };
            limit.filter(|l| if buy { print <= *l || touch <= *l } else { print >= *l || touch >= *l }).map(|l| (l, 1))
        } else {
            None
        };
        order.taking = Some(if first { marketable } else { marketable && order.taking == Some(true) });
        let remaining = order.remaining();
        let immediate = matches!(order.tif, Tif::Ioc | Tif::Fok);
        if immediate && (fill.is_none() || (order.tif == Tif::Fok && remaining > display_size)) {
            out.push(Outcome::Cancel { perm_id, by: "Cancelled by System" });
            continue;
        }
        if let Some((price, liquidity)) = fill {
            let qty = remaining.min(display_size);
            order.last_fill_step = Some(q.step);
            out.push(Outcome::Fill(FillIntent { perm_id, qty, price, liquidity }));
            if immediate && qty < remaining {
                out.push(Outcome::Cancel { perm_id, by: "Cancelled by System" });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::sim::market::instruments::{ContractQuery, InstrumentTable};
    use crate::sim::market::orders::{validate, OrderRequest};
    use crate::sim::market::prices::PriceBook;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 16, 0, 0).unwrap()
    }

    #[test]
    fn a_marketable_limit_takes_while_a_resting_one_fills_at_its_limit() {
        let aapl = InstrumentTable::new().by_name("AAPL", now()).unwrap();
        let mut prices = PriceBook::new(1);
        let q = prices.set_price(&aapl, 100.0, now()).unwrap();
        let mut book = OrderBook::default();
        for (id, limit) in [(1, q.ask + 1.0), (2, 99.0)] {
            let req = OrderRequest {
                limit_price: Some(limit),
                ..OrderRequest::new(1, id, ContractQuery::stock("AAPL"), "BUY", 10.0, "LMT")
            };
            let terms = validate(&req, &aapl).unwrap();
            book.place("DU1", &req, aapl.clone(), terms, i64::from(id), now()).unwrap();
        }
        let quote = |p: &PriceBook| {
            let q = p.quote(aapl.con_id).cloned();
            move |_| q.clone()
        };
        let out = evaluate(&mut book, &quote(&prices), now(), Duration::zero(), 100.0);
        assert_eq!(out, [Outcome::Fill(FillIntent { perm_id: 1, qty: 10.0, price: q.ask, liquidity: 2 })]);
        assert_eq!(book.get(2).unwrap().taking, Some(false), "order 2 rests");
        // Same step again: nothing more (order 1 is still open in the book: fills are applied by the market).
        assert!(evaluate(&mut book, &quote(&prices), now(), Duration::zero(), 100.0)
            .iter()
            .all(|o| !matches!(o, Outcome::Fill(f) if f.perm_id == 2)));
        prices.set_price(&aapl, 98.5, now()).unwrap();
        let out = evaluate(&mut book, &quote(&prices), now(), Duration::zero(), 100.0);
        assert!(
            out.contains(&Outcome::Fill(FillIntent { perm_id: 2, qty: 10.0, price: 99.0, liquidity: 1 })),
            "{out:?}"
        );
    }

    #[test]
    fn the_fill_delay_holds_a_marketable_order() {
        let aapl = InstrumentTable::new().by_name("AAPL", now()).unwrap();
        let mut prices = PriceBook::new(1);
        prices.set_price(&aapl, 100.0, now()).unwrap();
        let mut book = OrderBook::default();
        let req = OrderRequest::new(1, 1, ContractQuery::stock("AAPL"), "SELL", 10.0, "MKT");
        let terms = validate(&req, &aapl).unwrap();
        book.place("DU1", &req, aapl.clone(), terms, 1, now()).unwrap();
        let q = prices.quote(aapl.con_id).cloned();
        let quote = move |_| q.clone();
        let delay = Duration::milliseconds(500);
        assert!(evaluate(&mut book, &quote, now() + Duration::milliseconds(499), delay, 100.0).is_empty());
        assert_eq!(evaluate(&mut book, &quote, now() + delay, delay, 100.0).len(), 1);
    }
}
