//! A backend server's URL, checked once: validation parses every `loadBalancer.servers[].url` into a
//! [`ServerUrl`], and what builds connections from it reads the parsed parts.

use http::uri::{Authority, Uri};

/// How a server is spoken to, from its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerScheme {
    /// `http://`: HTTP/1.1 over TCP.
    Http,
    /// `h2c://`: HTTP/2 with prior knowledge over TCP.
    H2c,
    /// `https://`: HTTP over TLS.
    Https,
}

/// A parsed server URL: `http://`, `https://` or `h2c://`, with a host.
///
/// ```
/// use switchyard_config::{ServerScheme, ServerUrl};
///
/// let url = ServerUrl::parse("h2c://10.0.0.7:50051/base").unwrap();
/// assert_eq!(url.scheme(), ServerScheme::H2c);
/// assert_eq!((url.host(), url.port(), url.path()), ("10.0.0.7", 50051, "/base"));
/// assert_eq!(ServerUrl::parse("https://[::1]").unwrap().port(), 443);
/// assert!(ServerUrl::parse("ftp://files").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerUrl {
    scheme: ServerScheme,
    authority: Authority,
    host: String,
    port: u16,
    path: String,
}

/// Why a server URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerUrlError {
    /// Not a URL at all.
    #[error("not a valid URL")]
    Invalid,
    /// Another scheme than `http`, `https` or `h2c`, or none.
    #[error("the scheme must be http, https or h2c")]
    Scheme,
    /// No host.
    #[error("the URL has no host")]
    NoHost,
}

impl ServerUrl {
    /// Parses a server URL.
    pub fn parse(url: &str) -> Result<Self, ServerUrlError> {
        let uri: Uri = url.parse().map_err(|_| ServerUrlError::Invalid)?;
        let (scheme, default_port) = match uri.scheme_str() {
            Some("http") => (ServerScheme::Http, 80),
            Some("h2c") => (ServerScheme::H2c, 80),
            Some("https") => (ServerScheme::Https, 443),
            _ => return Err(ServerUrlError::Scheme),
        };
        let authority = uri.authority().cloned().ok_or(ServerUrlError::NoHost)?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(ServerUrlError::NoHost);
        }
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(default_port),
            authority,
            path: uri.path().to_owned(),
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> ServerScheme {
        self.scheme
    }

    /// `host[:port]` as written.
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

    /// The path, as written.
    pub fn path(&self) -> &str {
        &self.path
    }
}
