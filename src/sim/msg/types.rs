//! The data that requests and replies carry, independent of how any version encodes it.
//!
//! Field names follow IB's (`py:contract.py`, `order.py`, `execution.py`). Optional doubles
//! are `Option`: IB's "unset" (`f64::MAX`, an empty text field, an absent protobuf field).

use serde::Serialize;

/// A contract as requests name it and replies describe it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Contract {
    pub con_id: i32,
    pub symbol: String,
    pub sec_type: String,
    pub last_trade_date_or_contract_month: String,
    pub strike: f64,
    pub right: String,
    pub multiplier: String,
    pub exchange: String,
    pub primary_exchange: String,
    pub currency: String,
    pub local_symbol: String,
    pub trading_class: String,
    pub include_expired: bool,
    pub sec_id_type: String,
    pub sec_id: String,
    pub description: String,
    pub issuer_id: String,
    pub combo_legs_descrip: String,
}

/// The order fields the simulator reads, books and echoes in openOrder / completedOrder.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Order {
    pub order_id: i32,
    pub client_id: i32,
    pub perm_id: i64,
    pub parent_id: i32,
    pub action: String,
    pub total_quantity: f64,
    pub order_type: String,
    pub lmt_price: Option<f64>,
    pub aux_price: Option<f64>,
    pub tif: String,
    pub oca_group: String,
    pub account: String,
    pub open_close: String,
    pub origin: i32,
    pub order_ref: String,
    pub transmit: bool,
    pub outside_rth: bool,
    pub hidden: bool,
    pub display_size: Option<i32>,
    pub good_after_time: String,
    pub good_till_date: String,
    pub all_or_none: bool,
    pub min_qty: Option<i32>,
    pub trail_stop_price: Option<f64>,
    pub trailing_percent: Option<f64>,
    pub model_code: String,
    pub algo_strategy: String,
    pub what_if: bool,
    pub cash_qty: Option<f64>,
    /// Filled so far (completed orders report it).
    pub filled_quantity: Option<f64>,
}

/// An order's state as openOrder / completedOrder carry it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrderState {
    pub status: String,
    pub init_margin_before: String,
    pub maint_margin_before: String,
    pub equity_with_loan_before: String,
    pub init_margin_change: String,
    pub maint_margin_change: String,
    pub equity_with_loan_change: String,
    pub init_margin_after: String,
    pub maint_margin_after: String,
    pub equity_with_loan_after: String,
    pub commission: Option<f64>,
    pub min_commission: Option<f64>,
    pub max_commission: Option<f64>,
    pub commission_currency: String,
    pub warning_text: String,
    pub reject_reason: String,
    pub completed_time: String,
    pub completed_status: String,
}

/// One fill.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Execution {
    pub order_id: i32,
    pub exec_id: String,
    /// `YYYYMMDD HH:MM:SS` in the gateway's zone (or `… UTC`).
    pub time: String,
    pub acct_number: String,
    pub exchange: String,
    /// `BOT` or `SLD`.
    pub side: String,
    pub shares: f64,
    pub price: f64,
    pub perm_id: i64,
    pub client_id: i32,
    pub liquidation: i32,
    pub cum_qty: f64,
    pub avg_price: f64,
    pub order_ref: String,
    pub model_code: String,
    /// 1 added liquidity, 2 removed, 3 routed out.
    pub last_liquidity: i32,
}

/// The commission of one execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CommissionReport {
    pub exec_id: String,
    pub commission: f64,
    pub currency: String,
    /// Realised P&L of a closing fill; `None` (IB sends `f64::MAX`) for an opening one.
    pub realized_pnl: Option<f64>,
}

/// What reqExecutions asks for; empty strings and `client_id: 0` match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionFilter {
    pub client_id: i32,
    pub acct_code: String,
    /// `yyyymmdd hh:mm:ss` (optionally with a zone): executions at or after it.
    pub time: String,
    pub symbol: String,
    pub sec_type: String,
    pub exchange: String,
    pub side: String,
    pub last_n_days: Option<i32>,
    pub specific_dates: Vec<i32>,
}

/// Contract details, as reqContractDetails answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContractDetails {
    pub contract: Contract,
    pub market_name: String,
    pub min_tick: f64,
    pub order_types: String,
    pub valid_exchanges: String,
    pub price_magnifier: i32,
    pub under_con_id: i32,
    pub long_name: String,
    pub contract_month: String,
    pub industry: String,
    pub category: String,
    pub subcategory: String,
    pub time_zone_id: String,
    pub trading_hours: String,
    pub liquid_hours: String,
    pub ev_rule: String,
    pub ev_multiplier: Option<f64>,
    pub sec_id_list: Vec<(String, String)>,
    pub agg_group: i32,
    pub under_symbol: String,
    pub under_sec_type: String,
    pub market_rule_ids: String,
    pub real_expiration_date: String,
    pub last_trade_time: String,
    pub stock_type: String,
    pub min_size: f64,
    pub size_increment: f64,
    pub suggested_size_increment: f64,
}

/// One reqMatchingSymbols result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContractDescription {
    pub contract: Contract,
    pub derivative_sec_types: Vec<String>,
}

/// One historical (or keep-up-to-date) bar.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bar {
    /// As `formatDate` asks: `yyyymmdd[ hh:mm:ss zone]` or epoch seconds.
    pub date: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub wap: f64,
    pub count: i32,
}

/// One tick-by-tick event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TickByTick {
    /// tickType 1 (`Last`) or 2 (`AllLast`).
    Last {
        all_last: bool,
        time: i64,
        price: f64,
        size: f64,
        exchange: String,
        special_conditions: String,
    },
    BidAsk {
        time: i64,
        bid: f64,
        ask: f64,
        bid_size: f64,
        ask_size: f64,
    },
    MidPoint {
        time: i64,
        mid: f64,
    },
}

impl TickByTick {
    /// The tickType number the wire carries.
    pub fn tick_type(&self) -> i32 {
        match self {
            TickByTick::Last { all_last: false, .. } => 1,
            TickByTick::Last { all_last: true, .. } => 2,
            TickByTick::BidAsk { .. } => 3,
            TickByTick::MidPoint { .. } => 4,
        }
    }

    pub fn time(&self) -> i64 {
        match self {
            TickByTick::Last { time, .. } | TickByTick::BidAsk { time, .. } | TickByTick::MidPoint { time, .. } => {
                *time
            }
        }
    }
}

/// A quantity as TWS writes a decimal: no trailing `.0` for whole numbers.
pub fn format_qty(q: f64) -> String {
    if q.fract() == 0.0 && q.abs() < 1e15 {
        format!("{}", q as i64)
    } else {
        q.to_string()
    }
}
