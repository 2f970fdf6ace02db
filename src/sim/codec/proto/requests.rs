//! Protobuf requests (`py:client_utils.py` `create*Proto`, the same messages ibapi 5.5 sends).
//! Absent scalars read as IB's defaults: 0, empty, false (`transmit` included, as the client
//! leaves it out only when false).

use prost::Message;

use super::super::{DecodeError, RequestError};
use super::schema as pb;
use crate::sim::msg::ids::{outgoing as out, request_info};
use crate::sim::msg::{format_qty, Contract, ExecutionFilter, HistoricalDataRequest, Order, Request};

/// Decode protobuf request `msg_id`.
pub fn decode_request(msg_id: i32, payload: &[u8]) -> Result<Request, RequestError> {
    decode(msg_id, payload).map_err(|error| RequestError { msg_id, req_id: leading_req_id(msg_id, payload), error })
}

fn parse<M: Message + Default>(payload: &[u8]) -> Result<M, DecodeError> {
    M::decode(payload).map_err(|e| DecodeError::Proto(e.to_string()))
}

fn req_id(payload: &[u8]) -> Result<i32, DecodeError> {
    Ok(parse::<pb::ReqId>(payload)?.req_id.unwrap_or(0))
}

fn s(v: Option<String>) -> String {
    v.unwrap_or_default()
}

fn decode(msg_id: i32, p: &[u8]) -> Result<Request, DecodeError> {
    Ok(match msg_id {
        out::START_API => {
            let m: pb::StartApiRequest = parse(p)?;
            Request::StartApi { client_id: m.client_id.unwrap_or(0), optional_capabilities: s(m.optional_capabilities) }
        }
        out::REQ_CURRENT_TIME => parse::<pb::Empty>(p).map(|_| Request::CurrentTime)?,
        out::REQ_CURRENT_TIME_IN_MILLIS => parse::<pb::Empty>(p).map(|_| Request::CurrentTimeInMillis)?,
        out::REQ_IDS => Request::Ids { num_ids: parse::<pb::IdsRequest>(p)?.num_ids.unwrap_or(0) },
        out::REQ_MANAGED_ACCTS => parse::<pb::Empty>(p).map(|_| Request::ManagedAccounts)?,
        out::REQ_MARKET_DATA_TYPE => Request::MarketDataType {
            market_data_type: parse::<pb::MarketDataTypeRequest>(p)?.market_data_type.unwrap_or(0),
        },
        out::REQ_AUTO_OPEN_ORDERS => {
            Request::AutoOpenOrders { auto_bind: parse::<pb::AutoOpenOrdersRequest>(p)?.auto_bind.unwrap_or(false) }
        }
        out::REQ_MKT_DATA => {
            let m: pb::MarketDataRequest = parse(p)?;
            Request::MarketData {
                req_id: m.req_id.unwrap_or(0),
                contract: contract(m.contract),
                generic_ticks: s(m.generic_tick_list),
                snapshot: m.snapshot.unwrap_or(false),
                regulatory_snapshot: m.regulatory_snapshot.unwrap_or(false),
            }
        }
        out::CANCEL_MKT_DATA => Request::CancelMarketData { req_id: req_id(p)? },
        out::PLACE_ORDER => {
            let m: pb::PlaceOrderRequest = parse(p)?;
            let order_id = m.order_id.unwrap_or(0);
            let mut order = order(m.order.unwrap_or_default());
            order.order_id = order_id;
            Request::PlaceOrder { order_id, contract: contract(m.contract), order: Box::new(order) }
        }
        out::CANCEL_ORDER => {
            let m: pb::CancelOrderRequest = parse(p)?;
            let manual_cancel_time = m.order_cancel.and_then(|c| c.manual_order_cancel_time).unwrap_or_default();
            Request::CancelOrder { order_id: m.order_id.unwrap_or(0), manual_cancel_time }
        }
        out::REQ_GLOBAL_CANCEL => parse::<pb::GlobalCancelRequest>(p).map(|_| Request::GlobalCancel)?,
        out::REQ_OPEN_ORDERS => parse::<pb::Empty>(p).map(|_| Request::OpenOrders)?,
        out::REQ_ALL_OPEN_ORDERS => parse::<pb::Empty>(p).map(|_| Request::AllOpenOrders)?,
        out::REQ_EXECUTIONS => {
            let m: pb::ExecutionRequest = parse(p)?;
            let f = m.execution_filter.unwrap_or_default();
            Request::Executions {
                req_id: m.req_id.unwrap_or(0),
                filter: ExecutionFilter {
                    client_id: f.client_id.unwrap_or(0),
                    acct_code: s(f.acct_code),
                    time: s(f.time),
                    symbol: s(f.symbol),
                    sec_type: s(f.sec_type),
                    exchange: s(f.exchange),
                    side: s(f.side),
                    last_n_days: f.last_n_days.filter(|d| *d != i32::MAX),
                    specific_dates: f.specific_dates,
                },
            }
        }
        out::REQ_COMPLETED_ORDERS => {
            Request::CompletedOrders { api_only: parse::<pb::CompletedOrdersRequest>(p)?.api_only.unwrap_or(false) }
        }
        out::REQ_CONTRACT_DATA => {
            let m: pb::ContractDataRequest = parse(p)?;
            Request::ContractDetails { req_id: m.req_id.unwrap_or(0), contract: contract(m.contract) }
        }
        out::REQ_MATCHING_SYMBOLS => {
            let m: pb::MatchingSymbolsRequest = parse(p)?;
            Request::MatchingSymbols { req_id: m.req_id.unwrap_or(0), pattern: s(m.pattern) }
        }
        out::REQ_ACCT_DATA => {
            let m: pb::AccountDataRequest = parse(p)?;
            Request::AccountUpdates { subscribe: m.subscribe.unwrap_or(false), account: s(m.acct_code) }
        }
        out::REQ_ACCOUNT_SUMMARY => {
            let m: pb::AccountSummaryRequest = parse(p)?;
            Request::AccountSummary { req_id: m.req_id.unwrap_or(0), group: s(m.group), tags: s(m.tags) }
        }
        out::CANCEL_ACCOUNT_SUMMARY => Request::CancelAccountSummary { req_id: req_id(p)? },
        out::REQ_POSITIONS => parse::<pb::Empty>(p).map(|_| Request::Positions)?,
        out::CANCEL_POSITIONS => parse::<pb::Empty>(p).map(|_| Request::CancelPositions)?,
        out::REQ_POSITIONS_MULTI => {
            let m: pb::PositionsMultiRequest = parse(p)?;
            Request::PositionsMulti {
                req_id: m.req_id.unwrap_or(0),
                account: s(m.account),
                model_code: s(m.model_code),
            }
        }
        out::CANCEL_POSITIONS_MULTI => Request::CancelPositionsMulti { req_id: req_id(p)? },
        out::REQ_ACCOUNT_UPDATES_MULTI => {
            let m: pb::AccountUpdatesMultiRequest = parse(p)?;
            Request::AccountUpdatesMulti {
                req_id: m.req_id.unwrap_or(0),
                account: s(m.account),
                model_code: s(m.model_code),
                ledger_and_nlv: m.ledger_and_nlv.unwrap_or(false),
            }
        }
        out::CANCEL_ACCOUNT_UPDATES_MULTI => Request::CancelAccountUpdatesMulti { req_id: req_id(p)? },
        out::REQ_PNL => {
            let m: pb::PnLRequest = parse(p)?;
            Request::PnL { req_id: m.req_id.unwrap_or(0), account: s(m.account), model_code: s(m.model_code) }
        }
        out::CANCEL_PNL => Request::CancelPnL { req_id: req_id(p)? },
        out::REQ_PNL_SINGLE => {
            let m: pb::PnLSingleRequest = parse(p)?;
            Request::PnLSingle {
                req_id: m.req_id.unwrap_or(0),
                account: s(m.account),
                model_code: s(m.model_code),
                con_id: m.con_id.unwrap_or(0),
            }
        }
        out::CANCEL_PNL_SINGLE => Request::CancelPnLSingle { req_id: req_id(p)? },
        out::REQ_HISTORICAL_DATA => {
            let m: pb::HistoricalDataRequest = parse(p)?;
            Request::HistoricalData(HistoricalDataRequest {
                req_id: m.req_id.unwrap_or(0),
                contract: contract(m.contract),
                end: s(m.end_date_time),
                bar_size: s(m.bar_size_setting),
                duration: s(m.duration),
                use_rth: m.use_rth.unwrap_or(false),
                what_to_show: s(m.what_to_show),
                format_date: m.format_date.unwrap_or(0),
                keep_up_to_date: m.keep_up_to_date.unwrap_or(false),
            })
        }
        out::CANCEL_HISTORICAL_DATA => Request::CancelHistoricalData { req_id: req_id(p)? },
        out::REQ_HEAD_TIMESTAMP => {
            let m: pb::HeadTimestampRequest = parse(p)?;
            Request::HeadTimestamp {
                req_id: m.req_id.unwrap_or(0),
                contract: contract(m.contract),
                use_rth: m.use_rth.unwrap_or(false),
                what_to_show: s(m.what_to_show),
                format_date: m.format_date.unwrap_or(0),
            }
        }
        out::CANCEL_HEAD_TIMESTAMP => Request::CancelHeadTimestamp { req_id: req_id(p)? },
        out::REQ_REAL_TIME_BARS => {
            let m: pb::RealTimeBarsRequest = parse(p)?;
            Request::RealTimeBars {
                req_id: m.req_id.unwrap_or(0),
                contract: contract(m.contract),
                bar_size: m.bar_size.unwrap_or(0),
                what_to_show: s(m.what_to_show),
                use_rth: m.use_rth.unwrap_or(false),
            }
        }
        out::CANCEL_REAL_TIME_BARS => Request::CancelRealTimeBars { req_id: req_id(p)? },
        out::REQ_TICK_BY_TICK_DATA => {
            let m: pb::TickByTickRequest = parse(p)?;
            Request::TickByTick {
                req_id: m.req_id.unwrap_or(0),
                contract: contract(m.contract),
                tick_type: s(m.tick_type),
                number_of_ticks: m.number_of_ticks.unwrap_or(0),
                ignore_size: m.ignore_size.unwrap_or(false),
            }
        }
        out::CANCEL_TICK_BY_TICK_DATA => Request::CancelTickByTick { req_id: req_id(p)? },
        out::REQ_USER_INFO => Request::UserInfo { req_id: req_id(p)? },
        other => Request::Unsupported { msg_id: other, req_id: leading_req_id(other, p) },
    })
}

/// Field 1 of a request that carries its request id there (most do), read as a varint.
fn leading_req_id(msg_id: i32, payload: &[u8]) -> Option<i32> {
    if !request_info(msg_id).is_some_and(|i| i.proto_req_id) || payload.first() != Some(&0x08) {
        return None;
    }
    let mut buf = &payload[1..];
    prost::encoding::decode_varint(&mut buf).ok().map(|v| v as i32)
}

fn contract(c: Option<pb::Contract>) -> Contract {
    let c = c.unwrap_or_default();
    Contract {
        con_id: c.con_id.unwrap_or(0),
        symbol: s(c.symbol),
        sec_type: s(c.sec_type),
        last_trade_date_or_contract_month: s(c.last_trade_date_or_contract_month),
        strike: c.strike.filter(|v| *v != f64::MAX).unwrap_or(0.0),
        right: s(c.right),
        multiplier: c.multiplier.filter(|m| *m != f64::MAX && *m != 0.0).map(format_qty).unwrap_or_default(),
        exchange: s(c.exchange),
        primary_exchange: s(c.primary_exch),
        currency: s(c.currency),
        local_symbol: s(c.local_symbol),
        trading_class: s(c.trading_class),
        include_expired: c.include_expired.unwrap_or(false),
        sec_id_type: s(c.sec_id_type),
        sec_id: s(c.sec_id),
        description: s(c.description),
        issuer_id: s(c.issuer_id),
        combo_legs_descrip: s(c.combo_legs_descrip),
    }
}

fn unset_f64(v: Option<f64>) -> Option<f64> {
    v.filter(|v| *v != f64::MAX)
}

fn unset_i32(v: Option<i32>) -> Option<i32> {
    v.filter(|v| *v != i32::MAX)
}

fn order(o: pb::Order) -> Order {
    Order {
        order_id: o.order_id.unwrap_or(0),
        client_id: o.client_id.unwrap_or(0),
        perm_id: o.perm_id.unwrap_or(0),
        parent_id: o.parent_id.unwrap_or(0),
        action: s(o.action),
        total_quantity: o.total_quantity.as_deref().and_then(|q| q.trim().parse().ok()).unwrap_or(0.0),
        order_type: s(o.order_type),
        lmt_price: unset_f64(o.lmt_price),
        aux_price: unset_f64(o.aux_price),
        tif: s(o.tif),
        oca_group: s(o.oca_group),
        account: s(o.account),
        open_close: s(o.open_close),
        origin: o.origin.unwrap_or(0),
        order_ref: s(o.order_ref),
        transmit: o.transmit.unwrap_or(false),
        outside_rth: o.outside_rth.unwrap_or(false),
        hidden: o.hidden.unwrap_or(false),
        display_size: unset_i32(o.display_size),
        good_after_time: s(o.good_after_time),
        good_till_date: s(o.good_till_date),
        all_or_none: o.all_or_none.unwrap_or(false),
        min_qty: unset_i32(o.min_qty),
        trail_stop_price: unset_f64(o.trail_stop_price),
        trailing_percent: unset_f64(o.trailing_percent),
        model_code: s(o.model_code),
        algo_strategy: s(o.algo_strategy),
        what_if: o.what_if.unwrap_or(false),
        cash_qty: unset_f64(o.cash_qty),
        filled_quantity: o.filled_quantity.as_deref().and_then(|q| q.parse().ok()),
    }
}
