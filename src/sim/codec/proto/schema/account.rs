//! Protobuf messages of accounts: values, portfolio, positions, summaries and PnL.
//!
//! Field numbers and types are those of IB's schema (`py:protobuf/*_pb2.py`, the same in
//! ibapi 5.5); only the fields the simulator reads or writes are declared, and prost skips
//! the others when decoding. Every scalar has explicit presence, as in IB's schema.

use super::common::Contract;

#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountDataRequest {
    #[prost(bool, optional, tag = "1")]
    pub subscribe: Option<bool>,
    #[prost(string, optional, tag = "2")]
    pub acct_code: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountValue {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub currency: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub account_name: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PortfolioValue {
    #[prost(message, optional, tag = "1")]
    pub contract: Option<Contract>,
    #[prost(string, optional, tag = "2")]
    pub position: Option<String>,
    #[prost(double, optional, tag = "3")]
    pub market_price: Option<f64>,
    #[prost(double, optional, tag = "4")]
    pub market_value: Option<f64>,
    #[prost(double, optional, tag = "5")]
    pub average_cost: Option<f64>,
    #[prost(double, optional, tag = "6")]
    pub unrealized_pnl: Option<f64>,
    #[prost(double, optional, tag = "7")]
    pub realized_pnl: Option<f64>,
    #[prost(string, optional, tag = "8")]
    pub account_name: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountUpdateTime {
    #[prost(string, optional, tag = "1")]
    pub time_stamp: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountDataEnd {
    #[prost(string, optional, tag = "1")]
    pub account_name: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Position {
    #[prost(string, optional, tag = "1")]
    pub account: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(string, optional, tag = "3")]
    pub position: Option<String>,
    #[prost(double, optional, tag = "4")]
    pub avg_cost: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountSummaryRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub group: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub tags: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountSummary {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub tag: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub value: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub currency: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PositionsMultiRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub model_code: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PositionMulti {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(message, optional, tag = "3")]
    pub contract: Option<Contract>,
    #[prost(string, optional, tag = "4")]
    pub position: Option<String>,
    #[prost(double, optional, tag = "5")]
    pub avg_cost: Option<f64>,
    #[prost(string, optional, tag = "6")]
    pub model_code: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountUpdatesMultiRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub model_code: Option<String>,
    #[prost(bool, optional, tag = "4")]
    pub ledger_and_nlv: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountUpdateMulti {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub model_code: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub key: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub value: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub currency: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PnLRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub model_code: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PnL {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(double, optional, tag = "2")]
    pub daily_pnl: Option<f64>,
    #[prost(double, optional, tag = "3")]
    pub unrealized_pnl: Option<f64>,
    #[prost(double, optional, tag = "4")]
    pub realized_pnl: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PnLSingleRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub model_code: Option<String>,
    #[prost(int32, optional, tag = "4")]
    pub con_id: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PnLSingle {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub position: Option<String>,
    #[prost(double, optional, tag = "3")]
    pub daily_pnl: Option<f64>,
    #[prost(double, optional, tag = "4")]
    pub unrealized_pnl: Option<f64>,
    #[prost(double, optional, tag = "5")]
    pub realized_pnl: Option<f64>,
    #[prost(double, optional, tag = "6")]
    pub value: Option<f64>,
}
