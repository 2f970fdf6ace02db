//! Message ids, as IB numbers them (`py:message.py` `IN`/`OUT`): logical ids; a protobuf
//! frame's wire id adds [`PROTOBUF_MSG_ID`](super::frame::PROTOBUF_MSG_ID).

/// Server → client ids (logical: the protobuf wire id adds 200).
pub mod incoming {
    /// `IN.TICK_PRICE`.
    pub const TICK_PRICE: i32 = 1;
    /// `IN.TICK_SIZE`.
    pub const TICK_SIZE: i32 = 2;
    /// `IN.ORDER_STATUS`.
    pub const ORDER_STATUS: i32 = 3;
    /// `IN.ERR_MSG`.
    pub const ERR_MSG: i32 = 4;
    /// `IN.OPEN_ORDER`.
    pub const OPEN_ORDER: i32 = 5;
    /// `IN.ACCT_VALUE`.
    pub const ACCT_VALUE: i32 = 6;
    /// `IN.PORTFOLIO_VALUE`.
    pub const PORTFOLIO_VALUE: i32 = 7;
    /// `IN.ACCT_UPDATE_TIME`.
    pub const ACCT_UPDATE_TIME: i32 = 8;
    /// `IN.NEXT_VALID_ID`.
    pub const NEXT_VALID_ID: i32 = 9;
    /// `IN.CONTRACT_DATA`.
    pub const CONTRACT_DATA: i32 = 10;
    /// `IN.EXECUTION_DATA`.
    pub const EXECUTION_DATA: i32 = 11;
    /// `IN.MANAGED_ACCTS`.
    pub const MANAGED_ACCTS: i32 = 15;
    /// `IN.HISTORICAL_DATA`.
    pub const HISTORICAL_DATA: i32 = 17;
    /// `IN.TICK_GENERIC`.
    pub const TICK_GENERIC: i32 = 45;
    /// `IN.TICK_STRING`.
    pub const TICK_STRING: i32 = 46;
    /// `IN.CURRENT_TIME`.
    pub const CURRENT_TIME: i32 = 49;
    /// `IN.REAL_TIME_BARS`.
    pub const REAL_TIME_BARS: i32 = 50;
    /// `IN.CONTRACT_DATA_END`.
    pub const CONTRACT_DATA_END: i32 = 52;
    /// `IN.OPEN_ORDER_END`.
    pub const OPEN_ORDER_END: i32 = 53;
    /// `IN.ACCT_DOWNLOAD_END`.
    pub const ACCT_DOWNLOAD_END: i32 = 54;
    /// `IN.EXECUTION_DATA_END`.
    pub const EXECUTION_DATA_END: i32 = 55;
    /// `IN.TICK_SNAPSHOT_END`.
    pub const TICK_SNAPSHOT_END: i32 = 57;
    /// `IN.MARKET_DATA_TYPE`.
    pub const MARKET_DATA_TYPE: i32 = 58;
    /// `IN.COMMISSION_REPORT`.
    pub const COMMISSION_REPORT: i32 = 59;
    /// `IN.POSITION_DATA`.
    pub const POSITION_DATA: i32 = 61;
    /// `IN.POSITION_END`.
    pub const POSITION_END: i32 = 62;
    /// `IN.ACCOUNT_SUMMARY`.
    pub const ACCOUNT_SUMMARY: i32 = 63;
    /// `IN.ACCOUNT_SUMMARY_END`.
    pub const ACCOUNT_SUMMARY_END: i32 = 64;
    /// `IN.POSITION_MULTI`.
    pub const POSITION_MULTI: i32 = 71;
    /// `IN.POSITION_MULTI_END`.
    pub const POSITION_MULTI_END: i32 = 72;
    /// `IN.ACCOUNT_UPDATE_MULTI`.
    pub const ACCOUNT_UPDATE_MULTI: i32 = 73;
    /// `IN.ACCOUNT_UPDATE_MULTI_END`.
    pub const ACCOUNT_UPDATE_MULTI_END: i32 = 74;
    /// `IN.SYMBOL_SAMPLES`.
    pub const SYMBOL_SAMPLES: i32 = 79;
    /// `IN.TICK_REQ_PARAMS`.
    pub const TICK_REQ_PARAMS: i32 = 81;
    /// `IN.HEAD_TIMESTAMP`.
    pub const HEAD_TIMESTAMP: i32 = 88;
    /// `IN.HISTORICAL_DATA_UPDATE`.
    pub const HISTORICAL_DATA_UPDATE: i32 = 90;
    /// `IN.PNL`.
    pub const PNL: i32 = 94;
    /// `IN.PNL_SINGLE`.
    pub const PNL_SINGLE: i32 = 95;
    /// `IN.TICK_BY_TICK`.
    pub const TICK_BY_TICK: i32 = 99;
    /// `IN.ORDER_BOUND`.
    pub const ORDER_BOUND: i32 = 100;
    /// `IN.COMPLETED_ORDER`.
    pub const COMPLETED_ORDER: i32 = 101;
    /// `IN.COMPLETED_ORDERS_END`.
    pub const COMPLETED_ORDERS_END: i32 = 102;
    /// `IN.HISTORICAL_SCHEDULE`.
    pub const HISTORICAL_SCHEDULE: i32 = 106;
    /// `IN.USER_INFO`.
    pub const USER_INFO: i32 = 107;
    /// `IN.HISTORICAL_DATA_END`.
    pub const HISTORICAL_DATA_END: i32 = 108;
    /// `IN.CURRENT_TIME_IN_MILLIS`.
    pub const CURRENT_TIME_IN_MILLIS: i32 = 109;
}

/// Client → server ids (logical).
pub mod outgoing {
    /// `OUT.REQ_MKT_DATA`.
    pub const REQ_MKT_DATA: i32 = 1;
    /// `OUT.CANCEL_MKT_DATA`.
    pub const CANCEL_MKT_DATA: i32 = 2;
    /// `OUT.PLACE_ORDER`.
    pub const PLACE_ORDER: i32 = 3;
    /// `OUT.CANCEL_ORDER`.
    pub const CANCEL_ORDER: i32 = 4;
    /// `OUT.REQ_OPEN_ORDERS`.
    pub const REQ_OPEN_ORDERS: i32 = 5;
    /// `OUT.REQ_ACCT_DATA`.
    pub const REQ_ACCT_DATA: i32 = 6;
    /// `OUT.REQ_EXECUTIONS`.
    pub const REQ_EXECUTIONS: i32 = 7;
    /// `OUT.REQ_IDS`.
    pub const REQ_IDS: i32 = 8;
    /// `OUT.REQ_CONTRACT_DATA`.
    pub const REQ_CONTRACT_DATA: i32 = 9;
    /// `OUT.REQ_MKT_DEPTH`.
    pub const REQ_MKT_DEPTH: i32 = 10;
    /// `OUT.CANCEL_MKT_DEPTH`.
    pub const CANCEL_MKT_DEPTH: i32 = 11;
    /// `OUT.REQ_NEWS_BULLETINS`.
    pub const REQ_NEWS_BULLETINS: i32 = 12;
    /// `OUT.CANCEL_NEWS_BULLETINS`.
    pub const CANCEL_NEWS_BULLETINS: i32 = 13;
    /// `OUT.SET_SERVER_LOGLEVEL`.
    pub const SET_SERVER_LOGLEVEL: i32 = 14;
    /// `OUT.REQ_AUTO_OPEN_ORDERS`.
    pub const REQ_AUTO_OPEN_ORDERS: i32 = 15;
    /// `OUT.REQ_ALL_OPEN_ORDERS`.
    pub const REQ_ALL_OPEN_ORDERS: i32 = 16;
    /// `OUT.REQ_MANAGED_ACCTS`.
    pub const REQ_MANAGED_ACCTS: i32 = 17;
    /// `OUT.REQ_FA`.
    pub const REQ_FA: i32 = 18;
    /// `OUT.REPLACE_FA`.
    pub const REPLACE_FA: i32 = 19;
    /// `OUT.REQ_HISTORICAL_DATA`.
    pub const REQ_HISTORICAL_DATA: i32 = 20;
    /// `OUT.EXERCISE_OPTIONS`.
    pub const EXERCISE_OPTIONS: i32 = 21;
    /// `OUT.REQ_SCANNER_SUBSCRIPTION`.
    pub const REQ_SCANNER_SUBSCRIPTION: i32 = 22;
    /// `OUT.CANCEL_SCANNER_SUBSCRIPTION`.
    pub const CANCEL_SCANNER_SUBSCRIPTION: i32 = 23;
    /// `OUT.REQ_SCANNER_PARAMETERS`.
    pub const REQ_SCANNER_PARAMETERS: i32 = 24;
    /// `OUT.CANCEL_HISTORICAL_DATA`.
    pub const CANCEL_HISTORICAL_DATA: i32 = 25;
    /// `OUT.REQ_CURRENT_TIME`.
    pub const REQ_CURRENT_TIME: i32 = 49;
    /// `OUT.REQ_REAL_TIME_BARS`.
    pub const REQ_REAL_TIME_BARS: i32 = 50;
    /// `OUT.CANCEL_REAL_TIME_BARS`.
    pub const CANCEL_REAL_TIME_BARS: i32 = 51;
    /// `OUT.REQ_FUNDAMENTAL_DATA`.
    pub const REQ_FUNDAMENTAL_DATA: i32 = 52;
    /// `OUT.CANCEL_FUNDAMENTAL_DATA`.
    pub const CANCEL_FUNDAMENTAL_DATA: i32 = 53;
    /// `OUT.REQ_CALC_IMPLIED_VOLAT`.
    pub const REQ_CALC_IMPLIED_VOLAT: i32 = 54;
    /// `OUT.REQ_CALC_OPTION_PRICE`.
    pub const REQ_CALC_OPTION_PRICE: i32 = 55;
    /// `OUT.CANCEL_CALC_IMPLIED_VOLAT`.
    pub const CANCEL_CALC_IMPLIED_VOLAT: i32 = 56;
    /// `OUT.CANCEL_CALC_OPTION_PRICE`.
    pub const CANCEL_CALC_OPTION_PRICE: i32 = 57;
    /// `OUT.REQ_GLOBAL_CANCEL`.
    pub const REQ_GLOBAL_CANCEL: i32 = 58;
    /// `OUT.REQ_MARKET_DATA_TYPE`.
    pub const REQ_MARKET_DATA_TYPE: i32 = 59;
    /// `OUT.REQ_POSITIONS`.
    pub const REQ_POSITIONS: i32 = 61;
    /// `OUT.REQ_ACCOUNT_SUMMARY`.
    pub const REQ_ACCOUNT_SUMMARY: i32 = 62;
    /// `OUT.CANCEL_ACCOUNT_SUMMARY`.
    pub const CANCEL_ACCOUNT_SUMMARY: i32 = 63;
    /// `OUT.CANCEL_POSITIONS`.
    pub const CANCEL_POSITIONS: i32 = 64;
    /// `OUT.VERIFY_REQUEST`.
    pub const VERIFY_REQUEST: i32 = 65;
    /// `OUT.VERIFY_MESSAGE`.
    pub const VERIFY_MESSAGE: i32 = 66;
    /// `OUT.QUERY_DISPLAY_GROUPS`.
    pub const QUERY_DISPLAY_GROUPS: i32 = 67;
    /// `OUT.SUBSCRIBE_TO_GROUP_EVENTS`.
    pub const SUBSCRIBE_TO_GROUP_EVENTS: i32 = 68;
    /// `OUT.UPDATE_DISPLAY_GROUP`.
    pub const UPDATE_DISPLAY_GROUP: i32 = 69;
    /// `OUT.UNSUBSCRIBE_FROM_GROUP_EVENTS`.
    pub const UNSUBSCRIBE_FROM_GROUP_EVENTS: i32 = 70;
    /// `OUT.START_API`.
    pub const START_API: i32 = 71;
    /// `OUT.VERIFY_AND_AUTH_REQUEST`.
    pub const VERIFY_AND_AUTH_REQUEST: i32 = 72;
    /// `OUT.VERIFY_AND_AUTH_MESSAGE`.
    pub const VERIFY_AND_AUTH_MESSAGE: i32 = 73;
    /// `OUT.REQ_POSITIONS_MULTI`.
    pub const REQ_POSITIONS_MULTI: i32 = 74;
    /// `OUT.CANCEL_POSITIONS_MULTI`.
    pub const CANCEL_POSITIONS_MULTI: i32 = 75;
    /// `OUT.REQ_ACCOUNT_UPDATES_MULTI`.
    pub const REQ_ACCOUNT_UPDATES_MULTI: i32 = 76;
    /// `OUT.CANCEL_ACCOUNT_UPDATES_MULTI`.
    pub const CANCEL_ACCOUNT_UPDATES_MULTI: i32 = 77;
    /// `OUT.REQ_SEC_DEF_OPT_PARAMS`.
    pub const REQ_SEC_DEF_OPT_PARAMS: i32 = 78;
    /// `OUT.REQ_SOFT_DOLLAR_TIERS`.
    pub const REQ_SOFT_DOLLAR_TIERS: i32 = 79;
    /// `OUT.REQ_FAMILY_CODES`.
    pub const REQ_FAMILY_CODES: i32 = 80;
    /// `OUT.REQ_MATCHING_SYMBOLS`.
    pub const REQ_MATCHING_SYMBOLS: i32 = 81;
    /// `OUT.REQ_MKT_DEPTH_EXCHANGES`.
    pub const REQ_MKT_DEPTH_EXCHANGES: i32 = 82;
    /// `OUT.REQ_SMART_COMPONENTS`.
    pub const REQ_SMART_COMPONENTS: i32 = 83;
    /// `OUT.REQ_NEWS_ARTICLE`.
    pub const REQ_NEWS_ARTICLE: i32 = 84;
    /// `OUT.REQ_NEWS_PROVIDERS`.
    pub const REQ_NEWS_PROVIDERS: i32 = 85;
    /// `OUT.REQ_HISTORICAL_NEWS`.
    pub const REQ_HISTORICAL_NEWS: i32 = 86;
    /// `OUT.REQ_HEAD_TIMESTAMP`.
    pub const REQ_HEAD_TIMESTAMP: i32 = 87;
    /// `OUT.REQ_HISTOGRAM_DATA`.
    pub const REQ_HISTOGRAM_DATA: i32 = 88;
    /// `OUT.CANCEL_HISTOGRAM_DATA`.
    pub const CANCEL_HISTOGRAM_DATA: i32 = 89;
    /// `OUT.CANCEL_HEAD_TIMESTAMP`.
    pub const CANCEL_HEAD_TIMESTAMP: i32 = 90;
    /// `OUT.REQ_MARKET_RULE`.
    pub const REQ_MARKET_RULE: i32 = 91;
    /// `OUT.REQ_PNL`.
    pub const REQ_PNL: i32 = 92;
    /// `OUT.CANCEL_PNL`.
    pub const CANCEL_PNL: i32 = 93;
    /// `OUT.REQ_PNL_SINGLE`.
    pub const REQ_PNL_SINGLE: i32 = 94;
    /// `OUT.CANCEL_PNL_SINGLE`.
    pub const CANCEL_PNL_SINGLE: i32 = 95;
    /// `OUT.REQ_HISTORICAL_TICKS`.
    pub const REQ_HISTORICAL_TICKS: i32 = 96;
    /// `OUT.REQ_TICK_BY_TICK_DATA`.
    pub const REQ_TICK_BY_TICK_DATA: i32 = 97;
    /// `OUT.CANCEL_TICK_BY_TICK_DATA`.
    pub const CANCEL_TICK_BY_TICK_DATA: i32 = 98;
    /// `OUT.REQ_COMPLETED_ORDERS`.
    pub const REQ_COMPLETED_ORDERS: i32 = 99;
    /// `OUT.REQ_WSH_META_DATA`.
    pub const REQ_WSH_META_DATA: i32 = 100;
    /// `OUT.CANCEL_WSH_META_DATA`.
    pub const CANCEL_WSH_META_DATA: i32 = 101;
    /// `OUT.REQ_WSH_EVENT_DATA`.
    pub const REQ_WSH_EVENT_DATA: i32 = 102;
    /// `OUT.CANCEL_WSH_EVENT_DATA`.
    pub const CANCEL_WSH_EVENT_DATA: i32 = 103;
    /// `OUT.REQ_USER_INFO`.
    pub const REQ_USER_INFO: i32 = 104;
    /// `OUT.REQ_CURRENT_TIME_IN_MILLIS`.
    pub const REQ_CURRENT_TIME_IN_MILLIS: i32 = 105;
    /// `OUT.CANCEL_CONTRACT_DATA`.
    pub const CANCEL_CONTRACT_DATA: i32 = 106;
    /// `OUT.CANCEL_HISTORICAL_TICKS`.
    pub const CANCEL_HISTORICAL_TICKS: i32 = 107;
    /// `OUT.REQ_CONFIG`.
    pub const REQ_CONFIG: i32 = 108;
    /// `OUT.UPDATE_CONFIG`.
    pub const UPDATE_CONFIG: i32 = 109;
}
