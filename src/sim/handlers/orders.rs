//! Orders: placeOrder (new, modify, what-if), cancelOrder, reqGlobalCancel, reqOpenOrders,
//! reqAllOpenOrders, reqAutoOpenOrders, reqExecutions, reqCompletedOrders — all answered from
//! the market model, whose `events` and `executions` modules hold the client-id rules (who sees
//! which order and fill). Order events go out through [`Gateway::deliver`], so the placing
//! client and the master client get them the same way, now or when a fill comes later.

use super::{convert, Ctx};
use crate::sim::gateway::OrderLogEntry;
use crate::sim::market::{ExecFilter, OpenScope};
use crate::sim::msg::{format_qty, Contract, ExecutionFilter, Order, Reply, Request};

pub(super) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::PlaceOrder { order_id, contract, order } => place_order(ctx, order_id, &contract, &order),
        Request::CancelOrder { order_id, .. } => {
            let account = ctx.account("");
            let result = ctx.gateway.market().cancel_order(&account, ctx.client_id, order_id, ctx.gateway.now());
            match result {
                Ok(events) => ctx.gateway.deliver(&events),
                Err(e) => ctx.market_error(order_id, &e),
            }
        }
        Request::GlobalCancel => {
            let account = ctx.account("");
            let result = ctx.gateway.market().global_cancel(&account, ctx.gateway.now());
            match result {
                Ok(events) => ctx.gateway.deliver(&events),
                Err(e) => ctx.market_error(-1, &e),
            }
        }
        Request::OpenOrders => open_orders(ctx, OpenScope::Client),
        Request::AllOpenOrders => open_orders(ctx, OpenScope::All),
        Request::AutoOpenOrders { auto_bind } => {
            let account = ctx.account("");
            if let Err(e) = ctx.gateway.market().auto_open_orders(&account, ctx.client_id, auto_bind) {
                ctx.market_error(-1, &e);
            }
        }
        Request::Executions { req_id, filter } => executions(ctx, req_id, &filter),
        Request::CompletedOrders { api_only } => {
            let account = ctx.account("");
            let result = ctx.gateway.market().completed_orders(&account, api_only, ctx.gateway.now());
            match result {
                Ok(orders) => {
                    for order in &orders {
                        ctx.send(&convert::completed_order(order, ctx.gateway.tz));
                    }
                    ctx.send(&Reply::CompletedOrdersEnd);
                }
                Err(e) => ctx.market_error(-1, &e),
            }
        }
        _ => unreachable!("orders::handle is given order requests only"),
    }
}

fn place_order(ctx: &mut Ctx, order_id: i32, contract: &Contract, order: &Order) {
    let gateway = &ctx.gateway;
    let account = ctx.account(&order.account);
    let mut entry = OrderLogEntry {
        order_id,
        client_id: ctx.client_id,
        account: account.clone(),
        port: gateway.port(),
        symbol: contract.symbol.clone(),
        action: order.action.clone(),
        quantity: format_qty(order.total_quantity),
        order_type: order.order_type.clone(),
        limit_price: order.lmt_price,
        received_at: ctx.gateway.now(),
        outcome: String::new(),
        status: None,
    };
    if order_id <= 0 {
        let reason = format!("Error validating request.-'bO' : cause - Invalid order id {order_id}");
        entry.outcome = format!("rejected (321): {reason}");
        gateway.log_order(entry);
        ctx.error(order_id, 321, reason);
        return;
    }
    let mut request = convert::order_request(ctx.client_id, order_id, contract, order);
    request.account = account.clone();
    let now = ctx.gateway.now();
    let result = {
        let mut market = gateway.market();
        let modifies = market.find_order(&account, ctx.client_id, order_id).is_some();
        if request.what_if {
            market.what_if(&request, now).map(|w| (Vec::new(), Some(convert::what_if(&w)), "what-if"))
        } else {
            market
                .place_order(&request, now)
                .map(|events| (events, None, if modifies { "modified" } else { "accepted" }))
        }
    };
    match result {
        Ok((events, what_if, outcome)) => {
            entry.outcome = outcome.to_owned();
            gateway.note_order_id(order_id);
            gateway.log_order(entry);
            if let Some(answer) = what_if {
                ctx.send(&answer);
            }
            gateway.deliver(&events);
        }
        Err(e) => {
            entry.outcome = format!("rejected ({}): {e}", e.code());
            gateway.log_order(entry);
            ctx.market_error(order_id, &e);
        }
    }
}

fn open_orders(ctx: &mut Ctx, scope: OpenScope) {
    let account = ctx.account("");
    let result = ctx.gateway.market().open_orders(&account, ctx.client_id, scope);
    match result {
        Ok((orders, events)) => {
            ctx.gateway.deliver(&events);
            for order in &orders {
                ctx.send(&convert::open_order(order));
                ctx.send(&convert::order_status(order));
            }
            ctx.send(&Reply::OpenOrderEnd);
        }
        Err(e) => ctx.market_error(-1, &e),
    }
}

fn executions(ctx: &mut Ctx, req_id: i32, f: &ExecutionFilter) {
    let filter = ExecFilter {
        // IB's ExecutionFilter leaves clientId 0 to mean "any client".
        client_id: (f.client_id != 0).then_some(f.client_id),
        acct_code: f.acct_code.clone(),
        time: f.time.clone(),
        symbol: f.symbol.clone(),
        sec_type: f.sec_type.clone(),
        exchange: f.exchange.clone(),
        side: f.side.clone(),
        last_n_days: f.last_n_days.unwrap_or(0),
        specific_dates: f.specific_dates.clone(),
    };
    let account = ctx.account("");
    let replies: Result<Vec<Reply>, _> = {
        let market = ctx.gateway.market();
        market.executions_for(&account, ctx.client_id, &filter, ctx.gateway.now()).map(|records| {
            records
                .iter()
                .flat_map(|r| {
                    let (contract, execution) = convert::execution(&r.execution, ctx.gateway.tz);
                    [Reply::ExecutionData { req_id, contract, execution }, convert::commission(&r.commission)]
                })
                .collect()
        })
    };
    match replies {
        Ok(replies) => {
            for reply in &replies {
                ctx.send(reply);
            }
            ctx.send(&Reply::ExecutionDataEnd { req_id });
        }
        Err(e) => ctx.market_error(req_id, &e),
    }
}
