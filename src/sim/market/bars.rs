//! Historical bars (`reqHistoricalData`), the keep-up-to-date bar (`historicalDataUpdate`),
//! 5-second real-time bars (`reqRealTimeBars`) and the head timestamp (`reqHeadTimestamp`),
//! all cut from the same [`PricePath`] the live ticks come from.
//!
//! Facts implemented (IBKR Campus "Market Data: Historical" / "Market Data: Live" unless noted):
//! - Bars carry open, high, low, close, volume, WAP and trade count. For TRADES and
//!   ADJUSTED_LAST all are real; for MIDPOINT, BID, ASK, BID_ASK and the volatility types
//!   TWS sends volume, WAP and count as -1 (as the bar tables show "N/A").
//! - BID_ASK: open = time-average bid, high = max ask, low = min bid, close = time-average ask.
//! - Intraday bars are aligned to multiples of the bar size from local midnight in the
//!   instrument's zone and clipped to the session, so with `useRTH` the first hourly bar of a
//!   US stock starts at 09:30. Day bars are one per session, dated (formatDate gives only
//!   `yyyyMMdd` for them); week bars group sessions by ISO week, month bars by calendar
//!   month, each dated by its first session. `useRTH = 1` keeps regular hours only, `0` the
//!   whole trading session.
//! - Durations: `S` counts session seconds back from the end (IB counts trading time:
//!   `wboayue/rust-ibapi#837`, verified live), `D` counts sessions ("D is session-aligned",
//!   same source), `W`/`M`/`Y` are calendar weeks, months and years. Nothing before the
//!   instrument's head timestamp is returned.
//! - An empty end means now: the last bar is the one in progress and ends at the live price.
//! - keepUpToDate: "updates of the most recent partial … bar will continue to be returned"
//!   roughly every 1–2 s, the same timestamp repeating until the bar completes.
//! - Real-time bars (as [`Bar`]s): one bar every five seconds (time = bar start), OHLC over
//!   the period; volume, WAP and count only for TRADES. If a subscriber falls behind by more
//!   than an hour, older bars are skipped (the simulator's bound).
//! - TRADES has no data for forex ("Supported Products" lists no Forex for TRADES); the
//!   answer is 162 "HMDS query returned no data: EUR.USD@IDEALPRO Trades" (the shape TWS uses,
//!   `wrighter/ib-scripts#17`). Types the simulator does not model (FEE_RATE, REBATE_RATE,
//!   YIELD_*, AGGTRADES) answer the same way.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::bar_spec::{parse_end, BarSize, DurationSpec, DurationUnit, WhatToShow, MAX_BARS};
use super::error::MarketError;
use super::history::{PricePath, Side};
use super::instruments::{Instrument, SecType};
use super::sessions::{local_midnight, Hours, Session};

/// A historical data request as the client sends it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoricalRequest {
    pub end_date_time: String,
    pub duration: String,
    pub bar_size: String,
    pub what_to_show: String,
    pub use_rth: bool,
    pub keep_up_to_date: bool,
}

/// A validated request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarQuery {
    pub bar: BarSize,
    pub duration: DurationSpec,
    pub what: WhatToShow,
    pub end: DateTime<Utc>,
    pub use_rth: bool,
    pub keep_up_to_date: bool,
}

/// A bar's time: a date for day and longer bars, else the bar's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BarTime {
    Date(NaiveDate),
    Time(DateTime<Utc>),
}

/// One historical bar; `volume`, `wap` and `count` are -1 where TWS sends none.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bar {
    pub time: BarTime,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub wap: f64,
    pub count: i64,
}

/// The answer to a bars request: `historicalData` items then `historicalDataEnd(start, end)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoricalBars {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub bars: Vec<Bar>,
}

/// One session of a SCHEDULE answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleSession {
    pub ref_date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The answer to `whatToShow = SCHEDULE` (`historicalSchedule`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoricalSchedule {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub time_zone: &'static str,
    pub sessions: Vec<ScheduleSession>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum HistoricalAnswer {
    Bars(HistoricalBars),
    Schedule(HistoricalSchedule),
}

fn no_data(instrument: &Instrument, what: WhatToShow) -> MarketError {
    let exchange = if instrument.sec_type == SecType::Stk { "SMART" } else { instrument.primary_exchange.as_str() };
    let name = what.as_str();
    let pretty: String = name.chars().take(1).chain(name.chars().skip(1).map(|c| c.to_ascii_lowercase())).collect();
    MarketError::HistoricalService(format!(
        "HMDS query returned no data: {}@{exchange} {pretty}",
        instrument.local_symbol
    ))
}

/// Validate `req` for `instrument`, in the order TWS checks: bar size, duration, type, end,
/// keepUpToDate, step size, product support, size of the answer.
pub fn validate(
    instrument: &Instrument,
    req: &HistoricalRequest,
    local: Tz,
    now: DateTime<Utc>,
) -> Result<BarQuery, MarketError> {
    let bar = BarSize::parse(&req.bar_size)?;
    let duration = DurationSpec::parse(&req.duration)?;
    let what = WhatToShow::parse(&req.what_to_show)?;
    let end = parse_end(&req.end_date_time, local, now)?.min(now);
    if req.keep_up_to_date {
        if !req.end_date_time.trim().is_empty() {
            return Err(MarketError::Validation {
                token: "bQ",
                cause: "End date not supported with live updates".into(),
            });
        }
        if !what.is_live() || bar.seconds() < 5 {
            return Err(MarketError::Validation {
                token: "bQ",
                cause: format!("keepUpToDate is only available for TRADES, MIDPOINT, BID, ASK with bars of 5 secs or more, not {} {}", what.as_str(), bar.as_str()),
            });
        }
    }
    if what != WhatToShow::Schedule {
        duration.check_bar(bar)?;
    }
    let supported = match what {
        WhatToShow::Trades | WhatToShow::AdjustedLast => instrument.sec_type != SecType::Cash,
        WhatToShow::Midpoint | WhatToShow::Bid | WhatToShow::Ask | WhatToShow::BidAsk | WhatToShow::Schedule => true,
        WhatToShow::HistoricalVolatility | WhatToShow::OptionImpliedVolatility => instrument.sec_type == SecType::Stk,
        _ => false,
    };
    if !supported {
        return Err(no_data(instrument, what));
    }
    let fraction = match (instrument.sec_type, req.use_rth) {
        (SecType::Stk, true) => 0.19,
        (SecType::Stk, false) => 0.48,
        _ => 0.7,
    };
    let estimate = (duration.approx_seconds() as f64 * fraction / bar.seconds() as f64) as u64;
    if what != WhatToShow::Schedule && estimate > 4 * MAX_BARS {
        return Err(MarketError::HistoricalService("Time length exceed max.".into()));
    }
    Ok(BarQuery { bar, duration, what, end, use_rth: req.use_rth, keep_up_to_date: req.keep_up_to_date })
}

fn hours(use_rth: bool) -> Hours {
    if use_rth {
        Hours::Liquid
    } else {
        Hours::Trading
    }
}

/// Where a window of `duration` ending at `end` starts.
fn window_start(instrument: &Instrument, duration: DurationSpec, end: DateTime<Utc>, hours: Hours) -> DateTime<Utc> {
    let schedule = instrument.schedule;
    let n = i64::from(duration.count);
    let from = match duration.unit {
        DurationUnit::S => {
            let (mut remaining, mut cur) = (n, end);
            loop {
                let s = schedule.session_before(cur, hours);
                let upto = s.end.min(cur);
                let have = (upto - s.start).num_seconds().max(0);
                if have >= remaining || s.start <= instrument.head_timestamp {
                    break upto - Duration::seconds(remaining.min(have));
                }
                remaining -= have;
                cur = s.start;
            }
        }
        DurationUnit::D => {
            let mut s = schedule.session_before(end, hours);
            for _ in 1..n {
                if s.start <= instrument.head_timestamp {
                    break;
                }
                s = schedule.session_before(s.start, hours);
            }
            s.start
        }
        DurationUnit::W => end - Duration::days(7 * n),
        DurationUnit::M => end.checked_sub_months(Months::new(duration.count)).unwrap_or(end),
        DurationUnit::Y => end.checked_sub_months(Months::new(12 * duration.count)).unwrap_or(end),
    };
    from.max(instrument.head_timestamp)
}

/// One bar's time and its interval `[start, end)`.
type Span = (BarTime, DateTime<Utc>, DateTime<Utc>);

/// Bar intervals covering `[from, to)`; `Err` past `cap` bars.
fn intervals(
    instrument: &Instrument,
    bar: BarSize,
    hours: Hours,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cap: u64,
) -> Result<Vec<Span>, MarketError> {
    let schedule = instrument.schedule;
    let sessions = schedule.sessions_between(from, to, hours);
    let too_many = || MarketError::HistoricalService("Time length exceed max.".into());
    let mut out = Vec::new();
    if bar.is_intraday() {
        let len = Duration::seconds(bar.seconds());
        for s in &sessions {
            let midnight = local_midnight(schedule.tz(), s.start);
            let k = (s.start - midnight).num_seconds().div_euclid(bar.seconds());
            let mut start = midnight + Duration::seconds(k * bar.seconds());
            while start < s.end.min(to) {
                let label = start.max(s.start);
                let end = (start + len).min(s.end).min(to);
                if label >= from && end > label {
                    out.push((BarTime::Time(label), label, end));
                    if out.len() as u64 > cap {
                        return Err(too_many());
                    }
                }
                start += len;
            }
        }
        return Ok(out);
    }
    let group = |s: &Session| -> (i32, u32) {
        match bar {
            BarSize::Week => (s.date.iso_week().year(), s.date.iso_week().week()),
            BarSize::Month => (s.date.year(), s.date.month()),
            _ => (s.date.year(), s.date.ordinal()),
        }
    };
    // The group being built: its key and span.
    let mut current: Option<((i32, u32), Span)> = None;
    // A day (week, month) bar counts from its first session that starts inside the window.
    for s in sessions.iter().filter(|s| s.start >= from) {
        let key = group(s);
        let end = s.end.min(to);
        match &mut current {
            Some((k, span)) if *k == key => span.2 = end,
            _ => {
                out.extend(current.take().map(|(_, span)| span));
                current = Some((key, (BarTime::Date(s.date), s.start, end)));
            }
        }
    }
    out.extend(current.map(|(_, span)| span));
    Ok(out)
}

/// One bar of `what` over `[a, b)`.
fn bar_over(path: &PricePath, what: WhatToShow, time: BarTime, a: DateTime<Utc>, b: DateTime<Utc>) -> Bar {
    let plain = |side| {
        let o = path.ohlc(a, b, side);
        Bar { time, open: o.open, high: o.high, low: o.low, close: o.close, volume: -1.0, wap: -1.0, count: -1 }
    };
    match what {
        WhatToShow::Trades | WhatToShow::AdjustedLast => {
            let o = path.ohlc(a, b, Side::Trade);
            let act = path.activity(a, b, o.mean);
            let wap = if act.volume > 0.0 { act.notional / act.volume } else { o.mean };
            Bar {
                time,
                open: o.open,
                high: o.high,
                low: o.low,
                close: o.close,
                volume: act.volume,
                wap,
                count: act.count as i64,
            }
        }
        WhatToShow::Bid => plain(Side::Bid),
        WhatToShow::Ask => plain(Side::Ask),
        WhatToShow::BidAsk => {
            let (bid, ask) = (path.ohlc(a, b, Side::Bid), path.ohlc(a, b, Side::Ask));
            let tick = path.instrument().min_tick;
            let avg = |x: f64| (x / tick).round() * tick;
            Bar {
                time,
                open: avg(bid.mean),
                high: ask.high,
                low: bid.low,
                close: avg(ask.mean),
                volume: -1.0,
                wap: -1.0,
                count: -1,
            }
        }
        WhatToShow::HistoricalVolatility | WhatToShow::OptionImpliedVolatility => {
            let implied = what == WhatToShow::OptionImpliedVolatility;
            let mid = a + (b - a) / 2;
            let v: Vec<f64> = [a, mid, b].iter().map(|t| path.volatility_at(*t, implied)).collect();
            let (high, low) = (v.iter().copied().fold(f64::MIN, f64::max), v.iter().copied().fold(f64::MAX, f64::min));
            Bar { time, open: v[0], high, low, close: v[2], volume: -1.0, wap: -1.0, count: -1 }
        }
        _ => plain(Side::Mid),
    }
}

/// Answer a validated query from `path`.
pub fn historical(path: &PricePath, q: &BarQuery) -> Result<HistoricalAnswer, MarketError> {
    let instrument = path.instrument();
    let hours = hours(q.use_rth);
    let from = window_start(instrument, q.duration, q.end, hours);
    if q.what == WhatToShow::Schedule {
        let sessions = instrument
            .schedule
            .sessions_between(from, q.end, hours)
            .into_iter()
            .map(|s| ScheduleSession { ref_date: s.date, start: s.start, end: s.end })
            .collect();
        return Ok(HistoricalAnswer::Schedule(HistoricalSchedule {
            start: from,
            end: q.end,
            time_zone: instrument.schedule.tz_id(),
            sessions,
        }));
    }
    let spans = intervals(instrument, q.bar, hours, from, q.end, MAX_BARS)?;
    if spans.is_empty() {
        return Err(no_data(instrument, q.what));
    }
    let bars = spans.into_iter().map(|(time, a, b)| bar_over(path, q.what, time, a, b)).collect();
    Ok(HistoricalAnswer::Bars(HistoricalBars { start: from, end: q.end, bars }))
}

/// The earliest data `reqHeadTimestamp` reports.
pub fn head_timestamp(instrument: &Instrument, what_to_show: &str) -> Result<DateTime<Utc>, MarketError> {
    let what = WhatToShow::parse(what_to_show)?;
    if what == WhatToShow::Trades && instrument.sec_type == SecType::Cash {
        return Err(no_data(instrument, what));
    }
    Ok(instrument.head_timestamp)
}

/// A keepUpToDate subscription: the bar in progress, re-sent as the walk moves.
#[derive(Debug, Clone, PartialEq)]
pub struct BarUpdates {
    pub con_id: i32,
    query: BarQuery,
}

impl BarUpdates {
    pub fn new(con_id: i32, query: BarQuery) -> Self {
        Self { con_id, query }
    }

    /// The bar containing `now` (ending at `now`), or `None` outside the session.
    pub fn current(&self, path: &PricePath, now: DateTime<Utc>) -> Option<Bar> {
        let instrument = path.instrument();
        let hours = hours(self.query.use_rth);
        let session = instrument.schedule.session_at(now, hours)?;
        let from = if self.query.bar.is_intraday() { session.start } else { now - Duration::days(40) };
        let spans = intervals(instrument, self.query.bar, hours, from, now + Duration::seconds(1), MAX_BARS).ok()?;
        let (time, a, _) = spans.into_iter().rev().find(|(_, a, b)| *a <= now && now < *b)?;
        Some(bar_over(path, self.query.what, time, a, now))
    }
}

/// A `reqRealTimeBars` subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct RealTimeBars {
    pub con_id: i32,
    what: WhatToShow,
    use_rth: bool,
    next: i64,
}

impl RealTimeBars {
    /// Subscribe at `now`; the first bar is the first 5-second period starting after `now`.
    pub fn new(con_id: i32, what_to_show: &str, use_rth: bool, now: DateTime<Utc>) -> Result<Self, MarketError> {
        let what = WhatToShow::parse(what_to_show)?;
        if !what.is_live() {
            return Err(MarketError::Validation {
                token: "bW",
                cause: format!("Real time bars are available for TRADES, MIDPOINT, BID and ASK, not {}", what.as_str()),
            });
        }
        Ok(Self { con_id, what, use_rth, next: (now.timestamp() + 4).div_euclid(5) * 5 })
    }

    /// Bars completed by `now` since the last poll (`realtimeBar`: time = the bar's start).
    pub fn poll(&mut self, path: &PricePath, now: DateTime<Utc>) -> Vec<Bar> {
        let now_s = now.timestamp();
        self.next = self.next.max((now_s - 3600).div_euclid(5) * 5);
        let mut out = Vec::new();
        while self.next + 5 <= now_s {
            let a = DateTime::from_timestamp(self.next, 0).expect("in range");
            let b = a + Duration::seconds(5);
            self.next += 5;
            if self.use_rth && path.instrument().schedule.session_at(a, Hours::Liquid).is_none() {
                continue;
            }
            out.push(bar_over(path, self.what, BarTime::Time(a), a, b));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::market::instruments::InstrumentTable;
    use crate::sim::market::prices::PriceBook;
    use chrono::TimeZone;

    const NY: Tz = chrono_tz::America::New_York;

    /// Wednesday 2026-01-14 11:00 New York.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 16, 0, 0).unwrap()
    }

    fn setup(name: &str, seed: u64) -> (Instrument, PriceBook) {
        let inst = InstrumentTable::new().by_name(name, now()).unwrap();
        let mut book = PriceBook::new(seed);
        for i in 0..30 {
            book.step(&inst, now() - Duration::seconds(30 - i));
        }
        (inst, book)
    }

    fn req(duration: &str, bar: &str, what: &str, rth: bool) -> HistoricalRequest {
        HistoricalRequest {
            duration: duration.into(),
            bar_size: bar.into(),
            what_to_show: what.into(),
            use_rth: rth,
            ..Default::default()
        }
    }

    fn bars(
        inst: &Instrument,
        book: &PriceBook,
        seed: u64,
        r: &HistoricalRequest,
    ) -> Result<HistoricalBars, MarketError> {
        let q = validate(inst, r, NY, now())?;
        match historical(&PricePath::new(seed, book.walk(inst.con_id).unwrap()), &q)? {
            HistoricalAnswer::Bars(b) => Ok(b),
            other => panic!("expected bars, got {other:?}"),
        }
    }

    #[test]
    fn every_valid_bar_size_with_a_valid_duration_returns_consistent_bars() {
        let (inst, book) = setup("AAPL", 21);
        let last = book.quote(inst.con_id).unwrap().last;
        for bar in BarSize::ALL {
            let duration = match bar.seconds() {
                1 => "1800 S",
                s if s < 60 => "1 D",
                s if s < 3600 => "1 W",
                s if s < 86_400 => "1 M",
                86_400 => "1 Y",
                _ => "5 Y",
            };
            for rth in [true, false] {
                let b = bars(&inst, &book, 21, &req(duration, bar.as_str(), "TRADES", rth))
                    .unwrap_or_else(|e| panic!("{} {duration}: {e}", bar.as_str()));
                assert!(!b.bars.is_empty(), "{} {duration}", bar.as_str());
                for w in b.bars.windows(2) {
                    let key = |t: &BarTime| match t {
                        BarTime::Date(d) => d.and_hms_opt(0, 0, 0).unwrap().and_utc(),
                        BarTime::Time(t) => *t,
                    };
                    assert!(key(&w[0].time) < key(&w[1].time), "{} not ascending", bar.as_str());
                }
                for x in &b.bars {
                    assert!(x.low <= x.open.min(x.close) && x.high >= x.open.max(x.close), "{} {x:?}", bar.as_str());
                    assert!(
                        inst.on_tick(x.open) && inst.on_tick(x.close) && inst.on_tick(x.high),
                        "{} {x:?}",
                        bar.as_str()
                    );
                    assert!(x.volume >= 0.0 && x.count >= 0);
                }
                assert!(matches!(b.bars[0].time, BarTime::Date(_)) != bar.is_intraday());
                let close = b.bars.last().unwrap().close;
                assert!(
                    (close - last).abs() <= inst.min_tick * 0.5,
                    "{}: last bar closes at {close}, walk at {last}",
                    bar.as_str()
                );
            }
        }
    }

    #[test]
    fn rth_hour_bars_start_at_930_and_count_seven_a_day() {
        let (inst, book) = setup("AAPL", 3);
        let end = "20260113 16:00:00 US/Eastern";
        let b = bars(
            &inst,
            &book,
            3,
            &HistoricalRequest { end_date_time: end.into(), ..req("1 D", "1 hour", "TRADES", true) },
        )
        .unwrap();
        let times: Vec<String> = b
            .bars
            .iter()
            .map(|x| match x.time {
                BarTime::Time(t) => t.with_timezone(&NY).format("%H:%M").to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(times, ["09:30", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]);
        // Without RTH the session runs 04:00–20:00.
        let b = bars(
            &inst,
            &book,
            3,
            &HistoricalRequest { end_date_time: end.into(), ..req("1 D", "1 hour", "TRADES", false) },
        )
        .unwrap();
        assert_eq!(b.bars.len(), 12, "04:00..16:00");
        assert_eq!(b.bars[0].time, BarTime::Time(Utc.with_ymd_and_hms(2026, 1, 13, 9, 0, 0).unwrap()));
    }

    #[test]
    fn durations_in_sessions_seconds_and_calendar() {
        let (inst, book) = setup("AAPL", 3);
        // 1 D on a Wednesday at 11:00 with RTH = today's bars so far.
        let b = bars(&inst, &book, 3, &req("1 D", "30 mins", "MIDPOINT", true)).unwrap();
        assert_eq!(b.bars.len(), 3, "09:30, 10:00, 10:30 (in progress until 11:00 = now)");
        assert!(b.bars.iter().all(|x| x.volume == -1.0 && x.wap == -1.0 && x.count == -1));
        // 3 D of day bars = Monday, Tuesday, Wednesday.
        let d = bars(&inst, &book, 3, &req("3 D", "1 day", "TRADES", true)).unwrap();
        let dates: Vec<BarTime> = d.bars.iter().map(|x| x.time).collect();
        assert_eq!(
            dates,
            (12..=14).map(|day| BarTime::Date(NaiveDate::from_ymd_opt(2026, 1, day).unwrap())).collect::<Vec<_>>()
        );
        // 3600 S with RTH at 11:00 covers 10:00–11:00: an hour of minute bars.
        let s = bars(&inst, &book, 3, &req("3600 S", "1 min", "BID", true)).unwrap();
        assert_eq!(s.bars.len(), 60);
        // Two calendar weeks of day bars: ten sessions.
        assert_eq!(bars(&inst, &book, 3, &req("2 W", "1 day", "ASK", true)).unwrap().bars.len(), 10);
        let m = bars(&inst, &book, 3, &req("2 Y", "1M", "TRADES", true)).unwrap();
        assert!((24..=25).contains(&m.bars.len()), "{}", m.bars.len());
    }

    #[test]
    fn bid_ask_and_volatility_bars() {
        let (inst, book) = setup("MSFT", 4);
        let b = bars(&inst, &book, 4, &req("1 D", "1 hour", "BID_ASK", true)).unwrap();
        for x in &b.bars {
            assert!(x.low <= x.open && x.open < x.close && x.close <= x.high, "time-avg bid < time-avg ask: {x:?}");
        }
        let v = bars(&inst, &book, 4, &req("1 M", "1 day", "HISTORICAL_VOLATILITY", true)).unwrap();
        assert!(v.bars.iter().all(|x| (0.05..1.5).contains(&x.close)), "{:?}", v.bars[0]);
    }

    #[test]
    fn invalid_requests_get_tws_codes() {
        let (inst, _) = setup("AAPL", 3);
        let code = |r: HistoricalRequest| validate(&inst, &r, NY, now()).unwrap_err().code();
        assert_eq!(code(req("1 D", "1 sec", "TRADES", true)), 321);
        assert_eq!(code(req("1 day", "1 min", "TRADES", true)), 321);
        assert_eq!(code(req("1 D", "1 min", "LAST", true)), 321);
        assert_eq!(code(req("1 D", "1 secs", "TRADES", true)), 162);
        assert_eq!(code(req("10 Y", "1 min", "TRADES", false)), 162, "too many bars");
        assert_eq!(
            code(HistoricalRequest { end_date_time: "2026-01-13".into(), ..req("1 D", "1 min", "TRADES", true) }),
            10314
        );
        assert_eq!(
            code(HistoricalRequest {
                keep_up_to_date: true,
                end_date_time: "20260113 10:00:00".into(),
                ..req("1 D", "1 min", "TRADES", true)
            }),
            321
        );
        assert_eq!(code(HistoricalRequest { keep_up_to_date: true, ..req("1 D", "1 min", "BID_ASK", true) }), 321);
        let fx = InstrumentTable::new().by_name("EUR.USD", now()).unwrap();
        let e = validate(&fx, &req("1 D", "1 hour", "TRADES", false), NY, now()).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (
                162,
                "Historical Market Data Service error message:HMDS query returned no data: EUR.USD@IDEALPRO Trades"
                    .into()
            )
        );
        assert!(validate(&fx, &req("1 D", "1 hour", "MIDPOINT", false), NY, now()).is_ok());
    }

    #[test]
    fn same_seed_same_bars() {
        let r = req("2 D", "5 mins", "TRADES", false);
        let (i1, b1) = setup("TSLA", 77);
        let (i2, b2) = setup("TSLA", 77);
        let (i3, b3) = setup("TSLA", 78);
        assert_eq!(bars(&i1, &b1, 77, &r).unwrap(), bars(&i2, &b2, 77, &r).unwrap());
        assert_ne!(bars(&i1, &b1, 77, &r).unwrap(), bars(&i3, &b3, 78, &r).unwrap());
    }

    #[test]
    fn schedule_and_head_timestamp() {
        let (inst, book) = setup("AAPL", 3);
        let q = validate(&inst, &req("1 W", "1 day", "SCHEDULE", true), NY, now()).unwrap();
        let HistoricalAnswer::Schedule(s) =
            historical(&PricePath::new(3, book.walk(inst.con_id).unwrap()), &q).unwrap()
        else {
            panic!()
        };
        assert_eq!((s.time_zone, s.sessions.len()), ("US/Eastern", 6));
        assert_eq!(head_timestamp(&inst, "TRADES").unwrap(), Utc.with_ymd_and_hms(1980, 12, 12, 14, 30, 0).unwrap());
        let fx = InstrumentTable::new().by_name("EUR.USD", now()).unwrap();
        assert_eq!(head_timestamp(&fx, "TRADES").unwrap_err().code(), 162);
        assert_eq!(head_timestamp(&inst, "NOPE").unwrap_err().code(), 321);
    }

    #[test]
    fn keep_up_to_date_follows_the_walk() {
        let (inst, mut book) = setup("AAPL", 5);
        let q = validate(
            &inst,
            &HistoricalRequest { keep_up_to_date: true, ..req("1 D", "1 min", "TRADES", true) },
            NY,
            now(),
        )
        .unwrap();
        let updates = BarUpdates::new(inst.con_id, q);
        let t = now() + Duration::seconds(10);
        let q1 = book.set_price(&inst, 300.0, t).unwrap();
        let bar = updates.current(&PricePath::new(5, book.walk(inst.con_id).unwrap()), t).unwrap();
        assert_eq!(bar.time, BarTime::Time(now()));
        assert_eq!(bar.close, q1.last);
        assert_eq!(bar.high, 300.0);
        // Saturday: no session, no update.
        assert!(updates
            .current(
                &PricePath::new(5, book.walk(inst.con_id).unwrap()),
                Utc.with_ymd_and_hms(2026, 1, 17, 16, 0, 0).unwrap()
            )
            .is_none());
    }

    #[test]
    fn real_time_bars_every_five_seconds_from_the_walk() {
        let (inst, mut book) = setup("AAPL", 5);
        let mut rt = RealTimeBars::new(inst.con_id, "TRADES", true, now()).unwrap();
        for i in 0..12 {
            book.step(&inst, now() + Duration::seconds(i));
        }
        let got = rt.poll(&PricePath::new(5, book.walk(inst.con_id).unwrap()), now() + Duration::seconds(12));
        assert_eq!(
            got.iter().map(|b| b.time).collect::<Vec<_>>(),
            [BarTime::Time(now()), BarTime::Time(now() + Duration::seconds(5))]
        );
        assert!(got.iter().all(|b| b.volume > 0.0 && b.count > 0 && b.low <= b.high));
        assert!(rt.poll(&PricePath::new(5, book.walk(inst.con_id).unwrap()), now() + Duration::seconds(12)).is_empty());
        assert_eq!(RealTimeBars::new(inst.con_id, "BID_ASK", true, now()).unwrap_err().code(), 321);
    }
}
