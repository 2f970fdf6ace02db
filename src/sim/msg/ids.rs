//! Message ids, as IB numbers them (`py:message.py` `IN`/`OUT`), and the requests' names.

/// Server → client ids (logical: the protobuf wire id adds 200).
pub mod incoming {
    pub const TICK_PRICE: i32 = 1;
    pub const TICK_SIZE: i32 = 2;
    pub const ORDER_STATUS: i32 = 3;
    pub const ERR_MSG: i32 = 4;
    pub const OPEN_ORDER: i32 = 5;
    pub const ACCT_VALUE: i32 = 6;
    pub const PORTFOLIO_VALUE: i32 = 7;
    pub const ACCT_UPDATE_TIME: i32 = 8;
    pub const NEXT_VALID_ID: i32 = 9;
    pub const CONTRACT_DATA: i32 = 10;
    pub const EXECUTION_DATA: i32 = 11;
    pub const MANAGED_ACCTS: i32 = 15;
    pub const HISTORICAL_DATA: i32 = 17;
    pub const TICK_GENERIC: i32 = 45;
    pub const TICK_STRING: i32 = 46;
    pub const CURRENT_TIME: i32 = 49;
    pub const REAL_TIME_BARS: i32 = 50;
    pub const CONTRACT_DATA_END: i32 = 52;
    pub const OPEN_ORDER_END: i32 = 53;
    pub const ACCT_DOWNLOAD_END: i32 = 54;
    pub const EXECUTION_DATA_END: i32 = 55;
    pub const TICK_SNAPSHOT_END: i32 = 57;
    pub const MARKET_DATA_TYPE: i32 = 58;
    pub const COMMISSION_REPORT: i32 = 59;
    pub const POSITION_DATA: i32 = 61;
    pub const POSITION_END: i32 = 62;
    pub const ACCOUNT_SUMMARY: i32 = 63;
    pub const ACCOUNT_SUMMARY_END: i32 = 64;
    pub const POSITION_MULTI: i32 = 71;
    pub const POSITION_MULTI_END: i32 = 72;
    pub const ACCOUNT_UPDATE_MULTI: i32 = 73;
    pub const ACCOUNT_UPDATE_MULTI_END: i32 = 74;
    pub const SYMBOL_SAMPLES: i32 = 79;
    pub const TICK_REQ_PARAMS: i32 = 81;
    pub const HEAD_TIMESTAMP: i32 = 88;
    pub const HISTORICAL_DATA_UPDATE: i32 = 90;
    pub const PNL: i32 = 94;
    pub const PNL_SINGLE: i32 = 95;
    pub const TICK_BY_TICK: i32 = 99;
    pub const ORDER_BOUND: i32 = 100;
    pub const COMPLETED_ORDER: i32 = 101;
    pub const COMPLETED_ORDERS_END: i32 = 102;
    pub const HISTORICAL_SCHEDULE: i32 = 106;
    pub const USER_INFO: i32 = 107;
    pub const HISTORICAL_DATA_END: i32 = 108;
    pub const CURRENT_TIME_IN_MILLIS: i32 = 109;
}

/// Client → server ids (logical).
pub mod outgoing {
    pub const REQ_MKT_DATA: i32 = 1;
    pub const CANCEL_MKT_DATA: i32 = 2;
    pub const PLACE_ORDER: i32 = 3;
    pub const CANCEL_ORDER: i32 = 4;
    pub const REQ_OPEN_ORDERS: i32 = 5;
    pub const REQ_ACCT_DATA: i32 = 6;
    pub const REQ_EXECUTIONS: i32 = 7;
    pub const REQ_IDS: i32 = 8;
    pub const REQ_CONTRACT_DATA: i32 = 9;
    pub const REQ_MKT_DEPTH: i32 = 10;
    pub const CANCEL_MKT_DEPTH: i32 = 11;
    pub const REQ_NEWS_BULLETINS: i32 = 12;
    pub const CANCEL_NEWS_BULLETINS: i32 = 13;
    pub const SET_SERVER_LOGLEVEL: i32 = 14;
    pub const REQ_AUTO_OPEN_ORDERS: i32 = 15;
    pub const REQ_ALL_OPEN_ORDERS: i32 = 16;
    pub const REQ_MANAGED_ACCTS: i32 = 17;
    pub const REQ_FA: i32 = 18;
    pub const REPLACE_FA: i32 = 19;
    pub const REQ_HISTORICAL_DATA: i32 = 20;
    pub const EXERCISE_OPTIONS: i32 = 21;
    pub const REQ_SCANNER_SUBSCRIPTION: i32 = 22;
    pub const CANCEL_SCANNER_SUBSCRIPTION: i32 = 23;
    pub const REQ_SCANNER_PARAMETERS: i32 = 24;
    pub const CANCEL_HISTORICAL_DATA: i32 = 25;
    pub const REQ_CURRENT_TIME: i32 = 49;
    pub const REQ_REAL_TIME_BARS: i32 = 50;
    pub const CANCEL_REAL_TIME_BARS: i32 = 51;
    pub const REQ_FUNDAMENTAL_DATA: i32 = 52;
    pub const CANCEL_FUNDAMENTAL_DATA: i32 = 53;
    pub const REQ_CALC_IMPLIED_VOLAT: i32 = 54;
    pub const REQ_CALC_OPTION_PRICE: i32 = 55;
    pub const CANCEL_CALC_IMPLIED_VOLAT: i32 = 56;
    pub const CANCEL_CALC_OPTION_PRICE: i32 = 57;
    pub const REQ_GLOBAL_CANCEL: i32 = 58;
    pub const REQ_MARKET_DATA_TYPE: i32 = 59;
    pub const REQ_POSITIONS: i32 = 61;
    pub const REQ_ACCOUNT_SUMMARY: i32 = 62;
    pub const CANCEL_ACCOUNT_SUMMARY: i32 = 63;
    pub const CANCEL_POSITIONS: i32 = 64;
    pub const VERIFY_REQUEST: i32 = 65;
    pub const VERIFY_MESSAGE: i32 = 66;
    pub const QUERY_DISPLAY_GROUPS: i32 = 67;
    pub const SUBSCRIBE_TO_GROUP_EVENTS: i32 = 68;
    pub const UPDATE_DISPLAY_GROUP: i32 = 69;
    pub const UNSUBSCRIBE_FROM_GROUP_EVENTS: i32 = 70;
    pub const START_API: i32 = 71;
    pub const VERIFY_AND_AUTH_REQUEST: i32 = 72;
    pub const VERIFY_AND_AUTH_MESSAGE: i32 = 73;
    pub const REQ_POSITIONS_MULTI: i32 = 74;
    pub const CANCEL_POSITIONS_MULTI: i32 = 75;
    pub const REQ_ACCOUNT_UPDATES_MULTI: i32 = 76;
    pub const CANCEL_ACCOUNT_UPDATES_MULTI: i32 = 77;
    pub const REQ_SEC_DEF_OPT_PARAMS: i32 = 78;
    pub const REQ_SOFT_DOLLAR_TIERS: i32 = 79;
    pub const REQ_FAMILY_CODES: i32 = 80;
    pub const REQ_MATCHING_SYMBOLS: i32 = 81;
    pub const REQ_MKT_DEPTH_EXCHANGES: i32 = 82;
    pub const REQ_SMART_COMPONENTS: i32 = 83;
    pub const REQ_NEWS_ARTICLE: i32 = 84;
    pub const REQ_NEWS_PROVIDERS: i32 = 85;
    pub const REQ_HISTORICAL_NEWS: i32 = 86;
    pub const REQ_HEAD_TIMESTAMP: i32 = 87;
    pub const REQ_HISTOGRAM_DATA: i32 = 88;
    pub const CANCEL_HISTOGRAM_DATA: i32 = 89;
    pub const CANCEL_HEAD_TIMESTAMP: i32 = 90;
    pub const REQ_MARKET_RULE: i32 = 91;
    pub const REQ_PNL: i32 = 92;
    pub const CANCEL_PNL: i32 = 93;
    pub const REQ_PNL_SINGLE: i32 = 94;
    pub const CANCEL_PNL_SINGLE: i32 = 95;
    pub const REQ_HISTORICAL_TICKS: i32 = 96;
    pub const REQ_TICK_BY_TICK_DATA: i32 = 97;
    pub const CANCEL_TICK_BY_TICK_DATA: i32 = 98;
    pub const REQ_COMPLETED_ORDERS: i32 = 99;
    pub const REQ_WSH_META_DATA: i32 = 100;
    pub const CANCEL_WSH_META_DATA: i32 = 101;
    pub const REQ_WSH_EVENT_DATA: i32 = 102;
    pub const CANCEL_WSH_EVENT_DATA: i32 = 103;
    pub const REQ_USER_INFO: i32 = 104;
    pub const REQ_CURRENT_TIME_IN_MILLIS: i32 = 105;
    pub const CANCEL_CONTRACT_DATA: i32 = 106;
    pub const CANCEL_HISTORICAL_TICKS: i32 = 107;
    pub const REQ_CONFIG: i32 = 108;
    pub const UPDATE_CONFIG: i32 = 109;
}

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
