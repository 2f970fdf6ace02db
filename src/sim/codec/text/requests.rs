//! Text requests, field by field as IB's clients write them at versions 157 and up.
//!
//! Each layout is that of the matching `EClient` method in `py:client.py` (line numbers in
//! `docs/tws-protocol.md`); ib_async 2.1.0 (`ib_async/client.py`) and ib_insync 0.9.86 write
//! the same fields. Thresholds that change a layout within 157..=226 are checked here.

use super::super::{DecodeError, RequestError};
use super::{orders, Fields};
use crate::actors::wire::version as v;
use crate::sim::msg::ids::{outgoing as out, request_info};
use crate::sim::msg::{Contract, ExecutionFilter, HistoricalDataRequest, Request};

/// Decode text request `msg_id` of a session at `version`.
pub fn decode_request(msg_id: i32, payload: &[u8], version: i32) -> Result<Request, RequestError> {
    let wrap = |error| RequestError { msg_id, req_id: salvage_req_id(msg_id, payload), error };
    let mut f = Fields::new(payload).map_err(wrap)?;
    match decode(msg_id, &mut f, version).map_err(wrap)? {
        Request::Unsupported { msg_id, .. } => {
            Ok(Request::Unsupported { msg_id, req_id: salvage_req_id(msg_id, payload) })
        }
        request => Ok(request),
    }
}

/// The request id of a request we could not read (or do not serve), where it has one.
pub fn salvage_req_id(msg_id: i32, payload: &[u8]) -> Option<i32> {
    let index = request_info(msg_id)?.text_req_id?;
    let text = std::str::from_utf8(payload).ok()?;
    text.split('\0').nth(index)?.trim().parse().ok()
}

fn decode(msg_id: i32, f: &mut Fields<'_>, version: i32) -> Result<Request, DecodeError> {
    Ok(match msg_id {
        out::START_API => {
            f.skip("version")?;
            let client_id = f.int("clientId")?;
            Request::StartApi { client_id, optional_capabilities: f.str_or_empty() }
        }
        out::REQ_CURRENT_TIME => Request::CurrentTime,
        out::REQ_CURRENT_TIME_IN_MILLIS if version >= v::CURRENT_TIME_IN_MILLIS => Request::CurrentTimeInMillis,
        out::REQ_IDS => {
            f.skip("version")?;
            Request::Ids { num_ids: f.int("numIds")? }
        }
        out::REQ_MANAGED_ACCTS => Request::ManagedAccounts,
        out::REQ_MARKET_DATA_TYPE => {
            f.skip("version")?;
            Request::MarketDataType { market_data_type: f.int("marketDataType")? }
        }
        out::REQ_AUTO_OPEN_ORDERS => {
            f.skip("version")?;
            Request::AutoOpenOrders { auto_bind: f.bool("bAutoBind")? }
        }
        out::REQ_MKT_DATA => {
            f.skip("version")?;
            let req_id = f.int("reqId")?;
            let contract = contract(f)?;
            combo_legs(f, &contract)?;
            delta_neutral(f)?;
            let generic_ticks = f.str("genericTickList")?;
            let snapshot = f.bool("snapshot")?;
            let regulatory_snapshot = f.bool("regulatorySnapshot")?;
            let _options = f.str_or_empty();
            Request::MarketData { req_id, contract, generic_ticks, snapshot, regulatory_snapshot }
        }
        out::CANCEL_MKT_DATA => {
            f.skip("version")?;
            Request::CancelMarketData { req_id: f.int("reqId")? }
        }
        out::PLACE_ORDER => orders::decode_place_order(f, version)?,
        out::CANCEL_ORDER => {
            if version < v::CME_TAGGING_FIELDS {
                f.skip("version")?;
            }
            let order_id = f.int("orderId")?;
            let manual_cancel_time =
                if version >= v::MANUAL_ORDER_TIME { f.str("manualOrderCancelTime")? } else { String::new() };
            Request::CancelOrder { order_id, manual_cancel_time }
        }
        out::REQ_GLOBAL_CANCEL => Request::GlobalCancel,
        out::REQ_OPEN_ORDERS => Request::OpenOrders,
        out::REQ_ALL_OPEN_ORDERS => Request::AllOpenOrders,
        out::REQ_EXECUTIONS => {
            f.skip("version")?;
            let req_id = f.int("reqId")?;
            let mut filter = ExecutionFilter {
                client_id: f.int("clientId")?,
                acct_code: f.str("acctCode")?,
                time: f.str("time")?,
                symbol: f.str("symbol")?,
                sec_type: f.str("secType")?,
                exchange: f.str("exchange")?,
                side: f.str("side")?,
                ..ExecutionFilter::default()
            };
            if version >= v::PARAMETRIZED_DAYS_OF_EXECUTIONS {
                filter.last_n_days = f.int_max("lastNDays")?;
                for _ in 0..f.count("specificDatesCount")? {
                    filter.specific_dates.push(f.int("specificDate")?);
                }
            }
            Request::Executions { req_id, filter }
        }
        out::REQ_COMPLETED_ORDERS => Request::CompletedOrders { api_only: f.bool("apiOnly")? },
        out::REQ_CONTRACT_DATA => {
            f.skip("version")?;
            let req_id = f.int("reqId")?;
            let mut contract = contract(f)?;
            contract.include_expired = f.bool("includeExpired")?;
            contract.sec_id_type = f.str("secIdType")?;
            contract.sec_id = f.str("secId")?;
            if version >= v::BOND_ISSUERID {
                contract.issuer_id = f.str("issuerId")?;
            }
            Request::ContractDetails { req_id, contract }
        }
        out::REQ_MATCHING_SYMBOLS => Request::MatchingSymbols { req_id: f.int("reqId")?, pattern: f.str("pattern")? },
        out::REQ_ACCT_DATA => {
            f.skip("version")?;
            Request::AccountUpdates { subscribe: f.bool("subscribe")?, account: f.str("acctCode")? }
        }
        out::REQ_ACCOUNT_SUMMARY => {
            f.skip("version")?;
            Request::AccountSummary { req_id: f.int("reqId")?, group: f.str("groupName")?, tags: f.str("tags")? }
        }
        out::CANCEL_ACCOUNT_SUMMARY => {
            f.skip("version")?;
            Request::CancelAccountSummary { req_id: f.int("reqId")? }
        }
        out::REQ_POSITIONS => Request::Positions,
        out::CANCEL_POSITIONS => Request::CancelPositions,
        out::REQ_POSITIONS_MULTI => {
            f.skip("version")?;
            Request::PositionsMulti {
                req_id: f.int("reqId")?,
                account: f.str("account")?,
                model_code: f.str("modelCode")?,
            }
        }
        out::CANCEL_POSITIONS_MULTI => {
            f.skip("version")?;
            Request::CancelPositionsMulti { req_id: f.int("reqId")? }
        }
        out::REQ_ACCOUNT_UPDATES_MULTI => {
            f.skip("version")?;
            Request::AccountUpdatesMulti {
                req_id: f.int("reqId")?,
                account: f.str("account")?,
                model_code: f.str("modelCode")?,
                ledger_and_nlv: f.bool("ledgerAndNLV")?,
            }
        }
        out::CANCEL_ACCOUNT_UPDATES_MULTI => {
            f.skip("version")?;
            Request::CancelAccountUpdatesMulti { req_id: f.int("reqId")? }
        }
        out::REQ_PNL => {
            Request::PnL { req_id: f.int("reqId")?, account: f.str("account")?, model_code: f.str("modelCode")? }
        }
        out::CANCEL_PNL => Request::CancelPnL { req_id: f.int("reqId")? },
        out::REQ_PNL_SINGLE => Request::PnLSingle {
            req_id: f.int("reqId")?,
            account: f.str("account")?,
            model_code: f.str("modelCode")?,
            con_id: f.int("conid")?,
        },
        out::CANCEL_PNL_SINGLE => Request::CancelPnLSingle { req_id: f.int("reqId")? },
        out::REQ_HISTORICAL_DATA => {
            let req_id = f.int("reqId")?;
            let mut contract = contract(f)?;
            contract.include_expired = f.bool("includeExpired")?;
            let mut req = HistoricalDataRequest {
                req_id,
                end: f.str("endDateTime")?,
                bar_size: f.str("barSizeSetting")?,
                duration: f.str("durationStr")?,
                use_rth: f.bool("useRTH")?,
                what_to_show: f.str("whatToShow")?,
                format_date: f.int("formatDate")?,
                ..HistoricalDataRequest::default()
            };
            combo_legs(f, &contract)?;
            req.contract = contract;
            req.keep_up_to_date = f.bool("keepUpToDate")?;
            let _options = f.str_or_empty();
            Request::HistoricalData(req)
        }
        out::CANCEL_HISTORICAL_DATA => {
            f.skip("version")?;
            Request::CancelHistoricalData { req_id: f.int("reqId")? }
        }
        out::REQ_HEAD_TIMESTAMP => {
            let req_id = f.int("reqId")?;
            let mut contract = contract(f)?;
            contract.include_expired = f.bool("includeExpired")?;
            Request::HeadTimestamp {
                req_id,
                contract,
                use_rth: f.bool("useRTH")?,
                what_to_show: f.str("whatToShow")?,
                format_date: f.int("formatDate")?,
            }
        }
        out::CANCEL_HEAD_TIMESTAMP => Request::CancelHeadTimestamp { req_id: f.int("reqId")? },
        out::REQ_REAL_TIME_BARS => {
            f.skip("version")?;
            let req_id = f.int("reqId")?;
            let contract = contract(f)?;
            let bar_size = f.int("barSize")?;
            let what_to_show = f.str("whatToShow")?;
            let use_rth = f.bool("useRTH")?;
            let _options = f.str_or_empty();
            Request::RealTimeBars { req_id, contract, bar_size, what_to_show, use_rth }
        }
        out::CANCEL_REAL_TIME_BARS => {
            f.skip("version")?;
            Request::CancelRealTimeBars { req_id: f.int("reqId")? }
        }
        out::REQ_TICK_BY_TICK_DATA => Request::TickByTick {
            req_id: f.int("reqId")?,
            contract: contract(f)?,
            tick_type: f.str("tickType")?,
            number_of_ticks: f.int("numberOfTicks")?,
            ignore_size: f.bool("ignoreSize")?,
        },
        out::CANCEL_TICK_BY_TICK_DATA => Request::CancelTickByTick { req_id: f.int("reqId")? },
        out::REQ_USER_INFO => Request::UserInfo { req_id: f.int("reqId")? },
        other => Request::Unsupported { msg_id: other, req_id: None },
    })
}

/// The twelve contract fields most requests send: conId … tradingClass.
pub(super) fn contract(f: &mut Fields<'_>) -> Result<Contract, DecodeError> {
    Ok(Contract {
        con_id: f.int("conId")?,
        symbol: f.str("symbol")?,
        sec_type: f.str("secType")?,
        last_trade_date_or_contract_month: f.str("lastTradeDateOrContractMonth")?,
        strike: f.double("strike")?,
        right: f.str("right")?,
        multiplier: f.str("multiplier")?,
        exchange: f.str("exchange")?,
        primary_exchange: f.str("primaryExchange")?,
        currency: f.str("currency")?,
        local_symbol: f.str("localSymbol")?,
        trading_class: f.str("tradingClass")?,
        ..Contract::default()
    })
}

/// reqMktData / reqHistoricalData combo legs, sent for BAG contracts only.
fn combo_legs(f: &mut Fields<'_>, contract: &Contract) -> Result<(), DecodeError> {
    if contract.sec_type == "BAG" {
        for _ in 0..f.count("comboLegsCount")? {
            for name in ["comboLeg.conId", "comboLeg.ratio", "comboLeg.action", "comboLeg.exchange"] {
                f.skip(name)?;
            }
        }
    }
    Ok(())
}

/// The delta-neutral flag and, when set, its three fields.
pub(super) fn delta_neutral(f: &mut Fields<'_>) -> Result<(), DecodeError> {
    if f.bool("deltaNeutralContractPresent")? {
        for name in ["deltaNeutralContract.conId", "deltaNeutralContract.delta", "deltaNeutralContract.price"] {
            f.skip(name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_at(version: i32, msg_id: i32, fields: &[&str]) -> Result<Request, RequestError> {
        let mut payload = Vec::new();
        for field in fields {
            payload.extend_from_slice(field.as_bytes());
            payload.push(0);
        }
        decode_request(msg_id, &payload, version)
    }

    const AAPL: [&str; 12] = ["0", "AAPL", "STK", "", "0.0", "", "", "SMART", "", "USD", "", ""];

    #[test]
    fn reads_ib_async_market_data_and_contract_details() {
        // ib_async/client.py reqMktData: 1, 11, reqId, contract, False, ticks, snapshot, reg, opts.
        let mut fields = vec!["11", "7"];
        fields.extend(AAPL);
        fields.extend(["0", "233,236", "0", "0", ""]);
        let req = decode_at(178, out::REQ_MKT_DATA, &fields).unwrap();
        let Request::MarketData { req_id, contract, generic_ticks, snapshot, .. } = req else { panic!("{req:?}") };
        assert_eq!((req_id, contract.symbol.as_str(), generic_ticks.as_str(), snapshot), (7, "AAPL", "233,236", false));
        // reqContractDetails: 9, 8, reqId, contract, includeExpired, secIdType, secId, issuerId (176+).
        let mut fields = vec!["8", "3"];
        fields.extend(AAPL);
        fields.extend(["0", "", ""]);
        let without_issuer = decode_at(175, out::REQ_CONTRACT_DATA, &fields).unwrap();
        assert!(matches!(without_issuer, Request::ContractDetails { req_id: 3, .. }));
        assert!(decode_at(176, out::REQ_CONTRACT_DATA, &fields).is_err(), "issuerId is required from 176");
        fields.push("");
        assert!(decode_at(176, out::REQ_CONTRACT_DATA, &fields).is_ok());
    }

    #[test]
    fn cancel_order_layout_changes_with_the_version() {
        let at = |version, fields: &[&str]| decode_at(version, out::CANCEL_ORDER, fields);
        assert!(matches!(at(157, &["1", "42"]).unwrap(), Request::CancelOrder { order_id: 42, .. }));
        assert!(matches!(at(178, &["1", "42", ""]).unwrap(), Request::CancelOrder { order_id: 42, .. }));
        assert!(matches!(at(200, &["42", "", "", "2147483647"]).unwrap(), Request::CancelOrder { order_id: 42, .. }));
    }

    #[test]
    fn a_bad_field_is_named_and_answered_on_the_request_id() {
        let err = decode_at(178, out::REQ_ACCOUNT_SUMMARY, &["1", "9", "All"]).unwrap_err();
        assert_eq!(err.req_id, Some(9));
        assert_eq!(err.error, DecodeError::Missing("tags"));
        let err = decode_at(178, out::REQ_PNL, &["x"]).unwrap_err();
        assert!(matches!(err.error, DecodeError::Bad { field: "reqId", .. }));
        let Reply::Error { id, code, message, .. } = err.reply() else { unreachable!() };
        assert_eq!((id, code), (-1, 320));
        assert!(message.contains("reqPnL") && message.contains("reqId"), "{message}");
    }

    #[test]
    fn unsupported_requests_keep_their_request_id() {
        assert_eq!(salvage_req_id(out::REQ_MKT_DEPTH, &super::super::nul(&["5", "123"])), Some(123));
        assert_eq!(salvage_req_id(out::REQ_SEC_DEF_OPT_PARAMS, &super::super::nul(&["77", "IBM"])), Some(77));
        assert_eq!(salvage_req_id(out::REQ_NEWS_BULLETINS, &super::super::nul(&["1", "1"])), None);
    }

    use crate::sim::msg::Reply;
}
