//! The TWS API on the wire, as far as both the simulator (`ibkr_supervisor::sim`) and the
//! guarded port ([`proxy`](crate::proxy)) need it — one implementation for both:
//!
//! - [`frame`]: the `API\0` prefix, the handshake reply, bounded length-prefixed frames whose
//!   message id is text (below 201) or binary (from 201; ids above 200 are protobuf), a
//!   cancel-safe [`FrameReader`](frame::FrameReader) and [`frame_head`](frame::frame_head),
//!   which finds a frame and its id without copying it.
//! - [`version`]: the served range, the `MIN_SERVER_VER_*` thresholds, and per message the
//!   version from which it travels as protobuf.
//! - [`ids`]: IB's message ids, both directions.
//! - [`error`]: the `error` message (id 4) encoded for a negotiated version.

pub mod error;
pub mod frame;
pub mod ids;
pub mod version;
