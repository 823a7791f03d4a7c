//! One request and its answer, as the exporters see them once the response has ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{ACCEPT, CONNECTION, CONTENT_TYPE, UPGRADE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use switchyard_middleware::Progress;

/// A finished exchange: what the client asked, what it was answered, and what routing, the service and
/// the upstream call recorded on the way ([`Progress`]).
///
/// The access log, the metrics and the server span read the same `Exchange`, so that they agree.
///
/// ```
/// use switchyard_observe::Exchange;
///
/// let exchange = Exchange::example();
/// assert_eq!(exchange.status.as_u16(), 200);
/// assert_eq!(exchange.progress.router.as_deref(), Some("whoami@file"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Exchange {
    /// The entrypoint the request came in through.
    pub entry_point: Arc<str>,
    /// When the request's head was received, when an exporter reads it (the access log, the spans),
    /// else the Unix epoch.
    pub start: SystemTime,
    /// From the request's head to the end of the response's body.
    pub duration: Duration,
    /// The client's address (after the PROXY protocol, if the entrypoint accepts it).
    pub client: SocketAddr,
    /// Whether the request came over TLS.
    pub tls: bool,
    /// The TLS version (`1.3`), when the entrypoint terminated TLS.
    pub tls_version: Option<&'static str>,
    /// The cipher suite's IANA name (`TLS_AES_128_GCM_SHA256`), when the entrypoint terminated TLS.
    pub tls_cipher: Option<&'static str>,
    /// The request method.
    pub method: Method,
    /// The request target as the client sent it, when an exporter reads it (the access log), else `/`.
    pub uri: Uri,
    /// The request's HTTP version.
    pub version: Version,
    /// What the request speaks over HTTP, as Traefik's metrics label it: `websocket`, `sse`,
    /// `grpc-web`, `grpc` or `http`.
    pub protocol: &'static str,
    /// The request's `Host` (or `:authority`), when an exporter reads it (JSON access-log lines).
    pub host: Option<String>,
    /// The request's headers, when an exporter asked to keep them (access-log header fields, captured
    /// span headers, Prometheus header labels).
    pub request_headers: Option<HeaderMap>,
    /// The request body's declared length (`Content-Length`), 0 without one.
    pub request_size: u64,
    /// The status the client was answered with.
    pub status: StatusCode,
    /// The response's headers, when an exporter asked to keep them.
    pub response_headers: Option<HeaderMap>,
    /// The response body's bytes sent to the client.
    pub response_size: u64,
    /// Whether the response body ended before all of it was sent (the client went away).
    pub aborted: bool,
    /// What routing, the service and the upstream call recorded.
    pub progress: Progress,
    /// The trace and span ids of the request's server span, when it is traced and the access log
    /// (which writes them) is on.
    pub trace: Option<TraceIds>,
}

/// The W3C ids of a traced request, in lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    /// The 32-digit trace id.
    pub trace_id: String,
    /// The 16-digit id of the request's server span.
    pub span_id: String,
}

impl Exchange {
    /// An exchange as the tests and examples need one: `GET /whoami` from `192.0.2.10:51000` on `web`,
    /// routed by `whoami@file` to `whoami@file` at `http://10.0.0.1:80`, answered 200 with 42 bytes.
    pub fn example() -> Self {
        let mut progress = Progress::default();
        progress.router = Some("whoami@file".into());
        progress.service = Some("whoami@file".into());
        progress.server = Some("http://10.0.0.1:80".into());
        progress.origin_status = Some(StatusCode::OK);
        progress.origin_duration = Some(Duration::from_millis(2));
        Self {
            entry_point: "web".into(),
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_100_000),
            duration: Duration::from_millis(3),
            client: SocketAddr::from(([192, 0, 2, 10], 51000)),
            tls: false,
            tls_version: None,
            tls_cipher: None,
            method: Method::GET,
            uri: Uri::from_static("/whoami?name=x"),
            version: Version::HTTP_11,
            protocol: "http",
            host: Some("example.com".into()),
            request_headers: None,
            request_size: 0,
            status: StatusCode::OK,
            response_headers: None,
            response_size: 42,
            aborted: false,
            progress,
            trace: None,
        }
    }
}

/// The protocol of a request, from its headers as Traefik reads them: `websocket`, `sse`,
/// `grpc-web`, `grpc` or `http`.
pub(crate) fn protocol_of(headers: &HeaderMap) -> &'static str {
    // One pass over the headers, which is cheaper than three lookups for the dozen headers a request
    // usually has; the first value of each name counts.
    let (mut upgrade, mut connection, mut accept, mut content_type) = (None, None, None, None);
    for (name, value) in headers {
        let slot = if *name == UPGRADE {
            &mut upgrade
        } else if *name == CONNECTION {
            &mut connection
        } else if *name == ACCEPT {
            &mut accept
        } else if *name == CONTENT_TYPE {
            &mut content_type
        } else {
            continue;
        };
        slot.get_or_insert(value);
    }
    if has_token(upgrade, b"websocket") && has_token(connection, b"upgrade") {
        return "websocket";
    }
    if has_token(accept, b"text/event-stream") {
        return "sse";
    }
    match content_type.map(HeaderValue::as_bytes) {
        Some(t) if t.starts_with(b"application/grpc-web") => "grpc-web",
        Some(t) if t.starts_with(b"application/grpc") => "grpc",
        _ => "http",
    }
}

/// Whether a header's value lists `token` (comma-separated, case-insensitive).
fn has_token(value: Option<&HeaderValue>, token: &[u8]) -> bool {
    value.is_some_and(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_is_read_from_the_first_value_of_each_header() {
        let of = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, HeaderValue::from_static(value));
            }
            protocol_of(&headers)
        };
        assert_eq!(of(&[("host", "x"), ("user-agent", "curl")]), "http");
        assert_eq!(
            of(&[("connection", "keep-alive, Upgrade"), ("upgrade", "WebSocket")]),
            "websocket"
        );
        assert_eq!(of(&[("upgrade", "websocket")]), "http");
        assert_eq!(of(&[("accept", "text/html, text/event-stream")]), "sse");
        assert_eq!(of(&[("accept", "text/html"), ("accept", "text/event-stream")]), "http");
        assert_eq!(of(&[("content-type", "application/grpc-web+proto")]), "grpc-web");
        assert_eq!(of(&[("content-type", "application/grpc")]), "grpc");
    }
}
