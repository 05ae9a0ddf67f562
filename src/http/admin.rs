//! Operator endpoints under `/admin`, behind `Authorization: Bearer $ADMIN_TOKEN`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use slog::info;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::archive::archiver::Flush;

/// Refuses the request unless it carries the admin token. The comparison takes the same time
/// whatever the token, so response times do not leak how much of a guess was right.
pub fn require_admin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let expected = state.settings.admin_token.as_bytes();
    if bool::from(given.as_bytes().ct_eq(expected)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "this endpoint needs `Authorization: Bearer <ADMIN_TOKEN>`".into(),
        ))
    }
}

/// `POST /admin/archive/flush`: writes every pending game now and answers
/// `{"flushed": n, "pending": m}`.
pub async fn flush_archive(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let archive = state
        .archive
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("archiving is turned off on this server".into()))?;
    let report = archive
        .archiver
        .send(Flush)
        .await
        .map_err(|_| ApiError::Unavailable("the archiver is not running".into()))?;
    info!(state.log_for(&req), "archive flushed on request";
        "flushed" => report.flushed, "pending" => report.pending);
    Ok(HttpResponse::Ok().json(report))
}
