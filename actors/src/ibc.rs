//! IBC's command-server line protocol, as pure encode / parse.
//!
//! IBC (<https://github.com/IbcAlpha/IBC>) runs IB Gateway / TWS unattended and, when
//! `CommandServerPort` is set (0 = off by default, 7462 by convention), listens for commands
//! on a TCP port. The escalation ladder ([`crate::escalation`]) uses it to mend a gateway
//! without a login: `RECONNECTDATA`, `RECONNECTACCOUNT`, `RESTART`. This module holds the
//! protocol: the commands ([`Command`]), IBC's reply lines ([`Reply`]), one command's
//! conversation ([`Exchange`]), and how IBC answers each command ([`Command::ibc_script`]),
//! which the simulator's IBC emulation speaks. The TCP client is
//! [`crate::escalation::send_command`].
//!
//! # Facts, from IBC 3.24.1's source
//!
//! Sources: `src/ibcalpha/ibc/CommandServer.java`, `CommandChannel.java`,
//! `CommandDispatcher.java`, `StopTask.java`, `RestartTask.java`, `EnableApiTask.java`,
//! `resources/config.ini` (section 8) and `userguide.md` (*Command Server*).
//!
//! - **Access.** Connections from the loopback address, from the server's own bind address or
//!   from a `ControlFrom` address are served; any other is closed at once, without a word.
//! - **Framing.** One command per line (`BufferedReader.readLine`: `\n`, `\r` or `\r\n`), no
//!   parameters, compared with `equalsIgnoreCase` and *not* trimmed (`"STOP "` is invalid).
//!   Blank lines are skipped. Replies are lines `OK <info>`, `ERROR <info>` and, unless
//!   `SuppressInfoMessages=yes` (the default), `INFO <info>`, ended by the platform's line
//!   separator. An empty acknowledgement is `"OK "` (trailing space).
//! - **Greeting.** `INFO IBC Command Server` on connect, only when info messages are on.
//! - **Prompt.** `CommandPrompt` (default empty) is written *without* a newline after each
//!   command is handled and after each blank line, so the next reply line starts with it.
//! - **Answers** (see [`Command::ibc_script`]; an `INFO` line in parentheses comes only with
//!   info messages on):
//!   - `EXIT` → `OK Goodbye`, connection closed.
//!   - `STOP` → (`INFO Closing IBC`), `OK Shutting down: STOP command`, connection closed;
//!     `ERROR STOP already in progress` (closed) when a stop runs. TWS then exits; the next
//!     start is a full login (second factor).
//!   - `RESTART` → (`INFO Restarting TWS`), `OK RESTART in progress`, then on the Gateway
//!     (no *File → Restart* menu) `OK RESTART at hh:mm AM` — IBC sets the Gateway's
//!     auto-restart time to the next minute (the one after, from second 58) — and the
//!     connection closes; TWS restarts via its menu and closes without the second line.
//!     `ERROR RESTART already in progress` (closed). No second factor: the session's token
//!     is reused — except after the weekly expiry, which `RESTART` cannot bypass. Caveat
//!     (user guide): on the Gateway that auto-restart time stays configured afterwards.
//!   - `PAUSE` → like `RESTART` with `PAUSE` in the texts (`INFO Pausing TWS`); TWS is shut
//!     down keeping the credentials for IBC's next start.
//!   - `RECONNECTDATA` (= Ctrl-Alt-F, reconnect the data farms) and `RECONNECTACCOUNT`
//!     (= Ctrl-Alt-R, reconnect to IB's login server) → `OK ` at once (the key press is
//!     dispatched; IBC does not wait for the farms). If the main window is not there yet,
//!     IBC's handler throws and **no answer comes**: a client needs a timeout.
//!   - `ENABLEAPI` → `OK configured` / `OK already configured` on TWS (after waiting for the
//!     configuration dialog); `ERROR ENABLEAPI is not valid for the IB Gateway` on the Gateway.
//!   - Anything else → `ERROR Command invalid`; the connection stays open.
//!   - On the FIX Gateway `RESTART`, `PAUSE`, `RECONNECTDATA`, `RECONNECTACCOUNT` answer
//!     `ERROR <command> is not valid for the FIX Gateway` (not modelled in the scripts).

use std::fmt;

use chrono::{NaiveTime, Timelike};
use serde::Serialize;

/// IBC's conventional command-server port (`CommandServerPort=7462`).
pub const DEFAULT_COMMAND_PORT: u16 = 7462;

/// The longest reply line a client should accept before giving up on the peer.
pub const MAX_REPLY_LINE: usize = 1024;

/// What is wrong with a command name or a line from IBC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IbcError {
    /// A configured or typed command IBC does not know.
    #[error("unknown IBC command {given:?}; IBC knows {}", Command::names())]
    UnknownCommand {
        /// The text given.
        given: String,
    },
    /// A reply line that is not `OK`, `ERROR` or `INFO`: not IBC's command server?
    #[error("unexpected line from IBC's command server: {line:?} (expected OK, ERROR or INFO; is the port IBC's CommandServerPort?)")]
    UnexpectedLine {
        /// The line, without its terminator.
        line: String,
    },
    /// A reply line longer than [`MAX_REPLY_LINE`].
    #[error(
        "a line from IBC's command server is longer than {MAX_REPLY_LINE} bytes; is the port IBC's CommandServerPort?"
    )]
    LineTooLong,
}

/// A command of IBC's command server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Command {
    /// Shut TWS / Gateway down tidily; the next start needs a full login.
    Stop,
    /// Soft restart reusing the session's token (no second factor).
    Restart,
    /// Shut down keeping the credentials for IBC's next start.
    Pause,
    /// Tick "Enable ActiveX and Socket Clients" (TWS only).
    #[serde(rename = "ENABLEAPI")]
    EnableApi,
    /// Reconnect the data farms (Ctrl-Alt-F).
    #[serde(rename = "RECONNECTDATA")]
    ReconnectData,
    /// Reconnect to IB's login server (Ctrl-Alt-R).
    #[serde(rename = "RECONNECTACCOUNT")]
    ReconnectAccount,
    /// Close the command connection.
    Exit,
}

impl Command {
    /// Every command, in IBC's dispatch order.
    pub const ALL: [Command; 7] = [
        Command::Exit,
        Command::Stop,
        Command::EnableApi,
        Command::ReconnectData,
        Command::ReconnectAccount,
        Command::Restart,
        Command::Pause,
    ];

    /// The command's word on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Command::Stop => "STOP",
            Command::Restart => "RESTART",
            Command::Pause => "PAUSE",
            Command::EnableApi => "ENABLEAPI",
            Command::ReconnectData => "RECONNECTDATA",
            Command::ReconnectAccount => "RECONNECTACCOUNT",
            Command::Exit => "EXIT",
        }
    }

    /// The line to send, terminator included.
    pub fn line(self) -> String {
        format!("{}\n", self.name())
    }

    /// A command from configuration or an operator: case-insensitive, surrounding blanks
    /// ignored; an unknown word is an error listing IBC's commands.
    pub fn parse(text: &str) -> Result<Command, IbcError> {
        Command::from_wire(text.trim()).ok_or_else(|| IbcError::UnknownCommand { given: text.to_string() })
    }

    /// The command a received line (without its terminator) is, exactly as IBC matches it:
    /// case-insensitive, not trimmed.
    pub fn from_wire(line: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|command| command.name().eq_ignore_ascii_case(line))
    }

    /// Whether TWS / Gateway is gone afterwards until something starts it again.
    pub fn ends_session(self) -> bool {
        matches!(self, Command::Stop | Command::Pause)
    }

    /// Whether getting the gateway back afterwards needs a human's second factor.
    /// `STOP` does: the next start is a full login. `RESTART` and `PAUSE` reuse the session's
    /// token (until the weekly expiry, which neither bypasses).
    pub fn needs_second_factor_after(self) -> bool {
        matches!(self, Command::Stop)
    }

    /// Whether IBC closes the connection after answering.
    pub fn closes_connection(self) -> bool {
        matches!(self, Command::Stop | Command::Restart | Command::Pause | Command::Exit)
    }

    /// Every command's word, for messages.
    pub fn names() -> String {
        Command::ALL.map(Command::name).join(", ")
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One reply line of IBC's command server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OK <info>`: done (or, for `RESTART`, under way).
    Ok(String),
    /// `ERROR <info>`: refused.
    Error(String),
    /// `INFO <info>`: progress, sent only with `SuppressInfoMessages=no`.
    Info(String),
}

impl Reply {
    /// A received line, terminator optional; a leading `prompt` (IBC's `CommandPrompt`,
    /// written before the next reply without a newline) is skipped.
    pub fn parse(line: &str, prompt: &str) -> Result<Reply, IbcError> {
        if line.len() > MAX_REPLY_LINE {
            return Err(IbcError::LineTooLong);
        }
        let mut text = line.trim_end_matches(['\r', '\n']);
        while !prompt.is_empty() {
            match text.strip_prefix(prompt) {
                Some(rest) => text = rest,
                None => break,
            }
        }
        let (word, info) = text.split_once(' ').unwrap_or((text, ""));
        let info = info.trim().to_string();
        match word {
            "OK" => Ok(Reply::Ok(info)),
            "ERROR" => Ok(Reply::Error(info)),
            "INFO" => Ok(Reply::Info(info)),
            _ => Err(IbcError::UnexpectedLine { line: text.to_string() }),
        }
    }

    /// The line IBC writes for this reply (`\n`-terminated; IBC on Windows writes `\r\n`).
    pub fn line(&self) -> String {
        match self {
            Reply::Ok(info) => format!("OK {info}\n"),
            Reply::Error(info) => format!("ERROR {info}\n"),
            Reply::Info(info) => format!("INFO {info}\n"),
        }
    }
}

/// What one command came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// IBC acknowledged it.
    Accepted {
        /// The acknowledgement's text (the last `OK` line).
        detail: String,
        /// For `RESTART` / `PAUSE` on the Gateway: the local time the restart is set for.
        restart_at: Option<NaiveTime>,
    },
    /// IBC refused it (`ERROR …`).
    Rejected {
        /// IBC's reason.
        reason: String,
    },
    /// The connection closed, or the wait timed out, before an `OK` or `ERROR`: IBC's
    /// `ControlFrom` refused our address, or its handler failed (no main window yet).
    NoAnswer,
}

/// Whether an exchange is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Keep reading.
    More,
    /// The command's outcome is known; the connection may be closed.
    Done(Outcome),
}

/// The conversation of one command: feed it the reply lines as they come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    command: Command,
    accepted: Option<String>,
}

impl Exchange {
    /// The exchange after sending `command`'s [`line`](Command::line).
    pub fn new(command: Command) -> Self {
        Self { command, accepted: None }
    }

    /// The command sent.
    pub fn command(&self) -> Command {
        self.command
    }

    /// A reply line arrived.
    pub fn on_reply(&mut self, reply: Reply) -> Progress {
        match reply {
            Reply::Info(_) => Progress::More,
            Reply::Error(reason) => Progress::Done(Outcome::Rejected { reason }),
            Reply::Ok(detail) => {
                let two_step = matches!(self.command, Command::Restart | Command::Pause);
                if two_step && self.accepted.is_none() {
                    // "RESTART in progress"; the Gateway sends "RESTART at hh:mm AM" next.
                    self.accepted = Some(detail);
                    Progress::More
                } else {
                    let restart_at = if two_step { restart_time(&detail) } else { None };
                    Progress::Done(Outcome::Accepted { detail, restart_at })
                }
            }
        }
    }

    /// The connection closed (or the caller's timeout expired) before [`Progress::Done`].
    pub fn on_end(&mut self) -> Outcome {
        match self.accepted.take() {
            Some(detail) => Outcome::Accepted { detail, restart_at: None },
            None => Outcome::NoAnswer,
        }
    }
}

/// The `hh:mm AM` of IBC's "RESTART at 01:23 PM".
fn restart_time(detail: &str) -> Option<NaiveTime> {
    let (_, at) = detail.split_once(" at ")?;
    NaiveTime::parse_from_str(at.trim(), "%I:%M %p").ok()
}

/// Which program IBC runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// IB Gateway.
    Gateway,
    /// Trader Workstation.
    Tws,
}

/// How IBC answers one command: its lines, and whether it closes the connection after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The reply lines, in order.
    pub replies: Vec<Reply>,
    /// Whether IBC closes the connection after them.
    pub closes: bool,
}

/// The auto-restart time IBC sets for `RESTART` on the Gateway at local time `now`: the next
/// minute, or the one after from second 58 on (IBC waits past second 57 first).
pub fn gateway_restart_time(now: NaiveTime) -> NaiveTime {
    let minutes = now.hour() * 60 + now.minute() + if now.second() >= 58 { 2 } else { 1 };
    NaiveTime::from_hms_opt((minutes / 60) % 24, minutes % 60, 0).unwrap_or_default()
}

impl Command {
    /// How IBC answers this command when no other STOP / RESTART is in progress, with info
    /// messages on or off, for `program`, at the gateway's local time `now` (for `RESTART`).
    pub fn ibc_script(self, program: Program, info: bool, now: NaiveTime) -> Script {
        let info_line = |text: &str| info.then(|| Reply::Info(text.to_string()));
        let ok = |text: String| Reply::Ok(text);
        let (replies, closes): (Vec<Option<Reply>>, bool) = match self {
            Command::Exit => (vec![Some(ok("Goodbye".into()))], true),
            Command::Stop => (vec![info_line("Closing IBC"), Some(ok("Shutting down: STOP command".into()))], true),
            Command::ReconnectData | Command::ReconnectAccount => (vec![Some(ok(String::new()))], false),
            Command::EnableApi => match program {
                Program::Gateway => {
                    (vec![Some(Reply::Error("ENABLEAPI is not valid for the IB Gateway".into()))], false)
                }
                Program::Tws => (vec![Some(ok("configured".into()))], false),
            },
            Command::Restart | Command::Pause => {
                let verb = self.name();
                let progress = if self == Command::Restart { "Restarting TWS" } else { "Pausing TWS" };
                let mut lines = vec![info_line(progress), Some(ok(format!("{verb} in progress")))];
                if program == Program::Gateway {
                    let at = gateway_restart_time(now).format("%I:%M %p");
                    lines.push(Some(ok(format!("{verb} at {at}"))));
                }
                (lines, true)
            }
        };
        Script { replies: replies.into_iter().flatten().collect(), closes }
    }

    /// How IBC answers a line that is no command.
    pub fn invalid_script() -> Script {
        Script { replies: vec![Reply::Error("Command invalid".into())], closes: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hms(h: u32, m: u32, s: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, s).unwrap()
    }

    /// Feeds a script's lines (through their wire form) to an exchange.
    fn converse(command: Command, script: &Script, prompt: &str) -> Outcome {
        let mut exchange = Exchange::new(command);
        for reply in &script.replies {
            let wire = format!("{prompt}{}", reply.line());
            if let Progress::Done(outcome) = exchange.on_reply(Reply::parse(&wire, prompt).unwrap()) {
                return outcome;
            }
        }
        exchange.on_end()
    }

    #[test]
    fn commands_encode_as_lines_and_parse_like_ibc() {
        assert_eq!(Command::ReconnectData.line(), "RECONNECTDATA\n");
        assert_eq!(Command::ReconnectAccount.line(), "RECONNECTACCOUNT\n");
        assert_eq!(Command::Restart.line(), "RESTART\n");
        for command in Command::ALL {
            assert_eq!(Command::from_wire(command.name()), Some(command));
            assert_eq!(Command::from_wire(&command.name().to_lowercase()), Some(command));
        }
        // IBC does not trim what it reads; configuration input is trimmed.
        assert_eq!(Command::from_wire("STOP "), None);
        assert_eq!(Command::parse(" restart "), Ok(Command::Restart));
        assert_eq!(
            Command::parse("RECONNECT").unwrap_err().to_string(),
            "unknown IBC command \"RECONNECT\"; IBC knows EXIT, STOP, ENABLEAPI, RECONNECTDATA, RECONNECTACCOUNT, \
             RESTART, PAUSE"
        );
        assert_eq!(serde_json::to_value(Command::ReconnectData).unwrap(), serde_json::json!("RECONNECTDATA"));
        assert_eq!(serde_json::to_value(Command::Restart).unwrap(), serde_json::json!("RESTART"));
    }

    #[test]
    fn only_stop_needs_a_second_factor_afterwards() {
        let needs: Vec<Command> = Command::ALL.into_iter().filter(|c| c.needs_second_factor_after()).collect();
        assert_eq!(needs, [Command::Stop]);
        let closes: Vec<Command> = Command::ALL.into_iter().filter(|c| c.closes_connection()).collect();
        assert_eq!(closes, [Command::Exit, Command::Stop, Command::Restart, Command::Pause]);
        assert!(Command::Stop.ends_session() && Command::Pause.ends_session() && !Command::Restart.ends_session());
    }

    #[test]
    fn replies_parse_with_and_without_prompt_and_crlf() {
        assert_eq!(Reply::parse("OK \n", ""), Ok(Reply::Ok(String::new())));
        assert_eq!(Reply::parse("OK", ""), Ok(Reply::Ok(String::new())));
        assert_eq!(Reply::parse("OK RESTART at 01:23 PM\r\n", ""), Ok(Reply::Ok("RESTART at 01:23 PM".into())));
        assert_eq!(Reply::parse("ERROR Command invalid", ""), Ok(Reply::Error("Command invalid".into())));
        assert_eq!(Reply::parse("INFO IBC Command Server\n", ""), Ok(Reply::Info("IBC Command Server".into())));
        // CommandPrompt=> is written before the next line, possibly more than once.
        assert_eq!(Reply::parse(">>OK Goodbye\n", ">"), Ok(Reply::Ok("Goodbye".into())));
        assert_eq!(
            Reply::parse("HTTP/1.1 400 Bad Request", "").unwrap_err(),
            IbcError::UnexpectedLine { line: "HTTP/1.1 400 Bad Request".into() }
        );
        assert_eq!(Reply::parse(&"x".repeat(MAX_REPLY_LINE + 1), ""), Err(IbcError::LineTooLong));
    }

    #[test]
    fn reconnect_commands_are_acknowledged_at_once() {
        for command in [Command::ReconnectData, Command::ReconnectAccount] {
            let script = command.ibc_script(Program::Gateway, false, hms(9, 0, 0));
            assert_eq!(script, Script { replies: vec![Reply::Ok(String::new())], closes: false });
            assert_eq!(script.replies[0].line(), "OK \n");
            assert_eq!(converse(command, &script, ""), Outcome::Accepted { detail: String::new(), restart_at: None });
        }
    }

    #[test]
    fn gateway_restart_is_set_for_the_next_minute_and_closes() {
        let script = Command::Restart.ibc_script(Program::Gateway, true, hms(13, 22, 10));
        assert_eq!(
            script.replies,
            [
                Reply::Info("Restarting TWS".into()),
                Reply::Ok("RESTART in progress".into()),
                Reply::Ok("RESTART at 01:23 PM".into())
            ]
        );
        assert!(script.closes);
        assert_eq!(
            converse(Command::Restart, &script, ">"),
            Outcome::Accepted { detail: "RESTART at 01:23 PM".into(), restart_at: Some(hms(13, 23, 0)) }
        );
        // From second 58 IBC waits into the next minute first; across midnight it wraps.
        assert_eq!(gateway_restart_time(hms(13, 22, 58)), hms(13, 24, 0));
        assert_eq!(gateway_restart_time(hms(23, 59, 5)), hms(0, 0, 0));
        assert_eq!(gateway_restart_time(hms(23, 59, 59)), hms(0, 1, 0));
    }

    #[test]
    fn tws_restart_closes_after_the_first_ok_and_counts_as_accepted() {
        let script = Command::Restart.ibc_script(Program::Tws, false, hms(9, 0, 0));
        assert_eq!(script.replies, [Reply::Ok("RESTART in progress".into())]);
        assert_eq!(
            converse(Command::Restart, &script, ""),
            Outcome::Accepted { detail: "RESTART in progress".into(), restart_at: None }
        );
    }

    #[test]
    fn refusals_and_silence() {
        let mut exchange = Exchange::new(Command::Restart);
        assert_eq!(
            exchange.on_reply(Reply::Error("RESTART already in progress".into())),
            Progress::Done(Outcome::Rejected { reason: "RESTART already in progress".into() })
        );
        let script = Command::EnableApi.ibc_script(Program::Gateway, false, hms(9, 0, 0));
        assert_eq!(
            converse(Command::EnableApi, &script, ""),
            Outcome::Rejected { reason: "ENABLEAPI is not valid for the IB Gateway".into() }
        );
        assert_eq!(
            converse(Command::ReconnectData, &Command::invalid_script(), ""),
            Outcome::Rejected { reason: "Command invalid".into() }
        );
        // ControlFrom refusal (closed without a word) or a handler that threw (silence):
        let mut exchange = Exchange::new(Command::ReconnectAccount);
        assert_eq!(exchange.on_reply(Reply::Info("IBC Command Server".into())), Progress::More);
        assert_eq!(exchange.on_end(), Outcome::NoAnswer);
    }

    #[test]
    fn stop_and_exit_scripts() {
        let stop = Command::Stop.ibc_script(Program::Gateway, true, hms(9, 0, 0));
        assert_eq!(stop.replies, [Reply::Info("Closing IBC".into()), Reply::Ok("Shutting down: STOP command".into())]);
        assert!(stop.closes);
        let exit = Command::Exit.ibc_script(Program::Tws, false, hms(9, 0, 0));
        assert_eq!(exit, Script { replies: vec![Reply::Ok("Goodbye".into())], closes: true });
        let pause = Command::Pause.ibc_script(Program::Gateway, false, hms(9, 0, 30));
        assert_eq!(pause.replies, [Reply::Ok("PAUSE in progress".into()), Reply::Ok("PAUSE at 09:01 AM".into())]);
    }
}
