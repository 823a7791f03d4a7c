//! The answers the proxy writes itself, in one place: a [`Refusal`] when a request reaches no target
//! (Traefik's and Go's bodies), and the status, body and log line for a request that could not be
//! forwarded ([`forward_failure`]).

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use switchyard_middleware::{FailureStage, ResponseBody, UpstreamFailure};

use crate::request_head::HostError;
use crate::request_path::PathError;
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

/// Why a request reaches no target, each with the answer the entrypoint gives itself, as Go's server
/// and Traefik give it.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A missing, repeated or malformed `Host`: 400 with Go's text, and the connection closed.
    Host(HostError),
    /// A path refused by normalization or sanitization: 400.
    Path(PathError),
    /// A path the routing view cannot decode: 400.
    Undecodable,
    /// A header name with an underscore, with `underscoreHeadersStrategy: reject`: Go's `http.Error` 400.
    UnderscoreHeader,
    /// `OPTIONS *`, which Go's server answers itself with an empty 200.
    OptionsStar,
    /// No router matches: Go's `404 page not found`.
    NotFound,
    /// An encoded character the route does not allow: a bare 400, as Traefik sends it.
    EncodedCharacter,
    /// Allowed encoded separators that would take the request elsewhere once decoded: a bare 400.
    SplitView,
    /// A route whose TLS options differ from the connection's handshake: 421.
    Misdirected,
    /// A request handed to a router of a gateway that was shut down: 503.
    ShutDown,
    /// The end of a middleware stack called with a request that lost its route (a middleware of
    /// your own built a new request without the original's extensions): 500, logged.
    OutsideRoute,
}

impl Refusal {
    /// The answer.
    pub(crate) fn into_response(self) -> Response<ResponseBody> {
        self.log();
        match self {
            Self::Host(error) => {
                let response = status_text(StatusCode::BAD_REQUEST, Bytes::from(error.to_string()));
                with_header(response, CONNECTION, "close")
            }
            Self::Path(_) | Self::Undecodable => status_response(StatusCode::BAD_REQUEST),
            Self::UnderscoreHeader => status_text(StatusCode::BAD_REQUEST, Bytes::from_static(b"Bad Request\n")),
            Self::OptionsStar => with_header(Response::new(ResponseBody::empty()), CONTENT_LENGTH, "0"),
            Self::NotFound => not_found(),
            Self::EncodedCharacter | Self::SplitView => bare(StatusCode::BAD_REQUEST),
            Self::ShutDown => status_text(
                StatusCode::SERVICE_UNAVAILABLE,
                Bytes::from_static(b"the gateway is shut down\n"),
            ),
            Self::OutsideRoute => status_response(StatusCode::INTERNAL_SERVER_ERROR),
            Self::Misdirected => status_response(StatusCode::MISDIRECTED_REQUEST),
        }
    }

    /// Logs the refusals worth a line: at debug level what clients got wrong, at error level what an
    /// embedder's code got wrong.
    fn log(&self) {
        match self {
            Self::Path(error) => tracing::debug!(target: "switchyard::proxy", %error, "request path refused"),
            Self::EncodedCharacter | Self::SplitView => {
                tracing::debug!(target: "switchyard::proxy", reason = ?self, "encoded characters refused");
            }
            Self::OutsideRoute => tracing::error!(
                target: "switchyard::proxy",
                "the end of a middleware stack got a request without its route: a middleware made a new request without the original's extensions"
            ),
            Self::Misdirected => {
                tracing::debug!(target: "switchyard::proxy", "TLS options of the route differ from the handshake's");
            }
            _ => {}
        }
    }
}

/// A response with one more header.
fn with_header(mut response: Response<ResponseBody>, name: HeaderName, value: &'static str) -> Response<ResponseBody> {
    response.headers_mut().insert(name, HeaderValue::from_static(value));
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
