//! `accounts[].proxy`: the guarded TWS API port of an account — where it listens, which
//! clients may connect, and its bounds — with its raw serde form, its scalar (a CIDR block)
//! and its validation.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::error::SettingsError;
use super::scalars::{Bind, Count, Dur};

/// The guarded TWS API port of one account (`accounts[].proxy`, optional).
///
/// An engine points its usual TWS API client (ib_async, IB's client, ibapi, …) at `listen`
/// instead of the gateway; each engine session gets its own upstream session to the gateway,
/// and `placeOrder` passes only while the account is usable by the guard's gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// Where the port listens (`listen`, required, e.g. `"127.0.0.1:4102"`; port 0 picks a
    /// free one). A non-loopback address requires an explicit `allowed_clients`.
    pub listen: SocketAddr,
    /// Client addresses allowed to connect, as CIDR blocks (`allowed_clients`, default
    /// `["127.0.0.0/8", "::1/128"]`: loopback only). Others are closed at accept and counted.
    pub allowed_clients: Vec<Cidr>,
    /// Engine sessions at once (`max_sessions`, default 8, at least 1); one more is closed at
    /// accept and counted.
    pub max_sessions: u32,
    /// Bytes a session may have in flight in each direction before the slow side is cut off
    /// (`buffer_bytes`, default 4 MiB, at least 64 KiB).
    pub buffer_bytes: u32,
    /// How long a write to an engine (or the gateway) may block before that session is cut off
    /// as too slow (`write_timeout`, default `"2s"`).
    pub write_timeout: Duration,
}

/// Default `proxy.max_sessions`.
pub const DEFAULT_MAX_SESSIONS: u32 = 8;
/// Default `proxy.buffer_bytes`.
pub const DEFAULT_BUFFER_BYTES: u32 = 4 * 1024 * 1024;
/// Smallest `proxy.buffer_bytes`.
pub const MIN_BUFFER_BYTES: u32 = 64 * 1024;
/// Default `proxy.write_timeout`.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

impl ProxySettings {
    /// Settings for `listen` with every default (loopback clients only).
    pub fn new(listen: SocketAddr) -> Self {
        ProxySettings {
            listen,
            allowed_clients: Cidr::loopback(),
            max_sessions: DEFAULT_MAX_SESSIONS,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }

    /// Whether `peer` may connect.
    pub fn allows(&self, peer: IpAddr) -> bool {
        self.allowed_clients.iter().any(|c| c.contains(peer))
    }
}

/// A block of IP addresses (`10.0.0.0/8`, `127.0.0.1/32`, `::1/128`); a bare address is a
/// block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub network: IpAddr,
    /// The prefix length (0..=32 for IPv4, 0..=128 for IPv6).
    pub prefix: u8,
}

impl Cidr {
    /// `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> Vec<Cidr> {
        vec![
            Cidr { network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), prefix: 8 },
            Cidr { network: IpAddr::V6(Ipv6Addr::LOCALHOST), prefix: 128 },
        ]
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask(u32::from(ip).into(), 32, self.prefix) == u32::from(net).into(),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask(u128::from(ip), 128, self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

fn mask(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u128::MAX << (width - prefix.min(width));
    bits & keep & (u128::MAX >> (128 - u32::from(width)))
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let ip = IpAddr::from_str(addr.trim()).map_err(|_| format!("{addr:?} is not an IP address"))?;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("prefix length {p:?} is not 0-{width}"))?,
        };
        let network = match ip {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(mask(u32::from(v4).into(), 32, prefix) as u32)),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(mask(u128::from(v6), 128, prefix))),
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e| {
            de::Error::custom(format!(
                "expected a CIDR block such as \"127.0.0.1/32\" or \"10.0.0.0/8\", got {text:?}: {e}"
            ))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a proxy object such as {\"listen\": \"127.0.0.1:4102\"}")]
pub(super) struct RawProxy {
    listen: Bind,
    #[serde(default)]
    allowed_clients: Option<Vec<Cidr>>,
    #[serde(default)]
    max_sessions: Option<Count>,
    #[serde(default)]
    buffer_bytes: Option<Count>,
    #[serde(default)]
    write_timeout: Option<Dur>,
}

impl RawProxy {
    /// The validated settings of `accounts[i].proxy`.
    pub(super) fn validate(self, i: usize) -> Result<ProxySettings, SettingsError> {
        let field = |key: &str| format!("accounts[{i}].proxy.{key}");
        let listen = self.listen.0;
        let allowed_clients = match self.allowed_clients {
            Some(list) if list.is_empty() => {
                return Err(SettingsError::invalid(
                    field("allowed_clients"),
                    "expected at least one CIDR block such as \"127.0.0.1/32\", got an empty list",
                ))
            }
            Some(list) => list,
            None if !listen.ip().is_loopback() => {
                return Err(SettingsError::invalid(
                    field("allowed_clients"),
                    format!(
                        "an explicit list of client CIDR blocks is required because proxy.listen ({listen}) is not \
                         a loopback address; e.g. [\"10.0.0.5/32\"]"
                    ),
                ))
            }
            None => Cidr::loopback(),
        };
        let buffer_bytes = self.buffer_bytes.map_or(DEFAULT_BUFFER_BYTES, |c| c.0);
        if buffer_bytes < MIN_BUFFER_BYTES {
            return Err(SettingsError::invalid(
                field("buffer_bytes"),
                format!("expected at least {MIN_BUFFER_BYTES} bytes, got {buffer_bytes}"),
            ));
        }
        Ok(ProxySettings {
            listen,
            allowed_clients,
            max_sessions: self.max_sessions.map_or(DEFAULT_MAX_SESSIONS, |c| c.0),
            buffer_bytes,
            write_timeout: self.write_timeout.map_or(DEFAULT_WRITE_TIMEOUT, |d| d.value),
        })
    }
}

/// No two accounts' ports may listen on the same address (port 0 excepted: each gets its own).
pub(super) fn check_distinct(listens: &[(usize, SocketAddr)]) -> Result<(), SettingsError> {
    for (k, (i, addr)) in listens.iter().enumerate() {
        if addr.port() == 0 {
            continue;
        }
        if let Some((j, _)) = listens[..k].iter().find(|(_, other)| other == addr) {
            return Err(SettingsError::invalid(
                format!("accounts[{i}].proxy.listen"),
                format!("{addr} is already the guarded port of accounts[{j}]; each account needs its own"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks_match_their_addresses() {
        let block: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(block.to_string(), "10.0.0.0/8");
        assert!(block.contains("10.200.0.1".parse().unwrap()));
        assert!(!block.contains("11.0.0.1".parse().unwrap()));
        assert!(!block.contains("::1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(one.contains("::ffff:127.0.0.1".parse().unwrap()), "IPv4-mapped");
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "host/8", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
    }

    fn with_proxies(proxies: &[&str]) -> Result<crate::settings::Settings, SettingsError> {
        let accounts: Vec<String> = proxies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    r#"{{"name": "A{i}", "paper_trading": true, "host": "127.0.0.1", "port": {}, "client_id": {i}, "proxy": {p}}}"#,
                    4002 + i
                )
            })
            .collect();
        crate::settings::Settings::from_json_str(&format!(r#"{{"accounts": [{}]}}"#, accounts.join(",")))
    }

    #[track_caller]
    fn rejects(proxies: &[&str], field: &str, words: &[&str]) {
        let e = with_proxies(proxies).expect_err("invalid proxy settings");
        assert_eq!(e.field(), Some(field), "{e}");
        for w in words {
            assert!(e.to_string().contains(w), "{e} should contain {w:?}");
        }
    }

    #[test]
    fn proxy_settings_are_checked_naming_the_field() {
        let ok = with_proxies(&[r#"{"listen": "127.0.0.1:4102"}"#]).unwrap();
        let proxy = ok.accounts[0].proxy.as_ref().unwrap();
        assert_eq!((proxy.max_sessions, proxy.allowed_clients.clone()), (DEFAULT_MAX_SESSIONS, Cidr::loopback()));
        rejects(&[r#"{"listen": "0.0.0.0:4102"}"#], "accounts[0].proxy.allowed_clients", &["not a loopback"]);
        let open = with_proxies(&[r#"{"listen": "0.0.0.0:4102", "allowed_clients": ["10.0.0.0/8"]}"#]).unwrap();
        assert!(open.accounts[0].proxy.as_ref().unwrap().allows("10.1.2.3".parse().unwrap()));
        rejects(
            &[r#"{"listen": "127.0.0.1:4102", "allowed_clients": []}"#],
            "accounts[0].proxy.allowed_clients",
            &["at least one"],
        );
        rejects(
            &[r#"{"listen": "127.0.0.1:4102", "allowed_clients": ["10.0.0.0/40"]}"#],
            "accounts[0].proxy.allowed_clients[0]",
            &["CIDR"],
        );
        rejects(&[r#"{"listen": "localhost"}"#], "accounts[0].proxy.listen", &["IP:port"]);
        rejects(&[r#"{"listen": "127.0.0.1:4102", "max_sessions": 0}"#], "accounts[0].proxy.max_sessions", &[]);
        rejects(
            &[r#"{"listen": "127.0.0.1:4102", "buffer_bytes": 1000}"#],
            "accounts[0].proxy.buffer_bytes",
            &["65536"],
        );
        rejects(&[r#"{"listen": "127.0.0.1:4102", "colour": 1}"#], "accounts[0].proxy.colour", &[]);
        rejects(&[r#"{}"#], "accounts[0].proxy.listen", &["required"]);
        rejects(
            &[r#"{"listen": "127.0.0.1:4102"}"#, r#"{"listen": "127.0.0.1:4102"}"#],
            "accounts[1].proxy.listen",
            &["accounts[0]"],
        );
        assert!(with_proxies(&[r#"{"listen": "127.0.0.1:0"}"#, r#"{"listen": "127.0.0.1:0"}"#]).is_ok());
    }

    #[test]
    fn loopback_is_the_default() {
        let proxy = ProxySettings::new("127.0.0.1:4102".parse().unwrap());
        assert!(proxy.allows("127.0.0.1".parse().unwrap()));
        assert!(proxy.allows("::1".parse().unwrap()));
        assert!(!proxy.allows("192.168.1.10".parse().unwrap()));
    }
}
