//! The queue of frames to one client, and the task that writes them.
//!
//! Replies are encoded for the session's version when queued ([`Outbox::send`]), so the
//! gateway and the handlers deal in [`Reply`] only. The writer obeys `hang` (writes nothing)
//! and `latency` (each frame leaves `latency` after it was queued).
//!
//! The queue is bounded two ways: at most [`MAX_QUEUED_FRAMES`] frames and at most
//! `SimOptions::outbox_limit_bytes` bytes waiting. A client that stops reading fills its TCP
//! window, then this queue; the next frame over either bound marks the outbox overflowed, and
//! the session closes the connection (RST: what is queued can never be delivered) instead of
//! growing without bound.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;

use super::codec::Codec;
use super::gateway::Conditions;
use super::msg::Reply;

/// Frames a session may have queued for its writer, whatever their size.
pub const MAX_QUEUED_FRAMES: usize = 65_536;

enum Outgoing {
    Frame(Vec<u8>, Instant),
    /// Stop after everything queued before it was written.
    Finish,
}

/// Shared between the senders and the writer.
struct Budget {
    queued_bytes: AtomicUsize,
    limit_bytes: usize,
    overflowed: AtomicBool,
    overflow: Notify,
}

/// Sends frames to one client; cheap to clone. Encodes with the session's codec.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    budget: Arc<Budget>,
    codec: Option<Codec>,
}

impl Outbox {
    /// Queue `reply`, encoded for this session. Dropped (and the outbox marked overflowed)
    /// if the queue is full.
    pub fn send(&self, reply: &Reply) {
        let codec = self.codec.expect("replies are sent only after the version is negotiated");
        self.send_bytes(codec.encode(reply));
    }

    /// Queue an already-encoded frame (the handshake reply).
    pub fn send_bytes(&self, frame: Vec<u8>) {
        if self.budget.overflowed.load(Ordering::Relaxed) {
            return;
        }
        let len = frame.len();
        let queued = self.budget.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > self.budget.limit_bytes || self.tx.try_send(Outgoing::Frame(frame, Instant::now())).is_err() {
            self.budget.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            if !self.budget.overflowed.swap(true, Ordering::Relaxed) {
                self.budget.overflow.notify_waiters();
                self.budget.overflow.notify_one();
            }
        }
    }

    /// This outbox encoding for `codec` (set once the version is negotiated).
    pub fn with_codec(&self, codec: Codec) -> Outbox {
        Outbox { codec: Some(codec), ..self.clone() }
    }

    pub fn version(&self) -> Option<i32> {
        self.codec.map(|c| c.version)
    }

    /// Resolves once a frame could not be queued.
    pub async fn overflowed(&self) {
        loop {
            let notified = self.budget.overflow.notified();
            if self.budget.overflowed.load(Ordering::Relaxed) {
                return;
            }
            notified.await;
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.budget.queued_bytes.load(Ordering::Relaxed)
    }

    /// Ask the writer to stop once everything queued so far is written.
    pub fn finish(&self) {
        // Finish is a control item: it may exceed the frame bound by one.
        let tx = self.tx.clone();
        if tx.try_send(Outgoing::Finish).is_err() {
            tokio::spawn(async move {
                let _ = tx.send(Outgoing::Finish).await;
            });
        }
    }
}

/// A new outbox and the writer task that drains it into `write`; the task returns the write
/// half when `stop` fires, the queue finishes, or the peer is gone.
pub(crate) fn spawn_writer(
    write: OwnedWriteHalf,
    stop: oneshot::Receiver<()>,
    conditions: watch::Receiver<Conditions>,
    limit_bytes: usize,
) -> (Outbox, tokio::task::JoinHandle<OwnedWriteHalf>) {
    let (tx, rx) = mpsc::channel(MAX_QUEUED_FRAMES);
    let budget = Arc::new(Budget {
        queued_bytes: AtomicUsize::new(0),
        limit_bytes,
        overflowed: AtomicBool::new(false),
        overflow: Notify::new(),
    });
    let writer = tokio::spawn(write_loop(write, rx, stop, conditions, Arc::clone(&budget)));
    (Outbox { tx, budget, codec: None }, writer)
}

async fn write_loop(
    mut write: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Outgoing>,
    mut stop: oneshot::Receiver<()>,
    mut conditions: watch::Receiver<Conditions>,
    budget: Arc<Budget>,
) -> OwnedWriteHalf {
    loop {
        let item = tokio::select! {
            biased;
            _ = &mut stop => return write,
            item = queue.recv() => item,
        };
        let Some(Outgoing::Frame(frame, queued_at)) = item else { return write };
        let written = tokio::select! {
            biased;
            _ = &mut stop => return write,
            r = deliver(&mut write, &frame, queued_at, &mut conditions) => r,
        };
        budget.queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        if written.is_err() {
            // The peer is gone; the reader sees it too and decides how to close.
            let _ = stop.await;
            return write;
        }
    }
}

async fn deliver(
    write: &mut OwnedWriteHalf,
    frame: &[u8],
    queued_at: Instant,
    conditions: &mut watch::Receiver<Conditions>,
) -> std::io::Result<()> {
    loop {
        if conditions.borrow_and_update().hang {
            if conditions.wait_for(|c| !c.hang).await.is_err() {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            continue;
        }
        let latency = conditions.borrow().latency;
        if !latency.is_zero() {
            tokio::time::sleep_until(queued_at + latency).await;
            if conditions.borrow().hang {
                continue;
            }
        }
        return write.write_all(frame).await;
    }
}
