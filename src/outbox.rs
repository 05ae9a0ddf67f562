//! The ordered write queue of one connection ([`Outbox`]) and its encoding end
//! ([`SocketWriter`]).
//!
//! Rooms and the session push frames into a connection's outbox from whichever thread they
//! run on; the connection's write task ([`crate::websocket::write_then_close`]) polls the
//! writer, which encodes every frame queued since the last poll into one chunk for one write.
//! A frame pushed by a room goes from this queue to the socket with no other task or channel in
//! between.
//!
//! The queue is a `VecDeque` behind a lock rather than a channel: a channel allocates its first
//! block of slots up front and keeps it, while this queue holds an allocation only while
//! frames wait, so an idle connection costs no buffer here (docs/benchmarks.md, memory per
//! connection).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use actix_codec::Encoder;
use actix_http::ws::{Codec, Message};
use actix_ws::{CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::task::AtomicWaker;
use futures_util::Stream;
use tokio::sync::Notify;

use crate::protocol::close_code;

/// Frames queued for one connection beyond which it is closed as too slow to keep up; bounds
/// the memory one stalled reader can hold.
pub const MAX_QUEUED_FRAMES: usize = 1024;
/// Frames encoded into one chunk before it is written: bounds the memory a burst holds without
/// a write per frame.
const WRITE_CHUNK_BYTES: usize = 64 * 1024;

/// What the socket writer sends.
pub(crate) enum Outbound {
    Text(ByteString),
    Ping(Bytes),
    Pong(Bytes),
    Close(CloseReason),
}

struct Queue {
    frames: VecDeque<Outbound>,
    /// Set once the writer has ended or sent its close frame: nothing more is queued.
    closed: bool,
}

struct OutboxState {
    queue: Mutex<Queue>,
    /// [`Outbox`] handles alive; the writer ends once the last is dropped and the queue is empty.
    senders: AtomicUsize,
    too_slow: AtomicBool,
    /// Wakes the writer: a frame queued, the connection declared too slow, the last sender gone.
    writer: AtomicWaker,
    /// Tells [`Outbox::closed`] waiters that the writer has ended or that the connection was
    /// cut off as too slow (its writer may never be polled again if the peer never reads).
    ended: Notify,
}

impl OutboxState {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // The lock guards plain pushes and swaps, which cannot leave the queue half-changed.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_ended(&self) -> bool {
        self.too_slow.load(Ordering::Relaxed) || self.queue().closed
    }

    fn close_queue(&self) {
        self.queue().closed = true;
        self.ended.notify_waiters();
    }
}

/// The ordered write queue of one connection. Cheap to clone; rooms hold one per member.
pub struct Outbox {
    state: Arc<OutboxState>,
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.state.senders.fetch_add(1, Ordering::Relaxed);
        Outbox {
            state: Arc::clone(&self.state),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.state.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.state.writer.wake();
        }
    }
}

/// The encoding end of an [`Outbox`]: the frames queued since the last poll, encoded into one
/// chunk of bytes for the socket.
pub struct SocketWriter {
    state: Arc<OutboxState>,
    /// Frames taken from the queue in one swap and not yet encoded; dropped (and its allocation
    /// with it) once empty.
    taken: VecDeque<Outbound>,
    codec: Codec,
    closing: bool,
}

impl Outbox {
    /// A queue and the writer that drains it onto the connection's socket.
    pub fn new() -> (Outbox, SocketWriter) {
        let state = Arc::new(OutboxState {
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                closed: false,
            }),
            senders: AtomicUsize::new(1),
            too_slow: AtomicBool::new(false),
            writer: AtomicWaker::new(),
            ended: Notify::new(),
        });
        let writer = SocketWriter {
            state: Arc::clone(&state),
            taken: VecDeque::new(),
            codec: Codec::new(),
            closing: false,
        };
        (Outbox { state }, writer)
    }

    /// Queues an item; `false` once the connection is gone or has fallen too far behind, in
    /// which case nothing more is queued for it.
    pub(crate) fn push(&self, item: Outbound) -> bool {
        if self.state.too_slow.load(Ordering::Relaxed) {
            return false;
        }
        let mut queue = self.state.queue();
        if queue.closed {
            return false;
        }
        if queue.frames.len() >= MAX_QUEUED_FRAMES {
            drop(queue);
            self.state.too_slow.store(true, Ordering::Relaxed);
            self.state.writer.wake();
            self.state.ended.notify_waiters();
            return false;
        }
        queue.frames.push_back(item);
        drop(queue);
        self.state.writer.wake();
        true
    }

    /// Queues a text frame; `false` once the connection is gone.
    pub fn send(&self, frame: ByteString) -> bool {
        self.push(Outbound::Text(frame))
    }

    /// Resolves when the connection's writer has ended (the socket closed or the session
    /// stopped) or the connection was cut off as too slow to read. Rooms watch this so that a
    /// seat is released even if the session died before it learnt which room it had joined.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + 'static {
        let state = Arc::clone(&self.state);
        async move {
            loop {
                // Created before the check, so an end between the two is not missed.
                let notified = state.ended.notified();
                if state.is_ended() {
                    return;
                }
                notified.await;
            }
        }
    }

    /// Queues a close frame, the last frame the connection sends.
    pub(crate) fn close(&self, code: u16, description: &str) {
        // A closed queue means the connection is already gone; there is nobody to tell.
        let _ = self.push(Outbound::Close(reason(code, description)));
    }
}

fn reason(code: u16, description: &str) -> CloseReason {
    CloseReason {
        code: CloseCode::from(code),
        description: Some(description.to_owned()),
    }
}

impl SocketWriter {
    /// The next frame to encode, or why there is none: `Err(true)` when no frame will ever
    /// come (every sender gone), `Err(false)` when none is queued now.
    fn next_frame(&mut self) -> Result<Outbound, bool> {
        if let Some(frame) = self.taken.pop_front() {
            return Ok(frame);
        }
        // Between bursts the writer keeps no allocation.
        self.taken = VecDeque::new();
        if let Some(frame) = self.take_queued() {
            return Ok(frame);
        }
        if self.state.senders.load(Ordering::Acquire) > 0 {
            return Err(false);
        }
        // The last sender may have queued a frame between the look above and its drop; no
        // sender can appear again, so one more look under the lock sees everything.
        self.take_queued().ok_or(true)
    }

    /// Takes every queued frame under the lock (into the empty `taken`) and returns the first.
    fn take_queued(&mut self) -> Option<Outbound> {
        let mut queue = self.state.queue();
        std::mem::swap(&mut self.taken, &mut queue.frames);
        drop(queue);
        self.taken.pop_front()
    }

    fn end(&mut self) {
        self.closing = true;
        self.taken = VecDeque::new();
        self.state.close_queue();
    }
}

impl Drop for SocketWriter {
    fn drop(&mut self) {
        self.state.close_queue();
    }
}

impl Stream for SocketWriter {
    type Item = Result<Bytes, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.closing {
            return Poll::Ready(None);
        }
        let mut chunk = BytesMut::new();
        this.state.writer.register(cx.waker());
        if this.state.too_slow.load(Ordering::Relaxed) {
            // What is still queued is never sent (the reader fell too far behind to want it)
            // and is freed now.
            let why = reason(close_code::POLICY_VIOLATION, "too slow to read");
            this.end();
            this.state.queue().frames = VecDeque::new();
            this.codec.encode(Message::Close(Some(why)), &mut chunk)?;
            return Poll::Ready(Some(Ok(chunk.freeze())));
        }
        while chunk.len() < WRITE_CHUNK_BYTES {
            let item = match this.next_frame() {
                Ok(item) => item,
                // Every sender is gone: the session ended and no room holds this connection.
                Err(true) => {
                    this.end();
                    break;
                }
                Err(false) => break,
            };
            let message = match item {
                Outbound::Text(text) => Message::Text(text),
                Outbound::Ping(bytes) => Message::Ping(bytes),
                Outbound::Pong(bytes) => Message::Pong(bytes),
                Outbound::Close(why) => {
                    // A close frame is the last: closing the queue refuses later frames and
                    // tells the session and the rooms (`Outbox::closed`).
                    this.end();
                    Message::Close(Some(why))
                }
            };
            this.codec.encode(message, &mut chunk)?;
            if this.closing {
                break;
            }
        }
        if !chunk.is_empty() {
            // A fresh buffer per chunk: an idle connection keeps none.
            Poll::Ready(Some(Ok(chunk.freeze())))
        } else if this.closing {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn text(n: usize) -> ByteString {
        ByteString::from(format!("frame {n}"))
    }

    /// The frames of one chunk, decoded as a client would.
    fn decode(chunk: Bytes) -> Vec<String> {
        use actix_codec::Decoder;
        use actix_http::ws::Frame;
        let mut codec = Codec::new().client_mode();
        let mut bytes = BytesMut::from(&chunk[..]);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut bytes).expect("a frame") {
            frames.push(match frame {
                Frame::Text(text) => String::from_utf8(text.to_vec()).expect("utf-8"),
                Frame::Close(Some(reason)) => format!(
                    "close {} {}",
                    u16::from(reason.code),
                    reason.description.unwrap_or_default()
                ),
                other => format!("{other:?}"),
            });
        }
        frames
    }

    #[actix_rt::test]
    async fn queued_frames_go_out_in_order_in_one_chunk_and_an_idle_writer_keeps_nothing() {
        let (outbox, mut writer) = Outbox::new();
        let room_copy = outbox.clone();
        for n in 0..3 {
            assert!(outbox.send(text(n)));
        }
        assert!(room_copy.send(text(3)));
        let chunk = writer.next().await.expect("a chunk").expect("encoded");
        assert_eq!(
            decode(chunk),
            ["frame 0", "frame 1", "frame 2", "frame 3"].map(String::from)
        );
        let idle = futures_util::poll!(writer.next());
        assert!(idle.is_pending());
        assert_eq!(writer.taken.capacity(), 0);
        assert_eq!(writer.state.queue().frames.capacity(), 0);
    }

    #[actix_rt::test]
    async fn the_writer_ends_when_every_sender_is_gone_and_says_so() {
        let (outbox, mut writer) = Outbox::new();
        let room_copy = outbox.clone();
        let closed = room_copy.closed();
        assert!(outbox.send(text(1)));
        drop(outbox);
        // A room still holds the connection: frames still go out.
        assert!(room_copy.send(text(2)));
        let chunk = writer.next().await.expect("a chunk").expect("encoded");
        assert_eq!(decode(chunk), ["frame 1", "frame 2"].map(String::from));
        drop(room_copy);
        assert!(writer.next().await.is_none());
        drop(writer);
        closed.await;
    }

    #[actix_rt::test]
    async fn a_close_frame_is_the_last_frame() {
        let (outbox, mut writer) = Outbox::new();
        assert!(outbox.send(text(1)));
        outbox.close(close_code::GOING_AWAY, "bye");
        let chunk = writer.next().await.expect("a chunk").expect("encoded");
        assert_eq!(
            decode(chunk),
            ["frame 1", "close 1001 bye"].map(String::from)
        );
        assert!(!outbox.send(text(2)), "nothing is queued after the close");
        assert!(writer.next().await.is_none());
        outbox.closed().await;
    }

    #[actix_rt::test]
    async fn a_connection_that_falls_too_far_behind_is_cut_off_with_1008() {
        let (outbox, mut writer) = Outbox::new();
        let closed = outbox.closed();
        for n in 0..MAX_QUEUED_FRAMES {
            assert!(outbox.send(text(n)), "frame {n} is queued");
        }
        assert!(!outbox.send(text(MAX_QUEUED_FRAMES)), "one too many");
        // Rooms see the connection gone even though its writer has not run.
        closed.await;
        assert!(!outbox.send(text(0)));
        let chunk = writer.next().await.expect("a chunk").expect("encoded");
        assert_eq!(decode(chunk), ["close 1008 too slow to read".to_owned()]);
        assert!(writer.next().await.is_none());
        assert_eq!(
            writer.state.queue().frames.capacity(),
            0,
            "the backlog is freed"
        );
    }
}
