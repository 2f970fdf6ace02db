//! End-to-end checks of configuration errors, through the real binary.
//!
//! Contract of `ibkr-supervisor --config <file> --check-config`: settings are loaded before
//! anything else; a bad file prints `error: {SettingsError}` on stderr and exits with code 2,
//! where a `SettingsError` reads `"{field}: {message}"`; a good file prints a short summary
//! and exits with 0.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ibkr-supervisor");
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/settings.json");

/// The binary must answer `--check-config` quickly; it is killed after this long.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What a run of the binary produced.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `ibkr-supervisor --config <config> --check-config` in a scratch directory, so that a
/// misbehaving binary cannot leave files in the repository, and kills it after [`TIMEOUT`].
fn check_config(config: &Path) -> Run {
    let scratch = tempfile::tempdir().expect("create a scratch directory");
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("--check-config")
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the ibkr-supervisor binary");

    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });

    // Wait on a helper thread, bounded by the channel's timeout.
    let pid = child.id();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match exited.recv_timeout(TIMEOUT) {
        Ok(status) => status.expect("wait for the binary"),
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("`ibkr-supervisor --config {} --check-config` did not exit within {TIMEOUT:?}", config.display());
        }
    };

    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Writes `json` to a temporary `.json` file (deleted when the handle is dropped).
fn config_file(json: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("settings-")
        .suffix(".json")
        .tempfile()
        .expect("create a temporary config file");
    file.write_all(json.as_bytes()).expect("write the config file");
    file.flush().expect("flush the config file");
    file
}

/// Runs the check on `json`.
fn check_json(json: &str) -> Run {
    let file = config_file(json);
    check_config(file.path())
}

/// A valid document: one paper account, whose fields can be replaced with `account_extra`
/// (spliced in after the standard fields) and with top-level `extra` keys.
fn doc(account_fields: &str, extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{
  "accounts": [
    {{ {account_fields} }}
  ]{sep}
  {extra}
}}"#
    )
}

const PAPER: &str = r#""name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002, "client_id": 1"#;

/// Asserts the run failed with exit code 2 and printed `error: {field}: ...` on stderr,
/// with every one of `words` somewhere in it.
#[track_caller]
fn assert_rejected(run: &Run, field: &str, words: &[&str]) {
    assert_eq!(run.code, Some(2), "expected exit code 2\n{run}");
    let prefix = format!("error: {field}: ");
    assert!(run.stderr.contains(&prefix), "stderr should contain {prefix:?}\n{run}");
    for word in words {
        assert!(run.stderr.contains(word), "stderr should contain {word:?}\n{run}");
    }
}

#[test]
fn shipped_config_passes() {
    let run = check_config(Path::new(SHIPPED));
    assert_eq!(run.code, Some(0), "the shipped config/settings.json must pass\n{run}");
    assert!(!run.stdout.trim().is_empty(), "expected a summary on stdout\n{run}");
    assert!(!run.stderr.contains("error:"), "no error expected on stderr\n{run}");
}

#[test]
fn minimal_config_passes() {
    let run = check_json(&doc(PAPER, ""));
    assert_eq!(run.code, Some(0), "{run}");
}

#[test]
fn unknown_top_level_key() {
    let run = check_json(&doc(PAPER, r#""colour": "red""#));
    assert_rejected(&run, "colour", &["unknown", "accounts", "heartbeat"]);
}

#[test]
fn unknown_nested_key() {
    let run = check_json(&doc(&format!(r#"{PAPER}, "colour": "red""#), ""));
    assert_rejected(&run, "accounts[0].colour", &["unknown", "client_id"]);

    let run = check_json(&doc(PAPER, r#""heartbeat": { "intervall": "5s" }"#));
    assert_rejected(&run, "heartbeat.intervall", &["unknown", "interval"]);
}

#[test]
fn bad_duration() {
    let run = check_json(&doc(PAPER, r#""heartbeat": { "interval": "5 parsecs" }"#));
    assert_rejected(&run, "heartbeat.interval", &["\"5s\"", "\"5 parsecs\""]);

    let run = check_json(&doc(PAPER, r#""reconnect": { "schedule": ["1s", "0s"] }"#));
    assert_rejected(&run, "reconnect.schedule[1]", &["\"0s\""]);
}

#[test]
fn unknown_timezone() {
    let run = check_json(&doc(PAPER, r#""timezone": "Sydney""#));
    assert_rejected(&run, "timezone", &["'Sydney'", "IANA", "Australia/Sydney"]);
}

#[test]
fn duplicate_account_names() {
    let second = r#""name": "paper", "paper_trading": false, "host": "127.0.0.1", "port": 4001, "client_id": 2"#;
    let json = format!(r#"{{ "accounts": [ {{ {PAPER} }}, {{ {second} }} ] }}"#);
    let run = check_json(&json);
    assert_rejected(&run, "accounts[1].name", &["duplicate", "unique"]);
}

#[test]
fn port_zero() {
    let account = PAPER.replace("4002", "0");
    let run = check_json(&doc(&account, ""));
    assert_rejected(&run, "accounts[0].port", &["1-65535", "got 0"]);
}

#[test]
fn port_out_of_range() {
    let account = PAPER.replace("4002", "70000");
    let run = check_json(&doc(&account, ""));
    assert_rejected(&run, "accounts[0].port", &["1-65535", "got 70000"]);
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let missing = dir.path().join("no-such-settings.json");
    let run = check_config(&missing);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("error: cannot read config file"), "stderr should say the file cannot be read\n{run}");
    assert!(run.stderr.contains("no-such-settings.json"), "stderr should name the file\n{run}");
}

#[test]
fn non_loopback_bind_without_token() {
    let run = check_json(&doc(PAPER, r#""http": { "bind": "0.0.0.0:8080" }"#));
    assert_rejected(&run, "http.token", &["0.0.0.0:8080"]);

    let run = check_json(&doc(PAPER, r#""http": { "bind": "0.0.0.0:8080", "token": "0123456789abcdef" }"#));
    assert_eq!(run.code, Some(0), "a long enough token makes it valid\n{run}");
    assert!(
        !run.stdout.contains("0123456789abcdef") && !run.stderr.contains("0123456789abcdef"),
        "the token is a secret and must not be printed\n{run}"
    );
}

#[test]
fn malformed_json() {
    let run = check_json(r#"{ "accounts": [ }"#);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("error: "), "{run}");
    assert!(run.stderr.contains("line 1"), "stderr should locate the problem\n{run}");
}

#[test]
fn reset_preset_and_guard_quiesce() {
    let run = check_json(&doc(PAPER, r#""reset_preset": "ib-mars""#));
    assert_rejected(&run, "reset_preset", &["\"ib-mars\"", "ib-north-america", "ib-europe", "ib-asia"]);
    let run = check_json(&doc(PAPER, r#""reset_preset": "ib-europe", "guard": { "quiesce_before_reset": "45s" }"#));
    assert_eq!(run.code, Some(0), "{run}");
    let run = check_json(&doc(PAPER, r#""guard": { "quiesce_before_reset": "soon" }"#));
    assert_rejected(&run, "guard.quiesce_before_reset", &["\"soon\""]);
}

#[test]
fn pacing_stays_below_ibs_rate_and_leaves_requests_a_share() {
    let run = check_json(&doc(PAPER, r#""pacing": { "max_messages_per_second": 60 }"#));
    assert_rejected(&run, "pacing.max_messages_per_second", &["at most IB's limit of 50", "got 60"]);
    let run = check_json(&doc(PAPER, r#""pacing": { "max_messages_per_second": 0 }"#));
    assert_rejected(&run, "pacing.max_messages_per_second", &["0"]);
    let run = check_json(&doc(PAPER, r#""pacing": { "max_messages_per_second": 10, "order_reserve": 10 }"#));
    assert_rejected(&run, "pacing.order_reserve", &["(10) must be less than", "requests other than orders never go"]);
    let run = check_json(&doc(
        PAPER,
        r#""pacing": { "max_messages_per_second": 45, "order_reserve": 5, "cool_down": "2s" }"#,
    ));
    assert_eq!(run.code, Some(0), "{run}");
    let run = check_json(&doc(PAPER, r#""pacing": { "burst": 3 }"#));
    assert_rejected(&run, "pacing.burst", &["unknown key", "max_messages_per_second"]);
}

#[test]
fn ibc_command_server_of_an_account() {
    let with_ibc = |ibc: &str| doc(&format!(r#"{PAPER}, "ibc": {ibc}"#), "");
    assert_eq!(check_json(&with_ibc("{}")).code, Some(0), "host and port have defaults");
    assert_eq!(check_json(&with_ibc(r#"{ "host": "10.0.0.5", "port": 7462 }"#)).code, Some(0));
    assert_rejected(&check_json(&with_ibc(r#"{ "port": 0 }"#)), "accounts[0].ibc.port", &["1-65535", "got 0"]);
    assert_rejected(&check_json(&with_ibc(r#"{ "host": " " }"#)), "accounts[0].ibc.host", &["empty"]);
    assert_rejected(&check_json(&with_ibc(r#"{ "prot": 7462 }"#)), "accounts[0].ibc.prot", &["unknown", "port"]);
    let second = r#""name": "Live", "paper_trading": false, "host": "127.0.0.1", "port": 4001, "client_id": 2"#;
    let json = format!(r#"{{ "accounts": [ {{ {PAPER} }}, {{ {second}, "ibc": {{ "port": 70000 }} }} ] }}"#);
    assert_rejected(&check_json(&json), "accounts[1].ibc.port", &["got 70000"]);
}

#[test]
fn escalation_thresholds_and_the_restart_command() {
    let escalation = |body: &str| check_json(&doc(PAPER, &format!(r#""escalation": {body}"#)));
    let valid = r#"{ "restart_after": "2m", "min_interval": "30m", "restart_command": ["docker", "restart", "ib-gateway"],
                     "restart_command_timeout": "90s", "enabled": true }"#;
    assert_eq!(escalation(valid).code, Some(0), "{}", escalation(valid));
    assert_eq!(escalation(r#"{ "restart_command": null }"#).code, Some(0));
    assert_rejected(
        &escalation(r#"{ "restart_command": [] }"#),
        "escalation.restart_command",
        &["empty list", "docker"],
    );
    assert_rejected(&escalation(r#"{ "restart_command": ["", "x"] }"#), "escalation.restart_command[0]", &["program"]);
    assert_rejected(&escalation(r#"{ "restart_command": "docker restart gw" }"#), "escalation.restart_command", &[]);
    assert_rejected(&escalation(r#"{ "restart_after": "0s" }"#), "escalation.restart_after", &["at least 1ms"]);
    assert_rejected(&escalation(r#"{ "min_interval": "0ms" }"#), "escalation.min_interval", &["at least 1ms"]);
    assert_rejected(
        &escalation(r#"{ "restart_command_timeout": "soon" }"#),
        "escalation.restart_command_timeout",
        &["\"soon\""],
    );
    assert_rejected(&escalation(r#"{ "reconnect_data_after": 300 }"#), "escalation.reconnect_data_after", &["number"]);
    assert_rejected(&escalation(r#"{ "stop_after": "1h" }"#), "escalation.stop_after", &["unknown", "restart_after"]);
}

#[test]
fn shipped_ibc_example_passes() {
    let run = check_config(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/settings.ibc.json"));
    assert_eq!(run.code, Some(0), "config/settings.ibc.json must pass\n{run}");
}
