//! reqHistoricalData (with keepUpToDate and the SCHEDULE answer), cancelHistoricalData,
//! reqHeadTimeStamp, reqRealTimeBars / cancelRealTimeBars — bars cut from the same seeded walk
//! the ticks come from, bar sizes and durations parsed and refused as TWS does (`market::
//! bar_spec`).

use std::time::{Duration, Instant};

use chrono::Utc;
use chrono_tz::Tz;

use super::feed::{self, Wake};
use super::subscriptions::Kind;
use super::{convert, Ctx};
use crate::sim::market::{self as mk, BarTime, HistoricalAnswer, HistoricalRequest};
use crate::sim::msg::{self, Contract, HistoricalDataRequest, Reply, Request};

/// A keep-up-to-date bar goes out at most this often ("roughly every 1–2 s", IBKR Campus).
const UPDATE_EVERY: Duration = Duration::from_secs(1);

pub(super) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::HistoricalData(req) => historical_data(ctx, &req),
        Request::CancelHistoricalData { req_id } => {
            ctx.subs.remove(Kind::HistoricalKeepUp, req_id);
        }
        Request::HeadTimestamp { req_id, contract, what_to_show, format_date, .. } => {
            let now = Utc::now();
            let result = {
                let market = ctx.gateway.market();
                market
                    .resolve(&convert::query(&contract), now)
                    .and_then(|i| market.head_timestamp(i.con_id, &what_to_show, now))
            };
            match result {
                Ok(t) => ctx.send(&Reply::HeadTimestamp {
                    req_id,
                    timestamp: convert::timestamp(t, format_date, ctx.gateway.tz),
                }),
                Err(e) => ctx.market_error(req_id, &e),
            }
        }
        Request::CancelHeadTimestamp { .. } => {}
        Request::RealTimeBars { req_id, contract, bar_size, what_to_show, use_rth } => {
            real_time_bars(ctx, req_id, &contract, bar_size, &what_to_show, use_rth)
        }
        Request::CancelRealTimeBars { req_id } => {
            ctx.subs.remove(Kind::RealTimeBars, req_id);
        }
        _ => unreachable!("historical::handle is given historical-data requests only"),
    }
}

fn historical_data(ctx: &mut Ctx, req: &HistoricalDataRequest) {
    let req_id = req.req_id;
    if req.keep_up_to_date && !ctx.admit(Kind::HistoricalKeepUp, req_id) {
        return;
    }
    let query = HistoricalRequest {
        end_date_time: req.end.clone(),
        duration: req.duration.clone(),
        bar_size: req.bar_size.clone(),
        what_to_show: req.what_to_show.clone(),
        use_rth: req.use_rth,
        keep_up_to_date: req.keep_up_to_date,
    };
    let now = Utc::now();
    let tz = ctx.gateway.tz;
    let result = {
        let mut market = ctx.gateway.market();
        market.resolve(&convert::query(&req.contract), now).and_then(|i| {
            let answer = market.historical_data(i.con_id, &query, now)?;
            let updates = if req.keep_up_to_date { Some(market.bar_updates(i.con_id, &query, now)?) } else { None };
            Ok((i, answer, updates))
        })
    };
    let (instrument, answer, updates) = match result {
        Ok(found) => found,
        Err(e) => return ctx.market_error(req_id, &e),
    };
    let us_stock = convert::us_stock(&instrument);
    let format_date = req.format_date;
    match answer {
        HistoricalAnswer::Bars(bars) => ctx.send(&Reply::HistoricalData {
            req_id,
            start: mk::tws_time(bars.start, tz),
            end: mk::tws_time(bars.end, tz),
            bars: bars.bars.iter().map(|b| convert::bar(b, format_date, tz)).collect(),
            us_stock,
        }),
        HistoricalAnswer::Schedule(s) => ctx.send(&schedule(req_id, &s)),
    }
    let Some(updates) = updates else { return };
    let watching = ctx.gateway.watch_instrument(instrument.con_id);
    let mut last: Option<(msg::Bar, Instant)> = None;
    feed::start(ctx, Kind::HistoricalKeepUp, req_id, Wake::Rounds, Some(watching), move |gateway, outbox| {
        let Some(bar) = gateway.market().bar_update(&updates, Utc::now()) else { return };
        let bar = convert::bar(&bar, format_date, tz);
        let due = match &last {
            None => true,
            Some((sent, at)) => sent.date != bar.date || (*sent != bar && at.elapsed() >= UPDATE_EVERY),
        };
        if due {
            outbox.send(&Reply::HistoricalDataUpdate { req_id, bar: bar.clone(), us_stock });
            last = Some((bar, Instant::now()));
        }
    });
}

/// The SCHEDULE answer, times as `yyyymmdd-hh:mm:ss` in the instrument's zone (the form
/// ibapi parses, `ibapi:src/market_data/historical/common/decoders.rs:60-66`).
fn schedule(req_id: i32, s: &mk::HistoricalSchedule) -> Reply {
    let zone: Tz = s.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let at = |t: chrono::DateTime<Utc>| t.with_timezone(&zone).format("%Y%m%d-%H:%M:%S").to_string();
    Reply::HistoricalSchedule {
        req_id,
        start: at(s.start),
        end: at(s.end),
        time_zone: s.time_zone.to_owned(),
        sessions: s
            .sessions
            .iter()
            .map(|session| (at(session.start), at(session.end), session.ref_date.format("%Y%m%d").to_string()))
            .collect(),
    }
}

fn real_time_bars(ctx: &mut Ctx, req_id: i32, contract: &Contract, bar_size: i32, what_to_show: &str, use_rth: bool) {
    if !ctx.admit(Kind::RealTimeBars, req_id) {
        return;
    }
    // barSize is "currently being ignored" (IBKR Campus, reqRealTimeBars): ibapi sends 0.
    let _ = bar_size;
    let now = Utc::now();
    let result = {
        let mut market = ctx.gateway.market();
        market
            .resolve(&convert::query(contract), now)
            .and_then(|i| market.real_time_bars(i.con_id, what_to_show, use_rth, now).map(|bars| (i, bars)))
    };
    let (instrument, mut bars) = match result {
        Ok(found) => found,
        Err(e) => return ctx.market_error(req_id, &e),
    };
    let us_stock = convert::us_stock(&instrument);
    let watching = ctx.gateway.watch_instrument(instrument.con_id);
    feed::start(ctx, Kind::RealTimeBars, req_id, Wake::Rounds, Some(watching), move |gateway, outbox| {
        let completed = gateway.market().poll_real_time_bars(&mut bars, Utc::now());
        for bar in &completed {
            let time = match bar.time {
                BarTime::Time(t) => t.timestamp(),
                BarTime::Date(d) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or(0),
            };
            let bar = convert::bar(bar, 2, chrono_tz::UTC);
            outbox.send(&Reply::RealTimeBar { req_id, time, bar, us_stock });
        }
    });
}
