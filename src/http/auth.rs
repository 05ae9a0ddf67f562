//! `POST /v1/auth/guest` and the bearer-token check other routes share.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use slog::info;

use super::{ApiError, AppState};
use crate::auth::{AuthError, Identity};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestRequest {
    name: String,
}

pub async fn guest(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<GuestRequest>,
) -> Result<HttpResponse, ApiError> {
    let issued = state
        .keys
        .issue_guest(&body.name)
        .map_err(|err| match err {
            AuthError::BadName(_) => ApiError::BadRequest(err.to_string()),
            other => ApiError::Unavailable(other.to_string()),
        })?;
    info!(state.log_for(&req), "guest token issued"; "player_id" => %issued.player_id);
    Ok(HttpResponse::Ok().json(issued))
}

/// The credentials of `Authorization: Bearer <token>`, trimmed; "" when there are none. The
/// scheme's name is matched whatever its case, as HTTP says of every scheme (RFC 9110, 11.1).
pub fn bearer_token(req: &HttpRequest) -> &str {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim())
}

/// The identity behind `Authorization: Bearer <token>`.
pub fn bearer_identity(req: &HttpRequest, state: &AppState) -> Result<Identity, ApiError> {
    state
        .keys
        .verify(bearer_token(req))
        .map_err(|err| ApiError::Unauthorized(err.to_string()))
}
