//! Scalar newtypes: each checks its value while it is parsed, so `serde_path_to_error` names
//! the key of a bad one (`heartbeat.interval: expected a duration such as "5s" …`).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::model::DEFAULT_TIMEZONE;
use super::MIN_DURATION;

/// A humantime duration of at least [`MIN_DURATION`]; keeps the text for later messages.
pub(super) struct Dur {
    pub(super) value: Duration,
    pub(super) text: String,
}

impl From<Duration> for Dur {
    fn from(value: Duration) -> Self {
        Dur { value, text: humantime::format_duration(value).to_string() }
    }
}

const DURATION_EXPECTED: &str = "a duration such as \"5s\" or \"250ms\"";

fn parse_duration<E: de::Error>(text: &str) -> Result<Duration, E> {
    humantime::parse_duration(text.trim()).map_err(|_| E::custom(format!("expected {DURATION_EXPECTED}, got {text:?}")))
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{DURATION_EXPECTED}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Err(E::custom(format!("expected {DURATION_EXPECTED} (a string with a unit), got the number {v}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Err(E::custom(format!("expected {DURATION_EXPECTED} (a string with a unit), got the number {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Err(E::custom(format!("expected {DURATION_EXPECTED} (a string with a unit), got the number {v}")))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(DurationVisitor)?;
        let value = parse_duration::<D::Error>(&text)?;
        if value < MIN_DURATION {
            return Err(de::Error::custom(format!("expected a duration of at least 1ms, got {text:?}")));
        }
        Ok(Dur { value, text })
    }
}

/// A humantime duration that may be zero.
pub(super) struct ZeroOkDur(pub(super) Duration);

impl<'de> Deserialize<'de> for ZeroOkDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(DurationVisitor)?;
        parse_duration::<D::Error>(&text).map(ZeroOkDur)
    }
}

/// An IANA time zone name.
pub(super) struct Zone(pub(super) Tz);

impl Default for Zone {
    fn default() -> Self {
        Zone(DEFAULT_TIMEZONE)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = expect_string(d, "an IANA time zone name such as \"America/New_York\"")?;
        parse_timezone(&text).map(Zone).map_err(de::Error::custom)
    }
}

/// Parses an IANA zone name; the error suggests the closest real name.
fn parse_timezone(text: &str) -> Result<Tz, String> {
    if let Ok(tz) = Tz::from_str(text) {
        return Ok(tz);
    }
    let wanted = text.trim().replace(' ', "_").to_lowercase();
    let suggestion =
        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).find(|name| name.to_lowercase() == wanted).or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| tz.name())
                .filter(|name| name.contains('/'))
                .find(|name| name.rsplit('/').next().map(str::to_lowercase) == Some(wanted.clone()))
        });
    Err(match suggestion {
        Some(name) => format!("'{text}' is not an IANA time zone name; use e.g. '{name}'"),
        None => format!("'{text}' is not an IANA time zone name; use e.g. 'America/New_York'"),
    })
}

/// A time of day, `"HH:MM"`.
pub(super) struct Clock(pub(super) NaiveTime);

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a 24-hour time \"HH:MM\" such as \"23:45\"";
        let text = expect_string(d, EXPECTED)?;
        parse_clock(&text).map(Clock).ok_or_else(|| de::Error::custom(format!("expected {EXPECTED}, got {text:?}")))
    }
}

fn parse_clock(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// A day of the week.
pub(super) struct Day(pub(super) Weekday);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a weekday such as \"sun\" or \"Sunday\"";
        let text = expect_string(d, EXPECTED)?;
        parse_weekday(&text).map(Day).ok_or_else(|| de::Error::custom(format!("expected {EXPECTED}, got {text:?}")))
    }
}

/// `"mon"`..`"sun"` or `"monday"`..`"sunday"`, case-insensitive.
pub(super) fn parse_weekday(text: &str) -> Option<Weekday> {
    const DAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    let text = text.trim().to_lowercase();
    DAYS.iter().find(|(full, _)| text == *full || text == full[..3]).map(|(_, day)| *day)
}

/// A socket address, `"IP:port"`.
pub(super) struct Bind(pub(super) SocketAddr);

impl<'de> Deserialize<'de> for Bind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "an IP:port address such as \"127.0.0.1:8080\" or \"[::1]:8080\"";
        let text = expect_string(d, EXPECTED)?;
        SocketAddr::from_str(text.trim())
            .map(Bind)
            .map_err(|_| de::Error::custom(format!("expected {EXPECTED}, got {text:?}")))
    }
}

/// An integer in `lo..=hi`, from any JSON number; the message names the range.
struct RangeVisitor {
    what: &'static str,
    lo: i64,
    hi: i64,
}

impl RangeVisitor {
    fn out_of_range<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format!("expected {} {}-{}, got {got}", self.what, self.lo, self.hi))
    }
}

impl<'de> Visitor<'de> for RangeVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {}-{}", self.what, self.lo, self.hi)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if (self.lo..=self.hi).contains(&v) {
            Ok(v)
        } else {
            Err(self.out_of_range(v))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(self.out_of_range(v)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        Err(self.out_of_range(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        Err(self.out_of_range(format_args!("the string {v:?} (write it without quotes)")))
    }
}

/// A fraction in `[0.0, 1.0)`.
pub(super) struct Fraction(pub(super) f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FractionVisitor;

        impl<'de> Visitor<'de> for FractionVisitor {
            type Value = f64;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(FRACTION_EXPECTED)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                if (0.0..1.0).contains(&v) {
                    Ok(v)
                } else {
                    Err(E::custom(format!("expected {FRACTION_EXPECTED}, got {v}")))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                self.visit_f64(v as f64)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                self.visit_f64(v as f64)
            }
        }

        d.deserialize_any(FractionVisitor).map(Fraction)
    }
}

const FRACTION_EXPECTED: &str = "a fraction from 0.0 (no jitter) up to but excluding 1.0, e.g. 0.1";

/// A TCP port, 1-65535.
pub(super) struct Port(pub(super) u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(RangeVisitor { what: "a TCP port", lo: 1, hi: i64::from(u16::MAX) })?;
        Ok(Port(u16::try_from(v).expect("range checked")))
    }
}

/// An IB API client id, 0-2147483647.
#[derive(Clone, Copy)]
pub(super) struct ClientId(pub(super) i32);

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(RangeVisitor { what: "a client id", lo: 0, hi: i64::from(i32::MAX) })?;
        Ok(ClientId(i32::try_from(v).expect("range checked")))
    }
}

/// A count, 1-4294967295.
pub(super) struct Count(pub(super) u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(RangeVisitor { what: "an integer", lo: 1, hi: i64::from(u32::MAX) })?;
        Ok(Count(u32::try_from(v).expect("range checked")))
    }
}

/// Deserializes a string; anything else is reported as "expected {what}, got ...".
fn expect_string<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<String, D::Error> {
    struct StringVisitor(&'static str);

    impl<'de> Visitor<'de> for StringVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }

    d.deserialize_str(StringVisitor(what))
}
