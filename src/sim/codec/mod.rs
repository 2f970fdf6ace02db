//! One codec per encoding — [`text`] (the classic NUL-separated fields) and [`proto`]
//! (protobuf) — and [`Codec`], which picks between them per message for a session's
//! negotiated version: a request is decoded as its frame says (a text id or an id above 200),
//! a reply is encoded as protobuf from the version [`proto_reply_from`] gives, else as text.

pub mod proto;
pub mod text;

use super::msg::ids::request_info;
use super::msg::{Reply, Request};
use super::version::{proto_reply_from, proto_request_from};
use super::wire::{Encoding, Frame, Framing};

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
        match reply {
            _ if self.version >= proto_reply_from(reply.msg_id()) => proto::encode_reply(reply),
            _ => text::encode_reply(reply, self.version, self.framing),
        }
    }
}
