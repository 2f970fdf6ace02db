//! Market-data ticks (`reqMktData`): the default set and the generic ticks a client asks for,
//! as version-independent values the codec encodes as tickPrice / tickSize / tickGeneric /
//! tickString; and tick-by-tick data (`reqTickByTickData`).
//!
//! Tick type ids and delivery methods: IBKR Campus "Available Tick Types" and IB's Python
//! client `ibapi/ticktype.py` (TickTypeEnum). Supported generic ticks and what they yield:
//!
//! | generic | tick id (name) | method | value |
//! |---|---|---|---|
//! | default | 1 BID, 2 ASK, 4 LAST (+ size) | tickPrice | book; no 4 for forex |
//! | default | 6 HIGH, 7 LOW, 9 CLOSE, 14 OPEN | tickPrice | day stats, 9 = previous close |
//! | default | 8 VOLUME | tickSize | day volume (not for forex) |
//! | default | 45 LAST_TIMESTAMP | tickString | Unix seconds of the last trade |
//! | 100 | 29 / 30 option call / put volume | tickSize | |
//! | 101 | 27 / 28 option call / put open interest | tickSize | |
//! | 104 | 23 option historical vol | tickGeneric | annualised, e.g. 0.25 |
//! | 105 | 87 average option volume | tickSize | |
//! | 106 | 24 option implied vol | tickGeneric | |
//! | 165 | 15–20 low/high 13, 26, 52 weeks; 21 average volume | tickPrice / tickSize | |
//! | 221, 232 | 37 mark price | tickPrice | unrounded mid |
//! | 233 | 48 RT_VOLUME | tickString | `price;size;time_ms;volume;vwap;single` |
//! | 236 | 46 SHORTABLE, 89 SHORTABLE_SHARES | tickGeneric / tickSize | 3.0 = ≥1000 shares |
//! | 293 / 294 / 295 | 54 trade count, 55 trades/min, 56 volume/min | tickGeneric | |
//! | 318 | 57 last RTH trade | tickPrice | |
//! | 375 | 77 RT_TRD_VOLUME | tickString | as 233 |
//! | 411 | 58 RT historical vol | tickGeneric | |
//! | 456 | 59 IB dividends | tickString | `past12,next12,yyyymmdd,next` |
//! | 588 | 86 futures open interest | tickSize | futures only |
//! | 595 | 63 / 64 / 65 volume 3 / 5 / 10 minutes | tickSize | |
//! | mdoff | — | — | suppresses the default set |
//!
//! Sizes are shares (see [`super::prices`]); TWS documents tick 21 as "Multiplier of 100" and
//! US-stock volumes in lots below server version 220 — the codec scales them. A generic tick
//! TWS does not list for the sec type is refused with 321 "Incorrect generic tick list of N.
//! Legal ones for (STK) are: …" (the wording TWS uses; the lists here are the subset the
//! simulator knows). Snapshots take no generic ticks ("Streaming Data Snapshots"); the
//! default set carries open/high/low/close. Shortable 3.0 means "at least 1000 shares"
//! ("Shortable"). Tick attributes: bit 0 canAutoExecute, bit 1 pastLimit, bit 2 preOpen.

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use super::error::MarketError;
use super::history::PricePath;
use super::instruments::SecType;
use super::noise::{mix, unit};
use super::sessions::Hours;

/// One tick, as the codec sends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Tick {
    /// `tickPrice(tickType, price, attribs)` with the size TWS folds into it for 1/2/4.
    Price {
        tick_type: i32,
        price: f64,
        size: Option<f64>,
        attr_mask: i32,
    },
    Size {
        tick_type: i32,
        size: f64,
    },
    Generic {
        tick_type: i32,
        value: f64,
    },
    String {
        tick_type: i32,
        value: String,
    },
}

impl Tick {
    pub fn tick_type(&self) -> i32 {
        match self {
            Self::Price { tick_type, .. }
            | Self::Size { tick_type, .. }
            | Self::Generic { tick_type, .. }
            | Self::String { tick_type, .. } => *tick_type,
        }
    }
}

/// (generic tick, label in TWS's 321 list, sec types that accept it).
const GENERIC_TICKS: [(u32, &str, &[SecType]); 20] = [
    (100, "Option Volume", &[SecType::Stk]),
    (101, "Option Open Interest", &[SecType::Stk]),
    (104, "Historical Volatility", &[SecType::Stk]),
    (105, "Average Opt Volume", &[SecType::Stk]),
    (106, "impvolat", &[SecType::Stk]),
    (165, "Misc. Stats", &[SecType::Stk]),
    (221, "Pl Price", &[SecType::Stk, SecType::Fut, SecType::Cash]),
    (232, "Pl Price", &[SecType::Stk, SecType::Fut, SecType::Cash]),
    (233, "RTVolume", &[SecType::Stk, SecType::Fut]),
    (236, "inventory", &[SecType::Stk]),
    (293, "TradeCount", &[SecType::Stk, SecType::Fut]),
    (294, "TradeRate", &[SecType::Stk, SecType::Fut]),
    (295, "VolumeRate", &[SecType::Stk, SecType::Fut]),
    (318, "LastRTHTrade", &[SecType::Stk]),
    (375, "RTTrdVolume", &[SecType::Stk, SecType::Fut]),
    (411, "rthistvol", &[SecType::Stk, SecType::Cash]),
    (456, "IBDividends", &[SecType::Stk]),
    (588, "Futures Open Interest", &[SecType::Fut]),
    (595, "Short-Term Volume X Mins", &[SecType::Stk]),
    (162, "Index Future Premium", &[SecType::Fut]),
];

/// A parsed `genericTickList`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenericTicks {
    pub ids: Vec<u32>,
    /// `mdoff`: no default ticks.
    pub mdoff: bool,
}

impl GenericTicks {
    /// Parse `"233,236,mdoff"` for an instrument of `sec_type`.
    pub fn parse(list: &str, sec_type: SecType) -> Result<Self, MarketError> {
        let mut out = Self::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.eq_ignore_ascii_case("mdoff") {
                out.mdoff = true;
                continue;
            }
            let legal = item
                .parse::<u32>()
                .ok()
                .filter(|id| GENERIC_TICKS.iter().any(|(g, _, types)| g == id && types.contains(&sec_type)));
            match legal {
                Some(id) if !out.ids.contains(&id) => out.ids.push(id),
                Some(_) => {}
                None => {
                    let names: Vec<String> = GENERIC_TICKS
                        .iter()
                        .filter(|(_, _, types)| types.contains(&sec_type))
                        .map(|(g, label, _)| format!("{g}({label})"))
                        .collect();
                    return Err(MarketError::Validation {
                        token: "bX",
                        cause: format!(
                            "Incorrect generic tick list of {item}.  Legal ones for ({}) are: {}",
                            sec_type.as_str(),
                            names.join(",")
                        ),
                    });
                }
            }
        }
        Ok(out)
    }
}

fn wanted(g: &GenericTicks, id: u32) -> bool {
    g.ids.contains(&id)
}

/// A per-instrument, per-day seeded figure around `base` (±30 %).
fn daily_figure(seed: u64, con_id: i32, day: i64, salt: u64, base: f64) -> f64 {
    base * (0.7 + 0.6 * unit(mix(seed, &[salt, con_id as u64, day as u64])))
}

/// Every tick for `generic` at `now`, from the instrument's path (the default set first).
pub fn ticks(path: &PricePath, seed: u64, generic: &GenericTicks, now: DateTime<Utc>) -> Vec<Tick> {
    let q = path.quote();
    let inst = path.instrument();
    let pre_open = inst.sec_type == SecType::Stk && inst.schedule.session_at(now, Hours::Liquid).is_none();
    let book_mask = 1 | if pre_open { 4 } else { 0 };
    let price = |tick_type, price| Tick::Price { tick_type, price, size: None, attr_mask: 0 };
    let mut out = Vec::new();
    if !generic.mdoff {
        out.push(Tick::Price { tick_type: 1, price: q.bid, size: Some(q.bid_size), attr_mask: book_mask });
        out.push(Tick::Price { tick_type: 2, price: q.ask, size: Some(q.ask_size), attr_mask: book_mask });
        if q.has_trades {
            out.push(Tick::Price { tick_type: 4, price: q.last, size: Some(q.last_size), attr_mask: 0 });
            out.push(Tick::Size { tick_type: 8, size: q.volume });
        }
        out.extend([price(6, q.high), price(7, q.low), price(9, q.close), price(14, q.open)]);
        if q.has_trades {
            out.push(Tick::String { tick_type: 45, value: q.last_time.timestamp().to_string() });
        }
    }
    let day = q.trade_date.num_days_from_ce() as i64;
    let con = inst.con_id;
    let elapsed_minutes = inst
        .schedule
        .session_at(now, Hours::Liquid)
        .map(|s| ((now - s.start).num_seconds() as f64 / 60.0).max(1.0))
        .unwrap_or(390.0);
    let per_minute = q.volume / elapsed_minutes;
    if wanted(generic, 100) {
        let calls = (daily_figure(seed, con, day, 100, inst.avg_volume * 0.012)).round();
        out.push(Tick::Size { tick_type: 29, size: calls });
        out.push(Tick::Size { tick_type: 30, size: (calls * 0.8).round() });
    }
    if wanted(generic, 101) {
        let oi = daily_figure(seed, con, day, 101, inst.avg_volume * 0.06).round();
        out.push(Tick::Size { tick_type: 27, size: oi });
        out.push(Tick::Size { tick_type: 28, size: (oi * 0.85).round() });
    }
    if wanted(generic, 104) {
        out.push(Tick::Generic { tick_type: 23, value: path.volatility_at(now, false) });
    }
    if wanted(generic, 105) {
        out.push(Tick::Size { tick_type: 87, size: (inst.avg_volume * 0.02).round() });
    }
    if wanted(generic, 106) {
        out.push(Tick::Generic { tick_type: 24, value: path.volatility_at(now, true) });
    }
    if wanted(generic, 165) {
        for (weeks, low_id) in [(13, 15), (26, 17), (52, 19)] {
            let (low, high) = path.range_weeks(now, weeks);
            out.push(price(low_id, low));
            out.push(price(low_id + 1, high));
        }
        out.push(Tick::Size { tick_type: 21, size: inst.avg_volume.round() });
    }
    if wanted(generic, 221) || wanted(generic, 232) {
        out.push(price(37, q.mid()));
    }
    let rt_volume = || {
        format!(
            "{};{};{};{};{};{}",
            q.last,
            q.last_size,
            q.last_time.timestamp_millis(),
            q.volume,
            q.vwap,
            q.last_size <= 100.0
        )
    };
    if wanted(generic, 233) {
        out.push(Tick::String { tick_type: 48, value: rt_volume() });
    }
    if wanted(generic, 236) {
        out.push(Tick::Generic { tick_type: 46, value: 3.0 });
        out.push(Tick::Size { tick_type: 89, size: (inst.avg_volume * 0.8).round() });
    }
    if wanted(generic, 293) {
        out.push(Tick::Generic { tick_type: 54, value: q.trade_count as f64 });
    }
    if wanted(generic, 294) {
        out.push(Tick::Generic { tick_type: 55, value: (q.trade_count as f64 / elapsed_minutes).round() });
    }
    if wanted(generic, 295) {
        out.push(Tick::Generic { tick_type: 56, value: per_minute.round() });
    }
    if wanted(generic, 318) {
        out.push(price(57, q.last));
    }
    if wanted(generic, 375) {
        out.push(Tick::String { tick_type: 77, value: rt_volume() });
    }
    if wanted(generic, 411) {
        out.push(Tick::Generic { tick_type: 58, value: path.volatility_at(now, false) * 0.97 });
    }
    if wanted(generic, 456) {
        let next = (q.trade_date + chrono::Duration::days(45)).format("%Y%m%d");
        let d = inst.dividend;
        out.push(Tick::String {
            tick_type: 59,
            value: format!("{},{},{next},{}", d, (d * 1.04 * 100.0).round() / 100.0, d / 4.0),
        });
    }
    if wanted(generic, 588) {
        out.push(Tick::Size { tick_type: 86, size: daily_figure(seed, con, day, 588, inst.avg_volume * 1.4).round() });
    }
    if wanted(generic, 595) {
        for (id, minutes) in [(63, 3.0), (64, 5.0), (65, 10.0)] {
            out.push(Tick::Size { tick_type: id, size: (per_minute * minutes).round() });
        }
    }
    out
}

/// The ticks of `now` that differ from `before` (same tick type, other value): what a
/// streaming subscription sends after its first round.
pub fn changed(before: &[Tick], now: &[Tick]) -> Vec<Tick> {
    now.iter().filter(|t| !before.iter().any(|b| b == *t)).cloned().collect()
}

/// `reqTickByTickData` values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TickByTick {
    Last { time: DateTime<Utc>, price: f64, size: f64, exchange: String, special_conditions: String },
    BidAsk { time: DateTime<Utc>, bid: f64, ask: f64, bid_size: f64, ask_size: f64 },
    MidPoint { time: DateTime<Utc>, mid: f64 },
}

/// Tick-by-tick kinds (`tickType` argument): `Last`, `AllLast`, `BidAsk`, `MidPoint`.
pub fn tick_by_tick(path: &PricePath, kind: &str, exchange: &str) -> Result<TickByTick, MarketError> {
    let q = path.quote();
    match kind {
        "Last" | "AllLast" if q.has_trades => Ok(TickByTick::Last {
            time: q.last_time,
            price: q.last,
            size: q.last_size,
            exchange: exchange.to_owned(),
            special_conditions: String::new(),
        }),
        "BidAsk" => Ok(TickByTick::BidAsk {
            time: q.last_time,
            bid: q.bid,
            ask: q.ask,
            bid_size: q.bid_size,
            ask_size: q.ask_size,
        }),
        "MidPoint" => Ok(TickByTick::MidPoint { time: q.last_time, mid: q.mid() }),
        _ => Err(MarketError::Validation {
            token: "bY",
            // TWS's exact wording is not known.
            cause: format!(
                "Invalid tick-by-tick type '{kind}' for {}; valid are Last, AllLast, BidAsk, MidPoint",
                path.instrument().sec_type.as_str()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::market::instruments::{Instrument, InstrumentTable};
    use crate::sim::market::prices::PriceBook;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 16, 0, 0).unwrap()
    }

    fn book(name: &str) -> (Instrument, PriceBook) {
        let inst = InstrumentTable::new().by_name(name, now()).unwrap();
        let mut book = PriceBook::new(8);
        book.step(&inst, now());
        (inst, book)
    }

    fn types(ticks: &[Tick]) -> Vec<i32> {
        ticks.iter().map(Tick::tick_type).collect()
    }

    #[test]
    fn default_set_has_book_and_day_stats() {
        let (inst, aapl) = book("AAPL");
        let path = PricePath::new(8, aapl.walk(inst.con_id).unwrap());
        let t = ticks(&path, 8, &GenericTicks::default(), now());
        assert_eq!(types(&t), [1, 2, 4, 8, 6, 7, 9, 14, 45]);
        let Tick::Price { size: Some(bid_size), attr_mask, .. } = &t[0] else { panic!() };
        assert!(*bid_size >= 100.0 && *attr_mask & 1 == 1);
        let (fx, fx_book) = book("EUR.USD");
        let fx_ticks = ticks(&PricePath::new(8, fx_book.walk(fx.con_id).unwrap()), 8, &GenericTicks::default(), now());
        assert_eq!(types(&fx_ticks), [1, 2, 6, 7, 9, 14], "no last or volume for forex");
    }

    #[test]
    fn generic_ticks_yield_documented_tick_types() {
        let (inst, book) = book("AAPL");
        let path = PricePath::new(8, book.walk(inst.con_id).unwrap());
        let g =
            GenericTicks::parse("100,101,104,106,165,221,233,236,293,294,295,318,375,411,456,595,mdoff", SecType::Stk)
                .unwrap();
        let t = ticks(&path, 8, &g, now());
        assert_eq!(
            types(&t),
            [
                29, 30, 27, 28, 23, 24, 15, 16, 17, 18, 19, 20, 21, 37, 48, 46, 89, 54, 55, 56, 57, 77, 58, 59, 63, 64,
                65
            ]
        );
        let rt = t
            .iter()
            .find_map(|x| match x {
                Tick::String { tick_type: 48, value } => Some(value.clone()),
                _ => None,
            })
            .unwrap();
        let fields: Vec<&str> = rt.split(';').collect();
        assert_eq!(fields.len(), 6, "{rt}");
        assert_eq!(fields[0].parse::<f64>().unwrap(), path.quote().last);
        assert_eq!(fields[2].parse::<i64>().unwrap(), path.quote().last_time.timestamp_millis());
        let shortable = t.iter().find_map(|x| match x {
            Tick::Generic { tick_type: 46, value } => Some(*value),
            _ => None,
        });
        assert_eq!(shortable, Some(3.0));
        let lows: Vec<f64> = t
            .iter()
            .filter_map(|x| match x {
                Tick::Price { tick_type: 15 | 17 | 19, price, .. } => Some(*price),
                _ => None,
            })
            .collect();
        assert!(lows[0] >= lows[1] && lows[1] >= lows[2], "longer windows reach lower: {lows:?}");
        let hv = t
            .iter()
            .find_map(|x| match x {
                Tick::Generic { tick_type: 23, value } => Some(*value),
                _ => None,
            })
            .unwrap();
        assert!((0.1..0.6).contains(&hv), "{hv}");
    }

    #[test]
    fn illegal_generic_tick_is_321_naming_legal_ones() {
        let e = GenericTicks::parse("233,999", SecType::Stk).unwrap_err();
        assert_eq!(e.code(), 321);
        assert!(e.to_string().starts_with("Error validating request.-'bX' : cause - Incorrect generic tick list of 999.  Legal ones for (STK) are: 100(Option Volume),"), "{e}");
        assert!(GenericTicks::parse("588", SecType::Stk).is_err());
        assert_eq!(GenericTicks::parse("588, 233 ,233", SecType::Fut).unwrap().ids, [588, 233]);
        assert!(GenericTicks::parse("", SecType::Cash).unwrap().ids.is_empty());
    }

    #[test]
    fn changed_sends_only_moved_ticks_and_tick_by_tick() {
        let (inst, mut book) = book("AAPL");
        let before = ticks(&PricePath::new(8, book.walk(inst.con_id).unwrap()), 8, &GenericTicks::default(), now());
        assert!(changed(&before, &before).is_empty());
        book.set_price(&inst, 300.0, now() + chrono::Duration::seconds(1)).unwrap();
        let path = PricePath::new(8, book.walk(inst.con_id).unwrap());
        let after = ticks(&path, 8, &GenericTicks::default(), now());
        let moved = types(&changed(&before, &after));
        assert!(moved.contains(&4) && moved.contains(&6) && !moved.contains(&9), "{moved:?}");
        assert!(
            matches!(tick_by_tick(&path, "AllLast", "ISLAND").unwrap(), TickByTick::Last { price, .. } if price == 300.0)
        );
        assert!(matches!(tick_by_tick(&path, "MidPoint", "").unwrap(), TickByTick::MidPoint { .. }));
        assert_eq!(tick_by_tick(&path, "Trades", "").unwrap_err().code(), 321);
    }
}
