//! The parts of a request that rules look at, normalised once per request.

use std::net::IpAddr;

use http::request::Parts;
use http::{HeaderMap, Method};
use smallvec::SmallVec;

use crate::error::RequestError;

/// Hosts and paths up to this many bytes are normalised on the stack.
const INLINE: usize = 256;

/// A borrowed view of a request, normalised the way Traefik's rules see it.
///
/// Building one does the per-request work that every matcher shares, once:
///
/// - the **host** comes from the URI authority (HTTP/2 `:authority`, absolute-form HTTP/1.1) or else
///   the `Host` header; its port and IPv6 brackets are removed, surrounding spaces trimmed, and it is
///   lowercased;
/// - the **routing path** is the URI path with every percent-escape of an unreserved character
///   decoded (`/foo%20bar` → `/foo bar`) while escapes of reserved characters (`%2F`, `%3F`, `%25`,
///   …) stay encoded, written with upper-case hex. An invalid escape is a [`RequestError`], which a
///   proxy answers with `400 Bad Request`.
///
/// Neither step allocates unless the host or path is longer than 256 bytes and needs rewriting.
///
/// ```
/// use switchyard_rules::RequestView;
///
/// let req = http::Request::get("http://Example.COM:8443/caf%C3%A9/a%2fb?x=1").body(()).unwrap();
/// let (parts, _) = req.into_parts();
/// let view = RequestView::new(&parts, None).unwrap();
/// assert_eq!(view.host(), b"example.com");
/// assert_eq!(view.path(), "/café/a%2Fb".as_bytes());
/// assert_eq!(view.query(), b"x=1");
/// ```
#[derive(Debug)]
pub struct RequestView<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    host: Normalized<'a>,
    path: Normalized<'a>,
    query: &'a [u8],
    client_ip: Option<IpAddr>,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "the inline buffer is the point: a view lives on the stack for one request"
)]
enum Normalized<'a> {
    Borrowed(&'a [u8]),
    Owned(SmallVec<[u8; INLINE]>),
}

impl Normalized<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Borrowed(b) => b,
            Self::Owned(v) => v,
        }
    }
}

impl<'a> RequestView<'a> {
    /// Builds the view from a request's head and the address of the peer that sent it (used by
    /// `ClientIP`; `None` makes every `ClientIP` matcher fail).
    pub fn new(parts: &'a Parts, client_ip: Option<IpAddr>) -> Result<Self, RequestError> {
        let raw_host = match parts.uri.authority() {
            Some(authority) => without_userinfo(authority.as_str().as_bytes()),
            None => parts.headers.get(http::header::HOST).map_or(&b""[..], |v| v.as_bytes()),
        };
        Ok(Self {
            method: &parts.method,
            headers: &parts.headers,
            host: canonical_host(raw_host),
            path: routing_path(parts.uri.path().as_bytes())?,
            query: parts.uri.query().unwrap_or_default().as_bytes(),
            client_ip: client_ip.map(|ip| ip.to_canonical()),
        })
    }

    /// The canonical host: lowercased, without port or IPv6 brackets. Empty when the request has none.
    pub fn host(&self) -> &[u8] {
        self.host.as_bytes()
    }

    /// The routing path (see the type's documentation).
    pub fn path(&self) -> &[u8] {
        self.path.as_bytes()
    }

    /// The raw query string, without the `?`.
    pub fn query(&self) -> &[u8] {
        self.query
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The client address, with IPv4-mapped IPv6 addresses turned into IPv4.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }
}

/// The `host[:port]` part of a URI authority: Go's URL parser keeps `user:password@` apart from the host.
fn without_userinfo(authority: &[u8]) -> &[u8] {
    match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    }
}

/// Traefik's canonical host: Go's `SplitHostPort` when there is a colon, then trim and lowercase.
fn canonical_host(raw: &[u8]) -> Normalized<'_> {
    let host = strip_port(raw).trim_ascii();
    if host.iter().any(u8::is_ascii_uppercase) {
        Normalized::Owned(host.iter().map(u8::to_ascii_lowercase).collect())
    } else {
        Normalized::Borrowed(host)
    }
}

/// Removes the port the way Go's `net.SplitHostPort` does, keeping the input where Go would fail
/// (except that a bracketed IPv6 literal without port loses its brackets, as in Traefik).
fn strip_port(addr: &[u8]) -> &[u8] {
    let Some(last_colon) = addr.iter().rposition(|&b| b == b':') else {
        return addr;
    };
    let split = if addr[0] == b'[' {
        match addr.iter().position(|&b| b == b']') {
            Some(end) if end + 1 == last_colon => Some((&addr[1..end], 1, end + 1)),
            _ => None,
        }
    } else {
        let host = &addr[..last_colon];
        (!host.contains(&b':')).then_some((host, 0, 0))
    };
    match split {
        Some((host, open_from, close_from))
            if !addr[open_from..].contains(&b'[') && !addr[close_from..].contains(&b']') =>
        {
            host
        }
        _ if addr.len() > 1 && addr[0] == b'[' && addr[addr.len() - 1] == b']' => &addr[1..addr.len() - 1],
        _ => addr,
    }
}

/// Characters whose escapes keep their meaning in a path, so the routing path keeps them encoded
/// (RFC 3986 gen-delims and sub-delims, plus `%` itself).
fn is_reserved(byte: u8) -> bool {
    matches!(
        byte,
        b':' | b'/'
            | b'?'
            | b'#'
            | b'['
            | b']'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'%'
    )
}

fn routing_path(raw: &[u8]) -> Result<Normalized<'_>, RequestError> {
    if !raw.contains(&b'%') {
        return Ok(Normalized::Borrowed(raw));
    }
    let mut out = SmallVec::<[u8; INLINE]>::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'%' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        push_decoded(&mut out, percent_decoded(raw, i)?);
        i += 3;
    }
    Ok(Normalized::Owned(out))
}

/// The byte the `%XX` escape at `raw[i]` stands for.
#[inline]
fn percent_decoded(raw: &[u8], i: usize) -> Result<u8, RequestError> {
    raw.get(i + 1..i + 3)
        .and_then(|hex| Some(hex_digit(hex[0])? << 4 | hex_digit(hex[1])?))
        .ok_or(RequestError::InvalidPercentEncoding { offset: i })
}

/// Adds a decoded byte to the routing path; a reserved character stays escaped, in upper case.
#[inline]
fn push_decoded(out: &mut SmallVec<[u8; INLINE]>, decoded: u8) {
    if is_reserved(decoded) {
        out.extend_from_slice(&[
            b'%',
            HEX_UPPER[usize::from(decoded >> 4)],
            HEX_UPPER[usize::from(decoded & 15)],
        ]);
    } else {
        out.push(decoded);
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(raw: &str) -> String {
        String::from_utf8(canonical_host(raw.as_bytes()).as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn host_like_go_split_host_port() {
        assert_eq!(host_of("Example.com"), "example.com");
        assert_eq!(host_of("example.com:8080"), "example.com");
        assert_eq!(host_of("example.com:"), "example.com");
        assert_eq!(host_of("[::1]:443"), "::1");
        assert_eq!(host_of("[::1]"), "::1");
        assert_eq!(host_of("::1"), "::1");
        assert_eq!(host_of("[::1]x"), "[::1]x");
        assert_eq!(host_of("a:b:c"), "a:b:c");
        assert_eq!(host_of("a]:80"), "a]:80");
        assert_eq!(host_of(" Spaced.Example "), "spaced.example");
        assert_eq!(host_of(""), "");
    }

    #[test]
    fn routing_path_decodes_unreserved_only() {
        let path = |raw: &str| routing_path(raw.as_bytes()).map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned());
        assert_eq!(path("/foo%20bar").unwrap(), "/foo bar");
        assert_eq!(path("/%61dmin").unwrap(), "/admin");
        assert_eq!(path("/a%2fb%2Fc").unwrap(), "/a%2Fb%2Fc");
        assert_eq!(path("/%25%3f%23").unwrap(), "/%25%3F%23");
        assert_eq!(path("/plain").unwrap(), "/plain");
        assert_eq!(
            path("/bad%2").unwrap_err(),
            RequestError::InvalidPercentEncoding { offset: 4 }
        );
        assert_eq!(
            path("/bad%zz/x").unwrap_err(),
            RequestError::InvalidPercentEncoding { offset: 4 }
        );
        assert_eq!(
            path("%").unwrap_err(),
            RequestError::InvalidPercentEncoding { offset: 0 }
        );
    }

    #[test]
    fn host_header_used_without_authority() {
        let req = http::Request::get("/x")
            .header("host", "API.example.com:80")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        let view = RequestView::new(&parts, Some("::ffff:10.0.0.1".parse().unwrap())).unwrap();
        assert_eq!(view.host(), b"api.example.com");
        assert_eq!(view.client_ip(), Some("10.0.0.1".parse().unwrap()));
    }
}
