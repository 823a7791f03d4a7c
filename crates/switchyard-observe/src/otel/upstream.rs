//! Where an attempt goes, as its client span describes it: the server URL's scheme, address and port,
//! worked out and encoded once per server URL and thread rather than parsed again for every attempt.
//!
//! A server's URL changes only with the configuration, while every attempt at it needs the same
//! `url.scheme`, `server.*` and `network.peer.*` attributes; each worker thread keeps what it has
//! worked out in a small table (emptied when it grows past [`KEEP`] URLs, so that servers that come and
//! go with reloads cannot make it grow without end).

use std::cell::RefCell;
use std::collections::HashMap;

use http::Uri;

use super::proto;
use super::span::ATTR;

/// Server URLs a thread remembers at most.
const KEEP: usize = 1024;

thread_local! {
    static KNOWN: RefCell<HashMap<Box<str>, Upstream, foldhash::fast::FixedState>> =
        RefCell::new(HashMap::with_hasher(foldhash::fast::FixedState::default()));
}

/// Where an attempt goes: see the [module](self).
#[derive(Debug)]
pub(super) struct Upstream {
    pub(super) scheme: Box<str>,
    /// Whether the authority carries user info (redacted in `url.full`).
    pub(super) userinfo: bool,
    /// `host[:port]`, without user info.
    pub(super) host_port: Box<str>,
    /// The server URL's path, without its trailing `/`.
    pub(super) prefix: Box<str>,
    /// `url.scheme`, `server.address`, `server.port`, `network.peer.address` and `network.peer.port`,
    /// encoded as span attributes.
    pub(super) attributes: Box<[u8]>,
}

impl Upstream {
    /// Calls `f` with where an attempt at `server` with the request target `uri` goes: the URI's own
    /// scheme and authority when it is absolute, else the server URL's.
    pub(super) fn with<R>(server: &str, uri: &Uri, f: impl FnOnce(&Self) -> R) -> R {
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            return f(&Self::new(scheme, authority.as_str(), ""));
        }
        KNOWN.with_borrow_mut(|known| {
            if let Some(upstream) = known.get(server) {
                return f(upstream);
            }
            if known.len() >= KEEP {
                known.clear();
            }
            let (scheme, authority, prefix) = split_url(server);
            f(known
                .entry(server.into())
                .or_insert_with(|| Self::new(scheme, authority, prefix)))
        })
    }

    fn new(scheme: &str, authority: &str, prefix: &str) -> Self {
        let (userinfo, host_port) = authority
            .rsplit_once('@')
            .map_or((false, authority), |(_, hp)| (true, hp));
        let mut attributes = Vec::new();
        proto::attr_str(&mut attributes, ATTR, "url.scheme", scheme);
        if !host_port.is_empty() {
            let (host, port) = split_host_port(host_port);
            let port = port.or_else(|| default_port(scheme));
            for (address_key, port_key) in [
                ("server.address", "server.port"),
                ("network.peer.address", "network.peer.port"),
            ] {
                proto::attr_str(&mut attributes, ATTR, address_key, host);
                if let Some(port) = port {
                    proto::attr_int(&mut attributes, ATTR, port_key, i64::from(port));
                }
            }
        }
        Self {
            scheme: scheme.into(),
            userinfo,
            host_port: host_port.into(),
            prefix: prefix.trim_end_matches('/').into(),
            attributes: attributes.into_boxed_slice(),
        }
    }

    /// The `host:port` a SkyWalking `sw8` names as the target of an upstream call.
    pub(super) fn address(&self) -> String {
        let (host, port) = split_host_port(&self.host_port);
        match port.or_else(|| default_port(&self.scheme)) {
            Some(port) if host.contains(':') => format!("[{host}]:{port}"),
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

/// A URL's scheme, authority and path (`http` when it has no scheme).
fn split_url(url: &str) -> (&str, &str, &str) {
    let colon = url.find(':').filter(|&i| url[i..].starts_with("://"));
    let (scheme, rest) = colon.map_or(("http", url), |i| (&url[..i], &url[i + 3..]));
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (authority, path) = rest.find('/').map_or((rest, ""), |slash| rest.split_at(slash));
    (scheme, authority, path)
}

/// The host (without IPv6 brackets) and port of `host[:port]`.
pub(super) fn split_host_port(host_port: &str) -> (&str, Option<u16>) {
    if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']').unwrap_or((bracketed, ""));
        return (host, rest.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    // Every server span splits its request's `Host`: bytes, not the generic pattern search.
    let bytes = host_port.as_bytes();
    match bytes.iter().rposition(|&b| b == b':') {
        Some(colon) if !bytes[..colon].contains(&b':') => (&host_port[..colon], port(&bytes[colon + 1..])),
        _ => (host_port, None),
    }
}

/// A port number: one to five decimal digits, at most 65535.
fn port(digits: &[u8]) -> Option<u16> {
    if !(1..=5).contains(&digits.len()) {
        return None;
    }
    let value = digits
        .iter()
        .try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))?;
    u16::try_from(value).ok()
}

/// The port a scheme implies.
pub(super) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_is_split_once_and_remembered_per_thread() {
        let uri = Uri::from_static("/api?x=1");
        let server = "https://user:pw@[2001:db8::1]:8443/base/";
        let seen = Upstream::with(server, &uri, |u| {
            (
                u.scheme.to_string(),
                u.userinfo,
                u.host_port.to_string(),
                u.prefix.to_string(),
            )
        });
        assert_eq!(
            seen,
            ("https".into(), true, "[2001:db8::1]:8443".into(), "/base".into())
        );
        assert!(KNOWN.with_borrow(|known| known.contains_key(server)));
        assert_eq!(Upstream::with(server, &uri, Upstream::address), "[2001:db8::1]:8443");
        let absolute = Uri::from_static("http://example.com/x");
        assert_eq!(Upstream::with(server, &absolute, Upstream::address), "example.com:80");
        assert_eq!(Upstream::with("10.0.0.1", &uri, |u| u.scheme.to_string()), "http");
    }

    #[test]
    fn hosts_and_ports_split_as_urls_write_them() {
        assert_eq!(split_host_port("example.com:8443"), ("example.com", Some(8443)));
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:80"), ("::1", Some(80)));
        assert_eq!(split_host_port("::1"), ("::1", None));
        assert_eq!(split_host_port("a:65536"), ("a", None));
        assert_eq!(split_host_port("a:"), ("a", None));
        assert_eq!(split_host_port("a:8x"), ("a", None));
        assert_eq!(split_host_port("a:000080"), ("a", None));
    }

    #[test]
    fn the_table_is_emptied_rather_than_grown_past_its_bound() {
        let uri = Uri::from_static("/");
        for i in 0..=KEEP + 10 {
            Upstream::with(&format!("http://10.0.{}.{}:80", i / 256, i % 256), &uri, |_| ());
        }
        assert!(KNOWN.with_borrow(HashMap::len) <= KEEP);
    }
}
