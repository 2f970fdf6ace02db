//! What the guarded port reads of an engine's frame (*pure*): only the message id, and for two
//! messages one field each — the order id of `placeOrder` (to answer a refusal on it) and the
//! client id of `startApi` (to show who the session is). Nothing is re-encoded: a frame that
//! passes is relayed byte for byte.
//!
//! Where the fields are (sources in `docs/tws-protocol.md`, "The guarded port"):
//! - `placeOrder` (id 3) as text: the first field after the id is the order id from version
//!   145 (`MIN_SERVER_VER_ORDER_CONTAINER`); below it a message version comes first
//!   (`py:client.py:2332-2337`; ib_async `client.py:486-488`). As protobuf (from 203,
//!   `PlaceOrderRequest`): field 1 (`py:client.py:2781-2787`; ibapi 5.5
//!   `src/orders/common/encoders.rs:10-17`).
//! - `startApi` (id 71) as text: version 2, then the client id; as protobuf (from 213,
//!   `StartApiRequest`): field 1.

use crate::wire::error::ErrorReply;
use crate::wire::frame::{Encoding, FrameHead};
use crate::wire::ids::outgoing::{PLACE_ORDER, START_API};

/// `MIN_SERVER_VER_ORDER_CONTAINER`: from here `placeOrder`'s text form has no message version.
pub const ORDER_CONTAINER: i32 = 145;

/// What an engine's frame is, as far as the port cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspected {
    /// `placeOrder` for this order id: passes only through the gates.
    PlaceOrder {
        /// The order id.
        order_id: i32,
    },
    /// `startApi` naming the engine's client id.
    StartApi {
        /// The client id.
        client_id: i32,
    },
    /// Anything else: relayed as is (`cancelOrder` and `reqGlobalCancel` included).
    Other,
    /// Not a well-formed frame: the session is closed.
    Malformed(String),
}

/// Inspect the complete frame `frame` (prefix included) whose head is `head`, in a session at
/// `version`.
pub fn inspect(head: &FrameHead, frame: &[u8], version: i32) -> Inspected {
    let Some(id) = head.id else {
        return Inspected::Malformed("a text frame whose first field is not a message id".into());
    };
    let payload = &frame[head.payload_start..head.len];
    match (id, head.encoding) {
        (PLACE_ORDER, Encoding::Text) => {
            let skip = usize::from(version < ORDER_CONTAINER);
            match text_int(payload, skip) {
                Some(order_id) => Inspected::PlaceOrder { order_id },
                None => Inspected::Malformed("placeOrder without a numeric order id".into()),
            }
        }
        (PLACE_ORDER, Encoding::Protobuf) => match proto_int_field1(payload) {
            Some(order_id) => Inspected::PlaceOrder { order_id },
            None => Inspected::Malformed("protobuf placeOrder without an order id".into()),
        },
        (START_API, Encoding::Text) => {
            text_int(payload, 1).map_or(Inspected::Other, |client_id| Inspected::StartApi { client_id })
        }
        (START_API, Encoding::Protobuf) => {
            proto_int_field1(payload).map_or(Inspected::Other, |client_id| Inspected::StartApi { client_id })
        }
        _ => Inspected::Other,
    }
}

/// The frame that answers a refused order: error 201 `Order rejected - reason: <reason>` on
/// the order id, encoded as a gateway at `version` would.
pub fn rejection(version: i32, order_id: i32, reason: &str, time_ms: i64) -> Vec<u8> {
    let message = format!("Order rejected - reason: {reason}");
    ErrorReply { id: order_id, code: 201, message: &message, time_ms }.frame(version)
}

/// Text field `index` (NUL-terminated fields) as an i32.
fn text_int(payload: &[u8], index: usize) -> Option<i32> {
    let field = payload.split(|b| *b == 0).nth(index)?;
    std::str::from_utf8(field).ok()?.trim().parse().ok()
}

/// Field 1 (an int32 varint) of a protobuf message, walking the top-level fields only.
fn proto_int_field1(mut buf: &[u8]) -> Option<i32> {
    let mut found = None;
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let (field, wire_type) = (key >> 3, key & 7);
        match wire_type {
            0 => {
                let value = varint(&mut buf)?;
                if field == 1 {
                    // int32 is sign-extended to 64 bits on the wire.
                    found = Some(value as i64 as i32);
                }
            }
            1 => buf = buf.get(8..)?,
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                buf = buf.get(len..)?;
            }
            5 => buf = buf.get(4..)?,
            _ => return None,
        }
    }
    found
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::{frame_head, text_frame, Framing};

    fn inspect_bytes(frame: &[u8], version: i32) -> Inspected {
        let head = frame_head(frame, Framing::for_version(version)).unwrap().unwrap();
        inspect(&head, frame, version)
    }

    #[test]
    fn finds_the_order_id_of_a_text_place_order() {
        let fields = b"42\x000\x00AAPL\x00STK\x00";
        let frame = text_frame(Framing::TextId, PLACE_ORDER, fields);
        assert_eq!(inspect_bytes(&frame, 178), Inspected::PlaceOrder { order_id: 42 });
        let binary = text_frame(Framing::BinaryId, PLACE_ORDER, fields);
        assert_eq!(inspect_bytes(&binary, 202), Inspected::PlaceOrder { order_id: 42 }, "text at 201..202");
        let old = text_frame(Framing::TextId, PLACE_ORDER, b"45\x0042\x00");
        assert_eq!(inspect_bytes(&old, 144), Inspected::PlaceOrder { order_id: 42 }, "version first below 145");
        let bad = text_frame(Framing::TextId, PLACE_ORDER, b"x\x00");
        assert!(matches!(inspect_bytes(&bad, 178), Inspected::Malformed(_)));
    }

    #[test]
    fn finds_the_order_id_of_a_protobuf_place_order() {
        #[derive(Clone, PartialEq, prost::Message)]
        struct Req {
            #[prost(int32, optional, tag = "1")]
            order_id: Option<i32>,
            #[prost(string, optional, tag = "2")]
            contract: Option<String>,
            #[prost(double, optional, tag = "3")]
            price: Option<f64>,
        }
        let frame = crate::wire::frame::proto_frame(
            PLACE_ORDER,
            &Req { order_id: Some(900_001), contract: Some("AAPL".into()), price: Some(1.5) },
        );
        assert_eq!(inspect_bytes(&frame, 226), Inspected::PlaceOrder { order_id: 900_001 });
        let negative = crate::wire::frame::proto_frame(PLACE_ORDER, &Req { order_id: Some(-5), ..Req::default() });
        assert_eq!(inspect_bytes(&negative, 226), Inspected::PlaceOrder { order_id: -5 });
        let none = crate::wire::frame::proto_frame(PLACE_ORDER, &Req { contract: Some("x".into()), ..Req::default() });
        assert!(matches!(inspect_bytes(&none, 226), Inspected::Malformed(_)));
        let truncated = [&0x0000_0006u32.to_be_bytes()[..], &203i32.to_be_bytes(), &[0x12, 0x7f]].concat();
        assert!(matches!(inspect_bytes(&truncated, 226), Inspected::Malformed(_)));
    }

    #[test]
    fn start_api_names_the_client() {
        let text = text_frame(Framing::TextId, START_API, b"2\x007\x00\x00");
        assert_eq!(inspect_bytes(&text, 178), Inspected::StartApi { client_id: 7 });
        let proto = [&0x0000_0006u32.to_be_bytes()[..], &271i32.to_be_bytes(), &[0x08, 0x09]].concat();
        assert_eq!(inspect_bytes(&proto, 226), Inspected::StartApi { client_id: 9 });
        let cancel = text_frame(Framing::TextId, 4, b"1\x0042\x00");
        assert_eq!(inspect_bytes(&cancel, 178), Inspected::Other, "cancelOrder passes");
    }

    #[test]
    fn a_rejection_is_error_201_on_the_order_id() {
        let frame = rejection(178, 42, "paused by operator since x", 0);
        let text = String::from_utf8(frame[4..].to_vec()).unwrap();
        assert_eq!(text, "4\x002\x0042\x00201\x00Order rejected - reason: paused by operator since x\x00\x00");
    }
}
