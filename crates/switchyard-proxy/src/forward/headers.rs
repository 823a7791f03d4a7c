//! The headers a proxy owns: `X-Forwarded-*` and `X-Real-Ip` on the way in, hop-by-hop headers both ways.

use std::net::IpAddr;

use http::header::{CONNECTION, CONTENT_LENGTH, FORWARDED, HOST, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_config::ForwardedHeaders;

use crate::trusted_peers::{TrustedIpError, TrustedPeers};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_SERVER: HeaderName = HeaderName::from_static("x-forwarded-server");
const X_FORWARDED_SCHEME: HeaderName = HeaderName::from_static("x-forwarded-scheme");
const X_SCHEME: HeaderName = HeaderName::from_static("x-scheme");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers (RFC 9110 §7.6.1 and the legacy ones Go's proxy also drops).
// `Trailer` is not among them: it announces the trailer fields end to end (RFC 9110 §6.6.2), and an
// HTTP/1.1 client gets a chunked body's trailers only when the response announces them.
/// Positions in [`HOP_BY_HOP`].
const HOP_CONNECTION: usize = 0;
const HOP_TE: usize = 5;
const HOP_TRANSFER_ENCODING: usize = 6;

// A `static`, not a `const`: a `const` array of header names is built and dropped at every use.
static HOP_BY_HOP: [HeaderName; 7] = [
    CONNECTION,
    PROXY_CONNECTION,
    KEEP_ALIVE,
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    TE,
    TRANSFER_ENCODING,
];

use switchyard_middleware::{is_managed_header, is_managed_header_name};

/// An entrypoint's `forwardedHeaders` settings, parsed.
#[derive(Debug, Clone)]
pub(crate) struct ForwardedPolicy {
    peers: TrustedPeers,
    /// `connection`: headers named in `Connection` that the middlewares still see.
    connection: Vec<HeaderName>,
    not_append_x_forwarded_for: bool,
    add_scheme_headers: bool,
    server: Option<HeaderValue>,
}

impl ForwardedPolicy {
    /// Parses the settings; `server` is the value of `X-Forwarded-Server` (the host name).
    pub(crate) fn new(config: &ForwardedHeaders, server: Option<&str>) -> Result<Self, TrustedIpError> {
        Ok(Self {
            peers: TrustedPeers::parse(config.insecure, &config.trusted_ips)?,
            connection: config
                .connection
                .iter()
                .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
                .collect(),
            not_append_x_forwarded_for: config.not_append_x_forwarded_for,
            add_scheme_headers: config.add_x_forwarded_scheme_headers,
            server: server.and_then(|s| HeaderValue::from_str(s).ok()),
        })
    }

    /// Whether a peer's `X-Forwarded-*` headers are kept.
    pub(crate) fn trusts(&self, peer: IpAddr) -> bool {
        self.peers.trusts(peer)
    }
}

/// What a connection tells about the client, computed once per connection.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) ip: IpAddr,
    pub(crate) ip_value: HeaderValue,
    pub(crate) trusted: bool,
    pub(crate) tls: bool,
    port_value: std::sync::OnceLock<(u16, HeaderValue)>,
}

impl Client {
    pub(crate) fn new(ip: IpAddr, trusted: bool, tls: bool) -> Self {
        let ip = ip.to_canonical();
        let ip_value = HeaderValue::from_str(&ip.to_string()).unwrap_or(HeaderValue::from_static(""));
        Self {
            ip,
            ip_value,
            trusted,
            tls,
            port_value: std::sync::OnceLock::new(),
        }
    }

    /// The `X-Forwarded-Port` value for a port; a connection almost always sees one, so it is kept.
    fn port_value(&self, port: u16) -> HeaderValue {
        let (cached, value) = self.port_value.get_or_init(|| (port, HeaderValue::from(port)));
        if *cached == port {
            value.clone()
        } else {
            HeaderValue::from(port)
        }
    }
}

/// Sets the forwarding headers as Traefik's entrypoint does before routing — all but `X-Forwarded-For`
/// (see [`set_forwarded_for`]): managed headers from untrusted peers dropped, then `X-Real-Ip`,
/// `X-Forwarded-Proto/Port/Host/Server` filled in. `host` is the request's host (`Host` header or
/// HTTP/2 authority).
pub(crate) fn set_forwarded(
    headers: &mut HeaderMap,
    host: Option<&HeaderValue>,
    client: &Client,
    policy: &ForwardedPolicy,
    websocket: bool,
) -> Managed {
    // Whether any managed header is left: from an untrusted peer none is, and the lookups of each
    // below (which hash its name even when it is absent) are skipped.
    let managed = if client.trusted {
        Managed::of(headers)
    } else {
        drop_managed(headers);
        Managed::None
    };
    let kept = managed == Managed::Some;
    if !kept || !headers.contains_key(X_REAL_IP) {
        headers.insert(X_REAL_IP, client.ip_value.clone());
    }
    let proto = forwarded_proto(headers, client, websocket, kept);
    if !kept || !headers.contains_key(X_FORWARDED_PORT) {
        let secure = matches!(proto.as_bytes(), b"https" | b"wss");
        let value = match host.and_then(|h| host_port(h.as_bytes())) {
            Some(port) => client.port_value(port),
            None => HeaderValue::from_static(if secure { "443" } else { "80" }),
        };
        headers.insert(X_FORWARDED_PORT, value);
    }
    if policy.add_scheme_headers {
        headers.insert(X_FORWARDED_SCHEME, proto.clone());
        headers.insert(X_SCHEME, proto);
    }
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        if !kept || !headers.contains_key(X_FORWARDED_HOST) {
            headers.insert(X_FORWARDED_HOST, host.clone());
        }
    }
    if let Some(server) = &policy.server {
        headers.insert(X_FORWARDED_SERVER, server.clone());
    }
    managed
}

/// Whether a request has managed headers (`X-Forwarded-*`, `X-Real-Ip`, ...) of the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Managed {
    /// None: an untrusted client's were dropped, or it sent none.
    None,
    /// Some, from a trusted peer.
    Some,
}

impl Managed {
    fn of(headers: &HeaderMap) -> Self {
        if headers.keys().any(is_managed_header) {
            Self::Some
        } else {
            Self::None
        }
    }
}

/// Drops the headers only a trusted peer may set (`X-Forwarded-*`, `X-Real-Ip`, ...), and RFC 7239's
/// `Forwarded`, which Traefik's entrypoint lets through: a backend that reads it would take the
/// client's word for its address, scheme and host.
fn drop_managed(headers: &mut HeaderMap) {
    // Looked for in the pass over the names that runs anyway: a `remove` that misses costs 11-17 ns.
    if headers.keys().any(|n| *n == FORWARDED || is_managed_header(n)) {
        headers.remove(FORWARDED);
        let managed: Vec<HeaderName> = headers.keys().filter(|n| is_managed_header(n)).cloned().collect();
        for name in managed {
            headers.remove(name);
        }
    }
}

/// `X-Forwarded-Proto` as the request has it, or set from the connection (and whether it upgrades to
/// WebSocket).
fn forwarded_proto(headers: &mut HeaderMap, client: &Client, websocket: bool, kept: bool) -> HeaderValue {
    if let Some(value) = headers.get(X_FORWARDED_PROTO).filter(|_| kept) {
        return value.clone();
    }
    let proto = HeaderValue::from_static(match (websocket, client.tls) {
        (true, true) => "wss",
        (true, false) => "ws",
        (false, true) => "https",
        (false, false) => "http",
    });
    headers.insert(X_FORWARDED_PROTO, proto.clone());
    proto
}

/// `X-Forwarded-For`, which Go's reverse proxy sets as the request leaves (after the middlewares):
/// the prior values joined, then the client address — unless `notAppendXForwardedFor`.
pub(crate) fn set_forwarded_for(headers: &mut HeaderMap, client: &Client, policy: &ForwardedPolicy) {
    if !policy.not_append_x_forwarded_for {
        append_forwarded_for(headers, client);
    }
}

/// [`set_forwarded_for`] for a request known to have no `X-Forwarded-For` (its managed headers were
/// just dropped, and no middleware ran since): the client address, without looking for prior values.
pub(crate) fn set_fresh_forwarded_for(headers: &mut HeaderMap, client: &Client, policy: &ForwardedPolicy) {
    if !policy.not_append_x_forwarded_for {
        headers.insert(X_FORWARDED_FOR, client.ip_value.clone());
    }
}

/// `X-Forwarded-For`: the prior values (kept only from trusted peers) joined, then the client address.
fn append_forwarded_for(headers: &mut HeaderMap, client: &Client) {
    let mut prior = headers.get_all(X_FORWARDED_FOR).iter().peekable();
    if prior.peek().is_none() {
        headers.insert(X_FORWARDED_FOR, client.ip_value.clone());
        return;
    }
    let mut joined = Vec::new();
    for value in prior {
        joined.extend_from_slice(value.as_bytes());
        joined.extend_from_slice(b", ");
    }
    joined.extend_from_slice(client.ip_value.as_bytes());
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// The explicit port of a `host[:port]` value, if any.
fn host_port(host: &[u8]) -> Option<u16> {
    let colon = host.iter().rposition(|&b| b == b':')?;
    let port = &host[colon + 1..];
    if port.is_empty() || !port.iter().all(u8::is_ascii_digit) || host[..colon].ends_with(b":") {
        return None;
    }
    std::str::from_utf8(port).ok()?.parse().ok()
}

/// The protocol a request asks to switch to (`Upgrade` named in `Connection`), if any.
pub(crate) fn requested_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let upgrade = headers.get(UPGRADE)?;
    headers
        .get_all(CONNECTION)
        .iter()
        .any(|v| has_token(v, "upgrade"))
        .then(|| upgrade.clone())
}

fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Calls `each` with the map and every header name its `Connection` header lists, lower-cased, but for
/// `X-Forwarded-*` ones, `Host` and `Connection` itself (removed with the hop-by-hop headers).
///
/// It runs for every message that has the header (HTTP/1.1 browsers send `Connection: keep-alive`), so
/// it allocates nothing: a received value is cloned by sharing its bytes.
fn for_each_listed(headers: &mut HeaderMap, mut each: impl FnMut(&mut HeaderMap, &str)) {
    let values = headers.get_all(CONNECTION).iter().count();
    for index in 0..values {
        let Some(value) = headers.get_all(CONNECTION).iter().nth(index).cloned() else {
            break;
        };
        for_each_token(&value, |name| each(headers, name));
    }
}

/// Calls `each` with every header name a `Connection` value lists, lower-cased (on the stack for names
/// of up to 64 bytes), but for `X-Forwarded-*` ones, `Host` and `Connection` itself.
fn for_each_token(value: &HeaderValue, mut each: impl FnMut(&str)) {
    for token in value.as_bytes().split(|&b| b == b',') {
        let token = token.trim_ascii();
        let mut stack = [0u8; 64];
        let heap;
        let lower = if let Some(lower) = stack.get_mut(..token.len()) {
            lower.copy_from_slice(token);
            lower.make_ascii_lowercase();
            &*lower
        } else {
            heap = token.to_ascii_lowercase();
            &heap[..]
        };
        let Ok(name) = std::str::from_utf8(lower) else {
            continue;
        };
        if name.is_empty() || name == HOST || name == CONNECTION || is_managed_header_name(name) {
            continue;
        }
        each(name);
    }
}

/// Takes the `Connection` header out of a message and removes the headers it lists (a listed
/// `keep-alive`, the usual value, is a hop-by-hop header the caller removes if present). One lookup
/// takes out every value; a message with more than four `Connection` lines is read in a second pass.
fn remove_connection_and_listed(headers: &mut HeaderMap) {
    let mut taken: [Option<HeaderValue>; 4] = Default::default();
    let mut more = Vec::new();
    if let http::header::Entry::Occupied(entry) = headers.entry(CONNECTION) {
        for (index, value) in entry.remove_entry_mult().1.enumerate() {
            match taken.get_mut(index) {
                Some(slot) => *slot = Some(value),
                None => more.push(value),
            }
        }
    }
    for value in taken.iter().flatten().chain(&more) {
        for_each_token(value, |name| {
            if name != "keep-alive" {
                headers.remove(name);
            }
        });
    }
}

/// Removes, before the middlewares see the request, the headers its `Connection` header names, but for
/// those `forwardedHeaders.connection` lets through (as Traefik's entrypoint does); they all go when
/// the request leaves, as hop-by-hop headers.
pub(crate) fn remove_connection_listed(headers: &mut HeaderMap, policy: &ForwardedPolicy) {
    if !headers.contains_key(CONNECTION) {
        return;
    }
    for_each_listed(headers, |headers, name| {
        if name != UPGRADE && !policy.connection.iter().any(|kept| kept == name) {
            headers.remove(name);
        }
    });
}

/// Removes hop-by-hop headers and those the `Connection` header names, except `X-Forwarded-*` ones (a
/// client must not be able to strip them by listing them). `TE: trailers` survives, as gRPC needs it.
/// With `upgrade`, the `Connection: Upgrade` / `Upgrade` pair is kept.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, upgrade: Option<HeaderValue>) {
    // Which of them the message has, in one pass over its names: most have none, or only a
    // `Connection: keep-alive`, and every lookup of an absent name still hashes it.
    let mut present = 0u8;
    let mut has_upgrade = false;
    for name in headers.keys() {
        match HOP_BY_HOP.iter().position(|hop| hop == name) {
            Some(index) => present |= 1 << index,
            None => has_upgrade |= *name == UPGRADE,
        }
    }
    if present == 0 && !has_upgrade {
        return;
    }
    let has = |present: u8, name: usize| present & (1 << name) != 0;
    if has(present, HOP_CONNECTION) {
        remove_connection_and_listed(headers);
        present &= !(1 << HOP_CONNECTION);
    }
    let te_trailers = has(present, HOP_TE) && headers.get_all(TE).iter().any(|v| has_token(v, "trailers"));
    if has(present, HOP_TRANSFER_ENCODING) {
        // hyper read the body by its transfer coding and keeps a Content-Length sent beside it, which
        // would frame that body anew for the next hop: cut to its length, a complete-looking lie
        // (RFC 9112 §6.3 has an intermediary drop it).
        headers.remove(CONTENT_LENGTH);
    }
    for (index, name) in HOP_BY_HOP.iter().enumerate() {
        if has(present, index) {
            headers.remove(name);
        }
    }
    if has_upgrade {
        headers.remove(UPGRADE);
    }
    if te_trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
    if let Some(protocol) = upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(UPGRADE, protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_peers_by_cidr() {
        let config = ForwardedHeaders {
            trusted_ips: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        let policy = ForwardedPolicy::new(&config, Some("edge-1")).unwrap();
        assert!(policy.trusts("10.1.2.3".parse().unwrap()));
        assert!(!policy.trusts("192.0.2.1".parse().unwrap()));
    }

    fn client(trusted: bool) -> Client {
        Client::new("192.0.2.7".parse().unwrap(), trusted, false)
    }

    fn policy() -> ForwardedPolicy {
        ForwardedPolicy::new(&ForwardedHeaders::default(), Some("edge")).unwrap()
    }

    #[test]
    fn untrusted_peers_lose_their_forwarded_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.insert("x_real_ip", HeaderValue::from_static("6.6.6.6"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let host = HeaderValue::from_static("example.com:8080");
        set_forwarded(&mut headers, Some(&host), &client(false), &policy(), false);
        set_forwarded_for(&mut headers, &client(false), &policy());
        assert_eq!(headers["x-forwarded-for"], "192.0.2.7");
        assert_eq!(headers["x-real-ip"], "192.0.2.7");
        assert!(!headers.contains_key("x_real_ip"));
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-port"], "8080");
        assert_eq!(headers["x-forwarded-host"], "example.com:8080");
        assert_eq!(headers["x-forwarded-server"], "edge");
    }

    #[test]
    fn trusted_peers_keep_them_and_the_chain_grows() {
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        headers.append("x-forwarded-for", HeaderValue::from_static("2.2.2.2"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        set_forwarded(&mut headers, None, &client(true), &policy(), true);
        set_forwarded_for(&mut headers, &client(true), &policy());
        assert_eq!(headers["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 192.0.2.7");
        assert_eq!(headers["x-forwarded-proto"], "https");
        assert_eq!(headers["x-forwarded-port"], "443");
    }

    #[test]
    fn hop_by_hop_headers_go_but_forwarded_ones_stay() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret, X-Forwarded-For, upgrade"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        headers.insert("te", HeaderValue::from_static("trailers, deflate"));
        headers.insert("upgrade", HeaderValue::from_static("websocket"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        let upgrade = requested_upgrade(&headers);
        assert_eq!(upgrade.as_ref().unwrap(), "websocket");
        remove_hop_by_hop(&mut headers, upgrade);
        assert!(!headers.contains_key("x-secret"));
        assert!(!headers.contains_key("keep-alive"));
        assert_eq!(headers["x-forwarded-for"], "1.2.3.4");
        assert_eq!(headers["te"], "trailers");
        assert_eq!(headers["connection"], "Upgrade");
        assert_eq!(headers["upgrade"], "websocket");
    }

    #[test]
    fn names_listed_on_many_connection_lines_all_go() {
        let mut headers = HeaderMap::new();
        for i in 0..6 {
            headers.append(
                "connection",
                HeaderValue::from_str(&format!("keep-alive, x-l{i}")).unwrap(),
            );
            headers.insert(
                HeaderName::from_bytes(format!("x-l{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("content-length", HeaderValue::from_static("5"));
        headers.insert("x-kept", HeaderValue::from_static("v"));
        remove_hop_by_hop(&mut headers, None);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(
            left,
            ["x-kept"],
            "listed, hop-by-hop, and a length beside a transfer coding go"
        );

        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("Keep-Alive"));
        headers.insert("content-length", HeaderValue::from_static("13"));
        remove_hop_by_hop(&mut headers, None);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["content-length"]);
    }

    #[test]
    fn every_connection_header_lists_names_in_any_case_and_length() {
        let long = format!("x-{}", "a".repeat(80));
        let mut headers = HeaderMap::new();
        headers.append("connection", HeaderValue::from_static("X-One , host"));
        headers.append(
            "connection",
            HeaderValue::from_str(&format!("{}, x-two,,x_real_ip", long.to_uppercase())).unwrap(),
        );
        for name in ["x-one", "x-two", long.as_str(), "host", "x-real-ip", "x-kept"] {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        remove_hop_by_hop(&mut headers, None);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["host", "x-kept", "x-real-ip"]);

        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("x-one, X-Allowed, upgrade"));
        for name in ["x-one", "x-allowed", "upgrade"] {
            headers.insert(name, HeaderValue::from_static("v"));
        }
        let config = ForwardedHeaders {
            connection: vec!["X-Allowed".into()],
            ..Default::default()
        };
        let policy = ForwardedPolicy::new(&config, None).unwrap();
        remove_connection_listed(&mut headers, &policy);
        assert!(!headers.contains_key("x-one"));
        assert!(headers.contains_key("x-allowed") && headers.contains_key("upgrade"));
    }

    #[test]
    fn ports_come_from_the_host_only_when_explicit() {
        assert_eq!(host_port(b"a.example:8443"), Some(8443));
        assert_eq!(host_port(b"[::1]:9000"), Some(9000));
        assert_eq!(host_port(b"[::1]"), None);
        assert_eq!(host_port(b"a.example"), None);
        assert_eq!(host_port(b"a.example:"), None);
    }
}
