//! reqMktData / cancelMktData: level-1 quotes on the gateway's random walk.

use std::sync::Arc;

use super::subscriptions::Kind;
use super::Ctx;
use crate::sim::gateway::Gateway;
use crate::sim::msg::{Reply, Request};
use crate::sim::outbox::Outbox;

pub(super) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::MarketData { req_id, contract, snapshot, .. } => {
            ctx.gateway.count_market_data_request();
            if !snapshot && !ctx.admit(Kind::MarketData, req_id) {
                return;
            }
            if !contract.names_a_security() {
                ctx.error(req_id, 200, "No security definition has been found for the request");
                return;
            }
            let symbol =
                if contract.symbol.is_empty() { format!("CONID{}", contract.con_id) } else { contract.symbol.clone() };
            ctx.send(&Reply::MarketDataType { req_id, market_data_type: 1 });
            ctx.send(&Reply::TickReqParams {
                req_id,
                min_tick: 0.01,
                bbo_exchange: "9c0001".into(),
                snapshot_permissions: 3,
            });
            let mut ticker =
                Ticker { gateway: Arc::clone(&ctx.gateway), outbox: ctx.outbox.clone(), req_id, symbol, volume: 0 };
            if snapshot {
                ticker.emit();
                ctx.send(&Reply::TickSnapshotEnd { req_id });
                return;
            }
            let conditions = ctx.conditions.clone();
            let interval = ctx.gateway.options.tick_interval;
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
            ctx.subs.insert(Kind::MarketData, req_id, Some(task.abort_handle()));
            ctx.gateway.subscriptions_changed(1);
        }
        Request::CancelMarketData { req_id } => {
            if ctx.subs.remove(Kind::MarketData, req_id) {
                ctx.gateway.subscriptions_changed(-1);
            } else {
                ctx.error(req_id, 300, format!("Can't find EId with tickerId:{req_id}"));
            }
        }
        _ => unreachable!("market_data::handle is given market-data requests only"),
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
        for (tick_type, price) in [(1, last - 0.01), (2, last + 0.01), (4, last)] {
            let size = self.gateway.random_size();
            if tick_type == 4 {
                self.volume += u64::from(size);
            }
            self.outbox.send(&Reply::TickPrice {
                req_id: self.req_id,
                tick_type,
                price: (price * 100.0).round() / 100.0,
                size: Some(f64::from(size)),
                attr_mask: 0,
            });
        }
        self.outbox.send(&Reply::TickSize { req_id: self.req_id, tick_type: 8, size: self.volume as f64 });
    }
}
