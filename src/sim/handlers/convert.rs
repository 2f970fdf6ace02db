//! Between the market model's types and the version-independent wire messages.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::sim::market::{self as mk, BarTime, EventKind, Instrument, MarketEvent, SecType};
use crate::sim::msg::{self, format_qty, Contract, Reply};

/// The contract a request names, as the market looks it up.
pub fn query(c: &Contract) -> mk::ContractQuery {
    mk::ContractQuery {
        con_id: c.con_id,
        symbol: c.symbol.clone(),
        sec_type: c.sec_type.clone(),
        last_trade_date_or_contract_month: c.last_trade_date_or_contract_month.clone(),
        multiplier: c.multiplier.clone(),
        exchange: c.exchange.clone(),
        primary_exchange: c.primary_exchange.clone(),
        currency: c.currency.clone(),
        local_symbol: c.local_symbol.clone(),
        trading_class: c.trading_class.clone(),
    }
}

/// Whether TWS counts this instrument's sizes in lots below some versions (US stocks).
pub fn us_stock(i: &Instrument) -> bool {
    i.sec_type == SecType::Stk && i.currency == "USD"
}

/// An instrument as replies describe it, on `exchange` (SMART for stocks unless asked).
pub fn contract(i: &Instrument, exchange: &str) -> Contract {
    let exchange = if exchange.is_empty() { default_exchange(i) } else { exchange.to_owned() };
    Contract {
        con_id: i.con_id,
        symbol: i.symbol.clone(),
        sec_type: i.sec_type.as_str().to_owned(),
        last_trade_date_or_contract_month: i.last_trade_date_str(),
        strike: 0.0,
        right: String::new(),
        multiplier: if i.sec_type == SecType::Fut { format_qty(i.multiplier) } else { String::new() },
        exchange,
        primary_exchange: i.primary_exchange.clone(),
        currency: i.currency.clone(),
        local_symbol: i.local_symbol.clone(),
        trading_class: i.trading_class.clone(),
        description: i.long_name.clone(),
        ..Contract::default()
    }
}

/// Where an order or position is shown: SMART for stocks, the listing exchange otherwise.
pub fn default_exchange(i: &Instrument) -> String {
    match i.sec_type {
        SecType::Stk => "SMART".to_owned(),
        _ => i.primary_exchange.clone(),
    }
}

pub fn details(d: &mk::ContractDetails) -> msg::ContractDetails {
    let i = &d.instrument;
    let (under_con_id, under_symbol, under_sec_type) = match &i.underlying {
        Some((con_id, symbol, sec_type)) => (*con_id, symbol.clone(), sec_type.as_str().to_owned()),
        None => (0, String::new(), String::new()),
    };
    msg::ContractDetails {
        contract: contract(i, &d.exchange),
        market_name: d.market_name.clone(),
        min_tick: i.min_tick,
        order_types: d.order_types.clone(),
        valid_exchanges: d.valid_exchanges.clone(),
        price_magnifier: i.price_magnifier,
        under_con_id,
        long_name: i.long_name.clone(),
        contract_month: d.contract_month.clone(),
        industry: i.industry.clone(),
        category: i.category.clone(),
        subcategory: i.subcategory.clone(),
        time_zone_id: d.time_zone_id.to_owned(),
        trading_hours: d.trading_hours.clone(),
        liquid_hours: d.liquid_hours.clone(),
        ev_rule: String::new(),
        ev_multiplier: None,
        sec_id_list: d.sec_id_list.clone(),
        agg_group: d.agg_group,
        under_symbol,
        under_sec_type,
        market_rule_ids: d.market_rule_ids.clone(),
        real_expiration_date: d.real_expiration_date.clone(),
        last_trade_time: d.last_trade_time.clone(),
        stock_type: i.stock_type.clone(),
        min_size: d.min_size,
        size_increment: d.size_increment,
        suggested_size_increment: d.suggested_size_increment,
    }
}

pub fn description(d: &mk::ContractDescription) -> msg::ContractDescription {
    msg::ContractDescription {
        contract: Contract {
            con_id: d.con_id,
            symbol: d.symbol.clone(),
            sec_type: d.sec_type.as_str().to_owned(),
            primary_exchange: d.primary_exchange.clone(),
            currency: d.currency.clone(),
            description: d.description.clone(),
            ..Contract::default()
        },
        derivative_sec_types: d.derivative_sec_types.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// An order request from the wire, for client `client_id`.
pub fn order_request(client_id: i32, order_id: i32, contract: &Contract, o: &msg::Order) -> mk::OrderRequest {
    mk::OrderRequest {
        client_id,
        order_id,
        contract: query(contract),
        action: o.action.clone(),
        total_quantity: o.total_quantity,
        order_type: o.order_type.clone(),
        limit_price: o.lmt_price,
        aux_price: o.aux_price,
        tif: o.tif.clone(),
        outside_rth: o.outside_rth,
        account: o.account.clone(),
        order_ref: o.order_ref.clone(),
        parent_id: o.parent_id,
        oca_group: o.oca_group.clone(),
        transmit: o.transmit,
        what_if: o.what_if,
        model_code: o.model_code.clone(),
    }
}

/// The order as openOrder / completedOrder echo it.
pub fn order(o: &mk::Order) -> msg::Order {
    msg::Order {
        order_id: o.order_id,
        client_id: o.client_id,
        perm_id: o.perm_id,
        parent_id: o.parent_id,
        action: o.action.as_str().to_owned(),
        total_quantity: o.total_quantity,
        order_type: o.order_type.as_str().to_owned(),
        lmt_price: o.limit_price,
        aux_price: o.aux_price,
        tif: o.tif.as_str().to_owned(),
        oca_group: o.oca_group.clone(),
        account: o.account.clone(),
        order_ref: o.order_ref.clone(),
        transmit: o.transmit,
        outside_rth: o.outside_rth,
        model_code: o.model_code.clone(),
        filled_quantity: Some(o.filled),
        origin: 0,
        ..msg::Order::default()
    }
}

pub fn open_order(o: &mk::Order) -> Reply {
    Reply::OpenOrder {
        contract: contract(&o.instrument, ""),
        order: Box::new(order(o)),
        state: msg::OrderState { status: o.status.as_str().to_owned(), ..msg::OrderState::default() },
    }
}

pub fn order_status(o: &mk::Order) -> Reply {
    Reply::OrderStatus(msg::OrderStatus {
        order_id: o.order_id,
        status: o.status.as_str().to_owned(),
        filled: o.filled,
        remaining: o.remaining(),
        avg_fill_price: o.avg_fill_price,
        perm_id: o.perm_id,
        parent_id: o.parent_id,
        last_fill_price: o.last_fill_price,
        client_id: o.client_id,
        why_held: o.why_held.clone(),
        mkt_cap_price: o.mkt_cap_price,
    })
}

pub fn completed_order(o: &mk::Order, tz: Tz) -> Reply {
    Reply::CompletedOrder {
        contract: contract(&o.instrument, ""),
        order: Box::new(order(o)),
        state: msg::OrderState {
            status: o.status.as_str().to_owned(),
            completed_time: o.completed_at.map(|t| mk::tws_time(t, tz)).unwrap_or_default(),
            completed_status: o.completed_status.clone(),
            ..msg::OrderState::default()
        },
    }
}

/// What-if: the order with the margin and commission it would cause (openOrder).
pub fn what_if(w: &mk::WhatIf) -> Reply {
    let money = |v: f64| format!("{v:.2}");
    Reply::OpenOrder {
        contract: contract(&w.order.instrument, ""),
        order: Box::new(msg::Order { what_if: true, ..order(&w.order) }),
        state: msg::OrderState {
            status: w.order.status.as_str().to_owned(),
            init_margin_before: money(w.init_margin_before),
            maint_margin_before: money(w.maint_margin_before),
            equity_with_loan_before: money(w.equity_with_loan_before),
            init_margin_change: money(w.init_margin_after - w.init_margin_before),
            maint_margin_change: money(w.maint_margin_after - w.maint_margin_before),
            equity_with_loan_change: money(w.equity_with_loan_after - w.equity_with_loan_before),
            init_margin_after: money(w.init_margin_after),
            maint_margin_after: money(w.maint_margin_after),
            equity_with_loan_after: money(w.equity_with_loan_after),
            commission: Some(w.commission),
            min_commission: Some(w.commission),
            max_commission: Some(w.commission),
            commission_currency: w.commission_currency.clone(),
            ..msg::OrderState::default()
        },
    }
}

pub fn execution(e: &mk::Execution, tz: Tz) -> (Contract, msg::Execution) {
    let execution = msg::Execution {
        order_id: e.order_id,
        exec_id: e.exec_id.clone(),
        time: mk::tws_time(e.time, tz),
        acct_number: e.account.clone(),
        exchange: e.exchange.clone(),
        side: e.side.to_owned(),
        shares: e.shares,
        price: e.price,
        perm_id: e.perm_id,
        client_id: e.client_id,
        liquidation: e.liquidation,
        cum_qty: e.cum_qty,
        avg_price: e.avg_price,
        order_ref: e.order_ref.clone(),
        model_code: e.model_code.clone(),
        last_liquidity: e.last_liquidity,
    };
    (contract(&e.instrument, &e.exchange), execution)
}

pub fn commission(c: &mk::CommissionReport) -> Reply {
    Reply::CommissionReport(msg::CommissionReport {
        exec_id: c.exec_id.clone(),
        commission: c.commission,
        currency: c.currency.clone(),
        realized_pnl: c.realized_pnl,
    })
}

/// The replies one market event means for its recipients.
pub fn event_replies(event: &MarketEvent, tz: Tz) -> Vec<Reply> {
    match &event.kind {
        EventKind::Status(order) => vec![open_order(order), order_status(order)],
        EventKind::Execution(e) => {
            let (contract, execution) = execution(e, tz);
            vec![Reply::ExecutionData { req_id: -1, contract, execution }]
        }
        EventKind::Commission(c) => vec![commission(c)],
        EventKind::Notice { code, message } => vec![Reply::error(event.order_id, *code, message.clone())],
        EventKind::Bound => {
            vec![Reply::OrderBound { perm_id: event.perm_id, client_id: event.client_id, order_id: event.order_id }]
        }
    }
}

pub fn tick(req_id: i32, t: &mk::Tick, us_stock: bool) -> Reply {
    match t {
        mk::Tick::Price { tick_type, price, size, attr_mask } => Reply::TickPrice {
            req_id,
            tick_type: *tick_type,
            price: *price,
            size: *size,
            attr_mask: *attr_mask,
            us_stock,
        },
        mk::Tick::Size { tick_type, size } => Reply::TickSize { req_id, tick_type: *tick_type, size: *size, us_stock },
        mk::Tick::Generic { tick_type, value } => Reply::TickGeneric { req_id, tick_type: *tick_type, value: *value },
        mk::Tick::String { tick_type, value } => {
            Reply::TickString { req_id, tick_type: *tick_type, value: value.clone() }
        }
    }
}

pub fn tick_by_tick(t: &mk::TickByTick, all_last: bool) -> msg::TickByTick {
    match t {
        mk::TickByTick::Last { time, price, size, exchange, special_conditions } => msg::TickByTick::Last {
            all_last,
            time: time.timestamp(),
            price: *price,
            size: *size,
            exchange: exchange.clone(),
            special_conditions: special_conditions.clone(),
        },
        mk::TickByTick::BidAsk { time, bid, ask, bid_size, ask_size } => msg::TickByTick::BidAsk {
            time: time.timestamp(),
            bid: *bid,
            ask: *ask,
            bid_size: *bid_size,
            ask_size: *ask_size,
        },
        mk::TickByTick::MidPoint { time, mid } => msg::TickByTick::MidPoint { time: time.timestamp(), mid: *mid },
    }
}

/// A bar's date as `formatDate` asks: 2 is epoch seconds, else `yyyymmdd hh:mm:ss zone`;
/// day and longer bars are `yyyymmdd` either way.
pub fn bar(b: &mk::Bar, format_date: i32, tz: Tz) -> msg::Bar {
    let date = match b.time {
        BarTime::Date(d) => d.format("%Y%m%d").to_string(),
        BarTime::Time(t) if format_date == 2 => t.timestamp().to_string(),
        BarTime::Time(t) => mk::tws_time(t, tz),
    };
    msg::Bar {
        date,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
        wap: b.wap,
        count: b.count.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
    }
}

/// A time as reqHeadTimestamp answers it for `format_date`.
pub fn timestamp(t: DateTime<Utc>, format_date: i32, tz: Tz) -> String {
    if format_date == 2 {
        t.timestamp().to_string()
    } else {
        mk::tws_time(t, tz)
    }
}

pub fn position_contract(i: &Instrument) -> Contract {
    contract(i, &i.primary_exchange)
}

pub fn portfolio_value(p: &mk::PortfolioItem) -> Reply {
    Reply::PortfolioValue(msg::PortfolioValue {
        contract: position_contract(&p.instrument),
        position: p.position,
        market_price: p.market_price,
        market_value: p.market_value,
        average_cost: p.average_cost,
        unrealized_pnl: p.unrealized_pnl,
        realized_pnl: p.realized_pnl,
        account: p.account.clone(),
    })
}

pub fn account_value(v: &mk::AccountValue) -> Reply {
    Reply::AccountValue {
        key: v.key.clone(),
        value: v.value.clone(),
        currency: v.currency.clone(),
        account: v.account.clone(),
    }
}
