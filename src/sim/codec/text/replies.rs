//! Text replies, in the field order IB's text decoders read them (`py:decoder.py`, the
//! `process*Msg` functions and the `wrap=` entries of `msgId2handleInfo`, whose first field is
//! the per-message version). Where a layout changes within 157..=226 the threshold is checked.

use super::orders::{encode_completed_order, encode_open_order};
use super::Writer;
use crate::actors::wire::error::{ascii7, ErrorReply};
use crate::actors::wire::frame::{text_frame, Framing};
use crate::actors::wire::version as v;
use crate::sim::msg::{Bar, Contract, Reply, TickByTick};

/// The text frame(s) of `reply` at `version`.
pub fn encode_reply(reply: &Reply, version: i32, framing: Framing) -> Vec<u8> {
    let mut w = Writer::default();
    let id = reply.msg_id();
    match reply {
        Reply::NextValidId(order_id) => {
            w.version(1).int(*order_id);
        }
        Reply::ManagedAccounts(accounts) => {
            w.version(1).str(accounts);
        }
        Reply::CurrentTime(secs) => {
            w.version(1).long(*secs);
        }
        Reply::CurrentTimeInMillis(millis) => {
            w.long(*millis);
        }
        Reply::Error { id, code, message, time_ms } => {
            let error = ErrorReply { id: *id, code: *code, message, time_ms: *time_ms };
            w.0.extend(error.text_fields(version));
        }
        Reply::TickPrice { req_id, tick_type, price, size, attr_mask, .. } => {
            w.version(6).int(*req_id).int(*tick_type).double(*price);
            match size {
                Some(size) => w.decimal(*size),
                None => w.str(""),
            };
            w.int(*attr_mask);
        }
        Reply::TickSize { req_id, tick_type, size, .. } => {
            w.version(6).int(*req_id).int(*tick_type).decimal(*size);
        }
        Reply::TickGeneric { req_id, tick_type, value } => {
            w.version(6).int(*req_id).int(*tick_type).double(*value);
        }
        Reply::TickString { req_id, tick_type, value } => {
            w.version(6).int(*req_id).int(*tick_type).str(value);
        }
        Reply::TickReqParams { req_id, min_tick, bbo_exchange, snapshot_permissions } => {
            w.int(*req_id).double(*min_tick).str(bbo_exchange).int(*snapshot_permissions);
        }
        Reply::MarketDataType { req_id, market_data_type } => {
            w.version(1).int(*req_id).int(*market_data_type);
        }
        Reply::TickSnapshotEnd { req_id } => {
            w.version(1).int(*req_id);
        }
        Reply::OrderStatus(s) => {
            // No version field from 131 (MIN_SERVER_VER_MARKET_CAP_PRICE), py:decoder.py:255-287.
            w.int(s.order_id).str(&s.status).decimal(s.filled).decimal(s.remaining).double(s.avg_fill_price);
            w.long(s.perm_id).int(s.parent_id).double(s.last_fill_price).int(s.client_id).str(&s.why_held);
            w.double(s.mkt_cap_price);
        }
        Reply::OpenOrder { contract, order, state } => encode_open_order(&mut w, contract, order, state, version),
        Reply::OpenOrderEnd => {
            w.version(1);
        }
        Reply::OrderBound { perm_id, client_id, order_id } => {
            w.long(*perm_id).int(*client_id).int(*order_id);
        }
        Reply::CompletedOrder { contract, order, state } => {
            encode_completed_order(&mut w, contract, order, state, version)
        }
        Reply::CompletedOrdersEnd => {}
        Reply::ExecutionData { req_id, contract, execution: e } => {
            // No version field from 136 (MIN_SERVER_VER_LAST_LIQUIDITY), py:decoder.py:812-873.
            w.int(*req_id).int(e.order_id);
            w.int(contract.con_id).str(&contract.symbol).str(&contract.sec_type);
            w.str(&contract.last_trade_date_or_contract_month).double(contract.strike).str(&contract.right);
            w.str(&contract.multiplier).str(&contract.exchange).str(&contract.currency);
            w.str(&contract.local_symbol).str(&contract.trading_class);
            w.str(&e.exec_id).str(&e.time).str(&e.acct_number).str(&e.exchange).str(&e.side);
            w.decimal(e.shares).double(e.price).long(e.perm_id).int(e.client_id).int(e.liquidation);
            w.decimal(e.cum_qty).double(e.avg_price).str(&e.order_ref).str("").double_max(None);
            w.str(&e.model_code).int(e.last_liquidity);
            if version >= v::PENDING_PRICE_REVISION {
                w.bool(false);
            }
            if version >= v::SUBMITTER {
                w.str("");
            }
        }
        Reply::ExecutionDataEnd { req_id } => {
            w.version(1).int(*req_id);
        }
        Reply::CommissionReport(r) => {
            w.version(1).str(&r.exec_id).double(r.commission).str(&r.currency).double_max(r.realized_pnl);
            w.double_max(None).int(0); // yield, yieldRedemptionDate
        }
        Reply::ContractData { req_id, details: d } => {
            // py:decoder.py:510-632; no version field from 164 (MIN_SERVER_VER_SIZE_RULES).
            let c = &d.contract;
            if version < v::SIZE_RULES {
                w.version(8);
            }
            w.int(*req_id).str(&c.symbol).str(&c.sec_type);
            let mut last = c.last_trade_date_or_contract_month.clone();
            if !d.last_trade_time.is_empty() {
                last = format!("{last} {}", d.last_trade_time);
            }
            w.str(&last);
            if version >= v::LAST_TRADE_DATE {
                w.str(&c.last_trade_date_or_contract_month);
            }
            w.double(c.strike).str(&c.right).str(&c.exchange).str(&c.currency).str(&c.local_symbol);
            w.str(&d.market_name).str(&c.trading_class).int(c.con_id).double(d.min_tick);
            if version < v::SIZE_RULES {
                w.int(1); // mdSizeMultiplier, obsolete
            }
            w.str(&c.multiplier).str(&d.order_types).str(&d.valid_exchanges).int(d.price_magnifier);
            w.int(d.under_con_id).str(&ascii7(&d.long_name)).str(&c.primary_exchange).str(&d.contract_month);
            w.str(&d.industry).str(&d.category).str(&d.subcategory).str(&d.time_zone_id);
            w.str(&d.trading_hours).str(&d.liquid_hours).str(&d.ev_rule);
            // evMultiplier is read as an int here (py:decoder.py:560), a double in protobuf.
            match d.ev_multiplier {
                Some(m) => w.int(m as i32),
                None => w.str(""),
            };
            w.int(d.sec_id_list.len() as i32);
            for (tag, value) in &d.sec_id_list {
                w.str(tag).str(value);
            }
            w.int(d.agg_group).str(&d.under_symbol).str(&d.under_sec_type).str(&d.market_rule_ids);
            w.str(&d.real_expiration_date).str(&d.stock_type);
            if version >= v::SIZE_RULES {
                w.decimal(d.min_size).decimal(d.size_increment).decimal(d.suggested_size_increment);
            } else if version >= v::FRACTIONAL_SIZE_SUPPORT {
                w.decimal(d.min_size); // sizeMinTick, at 163 only
            }
            if version >= v::FUND_DATA_FIELDS && c.sec_type == "FUND" {
                for _ in 0..7 {
                    w.str("");
                }
                w.bool(false).bool(false).bool(false);
                for _ in 0..7 {
                    w.str("");
                }
            }
            if version >= v::INELIGIBILITY_REASONS {
                w.int(0);
            }
        }
        Reply::ContractDataEnd { req_id } => {
            w.version(1).int(*req_id);
        }
        Reply::SymbolSamples { req_id, descriptions } => {
            w.int(*req_id).int(descriptions.len() as i32);
            for d in descriptions {
                let c = &d.contract;
                w.int(c.con_id).str(&c.symbol).str(&c.sec_type).str(&c.primary_exchange).str(&c.currency);
                w.int(d.derivative_sec_types.len() as i32);
                for t in &d.derivative_sec_types {
                    w.str(t);
                }
                if version >= v::BOND_ISSUERID {
                    w.str(&c.description).str(&c.issuer_id);
                }
            }
        }
        Reply::AccountValue { key, value, currency, account } => {
            w.version(2).str(key).str(value).str(currency).str(account);
        }
        Reply::PortfolioValue(p) => {
            let c = &p.contract;
            w.version(8).int(c.con_id).str(&c.symbol).str(&c.sec_type);
            w.str(&c.last_trade_date_or_contract_month).double(c.strike).str(&c.right);
            w.str(&c.multiplier).str(&c.primary_exchange).str(&c.currency).str(&c.local_symbol);
            w.str(&c.trading_class).decimal(p.position).double(p.market_price).double(p.market_value);
            w.double(p.average_cost).double(p.unrealized_pnl).double(p.realized_pnl).str(&p.account);
        }
        Reply::AccountUpdateTime(time) => {
            w.version(1).str(time);
        }
        Reply::AccountDownloadEnd(account) => {
            w.version(1).str(account);
        }
        Reply::Position { account, contract, position, avg_cost } => {
            w.version(3).str(account);
            position_contract(&mut w, contract);
            w.decimal(*position).double(*avg_cost);
        }
        Reply::PositionEnd => {
            w.version(1);
        }
        Reply::AccountSummary { req_id, account, tag, value, currency } => {
            w.version(1).int(*req_id).str(account).str(tag).str(value).str(currency);
        }
        Reply::AccountSummaryEnd { req_id } => {
            w.version(1).int(*req_id);
        }
        Reply::PositionMulti { req_id, account, model_code, contract, position, avg_cost } => {
            w.version(1).int(*req_id).str(account);
            position_contract(&mut w, contract);
            w.decimal(*position).double(*avg_cost).str(model_code);
        }
        Reply::PositionMultiEnd { req_id } => {
            w.version(1).int(*req_id);
        }
        Reply::AccountUpdateMulti { req_id, account, model_code, key, value, currency } => {
            w.version(1).int(*req_id).str(account).str(model_code).str(key).str(value).str(currency);
        }
        Reply::AccountUpdateMultiEnd { req_id } => {
            w.version(1).int(*req_id);
        }
        Reply::PnL { req_id, daily, unrealized, realized } => {
            w.int(*req_id).double(*daily).double(*unrealized).double(*realized);
        }
        Reply::PnLSingle { req_id, position, daily, unrealized, realized, value } => {
            w.int(*req_id).decimal(*position).double(*daily).double(*unrealized).double(*realized).double(*value);
        }
        Reply::HistoricalData { req_id, start, end, bars, .. } => {
            // py:decoder.py:905-936: start/end in the message below 196, a separate end after.
            w.int(*req_id);
            if version < v::HISTORICAL_DATA_END {
                w.str(start).str(end);
            }
            w.int(bars.len() as i32);
            for bar in bars {
                w.str(&bar.date).double(bar.open).double(bar.high).double(bar.low).double(bar.close);
                w.decimal(bar.volume).decimal(bar.wap).int(bar.count);
            }
            let mut frames = text_frame(framing, id, &w.0);
            if version >= v::HISTORICAL_DATA_END {
                let mut end_fields = Writer::default();
                end_fields.int(*req_id).str(start).str(end);
                frames.extend(text_frame(framing, crate::sim::msg::ids::incoming::HISTORICAL_DATA_END, &end_fields.0));
            }
            return frames;
        }
        Reply::HistoricalDataUpdate { req_id, bar, .. } => {
            w.int(*req_id).int(bar.count).str(&bar.date).double(bar.open).double(bar.close);
            w.double(bar.high).double(bar.low).decimal(bar.wap).decimal(bar.volume);
        }
        Reply::HistoricalSchedule { req_id, start, end, time_zone, sessions } => {
            // py:decoder.py:2308-2326.
            w.int(*req_id).str(start).str(end).str(time_zone).int(sessions.len() as i32);
            for (start, end, ref_date) in sessions {
                w.str(start).str(end).str(ref_date);
            }
        }
        Reply::HeadTimestamp { req_id, timestamp } => {
            w.int(*req_id).str(timestamp);
        }
        Reply::RealTimeBar { req_id, time, bar, .. } => {
            realtime_bar(&mut w, *req_id, *time, bar);
        }
        Reply::TickByTick { req_id, tick } => {
            w.int(*req_id).int(tick.tick_type()).long(tick.time());
            match tick {
                TickByTick::Last { price, size, exchange, special_conditions, .. } => {
                    w.double(*price).decimal(*size).int(0).str(exchange).str(special_conditions);
                }
                TickByTick::BidAsk { bid, ask, bid_size, ask_size, .. } => {
                    w.double(*bid).double(*ask).decimal(*bid_size).decimal(*ask_size).int(0);
                }
                TickByTick::MidPoint { mid, .. } => {
                    w.double(*mid);
                }
            }
        }
        Reply::UserInfo { req_id, white_branding_id } => {
            w.int(*req_id).str(white_branding_id);
        }
    }
    text_frame(framing, id, &w.0)
}

/// The contract of position / positionMulti: 11 fields, exchange but no primary exchange.
fn position_contract(w: &mut Writer, c: &Contract) {
    w.int(c.con_id).str(&c.symbol).str(&c.sec_type).str(&c.last_trade_date_or_contract_month);
    w.double(c.strike).str(&c.right).str(&c.multiplier).str(&c.exchange).str(&c.currency);
    w.str(&c.local_symbol).str(&c.trading_class);
}

fn realtime_bar(w: &mut Writer, req_id: i32, time: i64, bar: &Bar) {
    w.version(3).int(req_id).long(time).double(bar.open).double(bar.high).double(bar.low).double(bar.close);
    w.decimal(bar.volume).decimal(bar.wap).int(bar.count);
}
