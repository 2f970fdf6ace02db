//! The live market: one seeded random walk per instrument, with a book (bid/ask around the
//! last trade) and the day's statistics TWS ticks report.
//!
//! Model (facts and choices):
//! - Prices live on the instrument's tick grid (`minTick` from contract details). The walk is
//!   an Ornstein–Uhlenbeck process in log price around the instrument's base price: per step
//!   of `Δt` seconds (time since the previous step, clamped to 0.25–60 s) the log price moves
//!   by σ₁ₛ·√Δt·z with σ₁ₛ = daily volatility / √23 400 (a 6.5 h session), and is pulled back
//!   with a 3.5-day half-life so months of running stay near the base.
//! - Spread ≥ one tick (≈0.6 bp for stocks, one tick for ES and EUR.USD, sometimes one more);
//!   an up-move prints at the ask, a down-move at the bid, so `bid ≤ last ≤ ask` always.
//! - Sizes and volume in shares (contracts for futures, units of base currency for forex).
//!   TWS before server version 220 (`MARKET_DATA_VOLUMES_IN_SHARES`) reports US-stock sizes
//!   and volume in round lots of 100: the codec divides when it needs to.
//! - Volume accrues at the instrument's average daily volume spread over the regular session
//!   (8 % of that rate in extended hours, 2 % outside them); a day starts with the volume a
//!   session that far along would have.
//! - Day statistics: `open/high/low` of the current trade date and `close` = the previous
//!   trade date's last price (TWS tick 9 "Close Price": "The last available closing price for
//!   the previous day", IBKR Campus "Available Tick Types"). The trade date rolls per the
//!   instrument's calendar ([`super::sessions`]).
//! - Forex has no trades on IDEALPRO: `has_trades` is false and the tick layer sends no last,
//!   last size or volume for it (TWS sends bid/ask only for CASH).
//! - Every step is recorded in 5-second buckets (trade and bid/ask OHLC, volume, notional,
//!   count), at most [`BUCKET_CAP`] per instrument (2 hours): the source of real-time bars
//!   and of the most recent historical bars.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;

use super::error::MarketError;
use super::instruments::{Instrument, SecType};
use super::noise::{normal, stream};
use super::sessions::Hours;

/// Cap on recorded 5-second buckets per instrument (2 hours).
pub const BUCKET_CAP: usize = 1440;

/// Seconds of the regular session the daily volatility is spread over.
const SESSION_SECONDS: f64 = 23_400.0;
/// Mean-reversion rate of the log price (per second): a 3.5-day half-life.
const REVERSION_PER_SECOND: f64 = std::f64::consts::LN_2 / (3.5 * 86_400.0);

/// The book and day statistics of one instrument at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quote {
    pub con_id: i32,
    pub bid: f64,
    pub ask: f64,
    pub last: f64,
    pub bid_size: f64,
    pub ask_size: f64,
    pub last_size: f64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    /// The previous trade date's closing price.
    pub close: f64,
    pub volume: f64,
    pub vwap: f64,
    pub trade_count: u64,
    pub last_time: DateTime<Utc>,
    pub trade_date: NaiveDate,
    /// Steps taken so far (set_price counts as one).
    pub step: u64,
    /// False for forex: no last price, size or volume is published.
    pub has_trades: bool,
}

impl Quote {
    pub fn mid(&self) -> f64 {
        (self.bid + self.ask) / 2.0
    }
}

/// One 5-second bucket of the live walk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Unix seconds, a multiple of 5.
    pub start: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub bid: [f64; 4],
    pub ask: [f64; 4],
    pub volume: f64,
    pub notional: f64,
    pub count: u64,
}

impl Bucket {
    fn new(start: i64, q: &Quote, volume: f64, count: u64) -> Self {
        Self {
            start,
            open: q.last,
            high: q.last,
            low: q.last,
            close: q.last,
            bid: [q.bid; 4],
            ask: [q.ask; 4],
            volume,
            notional: volume * q.last,
            count,
        }
    }

    fn add(&mut self, q: &Quote, volume: f64, count: u64) {
        self.high = self.high.max(q.last);
        self.low = self.low.min(q.last);
        self.close = q.last;
        for (side, px) in [(&mut self.bid, q.bid), (&mut self.ask, q.ask)] {
            side[1] = side[1].max(px);
            side[2] = side[2].min(px);
            side[3] = px;
        }
        self.volume += volume;
        self.notional += volume * q.last;
        self.count += count;
    }
}

/// One instrument's walk.
#[derive(Debug, Clone)]
pub struct Walk {
    instrument: Instrument,
    rng: StdRng,
    log_price: f64,
    log_base: f64,
    quote: Quote,
    notional: f64,
    buckets: VecDeque<Bucket>,
}

fn session_rate(instrument: &Instrument, t: DateTime<Utc>) -> f64 {
    if instrument.schedule.session_at(t, Hours::Liquid).is_some() {
        1.0
    } else if instrument.schedule.session_at(t, Hours::Trading).is_some() {
        0.08
    } else {
        0.02
    }
}

impl Walk {
    fn new(seed: u64, instrument: &Instrument, now: DateTime<Utc>) -> Self {
        let mut rng = stream(seed, 0x5741_4C4B, instrument.con_id);
        let vol = instrument.daily_vol;
        let price = instrument.round_to_tick(instrument.base_price * (0.02 * normal(&mut rng)).exp());
        let close = instrument.round_to_tick(price * (-0.7 * vol * normal(&mut rng)).exp());
        let open = instrument.round_to_tick(close * (0.3 * vol * normal(&mut rng)).exp());
        let high = instrument.round_to_tick(open.max(price) * (1.0 + 0.3 * vol * normal(&mut rng).abs()));
        let low = instrument.round_to_tick(open.min(price) * (1.0 - 0.3 * vol * normal(&mut rng).abs()));
        let schedule = instrument.schedule;
        // How far through today's regular session `now` is (1 after the close, 0 before the open).
        let session = schedule.session_before(now, Hours::Liquid);
        let elapsed = if session.date == schedule.trade_date(now) {
            ((now - session.start).num_seconds() as f64 / session.seconds() as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let lot = lot_size(instrument);
        let volume = (instrument.avg_volume * elapsed * (0.2 * normal(&mut rng)).exp() / lot).round() * lot;
        let vwap = instrument.round_to_tick((open + high + low + price) / 4.0);
        let spread = spread_ticks(instrument, price) as f64 * instrument.min_tick;
        let quote = Quote {
            con_id: instrument.con_id,
            bid: price,
            ask: instrument.round_to_tick(price + spread),
            last: price,
            bid_size: book_size(instrument, &mut rng),
            ask_size: book_size(instrument, &mut rng),
            last_size: lot,
            open,
            high: high.max(price),
            low: low.min(price),
            close,
            volume,
            vwap,
            trade_count: (volume / (2.0 * lot)).round() as u64,
            last_time: now,
            trade_date: schedule.trade_date(now),
            step: 0,
            has_trades: instrument.sec_type != SecType::Cash,
        };
        Self {
            instrument: instrument.clone(),
            rng,
            log_price: price.ln(),
            log_base: instrument.base_price.ln(),
            notional: vwap * volume,
            quote,
            buckets: VecDeque::new(),
        }
    }

    pub fn quote(&self) -> &Quote {
        &self.quote
    }

    pub fn instrument(&self) -> &Instrument {
        &self.instrument
    }

    /// Recorded 5-second buckets, oldest first.
    pub fn buckets(&self) -> &VecDeque<Bucket> {
        &self.buckets
    }

    fn roll_day(&mut self, now: DateTime<Utc>) {
        let date = self.instrument.schedule.trade_date(now);
        if date != self.quote.trade_date {
            let q = &mut self.quote;
            q.close = q.last;
            q.open = q.last;
            q.high = q.last;
            q.low = q.last;
            q.volume = 0.0;
            q.vwap = q.last;
            q.trade_count = 0;
            q.trade_date = date;
            self.notional = 0.0;
        }
    }

    /// Move the price to `new_last` (on the grid) at `now` and print a trade of `volume`.
    fn print(&mut self, new_last: f64, volume: f64, now: DateTime<Utc>) {
        self.roll_day(now);
        let inst = &self.instrument;
        let tick = inst.min_tick;
        let mut spread_ticks = spread_ticks(inst, new_last);
        if self.rng.random::<f64>() < 0.2 {
            spread_ticks += 1;
        }
        let spread = spread_ticks as f64 * tick;
        let q = &mut self.quote;
        if new_last > q.last || (new_last == q.last && q.last == q.ask) {
            q.ask = new_last;
            q.bid = inst.round_to_tick((new_last - spread).max(tick));
        } else {
            q.bid = new_last;
            q.ask = inst.round_to_tick(new_last + spread);
        }
        if q.bid >= q.ask {
            q.ask = inst.round_to_tick(q.bid + tick);
        }
        q.last = new_last;
        q.bid_size = book_size(inst, &mut self.rng);
        q.ask_size = book_size(inst, &mut self.rng);
        let lot = lot_size(inst);
        q.last_size = (volume.min(lot * f64::from(self.rng.random_range(1u32..=10)))).max(lot.min(volume));
        q.volume += volume;
        self.notional += volume * new_last;
        if q.volume > 0.0 {
            q.vwap = inst.round_to_tick(self.notional / q.volume);
        }
        let count = (volume / (2.0 * lot)).ceil().max(1.0) as u64;
        q.trade_count += count;
        q.high = q.high.max(new_last);
        q.low = q.low.min(new_last);
        q.last_time = now;
        q.step += 1;
        let start = now.timestamp().div_euclid(5) * 5;
        match self.buckets.back_mut() {
            Some(b) if b.start == start => b.add(q, volume, count),
            _ => {
                self.buckets.push_back(Bucket::new(start, q, volume, count));
                if self.buckets.len() > BUCKET_CAP {
                    self.buckets.pop_front();
                }
            }
        }
    }

    fn step(&mut self, now: DateTime<Utc>) {
        let dt = ((now - self.quote.last_time).num_milliseconds() as f64 / 1000.0).clamp(0.25, 60.0);
        let sigma = self.instrument.daily_vol / SESSION_SECONDS.sqrt();
        let z = normal(&mut self.rng);
        self.log_price += -REVERSION_PER_SECOND * dt * (self.log_price - self.log_base) + sigma * dt.sqrt() * z;
        let tick = self.instrument.min_tick;
        let new_last = self.instrument.round_to_tick(self.log_price.exp()).max(tick);
        let lot = lot_size(&self.instrument);
        let rate = self.instrument.avg_volume / SESSION_SECONDS * session_rate(&self.instrument, now);
        let volume = ((rate * dt * (0.5 + self.rng.random::<f64>())) / lot).round().max(1.0) * lot;
        self.print(new_last, volume, now);
    }

    fn set_price(&mut self, price: f64, now: DateTime<Utc>) {
        let p = self.instrument.round_to_tick(price).max(self.instrument.min_tick);
        self.log_price = p.ln();
        let lot = lot_size(&self.instrument);
        self.print(p, lot, now);
    }
}

/// The unit volumes come in: a round lot of 100 shares, one contract, 1 000 units of forex.
pub fn lot_size(instrument: &Instrument) -> f64 {
    match instrument.sec_type {
        SecType::Stk => 100.0,
        SecType::Cash => 1000.0,
        _ => 1.0,
    }
}

fn spread_ticks(instrument: &Instrument, price: f64) -> i64 {
    match instrument.sec_type {
        SecType::Stk => ((price * 0.6e-4) / instrument.min_tick).round().max(1.0) as i64,
        _ => 1,
    }
}

fn book_size(instrument: &Instrument, rng: &mut StdRng) -> f64 {
    match instrument.sec_type {
        SecType::Stk => f64::from(rng.random_range(1u32..=30)) * 100.0,
        SecType::Cash => f64::from(rng.random_range(1u32..=20)) * 500_000.0,
        _ => f64::from(rng.random_range(1u32..=60)),
    }
}

/// All walks of a market, created on first use from the market seed.
#[derive(Debug, Clone)]
pub struct PriceBook {
    seed: u64,
    walks: HashMap<i32, Walk>,
}

impl PriceBook {
    pub fn new(seed: u64) -> Self {
        Self { seed, walks: HashMap::new() }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The walk of `instrument`, created at `now` if this is its first use.
    pub fn ensure(&mut self, instrument: &Instrument, now: DateTime<Utc>) -> &Walk {
        let seed = self.seed;
        self.walks.entry(instrument.con_id).or_insert_with(|| Walk::new(seed, instrument, now))
    }

    /// Advance `instrument` one step at `now`.
    pub fn step(&mut self, instrument: &Instrument, now: DateTime<Utc>) -> Quote {
        self.ensure(instrument, now);
        let walk = self.walks.get_mut(&instrument.con_id).expect("ensured");
        walk.step(now);
        walk.quote.clone()
    }

    /// Move `instrument` to `price` (rounded to its tick) at once; counts as a step.
    pub fn set_price(&mut self, instrument: &Instrument, price: f64, now: DateTime<Utc>) -> Result<Quote, MarketError> {
        if !(price.is_finite() && price > 0.0) {
            return Err(MarketError::BadPrice(price));
        }
        self.ensure(instrument, now);
        let walk = self.walks.get_mut(&instrument.con_id).expect("ensured");
        walk.set_price(price, now);
        Ok(walk.quote.clone())
    }

    /// The current book, if the instrument has been used.
    pub fn quote(&self, con_id: i32) -> Option<&Quote> {
        self.walks.get(&con_id).map(|w| &w.quote)
    }

    pub fn walk(&self, con_id: i32) -> Option<&Walk> {
        self.walks.get(&con_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::market::instruments::InstrumentTable;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 15, 0, 0).unwrap()
    }

    fn instrument(name: &str) -> Instrument {
        InstrumentTable::new().by_name(name, t0()).unwrap()
    }

    #[test]
    fn same_seed_same_walk_and_different_seed_differs() {
        let aapl = instrument("AAPL");
        let run = |seed| {
            let mut book = PriceBook::new(seed);
            (0..200).map(|i| book.step(&aapl, t0() + Duration::milliseconds(250 * i)).last).collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn book_respects_tick_and_spread_invariants() {
        for name in ["AAPL", "ES", "EUR.USD", "SPY"] {
            let inst = instrument(name);
            let mut book = PriceBook::new(5);
            for i in 0..2000 {
                let q = book.step(&inst, t0() + Duration::seconds(i));
                assert!(inst.on_tick(q.bid) && inst.on_tick(q.ask) && inst.on_tick(q.last), "{name} off tick: {q:?}");
                assert!(q.bid <= q.last && q.last <= q.ask, "{name}: {q:?}");
                assert!(q.ask - q.bid >= inst.min_tick * 0.999, "{name} spread below a tick: {q:?}");
                assert!(q.low <= q.last && q.last <= q.high);
            }
            let q = book.quote(inst.con_id).unwrap();
            // Two thousand seconds of walk stay within a few percent of the start.
            assert!((q.last / inst.base_price - 1.0).abs() < 0.2, "{name} drifted: {}", q.last);
        }
    }

    #[test]
    fn set_price_moves_at_once_and_rounds_to_tick() {
        let es = instrument("ES");
        let mut book = PriceBook::new(1);
        let q = book.set_price(&es, 5000.1, t0()).unwrap();
        assert_eq!(q.last, 5000.0);
        assert!(q.bid <= 5000.0 && q.ask >= 5000.0);
        assert_eq!(q.step, 1);
        assert!(matches!(book.set_price(&es, -1.0, t0()), Err(MarketError::BadPrice(_))));
    }

    #[test]
    fn day_rolls_at_the_trade_date_and_close_is_previous_last() {
        let aapl = instrument("AAPL");
        let mut book = PriceBook::new(3);
        let q1 = book.step(&aapl, t0());
        assert!(q1.volume > 0.0, "a day 5.5 h along already has volume");
        let late = book.set_price(&aapl, 250.0, Utc.with_ymd_and_hms(2026, 1, 14, 23, 0, 0).unwrap()).unwrap();
        let next = book.step(&aapl, Utc.with_ymd_and_hms(2026, 1, 15, 14, 31, 0).unwrap());
        assert_eq!(next.close, late.last);
        assert_eq!(next.open, 250.0);
        assert!(next.volume < late.volume);
        assert_eq!(next.trade_date, NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
    }

    #[test]
    fn buckets_record_five_second_ohlc_capped() {
        let aapl = instrument("AAPL");
        let mut book = PriceBook::new(3);
        for i in 0..20 {
            book.step(&aapl, t0() + Duration::seconds(i));
        }
        let w = book.walk(aapl.con_id).unwrap();
        assert_eq!(w.buckets().len(), 4);
        let b = &w.buckets()[1];
        assert_eq!(b.start % 5, 0);
        assert!(b.low <= b.open && b.open <= b.high && b.low <= b.close && b.close <= b.high);
        for i in 0..(BUCKET_CAP as i64 + 10) {
            book.step(&aapl, t0() + Duration::seconds(100 + 5 * i));
        }
        assert_eq!(book.walk(aapl.con_id).unwrap().buckets().len(), BUCKET_CAP);
    }

    #[test]
    fn forex_has_no_trades() {
        let mut book = PriceBook::new(3);
        assert!(!book.step(&instrument("EUR.USD"), t0()).has_trades);
        assert!(book.step(&instrument("AAPL"), t0()).has_trades);
    }
}
