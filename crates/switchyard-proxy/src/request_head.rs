//! What an entrypoint checks in a request's head before routing: its host, and header names with
//! underscores.
//!
//! HTTP/1.1 requires exactly one valid `Host` header (RFC 9112 §3.2); requests without one, with several
//! or with a malformed one are refused with 400 and Go's texts, as Traefik answers them. When the request
//! target carries an authority (absolute-form in HTTP/1.1, `:authority` in HTTP/2), that authority is
//! the host for routing and forwarding, whatever a `Host` header says (RFC 9112 §3.2.2): the header is
//! set to it.
//!
//! `http.underscoreHeadersStrategy` keeps header names with underscores (the default), deletes them,
//! or refuses the request, as Traefik does: some backends read `X_Forwarded_For` as `X-Forwarded-For`.

use http::header::HOST;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Version};

/// Why a request's host is refused (400, with Go's text as the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HostError {
    /// An HTTP/1.1 request without `Host`.
    #[error("400 Bad Request: missing required Host header")]
    Missing,
    /// More than one `Host` header.
    #[error("400 Bad Request: too many Host headers")]
    TooMany,
    /// A `Host` header with bytes no host has.
    #[error("400 Bad Request: malformed Host header")]
    Malformed,
}

/// Checks the `Host` headers of an HTTP/1 request read from the wire.
pub(crate) fn check_http1(parts: &Parts) -> Result<(), HostError> {
    if parts.version > Version::HTTP_11 {
        return Ok(());
    }
    let mut hosts = parts.headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if parts.version == Version::HTTP_11 => Err(HostError::Missing),
        (Some(_), Some(_)) => Err(HostError::TooMany),
        (Some(host), None) if !host.as_bytes().iter().all(|&b| is_host_byte(b)) => Err(HostError::Malformed),
        _ => Ok(()),
    }
}

/// Makes the `Host` header the target's authority when the target has one.
pub(crate) fn align_with_target(parts: &mut Parts) -> Result<(), HostError> {
    if let Some(authority) = parts.uri.authority() {
        let host = authority.as_str();
        let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
        if parts.headers.get(HOST).is_none_or(|h| h.as_bytes() != host.as_bytes()) {
            let value = HeaderValue::from_str(host).map_err(|_| HostError::Malformed)?;
            parts.headers.insert(HOST, value);
        }
    }
    Ok(())
}

/// `Transfer-Encoding` and `Content-Length` as a server that reads `_` as `-` would take them.
const TRANSFER_ENCODING_: HeaderName = HeaderName::from_static("transfer_encoding");
const CONTENT_LENGTH_: HeaderName = HeaderName::from_static("content_length");

/// `http.underscoreHeadersStrategy`: what becomes of request headers whose name has an underscore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum UnderscoreHeaders {
    /// Forwarded as they are.
    #[default]
    Keep,
    /// Removed before routing.
    Delete,
    /// The request is refused with 400.
    Reject,
}

impl UnderscoreHeaders {
    /// Traefik's names: `keep`, `delete`, `reject`.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "" | "keep" => Some(Self::Keep),
            "delete" => Some(Self::Delete),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }

    /// Applies the strategy; `Err` when the request must be refused.
    ///
    /// `keep` still drops `transfer_encoding` and `content_length`: hyper framed the request without
    /// them, and a backend that reads `_` as `-` would frame it by them, finding in the body a request
    /// of the client's making on a pooled connection other clients share.
    pub(crate) fn apply(self, headers: &mut HeaderMap) -> Result<(), ()> {
        if self == Self::Keep {
            // Compared as names, a standard header is told apart by its tag: 5 ns for 8 headers,
            // where looking for `_` in every name takes 50.
            if headers
                .keys()
                .any(|name| *name == TRANSFER_ENCODING_ || *name == CONTENT_LENGTH_)
            {
                headers.remove(TRANSFER_ENCODING_);
                headers.remove(CONTENT_LENGTH_);
            }
            return Ok(());
        }
        if !headers.keys().any(|name| name.as_str().contains('_')) {
            return Ok(());
        }
        if self == Self::Reject {
            return Err(());
        }
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().contains('_'))
            .cloned()
            .collect();
        for name in names {
            headers.remove(name);
        }
        Ok(())
    }
}

/// Bytes Go's server accepts in a `Host` header (`httpguts.ValidHostHeader`).
fn is_host_byte(byte: u8) -> bool {
    HOST_BYTES[usize::from(byte)]
}

/// [`is_host_byte`] as a table: one load per byte of every request's host.
const HOST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'-'
                    | b'.'
                    | b':'
                    | b';'
                    | b'='
                    | b'['
                    | b']'
                    | b'_'
                    | b'~'
            );
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(request: http::request::Builder) -> Result<Parts, HostError> {
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        check_http1(&parts).and_then(|()| align_with_target(&mut parts))?;
        Ok(parts)
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        let base = || http::Request::get("/").version(Version::HTTP_11);
        assert_eq!(settled(base()).unwrap_err(), HostError::Missing);
        assert_eq!(
            settled(base().header("host", "a").header("host", "b")).unwrap_err(),
            HostError::TooMany
        );
        assert_eq!(settled(base().header("host", "a b")).unwrap_err(), HostError::Malformed);
        assert_eq!(settled(base().header("host", "a/b")).unwrap_err(), HostError::Malformed);
        assert!(settled(base().header("host", "[::1]:80")).is_ok());
        assert!(settled(base().header("host", "")).is_ok());
    }

    #[test]
    fn underscore_headers_are_kept_deleted_or_refused() {
        let headers = || {
            let mut headers = HeaderMap::new();
            headers.insert("x_forwarded_for", "203.0.113.9".parse().unwrap());
            headers.insert("x-real", "1".parse().unwrap());
            headers
        };
        let mut kept = headers();
        assert!(UnderscoreHeaders::Keep.apply(&mut kept).is_ok() && kept.len() == 2);
        let mut deleted = headers();
        assert!(UnderscoreHeaders::Delete.apply(&mut deleted).is_ok());
        assert_eq!(deleted.keys().collect::<Vec<_>>(), ["x-real"]);
        assert!(UnderscoreHeaders::Reject.apply(&mut headers()).is_err());
        let mut framing = headers();
        framing.insert("transfer_encoding", "chunked".parse().unwrap());
        framing.insert("content_length", "5".parse().unwrap());
        assert!(UnderscoreHeaders::Keep.apply(&mut framing).is_ok());
        assert_eq!(framing.keys().collect::<Vec<_>>(), ["x_forwarded_for", "x-real"]);
        assert_eq!(UnderscoreHeaders::parse("sideways"), None);
    }

    #[test]
    fn http10_may_go_without_host() {
        let parts = settled(http::Request::get("/").version(Version::HTTP_10)).unwrap();
        assert!(parts.headers.get(HOST).is_none());
    }

    #[test]
    fn the_target_authority_wins_over_the_host_header() {
        let parts = settled(http::Request::get("http://user@target.example:81/x").header("host", "other")).unwrap();
        assert_eq!(parts.headers[HOST], "target.example:81");
        let parts = settled(http::Request::get("http://target.example/x").version(Version::HTTP_2)).unwrap();
        assert_eq!(parts.headers[HOST], "target.example");
    }
}
