//! `GET /v1/ws?token=...`: checks the token and answers `101 Switching Protocols`, carrying the
//! connection's session-to-be ([`PendingSocket`]) for the upgrade service
//! ([`super::upgrade`]), which writes that answer and hands the socket over.

use std::sync::Arc;

use actix::{Actor, AsyncContext};
use actix_http::ws::handshake;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use slog::{o, Logger};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::auth::bearer_identity;
use super::request_id::RequestId;
use super::{ApiError, AppState};
use crate::auth::Identity;
use crate::outbox::Outbox;
use crate::session::{Session, SessionShared};
use crate::websocket::{write_then_close, FrameReader};

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// A WebSocket connection that has been accepted but not started: the `101` answer carries it
/// in its extensions until the socket is free of the HTTP dispatcher.
pub struct PendingSocket {
    who: Identity,
    shared: Arc<SessionShared>,
    log: Logger,
}

impl PendingSocket {
    /// Starts the connection on its socket: a session actor reading its frames, and a task
    /// writing its outbox. `already_read` is what the client sent right behind its upgrade
    /// request.
    pub fn start(self, socket: TcpStream, already_read: &[u8]) {
        // Frames are coalesced into one write per wake-up already (`SocketWriter`); Nagle's
        // algorithm would hold a write back until the previous one is acknowledged.
        let _ = socket.set_nodelay(true);
        let (read_half, write_half) = socket.into_split();
        let (outbox, writer) = Outbox::new();
        let (give_back, read_half_back) = oneshot::channel();
        let frames = FrameReader::new(read_half, already_read).give_back_to(give_back);
        let PendingSocket { who, shared, log } = self;
        let sockets = Arc::clone(&shared);
        sockets.writer_started();
        actix_rt::spawn(write_then_close(
            writer,
            write_half,
            read_half_back,
            move || sockets.writer_finished(),
        ));
        Session::create(move |ctx| {
            ctx.add_stream(frames);
            Session::new(who, outbox, shared, &log)
        });
    }
}

pub async fn upgrade(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    // The token is checked before the upgrade so that a bad one is a plain 401, never an open
    // socket. Browsers cannot set headers on a WebSocket, hence the query parameter.
    let who = match query.token.as_deref() {
        Some(token) => state
            .keys
            .verify(token)
            .map_err(|err| ApiError::Unauthorized(err.to_string()))?,
        None => bearer_identity(&req, &state)?,
    };
    let mut response: HttpResponse = handshake(req.head())?.finish().map_into_boxed_body().into();
    let log = match RequestId::of(&req) {
        Some(id) => state.log.new(o!("request_id" => id)),
        None => state.log.clone(),
    };
    response.extensions_mut().insert(PendingSocket {
        who,
        shared: Arc::clone(&state.sessions),
        log,
    });
    Ok(response)
}
