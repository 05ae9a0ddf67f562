//! `GET /v1/ws?token=...`: checks the token, then upgrades and starts a session actor.

use std::sync::Arc;

use actix::{Actor, AsyncContext};
use actix_http::ws::handshake;
use actix_web::body::{BodyStream, MessageBody};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use slog::o;

use super::auth::bearer_identity;
use super::request_id::RequestId;
use super::{ApiError, AppState};
use crate::protocol::MAX_FRAME_BYTES;
use crate::session::{Outbox, Session};

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
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
    // actix-ws parses the frames coming in. Frames going out skip its session and channel: the
    // response body is our own writer, fed straight by the outbox (see `SocketWriter`).
    let (reader_response, _unused_session, stream) = actix_ws::handle(&req, body)?;
    let (outbox, writer) = Outbox::new(reader_response.into_body());
    let response: HttpResponse = handshake(req.head())?
        .message_body(BodyStream::new(writer).boxed())?
        .into();
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    let shared = Arc::clone(&state.sessions);
    let log = match RequestId::of(&req) {
        Some(id) => state.log.new(o!("request_id" => id)),
        None => state.log.clone(),
    };
    Session::create(move |ctx| {
        ctx.add_stream(stream);
        Session::new(who, outbox, shared, &log)
    });
    Ok(response)
}
