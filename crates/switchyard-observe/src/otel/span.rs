//! What the spans say, written as OTLP protobuf: the server span of a request and the client span of
//! each attempt, with OpenTelemetry's HTTP semantic-convention attributes as Traefik records them
//! (span names `GET`… and `ReverseProxy`, `entry_point`, redacted query parameters, captured headers)
//! and the router and service names Traefik puts on its router span.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Uri, Version};
use switchyard_config::Tracing;
use switchyard_middleware::query_escape;

use super::config::invalid;
use super::ids::{SpanId, TraceId};
use super::proto::{self, span as field};
use super::upstream::{Upstream, default_port, split_host_port};
use crate::ip::IpText;
use crate::{Exchange, ObserveError};

/// The name of a client span, Traefik's.
pub(super) const CLIENT_SPAN: &str = "ReverseProxy";

/// What a query parameter not in `safeQueryParams` reads as.
const REDACTED: &str = "REDACTED";

/// The field of a span's attributes.
pub(super) const ATTR: u32 = field::ATTRIBUTES;

/// Which headers and query parameters the spans record.
#[derive(Debug, Clone, Default)]
pub(super) struct Capture {
    request: Vec<HeaderName>,
    response: Vec<HeaderName>,
    safe_query: Vec<String>,
}

impl Capture {
    /// The `capturedRequestHeaders`, `capturedResponseHeaders` and `safeQueryParams` of `tracing`.
    pub(super) fn new(tracing: &Tracing) -> Result<Self, ObserveError> {
        Ok(Self {
            request: header_names(&tracing.captured_request_headers, "tracing.capturedRequestHeaders")?,
            response: header_names(&tracing.captured_response_headers, "tracing.capturedResponseHeaders")?,
            safe_query: tracing.safe_query_params.clone(),
        })
    }

    /// The request headers recorded, for the tests.
    #[cfg(test)]
    pub(super) fn request_names(&self) -> &[HeaderName] {
        &self.request
    }

    /// Whether response headers are recorded.
    pub(super) fn has_response_headers(&self) -> bool {
        !self.response.is_empty()
    }
}

fn header_names(names: &[String], key: &str) -> Result<Vec<HeaderName>, ObserveError> {
    let named = names.iter().enumerate().map(|(i, name)| {
        HeaderName::try_from(name.as_str()).map_err(|e| invalid(&format!("{key}[{i}]"), e.to_string()))
    });
    // User-Agent is recorded as `user_agent.original` already.
    let names: Result<Vec<_>, _> = named.collect();
    Ok(names?.into_iter().filter(|n| *n != USER_AGENT).collect())
}

/// What every span says of itself: its ids, its parent, its name and kind, and when it ran.
#[derive(Debug)]
pub(super) struct Head<'a> {
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    /// The parent span, and whether it is in another process.
    pub(super) parent: Option<(SpanId, bool)>,
    pub(super) sampled: bool,
    pub(super) trace_state: Option<&'a HeaderValue>,
    pub(super) name: &'a str,
    pub(super) kind: u64,
    /// When the span started and ended, in nanoseconds since the Unix epoch.
    pub(super) start: u64,
    pub(super) end: u64,
}

/// Writes a span's head fields.
pub(super) fn head(buf: &mut Vec<u8>, head: &Head<'_>) {
    proto::bytes(buf, field::TRACE_ID, &head.trace_id.to_bytes());
    proto::bytes(buf, field::SPAN_ID, &head.span_id.to_bytes());
    if let Some(state) = head.trace_state {
        proto::bytes(buf, field::TRACE_STATE, state.as_bytes());
    }
    let mut flags = proto::FLAG_HAS_IS_REMOTE;
    if let Some((parent, remote)) = head.parent {
        proto::bytes(buf, field::PARENT_SPAN_ID, &parent.to_bytes());
        flags |= if remote { proto::FLAG_IS_REMOTE } else { 0 };
    }
    flags |= if head.sampled { proto::FLAG_SAMPLED } else { 0 };
    proto::bytes(buf, field::NAME, head.name.as_bytes());
    proto::varint(buf, field::KIND, head.kind);
    proto::fixed64(buf, field::START, head.start);
    proto::fixed64(buf, field::END, head.end);
    proto::fixed32(buf, field::FLAGS, flags);
}

/// `time` in nanoseconds since the Unix epoch (0 before it, saturating after 2554).
pub(super) fn unix_nanos(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// The attributes of a server span known when its request arrives: the request's (`uri` and
/// `headers` are the request's; `arrived` says the rest), written then, so that nothing of the request
/// need be kept for the span until its response ends.
pub(super) fn server_request_attributes(
    buf: &mut Vec<u8>,
    uri: &Uri,
    headers: &HeaderMap,
    arrived: &Exchange,
    capture: &Capture,
) {
    let scheme = if arrived.tls { "https" } else { "http" };
    proto::attr_str(buf, ATTR, "entry_point", &arrived.entry_point);
    proto::attr_str(buf, ATTR, "http.request.method", arrived.method.as_str());
    proto::attr_str(buf, ATTR, "network.protocol.version", protocol_version(arrived.version));
    proto::attr_int(
        buf,
        ATTR,
        "http.request.body.size",
        i64::try_from(arrived.request_size).unwrap_or(i64::MAX),
    );
    proto::attr_str(buf, ATTR, "url.path", uri.path());
    proto::attr_str(buf, ATTR, "url.scheme", scheme);
    if let Some(query) = uri.query() {
        proto::attr_str(buf, ATTR, "url.query", &safe_query(query, &capture.safe_query));
    }
    if let Some(agent) = headers.get(USER_AGENT) {
        proto::attr_str(
            buf,
            ATTR,
            "user_agent.original",
            &String::from_utf8_lossy(agent.as_bytes()),
        );
    }
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    if let Some(host) = host.or_else(|| uri.authority().map(http::uri::Authority::as_str)) {
        server_address(buf, split_host_port(host), scheme);
    }
    client_address(buf, arrived.client);
    captured(buf, headers, &capture.request, "http.request.header.");
}

/// The attributes of a server span known when its response ends.
pub(super) fn server_response_attributes(buf: &mut Vec<u8>, ex: &Exchange, capture: &Capture) {
    proto::attr_int(buf, ATTR, "http.response.status_code", i64::from(ex.status.as_u16()));
    let progress = &ex.progress;
    if let Some(router) = &progress.router {
        proto::attr_str(buf, ATTR, "traefik.router.name", router);
    }
    if let Some(service) = &progress.service {
        proto::attr_str(buf, ATTR, "traefik.service.name", service);
    }
    if let Some(headers) = &ex.response_headers {
        captured(buf, headers, &capture.response, "http.response.header.");
    }
}

/// The client's address, which is also the peer's: a proxy in front shows in `X-Forwarded-For`.
fn client_address(buf: &mut Vec<u8>, client: std::net::SocketAddr) {
    let text = IpText::of(client.ip());
    let (address, port) = (text.as_str(), i64::from(client.port()));
    proto::attr_str(buf, ATTR, "client.address", address);
    proto::attr_int(buf, ATTR, "client.port", port);
    proto::attr_str(buf, ATTR, "network.peer.address", address);
    proto::attr_int(buf, ATTR, "network.peer.port", port);
}

/// A duration in nanoseconds, saturating (after 584 years).
pub(super) fn nanos(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A server span's status: an error for a 5xx, described by the proxy's failure when it answered in the
/// origin's stead (4xx are the client's errors, not the server's); unset otherwise.
pub(super) fn server_status(buf: &mut Vec<u8>, exchange: &Exchange) {
    match exchange.status.as_u16() {
        500..=599 => proto::error_status(buf, exchange.progress.failure.as_deref().unwrap_or_default()),
        100..=499 => {}
        code => proto::error_status(buf, &format!("Invalid HTTP status code {code}")),
    }
}

/// A client span's status: every 4xx and 5xx answer is an error for the caller.
pub(super) fn client_status(buf: &mut Vec<u8>, code: u16) {
    match code {
        400..=599 => proto::error_status(buf, ""),
        100..=399 => {}
        _ => proto::error_status(buf, &format!("Invalid HTTP status code {code}")),
    }
}

/// The attributes of a client span known when the attempt starts, from the upstream request's head
/// and where it goes.
pub(super) fn client_attributes(
    buf: &mut Vec<u8>,
    parts: &http::request::Parts,
    upstream: &Upstream,
    capture: &Capture,
) {
    proto::attr_str(buf, ATTR, "http.request.method", parts.method.as_str());
    proto::attr_str(buf, ATTR, "network.protocol.version", protocol_version(parts.version));
    // `url.full`: the server's URL joined with the request's path and query, user info and unsafe
    // query parameters redacted.
    let userinfo = if upstream.userinfo { "REDACTED:REDACTED@" } else { "" };
    let query = parts.uri.query().map(|q| safe_query(q, &capture.safe_query));
    let (mark, query) = query.as_deref().map_or(("", ""), |q| ("?", q));
    let url = [
        &*upstream.scheme,
        "://",
        userinfo,
        &upstream.host_port,
        &upstream.prefix,
        parts.uri.path(),
        mark,
        query,
    ];
    proto::attr_str_parts(buf, ATTR, "url.full", &url);
    buf.extend_from_slice(&upstream.attributes);
    if let Some(agent) = parts.headers.get(USER_AGENT) {
        proto::attr_str(
            buf,
            ATTR,
            "user_agent.original",
            &String::from_utf8_lossy(agent.as_bytes()),
        );
    }
    captured(buf, &parts.headers, &capture.request, "http.request.header.");
}

/// The upstream's answer on a client span.
pub(super) fn client_answer(buf: &mut Vec<u8>, code: u16) {
    proto::attr_int(buf, ATTR, "http.response.status_code", i64::from(code));
}

/// `server.address` and `server.port` of a host and port, the port defaulting to the scheme's.
fn server_address(buf: &mut Vec<u8>, (host, port): (&str, Option<u16>), scheme: &str) {
    proto::attr_str(buf, ATTR, "server.address", host);
    if let Some(port) = port.or_else(|| default_port(scheme)) {
        proto::attr_int(buf, ATTR, "server.port", i64::from(port));
    }
}

/// `{prefix}{name}` with every value of each named header present.
fn captured(buf: &mut Vec<u8>, headers: &HeaderMap, names: &[HeaderName], prefix: &str) {
    for name in names {
        let values: Vec<Cow<'_, str>> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect();
        if !values.is_empty() {
            let values: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
            proto::attr_str_array(buf, ATTR, (prefix, name.as_str()), &values);
        }
    }
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// A query with every parameter not in `safe` set to `REDACTED`, re-encoded with sorted keys, as Go's
/// `url.Values` does it in Traefik (pairs that do not decode are dropped).
pub(super) fn safe_query(query: &str, safe: &[String]) -> String {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty() && !p.contains(';')) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let (Some(key), Some(value)) = (unescape(key), unescape(value)) {
            params.entry(key).or_default().push(value);
        }
    }
    let mut pairs = Vec::new();
    for (key, values) in params {
        let values = if safe.contains(&key) {
            values
        } else {
            vec![REDACTED.to_owned()]
        };
        pairs.extend(
            values
                .iter()
                .map(|v| format!("{}={}", query_escape(&key), query_escape(v))),
        );
    }
    pairs.join("&")
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte.
fn unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut input = s.bytes();
    while let Some(b) = input.next() {
        bytes.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = [input.next()?, input.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            other => other,
        });
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
