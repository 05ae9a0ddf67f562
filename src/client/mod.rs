//! A typed async client for gamehall, built on reqwest and tokio-tungstenite and the very
//! protocol types the server uses. The tests, the load generator and bots all talk to the server
//! through it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gamehall::client::ClientError> {
//! use gamehall::client::GamehallClient;
//! use gamehall::protocol::Role;
//! let client = GamehallClient::new("http://127.0.0.1:8080");
//! let me = client.guest("Ada").await?;
//! let room = client.create_room(&me.token, "tictactoe", serde_json::json!({})).await?;
//! let mut conn = client.connect(&me.token).await?;
//! let joined = conn.join(&room.id, Role::Player).await?;
//! println!("seat {:?}", joined.seat);
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::archive::archiver::FlushReport;
use crate::archive::GamePage;
use crate::auth::IssuedToken;
use crate::game::Seat;
pub use crate::http::admin::{AdminStatus, KeyMetrics};
pub use crate::http::games::{GameDetail, GameEvents};
use crate::ids::{PlayerId, RoomId};
use crate::protocol::{
    ClientMsg, ErrorCode, Ref, Role, RoomSummary, SeatInfo, Seq, ServerMsg, TurnClock,
};

pub mod bot;
pub mod games;

/// Tic-tac-toe's helpers, where they have always been.
pub use games::tictactoe;

/// How long the helpers that wait for a reply wait before giving up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the API answered {status}: {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// Boxed: tungstenite's error is large, and every `Result` of the client carries this type.
    #[error("websocket: {0}")]
    WebSocket(Box<tokio_tungstenite::tungstenite::Error>),
    #[error("server error {code}: {message}")]
    Server { code: ErrorCode, message: String },
    #[error("the server closed the connection ({code:?}: {reason})")]
    Closed { code: Option<u16>, reason: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("undecodable frame: {0}")]
    Decode(String),
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(err: tokio_tungstenite::tungstenite::Error) -> Self {
        ClientError::WebSocket(Box::new(err))
    }
}

/// How long a pooled HTTP connection may sit idle before the client drops it: under the 5 s
/// after which gamehall's server (actix-web's default keep-alive) closes an idle connection.
/// With reqwest's default of 90 s, a request sent on a connection the server was closing at
/// that moment failed with `IncompleteMessage` (a test's `GET /v1/rooms/{id}` after a game of
/// several seconds did, once in a CI run).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// An HTTP client for a gamehall server, pooling connections no longer than the server keeps
/// them. Panics only where `reqwest::Client::new` does: when no TLS backend can start.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build()
        .expect("the HTTP client's TLS backend starts")
}

/// The HTTP side: tokens and rooms.
#[derive(Clone)]
pub struct GamehallClient {
    base: String,
    http: reqwest::Client,
}

impl GamehallClient {
    /// `base` is the server's HTTP address, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Self {
        GamehallClient {
            base: base.into().trim_end_matches('/').to_owned(),
            http: http_client(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let field = |name: &str| {
            body.pointer(&format!("/error/{name}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Err(ClientError::Api {
            status: status.as_u16(),
            code: field("code"),
            message: field("message"),
        })
    }

    /// A guest token for `name`.
    pub async fn guest(&self, name: &str) -> Result<IssuedToken, ClientError> {
        let response = self
            .http
            .post(format!("{}/v1/auth/guest", self.base))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await?;
        Self::decode(response).await
    }

    pub async fn create_room(
        &self,
        token: &str,
        game: &str,
        options: Value,
    ) -> Result<RoomSummary, ClientError> {
        let response = self
            .http
            .post(format!("{}/v1/rooms", self.base))
            .bearer_auth(token)
            .json(&serde_json::json!({ "game": game, "options": options }))
            .send()
            .await?;
        Self::decode(response).await
    }

    pub async fn list_rooms(&self, game: Option<&str>) -> Result<Vec<RoomSummary>, ClientError> {
        #[derive(serde::Deserialize)]
        struct RoomList {
            rooms: Vec<RoomSummary>,
        }
        let mut request = self.http.get(format!("{}/v1/rooms", self.base));
        if let Some(game) = game {
            request = request.query(&[("game", game)]);
        }
        let list: RoomList = Self::decode(request.send().await?).await?;
        Ok(list.rooms)
    }

    pub async fn get_room(&self, id: &RoomId) -> Result<RoomSummary, ClientError> {
        let response = self
            .http
            .get(format!("{}/v1/rooms/{}", self.base, id))
            .send()
            .await?;
        Self::decode(response).await
    }

    /// One archived game, without its events.
    pub async fn get_game(&self, id: &str) -> Result<GameDetail, ClientError> {
        let response = self
            .http
            .get(format!("{}/v1/games/{id}", self.base))
            .send()
            .await?;
        Self::decode(response).await
    }

    /// Every archived event of one game, in `seq` order.
    pub async fn game_events(&self, id: &str) -> Result<GameEvents, ClientError> {
        let response = self
            .http
            .get(format!("{}/v1/games/{id}/events", self.base))
            .send()
            .await?;
        Self::decode(response).await
    }

    /// One page of archived games, newest first; pass the page's `next` as `before` for the
    /// next one.
    pub async fn list_games(&self, query: &GameListQuery) -> Result<GamePage, ClientError> {
        let response = self
            .http
            .get(format!("{}/v1/games", self.base))
            .query(query)
            .send()
            .await?;
        Self::decode(response).await
    }

    /// `POST /admin/archive/flush` with the admin token.
    pub async fn flush_archive(&self, admin_token: &str) -> Result<FlushReport, ClientError> {
        let response = self
            .http
            .post(format!("{}/admin/archive/flush", self.base))
            .bearer_auth(admin_token)
            .send()
            .await?;
        Self::decode(response).await
    }

    /// `GET /admin/status` with the admin token: rooms, archive counters and key metrics.
    pub async fn admin_status(&self, admin_token: &str) -> Result<AdminStatus, ClientError> {
        let response = self
            .http
            .get(format!("{}/admin/status", self.base))
            .bearer_auth(admin_token)
            .send()
            .await?;
        Self::decode(response).await
    }

    fn ws_url(&self, token: &str) -> String {
        let ws_base = self
            .base
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        format!("{ws_base}/v1/ws?token={token}")
    }

    /// Opens a WebSocket and reads the server's `hello`.
    pub async fn connect(&self, token: &str) -> Result<Connection, ClientError> {
        let (ws, _response) = tokio_tungstenite::connect_async(self.ws_url(token)).await?;
        Connection::greeted(ws).await
    }

    /// Opens a WebSocket over a TCP connection the caller made, with a read buffer of
    /// `read_buffer_size` bytes, and reads the server's `hello`. For processes that hold many
    /// connections (the load generator, bots): they choose the local address each connection
    /// leaves from, and tungstenite's default 128 KiB buffer per socket would be most of their
    /// memory when gamehall's frames are a few hundred bytes.
    pub async fn connect_stream(
        &self,
        stream: TcpStream,
        token: &str,
        read_buffer_size: usize,
    ) -> Result<Connection, ClientError> {
        let config = WebSocketConfig::default()
            .read_buffer_size(read_buffer_size)
            .write_buffer_size(0);
        let (ws, _response) = tokio_tungstenite::client_async_with_config(
            self.ws_url(token),
            MaybeTlsStream::Plain(stream),
            Some(config),
        )
        .await?;
        Connection::greeted(ws).await
    }
}

/// Filters of [`GamehallClient::list_games`]; `None` fields are left out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GameListQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub game: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// What `join` answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Joined {
    pub room: RoomId,
    pub role: Role,
    pub seat: Option<Seat>,
    /// The room's game kind, e.g. `"crazy_eights"`.
    pub game: String,
    pub seq: Seq,
    pub state: Value,
    pub players: Vec<SeatInfo>,
    /// Games with a turn timer: who is on turn and until when.
    pub turn_deadline: Option<TurnClock>,
}

/// One WebSocket connection to gamehall.
pub struct Connection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while waiting for a specific reply, handed out by later `recv`s in order.
    pending: VecDeque<ServerMsg>,
    next_ref: u64,
    player_id: PlayerId,
}

impl Connection {
    /// Wraps a fresh WebSocket and reads the server's `hello`.
    async fn greeted(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Result<Self, ClientError> {
        let mut conn = Connection {
            ws,
            pending: VecDeque::new(),
            next_ref: 1,
            player_id: PlayerId::from(""),
        };
        match conn.recv().await? {
            ServerMsg::Hello { player_id, .. } => conn.player_id = player_id,
            other => {
                return Err(ClientError::Decode(format!(
                    "expected hello, got {other:?}"
                )))
            }
        }
        Ok(conn)
    }

    pub fn player_id(&self) -> &PlayerId {
        &self.player_id
    }

    fn new_ref(&mut self) -> Ref {
        self.next_ref += 1;
        Ref::Number(self.next_ref)
    }

    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        let text =
            serde_json::to_string(msg).map_err(|err| ClientError::Decode(err.to_string()))?;
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends a raw WebSocket message (tests use it for malformed input).
    pub async fn send_raw(&mut self, msg: Message) -> Result<(), ClientError> {
        self.ws.send(msg).await?;
        Ok(())
    }

    /// The next server message, answering pings along the way.
    pub async fn recv(&mut self) -> Result<ServerMsg, ClientError> {
        if let Some(msg) = self.pending.pop_front() {
            return Ok(msg);
        }
        self.read_frame().await
    }

    async fn read_frame(&mut self) -> Result<ServerMsg, ClientError> {
        loop {
            let frame = match self.ws.next().await {
                Some(frame) => frame?,
                None => {
                    return Err(ClientError::Closed {
                        code: None,
                        reason: "stream ended".into(),
                    })
                }
            };
            match frame {
                Message::Text(text) => {
                    return ServerMsg::parse(text.as_str())
                        .map_err(|err| ClientError::Decode(format!("{err}: {text}")))
                }
                Message::Close(close) => {
                    return Err(ClientError::Closed {
                        code: close.as_ref().map(|c| u16::from(c.code)),
                        reason: close.map(|c| c.reason.to_string()).unwrap_or_default(),
                    })
                }
                Message::Binary(_) => {
                    return Err(ClientError::Decode("unexpected binary frame".into()))
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
    }

    /// [`recv`](Self::recv) with a deadline.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<ServerMsg, ClientError> {
        tokio::time::timeout(timeout, self.recv())
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    /// Reads until a message matches `want`, keeping the others for later `recv`s.
    pub async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut want: impl FnMut(&ServerMsg) -> Option<T>,
    ) -> Result<T, ClientError> {
        if let Some(pos) = self.pending.iter().position(|m| want(m).is_some()) {
            if let Some(found) = self.pending.remove(pos).as_ref().and_then(&mut want) {
                return Ok(found);
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut skipped = Vec::new();
        let result = loop {
            let msg = match tokio::time::timeout_at(deadline, self.read_frame()).await {
                Ok(Ok(msg)) => msg,
                Ok(Err(err)) => break Err(err),
                Err(_) => break Err(ClientError::Timeout(timeout)),
            };
            match want(&msg) {
                Some(found) => break Ok(found),
                None => skipped.push(msg),
            }
        };
        self.pending.extend(skipped);
        result
    }

    /// Sends `msg` with a fresh `ref` and waits for the reply carrying it; an `error` reply
    /// becomes [`ClientError::Server`].
    async fn request(
        &mut self,
        build: impl FnOnce(Option<Ref>) -> ClientMsg,
    ) -> Result<ServerMsg, ClientError> {
        let reference = self.new_ref();
        self.send(&build(Some(reference.clone()))).await?;
        let reply = self
            .wait_for(DEFAULT_TIMEOUT, |msg| {
                let carries = match msg {
                    ServerMsg::Joined { reference: r, .. }
                    | ServerMsg::Resumed { reference: r, .. }
                    | ServerMsg::Event { reference: r, .. }
                    | ServerMsg::Left { reference: r, .. }
                    | ServerMsg::Pong { reference: r }
                    | ServerMsg::Chat { reference: r, .. }
                    | ServerMsg::Error { reference: r, .. } => r.as_ref() == Some(&reference),
                    _ => false,
                };
                carries.then(|| msg.clone())
            })
            .await?;
        match reply {
            ServerMsg::Error { code, message, .. } => Err(ClientError::Server { code, message }),
            other => Ok(other),
        }
    }

    pub async fn join(&mut self, room: &RoomId, role: Role) -> Result<Joined, ClientError> {
        let room = room.clone();
        match self
            .request(|reference| ClientMsg::Join {
                room,
                role,
                reference,
            })
            .await?
        {
            ServerMsg::Joined {
                room,
                role,
                seat,
                game,
                seq,
                state,
                players,
                turn_deadline,
                ..
            } => Ok(Joined {
                room,
                role,
                seat,
                game,
                seq,
                state,
                players,
                turn_deadline,
            }),
            other => Err(ClientError::Decode(format!(
                "expected joined, got {other:?}"
            ))),
        }
    }

    /// Resumes after a reconnect; the missed events follow and are read with `recv`.
    pub async fn resume(&mut self, room: &RoomId, since_seq: Seq) -> Result<Seq, ClientError> {
        let room = room.clone();
        match self
            .request(|reference| ClientMsg::Resume {
                room,
                since_seq,
                reference,
            })
            .await?
        {
            ServerMsg::Resumed { seq, .. } => Ok(seq),
            other => Err(ClientError::Decode(format!(
                "expected resumed, got {other:?}"
            ))),
        }
    }

    /// Sends an action and waits for the event it caused (or the error refusing it).
    pub async fn act(&mut self, action: impl Serialize) -> Result<(Seq, Value), ClientError> {
        let action =
            serde_json::to_value(action).map_err(|err| ClientError::Decode(err.to_string()))?;
        match self
            .request(|reference| ClientMsg::Act { action, reference })
            .await?
        {
            ServerMsg::Event { seq, data, .. } => Ok((seq, data)),
            other => Err(ClientError::Decode(format!(
                "expected event, got {other:?}"
            ))),
        }
    }

    /// Sends an action without waiting for an answer, and returns the `ref` it carries. For
    /// real-time games, whose inputs cause no event of their own (the next tick shows them): a
    /// refusal still comes back as an `error` frame with this `ref`.
    pub async fn send_action(&mut self, action: impl Serialize) -> Result<Ref, ClientError> {
        let action =
            serde_json::to_value(action).map_err(|err| ClientError::Decode(err.to_string()))?;
        let reference = self.new_ref();
        self.send(&ClientMsg::Act {
            action,
            reference: Some(reference.clone()),
        })
        .await?;
        Ok(reference)
    }

    /// Says `text` to the room and waits for the server's confirmation (the sender's own copy).
    pub async fn chat(&mut self, text: &str) -> Result<(), ClientError> {
        let text = text.to_owned();
        self.request(|reference| ClientMsg::Chat { text, reference })
            .await
            .map(drop)
    }

    pub async fn leave(&mut self) -> Result<(), ClientError> {
        self.request(|reference| ClientMsg::Leave { reference })
            .await
            .map(drop)
    }

    pub async fn ping(&mut self) -> Result<(), ClientError> {
        self.request(|reference| ClientMsg::Ping { reference })
            .await
            .map(drop)
    }

    /// Waits for the `game_over` message.
    pub async fn game_over(&mut self) -> Result<crate::game::Outcome, ClientError> {
        self.wait_for(DEFAULT_TIMEOUT, |msg| match msg {
            ServerMsg::GameOver { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .await
    }

    /// Closes the connection politely.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.ws
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await?;
        Ok(())
    }
}
