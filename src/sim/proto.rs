//! The protobuf messages the simulated gateway reads and writes.
//!
//! Declared by hand with `prost` derives because ibapi's generated module is private. Field
//! numbers and types follow IB's schema (identical in ibapi 5.5 and the official Python client,
//! see `shared/docs/tws-protocol.md`). Every scalar has explicit presence (`Option`), because
//! clients treat "absent" and "zero" differently (e.g. `NextValidId.orderId = 0` must be sent).
//! Only the fields the simulator needs are declared: prost skips the others when decoding.

use std::collections::HashMap;

/// Server → client ids (protobuf wire id = logical id + 200).
pub mod incoming {
    pub const TICK_PRICE: i32 = 1;
    pub const TICK_SIZE: i32 = 2;
    pub const ORDER_STATUS: i32 = 3;
    pub const ERROR: i32 = 4;
    pub const OPEN_ORDER: i32 = 5;
    pub const NEXT_VALID_ID: i32 = 9;
    pub const EXECUTION_DATA: i32 = 11;
    pub const MANAGED_ACCOUNTS: i32 = 15;
    pub const CURRENT_TIME: i32 = 49;
    pub const OPEN_ORDER_END: i32 = 53;
    pub const EXECUTION_DATA_END: i32 = 55;
    pub const TICK_SNAPSHOT_END: i32 = 57;
    pub const MARKET_DATA_TYPE: i32 = 58;
    pub const COMMISSION_REPORT: i32 = 59;
    pub const TICK_REQ_PARAMS: i32 = 81;
    pub const CURRENT_TIME_IN_MILLIS: i32 = 109;
}

/// Client → server ids (logical).
pub mod outgoing {
    pub const REQ_MKT_DATA: i32 = 1;
    pub const CANCEL_MKT_DATA: i32 = 2;
    pub const PLACE_ORDER: i32 = 3;
    pub const CANCEL_ORDER: i32 = 4;
    pub const REQ_OPEN_ORDERS: i32 = 5;
    pub const REQ_EXECUTIONS: i32 = 7;
    pub const REQ_IDS: i32 = 8;
    pub const REQ_AUTO_OPEN_ORDERS: i32 = 15;
    pub const REQ_ALL_OPEN_ORDERS: i32 = 16;
    pub const REQ_MANAGED_ACCTS: i32 = 17;
    pub const REQ_CURRENT_TIME: i32 = 49;
    pub const REQ_GLOBAL_CANCEL: i32 = 58;
    pub const REQ_MARKET_DATA_TYPE: i32 = 59;
    pub const START_API: i32 = 71;
    pub const REQ_CURRENT_TIME_IN_MILLIS: i32 = 105;
}

/// Offset added to a logical message id when its payload is protobuf.
pub const PROTOBUF_MSG_ID: i32 = 200;

/// A request with no fields (reqCurrentTime, reqManagedAccts, reqOpenOrders…).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StartApiRequest {
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub optional_capabilities: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ManagedAccounts {
    #[prost(string, optional, tag = "1")]
    pub accounts_list: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NextValidId {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IdsRequest {
    #[prost(int32, optional, tag = "1")]
    pub num_ids: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorMessage {
    #[prost(int32, optional, tag = "1")]
    pub id: Option<i32>,
    #[prost(int64, optional, tag = "2")]
    pub error_time: Option<i64>,
    #[prost(int32, optional, tag = "3")]
    pub error_code: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub error_msg: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub advanced_order_reject_json: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CurrentTime {
    #[prost(int64, optional, tag = "1")]
    pub current_time: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CurrentTimeInMillis {
    #[prost(int64, optional, tag = "1")]
    pub current_time_in_millis: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Contract {
    #[prost(int32, optional, tag = "1")]
    pub con_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub symbol: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub sec_type: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub last_trade_date_or_contract_month: Option<String>,
    #[prost(double, optional, tag = "5")]
    pub strike: Option<f64>,
    #[prost(string, optional, tag = "6")]
    pub right: Option<String>,
    #[prost(double, optional, tag = "7")]
    pub multiplier: Option<f64>,
    #[prost(string, optional, tag = "8")]
    pub exchange: Option<String>,
    #[prost(string, optional, tag = "9")]
    pub primary_exch: Option<String>,
    #[prost(string, optional, tag = "10")]
    pub currency: Option<String>,
    #[prost(string, optional, tag = "11")]
    pub local_symbol: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub trading_class: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Order {
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub order_id: Option<i32>,
    #[prost(int64, optional, tag = "3")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "4")]
    pub parent_id: Option<i32>,
    #[prost(string, optional, tag = "5")]
    pub action: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub total_quantity: Option<String>,
    #[prost(string, optional, tag = "8")]
    pub order_type: Option<String>,
    #[prost(double, optional, tag = "9")]
    pub lmt_price: Option<f64>,
    #[prost(double, optional, tag = "10")]
    pub aux_price: Option<f64>,
    #[prost(string, optional, tag = "11")]
    pub tif: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub account: Option<String>,
    #[prost(bool, optional, tag = "19")]
    pub outside_rth: Option<bool>,
    #[prost(string, optional, tag = "28")]
    pub order_ref: Option<String>,
    #[prost(bool, optional, tag = "65")]
    pub what_if: Option<bool>,
    #[prost(bool, optional, tag = "66")]
    pub transmit: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OrderState {
    #[prost(string, optional, tag = "1")]
    pub status: Option<String>,
    #[prost(double, optional, tag = "11")]
    pub commission_and_fees: Option<f64>,
    #[prost(string, optional, tag = "14")]
    pub commission_and_fees_currency: Option<String>,
    #[prost(string, optional, tag = "26")]
    pub reject_reason: Option<String>,
    #[prost(string, optional, tag = "28")]
    pub warning_text: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PlaceOrderRequest {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub order: Option<Order>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OrderCancel {
    #[prost(string, optional, tag = "1")]
    pub manual_order_cancel_time: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub ext_operator: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub manual_order_indicator: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CancelOrderRequest {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub order_cancel: Option<OrderCancel>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GlobalCancelRequest {
    #[prost(message, optional, tag = "1")]
    pub order_cancel: Option<OrderCancel>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OpenOrder {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub order: Option<Order>,
    #[prost(message, optional, tag = "4")]
    pub order_state: Option<OrderState>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OpenOrdersEnd {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OrderStatus {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub status: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub filled: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub remaining: Option<String>,
    #[prost(double, optional, tag = "5")]
    pub avg_fill_price: Option<f64>,
    #[prost(int64, optional, tag = "6")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "7")]
    pub parent_id: Option<i32>,
    #[prost(double, optional, tag = "8")]
    pub last_fill_price: Option<f64>,
    #[prost(int32, optional, tag = "9")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "10")]
    pub why_held: Option<String>,
    #[prost(double, optional, tag = "11")]
    pub mkt_cap_price: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Execution {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub exec_id: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub time: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub acct_number: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub exchange: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub side: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub shares: Option<String>,
    #[prost(double, optional, tag = "8")]
    pub price: Option<f64>,
    #[prost(int64, optional, tag = "9")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "10")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "12")]
    pub cum_qty: Option<String>,
    #[prost(double, optional, tag = "13")]
    pub avg_price: Option<f64>,
    #[prost(string, optional, tag = "14")]
    pub order_ref: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionDetails {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub execution: Option<Execution>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionDetailsEnd {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionFilter {
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub acct_code: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub time: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub symbol: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub sec_type: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub exchange: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub side: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub execution_filter: Option<ExecutionFilter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CommissionAndFeesReport {
    #[prost(string, optional, tag = "1")]
    pub exec_id: Option<String>,
    #[prost(double, optional, tag = "2")]
    pub commission_and_fees: Option<f64>,
    #[prost(string, optional, tag = "3")]
    pub currency: Option<String>,
    #[prost(double, optional, tag = "4")]
    pub realized_pnl: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MarketDataRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(string, optional, tag = "3")]
    pub generic_tick_list: Option<String>,
    #[prost(bool, optional, tag = "4")]
    pub snapshot: Option<bool>,
    #[prost(bool, optional, tag = "5")]
    pub regulatory_snapshot: Option<bool>,
    #[prost(map = "string, string", tag = "6")]
    pub market_data_options: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CancelMarketData {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MarketDataTypeRequest {
    #[prost(int32, optional, tag = "1")]
    pub market_data_type: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MarketDataType {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub market_data_type: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TickReqParams {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub min_tick: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub bbo_exchange: Option<String>,
    #[prost(int32, optional, tag = "4")]
    pub snapshot_permissions: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TickPrice {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub tick_type: Option<i32>,
    #[prost(double, optional, tag = "3")]
    pub price: Option<f64>,
    #[prost(string, optional, tag = "4")]
    pub size: Option<String>,
    #[prost(int32, optional, tag = "5")]
    pub attr_mask: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TickSize {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub tick_type: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub size: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TickSnapshotEnd {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}
