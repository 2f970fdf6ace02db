//! Orders: what a client may place, how TWS validates it, and the order states it reports.
//!
//! Facts implemented (sources):
//! - Status strings (IBKR Campus "Order Management → Understanding Order Status Message";
//!   IB's Python `wrapper.py` orderStatus docstring): `PreSubmitted` = accepted but not yet
//!   elected (stop orders before their trigger; children waiting for their parent),
//!   `Submitted` = working, `Filled`, `Cancelled` = "the balance of your order has been
//!   confirmed canceled", `ApiCancelled` = cancelled by the API before it was acknowledged,
//!   `Inactive`. An order sent with `transmit = false` is held in TWS and reports `Inactive`
//!   (observed: `erdewit/ib_insync#559`, a LimitOrder with transmit=False → status Inactive);
//!   the simulator reports `ApiCancelled` when such an untransmitted order is cancelled.
//! - orderStatus fields: filled, remaining, avgFillPrice ("valid only if filled > 0,
//!   otherwise zero"), permId ("remains the same over TWS sessions"), parentId,
//!   lastFillPrice, clientId ("TWS orders have a fixed clientId and orderId of 0"), whyHeld,
//!   mktCapPrice.
//! - Validation, in TWS's order: action, quantity (positive; whole for stocks and futures:
//!   "Fractional-sized order cannot be placed via API"), order type (387 "Unsupported order
//!   type for this exchange and security type." for anything but MKT, LMT, STP, STP LMT),
//!   prices (a limit for LMT / STP LMT, a stop for STP / STP LMT; 110 "The price does not
//!   conform to the minimum price variation for this contract." off the tick grid), TIF
//!   (DAY — the default —, GTC, IOC, FOK). Clients send unset prices as `Double.MAX`: treated
//!   as missing.
//! - DAY orders end at the close of the session they were accepted in (US stocks: 16:00 ET,
//!   or 20:00 with outsideRth; ES: 16:00 CT; forex: 17:00 ET).
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::MarketError;
use super::instruments::{ContractQuery, Instrument, SecType};
use super::sessions::Hours;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    Buy,
    Sell,
    SellShort,
}

impl Action {
    pub fn parse(s: &str) -> Result<Self, MarketError> {
        match s.trim().to_ascii_uppercase().as_str() {
            "BUY" => Ok(Self::Buy),
            "SELL" | "SLONG" => Ok(Self::Sell),
            "SSHORT" => Ok(Self::SellShort),
            other => Err(MarketError::OrderRejected(format!("Invalid action: {other:?}"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
            Self::SellShort => "SSHORT",
        }
    }

    /// +1 for buys, -1 for sells.
    pub fn sign(self) -> f64 {
        if self == Self::Buy {
            1.0
        } else {
            -1.0
        }
    }

    /// The execution side TWS reports: `BOT` or `SLD` (short sales too).
    pub fn exec_side(self) -> &'static str {
        if self == Self::Buy {
            "BOT"
        } else {
            "SLD"
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderType {
    Market,
    Limit,
    Stop,
    StopLimit,
}

impl OrderType {
    pub fn parse(s: &str) -> Result<Self, MarketError> {
        match s.trim().to_ascii_uppercase().as_str() {
            "MKT" => Ok(Self::Market),
            "LMT" => Ok(Self::Limit),
            "STP" => Ok(Self::Stop),
            "STP LMT" | "STPLMT" => Ok(Self::StopLimit),
            _ => Err(MarketError::UnsupportedOrderType),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Market => "MKT",
            Self::Limit => "LMT",
            Self::Stop => "STP",
            Self::StopLimit => "STP LMT",
        }
    }

    pub fn is_stop(self) -> bool {
        matches!(self, Self::Stop | Self::StopLimit)
    }

    pub fn has_limit(self) -> bool {
        matches!(self, Self::Limit | Self::StopLimit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Tif {
    Day,
    Gtc,
    Ioc,
    Fok,
}

impl Tif {
    pub fn parse(s: &str) -> Result<Self, MarketError> {
        match s.trim().to_ascii_uppercase().as_str() {
            "" | "DAY" => Ok(Self::Day),
            "GTC" => Ok(Self::Gtc),
            "IOC" => Ok(Self::Ioc),
            "FOK" => Ok(Self::Fok),
            other => {
                Err(MarketError::OrderRejected(format!("The simulated market does not support time in force {other}")))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "DAY",
            Self::Gtc => "GTC",
            Self::Ioc => "IOC",
            Self::Fok => "FOK",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderStatus {
    PreSubmitted,
    Submitted,
    Filled,
    Cancelled,
    ApiCancelled,
    Inactive,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreSubmitted => "PreSubmitted",
            Self::Submitted => "Submitted",
            Self::Filled => "Filled",
            Self::Cancelled => "Cancelled",
            Self::ApiCancelled => "ApiCancelled",
            Self::Inactive => "Inactive",
        }
    }

    /// Finished: no longer modifiable, reported by reqCompletedOrders.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::ApiCancelled)
    }
}

/// Who placed an order: an API client, or a user in TWS (client 0, order id 0 until bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderOrigin {
    Api,
    Tws,
}

/// A placeOrder as the client sends it (strings as on the wire; the book validates them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderRequest {
    pub client_id: i32,
    pub order_id: i32,
    pub contract: ContractQuery,
    pub action: String,
    pub total_quantity: f64,
    pub order_type: String,
    pub limit_price: Option<f64>,
    pub aux_price: Option<f64>,
    pub tif: String,
    pub outside_rth: bool,
    /// Empty = the gateway's (only) account.
    pub account: String,
    pub order_ref: String,
    pub parent_id: i32,
    pub oca_group: String,
    pub transmit: bool,
    pub what_if: bool,
    pub model_code: String,
}

impl OrderRequest {
    /// A transmitted DAY order; set prices and options with struct update syntax.
    pub fn new(
        client_id: i32,
        order_id: i32,
        contract: ContractQuery,
        action: &str,
        quantity: f64,
        order_type: &str,
    ) -> Self {
        Self {
            client_id,
            order_id,
            contract,
            action: action.into(),
            total_quantity: quantity,
            order_type: order_type.into(),
            limit_price: None,
            aux_price: None,
            tif: "DAY".into(),
            outside_rth: false,
            account: String::new(),
            order_ref: String::new(),
            parent_id: 0,
            oca_group: String::new(),
            transmit: true,
            what_if: false,
            model_code: String::new(),
        }
    }
}

/// An order in the book: its terms and its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub perm_id: i64,
    pub client_id: i32,
    pub order_id: i32,
    pub account: String,
    pub origin: OrderOrigin,
    pub instrument: Instrument,
    pub action: Action,
    pub total_quantity: f64,
    pub order_type: OrderType,
    pub limit_price: Option<f64>,
    pub aux_price: Option<f64>,
    pub tif: Tif,
    pub outside_rth: bool,
    pub order_ref: String,
    pub parent_id: i32,
    pub oca_group: String,
    pub model_code: String,
    pub transmit: bool,
    pub status: OrderStatus,
    pub filled: f64,
    pub avg_fill_price: f64,
    pub last_fill_price: f64,
    pub why_held: String,
    pub mkt_cap_price: f64,
    pub placed_at: DateTime<Utc>,
    /// Last placement or modification: the fill delay counts from here.
    pub accepted_at: DateTime<Utc>,
    /// DAY orders: when they expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// Stop orders: elected.
    pub triggered: bool,
    /// Set at the first match attempt: the order takes liquidity while marketable.
    pub taking: Option<bool>,
    /// The price step of the last fill (one display-size chunk per step).
    pub last_fill_step: Option<u64>,
    pub notional_filled: f64,
    pub completed_at: Option<DateTime<Utc>>,
    /// `Filled`, `Cancelled by Trader`, `Cancelled by System`.
    pub completed_status: String,
}

impl Order {
    /// A new order of `origin`, accepted at `now`, from `req`'s ids and options and the
    /// validated `terms`; its status is for the book to set.
    pub fn new(
        perm_id: i64,
        account: &str,
        origin: OrderOrigin,
        req: &OrderRequest,
        instrument: Instrument,
        terms: Terms,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            perm_id,
            client_id: req.client_id,
            order_id: req.order_id,
            account: account.to_owned(),
            origin,
            action: terms.action,
            total_quantity: terms.quantity,
            order_type: terms.order_type,
            limit_price: terms.limit_price,
            aux_price: terms.aux_price,
            tif: terms.tif,
            outside_rth: req.outside_rth,
            order_ref: req.order_ref.clone(),
            parent_id: req.parent_id,
            oca_group: req.oca_group.clone(),
            model_code: req.model_code.clone(),
            transmit: req.transmit,
            status: OrderStatus::Submitted,
            filled: 0.0,
            avg_fill_price: 0.0,
            last_fill_price: 0.0,
            why_held: String::new(),
            mkt_cap_price: 0.0,
            placed_at: now,
            accepted_at: now,
            expires_at: (terms.tif == Tif::Day).then(|| day_expiry(&instrument, req.outside_rth, now)),
            triggered: false,
            taking: None,
            last_fill_step: None,
            notional_filled: 0.0,
            completed_at: None,
            completed_status: String::new(),
            instrument,
        }
    }

    pub fn remaining(&self) -> f64 {
        (self.total_quantity - self.filled).max(0.0)
    }

    pub fn is_open(&self) -> bool {
        !self.status.is_done()
    }
}

/// The validated terms of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Terms {
    pub action: Action,
    pub quantity: f64,
    pub order_type: OrderType,
    pub limit_price: Option<f64>,
    pub aux_price: Option<f64>,
    pub tif: Tif,
}

fn valid_price(p: Option<f64>) -> Option<f64> {
    p.filter(|p| p.is_finite() && *p > 0.0 && *p < f64::MAX)
}

/// Check a request's terms against the instrument, in TWS's order.
pub fn validate(req: &OrderRequest, instrument: &Instrument) -> Result<Terms, MarketError> {
    let action = Action::parse(&req.action)?;
    let quantity = req.total_quantity;
    if !(quantity.is_finite() && quantity > 0.0 && quantity < 1e12) {
        return Err(MarketError::OrderRejected(format!("The order quantity {quantity} is not positive")));
    }
    if instrument.sec_type != SecType::Cash && quantity.fract() != 0.0 {
        return Err(MarketError::OrderRejected("Fractional-sized order cannot be placed via API".into()));
    }
    let order_type = OrderType::parse(&req.order_type)?;
    let limit_price = if order_type.has_limit() {
        Some(valid_price(req.limit_price).ok_or_else(|| {
            MarketError::OrderRejected(format!("A limit price is required for a {} order", order_type.as_str()))
        })?)
    } else {
        None
    };
    let aux_price = if order_type.is_stop() {
        Some(valid_price(req.aux_price).ok_or_else(|| {
            MarketError::OrderRejected(format!(
                "A stop price (auxPrice) is required for a {} order",
                order_type.as_str()
            ))
        })?)
    } else {
        None
    };
    if limit_price.into_iter().chain(aux_price).any(|p| !instrument.on_tick(p)) {
        return Err(MarketError::PriceVariation);
    }
    let tif = Tif::parse(&req.tif)?;
    Ok(Terms { action, quantity, order_type, limit_price, aux_price, tif })
}

/// When a DAY order accepted at `at` expires.
pub fn day_expiry(instrument: &Instrument, outside_rth: bool, at: DateTime<Utc>) -> DateTime<Utc> {
    let hours = if instrument.sec_type == SecType::Stk && !outside_rth { Hours::Liquid } else { Hours::Trading };
    instrument.schedule.session_at_or_after(at, hours).end
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::sim::market::instruments::InstrumentTable;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 16, 0, 0).unwrap()
    }

    fn aapl() -> Instrument {
        InstrumentTable::new().by_name("AAPL", now()).unwrap()
    }

    fn request(action: &str, qty: f64, order_type: &str) -> OrderRequest {
        OrderRequest::new(1, 1, ContractQuery::stock("AAPL"), action, qty, order_type)
    }

    #[test]
    fn terms_parse_like_tws() {
        assert_eq!(Action::parse("sshort").unwrap().exec_side(), "SLD");
        assert_eq!(OrderType::parse("STP LMT").unwrap(), OrderType::StopLimit);
        assert_eq!(Tif::parse("").unwrap(), Tif::Day);
        assert_eq!(Tif::parse("GTD").unwrap_err().code(), 201);
        let t = validate(&OrderRequest { limit_price: Some(101.25), ..request("BUY", 10.0, "lmt") }, &aapl()).unwrap();
        assert_eq!((t.order_type, t.limit_price, t.tif), (OrderType::Limit, Some(101.25), Tif::Day));
        // Sent-but-unset prices (f64::MAX, as IB clients encode "unset") are missing prices.
        assert_eq!(
            validate(&OrderRequest { limit_price: Some(f64::MAX), ..request("BUY", 10.0, "LMT") }, &aapl())
                .unwrap_err()
                .code(),
            201
        );
        assert_eq!(
            validate(&OrderRequest { aux_price: None, ..request("BUY", 10.0, "STP") }, &aapl()).unwrap_err().code(),
            201
        );
        assert_eq!(
            validate(&request("BUY", 1.5, "MKT"), &aapl()).unwrap_err().code(),
            201,
            "no fractional shares via API"
        );
        let fx = InstrumentTable::new().by_name("EUR.USD", now()).unwrap();
        assert!(validate(
            &OrderRequest { contract: ContractQuery::default(), ..request("SELL", 20_000.0, "MKT") },
            &fx
        )
        .is_ok());
        assert_eq!(OrderStatus::ApiCancelled.as_str(), "ApiCancelled");
        assert!(OrderStatus::Cancelled.is_done() && !OrderStatus::Inactive.is_done());
    }

    #[test]
    fn day_expiry_is_the_session_close() {
        let at =
            |h, m| chrono_tz::America::New_York.with_ymd_and_hms(2026, 1, 14, h, m, 0).unwrap().with_timezone(&Utc);
        let inst = aapl();
        assert_eq!(day_expiry(&inst, false, at(11, 0)), at(16, 0));
        assert_eq!(day_expiry(&inst, true, at(11, 0)), at(20, 0));
        // After the close a DAY order is for the next session.
        assert_eq!(day_expiry(&inst, false, at(17, 0)), at(16, 0) + chrono::Duration::days(1));
    }
}
