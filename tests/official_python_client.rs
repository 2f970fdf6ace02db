//! IB's official Python TWS API client (PyPI `ibapi-latest` 10.51.1, import name `ibapi`) against
//! the simulated gateway: connect, current time, an order through to its fill, and market data.
//!
//! The client runs as `tests/python/official_client.py` in a Python that has it:
//! - `IBKR_SIM_PYTHON`, if set (used as is, never installed into);
//! - else `target/py-official/bin/python`, a venv this test creates on first use with
//!   `python3 -m venv target/py-official` and `pip install ibapi-latest==10.51.1` (needs PyPI).
//!
//! The test fails, and says how to install the client, when neither can be had: it never skips.
//! `IBKR_SIM_PYTHON_DEBUG=1` makes the script log the client's frames at DEBUG.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ibkr_supervisor::sim::{SimConfig, SimOptions, Simulator};
use serde_json::Value;
use tokio::process::Command;

const PACKAGE: &str = "ibapi-latest==10.51.1";
const VENV: &str = "target/py-official";
const ACCOUNT: &str = "DU1234567";
const CLIENT_ID: i32 = 11;
/// The whole script: seven steps of at most 10 s each, in practice about 2 s.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Creating the venv and installing the client from PyPI.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Succeeds, printing the version, only in a Python with the official, protobuf-era client.
const PROBE: &str = r#"
import ibapi, ibapi.client, ibapi.wrapper
from ibapi.server_versions import MAX_CLIENT_VER
assert MAX_CLIENT_VER >= 226, f"ibapi {ibapi.__version__} speaks server versions up to {MAX_CLIENT_VER}, not 226: not ibapi-latest 10.51.1"
print(ibapi.__version__)
"#;

/// Creates the venv under an exclusive lock (`<venv>.lock`, released when the process ends,
/// however it ends), so test processes running at once neither race nor install twice. A venv
/// is ready once `<venv>/.installed` names the package and the probe passes in it.
/// argv: venv, package, probe.
const BOOTSTRAP: &str = r#"
import fcntl, os, subprocess, sys
venv, package, probe = sys.argv[1:4]
python = os.path.join(venv, "bin", "python")
marker = os.path.join(venv, ".installed")

def ready():
    try:
        with open(marker) as f:
            if f.read() != package:
                return False
    except OSError:
        return False
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0

os.makedirs(os.path.dirname(os.path.abspath(venv)), exist_ok=True)
with open(venv + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if ready():
        print("found ready (made by another test process)")
        sys.exit(0)
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", package], check=True)
    subprocess.run([python, "-c", probe], check=True, stdout=subprocess.DEVNULL)
    with open(marker, "w") as f:
        f.write(package)
    print("created")
"#;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn how_to_install() -> String {
    format!(
        "IB's official Python client is needed: either let this test create the venv (needs python3 with the \
         venv module, e.g. `apt-get install python3-venv`, and access to PyPI), or create it yourself:\n    \
         cd {ws} && python3 -m venv {VENV} && {VENV}/bin/pip install {PACKAGE}\nor point IBKR_SIM_PYTHON at a \
         python that has `{PACKAGE}` installed.",
        ws = workspace().display()
    )
}

/// Runs `program args`, killing it after `limit`: its stdout, or what went wrong with its output.
async fn run(program: &Path, args: &[&str], limit: Duration) -> Result<String, String> {
    run_with_stderr(program, args, limit).await.map(|(stdout, _)| stdout)
}

/// [`run`], also returning stderr on success.
async fn run_with_stderr(program: &Path, args: &[&str], limit: Duration) -> Result<(String, String), String> {
    let child = Command::new(program)
        .args(args)
        .current_dir(workspace())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| format!("{} did not finish within {limit:?}", program.display()))?
        .map_err(|e| format!("waiting for {}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        Ok((stdout, stderr))
    } else {
        Err(format!("{} exited with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}", program.display(), output.status))
    }
}

/// A Python in which the official client imports: see the module doc.
async fn official_python() -> PathBuf {
    if let Some(python) = std::env::var_os("IBKR_SIM_PYTHON") {
        let python = PathBuf::from(python);
        match run(&python, &["-c", PROBE], Duration::from_secs(60)).await {
            Ok(version) => eprintln!("IBKR_SIM_PYTHON={} has ibapi {}", python.display(), version.trim()),
            Err(e) => panic!(
                "IBKR_SIM_PYTHON={} cannot import the official client:\n{e}\n{}",
                python.display(),
                how_to_install()
            ),
        }
        return python;
    }

    let venv = workspace().join(VENV);
    let python = venv.join("bin").join("python");
    let marker_ok = std::fs::read_to_string(venv.join(".installed")).is_ok_and(|m| m == PACKAGE);
    if marker_ok && run(&python, &["-c", PROBE], Duration::from_secs(60)).await.is_ok() {
        return python;
    }

    let mut failures = vec![];
    for base in ["python3", "python"] {
        let args = ["-c", BOOTSTRAP, venv.to_str().expect("workspace path is UTF-8"), PACKAGE, PROBE];
        match run(Path::new(base), &args, INSTALL_TIMEOUT).await {
            Ok(how) => match run(&python, &["-c", PROBE], Duration::from_secs(60)).await {
                Ok(version) => {
                    eprintln!("{}: {} with ibapi {}", venv.display(), how.trim(), version.trim());
                    return python;
                }
                Err(e) => failures.push(e),
            },
            Err(e) => failures.push(e),
        }
    }
    panic!("cannot set up {}:\n{}\n\n{}", venv.display(), failures.join("\n"), how_to_install());
}

#[tokio::test]
async fn official_python_client_connects_orders_and_streams_market_data() {
    let python = official_python().await;
    let script = workspace().join("tests/python/official_client.py");

    let sim = Simulator::start(SimConfig::default().loopback(ACCOUNT).options(SimOptions {
        fill_delay: Duration::from_millis(50),
        tick_interval: Duration::from_millis(20),
        ..SimOptions::default()
    }))
    .await
    .unwrap();
    let addr = sim.addr(0);

    let port = addr.port().to_string();
    let client_id = CLIENT_ID.to_string();
    let host = addr.ip().to_string();
    let mut args = vec![
        script.to_str().unwrap(),
        "--host",
        &host,
        "--port",
        &port,
        "--client-id",
        &client_id,
        "--account",
        ACCOUNT,
    ];
    if std::env::var_os("IBKR_SIM_PYTHON_DEBUG").is_some_and(|v| v == "1") {
        args.push("--debug");
    }
    let started = chrono::Utc::now();
    let stdout = match run_with_stderr(&python, &args, SCRIPT_TIMEOUT).await {
        Ok((stdout, stderr)) => {
            if !stderr.trim().is_empty() {
                eprintln!("official_client.py stderr:\n{stderr}");
            }
            stdout
        }
        Err(e) => panic!("the official Python client failed against the simulator:\n{e}"),
    };
    let finished = chrono::Utc::now();
    eprintln!("official_client.py: {}", stdout.trim());

    // What the client saw.
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).expect("a JSON line on stdout");
    let seen: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"));
    assert_eq!(seen["server_version"], 226, "{seen}");
    let order_id = seen["next_valid_id"].as_i64().unwrap_or_else(|| panic!("next_valid_id in {seen}"));
    assert!(order_id >= 1, "{seen}");
    assert_eq!(seen["order_id"], order_id, "the order used nextValidId: {seen}");
    assert_eq!(seen["accounts"], ACCOUNT, "{seen}");
    assert_eq!(seen["farm_notices"], serde_json::json!([2104, 2106, 2158]), "{seen}");

    let in_run = |ms: i64| (started.timestamp_millis() - 1000..=finished.timestamp_millis() + 1000).contains(&ms);
    let secs = seen["current_time"].as_i64().unwrap_or_else(|| panic!("current_time in {seen}"));
    assert!(in_run(secs * 1000), "currentTime {secs} not within the run ({started} .. {finished})");
    let millis = seen["current_time_millis"].as_i64().unwrap_or_else(|| panic!("current_time_millis in {seen}"));
    assert!(in_run(millis), "currentTimeInMillis {millis} not within the run ({started} .. {finished})");

    let statuses: Vec<&str> = seen["order_statuses"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(statuses, ["Submitted", "Filled"], "{seen}");
    let events: Vec<&str> = seen["order_events"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(events[0], "openOrder", "{seen}");
    for callback in ["execDetails", "commissionAndFeesReport"] {
        assert!(events.contains(&callback), "{callback} in {seen}");
    }
    assert_eq!(seen["exec_shares"].as_str().unwrap().parse::<f64>().unwrap(), 10.0, "{seen}");
    assert_eq!(seen["exec_side"], "BOT", "{seen}");
    assert_eq!(seen["exec_price"], 150.0, "a BUY LMT 150 fills at its limit in the simulator: {seen}");
    assert_eq!(seen["open_order"]["account"], ACCOUNT, "{seen}");
    assert_eq!(seen["open_order"]["client_id"], CLIENT_ID, "{seen}");

    assert!(seen["ticks"].as_u64().unwrap() >= 3, "{seen}");
    assert!(seen["size_ticks"].as_u64().unwrap() >= 1, "{seen}");
    assert_eq!(seen["market_data_type"], 1, "real-time data: {seen}");
    assert_eq!(seen["ticks_after_cancel"], 0, "{seen}");
    assert_eq!(seen["disconnected"], true, "{seen}");

    // What the simulator saw.
    let orders = sim.orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    let order = &orders[0];
    assert_eq!(i64::from(order.order_id), order_id, "{order:?}");
    assert_eq!(order.client_id, CLIENT_ID, "{order:?}");
    assert_eq!(order.account, ACCOUNT, "{order:?}");
    assert_eq!(order.symbol, "AAPL", "{order:?}");
    assert_eq!(order.action, "BUY", "{order:?}");
    assert_eq!(order.quantity.parse::<f64>().ok(), Some(10.0), "{order:?}");
    assert_eq!(order.order_type, "LMT", "{order:?}");
    assert_eq!(order.limit_price, Some(150.0), "{order:?}");
    assert_eq!(order.outcome, "accepted", "{order:?}");

    // The client disconnected: the simulator lets go of it promptly.
    common::eventually(Duration::from_secs(2), "the simulator let go of the disconnected client", || async {
        sim.clients().is_empty() && sim.state().listeners[0].open_sockets == 0
    })
    .await;
    assert_eq!(sim.state().listeners[0].market_data_subscriptions, 0);

    sim.shutdown();
}
