//! The price path of one instrument over all time: the live walk's recorded 5-second buckets
//! where they exist, and before them a synthetic past joined continuously to the walk.
//!
//! The synthetic past is `anchor_price · exp(σ · (f(t) − f(anchor)))` with `f` the seeded
//! multi-scale noise of [`super::noise`] and σ = daily volatility / √86 400 (the noise runs in
//! calendar seconds). The anchor is the first recorded bucket (its start and open), or the
//! current quote when nothing is recorded yet, so the newest bar always ends at the live price
//! and the same seed gives the same past. As the bucket ring rolls the anchor moves and the
//! far past shifts slightly: TWS's own history is "adjusted, compressed and filtered" and
//! differs between requests too (IBKR Campus, "Historical Data Filtering").

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeZone, Utc};

use super::instruments::Instrument;
use super::noise::{mix, normal_from, Synthetic};
use super::prices::{lot_size, Bucket, Quote, Walk};
use super::sessions::Hours;

/// Which price a bar or sample follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Trade,
    Bid,
    Ask,
    Mid,
}

/// Open, high, low, close.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ohlc {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Time-weighted mean of the samples.
    pub mean: f64,
}

/// Volume, notional and trade count over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Activity {
    pub volume: f64,
    pub notional: f64,
    pub count: u64,
}

/// Samples per synthetic bar (open, inner points, close).
const SAMPLES: usize = 8;

/// The path of one instrument, borrowed from its walk.
pub struct PricePath<'a> {
    seed: u64,
    instrument: &'a Instrument,
    buckets: &'a VecDeque<Bucket>,
    quote: &'a Quote,
    anchor_t: f64,
    anchor_price: f64,
    sigma: f64,
    anchor_offsets: RefCell<HashMap<u64, f64>>,
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

impl<'a> PricePath<'a> {
    pub fn new(seed: u64, walk: &'a Walk) -> Self {
        let quote = walk.quote();
        let buckets = walk.buckets();
        let (anchor_t, anchor_price) = match buckets.front() {
            Some(b) => (b.start as f64, b.open),
            None => (secs(quote.last_time), quote.last),
        };
        let instrument = walk.instrument();
        Self {
            seed,
            instrument,
            buckets,
            quote,
            anchor_t,
            anchor_price,
            sigma: instrument.daily_vol / 86_400f64.sqrt(),
            anchor_offsets: RefCell::new(HashMap::new()),
        }
    }

    pub fn instrument(&self) -> &Instrument {
        self.instrument
    }

    pub fn quote(&self) -> &Quote {
        self.quote
    }

    /// When the recorded (live) part of the path begins.
    pub fn live_since(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt((self.anchor_t * 1000.0) as i64).single().unwrap_or(self.quote.last_time)
    }

    fn half_spread(&self, price: f64) -> f64 {
        let ticks = if self.instrument.sec_type == super::instruments::SecType::Stk {
            ((price * 0.6e-4) / self.instrument.min_tick).round().max(1.0)
        } else {
            1.0
        };
        ticks * self.instrument.min_tick / 2.0
    }

    /// The synthetic trade price at `t` (before the anchor), at `resolution` seconds.
    fn synthetic(&self, t: f64, resolution: f64) -> f64 {
        let mut cursor = Synthetic::new(self.seed, self.instrument.con_id, resolution);
        self.synthetic_from(self.anchor_offset(resolution), &mut cursor, t)
    }

    /// The synthetic offset at the anchor for `resolution`, cached: every bar of a request
    /// shares it.
    fn anchor_offset(&self, resolution: f64) -> f64 {
        *self
            .anchor_offsets
            .borrow_mut()
            .entry(resolution.to_bits())
            .or_insert_with(|| Synthetic::new(self.seed, self.instrument.con_id, resolution).at(self.anchor_t))
    }

    /// As [`Self::synthetic`] with the anchor's offset precomputed and a reusable cursor.
    fn synthetic_from(&self, anchor_offset: f64, cursor: &mut Synthetic, t: f64) -> f64 {
        self.anchor_price * (self.sigma * (cursor.at(t) - anchor_offset)).exp()
    }

    fn on_side(&self, trade: f64, side: Side) -> f64 {
        let half = self.half_spread(trade);
        let p = match side {
            Side::Trade | Side::Mid => trade,
            Side::Bid => trade - half,
            Side::Ask => trade + half,
        };
        match side {
            // A midpoint may sit on a half tick.
            Side::Mid => (p / (self.instrument.min_tick / 2.0)).round() * (self.instrument.min_tick / 2.0),
            _ => self.instrument.round_to_tick(p.max(self.instrument.min_tick)),
        }
    }

    /// The recorded price at `t` (after the anchor): the close of the latest bucket started
    /// at or before `t`, else the current quote.
    fn recorded(&self, t: f64, side: Side) -> f64 {
        let idx = self.buckets.partition_point(|b| (b.start as f64) <= t);
        let from_quote = |q: &Quote| match side {
            Side::Trade => q.last,
            Side::Bid => q.bid,
            Side::Ask => q.ask,
            Side::Mid => q.mid(),
        };
        match idx.checked_sub(1).and_then(|i| self.buckets.get(i)) {
            Some(b) => match side {
                Side::Trade => b.close,
                Side::Bid => b.bid[3],
                Side::Ask => b.ask[3],
                Side::Mid => (b.bid[3] + b.ask[3]) / 2.0,
            },
            None => from_quote(self.quote),
        }
    }

    /// The recorded price just before `t`: the close of the latest bucket started before it.
    fn recorded_before(&self, t: f64, side: Side) -> f64 {
        let idx = self.buckets.partition_point(|b| (b.start as f64) < t);
        match idx.checked_sub(1) {
            Some(_) => self.recorded(self.buckets[idx - 1].start as f64, side),
            None => self.recorded(t, side),
        }
    }

    /// The price on `side` at `t`.
    pub fn price_at(&self, t: DateTime<Utc>, side: Side) -> f64 {
        let x = secs(t);
        if x >= self.anchor_t {
            self.recorded(x, side)
        } else {
            self.on_side(self.synthetic(x, 1.0), side)
        }
    }

    /// OHLC on `side` over `[a, b)`.
    pub fn ohlc(&self, a: DateTime<Utc>, b: DateTime<Utc>, side: Side) -> Ohlc {
        let (xa, xb) = (secs(a), secs(b).max(secs(a)));
        let mut samples: Vec<f64> = Vec::with_capacity(SAMPLES + 8);
        if xa < self.anchor_t {
            let end = xb.min(self.anchor_t);
            let step = ((end - xa) / (SAMPLES - 1) as f64).max(1e-3);
            let n = if end > xa { SAMPLES } else { 1 };
            // Bars of one request share a few sample spacings: round the resolution to a
            // power of two so the anchor offset is computed once per spacing class.
            let resolution = 2f64.powi(step.max(1.0).log2().floor() as i32);
            let anchor_offset = self.anchor_offset(resolution);
            let mut cursor = Synthetic::new(self.seed, self.instrument.con_id, resolution);
            for i in 0..n {
                samples.push(self.on_side(self.synthetic_from(anchor_offset, &mut cursor, xa + step * i as f64), side));
            }
        }
        if xb > self.anchor_t {
            let from = xa.max(self.anchor_t);
            let inside: Vec<&Bucket> =
                self.buckets.iter().filter(|k| (k.start as f64) >= from && (k.start as f64) < xb).collect();
            // The bar opens at the price standing at `from`: a bucket starting right there
            // gives its own open, else the last price before it.
            if inside.first().is_none_or(|k| k.start as f64 > from) {
                samples.push(self.recorded_before(from, side));
            }
            for bucket in inside {
                let (o, h, l, c) = match side {
                    Side::Trade => (bucket.open, bucket.high, bucket.low, bucket.close),
                    Side::Bid => (bucket.bid[0], bucket.bid[1], bucket.bid[2], bucket.bid[3]),
                    Side::Ask => (bucket.ask[0], bucket.ask[1], bucket.ask[2], bucket.ask[3]),
                    Side::Mid => {
                        let m = |i: usize| (bucket.bid[i] + bucket.ask[i]) / 2.0;
                        (m(0), m(1), m(2), m(3))
                    }
                };
                samples.extend([o, h, l, c]);
            }
            // The bar closes at the price standing at `b` (inclusive of a print at `b`).
            if secs(self.quote.last_time) >= from {
                samples.push(self.recorded(xb, side));
            }
        }
        let open = samples[0];
        let close = *samples.last().expect("at least one sample");
        let high = samples.iter().copied().fold(f64::MIN, f64::max);
        let low = samples.iter().copied().fold(f64::MAX, f64::min);
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        Ohlc { open, high, low, close, mean }
    }

    /// Traded volume over `[a, b)`: recorded buckets for the live part, a seeded share of the
    /// average daily volume for the synthetic part (by the session time it covers), priced at
    /// `typical` for its notional.
    pub fn activity(&self, a: DateTime<Utc>, b: DateTime<Utc>, typical: f64) -> Activity {
        let (xa, xb) = (secs(a), secs(b));
        let mut act = Activity::default();
        if xa < self.anchor_t {
            let end = self.live_since().min(b);
            let schedule = self.instrument.schedule;
            let covered = |hours| -> f64 {
                schedule
                    .sessions_between(a, end, hours)
                    .iter()
                    .map(|s| (s.end.min(end) - s.start.max(a)).num_seconds().max(0) as f64)
                    .sum()
            };
            let liquid = covered(Hours::Liquid);
            let extended = (covered(Hours::Trading) - liquid).max(0.0);
            let share = (liquid + 0.08 * extended) / 23_400.0;
            let noise =
                (0.35 * normal_from(mix(self.seed, &[0x0056_4F4C, self.instrument.con_id as u64, xa as u64]))).exp();
            let lot = lot_size(self.instrument);
            let volume = (self.instrument.avg_volume * share * noise / lot).round() * lot;
            act.volume += volume;
            act.notional += volume * typical;
            act.count += (volume / (2.0 * lot)).round() as u64;
        }
        for bucket in self.buckets.iter().filter(|k| (k.start as f64) >= xa && (k.start as f64) < xb) {
            act.volume += bucket.volume;
            act.notional += bucket.notional;
            act.count += bucket.count;
        }
        act
    }

    /// A slowly moving annualised volatility level (for HISTORICAL_VOLATILITY,
    /// OPTION_IMPLIED_VOLATILITY and ticks 104/106/411): around daily vol · √252.
    pub fn volatility_at(&self, t: DateTime<Utc>, implied: bool) -> f64 {
        let base = self.instrument.daily_vol * 252f64.sqrt() * if implied { 1.08 } else { 1.0 };
        let salt: u64 = if implied { 0x4956 } else { 0x4856 };
        // Daily knots, linearly interpolated: the level drifts over days, not ticks.
        let day = secs(t) / 86_400.0;
        let knot = |d: f64| normal_from(mix(self.seed, &[salt, self.instrument.con_id as u64, d as i64 as u64]));
        let (i, frac) = (day.floor(), day - day.floor());
        let z = knot(i) + (knot(i + 1.0) - knot(i)) * frac;
        base * (0.15 * z).exp()
    }

    /// Lowest and highest daily close over the `weeks` weeks before `now`, including today's
    /// range (ticks 15–20, generic tick 165).
    pub fn range_weeks(&self, now: DateTime<Utc>, weeks: i64) -> (f64, f64) {
        let q = self.quote;
        let (mut low, mut high) = (q.low.min(q.last), q.high.max(q.last));
        for day in 1..=(weeks * 7) {
            let t = now - chrono::Duration::days(day);
            let p = self.instrument.round_to_tick(self.price_at_resolution(t, 86_400.0));
            low = low.min(p);
            high = high.max(p);
        }
        (low, high)
    }

    fn price_at_resolution(&self, t: DateTime<Utc>, resolution: f64) -> f64 {
        let x = secs(t);
        if x >= self.anchor_t {
            self.recorded(x, Side::Trade)
        } else {
            self.synthetic(x, resolution)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::market::instruments::InstrumentTable;
    use crate::sim::market::prices::PriceBook;
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 15, 0, 0).unwrap()
    }

    #[test]
    fn past_joins_the_live_walk_and_is_deterministic() {
        let aapl = InstrumentTable::new().by_name("AAPL", t0()).unwrap();
        let mut book = PriceBook::new(9);
        for i in 0..100 {
            book.step(&aapl, t0() + Duration::seconds(i));
        }
        let path = PricePath::new(9, book.walk(aapl.con_id).unwrap());
        let live = path.live_since();
        // Just before the anchor the synthetic price is within a few ticks of the first live open.
        let before = path.price_at(live - Duration::seconds(1), Side::Trade);
        let first_open = book.walk(aapl.con_id).unwrap().buckets()[0].open;
        assert!((before - first_open).abs() < 0.2, "{before} vs {first_open}");
        assert_eq!(path.price_at(t0() + Duration::seconds(200), Side::Trade), path.quote().last);
        let day_ago = path.price_at(t0() - Duration::days(1), Side::Trade);
        let again = PricePath::new(9, book.walk(aapl.con_id).unwrap()).price_at(t0() - Duration::days(1), Side::Trade);
        assert_eq!(day_ago, again);
        assert!((day_ago / first_open - 1.0).abs() < 0.15);
        let o = path.ohlc(t0() - Duration::hours(2), t0() - Duration::hours(1), Side::Trade);
        assert!(o.low <= o.open.min(o.close) && o.high >= o.open.max(o.close));
        let bid = path.price_at(t0() - Duration::hours(3), Side::Bid);
        let ask = path.price_at(t0() - Duration::hours(3), Side::Ask);
        assert!(bid < ask && aapl.on_tick(bid) && aapl.on_tick(ask));
    }

    #[test]
    fn synthetic_volume_follows_sessions() {
        let aapl = InstrumentTable::new().by_name("AAPL", t0()).unwrap();
        let mut book = PriceBook::new(9);
        book.step(&aapl, t0());
        let path = PricePath::new(9, book.walk(aapl.con_id).unwrap());
        // A regular-hours hour trades far more than a weekend hour.
        let rth = path.activity(t0() - Duration::days(1), t0() - Duration::days(1) + Duration::hours(1), 230.0);
        let weekend = path.activity(
            Utc.with_ymd_and_hms(2026, 1, 10, 15, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 10, 16, 0, 0).unwrap(),
            230.0,
        );
        assert!(rth.volume > 1e6, "{rth:?}");
        assert_eq!(weekend.volume, 0.0);
        let (low, high) = path.range_weeks(t0(), 52);
        assert!(low < path.quote().last && path.quote().last < high && low > 0.0);
    }
}
