//! Orders: placeOrder (new and modify), cancelOrder, reqGlobalCancel, reqOpenOrders,
//! reqAllOpenOrders, reqExecutions, reqCompletedOrders.

use chrono::Utc;

use super::Ctx;
use crate::sim::gateway::{BookOrder, OrderLogEntry, OrderStatusKind};
use crate::sim::msg::{format_qty, Contract, ExecutionFilter, Order, Reply, Request};

pub(super) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::PlaceOrder { order_id, contract, order } => place_order(ctx, order_id, contract, *order),
        Request::CancelOrder { order_id, .. } => cancel_order(ctx, order_id),
        Request::GlobalCancel => global_cancel(ctx),
        Request::OpenOrders => open_orders(ctx, false),
        Request::AllOpenOrders => open_orders(ctx, true),
        Request::Executions { req_id, filter } => executions(ctx, req_id, &filter),
        Request::CompletedOrders { .. } => completed_orders(ctx),
        _ => unreachable!("orders::handle is given order requests only"),
    }
}

/// Why TWS refuses an order outright, as (code, text).
fn validate(order_id: i32, contract: &Contract, order: &Order) -> Option<(i32, String)> {
    let quantity = order.total_quantity;
    if order_id <= 0 {
        Some((321, format!("Error validating request.-'bO' : cause - Invalid order id {order_id}")))
    } else if !contract.names_a_security() {
        Some((200, "No security definition has been found for the request".to_owned()))
    } else if !matches!(order.action.as_str(), "BUY" | "SELL" | "SSHORT" | "SLONG") {
        Some((201, format!("Order rejected - reason:Invalid action {:?}", order.action)))
    } else if !(quantity > 0.0 && quantity.is_finite()) {
        Some((201, format!("Order rejected - reason:The order quantity {:?} is not positive", format_qty(quantity))))
    } else if order.order_type == "LMT" && !order.lmt_price.is_some_and(|p| p > 0.0 && p < f64::MAX) {
        Some((201, "Order rejected - reason:A limit order needs a positive limit price".to_owned()))
    } else {
        None
    }
}

fn place_order(ctx: &mut Ctx, order_id: i32, contract: Contract, mut order: Order) {
    let client_id = ctx.client_id;
    let gateway = &ctx.gateway;
    if order.account.is_empty() {
        order.account = gateway.account.clone();
    }
    let mut entry = OrderLogEntry {
        order_id,
        client_id,
        account: order.account.clone(),
        port: gateway.port(),
        symbol: contract.symbol.clone(),
        action: order.action.clone(),
        quantity: format_qty(order.total_quantity),
        order_type: order.order_type.clone(),
        limit_price: order.lmt_price,
        received_at: Utc::now(),
        outcome: String::new(),
        status: None,
    };
    if let Some((code, reason)) = validate(order_id, &contract, &order) {
        entry.outcome = format!("rejected ({code}): {reason}");
        gateway.log_order(entry);
        ctx.error(order_id, code, reason);
        return;
    }
    let what_if = order.what_if;
    let (replies, fill) = {
        let mut inner = gateway.lock();
        let book = &mut inner.book;
        let key = (client_id, order_id);
        let existing = book.orders.get(&key).map(|o| (o.is_open(), o.status, o.order.perm_id));
        match existing {
            Some((false, status, _)) => {
                entry.outcome = format!("rejected (103): duplicate order id, order is {}", status.as_str());
                drop(inner);
                gateway.log_order(entry);
                ctx.error(order_id, 103, "Duplicate order id");
                return;
            }
            Some((true, ..)) => entry.outcome = "modified".into(),
            None if what_if => entry.outcome = "what-if".into(),
            None => entry.outcome = "accepted".into(),
        }
        book.note_order_id(order_id);
        order.perm_id = match existing {
            Some((.., perm_id)) => perm_id,
            None => book.new_perm_id(),
        };
        order.client_id = client_id;
        order.order_id = order_id;
        let status =
            if order.transmit && !what_if { OrderStatusKind::Submitted } else { OrderStatusKind::PreSubmitted };
        let booked = BookOrder { contract, order, status, filled: 0.0, avg_fill_price: 0.0 };
        let mut replies = vec![booked.open_order()];
        if !what_if {
            replies.push(booked.order_status());
            book.orders.insert(key, booked);
        }
        (replies, status == OrderStatusKind::Submitted && existing.is_none())
    };
    gateway.log_order(entry);
    for reply in &replies {
        ctx.send(reply);
    }
    if fill {
        gateway.schedule_fill(client_id, order_id);
    }
}

fn cancel_order(ctx: &mut Ctx, order_id: i32) {
    let replies = {
        let mut inner = ctx.gateway.lock();
        match inner.book.orders.get_mut(&(ctx.client_id, order_id)) {
            Some(order) if order.is_open() => {
                order.status = OrderStatusKind::Cancelled;
                vec![order.order_status(), Reply::error(order_id, 202, "Order Canceled - reason:")]
            }
            Some(order) => vec![Reply::error(
                order_id,
                10148,
                format!(
                    "OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {}.",
                    order.status.as_str()
                ),
            )],
            None => vec![Reply::error(
                order_id,
                10147,
                format!("OrderId {order_id} that needs to be cancelled is not found."),
            )],
        }
    };
    for reply in &replies {
        ctx.send(reply);
    }
}

fn global_cancel(ctx: &mut Ctx) {
    let cancelled: Vec<(i32, Reply, Reply)> = {
        let mut inner = ctx.gateway.lock();
        inner
            .book
            .orders
            .values_mut()
            .filter(|o| o.is_open())
            .map(|order| {
                order.status = OrderStatusKind::Cancelled;
                let notice = Reply::error(order.order.order_id, 202, "Order Canceled - reason:");
                (order.client_id(), order.order_status(), notice)
            })
            .collect()
    };
    for (client_id, status, notice) in cancelled {
        if let Some(outbox) = ctx.gateway.outbox_of(client_id) {
            outbox.send(&status);
            outbox.send(&notice);
        }
    }
}

fn open_orders(ctx: &mut Ctx, all_clients: bool) {
    let replies: Vec<Reply> = {
        let inner = ctx.gateway.lock();
        let mut open: Vec<&BookOrder> = inner
            .book
            .orders
            .values()
            .filter(|o| o.is_open() && (all_clients || o.client_id() == ctx.client_id))
            .collect();
        open.sort_by_key(|o| (o.client_id(), o.order.order_id));
        open.into_iter().flat_map(|o| [o.open_order(), o.order_status()]).collect()
    };
    for reply in &replies {
        ctx.send(reply);
    }
    ctx.send(&Reply::OpenOrderEnd);
}

fn completed_orders(ctx: &mut Ctx) {
    ctx.send(&Reply::CompletedOrdersEnd);
}

fn executions(ctx: &mut Ctx, req_id: i32, filter: &ExecutionFilter) {
    let wanted = |value: &str, actual: &str| value.is_empty() || actual.eq_ignore_ascii_case(value);
    let side = execution_side(&filter.side);
    let replies: Vec<Reply> = {
        let inner = ctx.gateway.lock();
        inner
            .book
            .executions
            .iter()
            .filter(|e| filter.client_id == 0 || filter.client_id == e.client_id)
            .filter(|e| wanted(&filter.acct_code, &e.execution.acct_number))
            .filter(|e| wanted(&filter.symbol, &e.contract.symbol))
            .filter(|e| wanted(&filter.sec_type, &e.contract.sec_type))
            .filter(|e| wanted(&side, &e.execution.side))
            .flat_map(|e| {
                [
                    Reply::ExecutionData { req_id, contract: e.contract.clone(), execution: e.execution.clone() },
                    e.commission_report(),
                ]
            })
            .collect()
    };
    for reply in &replies {
        ctx.send(reply);
    }
    ctx.send(&Reply::ExecutionDataEnd { req_id });
}

/// An execution filter's side (`BUY`/`SELL`) as executions spell it (`BOT`/`SLD`).
fn execution_side(side: &str) -> String {
    match side.to_ascii_uppercase().as_str() {
        "BUY" => "BOT".to_owned(),
        "SELL" | "SSHORT" => "SLD".to_owned(),
        other => other.to_owned(),
    }
}
