//! reqMktData / cancelMktData and reqTickByTickData / cancelTickByTickData, from the market's
//! walk: the default ticks and the generic ticks asked for (`market::ticks` tables them), a
//! snapshot with open/high/low/close and its end, and tick-by-tick trades and quotes.

use chrono::Utc;

use super::feed::{self, Wake};
use super::subscriptions::Kind;
use super::{convert, Ctx};
use crate::sim::market::{changed_ticks, Tick, TickByTick};
use crate::sim::msg::{Contract, Reply, Request};

pub(super) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::MarketData { req_id, contract, generic_ticks, snapshot, .. } => {
            market_data(ctx, req_id, &contract, &generic_ticks, snapshot)
        }
        Request::CancelMarketData { req_id } => {
            if ctx.subs.remove(Kind::MarketData, req_id) {
                ctx.gateway.subscriptions_changed(-1);
            } else {
                ctx.error(req_id, 300, format!("Can't find EId with tickerId:{req_id}"));
            }
        }
        Request::TickByTick { req_id, contract, tick_type, .. } => tick_by_tick(ctx, req_id, &contract, &tick_type),
        Request::CancelTickByTick { req_id } => {
            ctx.subs.remove(Kind::TickByTick, req_id);
        }
        _ => unreachable!("market_data::handle is given market-data requests only"),
    }
}

fn market_data(ctx: &mut Ctx, req_id: i32, contract: &Contract, generic_ticks: &str, snapshot: bool) {
    ctx.gateway.count_market_data_request();
    if ctx.conditions.borrow().competing_session {
        return ctx.send(&crate::sim::farms::competing_session(req_id));
    }
    if !snapshot && !ctx.admit(Kind::MarketData, req_id) {
        return;
    }
    let now = Utc::now();
    // Snapshots take no generic ticks ("Streaming Data Snapshots"): the default set.
    let list = if snapshot { "" } else { generic_ticks };
    let first = {
        let mut market = ctx.gateway.market();
        market
            .resolve(&convert::query(contract), now)
            .and_then(|i| market.ticks(i.con_id, list, now).map(|ticks| (i, ticks)))
    };
    let (instrument, ticks) = match first {
        Ok(first) => first,
        Err(e) => return ctx.market_error(req_id, &e),
    };
    let us_stock = convert::us_stock(&instrument);
    ctx.send(&Reply::MarketDataType { req_id, market_data_type: 1 });
    ctx.send(&Reply::TickReqParams {
        req_id,
        min_tick: instrument.min_tick,
        bbo_exchange: "9c0001".into(),
        snapshot_permissions: 3,
    });
    if snapshot {
        for tick in &ticks {
            ctx.send(&convert::tick(req_id, tick, us_stock));
        }
        ctx.send(&Reply::TickSnapshotEnd { req_id });
        return;
    }
    let con_id = instrument.con_id;
    let list = list.to_owned();
    let watching = ctx.gateway.watch_instrument(con_id);
    let mut last: Vec<Tick> = Vec::new();
    feed::start(ctx, Kind::MarketData, req_id, Wake::Rounds, Some(watching), move |gateway, outbox| {
        let Ok(now_ticks) = gateway.market().ticks(con_id, &list, Utc::now()) else { return };
        for tick in changed_ticks(&last, &now_ticks) {
            outbox.send(&convert::tick(req_id, &tick, us_stock));
        }
        last = now_ticks;
    });
    ctx.gateway.subscriptions_changed(1);
}

fn tick_by_tick(ctx: &mut Ctx, req_id: i32, contract: &Contract, tick_type: &str) {
    if !ctx.admit(Kind::TickByTick, req_id) {
        return;
    }
    let now = Utc::now();
    let first = {
        let mut market = ctx.gateway.market();
        market
            .resolve(&convert::query(contract), now)
            .and_then(|i| market.tick_by_tick(i.con_id, tick_type, now).map(|t| (i.con_id, t)))
    };
    let (con_id, _) = match first {
        Ok(first) => first,
        Err(e) => return ctx.market_error(req_id, &e),
    };
    let kind = tick_type.to_owned();
    let all_last = kind.eq_ignore_ascii_case("AllLast");
    let watching = ctx.gateway.watch_instrument(con_id);
    let mut last: Option<TickByTick> = None;
    feed::start(ctx, Kind::TickByTick, req_id, Wake::Rounds, Some(watching), move |gateway, outbox| {
        let Ok(tick) = gateway.market().tick_by_tick(con_id, &kind, Utc::now()) else { return };
        if last.as_ref() != Some(&tick) {
            outbox.send(&Reply::TickByTick { req_id, tick: convert::tick_by_tick(&tick, all_last) });
            last = Some(tick);
        }
    });
}
