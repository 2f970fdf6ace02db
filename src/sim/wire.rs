//! TWS API framing: the `API\0` connection prefix, the handshake reply, and the length-prefixed
//! frames that follow (`[u32 len][i32 msgId][payload]`, protobuf when `msgId > 200`).
//!
//! Reads are bounded: a prefix longer than [`MAX_PREFIX_LEN`] or a frame outside
//! `4..=0xFFFFFF` bytes is an error, and the caller closes the connection as TWS does.

use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::proto::PROTOBUF_MSG_ID;

/// Largest frame body both clients accept (`0xFFFFFF`).
pub const MAX_FRAME_LEN: u32 = 0x00FF_FFFF;
/// Longest version string accepted after `API\0` (real ones are ~10 bytes plus options).
pub const MAX_PREFIX_LEN: u32 = 1024;
/// Server versions the simulator can speak: the protobuf era that ibapi requires.
pub const MIN_SERVER_VERSION: i32 = 213;
pub const MAX_SERVER_VERSION: i32 = 226;

/// What went wrong on the wire; every variant ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection prefix is not \"API\\0\" (got {0:02x?})")]
    BadPrefix([u8; 4]),
    #[error("version string of {0} bytes exceeds the {MAX_PREFIX_LEN}-byte limit")]
    PrefixTooLong(u32),
    #[error("version string {0:?} is not of the form v<min>..<max>")]
    BadVersionString(String),
    #[error("frame length {0} outside 4..=16777215")]
    BadFrameLength(u32),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The version range a client announced in its connection prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientVersions {
    pub min: i32,
    pub max: i32,
    /// Text after the first space (`+PACEAPI` and the like), if any.
    pub connect_options: Option<String>,
}

impl ClientVersions {
    /// Parse `v<min>..<max>[ <options>]`; a bare `v<n>` means min = max = n.
    pub fn parse(text: &str) -> Result<Self, WireError> {
        let bad = || WireError::BadVersionString(text.to_owned());
        let (range, options) = match text.split_once(' ') {
            Some((range, rest)) => (range, Some(rest.to_owned()).filter(|o| !o.is_empty())),
            None => (text, None),
        };
        let range = range.strip_prefix('v').ok_or_else(bad)?;
        let (min, max) = match range.split_once("..") {
            Some((min, max)) => (min.parse().map_err(|_| bad())?, max.parse().map_err(|_| bad())?),
            None => {
                let v = range.parse().map_err(|_| bad())?;
                (v, v)
            }
        };
        if min > max {
            return Err(bad());
        }
        Ok(Self { min, max, connect_options: options })
    }

    /// The highest version both sides speak, or `None` when the ranges do not meet.
    pub fn negotiate(&self, server_max: i32) -> Option<i32> {
        let chosen = self.max.min(server_max);
        (chosen >= self.min.max(MIN_SERVER_VERSION)).then_some(chosen)
    }
}

/// The handshake reply: one frame `"<version>\0<YYYYMMDD HH:MM:SS TZ>\0"`, with no message id.
pub fn handshake_reply(version: i32, connection_time: &str) -> Vec<u8> {
    let body = format!("{version}\0{connection_time}\0");
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

/// One frame from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `msgId > 200`: `id` is the logical id, `payload` the protobuf bytes.
    Proto { id: i32, payload: Vec<u8> },
    /// `msgId <= 200`: NUL-separated text fields.
    Text { id: i32, fields: Vec<String> },
}

impl Frame {
    /// The logical message id.
    pub fn id(&self) -> i32 {
        match self {
            Frame::Proto { id, .. } | Frame::Text { id, .. } => *id,
        }
    }
}

/// A cancel-safe reader of the connection prefix and frames: bytes are buffered in `self`, so
/// a `select!` that drops a pending read loses nothing.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, buf: Vec::with_capacity(4096) }
    }

    /// Give back the reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Read `API\0` and the version string. `Ok(None)` if the peer closed first.
    pub async fn read_prefix(&mut self) -> Result<Option<ClientVersions>, WireError> {
        loop {
            if let Some((versions, used)) = parse_prefix(&self.buf)? {
                self.buf.drain(..used);
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
            if let Some((frame, used)) = parse_frame(&self.buf)? {
                self.buf.drain(..used);
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

    async fn fill(&mut self) -> Result<usize, WireError> {
        self.buf.reserve(4096);
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
    let versions = ClientVersions::parse(&String::from_utf8_lossy(&buf[8..end]))?;
    Ok(Some((versions, end)))
}

/// Parse one frame from the front of `buf`: `Ok(None)` until it is complete.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if !(4..=MAX_FRAME_LEN).contains(&len) {
        return Err(WireError::BadFrameLength(len));
    }
    let end = 4 + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let msg_id = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let payload = &buf[8..end];
    let frame = if msg_id > PROTOBUF_MSG_ID {
        Frame::Proto { id: msg_id - PROTOBUF_MSG_ID, payload: payload.to_vec() }
    } else {
        let text = String::from_utf8_lossy(payload);
        let mut fields: Vec<String> = text.split('\0').map(str::to_owned).collect();
        if fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        Frame::Text { id: msg_id, fields }
    };
    Ok(Some((frame, end)))
}

/// Encode a protobuf message as a complete frame with wire id `logical_id + 200`.
pub fn encode_proto<M: Message>(logical_id: i32, message: &M) -> Vec<u8> {
    let payload_len = message.encoded_len();
    let body_len = 4 + payload_len;
    let mut out = Vec::with_capacity(4 + body_len);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    out.extend_from_slice(&(logical_id + PROTOBUF_MSG_ID).to_be_bytes());
    message.encode(&mut out).expect("a Vec grows as needed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::proto::{incoming, NextValidId};

    #[test]
    fn parses_client_ranges() {
        let ibapi = ClientVersions::parse("v213..226").unwrap();
        assert_eq!((ibapi.min, ibapi.max, ibapi.connect_options), (213, 226, None));
        let py = ClientVersions::parse("v100..226 +PACEAPI").unwrap();
        assert_eq!(py.connect_options.as_deref(), Some("+PACEAPI"));
        assert_eq!(ClientVersions::parse("v220").unwrap().max, 220);
        assert!(ClientVersions::parse("213..226").is_err());
        assert!(ClientVersions::parse("v226..213").is_err());
        assert!(ClientVersions::parse("vx..y").is_err());
    }

    #[test]
    fn negotiates_within_both_ranges() {
        let v = |min, max| ClientVersions { min, max, connect_options: None };
        assert_eq!(v(213, 226).negotiate(226), Some(226));
        assert_eq!(v(100, 226).negotiate(226), Some(226));
        assert_eq!(v(100, 230).negotiate(226), Some(226));
        assert_eq!(v(213, 220).negotiate(226), Some(220));
        assert_eq!(v(100, 212).negotiate(226), None, "below the protobuf era");
        assert_eq!(v(227, 230).negotiate(226), None, "newer than we speak");
    }

    #[test]
    fn frames_match_captured_bytes() {
        // NextValidId(1) as captured from a real exchange (tws-protocol.md, Appendix A).
        let frame = encode_proto(incoming::NEXT_VALID_ID, &NextValidId { order_id: Some(1) });
        assert_eq!(frame, [0, 0, 0, 6, 0, 0, 0, 0xd1, 0x08, 0x01]);
        let reply = handshake_reply(226, "20261122 04:58:03 UTC");
        assert_eq!(&reply[..4], &[0, 0, 0, 0x1a]);
        assert!(reply.ends_with(b"UTC\0"));
    }

    #[tokio::test]
    async fn reads_frames_and_rejects_bad_lengths() {
        let bytes: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0xf9];
        let mut reader = FrameReader::new(bytes);
        assert_eq!(reader.read_frame().await.unwrap(), Some(Frame::Proto { id: 49, payload: vec![] }));
        assert_eq!(reader.read_frame().await.unwrap(), None);
        let text: &[u8] = &[0, 0, 0, 8, 0, 0, 0, 0x47, b'2', 0, b'7', 0];
        assert_eq!(
            FrameReader::new(text).read_frame().await.unwrap(),
            Some(Frame::Text { id: 71, fields: vec!["2".into(), "7".into()] })
        );
        let huge: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(FrameReader::new(huge).read_frame().await, Err(WireError::BadFrameLength(_))));
        let tiny: &[u8] = &[0, 0, 0, 2, 1, 2];
        assert!(matches!(FrameReader::new(tiny).read_frame().await, Err(WireError::BadFrameLength(2))));
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
            assert!(parse_frame(&frame[..cut]).unwrap().is_none());
        }
        assert_eq!(parse_frame(&frame).unwrap().unwrap().0, Frame::Proto { id: 71, payload: vec![8, 7] });
    }
}
