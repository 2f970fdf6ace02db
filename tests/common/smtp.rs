//! A local SMTP server for the e-mail tests, on a real loopback port: EHLO, STARTTLS (rustls,
//! a self-signed certificate made at start by rcgen) or TLS from the first byte, AUTH PLAIN /
//! LOGIN against one account, MAIL, RCPT, DATA. It records every message and every command,
//! and whether AUTH ever arrived in plain text. Threads, not tasks: it never shares the
//! supervisor's runtime.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// How the server behaves.
#[derive(Clone, Debug, Default)]
pub struct MailOptions {
    /// Offer STARTTLS after EHLO.
    pub starttls: bool,
    /// TLS from the first byte (port 465 style).
    pub implicit: bool,
    /// The one account AUTH accepts; `None`: AUTH is not offered.
    pub account: Option<(String, String)>,
    /// Greet this many first connections with 421 (try later).
    pub refuse_first: u32,
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct MailLog {
    /// Each message as received in DATA (dot-unstuffed, CRLF lines).
    pub messages: Vec<String>,
    /// Every command line, in order (AUTH payloads redacted), with `[tls]` when encrypted.
    pub commands: Vec<String>,
    /// An AUTH command arrived on an unencrypted connection.
    pub auth_in_clear: bool,
    /// Successful logins (all over TLS, unless `auth_in_clear`).
    pub logins: u32,
}

pub struct MailServer {
    pub port: u16,
    /// The server's certificate (PEM): the trust root a test puts in `alerts.smtp.ca_file`.
    pub ca_pem: String,
    pub log: Arc<Mutex<MailLog>>,
}

impl MailServer {
    pub fn start(options: MailOptions) -> MailServer {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let ca_pem = key.cert.pem();
        let chain = vec![key.cert.der().clone()];
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(MailLog::default()));
        let refuse = Arc::new(AtomicU32::new(options.refuse_first));
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (options, config, log, refuse) =
                    (options.clone(), Arc::clone(&config), Arc::clone(&shared), Arc::clone(&refuse));
                std::thread::spawn(move || session(tcp, &options, config, &log, &refuse));
            }
        });
        MailServer { port, ca_pem, log }
    }

    /// Write the certificate to a file for `alerts.smtp.ca_file`.
    pub fn ca_file(&self, dir: &std::path::Path) -> String {
        let path = dir.join("smtp-ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path.to_string_lossy().into_owned()
    }

    pub fn messages(&self) -> Vec<String> {
        self.log.lock().unwrap().messages.clone()
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn session(
    tcp: TcpStream,
    options: &MailOptions,
    config: Arc<rustls::ServerConfig>,
    log: &Mutex<MailLog>,
    refuse: &AtomicU32,
) {
    let tls = || rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
    let mut stream: Box<dyn Stream> = if options.implicit {
        Box::new(rustls::StreamOwned::new(tls(), tcp.try_clone().unwrap()))
    } else {
        Box::new(tcp.try_clone().unwrap())
    };
    if refuse.load(Ordering::SeqCst) > 0 {
        refuse.fetch_sub(1, Ordering::SeqCst);
        let _ = stream.write_all(b"421 try again later\r\n");
        return;
    }
    let mut encrypted = options.implicit;
    if stream.write_all(b"220 test ESMTP\r\n").is_err() {
        return;
    }
    let mut login_step = None::<String>;
    while let Some(line) = read_line(&mut stream) {
        let upper = line.to_ascii_uppercase();
        let shown =
            if upper.starts_with("AUTH") || login_step.is_some() { "AUTH …".to_owned() } else { line.clone() };
        log.lock().unwrap().commands.push(if encrypted { format!("[tls] {shown}") } else { shown });
        if (upper.starts_with("AUTH") || login_step.is_some()) && !encrypted {
            log.lock().unwrap().auth_in_clear = true;
        }
        let reply: String = if let Some(user) = login_step.take() {
            // AUTH LOGIN: the username arrived, this is the password.
            let password = decode(&line);
            check_login(options, log, &user, &password)
        } else if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut caps = vec!["250-test"];
            if options.starttls && !encrypted {
                caps.push("250-STARTTLS");
            }
            if options.account.is_some() {
                caps.push("250-AUTH PLAIN LOGIN");
            }
            caps.push("250 8BITMIME");
            caps.join("\r\n")
        } else if upper == "STARTTLS" && options.starttls && !encrypted {
            if stream.write_all(b"220 go ahead\r\n").is_err() {
                return;
            }
            stream = Box::new(rustls::StreamOwned::new(tls(), tcp.try_clone().unwrap()));
            encrypted = true;
            continue;
        } else if let Some(rest) = upper.strip_prefix("AUTH PLAIN ") {
            let _ = rest;
            let decoded = decode(&line["AUTH PLAIN ".len()..]);
            let mut parts = decoded.split('\0').skip(1);
            let (user, password) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            check_login(options, log, user, password)
        } else if upper.starts_with("AUTH LOGIN") {
            let user = line.split_whitespace().nth(2).map(decode);
            match user {
                Some(user) => {
                    login_step = Some(user);
                    "334 UGFzc3dvcmQ6".to_owned()
                }
                None => "334 VXNlcm5hbWU6".to_owned(), // the username comes on the next line
            }
        } else if upper == "DATA" {
            if stream.write_all(b"354 go ahead\r\n").is_err() {
                return;
            }
            let mut message = String::new();
            while let Some(line) = read_line(&mut stream) {
                if line == "." {
                    break;
                }
                message.push_str(line.strip_prefix('.').unwrap_or(&line));
                message.push_str("\r\n");
            }
            log.lock().unwrap().messages.push(message);
            "250 queued".to_owned()
        } else if upper == "QUIT" {
            let _ = stream.write_all(b"221 bye\r\n");
            return;
        } else {
            "250 OK".to_owned()
        };
        if stream.write_all(format!("{reply}\r\n").as_bytes()).and_then(|_| stream.flush()).is_err() {
            return;
        }
    }
}

fn check_login(options: &MailOptions, log: &Mutex<MailLog>, user: &str, password: &str) -> String {
    match &options.account {
        Some((u, p)) if u == user && p == password => {
            log.lock().unwrap().logins += 1;
            "235 authenticated".to_owned()
        }
        _ => "535 bad credentials".to_owned(),
    }
}

fn decode(text: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One CRLF line, read a byte at a time (so nothing is buffered past a STARTTLS).
fn read_line(stream: &mut Box<dyn Stream>) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(1) => {
                if byte[0] == b'\n' {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
                line.push(byte[0]);
            }
            _ => return None,
        }
    }
}

/// The decoded `Subject` of a message (RFC 2047 `=?utf-8?b?…?=` words joined).
pub fn subject(message: &str) -> String {
    let mut lines = message.split("\r\n");
    let mut raw = String::new();
    while let Some(line) = lines.next() {
        if let Some(value) = line.strip_prefix("Subject: ") {
            raw.push_str(value);
            // Folded continuation lines start with whitespace.
            for next in lines.by_ref() {
                if next.starts_with(' ') || next.starts_with('\t') {
                    raw.push_str(next);
                } else {
                    break;
                }
            }
            break;
        }
    }
    let mut out = String::new();
    for word in raw.split_whitespace() {
        let decoded = word
            .strip_prefix("=?utf-8?b?")
            .or_else(|| word.strip_prefix("=?UTF-8?B?"))
            .and_then(|w| w.strip_suffix("?="))
            .map(decode);
        match decoded {
            Some(text) => out.push_str(&text),
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
    }
    out
}

/// A header's value, e.g. `header(message, "Message-ID")`.
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next()?;
    head.split("\r\n").find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}
