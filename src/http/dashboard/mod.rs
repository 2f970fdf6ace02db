//! `GET /trades` (the page) and `GET /trades/status` (the fragment it polls every 5 s with
//! htmx, served by the binary itself). Everything that comes from the gateway, the database or
//! the settings is HTML-escaped here.
//!
//! Per account: the state banner (an outage as "down 3 m 12 s, since 19:04:29 EST" from when
//! the outage began, an attempt in flight as such, the countdown to the next one), the trading
//! line ("Trading enabled by operator · orders refused now: disconnected"), and the timeline
//! bars of the last 24 hours and 7 days; then the next reset window, the next weekly login
//! (`reauth`), the latest events and, in
//! the footer, uptime per day. Times are in the trading zone (`timezone`). The history comes
//! from the copy [`History::dashboard`](super::History::dashboard) keeps in memory: rendering
//! never reads the database. The parts: `wording.rs` (durations, times, the next reset),
//! `timeline.rs` (the SVG bars and the uptime table), `events.rs` (the events table),
//! `data_plane.rs` (farms, a competing session, pacing: the data beside the link),
//! `escalation.rs` (the IBC escalation ladder: the last rung fired, what comes next).

mod data_plane;
mod escalation;
mod events;
mod timeline;
mod wording;

use std::fmt::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ibkr_supervisor_actors::reauth::ReauthConfig;
use ibkr_supervisor_actors::ConnectionState;
use warp::reply::Response;
use warp::Reply;

use self::wording::{clock, day_time, duration, hour_minute, secs_between, NextReset};
use super::api::{status_view, AccountView};
use super::history::{HistoryCopy, HistoryView};
use super::{AppState, FaultPanel};

/// Escape text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn html(body: String) -> Response {
    warp::reply::with_header(
        warp::reply::with_header(body, "content-type", "text/html; charset=utf-8"),
        "cache-control",
        "no-store",
    )
    .into_response()
}

/// A duration the page's script keeps ticking: elapsed since `from` (`data-elapsed`) or left
/// until `to` (`data-until`), rendered as of `now`.
fn ticking(attribute: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = if attribute == "data-elapsed" { secs_between(at, now) } else { secs_between(now, at) };
    format!(r#"<span {attribute}="{}">{}</span>"#, at.to_rfc3339(), duration(secs))
}

/// `GET /trades`: the page, polling the fragment every `poll_ms`.
pub fn page_with_poll(state: &AppState, poll_ms: u64) -> Response {
    let fragment = render_fragment(state);
    let demo = state.demo.as_deref().map(demo_panel).unwrap_or_default();
    html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>IBKR supervisor</title>
<meta name="htmx-config" content="{{&quot;includeIndicatorStyles&quot;: false}}">
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/htmx.min.js"></script>
<script src="/assets/dashboard.js"></script>
</head>
<body>
<h1>IBKR connections</h1>
<p id="message" role="alert"></p>
<div id="status" hx-get="/trades/status" hx-trigger="every {poll_ms}ms" hx-swap="innerHTML">{fragment}</div>
{demo}
</body>
</html>"#
    ))
}

/// `GET /trades/status`: the part the page polls.
pub fn fragment(state: Arc<AppState>) -> Response {
    html(render_fragment(&state))
}

fn render_fragment(state: &AppState) -> String {
    let board = state.handle.board().snapshot();
    let view = status_view(state, &board);
    let (zone, now) = (state.timezone, view.now);
    let copy = state.history.as_ref().map(|h| h.dashboard());
    let history = copy.as_ref().and_then(|c| c.view.as_deref());
    // The server's clock, so the script counts from it (an injected clock, a skewed laptop).
    let mut out = format!(r#"<div id="server-clock" data-now="{}"></div>"#, now.to_rfc3339());
    if let Some(meltdown) = &view.meltdown {
        let _ = write!(
            out,
            r#"<div class="alert danger" id="meltdown"><strong>Supervisor meltdown</strong> at {}: {}. Every order is refused; the service manager should restart the process.</div>"#,
            clock(meltdown.at, zone),
            escape(&meltdown.reason)
        );
    }
    render_next_reset(&mut out, wording::next_reset(&state.calendar, now, zone), now);
    if let Some(reauth) = &state.reauth {
        render_next_login(&mut out, reauth, now, zone);
    }
    if let Some(copy) = &copy {
        render_history_note(&mut out, copy, zone);
    }
    for account in &view.accounts {
        render_account(&mut out, account, view.meltdown.is_some(), zone, now, history);
    }
    super::proxy_panel::render_ports(&mut out, &view.proxies);
    if let Some(history) = history {
        events::table(&mut out, &history.events, zone);
    }
    out.push_str("<footer>");
    if let Some(history) = history {
        let names: Vec<&str> = view.accounts.iter().map(|a| a.status.name.as_str()).collect();
        timeline::uptime_table(&mut out, &names, &history.week, zone);
    }
    let counted_from = view.started_at.max(now.date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    let _ = write!(out, "<p>Uptime today (UTC) since {} (reset windows excluded): ", clock(counted_from, zone));
    let parts: Vec<String> = view
        .accounts
        .iter()
        .map(|a| match a.uptime_today_pct {
            Some(pct) => format!("{} {:.2}%", escape(&a.status.name), pct),
            None => format!("{} —", escape(&a.status.name)),
        })
        .collect();
    out.push_str(&parts.join(" · "));
    if let Some(db) = &view.persistence {
        if !db.ok {
            let _ = write!(
                out,
                r#"<div class="alert warning">Database writes failing ({} pending): {}</div>"#,
                db.pending,
                escape(db.last_error.as_deref().unwrap_or("unknown error"))
            );
        }
    }
    let _ = write!(out, " · updated {} · v{}</p></footer>", clock(now, zone), escape(view.version));
    out
}

fn render_next_reset(out: &mut String, next: NextReset, now: DateTime<Utc>) {
    match next {
        NextReset::None => {
            out.push_str(r#"<p class="facts" id="next-reset">No scheduled reset window configured.</p>"#)
        }
        NextReset::At { start, end, zone } => {
            let _ = write!(
                out,
                r#"<p class="facts" id="next-reset">Next reset {}, in {} (until {}): no alarms and no attempts inside it, orders held off.</p>"#,
                hour_minute(start, zone),
                ticking("data-until", start, now),
                hour_minute(end, zone),
            );
        }
        NextReset::Inside { until, zone } => {
            let _ = write!(
                out,
                r#"<p class="facts" id="next-reset">Inside the scheduled reset window until {}, ends in {}.</p>"#,
                hour_minute(until, zone),
                ticking("data-until", until, now),
            );
        }
    }
}

/// "Next weekly login Sun 14 Jun 01:00 EDT, in 2 d 3 h": when IB invalidates the week's tokens.
fn render_next_login(out: &mut String, reauth: &ReauthConfig, now: DateTime<Utc>, zone: Tz) {
    let next = reauth.next_login(now);
    let _ = write!(
        out,
        r#"<p class="facts" id="next-login">Next weekly login {}, in {}: a gateway still down {} after it gets one "needs a login" alert.</p>"#,
        day_time(next.at, zone),
        ticking("data-until", next.at, now),
        duration(i64::try_from(reauth.grace.as_secs()).unwrap_or(i64::MAX)),
    );
}

/// When the history shown was read, if it is not fresh, or could not be read.
fn render_history_note(out: &mut String, copy: &HistoryCopy, zone: Tz) {
    match (&copy.view, &copy.error) {
        (None, None) => out.push_str(r#"<p class="facts" id="history-note">History: reading the database…</p>"#),
        (None, Some(error)) => {
            let _ = write!(
                out,
                r#"<div class="alert warning" id="history-note">History unavailable: {}</div>"#,
                escape(error)
            );
        }
        (Some(view), Some(error)) => {
            let _ = write!(
                out,
                r#"<div class="alert warning" id="history-note">History as of {}; reading it again failed: {}</div>"#,
                clock(view.read_at, zone),
                escape(error)
            );
        }
        (Some(_), None) => {}
    }
}

fn render_account(
    out: &mut String,
    view: &AccountView,
    meltdown: bool,
    zone: Tz,
    now: DateTime<Utc>,
    history: Option<&HistoryView>,
) {
    let a = view.status;
    let name = escape(&a.name);
    let kind = if a.paper_trading { "paper" } else { "live" };
    let _ = write!(
        out,
        r#"<section class="card" data-account="{name}" data-state="{}"><h2>{name} <span class="tag">{kind}</span> <span class="tag">{}:{} · client {}</span></h2>"#,
        a.state.name(),
        escape(&a.host),
        a.port,
        a.client_id
    );
    // Down since the outage began, not since the last failed attempt.
    let outage = a.outage_since.unwrap_or_else(|| a.state.since());
    let down_for = format!(
        r#"<span class="outage">down {}, since {}</span>"#,
        ticking("data-elapsed", outage, now),
        clock(outage, zone)
    );
    match &a.state {
        ConnectionState::Connected { since, .. } => {
            let rtt = a.probe_rtt_ms.map(|ms| format!(" · probe {ms:.1} ms")).unwrap_or_default();
            let _ = write!(
                out,
                r#"<div class="alert ok">Connected since {} ({}){rtt}</div>"#,
                clock(*since, zone),
                ticking("data-elapsed", *since, now)
            );
        }
        ConnectionState::ResetWindow { until, link, .. } => {
            let _ = write!(
                out,
                r#"<div class="alert reset"><strong>Scheduled reset</strong> until {}, ends in {} — IB restarts its servers; no alarms, orders are held off until it ends{}.</div>"#,
                hour_minute(*until, zone),
                ticking("data-until", *until, now),
                if link.is_some() { " · the socket is still up" } else { " · the socket is down" }
            );
        }
        ConnectionState::Degraded { code, reason, .. } => {
            let _ = write!(
                out,
                r#"<div class="alert warning"><strong>Degraded</strong>: IB upstream lost ({code}), {down_for} — the gateway is up but cannot reach IB's servers. {}</div>"#,
                escape(reason)
            );
        }
        other => {
            let attempt = match other {
                ConnectionState::Connecting { since, attempt, client_id } => format!(
                    r#" · <span class="attempt in-flight">attempt {attempt} in flight (client {client_id}, started {})</span>"#,
                    clock(*since, zone)
                ),
                _ => match a.reconnect_attempts {
                    0 => " · no attempt yet".to_owned(),
                    1 => " · 1 attempt failed".to_owned(),
                    n => format!(" · {n} attempts failed"),
                },
            };
            let next = match (other, a.next_attempt_at) {
                (ConnectionState::Connecting { .. }, _) => String::new(),
                (_, Some(at)) => format!(
                    r#" · next attempt <span class="countdown" data-countdown="{}">at {}</span>"#,
                    at.to_rfc3339(),
                    clock(at, zone)
                ),
                (_, None) => String::from(" · no automatic attempt scheduled"),
            };
            let checked = a.last_checked.map(|t| format!(" · last checked {}", clock(t, zone))).unwrap_or_default();
            let _ = write!(
                out,
                r#"<div class="alert warning"><strong>{}</strong>: {down_for}{attempt}{next}{checked}</div>"#,
                match other {
                    ConnectionState::Connecting { .. } => "Reconnecting",
                    ConnectionState::Stopped { .. } => "Stopped",
                    _ => "Disconnected",
                },
            );
        }
    }
    if let Some(error) = &a.error_message {
        let _ = write!(out, r#"<p class="facts error">Last error: {}</p>"#, escape(error));
    }
    data_plane::render(out, a, zone, now);
    escalation::render(out, view.escalation.as_ref(), zone, now);
    render_trading(out, view, meltdown, zone);
    if let Some(history) = history {
        let spans = history.day.get(&a.name).map(Vec::as_slice).unwrap_or_default();
        timeline::day_bar(out, &a.name, spans, history.read_at, zone);
        let days: Vec<_> = history.week.iter().filter(|d| d.account == a.name).collect();
        timeline::week_bar(out, &a.name, &days, zone);
    }
    out.push_str("</section>");
}

/// The operator's switch and what it means for orders now, in one unambiguous line, then the
/// buttons.
fn render_trading(out: &mut String, view: &AccountView, meltdown: bool, zone: Tz) {
    let a = view.status;
    let orders = match (&view.refusal, view.trading_active) {
        (_, false) => r#"<span class="orders refused">orders refused until activated</span>"#.to_owned(),
        (Some(reason), true) => format!(
            r#"<span class="orders refused">orders refused now: {}</span>"#,
            escape(&wording::refusal(reason, zone))
        ),
        (None, true) => r#"<span class="orders flow">orders flow</span>"#.to_owned(),
    };
    let _ = write!(
        out,
        r#"<p class="facts trading-line">Trading <strong class="trading">{}</strong> · {orders}</p>"#,
        if view.trading_active { "enabled by operator" } else { "paused by operator" },
    );
    if let Some(note) = &view.trading_note {
        let _ = write!(out, r#"<div class="alert danger trading-note">{}</div>"#, escape(note));
    }
    out.push_str(r#"<div class="actions">"#);
    let usable = a.connected() && !meltdown;
    let account_json = escape(&serde_json::to_string(&a.name).unwrap_or_default());
    if view.trading_active {
        let _ = write!(
            out,
            r#"<button class="pause" data-post="/trading" data-body="{{&quot;account&quot;: {account_json}, &quot;active&quot;: false}}">Pause trading</button>"#
        );
    } else {
        let _ = write!(
            out,
            r#"<button class="primary activate" {} data-post="/trading" data-body="{{&quot;account&quot;: {account_json}, &quot;active&quot;: true}}">Activate trading</button>"#,
            if usable { "" } else { "disabled" }
        );
    }
    let _ = write!(
        out,
        r#"<button class="connect" {} data-post="/connect_ib" data-body="{{&quot;account&quot;: {account_json}}}">Connect to IB Gateway</button></div>"#,
        if a.connected() { "disabled" } else { "" }
    );
}

fn demo_panel(panel: &dyn FaultPanel) -> String {
    let mut out = String::from(
        r#"<section class="card" id="demo"><h2>Demo: break the simulated gateways</h2><div class="actions">"#,
    );
    for button in panel.buttons() {
        // Escaped like everything else: the browser decodes the attribute before the script runs.
        let (body, label) = (escape(button.body), escape(button.label));
        let _ = write!(out, r#"<button data-post="/demo/fault" data-body="{body}">{label}</button>"#);
    }
    out.push_str("</div></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_that_could_not_be_read_again_is_shown_as_of_its_read_with_the_error() {
        let read_at = DateTime::parse_from_rfc3339("2026-12-02T00:04:29Z").unwrap().with_timezone(&Utc);
        let view = HistoryView { read_at, day: Default::default(), week: Vec::new(), events: Vec::new() };
        let copy =
            HistoryCopy { view: Some(Arc::new(view)), error: Some("database is locked <busy>".into()), reads: 2 };
        let mut out = String::new();
        render_history_note(&mut out, &copy, chrono_tz::America::New_York);
        assert!(
            out.contains("History as of 19:04:29 EST; reading it again failed: database is locked &lt;busy&gt;"),
            "{out}"
        );
        let mut out = String::new();
        render_history_note(
            &mut out,
            &HistoryCopy { error: Some("no such file".into()), ..HistoryCopy::default() },
            chrono_tz::UTC,
        );
        assert!(out.contains("History unavailable: no such file"), "{out}");
        let mut out = String::new();
        render_history_note(&mut out, &HistoryCopy { error: None, ..copy }, chrono_tz::UTC);
        assert!(out.is_empty(), "a fresh copy needs no note: {out}");
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;y&#x27;"
        );
    }
}
