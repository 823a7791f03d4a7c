use std::time::Duration;

use http::StatusCode;

/// Why a request could not be forwarded to a backend.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The TCP connection could not be established.
    #[error("cannot connect to {origin}: {source}")]
    Connect {
        /// The backend's `host:port`.
        origin: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The TCP connection was not established within the dial timeout.
    #[error("connecting to {origin} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The backend's `host:port`.
        origin: String,
        /// The dial timeout.
        timeout: Duration,
    },
    /// The TLS handshake with an HTTPS backend failed (certificate refused, no common version, ...).
    #[error("TLS handshake with {origin} failed: {source}")]
    #[cfg_attr(not(feature = "tls"), allow(dead_code, reason = "HTTPS needs the tls feature"))]
    Tls {
        /// The backend's `host:port`.
        origin: String,
        /// The TLS error.
        source: std::io::Error,
    },
    /// The HTTP handshake with the backend failed.
    #[error("HTTP handshake with {origin} failed: {source}")]
    Handshake {
        /// The backend's `host:port`.
        origin: String,
        /// hyper's error.
        source: hyper::Error,
    },
    /// The backend did not send response headers within `responseHeaderTimeout`.
    #[error("no response headers from the backend within {0:?}")]
    ResponseTimeout(Duration),
    /// The exchange with the backend failed (connection reset, malformed response, ...).
    #[error("backend request failed: {0}")]
    Request(#[source] hyper::Error),
    /// The service has no server that can take the request.
    #[error("no available server")]
    NoServer,
    /// A request body a service had to keep for replaying (failover on status) was larger than allowed.
    #[error("request body too large")]
    RequestBodyTooLarge,
    /// The client's request body could not be read.
    #[error("reading the request body failed: {0}")]
    RequestBody(#[source] switchyard_middleware::BoxError),
    /// The backend needs a protocol this build cannot speak.
    #[error("{0}")]
    Unsupported(&'static str),
}

impl UpstreamError {
    /// The error of an exchange hyper gave up on. When the request body failed to stream (a client
    /// that sent a malformed chunked body, or left mid-upload), the client is at fault, not the
    /// backend: 400, never retried, and no mark against the server. hyper reports that as a user
    /// error carrying the body's error; its other user errors carry no cause.
    pub(crate) fn exchange(error: hyper::Error) -> Self {
        if error.is_user() && std::error::Error::source(&error).is_some() {
            Self::RequestBody(Box::new(error))
        } else {
            Self::Request(error)
        }
    }

    /// The status the client receives: 504 for timeouts, 503 without a server, 413 for a body too
    /// large to replay, 408 for a request body slower than `readTimeout`, 400 for another unreadable
    /// request body, 502 otherwise.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::ConnectTimeout { .. } | Self::ResponseTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Request(err) if err.is_timeout() => StatusCode::GATEWAY_TIMEOUT,
            Self::NoServer => StatusCode::SERVICE_UNAVAILABLE,
            Self::RequestBodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestBody(cause) if crate::entry_point::BodyReadTimeout::caused(cause.as_ref()) => {
                StatusCode::REQUEST_TIMEOUT
            }
            Self::RequestBody(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_504() {
        assert_eq!(
            UpstreamError::ResponseTimeout(Duration::from_secs(1)).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}
