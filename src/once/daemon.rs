//! Asking the supervisor that may already run on these settings: `GET /status` on `http.bind`
//! (an unspecified bind address is asked on loopback), bounded by [`ASK_WITHIN`], with the
//! bearer token when `http.token` is set. Its answer is believed only if it is a supervisor's
//! status JSON that supervises every configured account (same name, host and port).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use ibkr_supervisor_actors::conditions::{CompetingEpisode, PacingCounters};
use ibkr_supervisor_actors::farms::{DataPlane, Farm, FarmSnapshot};
use ibkr_supervisor_actors::settings::Settings;
use ibkr_supervisor_actors::{heartbeat_line, AccountStatus, ConnectionState};

use super::{problems, OnceReport, Source};

/// How long `--once` waits for a running supervisor's `/status`.
pub const ASK_WITHIN: Duration = Duration::from_secs(1);

/// The most of a `/status` body read.
const MAX_BODY: u64 = 4 << 20;

/// What asking gave.
pub(super) enum Answer {
    /// Our daemon answered for every account: its view.
    View(OnceReport),
    /// Nothing listens there (or `http.bind` has port 0): check alone, nothing to say.
    Absent,
    /// Something is there, but no usable supervisor view: check alone, and say why.
    NotUsable(String),
}

/// `GET /status` as the supervisor serves it (the fields `--once` reads).
#[derive(Debug, Deserialize)]
struct Status {
    #[allow(dead_code)]
    version: String,
    now: DateTime<Utc>,
    accounts: Vec<Account>,
}

#[derive(Debug, Deserialize)]
struct Account {
    name: String,
    paper_trading: bool,
    host: String,
    port: u16,
    client_id: i32,
    /// The state with its data.
    detail: ConnectionState,
    last_checked: Option<DateTime<Utc>>,
    last_connected: Option<DateTime<Utc>>,
    #[serde(default)]
    outage_since: Option<DateTime<Utc>>,
    reconnect_attempts: u32,
    next_attempt_at: Option<DateTime<Utc>>,
    error_message: Option<String>,
    probe_rtt_ms: Option<f64>,
    #[serde(default)]
    data_plane: DataPlane,
    #[serde(default)]
    farms: Vec<Farm>,
    #[serde(default)]
    competing_session: Option<CompetingEpisode>,
    #[serde(default)]
    pacing: PacingCounters,
}

impl From<Account> for AccountStatus {
    fn from(a: Account) -> AccountStatus {
        AccountStatus {
            name: a.name,
            paper_trading: a.paper_trading,
            host: a.host,
            port: a.port,
            client_id: a.client_id,
            state: a.detail,
            last_checked: a.last_checked,
            last_connected: a.last_connected,
            outage_since: a.outage_since,
            reconnect_attempts: a.reconnect_attempts,
            next_attempt_at: a.next_attempt_at,
            error_message: a.error_message,
            probe_rtt_ms: a.probe_rtt_ms,
            farms: FarmSnapshot { data_plane: a.data_plane, farms: a.farms },
            competing_session: a.competing_session,
            pacing: a.pacing,
        }
    }
}

/// Where a client reaches a server bound to `bind`: an unspecified address on loopback.
fn reach(bind: SocketAddr) -> SocketAddr {
    match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bind.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), bind.port()),
        _ => bind,
    }
}

/// Ask the supervisor on `settings.http.bind`.
pub(super) async fn ask(settings: &Settings) -> Answer {
    if settings.http.bind.port() == 0 {
        return Answer::Absent; // no fixed port: no daemon can be found there
    }
    let url = format!("http://{}", reach(settings.http.bind));
    let token = settings.http.token.clone();
    let get = {
        let url = format!("{url}/status");
        tokio::task::spawn_blocking(move || fetch(&url, token.as_deref()))
    };
    let fetched = match get.await {
        Ok(fetched) => fetched,
        Err(e) => return Answer::NotUsable(format!("asking {url}/status failed ({e}); checking alone")),
    };
    match fetched {
        Fetched::Refused => Answer::Absent,
        Fetched::Failed(why) => Answer::NotUsable(format!("{url}/status: {why}; checking alone")),
        Fetched::Body { status, body } => match judge(settings, &url, status, &body) {
            Ok(report) => Answer::View(report),
            Err(why) => Answer::NotUsable(format!("{url} answers, but {why}; checking alone")),
        },
    }
}

enum Fetched {
    /// Connection refused: nothing listens.
    Refused,
    Failed(String),
    Body {
        status: u16,
        body: String,
    },
}

/// A blocking GET, bounded by [`ASK_WITHIN`] in all (connect, request, body).
fn fetch(url: &str, token: Option<&str>) -> Fetched {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(ASK_WITHIN))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    match request.call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            match response.body_mut().with_config().limit(MAX_BODY).read_to_string() {
                Ok(body) => Fetched::Body { status, body },
                Err(e) => Fetched::Failed(format!("the answer could not be read ({e})")),
            }
        }
        Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Fetched::Refused,
        Err(ureq::Error::Timeout(_)) => {
            Fetched::Failed(format!("no answer within {}", humantime::format_duration(ASK_WITHIN)))
        }
        Err(e) => Fetched::Failed(format!("no answer ({e})")),
    }
}

/// The daemon's view, or why it is not one.
fn judge(settings: &Settings, url: &str, status: u16, body: &str) -> Result<OnceReport, String> {
    if status != 200 {
        let excerpt: String = body.chars().take(200).collect();
        return Err(format!("not with a supervisor's status (HTTP {status}: {excerpt})"));
    }
    let view: Status =
        serde_json::from_str(body).map_err(|e| format!("not as ibkr-supervisor (its /status is not ours: {e})"))?;
    let mut theirs: Vec<AccountStatus> = view.accounts.into_iter().map(AccountStatus::from).collect();
    let mut accounts = Vec::with_capacity(settings.accounts.len());
    for wanted in &settings.accounts {
        let at = theirs.iter().position(|a| a.name == wanted.name && a.host == wanted.host && a.port == wanted.port);
        match at {
            Some(i) => accounts.push(theirs.swap_remove(i)),
            None => {
                return Err(format!(
                    "it does not supervise {} at {}:{} (it runs other settings)",
                    wanted.name, wanted.host, wanted.port
                ))
            }
        }
    }
    let mut problems = problems(&accounts);
    // A view the daemon stopped refreshing says nothing about now.
    let heartbeat = &settings.heartbeat;
    let stale_after = heartbeat.interval * 3 + heartbeat.probe_timeout;
    let mut fresh = true;
    for account in accounts.iter().filter(|a| a.connected()) {
        let seen = account.last_checked.into_iter().chain([account.state.since()]).max().unwrap_or(view.now);
        let age = (view.now - seen).to_std().unwrap_or_default();
        if age > stale_after {
            fresh = false;
            problems.push(format!(
                "{}: the running supervisor last checked it {} ago (heartbeat every {}): its view is stale",
                account.name,
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                humantime::format_duration(heartbeat.interval),
            ));
        }
    }
    Ok(OnceReport {
        line: heartbeat_line(&accounts),
        all_connected: fresh && accounts.iter().all(|a| a.connected()),
        problems,
        accounts,
        source: Source::Daemon { url: url.to_owned() },
        recorded: None,
        notes: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::default()
    }

    fn body(now: &str, accounts: serde_json::Value) -> String {
        serde_json::json!({ "version": "0.1.0", "now": now, "accounts": accounts }).to_string()
    }

    fn account(name: &str, port: u16, state: serde_json::Value, last_checked: &str) -> serde_json::Value {
        serde_json::json!({
            "name": name, "paper_trading": true, "host": "127.0.0.1", "port": port, "client_id": 1,
            "state": state["state"], "connected": state["state"] == "connected", "detail": state,
            "last_checked": last_checked, "last_connected": null, "reconnect_attempts": 0,
            "next_attempt_at": null, "error_message": null, "probe_rtt_ms": 1.5,
        })
    }

    fn both(now: &str, live: serde_json::Value) -> String {
        let up = serde_json::json!({ "state": "connected", "since": "2026-03-09T09:00:00Z", "client_id": 1 });
        body(
            now,
            serde_json::json!([account("Paper", 4002, up, "2026-03-09T09:59:59Z"), account("Live", 4001, live, now)]),
        )
    }

    #[test]
    fn a_fresh_view_of_every_account_is_the_report() {
        let up = serde_json::json!({ "state": "connected", "since": "2026-03-09T09:00:00Z", "client_id": 2 });
        let report = judge(&settings(), "http://x", 200, &both("2026-03-09T10:00:00Z", up)).unwrap();
        assert_eq!((report.line.as_str(), report.all_connected), ("Paper ✅ | Live ✅", true));
        assert!(report.problems.is_empty(), "{:?}", report.problems);

        let down =
            serde_json::json!({ "state": "disconnected", "since": "2026-03-09T09:59:00Z", "last_error": "refused" });
        let report = judge(&settings(), "http://x", 200, &both("2026-03-09T10:00:00Z", down)).unwrap();
        assert_eq!((report.line.as_str(), report.all_connected), ("Paper ✅ | Live ❌", false));
        assert_eq!(report.problems, ["Live: disconnected"]);
    }

    #[test]
    fn a_view_not_refreshed_for_a_few_heartbeats_fails_the_check() {
        let up = serde_json::json!({ "state": "connected", "since": "2026-03-09T09:00:00Z", "client_id": 2 });
        // Paper last checked at 09:59:59, a minute before the daemon's now (heartbeat 5 s).
        let report = judge(&settings(), "http://x", 200, &both("2026-03-09T10:01:00Z", up)).unwrap();
        assert!(!report.all_connected);
        assert!(
            report.problems[0].starts_with("Paper: the running supervisor last checked it 1m 1s ago"),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn another_server_or_other_settings_are_not_believed() {
        let e = judge(&settings(), "http://x", 200, "<html>router login</html>").unwrap_err();
        assert!(e.starts_with("not as ibkr-supervisor"), "{e}");
        let e = judge(&settings(), "http://x", 404, "no such page").unwrap_err();
        assert!(e.contains("HTTP 404: no such page"), "{e}");
        let only_paper = body(
            "2026-03-09T10:00:00Z",
            serde_json::json!([account(
                "Paper",
                4002,
                serde_json::json!({ "state": "connected", "since": "2026-03-09T09:00:00Z", "client_id": 1 }),
                "2026-03-09T10:00:00Z"
            )]),
        );
        let e = judge(&settings(), "http://x", 200, &only_paper).unwrap_err();
        assert!(e.contains("does not supervise Live at 127.0.0.1:4001"), "{e}");
    }

    #[test]
    fn an_unspecified_bind_is_asked_on_loopback() {
        assert_eq!(reach("0.0.0.0:8080".parse().unwrap()), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(reach("[::]:8080".parse().unwrap()), "[::1]:8080".parse().unwrap());
        assert_eq!(reach("10.0.0.5:8080".parse().unwrap()), "10.0.0.5:8080".parse().unwrap());
    }
}
