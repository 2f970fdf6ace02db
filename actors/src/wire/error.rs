//! The `error` message (incoming id 4) as a gateway encodes it at a negotiated version: the one
//! reply both the simulator and the guarded port write (the port answers a refused order with
//! error 201 on the order's id, in exactly the encoding the engine's library expects).
//!
//! - Below [`ERROR_TIME`] (194) the text form starts with a message version (2); then the
//!   request id, the code, the text (7-bit ASCII with `\uXXXX` escapes), from
//!   [`ADVANCED_ORDER_REJECT`] (166) the advanced-reject JSON, from 194 the time in ms
//!   (`py:decoder.py:2382-2397` `processErrorMsg`).
//! - From [`proto_reply_from`]`(ERR_MSG)` (201) a protobuf `ErrorMessage` (`py:decoder.py`
//!   `processErrorMsgProtoBuf`; ibapi 5.5 `src/messages.rs`, which at 213 and up reads only
//!   protobuf).

use super::frame::{proto_frame, text_frame, Framing};
use super::ids::incoming::ERR_MSG;
use super::version::{proto_reply_from, ADVANCED_ORDER_REJECT, ERROR_TIME};

/// IB's protobuf `ErrorMessage` (`ErrorMessage.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorMessage {
    /// The request (or order) id the error is about; -1 for a notice.
    #[prost(int32, optional, tag = "1")]
    pub id: Option<i32>,
    /// When, in ms since the epoch.
    #[prost(int64, optional, tag = "2")]
    pub error_time: Option<i64>,
    /// IB's code (201: order rejected, 1100: connectivity lost, …).
    #[prost(int32, optional, tag = "3")]
    pub error_code: Option<i32>,
    /// The text.
    #[prost(string, optional, tag = "4")]
    pub error_msg: Option<String>,
    /// The advanced order reject JSON, if any.
    #[prost(string, optional, tag = "5")]
    pub advanced_order_reject_json: Option<String>,
}

/// One error message, independent of its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorReply<'a> {
    /// The request or order id it answers (-1: none).
    pub id: i32,
    /// IB's code.
    pub code: i32,
    /// The text.
    pub message: &'a str,
    /// When, in ms since the epoch.
    pub time_ms: i64,
}

impl ErrorReply<'_> {
    /// The complete frame for a session at `version`: protobuf from 201, else text.
    pub fn frame(&self, version: i32) -> Vec<u8> {
        if version >= proto_reply_from(ERR_MSG) {
            self.proto_frame()
        } else {
            text_frame(Framing::for_version(version), ERR_MSG, &self.text_fields(version))
        }
    }

    /// The protobuf frame.
    pub fn proto_frame(&self) -> Vec<u8> {
        proto_frame(
            ERR_MSG,
            &ErrorMessage {
                id: Some(self.id),
                error_time: Some(self.time_ms),
                error_code: Some(self.code),
                error_msg: Some(self.message.to_owned()),
                advanced_order_reject_json: None,
            },
        )
    }

    /// The text fields (each NUL-terminated, the message id not included) at `version`.
    pub fn text_fields(&self, version: i32) -> Vec<u8> {
        let mut fields = Vec::with_capacity(self.message.len() + 32);
        let mut push = |value: &str| {
            // A NUL inside a value would shift every later field: TWS never sends one.
            fields.extend(value.bytes().filter(|b| *b != 0));
            fields.push(0);
        };
        if version < ERROR_TIME {
            push("2");
        }
        push(&self.id.to_string());
        push(&self.code.to_string());
        push(&ascii7(self.message));
        if version >= ADVANCED_ORDER_REJECT {
            push("");
        }
        if version >= ERROR_TIME {
            push(&self.time_ms.to_string());
        }
        fields
    }
}

/// From 153 (`MIN_SERVER_VER_ENCODE_MSG_ASCII7`) the official client reads error texts and
/// long names with Python's `unicode-escape` (`py:decoder.py:2388`, `:541`): TWS sends them as
/// 7-bit ASCII with `\uXXXX` escapes, so a backslash is escaped too.
pub fn ascii7(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(message: &str) -> ErrorReply<'_> {
        ErrorReply { id: 7, code: 201, message, time_ms: 1_700_000_000_123 }
    }

    #[test]
    fn text_fields_follow_the_version() {
        let nul = |parts: &[&str]| -> Vec<u8> { parts.iter().flat_map(|p| p.bytes().chain([0])).collect() };
        let r = reply("Order rejected - reason: x");
        assert_eq!(r.text_fields(157), nul(&["2", "7", "201", "Order rejected - reason: x"]));
        assert_eq!(r.text_fields(178), nul(&["2", "7", "201", "Order rejected - reason: x", ""]));
        assert_eq!(r.text_fields(200), nul(&["7", "201", "Order rejected - reason: x", "", "1700000000123"]));
        // Text ids below 201; from 201 the frame is protobuf with wire id 204.
        assert_eq!(&r.frame(176)[4..6], b"4\0");
        assert_eq!(&r.frame(226)[4..8], &204i32.to_be_bytes());
    }

    #[test]
    fn text_is_seven_bit_ascii() {
        assert_eq!(ascii7("é \\ ok"), "\\u00e9 \\\\ ok");
        assert!(!reply("a\0b").text_fields(157).windows(3).any(|w| w == b"a\0b"));
    }
}
