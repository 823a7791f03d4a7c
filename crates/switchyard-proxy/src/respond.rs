//! The answers the proxy writes itself, in one place: Traefik's bodies for routing misses and refusals,
//! and the status, body and log line for a request that could not be forwarded.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use switchyard_middleware::{FailureStage, ResponseBody, UpstreamFailure};

use crate::service::ForwardError;
use crate::upstream::UpstreamError;

/// The answer to a request that `router` could not forward, logged with where and why it failed.
///
/// Statuses are Traefik's: 502 for refused, reset or broken exchanges, 504 for timeouts, 503 with
/// `no available server` when the service has no (healthy) server, 413 and 400 for request bodies that
/// could not be kept or read. The answer carries an [`UpstreamFailure`] for the middlewares that retry
/// or count network errors.
pub(crate) fn forward_failure(router: &str, error: &ForwardError) -> Response<ResponseBody> {
    let status = error.cause.status();
    let server = error.server.as_deref().unwrap_or_default();
    if status.is_server_error() {
        tracing::warn!(
            target: "switchyard::proxy",
            router,
            service = error.service,
            server,
            status = status.as_u16(),
            cause = %error.cause,
            "request not forwarded"
        );
    } else {
        tracing::debug!(target: "switchyard::proxy", router, service = error.service, server, status = status.as_u16(), cause = %error.cause, "request not forwarded");
    }
    let mut response = match error.cause {
        UpstreamError::NoServer => status_text(status, Bytes::from_static(b"no available server\n")),
        _ => status_response(status),
    };
    response
        .extensions_mut()
        .insert(UpstreamFailure::new(failure_stage(&error.cause)));
    response
}

/// How far a failed exchange got, for the middlewares that retry or count network errors.
fn failure_stage(error: &UpstreamError) -> FailureStage {
    match error {
        // Nothing was sent, and no backend failed: not a network error, never retried.
        UpstreamError::NoServer | UpstreamError::RequestBodyTooLarge | UpstreamError::RequestBody(_) => {
            FailureStage::NoServer
        }
        UpstreamError::Connect { .. }
        | UpstreamError::ConnectTimeout { .. }
        | UpstreamError::Handshake { .. }
        | UpstreamError::Unsupported(_) => FailureStage::BeforeSending,
        _ => FailureStage::AfterSending,
    }
}

/// Go's `http.NotFound`, which Traefik answers when no router matches.
pub(crate) fn not_found() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::from("404 page not found\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// A status without body, as Go's `WriteHeader` alone sends it.
pub(crate) fn bare(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    response
}

/// A status with its reason phrase as body, as Traefik's proxy error handler writes it.
pub(crate) fn status_response(status: StatusCode) -> Response<ResponseBody> {
    let text = status.canonical_reason().unwrap_or("Error");
    status_text(status, Bytes::from_static(text.as_bytes()))
}

/// A status with a plain-text body.
pub(crate) fn status_text(status: StatusCode, text: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::from(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
