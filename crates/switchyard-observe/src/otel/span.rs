//! What the spans say: the server span of a request and the client span of each attempt, with
//! OpenTelemetry's HTTP semantic-convention attributes as Traefik records them (span names `GET`…
//! and `ReverseProxy`, `entry_point`, redacted query parameters, captured headers) and the router and
//! service names Traefik puts on its router span.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use http::header::USER_AGENT;
use http::uri::Authority;
use http::{HeaderMap, HeaderName, Uri, Version};
use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use switchyard_config::Tracing;
use switchyard_middleware::query_escape;

use super::config::invalid;
use crate::layer::RequestHead;
use crate::{Exchange, ObserveError};

/// The name of a client span, Traefik's.
pub(super) const CLIENT_SPAN: &str = "ReverseProxy";

/// What a query parameter not in `safeQueryParams` reads as.
const REDACTED: &str = "REDACTED";

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

    /// Whether request headers are recorded.
    pub(super) fn has_request_headers(&self) -> bool {
        !self.request.is_empty()
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

/// The attributes of a server span known when the request arrives.
pub(super) fn server_request(head: &RequestHead, headers: &HeaderMap, capture: &Capture) -> Vec<KeyValue> {
    let scheme = if head.tls { "https" } else { "http" };
    let mut attributes = vec![
        KeyValue::new("entry_point", head.entry_point.to_string()),
        KeyValue::new("http.request.method", head.method.to_string()),
        KeyValue::new("network.protocol.version", protocol_version(head.version)),
        KeyValue::new("http.request.body.size", i64::try_from(head.size).unwrap_or(i64::MAX)),
        KeyValue::new("url.path", head.uri.path().to_owned()),
        KeyValue::new("url.scheme", scheme),
    ];
    if let Some(query) = head.uri.query() {
        attributes.push(KeyValue::new("url.query", safe_query(query, &capture.safe_query)));
    }
    user_agent(headers, &mut attributes);
    if let Some(host) = head.host.as_deref() {
        address(SERVER_KEYS, host, scheme, &mut attributes);
    }
    attributes.extend(client_address(head.client));
    captured(headers, &capture.request, "http.request.header.", &mut attributes);
    attributes
}

/// The client's address, which is also the peer's: a proxy in front shows in `X-Forwarded-For`.
fn client_address(client: std::net::SocketAddr) -> [KeyValue; 4] {
    let address = client.ip().to_string();
    let port = i64::from(client.port());
    [
        KeyValue::new("client.address", address.clone()),
        KeyValue::new("client.port", port),
        KeyValue::new("network.peer.address", address),
        KeyValue::new("network.peer.port", port),
    ]
}

/// The attributes of a server span known when the response has ended.
pub(super) fn server_response(exchange: &Exchange, capture: &Capture) -> Vec<KeyValue> {
    let mut attributes = vec![KeyValue::new(
        "http.response.status_code",
        i64::from(exchange.status.as_u16()),
    )];
    let progress = &exchange.progress;
    if let Some(router) = &progress.router {
        attributes.push(KeyValue::new("traefik.router.name", router.to_string()));
    }
    if let Some(service) = &progress.service {
        attributes.push(KeyValue::new("traefik.service.name", service.to_string()));
    }
    if let Some(headers) = &exchange.response_headers {
        captured(headers, &capture.response, "http.response.header.", &mut attributes);
    }
    attributes
}

/// A server span's status: an error for a 5xx, described by the proxy's failure when it answered in the
/// origin's stead (4xx are the client's errors, not the server's).
pub(super) fn server_status(exchange: &Exchange) -> Status {
    let code = exchange.status.as_u16();
    match code {
        500..=599 => Status::error(exchange.progress.failure.as_deref().unwrap_or_default().to_owned()),
        100..=499 => Status::Unset,
        _ => Status::error(format!("Invalid HTTP status code {code}")),
    }
}

/// A client span's status: every 4xx and 5xx answer is an error for the caller.
pub(super) fn client_status(code: u16) -> Status {
    match code {
        400..=599 => Status::error(""),
        100..=399 => Status::Unset,
        _ => Status::error(format!("Invalid HTTP status code {code}")),
    }
}

/// The attributes of a client span, from the upstream request's head and where it goes.
pub(super) fn client_request(parts: &http::request::Parts, target: &Target, capture: &Capture) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("http.request.method", parts.method.to_string()),
        KeyValue::new("network.protocol.version", protocol_version(parts.version)),
        KeyValue::new("url.full", target.safe_url(&capture.safe_query)),
        KeyValue::new("url.scheme", target.scheme.clone()),
    ];
    user_agent(&parts.headers, &mut attributes);
    if let Some(authority) = &target.authority {
        address(SERVER_KEYS, authority.as_str(), &target.scheme, &mut attributes);
        address(PEER_KEYS, authority.as_str(), &target.scheme, &mut attributes);
    }
    captured(
        &parts.headers,
        &capture.request,
        "http.request.header.",
        &mut attributes,
    );
    attributes
}

/// The keys of the server's address and port.
const SERVER_KEYS: (&str, &str) = ("server.address", "server.port");
/// The same as the peer's, which Jaeger's and SkyWalking's topologies draw from.
const PEER_KEYS: (&str, &str) = ("network.peer.address", "network.peer.port");

/// The `host:port` a SkyWalking `sw8` names as the target of an upstream call.
pub(super) fn target_address(target: &Target) -> String {
    let authority = target.authority.as_ref();
    let host = authority.map(|a| a.host().to_owned()).unwrap_or_default();
    let port = authority
        .and_then(Authority::port_u16)
        .or_else(|| default_port(&target.scheme));
    port.map_or(host.clone(), |port| format!("{host}:{port}"))
}

/// Where an attempt goes: the server's URL joined with the request's path and query.
pub(super) struct Target {
    scheme: String,
    authority: Option<Authority>,
    path: String,
    query: Option<String>,
}

impl Target {
    /// The upstream request's URI when it is absolute, else `server` with the URI's path and query.
    pub(super) fn of(server: &str, uri: &Uri) -> Self {
        let (base, path) = if uri.scheme().is_some() && uri.authority().is_some() {
            (uri.clone(), uri.path().to_owned())
        } else {
            let server = server.parse::<Uri>().unwrap_or_default();
            let path = format!("{}{}", server.path().trim_end_matches('/'), uri.path());
            (server, path)
        };
        Self {
            scheme: base.scheme_str().unwrap_or("http").to_owned(),
            authority: base.authority().cloned(),
            path,
            query: uri.query().map(str::to_owned),
        }
    }

    /// The URL with its user info and unsafe query parameters redacted.
    fn safe_url(&self, safe: &[String]) -> String {
        let mut url = format!("{}://", self.scheme);
        if let Some(authority) = &self.authority {
            if authority.as_str().contains('@') {
                url.push_str("REDACTED:REDACTED@");
            }
            url.push_str(&host_port(authority));
        }
        url.push_str(&self.path);
        if let Some(query) = &self.query {
            let _ = write!(url, "?{}", safe_query(query, safe));
        }
        url
    }
}

/// An authority without its user info.
fn host_port(authority: &Authority) -> String {
    let host = authority.host();
    authority
        .port()
        .map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// `{prefix}.address` and `{prefix}.port` of a `host[:port]`, the port defaulting to the scheme's.
fn address(keys: (&'static str, &'static str), host: &str, scheme: &str, attributes: &mut Vec<KeyValue>) {
    let Ok(authority) = host.parse::<Authority>() else {
        attributes.push(KeyValue::new(keys.0, host.to_owned()));
        return;
    };
    let name = authority.host().trim_start_matches('[').trim_end_matches(']');
    attributes.push(KeyValue::new(keys.0, name.to_owned()));
    if let Some(port) = authority.port_u16().or_else(|| default_port(scheme)) {
        attributes.push(KeyValue::new(keys.1, i64::from(port)));
    }
}

fn user_agent(headers: &HeaderMap, attributes: &mut Vec<KeyValue>) {
    if let Some(agent) = headers.get(USER_AGENT) {
        let agent = String::from_utf8_lossy(agent.as_bytes()).into_owned();
        attributes.push(KeyValue::new("user_agent.original", agent));
    }
}

/// `{prefix}{name}` with every value of each named header present.
fn captured(headers: &HeaderMap, names: &[HeaderName], prefix: &str, attributes: &mut Vec<KeyValue>) {
    for name in names {
        let values: Vec<StringValue> = headers
            .get_all(name)
            .iter()
            .map(|v| StringValue::from(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        if !values.is_empty() {
            let value = Value::Array(Array::String(values));
            attributes.push(KeyValue::new(format!("{prefix}{name}"), value));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
        attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
    }

    #[test]
    fn query_parameters_are_redacted_unless_safe_as_in_traefik() {
        let safe = vec!["page".to_owned()];
        assert_eq!(
            safe_query("token=s3cr%65t&page=2&page=3&q=a+b", &safe),
            "page=2&page=3&q=REDACTED&token=REDACTED"
        );
        assert_eq!(safe_query("a=%zz&b;c=1&page=x y", &safe), "page=x+y");
        assert_eq!(safe_query("", &safe), "");
    }

    fn upstream_request() -> http::request::Parts {
        let req = http::Request::get("/api/items?id=7&key=k")
            .header(USER_AGENT, "curl/8")
            .header("x-tenant", "a")
            .body(())
            .expect("request");
        req.into_parts().0
    }

    #[test]
    fn client_spans_name_the_upstream_and_hide_secrets() {
        let parts = upstream_request();
        let capture = Capture {
            request: vec![HeaderName::from_static("x-tenant")],
            safe_query: vec!["id".into()],
            ..Capture::default()
        };
        let target = Target::of("http://user:pw@10.0.0.5:8080/base/", &parts.uri);
        let attributes = client_request(&parts, &target, &capture);
        let url = value(&attributes, "url.full").map(ToString::to_string);
        assert_eq!(
            url.as_deref(),
            Some("http://REDACTED:REDACTED@10.0.0.5:8080/base/api/items?id=7&key=REDACTED")
        );
        assert_eq!(
            value(&attributes, "server.address").map(ToString::to_string).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(value(&attributes, "network.peer.port"), Some(&Value::I64(8080)));
        assert_eq!(
            value(&attributes, "user_agent.original")
                .map(ToString::to_string)
                .as_deref(),
            Some("curl/8")
        );
        assert!(value(&attributes, "http.request.header.x-tenant").is_some());
        assert_eq!(
            target_address(&Target::of("https://api.internal", &parts.uri)),
            "api.internal:443"
        );
    }

    #[test]
    fn statuses_follow_traefik() {
        let mut exchange = Exchange::example();
        assert_eq!(server_status(&exchange), Status::Unset);
        exchange.status = http::StatusCode::BAD_GATEWAY;
        exchange.progress.failure = Some("connection refused".into());
        assert_eq!(server_status(&exchange), Status::error("connection refused"));
        exchange.status = http::StatusCode::NOT_FOUND;
        assert_eq!(server_status(&exchange), Status::Unset);
        assert_eq!(client_status(404), Status::error(""));
        assert_eq!(client_status(204), Status::Unset);
    }

    #[test]
    fn user_agent_is_not_captured_twice_and_bad_names_are_errors() {
        let tracing = Tracing {
            captured_request_headers: vec!["User-Agent".into(), "X-Request-Id".into()],
            ..Tracing::default()
        };
        let capture = Capture::new(&tracing).expect("valid names");
        assert_eq!(capture.request, [HeaderName::from_static("x-request-id")]);
        let bad = Tracing {
            captured_response_headers: vec!["ok".into(), "bad header".into()],
            ..Tracing::default()
        };
        assert!(matches!(
            Capture::new(&bad),
            Err(ObserveError::Invalid { key, .. }) if key == "tracing.capturedResponseHeaders[1]"
        ));
    }
}
