//! `GET /trades` (the page) and `GET /trades/status` (the fragment it polls every 5 s with
//! htmx, served by the binary itself). Everything that comes from the gateway, the database or
//! the settings is HTML-escaped here.

use std::fmt::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ibkr_supervisor_actors::ConnectionState;
use warp::reply::Response;
use warp::Reply;

use super::api::{status_view, AccountView};
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

fn time(t: &DateTime<Utc>) -> String {
    t.format("%H:%M:%S UTC").to_string()
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
    let mut out = String::new();
    if let Some(meltdown) = &view.meltdown {
        let _ = write!(
            out,
            r#"<div class="alert danger" id="meltdown"><strong>Supervisor meltdown</strong> at {}: {}. Every order is refused; the service manager should restart the process.</div>"#,
            time(&meltdown.at),
            escape(&meltdown.reason)
        );
    }
    for account in &view.accounts {
        render_account(&mut out, account, view.meltdown.is_some());
    }
    super::proxy_panel::render_ports(&mut out, &view.proxies);
    let counted_from = view.started_at.max(view.now.date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    let _ = write!(out, "<footer>Uptime today since {} (reset windows excluded): ", time(&counted_from));
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
    let _ = write!(out, " · updated {} · v{}</footer>", time(&view.now), escape(view.version));
    out
}

fn render_account(out: &mut String, view: &AccountView, meltdown: bool) {
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
    match &a.state {
        ConnectionState::Connected { since, .. } => {
            let rtt = a.probe_rtt_ms.map(|ms| format!(" · probe {ms:.1} ms")).unwrap_or_default();
            let _ = write!(out, r#"<div class="alert ok">Connected since {}{rtt}</div>"#, time(since));
        }
        ConnectionState::ResetWindow { until, .. } => {
            let _ = write!(
                out,
                r#"<div class="alert reset">Scheduled reset until {} — IB restarts its servers; no alarms, orders are held off until it ends.</div>"#,
                until.format("%H:%M UTC")
            );
        }
        ConnectionState::Degraded { since, code, reason, .. } => {
            let _ = write!(
                out,
                r#"<div class="alert warning">Degraded since {}: IB upstream lost ({code}) — the gateway is up but cannot reach IB's servers. {}</div>"#,
                time(since),
                escape(reason)
            );
        }
        other => {
            let next = match a.next_attempt_at {
                Some(at) => format!(
                    r#" · next attempt <span class="countdown" data-countdown="{}">at {}</span>"#,
                    at.to_rfc3339(),
                    time(&at)
                ),
                None => String::from(" · no automatic attempt scheduled"),
            };
            let checked = a.last_checked.map(|t| format!(" · last checked {}", time(&t))).unwrap_or_default();
            let attempts = match a.reconnect_attempts {
                0 => "no attempt yet".to_owned(),
                1 => "1 attempt failed".to_owned(),
                n => format!("{n} attempts failed"),
            };
            let _ = write!(
                out,
                r#"<div class="alert warning"><strong>{}</strong> since {}{checked} · {attempts}{next}</div>"#,
                match other {
                    ConnectionState::Connecting { .. } => "Reconnecting",
                    ConnectionState::Stopped { .. } => "Stopped",
                    _ => "Disconnected",
                },
                time(&other.since()),
            );
        }
    }
    if let Some(error) = &a.error_message {
        let _ = write!(out, r#"<p class="facts error">Last error: {}</p>"#, escape(error));
    }
    let usable = a.connected() && !meltdown;
    let account_json = escape(&serde_json::to_string(&a.name).unwrap_or_default());
    let _ = write!(
        out,
        r#"<p class="facts">Trading: <strong class="trading">{}</strong>{}</p><div class="actions">"#,
        if view.trading_active { "active" } else { "paused by operator" },
        // A paused account's refusal says "paused" again; show the reason only when it adds one.
        view.refusal
            .as_deref()
            .filter(|_| view.trading_active)
            .map(|r| format!(" · orders refused: {}", escape(r)))
            .unwrap_or_default()
    );
    if let Some(note) = &view.trading_note {
        let _ = write!(out, r#"<div class="alert danger trading-note">{}</div>"#, escape(note));
    }
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
        r#"<button class="connect" {} data-post="/connect_ib" data-body="{{&quot;account&quot;: {account_json}}}">Connect to IB Gateway</button></div></section>"#,
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
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;y&#x27;"
        );
    }
}
