//! The supervision tree of `ibkr-supervisor`, and the pure logic it is driven by.
//!
//! - [`settings`]: the validated configuration (JSON, humantime durations, IANA zones); a
//!   mistake names the field and what is expected.
//! - [`backoff`]: the reconnect policy as a pure state machine with a clock seam
//!   (schedule, jitter, fallback client ids, manual attempts).
//! - [`calendar`]: IB's scheduled reset windows (daily and weekly), DST-correct via chrono-tz.

pub mod backoff;
pub mod calendar;
pub mod settings;
