//! `GET /metrics`: Prometheus text format 0.0.4, from memory.

use std::fmt::Write;
use std::sync::Arc;

use ibkr_supervisor_actors::farms::DataPlane;
use ibkr_supervisor_actors::status::DETECTION_BUCKETS;
use ibkr_supervisor_actors::{AccountStatus, ConnectionState};
use warp::reply::Response;
use warp::Reply;

use super::AppState;

/// Label values are quoted; backslash, quote and newline must be escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One metric with a single value per account: its header, then `name{account="…"} value`.
fn per_account<V: std::fmt::Display>(
    out: &mut String,
    accounts: &[AccountStatus],
    (name, kind, help): (&str, &str, &str),
    value: impl Fn(&AccountStatus) -> V,
) {
    header(out, name, kind, help);
    for account in accounts {
        let _ = writeln!(out, "{name}{{account=\"{}\"}} {}", label(&account.name), value(account));
    }
}

/// The data plane beside the link: each farm up or down, the account's data degraded, a
/// competing live session, IB's message-rate notices.
fn data_plane(out: &mut String, accounts: &[AccountStatus]) {
    header(
        out,
        "ibkr_farm_up",
        "gauge",
        "1 while the data farm is up (OK, or inactive: idle on demand), 0 while it is down; farms the session reported.",
    );
    for account in accounts {
        for farm in &account.farms.farms {
            let (name, farm_name) = (label(&account.name), label(&farm.name));
            let kind =
                serde_json::to_value(farm.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let up = u8::from(!farm.is_down());
            let _ = writeln!(out, "ibkr_farm_up{{account=\"{name}\",farm=\"{farm_name}\",kind=\"{kind}\"}} {up}");
        }
    }
    let degraded =
        ("ibkr_data_degraded", "gauge", "1 while a data farm of the account is down (the order link may still be up).");
    per_account(out, accounts, degraded, |a| u8::from(a.farms.data_plane != DataPlane::Ok));
    let competing = (
        "ibkr_competing_session",
        "gauge",
        "1 while a competing live session (10197) takes the account's market data.",
    );
    per_account(out, accounts, competing, |a| u8::from(a.competing_session.is_some()));
    let violations =
        ("ibkr_pacing_violations_total", "counter", "IB's 'max rate of messages per second exceeded' (100) notices.");
    per_account(out, accounts, violations, |a| a.pacing.violations);
    let warnings = ("ibkr_pacing_warnings_total", "counter", "IB's 'approaching max rate' warnings.");
    per_account(out, accounts, warnings, |a| a.pacing.warnings);
}

/// The escalation ladder's firings, per account and rung (only while the ladder runs).
fn escalations(out: &mut String, book: &ibkr_supervisor_actors::escalation::EscalationBook) {
    if !book.active() {
        return;
    }
    header(
        out,
        "ibkr_escalations_total",
        "counter",
        "Rungs of the IBC escalation ladder fired (RECONNECTDATA, RECONNECTACCOUNT, RESTART, the restart command).",
    );
    for (account, rung, n) in book.totals() {
        let _ = writeln!(out, "ibkr_escalations_total{{account=\"{}\",rung=\"{}\"}} {n}", label(&account), rung.name());
    }
}

pub async fn metrics(state: Arc<AppState>) -> Response {
    let board = state.handle.board().snapshot();
    let now = state.handle.clock().now();
    let mut out = String::with_capacity(8 * 1024);

    header(&mut out, "ibkr_account_state", "gauge", "1 for the account's current connection state, 0 for the others.");
    for account in &board.accounts {
        for s in ConnectionState::NAMES {
            let on = u8::from(account.state.name() == s);
            let _ = writeln!(out, "ibkr_account_state{{account=\"{}\",state=\"{s}\"}} {on}", label(&account.name));
        }
    }
    let usable = ("ibkr_account_usable", "gauge", "1 while orders may flow for the account.");
    per_account(&mut out, &board.accounts, usable, |a| u8::from(a.connected() && board.meltdown.is_none()));
    let attempts = ("ibkr_reconnect_attempts", "gauge", "Connection attempts made in the current outage.");
    per_account(&mut out, &board.accounts, attempts, |a| a.reconnect_attempts);
    header(&mut out, "ibkr_probe_rtt_seconds", "gauge", "Round-trip time of the last liveness probe.");
    for account in board.accounts.iter().filter(|a| a.probe_rtt_ms.is_some()) {
        let rtt = account.probe_rtt_ms.unwrap_or_default() / 1000.0;
        let _ = writeln!(out, "ibkr_probe_rtt_seconds{{account=\"{}\"}} {rtt}", label(&account.name));
    }
    header(
        &mut out,
        "ibkr_uptime_today_ratio",
        "gauge",
        "Share of today the account was usable, reset windows excluded.",
    );
    for account in &board.accounts {
        if let Some(pct) = board.uptime_today_pct(&account.name, now) {
            let _ = writeln!(out, "ibkr_uptime_today_ratio{{account=\"{}\"}} {}", label(&account.name), pct / 100.0);
        }
    }
    data_plane(&mut out, &board.accounts);
    escalations(&mut out, state.handle.escalation());
    header(
        &mut out,
        "ibkr_loss_detection_window_seconds",
        "histogram",
        "Time from the last sign of life of a connection to the moment its loss was recorded (an upper bound on detection latency).",
    );
    for account in &board.accounts {
        let Some(metrics) = board.metrics.get(&account.name) else { continue };
        let name = label(&account.name);
        let h = &metrics.detection;
        for (bound, count) in DETECTION_BUCKETS.iter().zip(h.counts) {
            let _ =
                writeln!(out, "ibkr_loss_detection_window_seconds_bucket{{account=\"{name}\",le=\"{bound}\"}} {count}");
        }
        let _ =
            writeln!(out, "ibkr_loss_detection_window_seconds_bucket{{account=\"{name}\",le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "ibkr_loss_detection_window_seconds_sum{{account=\"{name}\"}} {}", h.sum);
        let _ = writeln!(out, "ibkr_loss_detection_window_seconds_count{{account=\"{name}\"}} {}", h.count);
    }

    let counts = state.handle.guard().counts();
    header(&mut out, "ibkr_guard_orders_total", "counter", "Orders through the guard, by outcome.");
    for c in &counts {
        let name = label(&c.account);
        let _ = writeln!(out, "ibkr_guard_orders_total{{account=\"{name}\",outcome=\"passed\"}} {}", c.orders_passed);
        let _ = writeln!(out, "ibkr_guard_orders_total{{account=\"{name}\",outcome=\"refused\"}} {}", c.orders_refused);
    }
    header(
        &mut out,
        "ibkr_guard_ticks_total",
        "counter",
        "Ticks through the guard, by outcome (shed: beyond the bounded queue).",
    );
    for c in &counts {
        let name = label(&c.account);
        let _ = writeln!(out, "ibkr_guard_ticks_total{{account=\"{name}\",outcome=\"passed\"}} {}", c.ticks_passed);
        let _ = writeln!(out, "ibkr_guard_ticks_total{{account=\"{name}\",outcome=\"skipped\"}} {}", c.ticks_skipped);
        let _ = writeln!(out, "ibkr_guard_ticks_total{{account=\"{name}\",outcome=\"shed\"}} {}", c.ticks_shed);
    }

    super::proxy_panel::metrics(&mut out, &state.handle.proxies().snapshot(), label);

    header(&mut out, "ibkr_actor_restarts_total", "counter", "Restarts of each supervised actor.");
    for actor in state.handle.tree().await {
        let _ = writeln!(out, "ibkr_actor_restarts_total{{actor=\"{}\"}} {}", label(&actor.name), actor.restarts);
    }
    header(&mut out, "ibkr_meltdown", "gauge", "1 after the restart limit was passed.");
    let _ = writeln!(out, "ibkr_meltdown {}", u8::from(board.meltdown.is_some()));

    if let Some(db) = &board.persistence {
        header(&mut out, "ibkr_db_ok", "gauge", "1 while database writes succeed.");
        let _ = writeln!(out, "ibkr_db_ok {}", u8::from(db.ok));
        header(&mut out, "ibkr_db_pending_writes", "gauge", "Writes waiting to land in the database.");
        let _ = writeln!(out, "ibkr_db_pending_writes {}", db.pending);
        header(
            &mut out,
            "ibkr_db_dropped_writes_total",
            "counter",
            "Writes dropped because the pending queue was full.",
        );
        let _ = writeln!(out, "ibkr_db_dropped_writes_total {}", db.dropped);
        header(&mut out, "ibkr_db_written_total", "counter", "Rows written to the database.");
        let _ = writeln!(out, "ibkr_db_written_total {}", db.written);
    }
    if let Some(history) = &state.history {
        let copy = history.dashboard();
        header(
            &mut out,
            "ibkr_dashboard_history_reads_total",
            "counter",
            "Reads of the dashboard's history from the database (by its refresher, never per request).",
        );
        let _ = writeln!(out, "ibkr_dashboard_history_reads_total {}", copy.reads);
        header(
            &mut out,
            "ibkr_dashboard_history_ok",
            "gauge",
            "1 while the latest read of the dashboard's history succeeded.",
        );
        let _ = writeln!(out, "ibkr_dashboard_history_ok {}", u8::from(copy.view.is_some() && copy.error.is_none()));
    }
    let a = state.handle.alerts();
    let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    header(
        &mut out,
        "ibkr_alert_deliveries_total",
        "counter",
        "Alert deliveries by outcome (a retry is one failed attempt).",
    );
    let _ = writeln!(out, "ibkr_alert_deliveries_total{{outcome=\"sent\"}} {}", load(&a.sent));
    let _ = writeln!(out, "ibkr_alert_deliveries_total{{outcome=\"retried\"}} {}", load(&a.retried));
    let _ = writeln!(out, "ibkr_alert_deliveries_total{{outcome=\"given_up\"}} {}", load(&a.given_up));
    let _ = writeln!(out, "ibkr_alert_deliveries_total{{outcome=\"rate_limited\"}} {}", load(&a.rate_limited));
    header(&mut out, "ibkr_alert_failing", "gauge", "1 while the last alert delivery attempt failed.");
    let _ = writeln!(out, "ibkr_alert_failing {}", u8::from(a.last_error().is_some()));
    header(
        &mut out,
        "ibkr_alert_queued",
        "gauge",
        "Alerts waiting in a channel's delivery queue (the one being attempted included).",
    );
    for queue in a.queues() {
        let _ = writeln!(out, "ibkr_alert_queued{{channel=\"{}\"}} {}", queue.channel, queue.queued);
    }
    let c = &state.connections;
    header(
        &mut out,
        "ibkr_http_connections_open",
        "gauge",
        "HTTP connections open now (at most http.max_connections).",
    );
    let _ = writeln!(out, "ibkr_http_connections_open {}", load(&c.open));
    header(&mut out, "ibkr_http_connections_closed_total", "counter", "HTTP connections the server closed, by reason.");
    let _ = writeln!(out, "ibkr_http_connections_closed_total{{reason=\"evicted_at_cap\"}} {}", load(&c.evicted));
    let _ = writeln!(out, "ibkr_http_connections_closed_total{{reason=\"idle\"}} {}", load(&c.idle_closed));
    let _ = writeln!(out, "ibkr_http_connections_closed_total{{reason=\"all_busy\"}} {}", load(&c.refused));
    header(
        &mut out,
        "ibkr_http_requests_refused_total",
        "counter",
        "Requests refused for their Host, origin or Content-Type.",
    );
    let _ = writeln!(out, "ibkr_http_requests_refused_total {}", load(&c.rejected_requests));
    warp::reply::with_header(out, "content-type", "text/plain; version=0.0.4; charset=utf-8").into_response()
}
