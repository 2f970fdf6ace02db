//! Version-independent messages: what a client asked ([`Request`]) and what the gateway
//! answers ([`Reply`]). The codecs turn frames of any negotiated version into a `Request` and
//! a `Reply` into the frames of the session's version; the handlers see only these.

pub mod ids;
mod types;

pub use types::*;

use ids::{incoming as inc, outgoing as out};

/// A decoded client request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    StartApi {
        client_id: i32,
        optional_capabilities: String,
    },
    CurrentTime,
    CurrentTimeInMillis,
    Ids {
        num_ids: i32,
    },
    ManagedAccounts,
    MarketDataType {
        market_data_type: i32,
    },
    AutoOpenOrders {
        auto_bind: bool,
    },
    MarketData {
        req_id: i32,
        contract: Contract,
        generic_ticks: String,
        snapshot: bool,
        regulatory_snapshot: bool,
    },
    CancelMarketData {
        req_id: i32,
    },
    PlaceOrder {
        order_id: i32,
        contract: Contract,
        order: Box<Order>,
    },
    CancelOrder {
        order_id: i32,
        manual_cancel_time: String,
    },
    GlobalCancel,
    OpenOrders,
    AllOpenOrders,
    Executions {
        req_id: i32,
        filter: ExecutionFilter,
    },
    CompletedOrders {
        api_only: bool,
    },
    ContractDetails {
        req_id: i32,
        contract: Contract,
    },
    MatchingSymbols {
        req_id: i32,
        pattern: String,
    },
    AccountUpdates {
        subscribe: bool,
        account: String,
    },
    AccountSummary {
        req_id: i32,
        group: String,
        tags: String,
    },
    CancelAccountSummary {
        req_id: i32,
    },
    Positions,
    CancelPositions,
    PositionsMulti {
        req_id: i32,
        account: String,
        model_code: String,
    },
    CancelPositionsMulti {
        req_id: i32,
    },
    AccountUpdatesMulti {
        req_id: i32,
        account: String,
        model_code: String,
        ledger_and_nlv: bool,
    },
    CancelAccountUpdatesMulti {
        req_id: i32,
    },
    PnL {
        req_id: i32,
        account: String,
        model_code: String,
    },
    CancelPnL {
        req_id: i32,
    },
    PnLSingle {
        req_id: i32,
        account: String,
        model_code: String,
        con_id: i32,
    },
    CancelPnLSingle {
        req_id: i32,
    },
    HistoricalData(HistoricalDataRequest),
    CancelHistoricalData {
        req_id: i32,
    },
    HeadTimestamp {
        req_id: i32,
        contract: Contract,
        use_rth: bool,
        what_to_show: String,
        format_date: i32,
    },
    CancelHeadTimestamp {
        req_id: i32,
    },
    RealTimeBars {
        req_id: i32,
        contract: Contract,
        bar_size: i32,
        what_to_show: String,
        use_rth: bool,
    },
    CancelRealTimeBars {
        req_id: i32,
    },
    TickByTick {
        req_id: i32,
        contract: Contract,
        tick_type: String,
        number_of_ticks: i32,
        ignore_size: bool,
    },
    CancelTickByTick {
        req_id: i32,
    },
    UserInfo {
        req_id: i32,
    },
    /// A request the simulator does not serve: answered 321 on `req_id` (−1 when it has none).
    Unsupported {
        msg_id: i32,
        req_id: Option<i32>,
    },
}

impl Request {
    /// The message id it came as.
    pub fn msg_id(&self) -> i32 {
        match self {
            Request::StartApi { .. } => out::START_API,
            Request::CurrentTime => out::REQ_CURRENT_TIME,
            Request::CurrentTimeInMillis => out::REQ_CURRENT_TIME_IN_MILLIS,
            Request::Ids { .. } => out::REQ_IDS,
            Request::ManagedAccounts => out::REQ_MANAGED_ACCTS,
            Request::MarketDataType { .. } => out::REQ_MARKET_DATA_TYPE,
            Request::AutoOpenOrders { .. } => out::REQ_AUTO_OPEN_ORDERS,
            Request::MarketData { .. } => out::REQ_MKT_DATA,
            Request::CancelMarketData { .. } => out::CANCEL_MKT_DATA,
            Request::PlaceOrder { .. } => out::PLACE_ORDER,
            Request::CancelOrder { .. } => out::CANCEL_ORDER,
            Request::GlobalCancel => out::REQ_GLOBAL_CANCEL,
            Request::OpenOrders => out::REQ_OPEN_ORDERS,
            Request::AllOpenOrders => out::REQ_ALL_OPEN_ORDERS,
            Request::Executions { .. } => out::REQ_EXECUTIONS,
            Request::CompletedOrders { .. } => out::REQ_COMPLETED_ORDERS,
            Request::ContractDetails { .. } => out::REQ_CONTRACT_DATA,
            Request::MatchingSymbols { .. } => out::REQ_MATCHING_SYMBOLS,
            Request::AccountUpdates { .. } => out::REQ_ACCT_DATA,
            Request::AccountSummary { .. } => out::REQ_ACCOUNT_SUMMARY,
            Request::CancelAccountSummary { .. } => out::CANCEL_ACCOUNT_SUMMARY,
            Request::Positions => out::REQ_POSITIONS,
            Request::CancelPositions => out::CANCEL_POSITIONS,
            Request::PositionsMulti { .. } => out::REQ_POSITIONS_MULTI,
            Request::CancelPositionsMulti { .. } => out::CANCEL_POSITIONS_MULTI,
            Request::AccountUpdatesMulti { .. } => out::REQ_ACCOUNT_UPDATES_MULTI,
            Request::CancelAccountUpdatesMulti { .. } => out::CANCEL_ACCOUNT_UPDATES_MULTI,
            Request::PnL { .. } => out::REQ_PNL,
            Request::CancelPnL { .. } => out::CANCEL_PNL,
            Request::PnLSingle { .. } => out::REQ_PNL_SINGLE,
            Request::CancelPnLSingle { .. } => out::CANCEL_PNL_SINGLE,
            Request::HistoricalData(_) => out::REQ_HISTORICAL_DATA,
            Request::CancelHistoricalData { .. } => out::CANCEL_HISTORICAL_DATA,
            Request::HeadTimestamp { .. } => out::REQ_HEAD_TIMESTAMP,
            Request::CancelHeadTimestamp { .. } => out::CANCEL_HEAD_TIMESTAMP,
            Request::RealTimeBars { .. } => out::REQ_REAL_TIME_BARS,
            Request::CancelRealTimeBars { .. } => out::CANCEL_REAL_TIME_BARS,
            Request::TickByTick { .. } => out::REQ_TICK_BY_TICK_DATA,
            Request::CancelTickByTick { .. } => out::CANCEL_TICK_BY_TICK_DATA,
            Request::UserInfo { .. } => out::REQ_USER_INFO,
            Request::Unsupported { msg_id, .. } => *msg_id,
        }
    }

    /// The request id it carries, if its kind has one (orders: the order id).
    pub fn req_id(&self) -> Option<i32> {
        match self {
            Request::MarketData { req_id, .. }
            | Request::CancelMarketData { req_id }
            | Request::Executions { req_id, .. }
            | Request::ContractDetails { req_id, .. }
            | Request::MatchingSymbols { req_id, .. }
            | Request::AccountSummary { req_id, .. }
            | Request::CancelAccountSummary { req_id }
            | Request::PositionsMulti { req_id, .. }
            | Request::CancelPositionsMulti { req_id }
            | Request::AccountUpdatesMulti { req_id, .. }
            | Request::CancelAccountUpdatesMulti { req_id }
            | Request::PnL { req_id, .. }
            | Request::CancelPnL { req_id }
            | Request::PnLSingle { req_id, .. }
            | Request::CancelPnLSingle { req_id }
            | Request::CancelHistoricalData { req_id }
            | Request::HeadTimestamp { req_id, .. }
            | Request::CancelHeadTimestamp { req_id }
            | Request::RealTimeBars { req_id, .. }
            | Request::CancelRealTimeBars { req_id }
            | Request::TickByTick { req_id, .. }
            | Request::CancelTickByTick { req_id }
            | Request::UserInfo { req_id } => Some(*req_id),
            Request::HistoricalData(req) => Some(req.req_id),
            Request::PlaceOrder { order_id, .. } | Request::CancelOrder { order_id, .. } => Some(*order_id),
            Request::Unsupported { req_id, .. } => *req_id,
            _ => None,
        }
    }
}

/// reqHistoricalData's parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoricalDataRequest {
    pub req_id: i32,
    pub contract: Contract,
    /// `yyyymmdd hh:mm:ss[ zone]`, `yyyymmdd-hh:mm:ss` (UTC), or empty for now.
    pub end: String,
    pub bar_size: String,
    pub duration: String,
    pub use_rth: bool,
    pub what_to_show: String,
    /// 1: `yyyymmdd hh:mm:ss zone` strings, 2: epoch seconds.
    pub format_date: i32,
    pub keep_up_to_date: bool,
}

/// A message to one client, encoded per its session's version.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    NextValidId(i32),
    ManagedAccounts(String),
    CurrentTime(i64),
    CurrentTimeInMillis(i64),
    Error {
        id: i32,
        code: i32,
        message: String,
        time_ms: i64,
    },
    /// `us_stock`: a US stock, whose sizes TWS counts in lots of 100 at older versions (the
    /// codec scales; sizes here are always shares).
    TickPrice {
        req_id: i32,
        tick_type: i32,
        price: f64,
        size: Option<f64>,
        attr_mask: i32,
        us_stock: bool,
    },
    TickSize {
        req_id: i32,
        tick_type: i32,
        size: f64,
        us_stock: bool,
    },
    TickGeneric {
        req_id: i32,
        tick_type: i32,
        value: f64,
    },
    TickString {
        req_id: i32,
        tick_type: i32,
        value: String,
    },
    TickReqParams {
        req_id: i32,
        min_tick: f64,
        bbo_exchange: String,
        snapshot_permissions: i32,
    },
    MarketDataType {
        req_id: i32,
        market_data_type: i32,
    },
    TickSnapshotEnd {
        req_id: i32,
    },
    OrderStatus(OrderStatus),
    OpenOrder {
        contract: Contract,
        order: Box<Order>,
        state: OrderState,
    },
    OpenOrderEnd,
    /// A TWS order now known to the API as `client_id` / `order_id`.
    OrderBound {
        perm_id: i64,
        client_id: i32,
        order_id: i32,
    },
    CompletedOrder {
        contract: Contract,
        order: Box<Order>,
        state: OrderState,
    },
    CompletedOrdersEnd,
    ExecutionData {
        req_id: i32,
        contract: Contract,
        execution: Execution,
    },
    ExecutionDataEnd {
        req_id: i32,
    },
    CommissionReport(CommissionReport),
    ContractData {
        req_id: i32,
        details: Box<ContractDetails>,
    },
    ContractDataEnd {
        req_id: i32,
    },
    SymbolSamples {
        req_id: i32,
        descriptions: Vec<ContractDescription>,
    },
    AccountValue {
        key: String,
        value: String,
        currency: String,
        account: String,
    },
    PortfolioValue(PortfolioValue),
    AccountUpdateTime(String),
    AccountDownloadEnd(String),
    Position {
        account: String,
        contract: Contract,
        position: f64,
        avg_cost: f64,
    },
    PositionEnd,
    AccountSummary {
        req_id: i32,
        account: String,
        tag: String,
        value: String,
        currency: String,
    },
    AccountSummaryEnd {
        req_id: i32,
    },
    PositionMulti {
        req_id: i32,
        account: String,
        model_code: String,
        contract: Contract,
        position: f64,
        avg_cost: f64,
    },
    PositionMultiEnd {
        req_id: i32,
    },
    AccountUpdateMulti {
        req_id: i32,
        account: String,
        model_code: String,
        key: String,
        value: String,
        currency: String,
    },
    AccountUpdateMultiEnd {
        req_id: i32,
    },
    PnL {
        req_id: i32,
        daily: f64,
        unrealized: f64,
        realized: f64,
    },
    PnLSingle {
        req_id: i32,
        position: f64,
        daily: f64,
        unrealized: f64,
        realized: f64,
        value: f64,
    },
    /// Bars, then the end marker (one text message below 196, two frames from 196 on).
    HistoricalData {
        req_id: i32,
        start: String,
        end: String,
        bars: Vec<Bar>,
        us_stock: bool,
    },
    HistoricalDataUpdate {
        req_id: i32,
        bar: Bar,
        us_stock: bool,
    },
    /// reqHistoricalData with whatToShow SCHEDULE: the trading sessions, times as
    /// `yyyymmdd-hh:mm:ss` in `time_zone`, each with its reference date `yyyymmdd`.
    HistoricalSchedule {
        req_id: i32,
        start: String,
        end: String,
        time_zone: String,
        sessions: Vec<(String, String, String)>,
    },
    HeadTimestamp {
        req_id: i32,
        timestamp: String,
    },
    RealTimeBar {
        req_id: i32,
        time: i64,
        bar: Bar,
        us_stock: bool,
    },
    TickByTick {
        req_id: i32,
        tick: TickByTick,
    },
    UserInfo {
        req_id: i32,
        white_branding_id: String,
    },
}

/// orderStatus.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderStatus {
    pub order_id: i32,
    pub status: String,
    pub filled: f64,
    pub remaining: f64,
    pub avg_fill_price: f64,
    pub perm_id: i64,
    pub parent_id: i32,
    pub last_fill_price: f64,
    pub client_id: i32,
    pub why_held: String,
    pub mkt_cap_price: f64,
}

/// updatePortfolio.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortfolioValue {
    pub contract: Contract,
    pub position: f64,
    pub market_price: f64,
    pub market_value: f64,
    pub average_cost: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
    pub account: String,
}

impl Reply {
    /// The message id (logical).
    pub fn msg_id(&self) -> i32 {
        match self {
            Reply::NextValidId(_) => inc::NEXT_VALID_ID,
            Reply::ManagedAccounts(_) => inc::MANAGED_ACCTS,
            Reply::CurrentTime(_) => inc::CURRENT_TIME,
            Reply::CurrentTimeInMillis(_) => inc::CURRENT_TIME_IN_MILLIS,
            Reply::Error { .. } => inc::ERR_MSG,
            Reply::TickPrice { .. } => inc::TICK_PRICE,
            Reply::TickSize { .. } => inc::TICK_SIZE,
            Reply::TickGeneric { .. } => inc::TICK_GENERIC,
            Reply::TickString { .. } => inc::TICK_STRING,
            Reply::TickReqParams { .. } => inc::TICK_REQ_PARAMS,
            Reply::MarketDataType { .. } => inc::MARKET_DATA_TYPE,
            Reply::TickSnapshotEnd { .. } => inc::TICK_SNAPSHOT_END,
            Reply::OrderStatus(_) => inc::ORDER_STATUS,
            Reply::OpenOrder { .. } => inc::OPEN_ORDER,
            Reply::OpenOrderEnd => inc::OPEN_ORDER_END,
            Reply::OrderBound { .. } => inc::ORDER_BOUND,
            Reply::CompletedOrder { .. } => inc::COMPLETED_ORDER,
            Reply::CompletedOrdersEnd => inc::COMPLETED_ORDERS_END,
            Reply::ExecutionData { .. } => inc::EXECUTION_DATA,
            Reply::ExecutionDataEnd { .. } => inc::EXECUTION_DATA_END,
            Reply::CommissionReport(_) => inc::COMMISSION_REPORT,
            Reply::ContractData { .. } => inc::CONTRACT_DATA,
            Reply::ContractDataEnd { .. } => inc::CONTRACT_DATA_END,
            Reply::SymbolSamples { .. } => inc::SYMBOL_SAMPLES,
            Reply::AccountValue { .. } => inc::ACCT_VALUE,
            Reply::PortfolioValue(_) => inc::PORTFOLIO_VALUE,
            Reply::AccountUpdateTime(_) => inc::ACCT_UPDATE_TIME,
            Reply::AccountDownloadEnd(_) => inc::ACCT_DOWNLOAD_END,
            Reply::Position { .. } => inc::POSITION_DATA,
            Reply::PositionEnd => inc::POSITION_END,
            Reply::AccountSummary { .. } => inc::ACCOUNT_SUMMARY,
            Reply::AccountSummaryEnd { .. } => inc::ACCOUNT_SUMMARY_END,
            Reply::PositionMulti { .. } => inc::POSITION_MULTI,
            Reply::PositionMultiEnd { .. } => inc::POSITION_MULTI_END,
            Reply::AccountUpdateMulti { .. } => inc::ACCOUNT_UPDATE_MULTI,
            Reply::AccountUpdateMultiEnd { .. } => inc::ACCOUNT_UPDATE_MULTI_END,
            Reply::PnL { .. } => inc::PNL,
            Reply::PnLSingle { .. } => inc::PNL_SINGLE,
            Reply::HistoricalData { .. } => inc::HISTORICAL_DATA,
            Reply::HistoricalDataUpdate { .. } => inc::HISTORICAL_DATA_UPDATE,
            Reply::HistoricalSchedule { .. } => inc::HISTORICAL_SCHEDULE,
            Reply::HeadTimestamp { .. } => inc::HEAD_TIMESTAMP,
            Reply::RealTimeBar { .. } => inc::REAL_TIME_BARS,
            Reply::TickByTick { .. } => inc::TICK_BY_TICK,
            Reply::UserInfo { .. } => inc::USER_INFO,
        }
    }

    /// An error or notice on `id` (−1 for a request-less notice), stamped now.
    pub fn error(id: i32, code: i32, message: impl Into<String>) -> Reply {
        Reply::Error { id, code, message: message.into(), time_ms: chrono::Utc::now().timestamp_millis() }
    }
}
