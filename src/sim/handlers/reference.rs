//! Reference data from the market's instrument table: reqContractDetails (unknown → 200 as
//! TWS words it), reqMatchingSymbols, reqUserInfo.

use chrono::Utc;

use super::{convert, Ctx};
use crate::sim::msg::{Reply, Request};

pub(super) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::ContractDetails { req_id, contract } => {
            let result = ctx.gateway.market().contract_details(&convert::query(&contract), Utc::now());
            match result {
                Ok(list) => {
                    for details in &list {
                        ctx.send(&Reply::ContractData { req_id, details: Box::new(convert::details(details)) });
                    }
                    ctx.send(&Reply::ContractDataEnd { req_id });
                }
                Err(e) => ctx.market_error(req_id, &e),
            }
        }
        Request::MatchingSymbols { req_id, pattern } => {
            let found = ctx.gateway.market().matching_symbols(&pattern, Utc::now());
            let descriptions = found.iter().map(convert::description).collect();
            ctx.send(&Reply::SymbolSamples { req_id, descriptions });
        }
        Request::UserInfo { req_id } => ctx.send(&Reply::UserInfo { req_id, white_branding_id: String::new() }),
        _ => unreachable!("reference::handle is given reference-data requests only"),
    }
}
