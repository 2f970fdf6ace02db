//! IBC's command server, emulated beside one simulated gateway (`sim --listen A --account X
//! --ibc ADDR`): the line protocol of IBC 3.24.1 as `actors::ibc` records it (one command per
//! line, case-insensitive and untrimmed, `OK` / `ERROR` lines, info messages suppressed as in
//! IBC's default configuration, the Gateway's two-line `RESTART`), and what each command does
//! to the gateway:
//!
//! - `RESTART`: every session closed (FIN) and the listener down for the restart time
//!   (`--ibc-restart-ms`), then listening again; IB Gateway restarts without a login. What
//!   wedged the old process's API (`hang`, `stall_handshake`, `latency`) ends with it.
//! - `RECONNECTDATA`: every broken data farm reconnects (2104 / 2106 / 2158).
//! - `RECONNECTACCOUNT`: a lost upstream is restored (1102, data maintained).
//! - `STOP` / `PAUSE`: the gateway exits: sessions closed, listener down until `clear`.
//! - `EXIT`: `OK Goodbye`, this connection closes. `ENABLEAPI`: the Gateway's error.
//! - Anything else: `ERROR Command invalid`, the connection stays open.
//!
//! Connections from outside loopback are closed at once without a word, as IBC closes those
//! not in `ControlFrom`. Every command received is recorded; `/sim/state` lists them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::fault::Fault;
use super::gateway::Gateway;
use crate::actors::ibc::{Command, Program, Script, MAX_REPLY_LINE};

/// One command line the emulation received.
#[derive(Debug, Clone, Serialize)]
pub struct IbcCommandLog {
    /// The line as sent (without its terminator).
    pub line: String,
    /// The command it was, when IBC knows it.
    pub command: Option<Command>,
    pub received_at: DateTime<Utc>,
}

/// The emulated command server of one listener, as `/sim/state` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IbcState {
    pub addr: SocketAddr,
    pub commands: Vec<IbcCommandLog>,
}

/// The emulation's shared record.
#[derive(Debug)]
pub(crate) struct Ibc {
    pub addr: SocketAddr,
    commands: Mutex<Vec<IbcCommandLog>>,
}

/// Commands kept for `/sim/state`; older ones are forgotten.
const LOG_LIMIT: usize = 1000;

impl Ibc {
    pub fn state(&self) -> IbcState {
        IbcState { addr: self.addr, commands: self.commands.lock().unwrap_or_else(|p| p.into_inner()).clone() }
    }

    fn record(&self, line: &str, command: Option<Command>) {
        let mut log = self.commands.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == LOG_LIMIT {
            log.remove(0);
        }
        log.push(IbcCommandLog { line: line.to_owned(), command, received_at: Utc::now() });
    }
}

/// Bind `addr` and serve IBC's command protocol for `gateway` until it shuts down.
pub(crate) async fn start(gateway: Arc<Gateway>, addr: SocketAddr, restart: Duration) -> std::io::Result<Arc<Ibc>> {
    let listener = TcpListener::bind(addr).await?;
    let ibc = Arc::new(Ibc { addr: listener.local_addr()?, commands: Mutex::new(Vec::new()) });
    tracing::info!(addr = %ibc.addr, port = gateway.port(), "sim IBC command server listening");
    let served = Arc::clone(&ibc);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = gateway.shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) if peer.ip().is_loopback() => {
                    tokio::spawn(serve(stream, Arc::clone(&gateway), Arc::clone(&served), restart));
                }
                Ok((_, peer)) => tracing::warn!(%peer, "sim IBC: connection from outside loopback closed"),
                Err(e) => {
                    tracing::warn!(error = %e, "sim IBC: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    Ok(ibc)
}

async fn serve(stream: TcpStream, gateway: Arc<Gateway>, ibc: Arc<Ibc>, restart: Duration) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let mut bounded = (&mut lines).take(MAX_REPLY_LINE as u64 + 1);
        let read = tokio::select! {
            _ = gateway.shutdown.cancelled() => return,
            read = bounded.read_line(&mut line) => read,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) if line.len() > MAX_REPLY_LINE => return,
            Ok(_) => {}
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            continue;
        }
        let command = Command::from_wire(text);
        ibc.record(text, command);
        tracing::info!(port = gateway.port(), line = text, "sim IBC: command received");
        let script = match command {
            Some(command) => command.ibc_script(Program::Gateway, false, Local::now().time()),
            None => Command::invalid_script(),
        };
        if write_script(&mut write, &script).await.is_err() {
            return;
        }
        if let Some(command) = command {
            act(&gateway, command, restart);
        }
        if script.closes {
            let _ = write.shutdown().await;
            return;
        }
    }
}

async fn write_script(write: &mut tokio::net::tcp::OwnedWriteHalf, script: &Script) -> std::io::Result<()> {
    for reply in &script.replies {
        write.write_all(reply.line().as_bytes()).await?;
    }
    write.flush().await
}

/// What a command does to the gateway.
fn act(gateway: &Arc<Gateway>, command: Command, restart: Duration) {
    match command {
        Command::Restart => {
            gateway.apply(&Fault::Refuse { duration_ms: Some(restart.as_millis() as u64) });
            gateway.api_restarted();
        }
        Command::Stop | Command::Pause => gateway.apply(&Fault::Refuse { duration_ms: None }),
        Command::ReconnectData => gateway.reconnect_farms(),
        Command::ReconnectAccount => {
            if gateway.conditions().borrow().upstream_lost {
                gateway.apply(&Fault::UpstreamRestored { data_lost: false });
            }
        }
        Command::EnableApi | Command::Exit => {}
    }
}
