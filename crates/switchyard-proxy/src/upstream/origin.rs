use std::net::{IpAddr, SocketAddr};

use http::HeaderValue;
use http::uri::{Authority, Scheme, Uri};
use switchyard_config::{ServerScheme, ServerUrl};

/// The protocol spoken to a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Protocol {
    /// HTTP/1.1 over TCP (`http://`).
    Http1,
    /// HTTP/2 with prior knowledge over TCP (`h2c://`).
    H2c,
    /// HTTPS (`https://`).
    Https,
}

/// A backend server's address, from its URL as validation parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    protocol: Protocol,
    authority: Authority,
    host: String,
    port: u16,
    address: Option<SocketAddr>,
    host_header: HeaderValue,
    path: String,
}

impl Origin {
    /// The protocol.
    pub(crate) fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// `host[:port]` as written in the URL.
    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The host name or IP address, without brackets.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The socket address when the host is an IP literal (no name resolution needed).
    pub(crate) fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    /// The `Host` header value sent when the client's is not passed on.
    pub(crate) fn host_header(&self) -> &HeaderValue {
        &self.host_header
    }

    /// The URL's path without a trailing slash (`""` for none); prefixed to request paths with `preservePath`.
    pub(crate) fn path(&self) -> &str {
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
    fn origins_from_urls() {
        let origin = Origin::from(&ServerUrl::parse("h2c://10.0.0.7:50051/base").unwrap());
        assert_eq!(origin.protocol(), Protocol::H2c);
        assert_eq!(origin.authority().as_str(), "10.0.0.7:50051");
        assert_eq!(origin.path(), "/base");
        assert_eq!(
            Origin::from(&ServerUrl::parse("http://api.internal").unwrap()).port(),
            80
        );
    }

    #[test]
    fn parses_ports_and_literals() {
        let origin = |url: &str| Origin::from(&ServerUrl::parse(url).unwrap());
        let literal = origin("http://[::1]:8080");
        assert_eq!(literal.host(), "::1");
        assert_eq!(literal.address(), Some("[::1]:8080".parse().unwrap()));
        assert_eq!(origin("https://example.com").port(), 443);
        assert!(ServerUrl::parse("ftp://x").is_err());
        assert!(ServerUrl::parse("http://").is_err());
        assert_eq!(origin("http://backend").address(), None);
        assert_eq!(
            origin("http://backend/base/").path(),
            "/base",
            "no trailing slash for preservePath"
        );
    }
}
