//! One codec per encoding — [`text`] (the classic NUL-separated fields) and [`proto`]
//! (protobuf) — and [`Codec`], which picks between them per message for a session's
//! negotiated version: a request is decoded as its frame says (a text id or an id above 200),
//! a reply is encoded as protobuf from the version [`proto_reply_from`] gives, else as text.

pub mod proto;
pub mod text;

use super::msg::ids::request_info;
use super::msg::{Reply, Request};
use crate::actors::wire::frame::{Encoding, Frame, Framing};
use crate::actors::wire::version::{proto_reply_from, proto_request_from};

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("field {field} is {value:?}, not {expected}")]
    Bad { field: &'static str, value: String, expected: &'static str },
    #[error("the fields are not UTF-8")]
    NotUtf8,
    #[error("message id {0:?} is not a number")]
    BadId(String),
    #[error("protobuf: {0}")]
    Proto(String),
}

impl DecodeError {
    pub fn bad(field: &'static str, value: &str, expected: &'static str) -> Self {
        let value: String = value.chars().take(40).collect();
        DecodeError::Bad { field, value, expected }
    }
}

/// A request that could not be read, with the request id to answer on (if it could be found).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    pub msg_id: i32,
    pub req_id: Option<i32>,
    pub error: DecodeError,
}

impl RequestError {
    /// The 320 TWS sends for a request it cannot read.
    pub fn reply(&self) -> Reply {
        let name = request_info(self.msg_id).map(|i| i.name).unwrap_or("unknown request");
        Reply::error(
            self.req_id.unwrap_or(-1),
            320,
            format!("Error reading request. Message id {} ({name}). Unable to parse data. {}", self.msg_id, self.error),
        )
    }
}

/// Encodes and decodes for one negotiated version.
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    pub version: i32,
    framing: Framing,
}

impl Codec {
    pub fn new(version: i32) -> Self {
        Self { version, framing: Framing::for_version(version) }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    pub fn decode(&self, frame: Frame) -> Result<Request, RequestError> {
        if let Frame::Message { id, encoding, .. } = &frame {
            let expected = if self.version >= proto_request_from(*id) { Encoding::Protobuf } else { Encoding::Text };
            if *encoding != expected {
                // Accepted either way; IB's own client would not have sent it so.
                tracing::debug!(
                    msg_id = id,
                    version = self.version,
                    ?encoding,
                    "sim: request encoded unlike IB's client"
                );
            }
        }
        match frame {
            Frame::BadId { text } => Err(RequestError { msg_id: 0, req_id: None, error: DecodeError::BadId(text) }),
            Frame::Message { id, encoding: Encoding::Text, payload } => {
                text::decode_request(id, &payload, self.version)
            }
            Frame::Message { id, encoding: Encoding::Protobuf, payload } => proto::decode_request(id, &payload),
        }
    }

    /// The frame(s) of `reply` for this version.
    pub fn encode(&self, reply: &Reply) -> Vec<u8> {
        let scaled = in_lots(reply, self.version);
        let reply = scaled.as_ref().unwrap_or(reply);
        match reply {
            _ if self.version >= proto_reply_from(reply.msg_id()) => proto::encode_reply(reply),
            _ => text::encode_reply(reply, self.version, self.framing),
        }
    }
}

/// US-stock sizes as an older gateway counts them: in lots of 100. The thresholds are IB's
/// names for the switches to shares (`py:server_versions.py:122,138,183`); the client does not
/// act on them, the gateway does: `MIN_SERVER_VER_MARKET_DATA_IN_SHARES` (159) for bid, ask and
/// last sizes, `MIN_SERVER_VER_HMDS_MARKET_DATA_IN_SHARES` (175) for bar volumes and
/// `MIN_SERVER_VER_MARKET_DATA_VOLUMES_IN_SHARES` (220) for volume ticks.
fn in_lots(reply: &Reply, version: i32) -> Option<Reply> {
    use crate::actors::wire::version::{
        HMDS_MARKET_DATA_IN_SHARES, MARKET_DATA_IN_SHARES, MARKET_DATA_VOLUMES_IN_SHARES,
    };
    const VOLUME_TICKS: [i32; 6] = [8, 21, 63, 64, 65, 74];
    let lots = |v: f64| (v / 100.0).round();
    let bar_lots = |b: &super::msg::Bar| super::msg::Bar { volume: lots(b.volume), ..b.clone() };
    match reply {
        Reply::TickPrice { size: Some(size), us_stock: true, .. } if version < MARKET_DATA_IN_SHARES => {
            let mut r = reply.clone();
            if let Reply::TickPrice { size: s, .. } = &mut r {
                *s = Some(lots(*size));
            }
            Some(r)
        }
        Reply::TickSize { tick_type, size, us_stock: true, .. } => {
            let threshold =
                if VOLUME_TICKS.contains(tick_type) { MARKET_DATA_VOLUMES_IN_SHARES } else { MARKET_DATA_IN_SHARES };
            (version < threshold).then(|| {
                let mut r = reply.clone();
                if let Reply::TickSize { size: s, .. } = &mut r {
                    *s = lots(*size);
                }
                r
            })
        }
        Reply::HistoricalData { req_id, start, end, bars, us_stock: true } if version < HMDS_MARKET_DATA_IN_SHARES => {
            Some(Reply::HistoricalData {
                req_id: *req_id,
                start: start.clone(),
                end: end.clone(),
                bars: bars.iter().map(bar_lots).collect(),
                us_stock: true,
            })
        }
        Reply::HistoricalDataUpdate { req_id, bar, us_stock: true } if version < HMDS_MARKET_DATA_IN_SHARES => {
            Some(Reply::HistoricalDataUpdate { req_id: *req_id, bar: bar_lots(bar), us_stock: true })
        }
        Reply::RealTimeBar { req_id, time, bar, us_stock: true } if version < HMDS_MARKET_DATA_IN_SHARES => {
            Some(Reply::RealTimeBar { req_id: *req_id, time: *time, bar: bar_lots(bar), us_stock: true })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_stock_sizes_go_out_in_lots_where_the_version_is_older() {
        let volume = Reply::TickSize { req_id: 1, tick_type: 8, size: 12_300.0, us_stock: true };
        let size = |r: Option<Reply>| match r {
            Some(Reply::TickSize { size, .. }) => Some(size),
            _ => None,
        };
        assert_eq!(size(in_lots(&volume, 178)), Some(123.0), "volume in lots below 220");
        assert_eq!(size(in_lots(&volume, 220)), None, "shares from 220");
        let bid_size = Reply::TickSize { req_id: 1, tick_type: 0, size: 500.0, us_stock: true };
        assert_eq!(size(in_lots(&bid_size, 157)), Some(5.0));
        assert_eq!(size(in_lots(&bid_size, 178)), None, "bid/ask/last sizes in shares from 159");
        let fx = Reply::TickSize { req_id: 1, tick_type: 8, size: 12_300.0, us_stock: false };
        assert_eq!(size(in_lots(&fx, 157)), None, "only US stocks");
    }
}
