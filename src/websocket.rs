//! A WebSocket connection after its upgrade: frames read off the socket ([`FrameReader`]) and the
//! connection's outbox written to it, then the connection closed ([`write_then_close`]).
//!
//! Once the `101 Switching Protocols` head is written the socket leaves actix-http's HTTP/1
//! dispatcher (see `http::upgrade`), whose two 8 KiB buffers would otherwise stay with every
//! connection for its whole life. Here an idle connection holds no buffer at all: bytes are
//! read into a scratch array on the stack and kept only while a frame is incomplete, and
//! frames go out of the outbox's encoded chunks straight to the socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use actix_ws::AggregatedMessage;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;

use crate::outbox::SocketWriter;
use crate::protocol::MAX_FRAME_BYTES;

/// Bytes read from the socket in one system call. Frames of the protocol are far smaller; a
/// larger frame takes several reads.
const READ_CHUNK_BYTES: usize = 4 * 1024;
/// Reads made in one poll before yielding to the connection's other work, so that one client
/// streaming bytes cannot hold its worker thread.
const READS_PER_POLL: usize = 16;
/// What a closing connection reads at a time while it waits for the client to close.
const LINGER_READ_BYTES: usize = 1024;
/// How long a closing connection waits for the client to close its end (see `linger`).
const LINGER_LIMIT: Duration = Duration::from_secs(30);
/// A write to the socket that makes no progress for this long gives the connection up: the
/// peer is gone or has stopped reading, and nothing would ever reach it.
const WRITE_STALL_LIMIT: Duration = Duration::from_secs(60);

/// Why reading a connection's frames stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("a frame larger than {MAX_FRAME_BYTES} bytes")]
    FrameTooLarge,
    #[error("a fragmented message larger than {MAX_FRAME_BYTES} bytes")]
    MessageTooLarge,
    #[error("a text message that is not UTF-8")]
    InvalidText,
    #[error("websocket protocol error: {0}")]
    Protocol(ProtocolError),
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

impl From<ProtocolError> for ReadError {
    fn from(err: ProtocolError) -> Self {
        match err {
            ProtocolError::Overflow => ReadError::FrameTooLarge,
            ProtocolError::Io(err) => ReadError::Io(err),
            other => ReadError::Protocol(other),
        }
    }
}

/// A message being received in fragments (continuation frames).
struct Fragments {
    text: bool,
    bytes: BytesMut,
}

/// The messages a client sends, read off the socket: frames decoded by actix-http's codec
/// (masking, control frames, the 64 KiB frame limit) and fragmented messages put back
/// together. Ends when the peer closes the socket; after an error it yields nothing more.
pub struct FrameReader<R> {
    /// Always `Some` until dropped, when it goes back to the writer (see [`Self::give_back_to`]).
    io: Option<R>,
    give_back: Option<oneshot::Sender<R>>,
    /// Bytes read but not yet decoded: empty, and without an allocation, between frames.
    pending: BytesMut,
    codec: Codec,
    fragments: Option<Fragments>,
    done: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// `already_read` is what arrived right behind the upgrade request, read with it.
    pub fn new(io: R, already_read: &[u8]) -> Self {
        FrameReader {
            io: Some(io),
            give_back: None,
            pending: BytesMut::from(already_read),
            codec: Codec::new().max_size(MAX_FRAME_BYTES),
            fragments: None,
            done: false,
        }
    }

    /// When this reader is dropped (its session has ended), its socket goes to `writer`, which
    /// closes the connection: see [`write_then_close`].
    pub fn give_back_to(mut self, writer: oneshot::Sender<R>) -> Self {
        self.give_back = Some(writer);
        self
    }

    /// A whole message out of one frame, or `None` while a fragmented one is incomplete.
    fn assemble(&mut self, frame: Frame) -> Result<Option<AggregatedMessage>, ReadError> {
        let complete = |text: bool, bytes: Bytes| -> Result<AggregatedMessage, ReadError> {
            if text {
                ByteString::try_from(bytes)
                    .map(AggregatedMessage::Text)
                    .map_err(|_| ReadError::InvalidText)
            } else {
                Ok(AggregatedMessage::Binary(bytes))
            }
        };
        Ok(Some(match frame {
            Frame::Text(bytes) => complete(true, bytes)?,
            Frame::Binary(bytes) => complete(false, bytes)?,
            Frame::Ping(bytes) => AggregatedMessage::Ping(bytes),
            Frame::Pong(bytes) => AggregatedMessage::Pong(bytes),
            Frame::Close(reason) => AggregatedMessage::Close(reason),
            Frame::Continuation(item) => {
                let (first, text, bytes, last) = match item {
                    Item::FirstText(bytes) => (true, true, bytes, false),
                    Item::FirstBinary(bytes) => (true, false, bytes, false),
                    Item::Continue(bytes) => (false, false, bytes, false),
                    Item::Last(bytes) => (false, false, bytes, true),
                };
                let fragments = match (first, self.fragments.as_mut()) {
                    (true, None) => self.fragments.insert(Fragments {
                        text,
                        bytes: BytesMut::new(),
                    }),
                    (false, Some(fragments)) => fragments,
                    (true, Some(_)) => {
                        return Err(ReadError::Protocol(ProtocolError::ContinuationStarted))
                    }
                    (false, None) => {
                        return Err(ReadError::Protocol(ProtocolError::ContinuationNotStarted))
                    }
                };
                if fragments.bytes.len() + bytes.len() > MAX_FRAME_BYTES {
                    return Err(ReadError::MessageTooLarge);
                }
                fragments.bytes.extend_from_slice(&bytes);
                if !last {
                    return Ok(None);
                }
                let Some(Fragments { text, bytes }) = self.fragments.take() else {
                    return Ok(None);
                };
                complete(text, bytes.freeze())?
            }
        }))
    }

    /// Decodes the next whole message out of what has been read.
    fn next_buffered(&mut self) -> Result<Option<AggregatedMessage>, ReadError> {
        while !self.pending.is_empty() {
            let Some(frame) = self.codec.decode(&mut self.pending)? else {
                return Ok(None);
            };
            if let Some(message) = self.assemble(frame)? {
                return Ok(Some(message));
            }
        }
        Ok(None)
    }
}

impl<R: AsyncRead + Unpin> Stream for FrameReader<R> {
    type Item = Result<AggregatedMessage, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        for _ in 0..READS_PER_POLL {
            match this.next_buffered() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(err) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
            }
            if this.pending.is_empty() {
                // Between frames an idle connection keeps no buffer.
                this.pending = BytesMut::new();
            }
            let Some(io) = this.io.as_mut() else {
                return Poll::Ready(None);
            };
            let mut scratch = [0u8; READ_CHUNK_BYTES];
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(())) => this.pending.extend_from_slice(read.filled()),
                Poll::Ready(Err(err)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(ReadError::Io(err))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        // More is coming than one poll takes in: come back after the worker's other tasks.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<R> Drop for FrameReader<R> {
    fn drop(&mut self) {
        if let (Some(io), Some(writer)) = (self.io.take(), self.give_back.take()) {
            // A writer that has already gone closes the socket by dropping its half.
            let _ = writer.send(io);
        }
    }
}

/// The write task of one connection: writes its outbox (`write_outbox`), calls `written`
/// once nothing more will be written, then closes the socket (`linger`).
pub async fn write_then_close<R, W>(
    writer: SocketWriter,
    write_half: W,
    read_half: oneshot::Receiver<R>,
    written: impl FnOnce(),
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let finished = write_outbox(writer, write_half).await;
    written();
    if let Some(write_half) = finished {
        linger(write_half, read_half).await;
    }
}

/// Writes a connection's outbox to its socket until the outbox ends (a close frame sent, every
/// sender gone), then shuts the socket's writing side and gives it back for `linger`; `None`
/// when the socket failed or stalled, as nothing more can reach the peer then.
async fn write_outbox<W: AsyncWrite + Unpin>(mut writer: SocketWriter, mut io: W) -> Option<W> {
    while let Some(chunk) = writer.next().await {
        let Ok(chunk) = chunk else { break };
        match tokio::time::timeout(WRITE_STALL_LIMIT, io.write_all(&chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return None,
        }
    }
    match tokio::time::timeout(WRITE_STALL_LIMIT, io.shutdown()).await {
        Ok(Ok(())) => Some(io),
        Ok(Err(_)) | Err(_) => None,
    }
}

/// The end of a closing connection: waits for the socket's reading half (`read_half`, sent
/// when the session's [`FrameReader`] is dropped) and reads what the client still sends until
/// it closes its end too, for at most [`LINGER_LIMIT`]. A socket closed with unread bytes in
/// it is reset, and a reset throws away what the client has not read yet, the close frame
/// included. `write_half` is held until then, so the socket stays open.
async fn linger<R: AsyncRead + Unpin, W>(write_half: W, read_half: oneshot::Receiver<R>) {
    let _ = tokio::time::timeout(LINGER_LIMIT, async move {
        let Ok(mut read_half) = read_half.await else {
            return Ok(());
        };
        // On the heap and only now: a buffer in this future would be in every connection's
        // write task for its whole life.
        let mut discard = vec![0u8; LINGER_READ_BYTES];
        while read_half.read(&mut discard).await? > 0 {}
        Ok::<(), io::Error>(())
    })
    .await;
    drop(write_half);
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_codec::Encoder;
    use actix_http::ws::Message;

    /// Frames as a client sends them (masked).
    fn client_frames(messages: Vec<Message>) -> Vec<u8> {
        let mut codec = Codec::new().client_mode();
        let mut out = BytesMut::new();
        for message in messages {
            codec.encode(message, &mut out).expect("encodes");
        }
        out.to_vec()
    }

    async fn read_all(bytes: &[u8], already_read: usize) -> Vec<Result<AggregatedMessage, String>> {
        let (head, rest) = bytes.split_at(already_read);
        let reader = FrameReader::new(rest, head);
        reader
            .map(|item| item.map_err(|err| err.to_string()))
            .collect()
            .await
    }

    fn text(item: &Result<AggregatedMessage, String>) -> Option<&str> {
        match item {
            Ok(AggregatedMessage::Text(text)) => Some(text),
            _ => None,
        }
    }

    #[actix_rt::test]
    async fn messages_come_out_whole_whatever_was_read_with_the_upgrade() {
        let bytes = client_frames(vec![
            Message::Text("first".into()),
            Message::Ping(Bytes::from_static(b"p")),
            Message::Text("second".into()),
        ]);
        for already_read in [0, 3, bytes.len()] {
            let items = read_all(&bytes, already_read).await;
            assert_eq!(items.len(), 3, "{items:?}");
            assert_eq!(text(&items[0]), Some("first"));
            assert!(matches!(&items[1], Ok(AggregatedMessage::Ping(p)) if &p[..] == b"p"));
            assert_eq!(text(&items[2]), Some("second"));
        }
    }

    #[actix_rt::test]
    async fn a_fragmented_message_is_put_back_together() {
        let bytes = client_frames(vec![
            Message::Continuation(Item::FirstText(Bytes::from_static(b"{\"type\":"))),
            Message::Ping(Bytes::new()),
            Message::Continuation(Item::Continue(Bytes::from_static(b"\"ping\""))),
            Message::Continuation(Item::Last(Bytes::from_static(b"}"))),
        ]);
        let items = read_all(&bytes, 0).await;
        assert!(
            matches!(&items[0], Ok(AggregatedMessage::Ping(_))),
            "{items:?}"
        );
        assert_eq!(text(&items[1]), Some("{\"type\":\"ping\"}"));
        assert_eq!(items.len(), 2);
    }

    #[actix_rt::test]
    async fn oversized_frames_and_messages_are_told_apart() {
        let big = Bytes::from(vec![b'x'; MAX_FRAME_BYTES + 1]);
        let items = read_all(&client_frames(vec![Message::Binary(big)]), 0).await;
        assert!(
            matches!(items.as_slice(), [Err(e)] if e.contains("a frame larger")),
            "{items:?}"
        );

        let half = Bytes::from(vec![b'x'; MAX_FRAME_BYTES / 2 + 1]);
        let items = read_all(
            &client_frames(vec![
                Message::Continuation(Item::FirstText(half.clone())),
                Message::Continuation(Item::Last(half)),
            ]),
            0,
        )
        .await;
        assert!(
            matches!(items.as_slice(), [Err(e)] if e.contains("fragmented message larger")),
            "{items:?}"
        );
    }

    #[actix_rt::test]
    async fn unmasked_frames_and_bad_text_end_the_stream_with_an_error() {
        let mut server_codec = Codec::new();
        let mut unmasked = BytesMut::new();
        server_codec
            .encode(Message::Text("hi".into()), &mut unmasked)
            .expect("encodes");
        let items = read_all(&unmasked, 0).await;
        assert!(
            matches!(items.as_slice(), [Err(e)] if e.contains("protocol")),
            "{items:?}"
        );

        let items = read_all(
            &client_frames(vec![
                Message::Binary(Bytes::from_static(&[0xff])),
                Message::Continuation(Item::FirstText(Bytes::from_static(&[0xff, 0xfe]))),
                Message::Continuation(Item::Last(Bytes::new())),
                Message::Text("never read".into()),
            ]),
            0,
        )
        .await;
        assert!(
            matches!(&items[0], Ok(AggregatedMessage::Binary(_))),
            "{items:?}"
        );
        assert!(
            matches!(&items[1], Err(e) if e.contains("UTF-8")),
            "{items:?}"
        );
        assert_eq!(items.len(), 2);
    }

    #[actix_rt::test]
    async fn an_idle_reader_holds_no_buffer() {
        let bytes = client_frames(vec![Message::Text("one".into())]);
        let mut reader = FrameReader::new(&bytes[..], &[]);
        let first = reader.next().await;
        assert!(matches!(first, Some(Ok(AggregatedMessage::Text(_)))));
        assert!(reader.next().await.is_none());
        assert_eq!(reader.pending.capacity(), 0);
    }

    /// Every connection holds its write task for its whole life: what that future holds
    /// across an await is memory per connected player.
    #[actix_rt::test]
    async fn a_connections_write_task_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let client = tokio::net::TcpStream::connect(listener.local_addr().expect("an address"))
            .await
            .expect("connects");
        let (read_half, write_half) = client.into_split();
        let (_outbox, writer) = crate::outbox::Outbox::new();
        let (give_back, read_half_back) = oneshot::channel();
        let frames = FrameReader::new(read_half, &[]).give_back_to(give_back);
        let task = write_then_close(writer, write_half, read_half_back, || {});
        let task_bytes = std::mem::size_of_val(&task);
        assert!(
            task_bytes <= 1024,
            "the write task holds {task_bytes} bytes"
        );
        assert!(std::mem::size_of_val(&frames) <= 256);
    }
}
