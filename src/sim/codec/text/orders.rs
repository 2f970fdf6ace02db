//! The long order messages in text: placeOrder (read), openOrder and completedOrder (written).
//!
//! placeOrder follows `py:client.py:1832-2780` (`EClient.placeOrder`); openOrder follows the
//! field order of `py:decoder.py:309-409` (`processOpenOrder`) with the per-field thresholds of
//! `py:orderdecoder.py`, and completedOrder `py:decoder.py:2143-2221`. ib_async 2.1.0 reads
//! both at 178 (`ib_async/decoder.py` `openOrder`, `completedOrder`) with the same order.
//! Fields the simulator does not model are written with TWS's defaults (unset, empty, 0).

use super::super::DecodeError;
use super::requests::{contract, delta_neutral};
use super::{Fields, Writer};
use crate::actors::wire::version as v;
use crate::sim::msg::{Contract, Order, OrderState, Request};

/// Read a text placeOrder. Everything up to `whatIf` is read and checked; the fields after it
/// (conditions, MiFID and peg parameters) change nothing the simulator models and are skipped.
pub fn decode_place_order(f: &mut Fields<'_>, version: i32) -> Result<Request, DecodeError> {
    let order_id = f.int("orderId")?;
    let mut contract = contract(f)?;
    contract.sec_id_type = f.str("secIdType")?;
    contract.sec_id = f.str("secId")?;
    let mut order = Order {
        order_id,
        action: f.str("action")?,
        total_quantity: f.decimal("totalQuantity")?,
        order_type: f.str("orderType")?,
        lmt_price: f.double_max("lmtPrice")?,
        aux_price: f.double_max("auxPrice")?,
        tif: f.str("tif")?,
        oca_group: f.str("ocaGroup")?,
        account: f.str("account")?,
        open_close: f.str("openClose")?,
        origin: f.int("origin")?,
        order_ref: f.str("orderRef")?,
        transmit: f.bool("transmit")?,
        parent_id: f.int("parentId")?,
        ..Order::default()
    };
    f.skip("blockOrder")?;
    f.skip("sweepToFill")?;
    order.display_size = f.int_max("displaySize")?;
    f.skip("triggerMethod")?;
    order.outside_rth = f.bool("outsideRth")?;
    order.hidden = f.bool("hidden")?;
    if contract.sec_type == "BAG" {
        for _ in 0..f.count("comboLegsCount")? {
            for _ in 0..8 {
                f.skip("comboLeg")?;
            }
        }
        for _ in 0..f.count("orderComboLegsCount")? {
            f.skip("orderComboLeg.price")?;
        }
        for _ in 0..f.count("smartComboRoutingParamsCount")? {
            f.skip("smartComboRoutingParam.tag")?;
            f.skip("smartComboRoutingParam.value")?;
        }
    }
    f.skip("sharesAllocation")?;
    f.skip("discretionaryAmt")?;
    order.good_after_time = f.str("goodAfterTime")?;
    order.good_till_date = f.str("goodTillDate")?;
    for name in ["faGroup", "faMethod", "faPercentage"] {
        f.skip(name)?;
    }
    if version < v::FA_PROFILE_DESUPPORT {
        f.skip("faProfile")?;
    }
    order.model_code = f.str("modelCode")?;
    for name in ["shortSaleSlot", "designatedLocation", "exemptCode", "ocaType", "rule80A", "settlingFirm"] {
        f.skip(name)?;
    }
    order.all_or_none = f.bool("allOrNone")?;
    order.min_qty = f.int_max("minQty")?;
    for name in [
        "percentOffset",
        "eTradeOnly",
        "firmQuoteOnly",
        "nbboPriceCap",
        "auctionStrategy",
        "startingPrice",
        "stockRefPrice",
        "delta",
        "stockRangeLower",
        "stockRangeUpper",
        "overridePercentageConstraints",
        "volatility",
        "volatilityType",
    ] {
        f.skip(name)?;
    }
    let delta_neutral_order_type = f.str("deltaNeutralOrderType")?;
    f.skip("deltaNeutralAuxPrice")?;
    if !delta_neutral_order_type.is_empty() {
        for _ in 0..8 {
            f.skip("deltaNeutral order field")?;
        }
    }
    f.skip("continuousUpdate")?;
    f.skip("referencePriceType")?;
    order.trail_stop_price = f.double_max("trailStopPrice")?;
    order.trailing_percent = f.double_max("trailingPercent")?;
    f.skip("scaleInitLevelSize")?;
    f.skip("scaleSubsLevelSize")?;
    if f.double_max("scalePriceIncrement")?.is_some_and(|inc| inc > 0.0) {
        for _ in 0..7 {
            f.skip("scale order field")?;
        }
    }
    for name in ["scaleTable", "activeStartTime", "activeStopTime"] {
        f.skip(name)?;
    }
    if !f.str("hedgeType")?.is_empty() {
        f.skip("hedgeParam")?;
    }
    for name in ["optOutSmartRouting", "clearingAccount", "clearingIntent", "notHeld"] {
        f.skip(name)?;
    }
    delta_neutral(f)?;
    order.algo_strategy = f.str("algoStrategy")?;
    if !order.algo_strategy.is_empty() {
        for _ in 0..f.count("algoParamsCount")? {
            f.skip("algoParam.tag")?;
            f.skip("algoParam.value")?;
        }
    }
    f.skip("algoId")?;
    order.what_if = f.bool("whatIf")?;
    Ok(Request::PlaceOrder { order_id, contract, order: Box::new(order) })
}

/// The eleven contract fields order messages carry (no primary exchange).
fn contract_fields(w: &mut Writer, c: &Contract) {
    w.int(c.con_id)
        .str(&c.symbol)
        .str(&c.sec_type)
        .str(&c.last_trade_date_or_contract_month)
        .double(c.strike)
        .str(&c.right)
        .str(&c.multiplier)
        .str(&c.exchange)
        .str(&c.currency)
        .str(&c.local_symbol)
        .str(&c.trading_class);
}

fn unset(w: &mut Writer, n: usize) {
    for _ in 0..n {
        w.double_max(None);
    }
}

/// openOrder at `version` (no version field: 145+ drops it, `py:decoder.py:314-317`).
pub fn encode_open_order(w: &mut Writer, c: &Contract, o: &Order, st: &OrderState, version: i32) {
    w.int(o.order_id);
    contract_fields(w, c);
    w.str(&o.action).decimal(o.total_quantity).str(&o.order_type).double_max(o.lmt_price).double_max(o.aux_price);
    w.str(&o.tif).str(&o.oca_group).str(&o.account).str(&o.open_close).int(o.origin).str(&o.order_ref);
    w.int(o.client_id).long(o.perm_id).bool(o.outside_rth).bool(o.hidden).double(0.0).str(&o.good_after_time);
    w.str(""); // sharesAllocation, deprecated
    w.str("").str("").str(""); // faGroup, faMethod, faPercentage
    if version < v::FA_PROFILE_DESUPPORT {
        w.str("");
    }
    w.str(&o.model_code).str(&o.good_till_date).str("").double_max(None).str(""); // rule80A, percentOffset, settlingFirm
    w.int(0).str("").int(-1); // shortSaleSlot, designatedLocation, exemptCode
    w.int(0); // auctionStrategy
    unset(w, 5); // startingPrice, stockRefPrice, delta, stockRangeLower, stockRangeUpper
    w.int_max(o.display_size).bool(false).bool(false).bool(o.all_or_none).int_max(o.min_qty).int(0); // … ocaType
    w.bool(false).bool(false).double_max(None); // eTradeOnly, firmQuoteOnly, nbboPriceCap
    w.int(o.parent_id).int(0); // triggerMethod
    w.double_max(None).int(0).str("").double_max(None); // volatility, volatilityType, deltaNeutral type, aux
    w.bool(false).int(0); // continuousUpdate, referencePriceType
    w.double_max(o.trail_stop_price).double_max(o.trailing_percent);
    w.double_max(None).int_max(None); // basisPoints, basisPointsType
    w.str(&c.combo_legs_descrip).int(0).int(0).int(0); // combo legs, order combo legs, smart routing params
    w.int_max(None).int_max(None).double_max(None); // scale init/subs level size, price increment
    w.str(""); // hedgeType
    w.bool(false).str("").str("").bool(false); // optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    w.bool(false); // deltaNeutralContract present
    w.str(&o.algo_strategy);
    if !o.algo_strategy.is_empty() {
        w.int(0);
    }
    w.bool(false).bool(o.what_if); // solicited, whatIf
    w.str(&st.status);
    for margin in [
        &st.init_margin_before,
        &st.maint_margin_before,
        &st.equity_with_loan_before,
        &st.init_margin_change,
        &st.maint_margin_change,
        &st.equity_with_loan_change,
        &st.init_margin_after,
        &st.maint_margin_after,
        &st.equity_with_loan_after,
    ] {
        w.str(margin);
    }
    w.double_max(st.commission).double_max(st.min_commission).double_max(st.max_commission);
    w.str(&st.commission_currency);
    if version >= v::FULL_ORDER_PREVIEW_FIELDS {
        w.str(""); // marginCurrency
        unset(w, 9); // the outside-RTH margin figures
        w.str("").str(&st.reject_reason).int(0); // suggestedSize, rejectReason, allocations
    }
    w.str(&st.warning_text);
    w.bool(false).bool(false); // randomizeSize, randomizePrice
    if is_peg_bench(&o.order_type) {
        w.int(0).bool(false).double(0.0).double(0.0).str("");
    }
    w.int(0); // conditions
    w.str("").double_max(None).double_max(o.trail_stop_price).double_max(None); // adjusted type, trigger, stop, lmt offset
    unset(w, 3); // adjustedStopPrice, adjustedStopLimitPrice, adjustedTrailingAmount
    w.int(0); // adjustableTrailingUnit
    w.str("").str("").str(""); // softDollarTier name, value, displayName
    w.double_max(o.cash_qty);
    w.bool(false).bool(false).bool(false).bool(false); // autoPriceForHedge, oms, discretionaryUpTo, priceMgmt
    if version >= v::DURATION {
        w.int_max(None);
    }
    if version >= v::POST_TO_ATS {
        w.int_max(None);
    }
    if version >= v::AUTO_CANCEL_PARENT {
        w.bool(false);
    }
    peg_best_mid(w, version);
    customer_fields(w, version);
    if version >= v::BOND_ACCRUED_INTEREST {
        w.str("");
    }
    if version >= v::INCLUDE_OVERNIGHT {
        w.bool(false);
    }
    if version >= v::CME_TAGGING_FIELDS_IN_OPEN_ORDER {
        w.str("").int_max(None); // extOperator, manualOrderIndicator
    }
    if version >= v::SUBMITTER {
        w.str("");
    }
    if version >= v::IMBALANCE_ONLY {
        w.bool(false);
    }
}

/// completedOrder at `version` (`py:decoder.py:2143-2221`).
pub fn encode_completed_order(w: &mut Writer, c: &Contract, o: &Order, st: &OrderState, version: i32) {
    contract_fields(w, c);
    w.str(&o.action).decimal(o.total_quantity).str(&o.order_type).double_max(o.lmt_price).double_max(o.aux_price);
    w.str(&o.tif).str(&o.oca_group).str(&o.account).str(&o.open_close).int(o.origin).str(&o.order_ref);
    w.long(o.perm_id).bool(o.outside_rth).bool(o.hidden).double(0.0).str(&o.good_after_time);
    w.str("").str("").str(""); // faGroup, faMethod, faPercentage
    if version < v::FA_PROFILE_DESUPPORT {
        w.str("");
    }
    w.str(&o.model_code).str(&o.good_till_date).str("").double_max(None).str(""); // rule80A, percentOffset, settlingFirm
    w.int(0).str("").int(-1); // shortSaleSlot, designatedLocation, exemptCode
    unset(w, 5); // startingPrice, stockRefPrice, delta, stockRangeLower, stockRangeUpper
    w.int_max(o.display_size).bool(false).bool(o.all_or_none).int_max(o.min_qty).int(0).int(0); // … ocaType, triggerMethod
    w.double_max(None).int(0).str("").double_max(None); // volatility, volatilityType, deltaNeutral type, aux
    w.bool(false).int(0); // continuousUpdate, referencePriceType
    w.double_max(o.trail_stop_price).double_max(o.trailing_percent);
    w.str(&c.combo_legs_descrip).int(0).int(0).int(0);
    w.int_max(None).int_max(None).double_max(None); // scale fields
    w.str(""); // hedgeType
    w.str("").str("").bool(false).bool(false); // clearingAccount, clearingIntent, notHeld, deltaNeutralContract
    w.str(&o.algo_strategy);
    if !o.algo_strategy.is_empty() {
        w.int(0);
    }
    w.bool(false).str(&st.status).bool(false).bool(false); // solicited, status, randomize size/price
    if is_peg_bench(&o.order_type) {
        w.int(0).bool(false).double(0.0).double(0.0).str("");
    }
    w.int(0); // conditions
    w.double_max(o.trail_stop_price).double_max(None).double_max(o.cash_qty); // … lmtPriceOffset, cashQty
    w.bool(false).bool(false).str(""); // dontUseAutoPriceForHedge, isOmsContainer, autoCancelDate
    w.decimal(o.filled_quantity.unwrap_or(0.0)).int(0).bool(false).str(""); // … refFuturesConId, autoCancelParent, shareholder
    w.bool(false).bool(false).long(0); // imbalanceOnly, routeMarketableToBbo, parentPermId
    w.str(&st.completed_time).str(&st.completed_status);
    peg_best_mid(w, version);
    customer_fields(w, version);
    if version >= v::SUBMITTER {
        w.str("");
    }
}

fn peg_best_mid(w: &mut Writer, version: i32) {
    if version >= v::PEGBEST_PEGMID_OFFSETS {
        w.int_max(None).int_max(None); // minTradeQty, minCompeteSize
        unset(w, 3); // competeAgainstBestOffset, midOffsetAtWhole, midOffsetAtHalf
    }
}

fn customer_fields(w: &mut Writer, version: i32) {
    if version >= v::CUSTOMER_ACCOUNT {
        w.str("");
    }
    if version >= v::PROFESSIONAL_CUSTOMER {
        w.bool(false);
    }
}

fn is_peg_bench(order_type: &str) -> bool {
    matches!(order_type, "PEG BENCH" | "PEGBENCH")
}
