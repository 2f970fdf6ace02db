//! The two ways a rung acts, each one bounded async call that the [`EscalationActor`]
//! (super::EscalationActor) runs as a task of its own and whose [`Outcome`] comes back to it
//! as a message:
//!
//! - [`send_command`]: IBC's command server over TCP — connect (bounded), send one command
//!   line, read reply lines ([`crate::ibc::Exchange`]) until `OK` / `ERROR` or the close, all
//!   within one deadline: IBC sometimes never answers `RECONNECTDATA` (its handler throws
//!   when the main window is not there yet), so silence past the deadline is
//!   [`Outcome::NoAnswer`]. The optional greeting (`INFO IBC Command Server`) is just an
//!   `INFO` line. Lines longer than [`MAX_REPLY_LINE`] end the exchange (not IBC).
//! - [`run_restart_command`]: the configured argv, no shell, stdin closed, stdout discarded,
//!   the tail of stderr kept; killed at its timeout (`kill_on_drop`: the process itself — a
//!   command that forks into the background must wait for its children, as `docker restart`
//!   does).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::outcome::Outcome;
use crate::ibc::{Command, Exchange, Progress, Reply, MAX_REPLY_LINE};

/// How much of the restart command's stderr an outcome keeps (its end).
pub const STDERR_TAIL: usize = 300;

/// Send `command` to IBC's command server at `address`; connect, send and every reply within
/// `within`.
pub async fn send_command(address: &str, command: Command, within: Duration) -> Outcome {
    match tokio::time::timeout(within, converse(address, command)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => Outcome::Unreachable { error },
        // Silent past the deadline; an exchange half done (a Gateway RESTART's first OK) is
        // lost with the future, but IBC then never sent its "RESTART at": no answer.
        Err(_) => Outcome::NoAnswer,
    }
}

async fn converse(address: &str, command: Command) -> Result<Outcome, String> {
    let stream = TcpStream::connect(address).await.map_err(|e| format!("connect {address}: {e}"))?;
    let (read, mut write) = stream.into_split();
    write.write_all(command.line().as_bytes()).await.map_err(|e| format!("send {command}: {e}"))?;
    let mut exchange = Exchange::new(command);
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut lines).take(MAX_REPLY_LINE as u64 + 1).read_line(&mut line).await;
        match read {
            // Closed (or reset) before OK / ERROR: IBC's own way of not answering.
            Ok(0) | Err(_) => return Ok(from_ibc(exchange.on_end())),
            Ok(_) => {}
        }
        if line.trim_end_matches(['\r', '\n']).is_empty() {
            continue;
        }
        let reply = Reply::parse(&line, "").map_err(|e| e.to_string())?;
        if let Progress::Done(outcome) = exchange.on_reply(reply) {
            return Ok(from_ibc(outcome));
        }
    }
}

fn from_ibc(outcome: crate::ibc::Outcome) -> Outcome {
    match outcome {
        crate::ibc::Outcome::Accepted { detail, .. } => Outcome::Accepted { detail },
        crate::ibc::Outcome::Rejected { reason } => Outcome::Rejected { reason },
        crate::ibc::Outcome::NoAnswer => Outcome::NoAnswer,
    }
}

/// Run `argv` with `env` added, killed after `timeout`.
pub async fn run_restart_command(argv: &[String], env: &[(&str, String)], timeout: Duration) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::SpawnFailed { error: "empty command".into() };
    };
    let mut command = tokio::process::Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::SpawnFailed { error: format!("{program}: {e}") },
    };
    // Dropping the wait at the timeout drops the child, which kills it.
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => Outcome::Exited {
            code: output.status.code(),
            success: output.status.success(),
            stderr: tail(&String::from_utf8_lossy(&output.stderr)),
        },
        Ok(Err(e)) => Outcome::SpawnFailed { error: format!("{program}: {e}") },
        Err(_) => Outcome::TimedOut { after_ms: timeout.as_millis().min(u128::from(u64::MAX)) as u64 },
    }
}

/// The last [`STDERR_TAIL`] characters of `text`, trimmed.
fn tail(text: &str) -> String {
    let text = text.trim();
    let skip = text.chars().count().saturating_sub(STDERR_TAIL);
    text.chars().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection server that reads the command line and answers `answer` (then closes,
    /// or stays silent and open when `hold`).
    async fn server(answer: &'static str, hold: bool) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read);
            let mut line = String::new();
            lines.read_line(&mut line).await.unwrap();
            write.write_all(answer.as_bytes()).await.unwrap();
            if hold {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            line
        });
        (address, task)
    }

    #[tokio::test]
    async fn a_reconnect_is_acknowledged_after_the_greeting() {
        let (address, task) = server("INFO IBC Command Server\nOK \n", false).await;
        let outcome = send_command(&address, Command::ReconnectData, Duration::from_secs(5)).await;
        assert_eq!(outcome, Outcome::Accepted { detail: String::new() });
        assert_eq!(task.await.unwrap(), "RECONNECTDATA\n");
    }

    #[tokio::test]
    async fn a_gateway_restart_reads_both_lines() {
        let (address, _task) = server("OK RESTART in progress\r\nOK RESTART at 01:23 PM\r\n", false).await;
        let outcome = send_command(&address, Command::Restart, Duration::from_secs(5)).await;
        assert_eq!(outcome, Outcome::Accepted { detail: "RESTART at 01:23 PM".into() });
    }

    #[tokio::test]
    async fn refusals_silence_and_strangers() {
        let (address, _task) = server("ERROR Command invalid\n", true).await;
        let refused = send_command(&address, Command::ReconnectAccount, Duration::from_secs(5)).await;
        assert_eq!(refused, Outcome::Rejected { reason: "Command invalid".into() });
        // IBC's handler threw: nothing comes, the deadline ends it.
        let (address, _task) = server("", true).await;
        let silent =
            tokio::spawn(
                async move { send_command(&address, Command::ReconnectData, Duration::from_millis(200)).await },
            );
        assert_eq!(silent.await.unwrap(), Outcome::NoAnswer);
        let (address, _task) = server("HTTP/1.1 400 Bad Request\r\n", false).await;
        let stranger = send_command(&address, Command::Restart, Duration::from_secs(5)).await;
        assert!(
            matches!(&stranger, Outcome::Unreachable { error } if error.contains("CommandServerPort")),
            "{stranger:?}"
        );
        // Closed without a word (ControlFrom): no answer.
        let (address, _task) = server("", false).await;
        assert_eq!(send_command(&address, Command::Restart, Duration::from_secs(5)).await, Outcome::NoAnswer);
    }

    #[tokio::test]
    async fn nobody_listening_is_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let outcome = send_command(&address, Command::Restart, Duration::from_secs(5)).await;
        assert!(matches!(&outcome, Outcome::Unreachable { error } if error.contains(&address)), "{outcome:?}");
    }

    #[tokio::test]
    async fn the_restart_command_reports_its_exit_its_stderr_and_is_killed_at_its_timeout() {
        let argv = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        let env = [("IBKR_ACCOUNT", "Live".to_string())];
        let ok = run_restart_command(&argv("test \"$IBKR_ACCOUNT\" = Live"), &env, Duration::from_secs(10)).await;
        assert_eq!(ok, Outcome::Exited { code: Some(0), success: true, stderr: String::new() });
        let failed =
            run_restart_command(&argv("echo 'no such container' >&2; exit 3"), &env, Duration::from_secs(10)).await;
        assert_eq!(failed, Outcome::Exited { code: Some(3), success: false, stderr: "no such container".into() });
        let started = std::time::Instant::now();
        let hung =
            run_restart_command(&["sleep".to_string(), "30".to_string()], &env, Duration::from_millis(200)).await;
        assert_eq!(hung, Outcome::TimedOut { after_ms: 200 });
        assert!(started.elapsed() < Duration::from_secs(20), "killed, not waited for");
        let missing =
            run_restart_command(&["/nonexistent/restart-gateway".to_string()], &env, Duration::from_secs(1)).await;
        assert!(matches!(&missing, Outcome::SpawnFailed { error } if error.contains("/nonexistent")), "{missing:?}");
        assert_eq!(tail(&"x".repeat(STDERR_TAIL + 10)).len(), STDERR_TAIL);
    }
}
