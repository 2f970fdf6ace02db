//! The history of an account drawn as two SVG bars (no script, no inline style: positions are
//! SVG attributes, colours are classes in `dashboard.css`, so the CSP stays `style-src 'self'`):
//! the last 24 hours from the recorded stretches, and the last 7 days from the daily figures
//! (the rollups), each day split into its shares. Every piece has a hover title. The footer's
//! uptime per day comes from the same figures.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ibkr_supervisor_actors::persistence::{day_bounds, DailyUptime, Slot, Span};

use super::escape;
use super::wording::{clock, day_time, duration, secs_between};

/// The width of a bar in SVG units (it is scaled to the card's width).
const WIDTH: f64 = 1000.0;

fn slot_name(slot: Slot) -> &'static str {
    match slot {
        Slot::Up => "connected",
        Slot::Degraded => "degraded",
        Slot::Down => "down",
        Slot::Reset => "reset window",
        Slot::Unknown => "not observed",
    }
}

fn slot_class(slot: Slot) -> &'static str {
    match slot {
        Slot::Up => "up",
        Slot::Degraded => "degraded",
        Slot::Down => "down",
        Slot::Reset => "reset",
        Slot::Unknown => "unknown",
    }
}

fn rect(out: &mut String, x: f64, width: f64, slot: Slot, title: &str) {
    let _ = write!(
        out,
        r#"<rect class="seg {}" x="{x:.2}" y="0" width="{width:.2}" height="14"><title>{}</title></rect>"#,
        slot_class(slot),
        escape(title)
    );
}

fn open_bar(out: &mut String, account: &str, span: &str, label: &str) {
    let _ = write!(
        out,
        r#"<div class="timeline" data-account="{}" data-span="{span}"><div class="timeline-label">{label}</div><svg class="bar" viewBox="0 0 {WIDTH} 14" preserveAspectRatio="none" role="img" aria-label="{label}">"#,
        escape(account),
    );
}

/// The bar of `[end - 24 h, end)`: one piece per stretch.
pub fn day_bar(out: &mut String, account: &str, spans: &[Span], end: DateTime<Utc>, zone: Tz) {
    let start = end - chrono::Duration::hours(24);
    let total = (end - start).num_milliseconds() as f64;
    open_bar(out, account, "24h", "Last 24 hours");
    if spans.is_empty() {
        rect(out, 0.0, WIDTH, Slot::Unknown, "no history recorded");
    }
    for span in spans {
        let (from, to) = (span.start.max(start), span.end.min(end));
        if to <= from {
            continue;
        }
        let x = (from - start).num_milliseconds() as f64 / total * WIDTH;
        let width = (to - from).num_milliseconds() as f64 / total * WIDTH;
        let title = format!(
            "{}: {} → {} ({})",
            slot_name(span.slot),
            clock(from, zone),
            clock(to, zone),
            duration(secs_between(from, to))
        );
        rect(out, x, width, span.slot, &title);
    }
    let _ = write!(
        out,
        r#"</svg><div class="axis"><span>{}</span><span>now</span></div></div>"#,
        escape(&day_time(start, zone))
    );
}

/// The bar of the last days in `days` (oldest first, one account): each day a seventh of the
/// bar, split into connected, degraded, down, reset window and not observed; today only as far
/// as it has gone.
pub fn week_bar(out: &mut String, account: &str, days: &[&DailyUptime], zone: Tz) {
    open_bar(out, account, "7d", "Last 7 days (each day split into its shares)");
    let cell = WIDTH / days.len().max(1) as f64;
    for (i, day) in days.iter().enumerate() {
        let (start, end) = day_bounds(zone, day.day);
        let length = (end - start).num_milliseconds() as f64 / 1000.0;
        let date = day.day.format("%a %d %b");
        let parts = [
            (Slot::Up, day.up_secs),
            (Slot::Degraded, day.degraded_secs),
            (Slot::Down, day.down_secs - day.degraded_secs),
            (Slot::Reset, day.reset_secs),
            (Slot::Unknown, day.unknown_secs),
        ];
        let mut x = cell * i as f64;
        for (slot, secs) in parts {
            if secs <= 0.0 || length <= 0.0 {
                continue;
            }
            let width = secs / length * cell;
            let mut title = format!(
                "{date}: {} {} ({:.2}%)",
                slot_name(slot),
                duration(secs as i64),
                secs / day.covered_secs.max(1.0) * 100.0
            );
            if slot == Slot::Down && day.outages > 0 {
                let _ = write!(
                    title,
                    " · {} outage{}, longest {}",
                    day.outages,
                    if day.outages == 1 { "" } else { "s" },
                    duration(day.longest_outage_secs as i64)
                );
            }
            rect(out, x, width, slot, &title);
            x += width;
        }
    }
    let first = days.first().map(|d| d.day.format("%a %d %b").to_string()).unwrap_or_default();
    let _ = write!(out, r#"</svg><div class="axis"><span>{first}</span><span>today</span></div></div>"#);
}

/// The footer's table: availability per account per day (up / (up + down), reset windows and
/// unobserved time excluded), the days of `week` as columns.
pub fn uptime_table(out: &mut String, accounts: &[&str], week: &[DailyUptime], zone: Tz) {
    let mut days: Vec<chrono::NaiveDate> = week.iter().map(|d| d.day).collect();
    days.sort();
    days.dedup();
    if days.is_empty() {
        return;
    }
    let _ = write!(
        out,
        r#"<table id="uptime-days"><caption>Uptime per day ({}, reset windows excluded)</caption><tr><th></th>"#,
        escape(zone.name())
    );
    for day in &days {
        let _ = write!(out, "<th>{}</th>", day.format("%a %d"));
    }
    out.push_str("</tr>");
    for account in accounts {
        let _ = write!(out, r#"<tr data-account="{0}"><th>{0}</th>"#, escape(account));
        for day in &days {
            let figure = week.iter().find(|d| d.account == *account && d.day == *day);
            match figure.and_then(|d| d.availability_pct.map(|pct| (pct, d))) {
                Some((pct, d)) => {
                    let _ = write!(
                        out,
                        r#"<td title="up {}, down {}, reset {}, not observed {}">{pct:.2}%</td>"#,
                        duration(d.up_secs as i64),
                        duration(d.down_secs as i64),
                        duration(d.reset_secs as i64),
                        duration(d.unknown_secs as i64)
                    );
                }
                None => out.push_str(r#"<td title="not observed">—</td>"#),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_day_bar_places_each_stretch_by_its_share_of_the_24_hours() {
        let end = utc("2026-12-02T12:00:00Z");
        let spans = [
            Span { start: end - chrono::Duration::hours(24), end: end - chrono::Duration::hours(6), slot: Slot::Up },
            Span { start: end - chrono::Duration::hours(6), end, slot: Slot::Down },
        ];
        let mut out = String::new();
        day_bar(&mut out, "Pa<per", &spans, end, New_York);
        assert!(out.contains(r#"data-account="Pa&lt;per" data-span="24h""#), "{out}");
        assert!(out.contains(r#"class="seg up" x="0.00" y="0" width="750.00""#), "{out}");
        assert!(out.contains(r#"class="seg down" x="750.00" y="0" width="250.00""#), "{out}");
        assert!(out.contains("<title>down: 01:00:00 EST → 07:00:00 EST (6 h 0 m)</title>"), "{out}");
        assert!(!out.contains("style="), "no inline style (CSP): {out}");
    }
}
