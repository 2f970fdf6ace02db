//! TWS API framing, apart from what the frames mean: the `API\0` connection prefix, the
//! handshake reply, and the length-prefixed frames that follow, whose message id is
//!
//! - below version 201, the first NUL-terminated text field (`"71\0" "2\0" "7\0" …`);
//! - from 201 (`MIN_SERVER_VER_PROTOBUF`), a 4-byte big-endian integer, where ids above 200
//!   mean a protobuf payload for id − 200 (`py:client.py:607-621`, `py:comm.py:37-44`).
//!
//! Reads are bounded: a prefix longer than [`MAX_PREFIX_LEN`] or a frame outside
//! `1..=0xFFFFFF` bytes is an error, and the caller closes the connection as TWS does. Bytes
//! are buffered only as they arrive, so a length prefix alone never allocates what it
//! announces, and a buffer that grew for one large frame shrinks back after it.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::version::{ClientVersions, PROTOBUF};

/// Largest frame body both clients accept (`0xFFFFFF`, `py:const.py:25`).
pub const MAX_FRAME_LEN: u32 = 0x00FF_FFFF;
/// Longest version string accepted after `API\0` (real ones are ~10 bytes plus options).
pub const MAX_PREFIX_LEN: u32 = 1024;
/// Offset added to a logical message id when its payload is protobuf.
pub const PROTOBUF_MSG_ID: i32 = 200;
/// Read buffer kept between frames; a larger one is shrunk back once drained.
const READ_BUFFER: usize = 8 * 1024;

/// What went wrong on the wire; every variant ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The first four bytes are not `API\0`: not a TWS API client.
    #[error("connection prefix is not \"API\\0\" (got {0:02x?})")]
    BadPrefix([u8; 4]),
    /// The version string's length prefix is beyond [`MAX_PREFIX_LEN`].
    #[error("version string of {0} bytes exceeds the {MAX_PREFIX_LEN}-byte limit")]
    PrefixTooLong(u32),
    /// The version string does not parse.
    #[error("version string {0:?} is not of the form v<min>..<max>")]
    BadVersionString(String),
    /// A frame's length prefix is 0 (or too short for its id) or above [`MAX_FRAME_LEN`].
    #[error("frame length {0} outside {min}..=16777215", min = 1)]
    BadFrameLength(u32),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How a session's frames carry their message id, fixed by the negotiated version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Below 201: the id is the first text field.
    TextId,
    /// From 201: a 4-byte binary id.
    BinaryId,
}

impl Framing {
    /// The framing of a session at negotiated `version`.
    pub fn for_version(version: i32) -> Framing {
        if version >= PROTOBUF {
            Framing::BinaryId
        } else {
            Framing::TextId
        }
    }
}

/// How a frame's payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// NUL-terminated text fields.
    Text,
    /// A protobuf message.
    Protobuf,
}

/// One frame from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `id` is the logical id; `payload` the fields (text) or message bytes (protobuf), without
    /// the id.
    Message {
        /// The logical message id.
        id: i32,
        /// How the payload is encoded.
        encoding: Encoding,
        /// The payload, without the id.
        payload: Vec<u8>,
    },
    /// A text-framed body whose first field is not a message id.
    BadId {
        /// That first field.
        text: String,
    },
}

/// The handshake reply: one frame `"<version>\0<YYYYMMDD HH:MM:SS TZ>\0"`, with no message id.
pub fn handshake_reply(version: i32, connection_time: &str) -> Vec<u8> {
    let body = format!("{version}\0{connection_time}\0");
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

/// A complete frame of text `fields` (each already NUL-terminated) with id `msg_id`.
pub fn text_frame(framing: Framing, msg_id: i32, fields: &[u8]) -> Vec<u8> {
    let id_text = msg_id.to_string();
    let id_len = match framing {
        Framing::TextId => id_text.len() + 1,
        Framing::BinaryId => 4,
    };
    let mut out = Vec::with_capacity(4 + id_len + fields.len());
    out.extend_from_slice(&((id_len + fields.len()) as u32).to_be_bytes());
    match framing {
        Framing::TextId => {
            out.extend_from_slice(id_text.as_bytes());
            out.push(0);
        }
        Framing::BinaryId => out.extend_from_slice(&msg_id.to_be_bytes()),
    }
    out.extend_from_slice(fields);
    out
}

/// A complete protobuf frame: wire id `logical_id + 200`, then the message bytes.
pub fn proto_frame(logical_id: i32, message: &impl prost::Message) -> Vec<u8> {
    let body_len = 4 + message.encoded_len();
    let mut out = Vec::with_capacity(4 + body_len);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    out.extend_from_slice(&(logical_id + PROTOBUF_MSG_ID).to_be_bytes());
    message.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// A cancel-safe reader of the connection prefix and frames: bytes are buffered in `self`, so
/// a `select!` that drops a pending read loses nothing.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    framing: Framing,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader expecting the connection prefix, then binary-id frames until
    /// [`set_framing`](Self::set_framing).
    pub fn new(inner: R) -> Self {
        Self { inner, buf: Vec::with_capacity(READ_BUFFER), framing: Framing::BinaryId }
    }

    /// Give back the reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Set once the version is negotiated.
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    /// Read `API\0` and the version string. `Ok(None)` if the peer closed first.
    pub async fn read_prefix(&mut self) -> Result<Option<ClientVersions>, WireError> {
        loop {
            if let Some((versions, used)) = parse_prefix(&self.buf)? {
                self.consume(used);
                return Ok(Some(versions));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Read one frame. `Ok(None)` on end of stream.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, WireError> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf, self.framing)? {
                self.consume(used);
                return Ok(Some(frame));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Read and discard until end of stream (used to close with a clean FIN).
    pub async fn drain(&mut self) -> Result<(), WireError> {
        loop {
            self.buf.clear();
            if self.fill().await? == 0 {
                return Ok(());
            }
        }
    }

    fn consume(&mut self, used: usize) {
        self.buf.drain(..used);
        if self.buf.capacity() > 8 * READ_BUFFER && self.buf.len() <= READ_BUFFER {
            self.buf.shrink_to(READ_BUFFER);
        }
    }

    async fn fill(&mut self) -> Result<usize, WireError> {
        self.buf.reserve(READ_BUFFER);
        Ok(self.inner.read_buf(&mut self.buf).await?)
    }
}

/// Parse the connection prefix from the front of `buf`: `Ok(None)` until it is complete.
pub fn parse_prefix(buf: &[u8]) -> Result<Option<(ClientVersions, usize)>, WireError> {
    if buf.len() >= 4 && &buf[..4] != b"API\0" {
        return Err(WireError::BadPrefix([buf[0], buf[1], buf[2], buf[3]]));
    }
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len > MAX_PREFIX_LEN {
        return Err(WireError::PrefixTooLong(len));
    }
    let end = 8 + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&buf[8..end]);
    let versions = ClientVersions::parse(&text).ok_or_else(|| WireError::BadVersionString(text.into_owned()))?;
    Ok(Some((versions, end)))
}

/// Where one complete frame lies at the front of a buffer, and its message id, found without
/// copying it: what the guarded port needs to relay a frame as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// The logical message id, `None` when a text frame's first field is not a number.
    pub id: Option<i32>,
    /// How the payload is encoded.
    pub encoding: Encoding,
    /// Where the payload starts (after the length prefix and the id).
    pub payload_start: usize,
    /// The frame's total length, prefix included: the payload is `payload_start..len`.
    pub len: usize,
}

/// The head of the complete frame at the front of `buf`: `Ok(None)` until it is complete; an
/// error for a length outside `1..=0xFFFFFF` (before any of the body has to arrive).
pub fn frame_head(buf: &[u8], framing: Framing) -> Result<Option<FrameHead>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let min_len = match framing {
        Framing::TextId => 1,
        Framing::BinaryId => 4,
    };
    if !(min_len..=MAX_FRAME_LEN).contains(&len) {
        return Err(WireError::BadFrameLength(len));
    }
    let end = 4 + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let body = &buf[4..end];
    let head = match framing {
        Framing::BinaryId => {
            let msg_id = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            let (id, encoding) = if msg_id > PROTOBUF_MSG_ID {
                (msg_id - PROTOBUF_MSG_ID, Encoding::Protobuf)
            } else {
                (msg_id, Encoding::Text)
            };
            FrameHead { id: Some(id), encoding, payload_start: 8, len: end }
        }
        Framing::TextId => {
            let split = body.iter().position(|b| *b == 0).unwrap_or(body.len());
            let id = std::str::from_utf8(&body[..split]).ok().and_then(|t| t.parse::<i32>().ok());
            FrameHead { id, encoding: Encoding::Text, payload_start: (4 + split + 1).min(end), len: end }
        }
    };
    Ok(Some(head))
}

/// Parse one frame from the front of `buf`: `Ok(None)` until it is complete.
pub fn parse_frame(buf: &[u8], framing: Framing) -> Result<Option<(Frame, usize)>, WireError> {
    let Some(head) = frame_head(buf, framing)? else { return Ok(None) };
    let frame = match head.id {
        Some(id) => Frame::Message { id, encoding: head.encoding, payload: buf[head.payload_start..head.len].to_vec() },
        None => {
            let split = buf[4..head.len].iter().position(|b| *b == 0).map_or(head.len, |p| 4 + p);
            Frame::BadId { text: String::from_utf8_lossy(&buf[4..split]).into_owned() }
        }
    };
    Ok(Some((frame, head.len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i32, encoding: Encoding, payload: &[u8]) -> Frame {
        Frame::Message { id, encoding, payload: payload.to_vec() }
    }

    #[test]
    fn frames_match_captured_bytes() {
        // NextValidId(1) as captured from a real exchange (tws-protocol.md, Appendix A).
        #[derive(Clone, PartialEq, prost::Message)]
        struct NextValidId {
            #[prost(int32, optional, tag = "1")]
            order_id: Option<i32>,
        }
        let frame = proto_frame(9, &NextValidId { order_id: Some(1) });
        assert_eq!(frame, [0, 0, 0, 6, 0, 0, 0, 0xd1, 0x08, 0x01]);
        let reply = handshake_reply(226, "20261122 04:58:03 UTC");
        assert_eq!(&reply[..4], &[0, 0, 0, 0x1a]);
        assert!(reply.ends_with(b"UTC\0"));
        // Python's StartApi at v212 and v200 (tws-protocol.md, Appendix A).
        let fields = [b'2', 0, b'7', 0, 0];
        assert_eq!(text_frame(Framing::BinaryId, 71, &fields), [&[0, 0, 0, 9, 0, 0, 0, 0x47][..], &fields].concat());
        assert_eq!(text_frame(Framing::TextId, 71, &fields), [&[0, 0, 0, 8, b'7', b'1', 0][..], &fields].concat());
    }

    #[tokio::test]
    async fn reads_frames_and_rejects_bad_lengths() {
        let bytes: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0xf9];
        let mut reader = FrameReader::new(bytes);
        assert_eq!(reader.read_frame().await.unwrap(), Some(message(49, Encoding::Protobuf, &[])));
        assert_eq!(reader.read_frame().await.unwrap(), None);
        let text: &[u8] = &[0, 0, 0, 8, 0, 0, 0, 0x47, b'2', 0, b'7', 0];
        assert_eq!(
            FrameReader::new(text).read_frame().await.unwrap(),
            Some(message(71, Encoding::Text, b"2\x007\x00"))
        );
        let huge: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(FrameReader::new(huge).read_frame().await, Err(WireError::BadFrameLength(_))));
        let tiny: &[u8] = &[0, 0, 0, 2, 1, 2];
        assert!(matches!(FrameReader::new(tiny).read_frame().await, Err(WireError::BadFrameLength(2))));
    }

    #[tokio::test]
    async fn reads_text_ids_below_201() {
        let bytes =
            [&[0, 0, 0, 8][..], b"71\x002\x007\x00\x00", &[0, 0, 0, 3], b"49\x00", &[0, 0, 0, 3], b"ab\x00"].concat();
        let mut reader = FrameReader::new(bytes.as_slice());
        reader.set_framing(Framing::for_version(176));
        assert_eq!(reader.read_frame().await.unwrap(), Some(message(71, Encoding::Text, b"2\x007\x00\x00")));
        assert_eq!(reader.read_frame().await.unwrap(), Some(message(49, Encoding::Text, b"")));
        assert_eq!(reader.read_frame().await.unwrap(), Some(Frame::BadId { text: "ab".into() }));
        assert_eq!(reader.read_frame().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_huge_length_prefix_allocates_only_what_arrives() {
        let mut bytes = (MAX_FRAME_LEN).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 1, 2, 3]);
        let mut reader = FrameReader::new(bytes.as_slice());
        assert_eq!(reader.read_frame().await.unwrap(), None, "end of stream before the frame completed");
        assert!(reader.buf.capacity() < 64 * 1024, "buffer {} bytes", reader.buf.capacity());
    }

    #[test]
    fn waits_for_split_segments() {
        let prefix = b"API\0\0\0\0\x09v213..226";
        for cut in 0..prefix.len() {
            assert!(parse_prefix(&prefix[..cut]).unwrap().is_none(), "cut at {cut}");
        }
        let (versions, used) = parse_prefix(prefix).unwrap().unwrap();
        assert_eq!((versions.max, used), (226, prefix.len()));
        assert!(matches!(parse_prefix(b"GET / HTTP/1.1"), Err(WireError::BadPrefix(_))));
        let frame = [0, 0, 0, 6, 0, 0, 1, 0x0f, 0x08, 0x07];
        for cut in 0..frame.len() {
            assert!(parse_frame(&frame[..cut], Framing::BinaryId).unwrap().is_none());
        }
        let parsed = parse_frame(&frame, Framing::BinaryId).unwrap().unwrap().0;
        assert_eq!(parsed, message(71, Encoding::Protobuf, &[8, 7]));
    }
}
