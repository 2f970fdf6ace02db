//! Python TWS clients for the tests: each in a venv under `target/`, created on first use under
//! an exclusive lock (`<venv>.lock`) so test processes running at once neither race nor
//! install twice, and never skipped: without Python, the venv module or PyPI the test fails
//! and says how to provide the client. An environment variable can point at a ready Python.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// One Python TWS client package.
pub struct PythonClient {
    /// The pip requirement, pinned.
    pub package: &'static str,
    /// The venv, relative to the workspace.
    pub venv: &'static str,
    /// Succeeds, printing the version, only in a Python that has the right package.
    pub probe: &'static str,
    /// A Python to use as is instead of the venv (never installed into).
    pub env_override: &'static str,
}

/// IB's official client (PyPI `ibapi-latest`, import name `ibapi`).
pub const OFFICIAL: PythonClient = PythonClient {
    package: "ibapi-latest==10.51.1",
    venv: "target/py-official",
    probe: r#"
import ibapi, ibapi.client, ibapi.wrapper
from ibapi.server_versions import MAX_CLIENT_VER
assert MAX_CLIENT_VER >= 226, f"ibapi {ibapi.__version__} speaks server versions up to {MAX_CLIENT_VER}, not 226: not ibapi-latest 10.51.1"
print(ibapi.__version__)
"#,
    env_override: "IBKR_SIM_PYTHON",
};

/// ib_async, the maintained successor of ib_insync (newest 2.x on PyPI).
pub const IB_ASYNC: PythonClient = PythonClient {
    package: "ib_async==2.1.0",
    venv: "target/py-ib-async",
    probe: r#"
import ib_async
assert ib_async.__version__ == "2.1.0", f"ib_async {ib_async.__version__}, not 2.1.0"
print(ib_async.__version__)
"#,
    env_override: "IBKR_SIM_PYTHON_IB_ASYNC",
};

/// ib_insync, still the most installed Python TWS library.
pub const IB_INSYNC: PythonClient = PythonClient {
    package: "ib_insync==0.9.86",
    venv: "target/py-ib-insync",
    probe: r#"
import ib_insync
assert ib_insync.__version__ == "0.9.86", f"ib_insync {ib_insync.__version__}, not 0.9.86"
print(ib_insync.__version__)
"#,
    env_override: "IBKR_SIM_PYTHON_IB_INSYNC",
};

/// Creating a venv and installing a client from PyPI.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Creates the venv under the lock; it is ready once `<venv>/.installed` names the package and
/// the probe passes in it. argv: venv, package, probe.
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

pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn how_to_install(client: &PythonClient) -> String {
    format!(
        "`{package}` is needed: either let this test create the venv (needs python3 with the venv module, \
         e.g. `apt-get install python3-venv`, and access to PyPI), or create it yourself:\n    \
         cd {ws} && python3 -m venv {venv} && {venv}/bin/pip install {package}\nor point {env} at a python \
         that has `{package}` installed.",
        package = client.package,
        venv = client.venv,
        env = client.env_override,
        ws = workspace().display()
    )
}

/// Runs `program args` in the workspace, killing it after `limit`: (stdout, stderr) on success,
/// else what went wrong with all its output.
pub async fn run(program: &Path, args: &[&str], limit: Duration) -> Result<(String, String), String> {
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

/// A Python in which `client` imports: the override if set, else the venv (made if needed).
pub async fn python_for(client: &PythonClient) -> PathBuf {
    let probe = |python: PathBuf| async move { run(&python, &["-c", client.probe], Duration::from_secs(60)).await };
    if let Some(python) = std::env::var_os(client.env_override) {
        let python = PathBuf::from(python);
        match probe(python.clone()).await {
            Ok((version, _)) => eprintln!("{}={} has {}", client.env_override, python.display(), version.trim()),
            Err(e) => panic!(
                "{}={} cannot import {}:\n{e}\n{}",
                client.env_override,
                python.display(),
                client.package,
                how_to_install(client)
            ),
        }
        return python;
    }

    let venv = workspace().join(client.venv);
    let python = venv.join("bin").join("python");
    let marker_ok = std::fs::read_to_string(venv.join(".installed")).is_ok_and(|m| m == client.package);
    if marker_ok && probe(python.clone()).await.is_ok() {
        return python;
    }

    let mut failures = vec![];
    for base in ["python3", "python"] {
        let args = ["-c", BOOTSTRAP, venv.to_str().expect("workspace path is UTF-8"), client.package, client.probe];
        match run(Path::new(base), &args, INSTALL_TIMEOUT).await {
            Ok((how, _)) => match probe(python.clone()).await {
                Ok((version, _)) => {
                    eprintln!("{}: {} with {}", venv.display(), how.trim(), version.trim());
                    return python;
                }
                Err(e) => failures.push(e),
            },
            Err(e) => failures.push(e),
        }
    }
    panic!("cannot set up {}:\n{}\n\n{}", venv.display(), failures.join("\n"), how_to_install(client));
}

/// Run a test script: `args` plus `--debug` when `IBKR_SIM_PYTHON_DEBUG=1`; echoes its stderr
/// and stdout to the test's output and panics with all of it (`what` failed) if it fails.
pub async fn run_script(python: &Path, mut args: Vec<&str>, limit: Duration, what: &str) -> String {
    if std::env::var_os("IBKR_SIM_PYTHON_DEBUG").is_some_and(|v| v == "1") {
        args.push("--debug");
    }
    let script = args.first().copied().unwrap_or("the script");
    match run(python, &args, limit).await {
        Ok((stdout, stderr)) => {
            if !stderr.trim().is_empty() {
                eprintln!("{script} stderr:\n{stderr}");
            }
            eprintln!("{script}: {}", stdout.trim());
            stdout
        }
        Err(e) => panic!("{what} failed against the simulator:\n{e}"),
    }
}

/// The last line of `stdout` that is a JSON object: what a test script observed.
pub fn observed(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).expect("a JSON line on stdout");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"))
}
