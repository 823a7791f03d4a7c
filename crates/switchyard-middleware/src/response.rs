//! Responses a middleware answers by itself.

use http::header::{CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, Response, StatusCode};

use crate::ResponseBody;

/// An error answer as Go's `http.Error` writes it, which is what Traefik's middlewares send: the
/// status's reason phrase and a newline as plain text, with `X-Content-Type-Options: nosniff`.
///
/// ```
/// use http::StatusCode;
/// use http_body::Body;
/// use switchyard_middleware::error_response;
///
/// let response = error_response(StatusCode::FORBIDDEN);
/// assert_eq!(response.status(), 403);
/// assert_eq!(response.body().size_hint().exact(), Some("Forbidden\n".len() as u64));
/// ```
pub fn error_response(status: StatusCode) -> Response<ResponseBody> {
    let text = status.canonical_reason().unwrap_or("");
    text_response(status, format!("{text}\n"))
}

/// A plain-text answer with Go's `http.Error` headers.
pub(crate) fn text_response(status: StatusCode, text: String) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::from(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
