//! Server versions: the range the simulator serves and the guarded port relays, the `MIN_SERVER_VER_*` thresholds at which
//! a message's fields change, and per message the version from which it travels as protobuf.
//!
//! Names and numbers are IB's (`py:server_versions.py`, `ibapi-latest` 10.51.1). A constant is
//! here only if a codec (the simulator's or the guarded port's) checks it; `docs/tws-protocol.md` lists which
//! message each one changes and where that was read.

use super::ids::{incoming as inc, outgoing as out};

/// The oldest version served: the floor of ib_insync 0.9.86 and ib_async 2.x (`v157..`), and
/// `MIN_SERVER_VER_REPLACE_FA_END`. Below it the field sets of orders, contract details and
/// executions change at some forty more thresholds (100..156) that no maintained client needs.
pub const MIN_SERVER_VERSION: i32 = 157;
/// The newest version served: what ibapi 5.5 and `ibapi-latest` 10.51.1 speak at most.
pub const MAX_SERVER_VERSION: i32 = 226;

/// `MIN_SERVER_VER_DURATION`.
pub const DURATION: i32 = 158;
/// `MIN_SERVER_VER_MARKET_DATA_IN_SHARES`.
pub const MARKET_DATA_IN_SHARES: i32 = 159;
/// `MIN_SERVER_VER_POST_TO_ATS`.
pub const POST_TO_ATS: i32 = 160;
/// `MIN_SERVER_VER_AUTO_CANCEL_PARENT`.
pub const AUTO_CANCEL_PARENT: i32 = 162;
/// `MIN_SERVER_VER_FRACTIONAL_SIZE_SUPPORT`.
pub const FRACTIONAL_SIZE_SUPPORT: i32 = 163;
/// `MIN_SERVER_VER_SIZE_RULES`.
pub const SIZE_RULES: i32 = 164;
/// `MIN_SERVER_VER_ADVANCED_ORDER_REJECT`.
pub const ADVANCED_ORDER_REJECT: i32 = 166;
/// `MIN_SERVER_VER_MANUAL_ORDER_TIME`.
pub const MANUAL_ORDER_TIME: i32 = 169;
/// `MIN_SERVER_VER_PEGBEST_PEGMID_OFFSETS`.
pub const PEGBEST_PEGMID_OFFSETS: i32 = 170;
/// `MIN_SERVER_VER_HMDS_MARKET_DATA_IN_SHARES`.
pub const HMDS_MARKET_DATA_IN_SHARES: i32 = 175;
/// `MIN_SERVER_VER_BOND_ISSUERID`.
pub const BOND_ISSUERID: i32 = 176;
/// `MIN_SERVER_VER_FA_PROFILE_DESUPPORT`.
pub const FA_PROFILE_DESUPPORT: i32 = 177;
/// `MIN_SERVER_VER_PENDING_PRICE_REVISION`.
pub const PENDING_PRICE_REVISION: i32 = 178;
/// `MIN_SERVER_VER_FUND_DATA_FIELDS`.
pub const FUND_DATA_FIELDS: i32 = 179;
/// `MIN_SERVER_VER_LAST_TRADE_DATE`.
pub const LAST_TRADE_DATE: i32 = 182;
/// `MIN_SERVER_VER_CUSTOMER_ACCOUNT`.
pub const CUSTOMER_ACCOUNT: i32 = 183;
/// `MIN_SERVER_VER_PROFESSIONAL_CUSTOMER`.
pub const PROFESSIONAL_CUSTOMER: i32 = 184;
/// `MIN_SERVER_VER_BOND_ACCRUED_INTEREST`.
pub const BOND_ACCRUED_INTEREST: i32 = 185;
/// `MIN_SERVER_VER_INELIGIBILITY_REASONS`.
pub const INELIGIBILITY_REASONS: i32 = 186;
/// `MIN_SERVER_VER_INCLUDE_OVERNIGHT`.
pub const INCLUDE_OVERNIGHT: i32 = 189;
/// `MIN_SERVER_VER_CME_TAGGING_FIELDS`.
pub const CME_TAGGING_FIELDS: i32 = 192;
/// `MIN_SERVER_VER_CME_TAGGING_FIELDS_IN_OPEN_ORDER`.
pub const CME_TAGGING_FIELDS_IN_OPEN_ORDER: i32 = 193;
/// `MIN_SERVER_VER_ERROR_TIME`.
pub const ERROR_TIME: i32 = 194;
/// `MIN_SERVER_VER_FULL_ORDER_PREVIEW_FIELDS`.
pub const FULL_ORDER_PREVIEW_FIELDS: i32 = 195;
/// `MIN_SERVER_VER_HISTORICAL_DATA_END`.
pub const HISTORICAL_DATA_END: i32 = 196;
/// `MIN_SERVER_VER_CURRENT_TIME_IN_MILLIS`.
pub const CURRENT_TIME_IN_MILLIS: i32 = 197;
/// `MIN_SERVER_VER_SUBMITTER`.
pub const SUBMITTER: i32 = 198;
/// `MIN_SERVER_VER_IMBALANCE_ONLY`.
pub const IMBALANCE_ONLY: i32 = 199;
/// `MIN_SERVER_VER_PARAMETRIZED_DAYS_OF_EXECUTIONS`.
pub const PARAMETRIZED_DAYS_OF_EXECUTIONS: i32 = 200;
/// From here every frame carries a 4-byte binary message id; ids above 200 are protobuf.
pub const PROTOBUF: i32 = 201;
/// `MIN_SERVER_VER_PROTOBUF_PLACE_ORDER`.
pub const PROTOBUF_PLACE_ORDER: i32 = 203;
/// `MIN_SERVER_VER_PROTOBUF_COMPLETED_ORDER`.
pub const PROTOBUF_COMPLETED_ORDER: i32 = 204;
/// `MIN_SERVER_VER_PROTOBUF_CONTRACT_DATA`.
pub const PROTOBUF_CONTRACT_DATA: i32 = 205;
/// `MIN_SERVER_VER_PROTOBUF_MARKET_DATA`.
pub const PROTOBUF_MARKET_DATA: i32 = 206;
/// `MIN_SERVER_VER_PROTOBUF_ACCOUNTS_POSITIONS`.
pub const PROTOBUF_ACCOUNTS_POSITIONS: i32 = 207;
/// `MIN_SERVER_VER_PROTOBUF_HISTORICAL_DATA`.
pub const PROTOBUF_HISTORICAL_DATA: i32 = 208;
/// `MIN_SERVER_VER_PROTOBUF_NEWS_DATA`.
pub const PROTOBUF_NEWS_DATA: i32 = 209;
/// `MIN_SERVER_VER_PROTOBUF_SCAN_DATA`.
pub const PROTOBUF_SCAN_DATA: i32 = 210;
/// `MIN_SERVER_VER_PROTOBUF_REST_MESSAGES_1`.
pub const PROTOBUF_REST_MESSAGES_1: i32 = 211;
/// `MIN_SERVER_VER_PROTOBUF_REST_MESSAGES_2`.
pub const PROTOBUF_REST_MESSAGES_2: i32 = 212;
/// `MIN_SERVER_VER_PROTOBUF_REST_MESSAGES_3`.
pub const PROTOBUF_REST_MESSAGES_3: i32 = 213;
/// `MIN_SERVER_VER_MARKET_DATA_VOLUMES_IN_SHARES`.
pub const MARKET_DATA_VOLUMES_IN_SHARES: i32 = 220;

/// Never: a message with no protobuf form.
const NEVER: i32 = i32::MAX;

/// The version from which the client sends request `msg_id` as protobuf:
/// `py:common.py:71-110` (`getServerVersionForMessage`), the table IB's client consults.
pub fn proto_request_from(msg_id: i32) -> i32 {
    match msg_id {
        out::REQ_EXECUTIONS => PROTOBUF,
        out::PLACE_ORDER | out::CANCEL_ORDER | out::REQ_GLOBAL_CANCEL => PROTOBUF_PLACE_ORDER,
        out::REQ_ALL_OPEN_ORDERS | out::REQ_AUTO_OPEN_ORDERS | out::REQ_OPEN_ORDERS | out::REQ_COMPLETED_ORDERS => {
            PROTOBUF_COMPLETED_ORDER
        }
        out::REQ_CONTRACT_DATA => PROTOBUF_CONTRACT_DATA,
        out::REQ_MKT_DATA
        | out::CANCEL_MKT_DATA
        | out::REQ_MKT_DEPTH
        | out::CANCEL_MKT_DEPTH
        | out::REQ_MARKET_DATA_TYPE => PROTOBUF_MARKET_DATA,
        out::REQ_ACCT_DATA
        | out::REQ_MANAGED_ACCTS
        | out::REQ_POSITIONS
        | out::CANCEL_POSITIONS
        | out::REQ_ACCOUNT_SUMMARY
        | out::CANCEL_ACCOUNT_SUMMARY
        | out::REQ_POSITIONS_MULTI
        | out::CANCEL_POSITIONS_MULTI
        | out::REQ_ACCOUNT_UPDATES_MULTI
        | out::CANCEL_ACCOUNT_UPDATES_MULTI => PROTOBUF_ACCOUNTS_POSITIONS,
        out::REQ_HISTORICAL_DATA
        | out::CANCEL_HISTORICAL_DATA
        | out::REQ_REAL_TIME_BARS
        | out::CANCEL_REAL_TIME_BARS
        | out::REQ_HEAD_TIMESTAMP
        | out::CANCEL_HEAD_TIMESTAMP
        | out::REQ_HISTOGRAM_DATA
        | out::CANCEL_HISTOGRAM_DATA
        | out::REQ_HISTORICAL_TICKS
        | out::REQ_TICK_BY_TICK_DATA
        | out::CANCEL_TICK_BY_TICK_DATA => PROTOBUF_HISTORICAL_DATA,
        out::REQ_NEWS_BULLETINS
        | out::CANCEL_NEWS_BULLETINS
        | out::REQ_NEWS_ARTICLE
        | out::REQ_NEWS_PROVIDERS
        | out::REQ_HISTORICAL_NEWS
        | out::REQ_WSH_META_DATA
        | out::CANCEL_WSH_META_DATA
        | out::REQ_WSH_EVENT_DATA
        | out::CANCEL_WSH_EVENT_DATA => PROTOBUF_NEWS_DATA,
        out::REQ_SCANNER_PARAMETERS
        | out::REQ_SCANNER_SUBSCRIPTION
        | out::CANCEL_SCANNER_SUBSCRIPTION
        | out::REQ_PNL
        | out::CANCEL_PNL
        | out::REQ_PNL_SINGLE
        | out::CANCEL_PNL_SINGLE => PROTOBUF_SCAN_DATA,
        out::REQ_FA
        | out::REPLACE_FA
        | out::EXERCISE_OPTIONS
        | out::REQ_CALC_IMPLIED_VOLAT
        | out::CANCEL_CALC_IMPLIED_VOLAT
        | out::REQ_CALC_OPTION_PRICE
        | out::CANCEL_CALC_OPTION_PRICE => PROTOBUF_REST_MESSAGES_1,
        out::REQ_SEC_DEF_OPT_PARAMS
        | out::REQ_SOFT_DOLLAR_TIERS
        | out::REQ_FAMILY_CODES
        | out::REQ_MATCHING_SYMBOLS
        | out::REQ_SMART_COMPONENTS
        | out::REQ_MARKET_RULE
        | out::REQ_USER_INFO => PROTOBUF_REST_MESSAGES_2,
        out::REQ_IDS
        | out::REQ_CURRENT_TIME
        | out::REQ_CURRENT_TIME_IN_MILLIS
        | out::START_API
        | out::SET_SERVER_LOGLEVEL
        | out::VERIFY_REQUEST
        | out::VERIFY_MESSAGE
        | out::QUERY_DISPLAY_GROUPS
        | out::SUBSCRIBE_TO_GROUP_EVENTS
        | out::UPDATE_DISPLAY_GROUP
        | out::UNSUBSCRIBE_FROM_GROUP_EVENTS
        | out::REQ_MKT_DEPTH_EXCHANGES => PROTOBUF_REST_MESSAGES_3,
        out::CANCEL_CONTRACT_DATA => CANCEL_CONTRACT_DATA,
        _ => NEVER,
    }
}

/// `MIN_SERVER_VER_CANCEL_CONTRACT_DATA`: cancelContractData exists (protobuf only).
pub const CANCEL_CONTRACT_DATA: i32 = 215;

/// The version from which the simulator sends reply `msg_id` as protobuf.
///
/// No client source says when a gateway switches a reply to protobuf: both the official client
/// (`py:client.py:607-621`) and ibapi (`ibapi:src/connection/common.rs:443-463`) decide per
/// frame by the id (> 200 is protobuf), whatever the version. The simulator switches each reply
/// together with the requests of its family above, so a session below a family's threshold
/// sees that family in text both ways. At 213 and above (all ibapi can negotiate) every reply
/// is protobuf, which ibapi requires.
pub fn proto_reply_from(msg_id: i32) -> i32 {
    match msg_id {
        inc::ERR_MSG | inc::EXECUTION_DATA | inc::EXECUTION_DATA_END | inc::COMMISSION_REPORT => PROTOBUF,
        inc::OPEN_ORDER | inc::ORDER_STATUS | inc::ORDER_BOUND => PROTOBUF_PLACE_ORDER,
        inc::OPEN_ORDER_END | inc::COMPLETED_ORDER | inc::COMPLETED_ORDERS_END => PROTOBUF_COMPLETED_ORDER,
        inc::CONTRACT_DATA | inc::CONTRACT_DATA_END => PROTOBUF_CONTRACT_DATA,
        inc::TICK_PRICE
        | inc::TICK_SIZE
        | inc::TICK_GENERIC
        | inc::TICK_STRING
        | inc::TICK_REQ_PARAMS
        | inc::MARKET_DATA_TYPE
        | inc::TICK_SNAPSHOT_END => PROTOBUF_MARKET_DATA,
        inc::ACCT_VALUE
        | inc::PORTFOLIO_VALUE
        | inc::ACCT_UPDATE_TIME
        | inc::ACCT_DOWNLOAD_END
        | inc::MANAGED_ACCTS
        | inc::POSITION_DATA
        | inc::POSITION_END
        | inc::ACCOUNT_SUMMARY
        | inc::ACCOUNT_SUMMARY_END
        | inc::POSITION_MULTI
        | inc::POSITION_MULTI_END
        | inc::ACCOUNT_UPDATE_MULTI
        | inc::ACCOUNT_UPDATE_MULTI_END => PROTOBUF_ACCOUNTS_POSITIONS,
        inc::HISTORICAL_DATA
        | inc::HISTORICAL_DATA_END
        | inc::HISTORICAL_DATA_UPDATE
        | inc::REAL_TIME_BARS
        | inc::HEAD_TIMESTAMP
        | inc::HISTORICAL_SCHEDULE
        | inc::TICK_BY_TICK => PROTOBUF_HISTORICAL_DATA,
        inc::PNL | inc::PNL_SINGLE => PROTOBUF_SCAN_DATA,
        inc::SYMBOL_SAMPLES | inc::USER_INFO => PROTOBUF_REST_MESSAGES_2,
        inc::NEXT_VALID_ID | inc::CURRENT_TIME | inc::CURRENT_TIME_IN_MILLIS => PROTOBUF_REST_MESSAGES_3,
        _ => NEVER,
    }
}

/// The version range a client announced in its connection prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientVersions {
    /// The oldest version the client speaks.
    pub min: i32,
    /// The newest version the client speaks.
    pub max: i32,
    /// Text after the first space (`+PACEAPI` and the like), if any.
    pub connect_options: Option<String>,
}

impl ClientVersions {
    /// Parse `v<min>..<max>[ <options>]`; a bare `v<n>` means min = max = n.
    pub fn parse(text: &str) -> Option<Self> {
        let (range, options) = match text.split_once(' ') {
            Some((range, rest)) => (range, Some(rest.to_owned()).filter(|o| !o.is_empty())),
            None => (text, None),
        };
        let range = range.strip_prefix('v')?;
        let (min, max) = match range.split_once("..") {
            Some((min, max)) => (min.parse().ok()?, max.parse().ok()?),
            None => {
                let v = range.parse().ok()?;
                (v, v)
            }
        };
        (min <= max).then_some(Self { min, max, connect_options: options })
    }

    /// What a gateway answers: `min(client_max, server_max)`, if that is still within the
    /// client's range and not below [`MIN_SERVER_VERSION`]; `None` closes the connection.
    pub fn negotiate(&self, server_max: i32) -> Option<i32> {
        let chosen = self.max.min(server_max);
        (chosen >= self.min.max(MIN_SERVER_VERSION)).then_some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_ranges() {
        let ibapi = ClientVersions::parse("v213..226").unwrap();
        assert_eq!((ibapi.min, ibapi.max, ibapi.connect_options), (213, 226, None));
        let py = ClientVersions::parse("v100..226 +PACEAPI").unwrap();
        assert_eq!(py.connect_options.as_deref(), Some("+PACEAPI"));
        assert_eq!(ClientVersions::parse("v220").unwrap().max, 220);
        for bad in ["213..226", "v226..213", "vx..y", ""] {
            assert!(ClientVersions::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn negotiates_as_a_gateway_does() {
        let v = |min, max| ClientVersions { min, max, connect_options: None };
        assert_eq!(v(213, 226).negotiate(226), Some(226), "ibapi 5.5");
        assert_eq!(v(100, 226).negotiate(226), Some(226), "ibapi-latest 10.51.1");
        assert_eq!(v(157, 178).negotiate(226), Some(178), "ib_async 2.1.0");
        assert_eq!(v(157, 176).negotiate(226), Some(176), "ib_insync 0.9.86");
        assert_eq!(v(100, 230).negotiate(226), Some(226));
        assert_eq!(v(100, 150).negotiate(226), None, "below the simulator's floor");
        assert_eq!(v(227, 230).negotiate(226), None, "newer than we speak");
        assert_eq!(v(100, 226).negotiate(176), Some(176), "a simulator capped lower");
    }

    #[test]
    fn protobuf_thresholds_follow_the_official_client() {
        assert_eq!(proto_request_from(out::START_API), 213);
        assert_eq!(proto_request_from(out::PLACE_ORDER), 203);
        assert_eq!(proto_request_from(out::REQ_EXECUTIONS), 201);
        assert_eq!(proto_request_from(out::REQ_MKT_DATA), 206);
        assert_eq!(proto_request_from(out::REQ_PNL), 210);
        assert_eq!(proto_request_from(999), NEVER);
        assert_eq!(proto_reply_from(inc::TICK_PRICE), 206);
        assert_eq!(proto_reply_from(inc::NEXT_VALID_ID), 213);
    }
}
