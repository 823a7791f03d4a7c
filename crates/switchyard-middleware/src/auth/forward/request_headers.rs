//! The headers of the request `forwardAuth` sends to its authentication server: the client's headers
//! (hop-by-hop ones removed, filtered by `authRequestHeaders`) and the `X-Forwarded-*` headers that
//! describe the original request.

use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Request};

use crate::{ClientInfo, RequestBody, is_managed_header};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const TRAILERS: HeaderName = HeaderName::from_static("trailers");

/// The headers to send for `req`. `trust` is `trustForwardHeader` (unset: the legacy behaviour);
/// `allowed` is `authRequestHeaders` (empty: every header).
pub(super) fn auth_request_headers(
    req: &Request<RequestBody>,
    trust: Option<bool>,
    allowed: &[HeaderName],
) -> HeaderMap {
    let mut headers = client_headers(req, trust, allowed);
    let forwarded = Forwarded::of(req);
    match trust {
        None => forwarded.replace(&mut headers),
        Some(_) => forwarded.add(&mut headers),
    }
    headers
}

/// The client's headers that go on: without `Host`, `Content-Length` and the hop-by-hop headers,
/// without the forwarded ones when `trustForwardHeader` is false, only the `allowed` ones when some are.
fn client_headers(req: &Request<RequestBody>, trust: Option<bool>, allowed: &[HeaderName]) -> HeaderMap {
    let mut headers = req.headers().clone();
    // Go keeps the host and the body's length out of its header map; the client sets its own.
    headers.remove(HOST);
    headers.remove(CONTENT_LENGTH);
    remove_hop_by_hop(&mut headers);
    if trust == Some(false) {
        let managed: Vec<HeaderName> = headers.keys().filter(|n| is_managed_header(n)).cloned().collect();
        for name in managed {
            headers.remove(name);
        }
    }
    if !allowed.is_empty() {
        headers = filter(headers, allowed);
    }
    headers
}

/// The `X-Forwarded-*` values that describe the original request.
struct Forwarded {
    ip: String,
    tls: bool,
    proto: HeaderValue,
    method: Option<HeaderValue>,
    host: Option<HeaderValue>,
    uri: Option<HeaderValue>,
}

impl Forwarded {
    fn of(req: &Request<RequestBody>) -> Self {
        let client = ClientInfo::of(req);
        let host = request_host(req);
        let proto = HeaderValue::from_static(if client.tls { "https" } else { "http" });
        let method = HeaderValue::from_str(req.method().as_str()).ok();
        let uri = HeaderValue::from_str(req.uri().path_and_query().map_or("/", |pq| pq.as_str())).ok();
        let ip = client.ip.to_canonical().to_string();
        Self {
            ip,
            tls: client.tls,
            proto,
            method,
            host,
            uri,
        }
    }

    /// Without `trustForwardHeader`: five headers set, whatever the client sent.
    fn replace(self, headers: &mut HeaderMap) {
        set(headers, X_FORWARDED_FOR, HeaderValue::from_str(&self.ip).ok());
        set(headers, X_FORWARDED_PROTO, Some(self.proto));
        set(headers, X_FORWARDED_METHOD, self.method);
        set(headers, X_FORWARDED_HOST, self.host);
        set(headers, X_FORWARDED_URI, self.uri);
    }

    /// With `trustForwardHeader` set: the client's address added to `X-Forwarded-For`, the other
    /// headers set when the client did not send them.
    fn add(self, headers: &mut HeaderMap) {
        let prior: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let chain = if prior.is_empty() {
            self.ip
        } else {
            format!("{}, {}", prior.join(", "), self.ip)
        };
        set(headers, X_FORWARDED_FOR, HeaderValue::from_str(&chain).ok());
        set_missing(headers, X_FORWARDED_METHOD, self.method);
        set_missing(headers, X_FORWARDED_PROTO, Some(self.proto));
        let port =
            port_of(self.host.as_ref()).unwrap_or_else(|| HeaderValue::from_static(default_port(headers, self.tls)));
        set_missing(headers, X_FORWARDED_PORT, Some(port));
        set_missing(headers, X_FORWARDED_HOST, self.host);
        set_missing(headers, X_FORWARDED_URI, self.uri);
    }
}

/// The hop-by-hop headers Traefik removes in forwardAuth, both ways.
pub(super) const HOP_BY_HOP: [HeaderName; 7] = [
    CONNECTION,
    KEEP_ALIVE,
    TE,
    TRAILER,
    TRAILERS,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Removes the headers `Connection` names, then the hop-by-hop headers Traefik removes (plus `Trailer`,
/// which Traefik misspells `Trailers`).
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Keeps only the `allowed` headers, with all their values.
fn filter(headers: HeaderMap, allowed: &[HeaderName]) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in allowed {
        for value in headers.get_all(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    if let Some(value) = value {
        headers.insert(name, value);
    }
}

/// Sets `name` when the request does not carry it.
fn set_missing(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    if !headers.contains_key(&name) {
        set(headers, name, value);
    }
}

/// The request's host as Go's `Request.Host` has it: the `Host` header, or the HTTP/2 authority.
fn request_host(req: &Request<RequestBody>) -> Option<HeaderValue> {
    req.headers().get(HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}

/// The `X-Forwarded-Port` when the host names no port: 443 over HTTPS (as the request or its
/// `X-Forwarded-Proto` says), else 80.
fn default_port(headers: &HeaderMap, tls: bool) -> &'static str {
    let proto = headers.get(&X_FORWARDED_PROTO).map(HeaderValue::as_bytes);
    if matches!(proto, Some(b"https" | b"wss")) || tls {
        "443"
    } else {
        "80"
    }
}

/// The port of a `host:port` value (`[v6]:port` too), as Go's `net.SplitHostPort` finds it.
fn port_of(host: Option<&HeaderValue>) -> Option<HeaderValue> {
    let host = host?.to_str().ok()?;
    let (name, port) = host.rsplit_once(':')?;
    let bracketed = name.starts_with('[') && name.ends_with(']');
    if port.is_empty() || (name.contains(':') && !bracketed) || (name.contains(['[', ']']) && !bracketed) {
        return None;
    }
    HeaderValue::from_str(port).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], tls: bool) -> Request<RequestBody> {
        let mut builder = Request::post("/api/x?y=1");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut req = builder.body(RequestBody::empty()).unwrap();
        req.extensions_mut()
            .insert(ClientInfo::new("192.0.2.7".parse().unwrap(), tls));
        req
    }

    fn get<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        headers.get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
    }

    const CLIENT: [(&str, &str); 9] = [
        ("host", "app.example:8443"),
        ("content-length", "3"),
        ("connection", "keep-alive, x-hop"),
        ("x-hop", "1"),
        ("te", "trailers"),
        ("cookie", "a=b"),
        ("x-forwarded-for", "198.51.100.1"),
        ("x-forwarded-prefix", "/api"),
        ("x_forwarded_host", "forged"),
    ];

    #[test]
    fn unset_trust_overwrites_five_headers_and_keeps_the_rest() {
        let headers = auth_request_headers(&request(&CLIENT, false), None, &[]);
        for gone in ["host", "content-length", "connection", "x-hop", "te"] {
            assert!(!headers.contains_key(gone), "{gone}");
        }
        assert_eq!(get(&headers, "cookie"), ["a=b"]);
        assert_eq!(get(&headers, "x-forwarded-for"), ["192.0.2.7"]);
        assert_eq!(get(&headers, "x-forwarded-proto"), ["http"]);
        assert_eq!(get(&headers, "x-forwarded-method"), ["POST"]);
        assert_eq!(get(&headers, "x-forwarded-host"), ["app.example:8443"]);
        assert_eq!(get(&headers, "x-forwarded-uri"), ["/api/x?y=1"]);
        assert_eq!(get(&headers, "x-forwarded-prefix"), ["/api"]);
        assert!(!headers.contains_key("x-forwarded-port"));
    }

    #[test]
    fn trusted_headers_are_kept_and_completed() {
        let mut client = CLIENT.to_vec();
        client.push(("x-forwarded-proto", "https"));
        let headers = auth_request_headers(&request(&client, false), Some(true), &[]);
        assert_eq!(get(&headers, "x-forwarded-for"), ["198.51.100.1, 192.0.2.7"]);
        assert_eq!(get(&headers, "x-forwarded-proto"), ["https"]);
        assert_eq!(get(&headers, "x-forwarded-port"), ["8443"]);
        assert_eq!(get(&headers, "x-forwarded-host"), ["app.example:8443"]);
        assert_eq!(get(&headers, "x_forwarded_host"), ["forged"]);
        assert_eq!(get(&headers, "x-forwarded-prefix"), ["/api"]);
    }

    #[test]
    fn untrusted_headers_are_replaced() {
        let headers = auth_request_headers(&request(&CLIENT, true), Some(false), &[]);
        assert_eq!(get(&headers, "x-forwarded-for"), ["192.0.2.7"]);
        assert_eq!(get(&headers, "x-forwarded-proto"), ["https"]);
        assert_eq!(get(&headers, "x-forwarded-port"), ["8443"]);
        assert!(!headers.contains_key("x-forwarded-prefix"));
        assert!(!headers.contains_key("x_forwarded_host"));

        let no_port = auth_request_headers(&request(&[("host", "app.example")], true), Some(false), &[]);
        assert_eq!(get(&no_port, "x-forwarded-port"), ["443"]);
        let plain = auth_request_headers(&request(&[("host", "[::1]")], false), Some(false), &[]);
        assert_eq!(get(&plain, "x-forwarded-port"), ["80"]);
    }

    #[test]
    fn allowed_headers_filter_before_the_forwarded_ones_are_set() {
        let allowed = [HeaderName::from_static("cookie")];
        let headers = auth_request_headers(&request(&CLIENT, false), Some(false), &allowed);
        let mut names: Vec<_> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "cookie",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-method",
                "x-forwarded-port",
                "x-forwarded-proto",
                "x-forwarded-uri"
            ]
        );
    }

    #[test]
    fn ports_are_read_as_go_splits_host_and_port() {
        let port = |host: &'static str| port_of(Some(&HeaderValue::from_static(host)));
        assert_eq!(port("a:81").unwrap(), "81");
        assert_eq!(port("[::1]:82").unwrap(), "82");
        assert!(port("a").is_none());
        assert!(port("a:").is_none());
        assert!(port("::1").is_none());
        assert!(port("[::1]").is_none());
    }
}
