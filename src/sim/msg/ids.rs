//! The requests' names and where they carry a request id; the ids themselves are IB's
//! (`ibkr_supervisor_actors::wire::ids`), shared with the production proxy.

pub use crate::actors::wire::ids::{incoming, outgoing};

/// Where a request carries its request id, so an unsupported one is answered on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInfo {
    /// The EClient method that sends it, as IB names it.
    pub name: &'static str,
    /// Index of the request id among the text fields (after the message id), if any.
    pub text_req_id: Option<usize>,
    /// Whether protobuf field 1 is the request id.
    pub proto_req_id: bool,
}

const fn info(name: &'static str, text_req_id: Option<usize>, proto_req_id: bool) -> RequestInfo {
    RequestInfo { name, text_req_id, proto_req_id }
}

/// What the simulator knows of request `msg_id` (`py:client.py`, one method per id; the text
/// positions are those of versions 157 and up).
pub fn request_info(msg_id: i32) -> Option<RequestInfo> {
    use outgoing::*;
    let (versioned, plain, none) = (Some(1), Some(0), None);
    Some(match msg_id {
        REQ_MKT_DATA => info("reqMktData", versioned, true),
        CANCEL_MKT_DATA => info("cancelMktData", versioned, true),
        PLACE_ORDER => info("placeOrder", plain, true),
        CANCEL_ORDER => info("cancelOrder", versioned, true),
        REQ_OPEN_ORDERS => info("reqOpenOrders", none, false),
        REQ_ACCT_DATA => info("reqAccountUpdates", none, false),
        REQ_EXECUTIONS => info("reqExecutions", versioned, true),
        REQ_IDS => info("reqIds", none, false),
        REQ_CONTRACT_DATA => info("reqContractDetails", versioned, true),
        REQ_MKT_DEPTH => info("reqMktDepth", versioned, true),
        CANCEL_MKT_DEPTH => info("cancelMktDepth", versioned, true),
        REQ_NEWS_BULLETINS => info("reqNewsBulletins", none, false),
        CANCEL_NEWS_BULLETINS => info("cancelNewsBulletins", none, false),
        SET_SERVER_LOGLEVEL => info("setServerLogLevel", none, false),
        REQ_AUTO_OPEN_ORDERS => info("reqAutoOpenOrders", none, false),
        REQ_ALL_OPEN_ORDERS => info("reqAllOpenOrders", none, false),
        REQ_MANAGED_ACCTS => info("reqManagedAccts", none, false),
        REQ_FA => info("requestFA", none, false),
        REPLACE_FA => info("replaceFA", Some(3), true),
        REQ_HISTORICAL_DATA => info("reqHistoricalData", plain, true),
        EXERCISE_OPTIONS => info("exerciseOptions", versioned, true),
        REQ_SCANNER_SUBSCRIPTION => info("reqScannerSubscription", plain, true),
        CANCEL_SCANNER_SUBSCRIPTION => info("cancelScannerSubscription", versioned, true),
        REQ_SCANNER_PARAMETERS => info("reqScannerParameters", none, false),
        CANCEL_HISTORICAL_DATA => info("cancelHistoricalData", versioned, true),
        REQ_CURRENT_TIME => info("reqCurrentTime", none, false),
        REQ_REAL_TIME_BARS => info("reqRealTimeBars", versioned, true),
        CANCEL_REAL_TIME_BARS => info("cancelRealTimeBars", versioned, true),
        REQ_FUNDAMENTAL_DATA => info("reqFundamentalData", versioned, true),
        CANCEL_FUNDAMENTAL_DATA => info("cancelFundamentalData", versioned, true),
        REQ_CALC_IMPLIED_VOLAT => info("calculateImpliedVolatility", versioned, true),
        REQ_CALC_OPTION_PRICE => info("calculateOptionPrice", versioned, true),
        CANCEL_CALC_IMPLIED_VOLAT => info("cancelCalculateImpliedVolatility", versioned, true),
        CANCEL_CALC_OPTION_PRICE => info("cancelCalculateOptionPrice", versioned, true),
        REQ_GLOBAL_CANCEL => info("reqGlobalCancel", none, false),
        REQ_MARKET_DATA_TYPE => info("reqMarketDataType", none, false),
        REQ_POSITIONS => info("reqPositions", none, false),
        REQ_ACCOUNT_SUMMARY => info("reqAccountSummary", versioned, true),
        CANCEL_ACCOUNT_SUMMARY => info("cancelAccountSummary", versioned, true),
        CANCEL_POSITIONS => info("cancelPositions", none, false),
        VERIFY_REQUEST => info("verifyRequest", none, false),
        VERIFY_MESSAGE => info("verifyMessage", none, false),
        QUERY_DISPLAY_GROUPS => info("queryDisplayGroups", versioned, true),
        SUBSCRIBE_TO_GROUP_EVENTS => info("subscribeToGroupEvents", versioned, true),
        UPDATE_DISPLAY_GROUP => info("updateDisplayGroup", versioned, true),
        UNSUBSCRIBE_FROM_GROUP_EVENTS => info("unsubscribeFromGroupEvents", versioned, true),
        START_API => info("startApi", none, false),
        VERIFY_AND_AUTH_REQUEST => info("verifyAndAuthRequest", none, false),
        VERIFY_AND_AUTH_MESSAGE => info("verifyAndAuthMessage", none, false),
        REQ_POSITIONS_MULTI => info("reqPositionsMulti", versioned, true),
        CANCEL_POSITIONS_MULTI => info("cancelPositionsMulti", versioned, true),
        REQ_ACCOUNT_UPDATES_MULTI => info("reqAccountUpdatesMulti", versioned, true),
        CANCEL_ACCOUNT_UPDATES_MULTI => info("cancelAccountUpdatesMulti", versioned, true),
        REQ_SEC_DEF_OPT_PARAMS => info("reqSecDefOptParams", plain, true),
        REQ_SOFT_DOLLAR_TIERS => info("reqSoftDollarTiers", plain, true),
        REQ_FAMILY_CODES => info("reqFamilyCodes", none, false),
        REQ_MATCHING_SYMBOLS => info("reqMatchingSymbols", plain, true),
        REQ_MKT_DEPTH_EXCHANGES => info("reqMktDepthExchanges", none, false),
        REQ_SMART_COMPONENTS => info("reqSmartComponents", plain, true),
        REQ_NEWS_ARTICLE => info("reqNewsArticle", plain, true),
        REQ_NEWS_PROVIDERS => info("reqNewsProviders", none, false),
        REQ_HISTORICAL_NEWS => info("reqHistoricalNews", plain, true),
        REQ_HEAD_TIMESTAMP => info("reqHeadTimeStamp", plain, true),
        REQ_HISTOGRAM_DATA => info("reqHistogramData", plain, true),
        CANCEL_HISTOGRAM_DATA => info("cancelHistogramData", plain, true),
        CANCEL_HEAD_TIMESTAMP => info("cancelHeadTimeStamp", plain, true),
        REQ_MARKET_RULE => info("reqMarketRule", none, false),
        REQ_PNL => info("reqPnL", plain, true),
        CANCEL_PNL => info("cancelPnL", plain, true),
        REQ_PNL_SINGLE => info("reqPnLSingle", plain, true),
        CANCEL_PNL_SINGLE => info("cancelPnLSingle", plain, true),
        REQ_HISTORICAL_TICKS => info("reqHistoricalTicks", plain, true),
        REQ_TICK_BY_TICK_DATA => info("reqTickByTickData", plain, true),
        CANCEL_TICK_BY_TICK_DATA => info("cancelTickByTickData", plain, true),
        REQ_COMPLETED_ORDERS => info("reqCompletedOrders", none, false),
        REQ_WSH_META_DATA => info("reqWshMetaData", plain, true),
        CANCEL_WSH_META_DATA => info("cancelWshMetaData", plain, true),
        REQ_WSH_EVENT_DATA => info("reqWshEventData", plain, true),
        CANCEL_WSH_EVENT_DATA => info("cancelWshEventData", plain, true),
        REQ_USER_INFO => info("reqUserInfo", plain, true),
        REQ_CURRENT_TIME_IN_MILLIS => info("reqCurrentTimeInMillis", none, false),
        CANCEL_CONTRACT_DATA => info("cancelContractData", plain, true),
        CANCEL_HISTORICAL_TICKS => info("cancelHistoricalTicks", plain, true),
        REQ_CONFIG => info("reqConfig", plain, true),
        UPDATE_CONFIG => info("updateConfig", plain, true),
        _ => return None,
    })
}
