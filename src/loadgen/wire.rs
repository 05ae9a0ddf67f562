//! One player's WebSocket as the load generator drives it: the client library's `Connection`
//! opened from a chosen loopback source address with a small read buffer, every read bounded by
//! the run's timeout, every frame counted.

use std::time::Duration;

use gamehall::client::{ClientError, Connection, Joined};
use gamehall::ids::RoomId;
use gamehall::protocol::{ClientMsg, ErrorCode, Ref, Role, ServerMsg};

use super::run::Run;

/// Read buffer per socket: gamehall's frames are a few hundred bytes, and at 100,000 sockets
/// tungstenite's default (128 KiB) would be 12 GiB of buffers. Small also because tungstenite
/// zero-fills the buffer's free capacity before every read; a larger frame grows it.
pub const READ_BUFFER: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("server error {code}: {message}")]
    Server {
        code: ErrorCode,
        message: String,
        retry_after_ms: Option<u64>,
    },
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl WireError {
    /// The key this error is counted under: the server's code when it sent one.
    pub fn code(&self) -> String {
        match self {
            WireError::Connect(err) => match err.raw_os_error() {
                Some(libc::EMFILE) | Some(libc::ENFILE) => "connect_too_many_open_files".into(),
                Some(libc::EADDRNOTAVAIL) => "connect_no_free_port".into(),
                Some(libc::ECONNREFUSED) => "connect_refused".into(),
                _ => "connect".into(),
            },
            WireError::Client(ClientError::Api { status, code, .. }) => {
                format!("http_{status}_{code}")
            }
            WireError::Client(ClientError::Http(_)) => "http".into(),
            WireError::Client(ClientError::WebSocket(_)) => "websocket".into(),
            WireError::Client(ClientError::Server { code, .. }) => code.as_str().into(),
            WireError::Client(ClientError::Closed { code, .. }) => match code {
                Some(code) => format!("closed_{code}"),
                None => "closed".into(),
            },
            WireError::Client(ClientError::Timeout(_)) | WireError::Timeout(_) => "timeout".into(),
            WireError::Client(ClientError::Decode(_)) => "decode".into(),
            WireError::Server { code, .. } => code.as_str().into(),
            WireError::Unexpected(_) => "unexpected".into(),
        }
    }

    /// How long the server asked us to wait, for `rate_limited`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            WireError::Server {
                code: ErrorCode::RateLimited,
                retry_after_ms,
                ..
            } => Some(Duration::from_millis(retry_after_ms.unwrap_or(100))),
            _ => None,
        }
    }
}

pub struct Wire {
    conn: Connection,
    next_ref: u64,
}

impl Wire {
    /// Connects with `token` and reads the server's `hello`.
    pub async fn connect(run: &Run, token: &str) -> Result<Wire, WireError> {
        let open = async {
            let stream = run.target.open_tcp().await.map_err(WireError::Connect)?;
            let conn = run
                .client()
                .connect_stream(stream, token, READ_BUFFER)
                .await?;
            Ok(Wire { conn, next_ref: 0 })
        };
        tokio::time::timeout(run.timeout, open)
            .await
            .map_err(|_| WireError::Timeout(run.timeout))?
    }

    /// A fresh `ref` for this connection's next request.
    pub fn new_ref(&mut self) -> Ref {
        self.next_ref += 1;
        Ref::Number(self.next_ref)
    }

    pub async fn send(&mut self, run: &Run, msg: &ClientMsg) -> Result<(), WireError> {
        self.conn.send(msg).await?;
        run.stats.add(&run.stats.sent, 1);
        Ok(())
    }

    /// The next frame, within the run's timeout.
    pub async fn recv(&mut self, run: &Run) -> Result<ServerMsg, WireError> {
        let msg = tokio::time::timeout(run.timeout, self.conn.recv())
            .await
            .map_err(|_| WireError::Timeout(run.timeout))??;
        run.stats.add(&run.stats.received, 1);
        Ok(msg)
    }

    /// The next frame, waiting for ever: for loops that are woken by something else too and
    /// keep their own deadline.
    pub async fn recv_unbounded(&mut self, run: &Run) -> Result<ServerMsg, WireError> {
        let msg = self.conn.recv().await?;
        run.stats.add(&run.stats.received, 1);
        Ok(msg)
    }

    /// Joins `room`; the frames that follow (`presence`, `started`, `state`) are read with
    /// `recv`.
    pub async fn join(
        &mut self,
        run: &Run,
        room: &RoomId,
        role: Role,
    ) -> Result<Joined, WireError> {
        let joined = tokio::time::timeout(run.timeout, self.conn.join(room, role))
            .await
            .map_err(|_| WireError::Timeout(run.timeout))??;
        run.stats.add(&run.stats.sent, 1);
        run.stats.add(&run.stats.received, 1);
        Ok(joined)
    }

    /// Leaves the current room and reads up to its `left`, so that nothing of this room is
    /// left to be read in the next one. A room that was reaped (a finished game after
    /// `GC_COMPLETED_GAMES_AFTER`) has let the connection go already: `not_in_room` and
    /// `room_not_found` mean the same as `left`.
    pub async fn leave(&mut self, run: &Run) -> Result<(), WireError> {
        let reference = self.new_ref();
        self.send(
            run,
            &ClientMsg::Leave {
                reference: Some(reference.clone()),
            },
        )
        .await?;
        loop {
            match self.recv(run).await? {
                ServerMsg::Left { reference: r, .. } if r.as_ref() == Some(&reference) => {
                    return Ok(())
                }
                ServerMsg::Error {
                    code: ErrorCode::NotInRoom | ErrorCode::RoomNotFound,
                    reference: Some(r),
                    ..
                } if r == reference => return Ok(()),
                ServerMsg::Error {
                    code,
                    message,
                    reference: Some(r),
                    retry_after_ms,
                } if r == reference => {
                    return Err(WireError::Server {
                        code,
                        message,
                        retry_after_ms,
                    })
                }
                _ => continue,
            }
        }
    }

    /// Sends a `ping` and waits for its `pong`; other frames are read and dropped.
    pub async fn ping(&mut self, run: &Run) -> Result<(), WireError> {
        let reference = self.new_ref();
        self.send(
            run,
            &ClientMsg::Ping {
                reference: Some(reference.clone()),
            },
        )
        .await?;
        loop {
            match self.recv(run).await? {
                ServerMsg::Pong { reference: r } if r.as_ref() == Some(&reference) => return Ok(()),
                msg => refused(&msg, &reference)?,
            }
        }
    }

    /// Closes politely; the socket is dropped whatever the server answers.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.conn.close()).await;
    }
}

/// `Err` if `msg` is the server refusing the request tagged `reference`.
pub fn refused(msg: &ServerMsg, reference: &Ref) -> Result<(), WireError> {
    match msg {
        ServerMsg::Error {
            code,
            message,
            reference: Some(r),
            retry_after_ms,
        } if r == reference => Err(WireError::Server {
            code: *code,
            message: message.clone(),
            retry_after_ms: *retry_after_ms,
        }),
        _ => Ok(()),
    }
}
