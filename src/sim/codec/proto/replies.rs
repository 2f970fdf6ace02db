//! Protobuf replies, as IB's protobuf decoders read them (`py:decoder.py` `process*ProtoBuf`,
//! `py:decoder_utils.py`; ibapi 5.5 `src/*/common/decoders.rs`). Values a decoder treats as
//! required are always present, even when zero (`NextValidId.orderId`, `OrderStatus.filled`).

use super::schema as pb;
use crate::actors::wire::error::ErrorReply;
use crate::actors::wire::frame::proto_frame;
use crate::sim::msg::ids::incoming as inc;
use crate::sim::msg::{format_qty, Bar, Contract, Order, OrderState, Reply, TickByTick};

/// The protobuf frame(s) of `reply`.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let id = reply.msg_id();
    match reply {
        Reply::NextValidId(order_id) => proto_frame(id, &pb::NextValidId { order_id: Some(*order_id) }),
        Reply::ManagedAccounts(accounts) => {
            proto_frame(id, &pb::ManagedAccounts { accounts_list: Some(accounts.clone()) })
        }
        Reply::CurrentTime(secs) => proto_frame(id, &pb::CurrentTime { current_time: Some(*secs) }),
        Reply::CurrentTimeInMillis(ms) => {
            proto_frame(id, &pb::CurrentTimeInMillis { current_time_in_millis: Some(*ms) })
        }
        Reply::Error { id: req_id, code, message, time_ms } => {
            ErrorReply { id: *req_id, code: *code, message, time_ms: *time_ms }.proto_frame()
        }
        Reply::TickPrice { req_id, tick_type, price, size, attr_mask, .. } => proto_frame(
            id,
            &pb::TickPrice {
                req_id: Some(*req_id),
                tick_type: Some(*tick_type),
                price: Some(*price),
                size: size.map(format_qty),
                attr_mask: Some(*attr_mask),
            },
        ),
        Reply::TickSize { req_id, tick_type, size, .. } => proto_frame(
            id,
            &pb::TickSize { req_id: Some(*req_id), tick_type: Some(*tick_type), size: Some(format_qty(*size)) },
        ),
        Reply::TickGeneric { req_id, tick_type, value } => proto_frame(
            id,
            &pb::TickGeneric { req_id: Some(*req_id), tick_type: Some(*tick_type), value: Some(*value) },
        ),
        Reply::TickString { req_id, tick_type, value } => proto_frame(
            id,
            &pb::TickString { req_id: Some(*req_id), tick_type: Some(*tick_type), value: Some(value.clone()) },
        ),
        Reply::TickReqParams { req_id, min_tick, bbo_exchange, snapshot_permissions } => proto_frame(
            id,
            &pb::TickReqParams {
                req_id: Some(*req_id),
                min_tick: Some(min_tick.to_string()),
                bbo_exchange: Some(bbo_exchange.clone()),
                snapshot_permissions: Some(*snapshot_permissions),
                last_price_precision: None,
                last_size_precision: None,
            },
        ),
        Reply::MarketDataType { req_id, market_data_type } => {
            proto_frame(id, &pb::MarketDataType { req_id: Some(*req_id), market_data_type: Some(*market_data_type) })
        }
        Reply::TickSnapshotEnd { req_id } => proto_frame(id, &pb::TickSnapshotEnd { req_id: Some(*req_id) }),
        Reply::OrderStatus(s) => proto_frame(
            id,
            &pb::OrderStatus {
                order_id: Some(s.order_id),
                status: Some(s.status.clone()),
                filled: Some(format_qty(s.filled)),
                remaining: Some(format_qty(s.remaining)),
                avg_fill_price: Some(s.avg_fill_price),
                perm_id: Some(s.perm_id),
                parent_id: Some(s.parent_id),
                last_fill_price: Some(s.last_fill_price),
                client_id: Some(s.client_id),
                why_held: Some(s.why_held.clone()),
                mkt_cap_price: Some(s.mkt_cap_price),
            },
        ),
        Reply::OpenOrder { contract: c, order: o, state } => proto_frame(
            id,
            &pb::OpenOrder {
                order_id: Some(o.order_id),
                contract: Some(contract(c)),
                order: Some(order(o)),
                order_state: Some(order_state(state)),
            },
        ),
        Reply::OpenOrderEnd | Reply::CompletedOrdersEnd | Reply::PositionEnd => proto_frame(id, &pb::Empty {}),
        Reply::OrderBound { perm_id, client_id, order_id } => proto_frame(
            id,
            &pb::OrderBound { perm_id: Some(*perm_id), client_id: Some(*client_id), order_id: Some(*order_id) },
        ),
        Reply::CompletedOrder { contract: c, order: o, state } => proto_frame(
            id,
            &pb::CompletedOrder {
                contract: Some(contract(c)),
                order: Some(order(o)),
                order_state: Some(order_state(state)),
            },
        ),
        Reply::ExecutionData { req_id, contract: c, execution: e } => proto_frame(
            id,
            &pb::ExecutionDetails {
                req_id: Some(*req_id),
                contract: Some(contract(c)),
                execution: Some(pb::Execution {
                    order_id: Some(e.order_id),
                    exec_id: Some(e.exec_id.clone()),
                    time: Some(e.time.clone()),
                    acct_number: Some(e.acct_number.clone()),
                    exchange: Some(e.exchange.clone()),
                    side: Some(e.side.clone()),
                    shares: Some(format_qty(e.shares)),
                    price: Some(e.price),
                    perm_id: Some(e.perm_id),
                    client_id: Some(e.client_id),
                    is_liquidation: Some(e.liquidation != 0),
                    cum_qty: Some(format_qty(e.cum_qty)),
                    avg_price: Some(e.avg_price),
                    order_ref: some(&e.order_ref),
                    ev_rule: None,
                    ev_multiplier: None,
                    model_code: some(&e.model_code),
                    last_liquidity: Some(e.last_liquidity),
                    is_price_revision_pending: Some(false),
                    submitter: None,
                    opt_exercise_or_lapse_type: None,
                }),
            },
        ),
        Reply::ExecutionDataEnd { req_id } => proto_frame(id, &pb::ReqId { req_id: Some(*req_id) }),
        Reply::CommissionReport(r) => proto_frame(
            id,
            &pb::CommissionAndFeesReport {
                exec_id: Some(r.exec_id.clone()),
                commission_and_fees: Some(r.commission),
                currency: Some(r.currency.clone()),
                realized_pnl: Some(r.realized_pnl.unwrap_or(f64::MAX)),
                bond_yield: Some(f64::MAX),
                yield_redemption_date: None,
            },
        ),
        Reply::ContractData { req_id, details: d } => proto_frame(
            id,
            &pb::ContractData {
                req_id: Some(*req_id),
                contract: Some(contract(&d.contract)),
                contract_details: Some(pb::ContractDetails {
                    market_name: some(&d.market_name),
                    min_tick: Some(d.min_tick.to_string()),
                    order_types: some(&d.order_types),
                    valid_exchanges: some(&d.valid_exchanges),
                    price_magnifier: Some(d.price_magnifier),
                    under_con_id: Some(d.under_con_id),
                    long_name: some(&d.long_name),
                    contract_month: some(&d.contract_month),
                    industry: some(&d.industry),
                    category: some(&d.category),
                    subcategory: some(&d.subcategory),
                    time_zone_id: some(&d.time_zone_id),
                    trading_hours: some(&d.trading_hours),
                    liquid_hours: some(&d.liquid_hours),
                    ev_rule: some(&d.ev_rule),
                    ev_multiplier: d.ev_multiplier,
                    sec_id_list: d.sec_id_list.iter().cloned().collect(),
                    agg_group: Some(d.agg_group),
                    under_symbol: some(&d.under_symbol),
                    under_sec_type: some(&d.under_sec_type),
                    market_rule_ids: some(&d.market_rule_ids),
                    real_expiration_date: some(&d.real_expiration_date),
                    stock_type: some(&d.stock_type),
                    min_size: Some(format_qty(d.min_size)),
                    size_increment: Some(format_qty(d.size_increment)),
                    suggested_size_increment: Some(format_qty(d.suggested_size_increment)),
                }),
            },
        ),
        Reply::ContractDataEnd { req_id }
        | Reply::AccountSummaryEnd { req_id }
        | Reply::PositionMultiEnd { req_id }
        | Reply::AccountUpdateMultiEnd { req_id } => proto_frame(id, &pb::ReqId { req_id: Some(*req_id) }),
        Reply::SymbolSamples { req_id, descriptions } => proto_frame(
            id,
            &pb::SymbolSamples {
                req_id: Some(*req_id),
                contract_descriptions: descriptions
                    .iter()
                    .map(|d| pb::ContractDescription {
                        contract: Some(contract(&d.contract)),
                        derivative_sec_types: d.derivative_sec_types.clone(),
                    })
                    .collect(),
            },
        ),
        Reply::AccountValue { key, value, currency, account } => proto_frame(
            id,
            &pb::AccountValue {
                key: Some(key.clone()),
                value: Some(value.clone()),
                currency: Some(currency.clone()),
                account_name: Some(account.clone()),
            },
        ),
        Reply::PortfolioValue(p) => proto_frame(
            id,
            &pb::PortfolioValue {
                contract: Some(contract(&p.contract)),
                position: Some(format_qty(p.position)),
                market_price: Some(p.market_price),
                market_value: Some(p.market_value),
                average_cost: Some(p.average_cost),
                unrealized_pnl: Some(p.unrealized_pnl),
                realized_pnl: Some(p.realized_pnl),
                account_name: Some(p.account.clone()),
            },
        ),
        Reply::AccountUpdateTime(time) => proto_frame(id, &pb::AccountUpdateTime { time_stamp: Some(time.clone()) }),
        Reply::AccountDownloadEnd(account) => {
            proto_frame(id, &pb::AccountDataEnd { account_name: Some(account.clone()) })
        }
        Reply::Position { account, contract: c, position, avg_cost } => proto_frame(
            id,
            &pb::Position {
                account: Some(account.clone()),
                contract: Some(contract(c)),
                position: Some(format_qty(*position)),
                avg_cost: Some(*avg_cost),
            },
        ),
        Reply::AccountSummary { req_id, account, tag, value, currency } => proto_frame(
            id,
            &pb::AccountSummary {
                req_id: Some(*req_id),
                account: Some(account.clone()),
                tag: Some(tag.clone()),
                value: Some(value.clone()),
                currency: Some(currency.clone()),
            },
        ),
        Reply::PositionMulti { req_id, account, model_code, contract: c, position, avg_cost } => proto_frame(
            id,
            &pb::PositionMulti {
                req_id: Some(*req_id),
                account: Some(account.clone()),
                contract: Some(contract(c)),
                position: Some(format_qty(*position)),
                avg_cost: Some(*avg_cost),
                model_code: Some(model_code.clone()),
            },
        ),
        Reply::AccountUpdateMulti { req_id, account, model_code, key, value, currency } => proto_frame(
            id,
            &pb::AccountUpdateMulti {
                req_id: Some(*req_id),
                account: Some(account.clone()),
                model_code: Some(model_code.clone()),
                key: Some(key.clone()),
                value: Some(value.clone()),
                currency: Some(currency.clone()),
            },
        ),
        Reply::PnL { req_id, daily, unrealized, realized } => proto_frame(
            id,
            &pb::PnL {
                req_id: Some(*req_id),
                daily_pnl: Some(*daily),
                unrealized_pnl: Some(*unrealized),
                realized_pnl: Some(*realized),
            },
        ),
        Reply::PnLSingle { req_id, position, daily, unrealized, realized, value } => proto_frame(
            id,
            &pb::PnLSingle {
                req_id: Some(*req_id),
                position: Some(format_qty(*position)),
                daily_pnl: Some(*daily),
                unrealized_pnl: Some(*unrealized),
                realized_pnl: Some(*realized),
                value: Some(*value),
            },
        ),
        Reply::HistoricalData { req_id, start, end, bars, .. } => {
            let mut frames = proto_frame(
                id,
                &pb::HistoricalData { req_id: Some(*req_id), historical_data_bars: bars.iter().map(bar).collect() },
            );
            frames.extend(proto_frame(
                inc::HISTORICAL_DATA_END,
                &pb::HistoricalDataEnd {
                    req_id: Some(*req_id),
                    start_date_str: Some(start.clone()),
                    end_date_str: Some(end.clone()),
                },
            ));
            frames
        }
        Reply::HistoricalDataUpdate { req_id, bar: b, .. } => {
            proto_frame(id, &pb::HistoricalDataUpdate { req_id: Some(*req_id), historical_data_bar: Some(bar(b)) })
        }
        Reply::HistoricalSchedule { req_id, start, end, time_zone, sessions } => proto_frame(
            id,
            &pb::HistoricalSchedule {
                req_id: Some(*req_id),
                start_date_time: Some(start.clone()),
                end_date_time: Some(end.clone()),
                time_zone: Some(time_zone.clone()),
                historical_sessions: sessions
                    .iter()
                    .map(|(start, end, ref_date)| pb::HistoricalSession {
                        start_date_time: Some(start.clone()),
                        end_date_time: Some(end.clone()),
                        ref_date: Some(ref_date.clone()),
                    })
                    .collect(),
            },
        ),
        Reply::HeadTimestamp { req_id, timestamp } => {
            proto_frame(id, &pb::HeadTimestamp { req_id: Some(*req_id), head_timestamp: Some(timestamp.clone()) })
        }
        Reply::RealTimeBar { req_id, time, bar: b, .. } => proto_frame(
            id,
            &pb::RealTimeBarTick {
                req_id: Some(*req_id),
                time: Some(*time),
                open: Some(b.open),
                high: Some(b.high),
                low: Some(b.low),
                close: Some(b.close),
                volume: Some(format_qty(b.volume)),
                wap: Some(format_qty(b.wap)),
                count: Some(b.count),
            },
        ),
        Reply::TickByTick { req_id, tick } => proto_frame(id, &tick_by_tick(*req_id, tick)),
        Reply::UserInfo { req_id, white_branding_id } => {
            proto_frame(id, &pb::UserInfo { req_id: Some(*req_id), white_branding_id: Some(white_branding_id.clone()) })
        }
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn contract(c: &Contract) -> pb::Contract {
    pb::Contract {
        con_id: Some(c.con_id),
        symbol: some(&c.symbol),
        sec_type: some(&c.sec_type),
        last_trade_date_or_contract_month: some(&c.last_trade_date_or_contract_month),
        strike: Some(c.strike),
        right: some(&c.right),
        multiplier: c.multiplier.parse().ok(),
        exchange: some(&c.exchange),
        primary_exch: some(&c.primary_exchange),
        currency: some(&c.currency),
        local_symbol: some(&c.local_symbol),
        trading_class: some(&c.trading_class),
        sec_id_type: some(&c.sec_id_type),
        sec_id: some(&c.sec_id),
        description: some(&c.description),
        issuer_id: some(&c.issuer_id),
        include_expired: None,
        combo_legs_descrip: some(&c.combo_legs_descrip),
        last_trade_date: None,
    }
}

fn order(o: &Order) -> pb::Order {
    pb::Order {
        client_id: Some(o.client_id),
        order_id: Some(o.order_id),
        perm_id: Some(o.perm_id),
        parent_id: Some(o.parent_id),
        action: Some(o.action.clone()),
        total_quantity: Some(format_qty(o.total_quantity)),
        display_size: o.display_size,
        order_type: Some(o.order_type.clone()),
        lmt_price: o.lmt_price,
        aux_price: o.aux_price,
        tif: some(&o.tif),
        account: some(&o.account),
        all_or_none: Some(o.all_or_none),
        hidden: Some(o.hidden),
        outside_rth: Some(o.outside_rth),
        trailing_percent: o.trailing_percent,
        trail_stop_price: o.trail_stop_price,
        min_qty: o.min_qty,
        good_after_time: some(&o.good_after_time),
        good_till_date: some(&o.good_till_date),
        oca_group: some(&o.oca_group),
        order_ref: some(&o.order_ref),
        algo_strategy: some(&o.algo_strategy),
        what_if: Some(o.what_if),
        transmit: Some(o.transmit),
        open_close: some(&o.open_close),
        origin: Some(o.origin),
        model_code: some(&o.model_code),
        cash_qty: o.cash_qty,
        filled_quantity: o.filled_quantity.map(format_qty),
    }
}

fn order_state(s: &OrderState) -> pb::OrderState {
    let margin = |v: &String| v.parse::<f64>().ok();
    pb::OrderState {
        status: Some(s.status.clone()),
        init_margin_before: margin(&s.init_margin_before),
        maint_margin_before: margin(&s.maint_margin_before),
        equity_with_loan_before: margin(&s.equity_with_loan_before),
        init_margin_change: margin(&s.init_margin_change),
        maint_margin_change: margin(&s.maint_margin_change),
        equity_with_loan_change: margin(&s.equity_with_loan_change),
        init_margin_after: margin(&s.init_margin_after),
        maint_margin_after: margin(&s.maint_margin_after),
        equity_with_loan_after: margin(&s.equity_with_loan_after),
        commission_and_fees: s.commission,
        min_commission_and_fees: s.min_commission,
        max_commission_and_fees: s.max_commission,
        commission_and_fees_currency: some(&s.commission_currency),
        reject_reason: some(&s.reject_reason),
        warning_text: some(&s.warning_text),
        completed_time: some(&s.completed_time),
        completed_status: some(&s.completed_status),
    }
}

fn bar(b: &Bar) -> pb::HistoricalDataBar {
    pb::HistoricalDataBar {
        date: Some(b.date.clone()),
        open: Some(b.open),
        high: Some(b.high),
        low: Some(b.low),
        close: Some(b.close),
        volume: Some(format_qty(b.volume)),
        wap: Some(format_qty(b.wap)),
        bar_count: Some(b.count),
    }
}

fn tick_by_tick(req_id: i32, tick: &TickByTick) -> pb::TickByTickData {
    let mut data = pb::TickByTickData {
        req_id: Some(req_id),
        tick_type: Some(tick.tick_type()),
        historical_tick_last: None,
        historical_tick_bid_ask: None,
        historical_tick_mid_point: None,
    };
    match tick {
        TickByTick::Last { time, price, size, exchange, special_conditions, .. } => {
            data.historical_tick_last = Some(pb::HistoricalTickLast {
                time: Some(*time),
                tick_attrib_last: Some(pb::TickAttribLast { past_limit: Some(false), unreported: Some(false) }),
                price: Some(*price),
                size: Some(format_qty(*size)),
                exchange: Some(exchange.clone()),
                special_conditions: Some(special_conditions.clone()),
            })
        }
        TickByTick::BidAsk { time, bid, ask, bid_size, ask_size } => {
            data.historical_tick_bid_ask = Some(pb::HistoricalTickBidAsk {
                time: Some(*time),
                tick_attrib_bid_ask: Some(pb::TickAttribBidAsk {
                    bid_past_low: Some(false),
                    ask_past_high: Some(false),
                }),
                price_bid: Some(*bid),
                price_ask: Some(*ask),
                size_bid: Some(format_qty(*bid_size)),
                size_ask: Some(format_qty(*ask_size)),
            })
        }
        TickByTick::MidPoint { time, mid } => {
            data.historical_tick_mid_point =
                Some(pb::HistoricalTick { time: Some(*time), price: Some(*mid), size: Some("0".into()) })
        }
    }
    data
}
