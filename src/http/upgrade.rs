//! The HTTP/1 upgrade path: how a WebSocket connection leaves the HTTP dispatcher.
//!
//! actix-http hands every request that asks for an upgrade, with its connection, to this
//! service instead of the app. The request still goes through the same actix-web app (routes,
//! request ids, metrics, CORS, the token check in [`super::ws::upgrade`]); this service writes
//! the app's answer itself. When the answer is a `101` carrying a [`PendingSocket`], the
//! socket is handed to the WebSocket session and the dispatcher, with its two 8 KiB buffers,
//! ends: an idle player then costs its session, its outbox and its socket, nothing more
//! (docs/architecture.md, "Connections").

use std::rc::Rc;

use actix_codec::Framed;
use actix_http::body::{to_bytes, BoxBody, MessageBody};
use actix_http::{h1, Request, Response, StatusCode};
use actix_service::Service;
use actix_web::dev::ServiceResponse;
use tokio::net::TcpStream;

use super::ws::PendingSocket;

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("cannot produce the answer's body: {0}")]
    Body(String),
    #[error("cannot write the answer: {0}")]
    Write(#[from] actix_http::Error),
}

/// What the dispatcher makes of a failed upgrade (it logs the error and closes the connection;
/// the answer is never written, as the connection is this service's by then).
impl From<UpgradeError> for Response<BoxBody> {
    fn from(_: UpgradeError) -> Self {
        Response::new(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Answers one upgrade request through `app`; starts the WebSocket connection when the app
/// accepted it. Any other answer is written and the connection closed, as after an upgrade
/// there is no HTTP/1 connection to keep alive.
pub async fn serve<S, B>(
    app: Rc<S>,
    request: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), UpgradeError>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let response: Response<BoxBody> = match app.call(request).await {
        Ok(answer) => answer.into_parts().1.map_into_boxed_body().into(),
        Err(err) => err.error_response().into(),
    };
    let (mut response, body) = response.into_parts();
    // Answers on this path are small (a 101, or an error): the body is read whole first.
    let body = to_bytes(body)
        .await
        .map_err(|err| UpgradeError::Body(err.to_string()))?;
    let pending = response.extensions_mut().remove::<PendingSocket>();
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let framed = h1::SendResponse::new(framed, response.set_body(body)).await?;
    if let (Some(pending), true) = (pending, switching) {
        let parts = framed.into_parts();
        // The dispatcher's buffers are dropped here; what the client sent right behind its
        // request (it may not wait for the 101) is carried over.
        pending.start(parts.io, &parts.read_buf);
    }
    Ok(())
}
