//! The one error type of the market model: every refusal a real gateway answers with an
//! `error(id, code, message)` callback, carrying TWS's code and wording.
//!
//! The gateway sends `error(id = request or order id, code(), to_string())`; nothing here is
//! an I/O failure. Sources for each code and text:
//!
//! - 103, 104, 105, 110, 161, 200, 201, 202, 321, 387, 10147, 10148: IB's error-code table,
//!   TWS API documentation "Error Handling" (IBKR Campus `twsapi-doc/#error-codes`, scraped
//!   copy in `johnnyicon/tws-api:docs/tws_api_docs/17_error_handling.md`).
//! - 200 "No security definition has been found for the request" and "The contract
//!   description specified for X is ambiguous.": same table.
//! - 321 for an invalid bar size, with TWS's exact list ("Legal ones are: 1 secs, … 1 day,
//!   1W, 1M"): `wboayue/rust-ibapi#245` (message captured from a live gateway).
//! - 321 "Historical data requests for durations longer than 365 days must be made in years.":
//!   `ib-api-reloaded/ib_async#229` (captured from a live gateway).
//! - 162 "Historical Market Data Service error message:invalid step: 1" for a bar size the
//!   duration does not allow: `wrighter/ib-scripts#1` (captured, Spanish-localised prefix).
//! - 10314 and its long text for a malformed end date/time:
//!   `atreyuxtrading/atreyu-backtrader-api#6` (captured from a live gateway).
//! - 10147 / 10148 wording ("OrderId N that needs to be cancelled is not found." / "… cannot be
//!   cancelled, state: S."): as TWS sends them (the wording the simulator already used).
//!
//! Where TWS's exact wording for a case is not known (an invalid duration unit, too many bars,
//! an unsupported `whatToShow`), the text follows the same pattern and says so in a comment.

/// Why the market refused a request; `code()` is the TWS error code, `Display` its text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MarketError {
    /// 200: no instrument matches the contract.
    #[error("No security definition has been found for the request")]
    NoSecurityDefinition,
    /// 200: several instruments match where one is needed (an order, a quote).
    #[error("The contract description specified for {symbol} is ambiguous.")]
    AmbiguousContract { symbol: String },
    /// 321: a request field failed validation; `token` is TWS's field tag (`'bK'`, `'bH'`…).
    #[error("Error validating request.-'{token}' : cause - {cause}")]
    Validation { token: &'static str, cause: String },
    /// 162: the historical data service refused the query.
    #[error("Historical Market Data Service error message:{0}")]
    HistoricalService(String),
    /// 10314: the end date/time of a historical request could not be parsed.
    #[error(
        "End Date/Time: The date, time, or time-zone entered is invalid. The correct format is yyyymmdd hh:mm:ss \
         xx/xxx where yyyymmdd and xx/xxx are optional. E.g.: 20031126 15:59:00 US/Eastern  Note that there is a \
         space between the date and time, and between the time and time-zone.  If no date is specified, current \
         date is assumed. If no time-zone is specified, local time-zone is assumed(deprecated).  You can also \
         provide yyyymmddd-hh:mm:ss time is in UTC. Note that there is a dash between the date and time in UTC \
         notation."
    )]
    EndDateTime,
    /// 103: an order id at or below one this client already used, or a finished order's id.
    #[error("Duplicate order id")]
    DuplicateOrderId,
    /// 104: a place-order for the id of a filled order.
    #[error("Can't modify a filled order")]
    CannotModifyFilled,
    /// 105: a modification changed the contract or the side.
    #[error("Order being modified does not match original order")]
    ModifyMismatch,
    /// 110: a price off the instrument's tick grid.
    #[error("The price does not conform to the minimum price variation for this contract.")]
    PriceVariation,
    /// 201: the order was rejected; the reason follows TWS's `Order rejected - reason:` prefix.
    #[error("Order rejected - reason:{0}")]
    OrderRejected(String),
    /// 387: an order type the simulated market does not execute.
    #[error("Unsupported order type for this exchange and security type.")]
    UnsupportedOrderType,
    /// 10147: cancel of an order this client does not have.
    #[error("OrderId {order_id} that needs to be cancelled is not found.")]
    CancelNotFound { order_id: i32 },
    /// 10148: cancel of an order that is already done.
    #[error("OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {state}.")]
    CancelNotCancellable { order_id: i32, state: &'static str },
    /// Not a TWS answer: the control API named a symbol or conId the table does not hold.
    #[error("unknown instrument {0:?}; use a symbol of the built-in table (e.g. AAPL) or its conId")]
    UnknownInstrument(String),
    /// Not a TWS answer: the control API asked for a price that is not positive and finite.
    #[error("price {0} is not a positive finite number")]
    BadPrice(f64),
}

impl MarketError {
    /// The TWS error code the gateway sends with this error.
    pub fn code(&self) -> i32 {
        match self {
            Self::NoSecurityDefinition | Self::AmbiguousContract { .. } | Self::UnknownInstrument(_) => 200,
            Self::Validation { .. } => 321,
            Self::HistoricalService(_) => 162,
            Self::EndDateTime => 10314,
            Self::DuplicateOrderId => 103,
            Self::CannotModifyFilled => 104,
            Self::ModifyMismatch => 105,
            Self::PriceVariation => 110,
            Self::OrderRejected(_) => 201,
            Self::UnsupportedOrderType => 387,
            Self::CancelNotFound { .. } => 10147,
            Self::CancelNotCancellable { .. } => 10148,
            Self::BadPrice(_) => 321,
        }
    }
}

/// The notice TWS sends (code 202, on the order's id) whenever an order is cancelled.
pub const ORDER_CANCELLED: (i32, &str) = (202, "Order Canceled - reason:");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_texts_are_tws_ones() {
        assert_eq!(MarketError::NoSecurityDefinition.code(), 200);
        assert_eq!(
            MarketError::NoSecurityDefinition.to_string(),
            "No security definition has been found for the request"
        );
        let e = MarketError::CancelNotCancellable { order_id: 7, state: "Filled" };
        assert_eq!(e.code(), 10148);
        assert_eq!(e.to_string(), "OrderId 7 that needs to be cancelled cannot be cancelled, state: Filled.");
        let e = MarketError::Validation { token: "bK", cause: "x".into() };
        assert_eq!((e.code(), e.to_string()), (321, "Error validating request.-'bK' : cause - x".to_string()));
        assert!(MarketError::EndDateTime.to_string().starts_with("End Date/Time: The date, time, or time-zone"));
        assert_eq!(MarketError::HistoricalService("invalid step: 1".into()).code(), 162);
    }
}
