//! A small blocking SMTP client for alert e-mails: EHLO, STARTTLS when the server offers it
//! (rustls, webpki roots), AUTH PLAIN when credentials are set, one message, QUIT. Every read
//! and write has a timeout. Run it on `spawn_blocking`.
//!
//! Hand-written because one plain-text message needs a few dozen lines, while a full mail
//! crate would add a large dependency tree; TLS reuses the rustls the webhook client brings.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::settings::SmtpSettings;

const TIMEOUT: Duration = Duration::from_secs(10);

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

struct Session {
    reader: BufReader<Box<dyn Stream>>,
}

impl Session {
    /// Read one (possibly multi-line) reply; `Err` unless its code starts with `expect`.
    fn reply(&mut self, expect: char) -> Result<String, String> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).map_err(|e| format!("reading the SMTP reply: {e}"))? == 0 {
                return Err("the SMTP server closed the connection".into());
            }
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        if text.starts_with(expect) {
            Ok(text)
        } else {
            Err(format!("SMTP server answered: {}", text.trim()))
        }
    }

    fn command(&mut self, line: &str, expect: char) -> Result<String, String> {
        let stream = self.reader.get_mut();
        stream
            .write_all(line.as_bytes())
            .and_then(|_| stream.write_all(b"\r\n"))
            .and_then(|_| stream.flush())
            .map_err(|e| format!("writing to the SMTP server: {e}"))?;
        self.reply(expect)
    }
}

/// Send one message with `subject` and `body` to every recipient.
pub fn send(smtp: &SmtpSettings, subject: &str, body: &str) -> Result<(), String> {
    let tcp = TcpStream::connect((smtp.host.as_str(), smtp.port))
        .map_err(|e| format!("cannot connect to SMTP {}:{}: {e}", smtp.host, smtp.port))?;
    tcp.set_read_timeout(Some(TIMEOUT))
        .and_then(|_| tcp.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let mut session = Session { reader: BufReader::new(Box::new(tcp.try_clone().map_err(|e| e.to_string())?)) };
    session.reply('2')?;
    let capabilities = session.command("EHLO ibkr-supervisor", '2')?;
    if capabilities.lines().any(|l| l.get(4..).is_some_and(|c| c.trim().eq_ignore_ascii_case("STARTTLS"))) {
        session.command("STARTTLS", '2')?;
        session = Session { reader: BufReader::new(tls(smtp, tcp)?) };
        session.command("EHLO ibkr-supervisor", '2')?;
    }
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        session.command(&format!("AUTH PLAIN {token}"), '2')?;
    }
    session.command(&format!("MAIL FROM:<{}>", smtp.from), '2')?;
    for to in &smtp.to {
        session.command(&format!("RCPT TO:<{to}>"), '2')?;
    }
    session.command("DATA", '3')?;
    let date = chrono::Utc::now().to_rfc2822();
    let mut message = format!(
        "From: <{}>\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
        smtp.from,
        smtp.to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(", "),
        subject.replace(['\r', '\n'], " ")
    );
    for line in body.lines() {
        // Dot-stuffing: a line starting with '.' gets another.
        message.push_str(if line.starts_with('.') { "." } else { "" });
        message.push_str(line);
        message.push_str("\r\n");
    }
    message.push('.');
    session.command(&message, '2')?;
    let _ = session.command("QUIT", '2');
    Ok(())
}

fn tls(smtp: &SmtpSettings, tcp: TcpStream) -> Result<Box<dyn Stream>, String> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(smtp.host.clone())
        .map_err(|e| format!("SMTP host {:?} is not a valid TLS name: {e}", smtp.host))?;
    let connection = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    Ok(Box::new(rustls::StreamOwned::new(connection, tcp)))
}
