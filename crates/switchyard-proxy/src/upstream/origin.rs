use std::net::{IpAddr, SocketAddr};

use http::HeaderValue;
use http::uri::{Authority, Scheme, Uri};

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

/// A backend server's address, parsed once when the configuration is compiled.
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
    reason: &'static str,
}

impl Origin {
    /// Parses a server URL (`http://`, `https://` or `h2c://`).
    pub fn parse(url: &str) -> Result<Self, OriginError> {
        let error = |reason| OriginError {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|_| error("not a valid URL"))?;
        let (protocol, default_port) = match uri.scheme_str() {
            Some("http") => (Protocol::Http1, 80),
            Some("h2c") => (Protocol::H2c, 80),
            Some("https") => (Protocol::Https, 443),
            _ => return Err(error("the scheme must be http, https or h2c")),
        };
        let authority = uri.authority().cloned().ok_or_else(|| error("the URL has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(error("the URL has no host"));
        }
        let port = authority.port_u16().unwrap_or(default_port);
        let address = host.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port));
        let host_header =
            HeaderValue::from_str(authority.as_str()).map_err(|_| error("the host is not a valid header value"))?;
        let path = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            protocol,
            authority,
            host,
            port,
            address,
            host_header,
            path,
        })
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
