//! IB's protobuf messages, declared with `prost` derives (ibapi's generated module is private).

mod account;
mod common;
mod market;
mod orders;

pub use account::*;
pub use common::*;
pub use market::*;
pub use orders::*;

/// A request with no fields (reqCurrentTime, reqManagedAccts, reqPositions, reqOpenOrders…) or a
/// reply with none (positionEnd, openOrderEnd, completedOrdersEnd).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// A message whose only field is the request id (the cancels, reqUserInfo, the End messages).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReqId {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}
