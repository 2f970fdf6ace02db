//! The classic text encoding: NUL-terminated fields whose set depends on the version.
//!
//! Values are written as TWS writes them and read as IB's clients read them
//! (`py:utils.py:107-158` `decode`, `py:comm.py:57-90` `make_field*`): booleans are `1`/`0`,
//! an unset double is `1.7976931348623157E308` and an unset int `2147483647` (both also accepted
//! as an empty field), `Infinite` is infinity, decimals are plain numbers.

mod orders;
mod replies;
mod requests;

pub use replies::encode_reply;
pub use requests::decode_request;

use super::DecodeError;

/// Java's `Double.toString(Double.MAX_VALUE)`, TWS's spelling of "unset".
pub const UNSET_DOUBLE: &str = "1.7976931348623157E308";
/// `Integer.MAX_VALUE`, TWS's "unset" int.
pub const UNSET_INT: &str = "2147483647";

/// Reads a request's fields in order, naming the field that is missing or malformed.
pub struct Fields<'a> {
    fields: std::vec::IntoIter<&'a str>,
}

impl<'a> Fields<'a> {
    /// Split a payload into its fields (the trailing NUL's empty remainder is not a field).
    pub fn new(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotUtf8)?;
        let mut fields: Vec<&str> = text.split('\0').collect();
        if fields.last() == Some(&"") {
            fields.pop();
        }
        Ok(Self { fields: fields.into_iter() })
    }

    pub fn str(&mut self, name: &'static str) -> Result<String, DecodeError> {
        self.fields.next().map(str::to_owned).ok_or(DecodeError::Missing(name))
    }

    /// A field that may be absent at the end (older clients stop early).
    pub fn str_or_empty(&mut self) -> String {
        self.fields.next().unwrap_or_default().to_owned()
    }

    pub fn skip(&mut self, name: &'static str) -> Result<(), DecodeError> {
        self.str(name).map(drop)
    }

    /// An int; empty reads as 0 (`py:utils.py:155`, `the_type(s or 0)`).
    pub fn int(&mut self, name: &'static str) -> Result<i32, DecodeError> {
        let s = self.str(name)?;
        if s.is_empty() {
            return Ok(0);
        }
        s.trim().parse().map_err(|_| DecodeError::bad(name, &s, "an integer"))
    }

    /// An int where empty or `2147483647` means unset.
    pub fn int_max(&mut self, name: &'static str) -> Result<Option<i32>, DecodeError> {
        let s = self.str(name)?;
        if s.is_empty() || s == UNSET_INT {
            return Ok(None);
        }
        s.trim().parse().map(Some).map_err(|_| DecodeError::bad(name, &s, "an integer"))
    }

    /// A double; empty reads as 0.
    pub fn double(&mut self, name: &'static str) -> Result<f64, DecodeError> {
        Ok(self.double_max(name)?.unwrap_or(0.0))
    }

    /// A double where empty or `1.7976931348623157E308` means unset.
    pub fn double_max(&mut self, name: &'static str) -> Result<Option<f64>, DecodeError> {
        let s = self.str(name)?;
        match s.trim() {
            "" => Ok(None),
            "Infinite" => Ok(Some(f64::INFINITY)),
            t => match t.parse::<f64>() {
                Ok(v) if v == f64::MAX => Ok(None),
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(DecodeError::bad(name, &s, "a number")),
            },
        }
    }

    /// `1`/`0` (also `true`/`false`); empty is false.
    pub fn bool(&mut self, name: &'static str) -> Result<bool, DecodeError> {
        let s = self.str(name)?;
        match s.trim() {
            "" | "0" | "false" | "False" => Ok(false),
            "1" | "true" | "True" => Ok(true),
            t => t.parse::<i64>().map(|v| v != 0).map_err(|_| DecodeError::bad(name, &s, "a boolean (1 or 0)")),
        }
    }

    /// A decimal quantity; empty or an unset marker reads as 0.
    pub fn decimal(&mut self, name: &'static str) -> Result<f64, DecodeError> {
        let s = self.str(name)?;
        match s.trim() {
            "" | UNSET_INT | "9223372036854775807" | UNSET_DOUBLE => Ok(0.0),
            t => t.parse().map_err(|_| DecodeError::bad(name, &s, "a decimal")),
        }
    }

    /// A count of repeated groups, bounded so a hostile count cannot make us loop long.
    pub fn count(&mut self, name: &'static str) -> Result<usize, DecodeError> {
        let n = self.int(name)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| DecodeError::bad(name, &n.to_string(), "a count 0..=1000"))
    }
}

/// Builds a reply's fields.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn str(&mut self, s: &str) -> &mut Self {
        // A NUL inside a value would shift every later field: TWS never sends one.
        self.0.extend(s.bytes().filter(|b| *b != 0));
        self.0.push(0);
        self
    }

    pub fn int(&mut self, v: i32) -> &mut Self {
        self.str(&v.to_string())
    }

    pub fn long(&mut self, v: i64) -> &mut Self {
        self.str(&v.to_string())
    }

    pub fn int_max(&mut self, v: Option<i32>) -> &mut Self {
        match v {
            Some(v) => self.int(v),
            None => self.str(UNSET_INT),
        }
    }

    pub fn double(&mut self, v: f64) -> &mut Self {
        if v == f64::MAX {
            self.str(UNSET_DOUBLE)
        } else if v == f64::INFINITY {
            self.str("Infinite")
        } else {
            self.str(&v.to_string())
        }
    }

    pub fn double_max(&mut self, v: Option<f64>) -> &mut Self {
        self.double(v.unwrap_or(f64::MAX))
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.str(if v { "1" } else { "0" })
    }

    pub fn decimal(&mut self, v: f64) -> &mut Self {
        self.str(&crate::sim::msg::format_qty(v))
    }

    /// The per-message version field old layouts start with.
    pub fn version(&mut self, v: i32) -> &mut Self {
        self.int(v)
    }
}

/// `parts`, each NUL-terminated, as a text payload.
#[cfg(test)]
pub fn nul(parts: &[&str]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.bytes().chain([0])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_as_ibs_clients_write_them() {
        let payload = nul(&["2", "15", "", "abc", "", "1.7976931348623157E308", "Infinite", "1", "", "2147483647"]);
        let mut f = Fields::new(&payload).unwrap();
        assert_eq!(f.int("version").unwrap(), 2);
        assert_eq!(f.int("a").unwrap(), 15);
        assert_eq!(f.int("empty").unwrap(), 0);
        assert!(matches!(f.int("abc"), Err(DecodeError::Bad { field: "abc", .. })));
        assert_eq!(f.double_max("empty").unwrap(), None);
        assert_eq!(f.double_max("unset").unwrap(), None);
        assert_eq!(f.double("inf").unwrap(), f64::INFINITY);
        assert!(f.bool("one").unwrap());
        assert!(!f.bool("empty").unwrap());
        assert_eq!(f.int_max("unset").unwrap(), None);
        assert!(matches!(f.str("past the end"), Err(DecodeError::Missing("past the end"))));
    }

    #[test]
    fn writes_values_as_tws_does() {
        let mut w = Writer::default();
        w.int(-1).double(150.0).double_max(None).bool(true).decimal(10.0).decimal(0.5).str("a\0b");
        assert_eq!(w.0, nul(&["-1", "150", "1.7976931348623157E308", "1", "10", "0.5", "ab"]));
    }
}
