//! The `reqContractDetails` answer: the contract as TWS completes it plus the details fields
//! (ContractDetails class reference, IBKR Campus `twsapi-ref/#contractdetails-ref`): market
//! name, min tick, price magnifier, order types, valid exchanges, market rule ids, time zone,
//! trading and liquid hours ([`super::sessions`] formats them), contract month and expiry for
//! futures, sizes, aggregated group, and the security ids (ISIN).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::instruments::{Instrument, SecType};
use super::sessions::Hours;

/// `reqContractDetails` answer for one instrument: the contract as TWS completes it plus the
/// details fields (ContractDetails class reference).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractDetails {
    pub instrument: Instrument,
    /// The exchange the request named (`SMART` when it named none, for stocks).
    pub exchange: String,
    pub market_name: String,
    pub valid_exchanges: String,
    pub order_types: String,
    pub time_zone_id: &'static str,
    pub trading_hours: String,
    pub liquid_hours: String,
    pub contract_month: String,
    pub real_expiration_date: String,
    pub last_trade_time: String,
    pub market_rule_ids: String,
    pub min_size: f64,
    pub size_increment: f64,
    pub suggested_size_increment: f64,
    pub agg_group: i32,
    /// `(tag, value)` pairs, e.g. `("ISIN", "US0378331005")`.
    pub sec_id_list: Vec<(String, String)>,
}

impl ContractDetails {
    pub fn new(instrument: Instrument, requested_exchange: &str, now: DateTime<Utc>) -> Self {
        let exchange = if requested_exchange.is_empty() {
            instrument.valid_exchanges.first().copied().unwrap_or("SMART").to_owned()
        } else {
            requested_exchange.to_ascii_uppercase()
        };
        let schedule = instrument.schedule;
        let (order_types, rule, min_size, increment, suggested) = match instrument.sec_type {
            SecType::Stk => ("ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AON,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,DEACTDIS,DIS,GAT,GTC,GTD,GTT,HID,IBKRATS,ICE,IMB,IOC,LIT,LMT,LOC,MIT,MKT,MOC,MTL,NGCOMB,NODARK,NONALGO,OCA,OPG,OPGREROUT,PEGBENCH,POSTONLY,PREOPGRTH,REL,RPI,RTH,SCALE,SCALEODD,SCALERST,SNAPMID,SNAPMKT,SNAPREL,STP,STPLMT,SWEEP,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF", "26", 1.0, 1.0, 100.0),
            SecType::Fut => ("ACTIVETIM,AD,ADJUST,ALERT,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,DEACTDIS,DEACTEOD,GAT,GTC,GTD,GTT,HID,ICE,IOC,LIT,LMT,LTH,MIT,MKT,MTL,NGCOMB,NONALGO,OCA,SCALE,SCALERST,SNAPMID,SNAPMKT,SNAPREL,STP,STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF", "67", 1.0, 1.0, 1.0),
            _ => ("ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,CASHQTY,COND,CONDORDER,DAY,DEACT,DEACTDIS,DEACTEOD,GAT,GTC,GTD,GTT,IOC,LIT,LMT,MIT,MKT,NONALGO,OCA,REL,RELPCTOFS,SCALE,SCALERST,STP,STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF", "239", 1.0, 1.0, 1.0),
        };
        let rules = vec![rule; instrument.valid_exchanges.len()].join(",");
        let (contract_month, real_expiration_date, last_trade_time) = match instrument.last_trade_date {
            Some(d) => (d.format("%Y%m").to_string(), d.format("%Y%m%d").to_string(), "08:30:00".to_owned()),
            None => Default::default(),
        };
        let sec_id_list =
            if instrument.isin.is_empty() { vec![] } else { vec![("ISIN".to_owned(), instrument.isin.clone())] };
        Self {
            exchange,
            market_name: instrument.trading_class.clone(),
            valid_exchanges: instrument.valid_exchanges.join(","),
            order_types: order_types.to_owned(),
            time_zone_id: schedule.tz_id(),
            trading_hours: schedule.hours_string(now, Hours::Trading),
            liquid_hours: schedule.hours_string(now, Hours::Liquid),
            contract_month,
            real_expiration_date,
            last_trade_time,
            market_rule_ids: rules,
            min_size,
            size_increment: increment,
            suggested_size_increment: suggested,
            agg_group: 1,
            sec_id_list,
            instrument,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::sim::market::instruments::{ContractQuery, InstrumentTable};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 15, 0, 0).unwrap()
    }

    #[test]
    fn details_carry_hours_zone_and_ids() {
        let t = InstrumentTable::new();
        let d = ContractDetails::new(t.resolve(&ContractQuery::stock("AAPL"), now()).unwrap(), "SMART", now());
        assert_eq!(d.time_zone_id, "US/Eastern");
        assert!(d.liquid_hours.starts_with("20260114:0930-20260114:1600"));
        assert!(d.trading_hours.starts_with("20260114:0400-20260114:2000"));
        assert_eq!(d.sec_id_list, vec![("ISIN".to_owned(), "US0378331005".to_owned())]);
        assert_eq!(d.market_name, "NMS");
        let es = t.by_name("ES", now()).unwrap();
        let d = ContractDetails::new(es, "", now());
        assert_eq!((d.exchange.as_str(), d.contract_month.as_str(), d.time_zone_id), ("CME", "202603", "US/Central"));
    }
}
