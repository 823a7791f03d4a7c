use std::net::{IpAddr, SocketAddr};

use http::HeaderValue;
use http::uri::{Authority, Scheme, Uri};
use switchyard_config::{ServerScheme, ServerUrl, ServerUrlError};

/// The protocol spoken to a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.1 over TCP (`http://`).
    Http1,
    /// HTTP/2 with prior knowledge over TCP (`h2c://`).
    H2c,
    /// HTTPS (`https://`).
    Https,
}

/// A backend server's address, from its URL as validation parsed it.
///
/// ```
/// use switchyard_proxy::{Origin, Protocol};
///
/// let origin = Origin::parse("h2c://10.0.0.7:50051/base").unwrap();
/// assert_eq!(origin.protocol(), Protocol::H2c);
/// assert_eq!(origin.authority().as_str(), "10.0.0.7:50051");
/// assert_eq!(origin.path(), "/base");
/// assert_eq!(Origin::parse("http://api.internal").unwrap().port(), 80);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    protocol: Protocol,
    authority: Authority,
    host: String,
    port: u16,
    address: Option<SocketAddr>,
    host_header: HeaderValue,
    path: String,
}

/// Why a server URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server URL `{url}`: {reason}")]
pub struct OriginError {
    url: String,
    reason: ServerUrlError,
}

impl Origin {
    /// Parses a server URL (`http://`, `https://` or `h2c://`).
    pub fn parse(url: &str) -> Result<Self, OriginError> {
        let parsed = ServerUrl::parse(url).map_err(|reason| OriginError {
            url: url.to_owned(),
            reason,
        })?;
        Ok(Self::from(&parsed))
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// `host[:port]` as written in the URL.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The host name or IP address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address when the host is an IP literal (no name resolution needed).
    pub fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    /// The `Host` header value sent when the client's is not passed on.
    pub fn host_header(&self) -> &HeaderValue {
        &self.host_header
    }

    /// The URL's path without a trailing slash (`""` for none); prefixed to request paths with `preservePath`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The scheme of absolute request URIs sent over HTTP/2.
    pub(crate) fn scheme(&self) -> Scheme {
        match self.protocol {
            Protocol::Https => Scheme::HTTPS,
            Protocol::Http1 | Protocol::H2c => Scheme::HTTP,
        }
    }

    /// Turns a request head prepared for HTTP/1.1 (origin-form URI, `Host` header) into the form
    /// HTTP/2 needs: an absolute URI whose authority is the `Host` header (this origin's when there is
    /// none usable), no `Host` header, version 2.
    pub(crate) fn rewrite_for_http2(&self, parts: &mut http::request::Parts) -> Result<(), super::UpstreamError> {
        let authority = parts
            .headers
            .remove(http::header::HOST)
            .and_then(|host| Authority::try_from(host.as_bytes()).ok())
            .unwrap_or_else(|| self.authority.clone());
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(self.scheme());
        uri.authority = Some(authority);
        uri.path_and_query = Some(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        );
        parts.uri =
            Uri::from_parts(uri).map_err(|_| super::UpstreamError::Unsupported("cannot build the backend URI"))?;
        parts.version = http::Version::HTTP_2;
        Ok(())
    }
}

impl From<&ServerUrl> for Origin {
    fn from(url: &ServerUrl) -> Self {
        let protocol = match url.scheme() {
            ServerScheme::Http => Protocol::Http1,
            ServerScheme::H2c => Protocol::H2c,
            ServerScheme::Https => Protocol::Https,
        };
        let authority = url.authority().clone();
        // An authority is made of bytes a header value may hold.
        let host_header = HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(authority.as_str().as_bytes()))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        Self {
            protocol,
            address: url
                .host()
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, url.port())),
            host: url.host().to_owned(),
            port: url.port(),
            host_header,
            path: url.path().trim_end_matches('/').to_owned(),
            authority,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports_and_literals() {
        let origin = Origin::parse("http://[::1]:8080").unwrap();
        assert_eq!(origin.host(), "::1");
        assert_eq!(origin.address(), Some("[::1]:8080".parse().unwrap()));
        assert_eq!(Origin::parse("https://example.com").unwrap().port(), 443);
        assert!(Origin::parse("ftp://x").is_err());
        assert!(Origin::parse("http://").is_err());
        assert_eq!(Origin::parse("http://backend").unwrap().address(), None);
    }
}
