//! Active health probes: one server's HTTP or gRPC check, with Traefik's options (path, port,
//! scheme, method, hostname, headers, expected status, redirects, timeout), over TLS when the server
//! or `scheme` says `https`.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, LOCATION, TE};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use switchyard_config::{HealthCheckMode, ServerHealthCheck, ServerScheme, ServerUrl};
use tokio::net::TcpStream;

use crate::upstream::TlsTarget;

/// The most redirects a probe follows, as Go's HTTP client.
const MAX_REDIRECTS: usize = 10;

/// A server's probe, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    mode: HealthCheckMode,
    uri: Uri,
    method: Method,
    host: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
    expected: Option<StatusCode>,
    follow_redirects: bool,
    timeout: Duration,
    /// The TLS settings of an `https` probe.
    #[cfg_attr(not(feature = "tls"), allow(dead_code, reason = "HTTPS needs the tls feature"))]
    tls: Option<TlsTarget>,
}

/// An open connection to probe over.
enum Sender<B> {
    Http1(http1::SendRequest<B>),
    Http2(http2::SendRequest<B>),
}

/// Why a probe configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("health check path must be a relative URL, got `{0}`")]
    AbsolutePath(String),
    #[error("the probe URL `{0}` is not valid")]
    Uri(String),
    #[error("`{0}` is not a valid HTTP method")]
    Method(String),
    #[error("header `{0}` is not valid")]
    Header(String),
    #[error("`{0}` is not a valid status code")]
    Status(u16),
    #[error("HTTPS health checks need switchyard's `tls` feature, which this build does not have")]
    Https,
}

impl Probe {
    /// The probe of the server at `server` (`http://host:port[/base]`); `tls` carries an `https`
    /// probe.
    pub(crate) fn new(
        config: &ServerHealthCheck,
        server: &ServerUrl,
        tls: Option<TlsTarget>,
    ) -> Result<Self, ProbeError> {
        let method = if config.method.is_empty() {
            "GET"
        } else {
            config.method.as_str()
        };
        let host = (!config.hostname.is_empty())
            .then(|| HeaderValue::from_str(&config.hostname).map_err(|_| ProbeError::Header("Host".into())))
            .transpose()?;
        let expected = match config.status {
            0 => None,
            code => Some(StatusCode::from_u16(code).map_err(|_| ProbeError::Status(code))?),
        };
        Ok(Self {
            mode: config.mode,
            uri: probe_uri(config, server, tls.is_some())?,
            method: Method::from_bytes(method.as_bytes()).map_err(|_| ProbeError::Method(method.to_owned()))?,
            host,
            headers: probe_headers(config)?,
            expected,
            follow_redirects: config.follow_redirects,
            timeout: config.timeout.to_std().unwrap_or(Duration::from_secs(5)),
            tls,
        })
    }

    /// Runs the probe once: `Ok` when the server is healthy, else why not.
    pub(crate) async fn run(&self) -> Result<(), String> {
        let run = async {
            match self.mode {
                HealthCheckMode::Http => self.http().await,
                HealthCheckMode::Grpc => self.grpc().await,
            }
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))?
    }

    async fn http(&self) -> Result<(), String> {
        let mut uri = self.uri.clone();
        for _ in 0..=MAX_REDIRECTS {
            let status = self.request_http1(&uri).await?;
            let (status, location) = status;
            let redirect = status.is_redirection() && status != StatusCode::NOT_MODIFIED;
            match (redirect && self.follow_redirects, location) {
                (true, Some(location)) => uri = resolve(&uri, &location)?,
                _ => return self.judge(status),
            }
        }
        Err(format!("stopped after {MAX_REDIRECTS} redirects"))
    }

    fn judge(&self, status: StatusCode) -> Result<(), String> {
        match self.expected {
            Some(expected) if status != expected => Err(format!("received status {status}, expected {expected}")),
            None if !(200..400).contains(&status.as_u16()) => Err(format!("received status {status}")),
            _ => Ok(()),
        }
    }

    async fn connect(uri: &Uri) -> Result<TcpStream, String> {
        let host = uri
            .host()
            .unwrap_or("localhost")
            .trim_start_matches('[')
            .trim_end_matches(']');
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// A connection to `uri`'s server: over TLS for `https`, with HTTP/2 when asked or when the TLS
    /// handshake chose it.
    async fn open<B>(&self, uri: &Uri, http2: bool) -> Result<Sender<B>, String>
    where
        B: Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let tcp = Self::connect(uri).await?;
        #[cfg(feature = "tls")]
        if uri.scheme_str() == Some("https") {
            let tls = self.tls.as_ref().ok_or("an https probe without TLS settings")?;
            let stream = tls
                .handshake(tcp, false)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            let http2 = http2 || crate::upstream::negotiated_h2(&stream);
            return handshake(TokioIo::new(stream), http2).await;
        }
        handshake(TokioIo::new(tcp), http2).await
    }

    async fn request_http1(&self, uri: &Uri) -> Result<(StatusCode, Option<String>), String> {
        let sender = self.open::<Empty<Bytes>>(uri, false).await?;
        let authority = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let host = self
            .host
            .clone()
            .unwrap_or_else(|| HeaderValue::from_str(&authority).unwrap_or(HeaderValue::from_static("localhost")));
        let mut request = Request::builder().method(self.method.clone());
        request = match &sender {
            Sender::Http1(_) => request
                .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
                .header(HOST, host),
            Sender::Http2(_) => {
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let scheme = uri.scheme_str().unwrap_or("https");
                let authority = host.to_str().unwrap_or(authority.as_str());
                request.uri(format!("{scheme}://{authority}{path}"))
            }
        };
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
        let response = sender.send(request).await.map_err(|e| format!("request failed: {e}"))?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        Ok((response.status(), location))
    }

    async fn grpc(&self) -> Result<(), String> {
        let sender = self.open::<Full<Bytes>>(&self.uri, true).await?;
        let authority = self.uri.authority().map_or("localhost", |a| a.as_str());
        let scheme = self.uri.scheme_str().unwrap_or("http");
        let request = Request::post(format!("{scheme}://{authority}/grpc.health.v1.Health/Check"))
            .header(CONTENT_TYPE, "application/grpc")
            .header(TE, "trailers")
            // An empty HealthCheckRequest: no compression flag, zero length.
            .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send(request)
            .await
            .map_err(|e| format!("gRPC request failed: {e}"))?;
        if response.status() != StatusCode::OK {
            return Err(format!("gRPC health check answered HTTP {}", response.status()));
        }
        let collected = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the gRPC answer failed: {e}"))?;
        let trailers = collected.trailers().cloned();
        grpc_verdict(trailers.as_ref(), &collected.to_bytes())
    }
}

/// What a gRPC health answer says: its `grpc-status` trailer, then the serving status in the body.
fn grpc_verdict(trailers: Option<&http::HeaderMap>, body: &[u8]) -> Result<(), String> {
    let grpc_status = trailers
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0");
    match grpc_status {
        "0" => {}
        "12" => return Err("the gRPC server does not implement the health protocol".into()),
        code => return Err(format!("gRPC health check failed with status {code}")),
    }
    match serving_status(body) {
        Some(1) => Ok(()),
        status => Err(format!("received gRPC serving status {}", status.unwrap_or(0))),
    }
}

/// The URI a probe requests: the server's host, `port` or the server's, and `path` relative to the
/// server's path as Go's `URL.Parse` resolves it, over `scheme` or the server's (h2c probes speak
/// HTTP/1.1 in plain text, as Traefik's do).
fn probe_uri(config: &ServerHealthCheck, server: &ServerUrl, has_tls: bool) -> Result<Uri, ProbeError> {
    let path = if config.path.is_empty() {
        "/"
    } else {
        config.path.as_str()
    };
    if path.contains("://") || path.starts_with("//") {
        return Err(ProbeError::AbsolutePath(config.path.clone()));
    }
    let scheme = match (config.scheme.to_ascii_lowercase().as_str(), server.scheme()) {
        ("", ServerScheme::Https) | ("https", _) if !has_tls => return Err(ProbeError::Https),
        ("", ServerScheme::Https) | ("https", _) => "https",
        ("" | "http" | "h2c", _) => "http",
        (other, _) => return Err(ProbeError::Uri(format!("{other}://"))),
    };
    let port = if config.port != 0 { config.port } else { server.port() };
    let host = server.host();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    // Like Go's `URL.Parse`, a relative path replaces the base path's last segment.
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{}/{path}", &server.path()[..server.path().rfind('/').unwrap_or(0)])
    };
    format!("{scheme}://{host}:{port}{joined}")
        .parse()
        .map_err(|_| ProbeError::Uri(joined))
}

/// The probe's own headers.
fn probe_headers(config: &ServerHealthCheck) -> Result<Vec<(HeaderName, HeaderValue)>, ProbeError> {
    config
        .headers
        .iter()
        .map(|(name, value)| {
            Ok((
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| ProbeError::Header(name.clone()))?,
                HeaderValue::from_str(value).map_err(|_| ProbeError::Header(name.clone()))?,
            ))
        })
        .collect()
}

/// Handshakes HTTP/1.1 or HTTP/2 over `io`.
async fn handshake<T, B>(io: T, http2: bool) -> Result<Sender<B>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if http2 {
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(io)
            .await
            .map_err(|e| format!("HTTP/2 handshake failed: {e}"))?;
        tokio::spawn(connection);
        return Ok(Sender::Http2(sender));
    }
    let (sender, connection) = http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(connection);
    Ok(Sender::Http1(sender))
}

impl<B> Sender<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    async fn send(self, request: Request<B>) -> Result<http::Response<hyper::body::Incoming>, hyper::Error> {
        match self {
            Self::Http1(mut sender) => sender.send_request(request).await,
            Self::Http2(mut sender) => sender.send_request(request).await,
        }
    }
}

/// The `status` field (1, a varint) of a length-prefixed `HealthCheckResponse`; absent means 0.
fn serving_status(frame: &[u8]) -> Option<u64> {
    let message = frame.get(5..)?;
    let mut rest = message;
    while let Some((&key, tail)) = rest.split_first() {
        let (value, tail) = varint(tail)?;
        if key == 0x08 {
            return Some(value);
        }
        // Only varint fields are expected; anything else ends the search.
        if key & 7 != 0 {
            return None;
        }
        rest = tail;
    }
    Some(0)
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// A redirect target relative to the URI that answered it.
fn resolve(base: &Uri, location: &str) -> Result<Uri, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location
            .parse()
            .map_err(|_| format!("bad redirect location `{location}`"));
    }
    let authority = base.authority().map_or("localhost", |a| a.as_str());
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let current = base.path();
        format!("{}{location}", &current[..current.rfind('/').map_or(0, |i| i + 1)])
    };
    let scheme = base.scheme_str().unwrap_or("http");
    format!("{scheme}://{authority}{path}")
        .parse()
        .map_err(|_| format!("bad redirect location `{location}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(url: &str) -> ServerUrl {
        ServerUrl::parse(url).unwrap()
    }

    #[test]
    fn probe_urls_follow_traefiks_rules() {
        let config = ServerHealthCheck {
            path: "/health?deep=1".into(),
            port: 9000,
            ..ServerHealthCheck::default()
        };
        let probe = Probe::new(&config, &url("http://10.0.0.1:8080/base"), None).unwrap();
        assert_eq!(probe.uri, "http://10.0.0.1:9000/health?deep=1");
        let relative = ServerHealthCheck {
            path: "ping".into(),
            ..ServerHealthCheck::default()
        };
        assert_eq!(
            Probe::new(&relative, &url("http://a:1/api/v1"), None).unwrap().uri,
            "http://a:1/api/ping"
        );
        let absolute = ServerHealthCheck {
            path: "http://elsewhere/health".into(),
            ..ServerHealthCheck::default()
        };
        assert!(matches!(
            Probe::new(&absolute, &url("http://a:1"), None),
            Err(ProbeError::AbsolutePath(_))
        ));
    }

    #[test]
    fn https_probes_need_tls_settings() {
        let config = ServerHealthCheck::default();
        assert!(matches!(
            Probe::new(&config, &url("https://a:8443"), None),
            Err(ProbeError::Https)
        ));
        let forced = ServerHealthCheck {
            scheme: "https".into(),
            ..ServerHealthCheck::default()
        };
        assert!(matches!(
            Probe::new(&forced, &url("http://a:1"), None),
            Err(ProbeError::Https)
        ));
        #[cfg(feature = "tls")]
        {
            let insecure = switchyard_config::ServersTransport {
                insecure_skip_verify: true,
                ..switchyard_config::ServersTransport::default()
            };
            let tls = crate::upstream::ClientTls::from_config(&insecure).unwrap();
            let probe = Probe::new(&forced, &url("http://a:1"), Some(tls.target("a").unwrap())).unwrap();
            assert_eq!(probe.uri, "https://a:1/");
            let default_port = Probe::new(&config, &url("https://a"), Some(tls.target("a").unwrap())).unwrap();
            assert_eq!(default_port.uri, "https://a:443/");
        }
    }

    #[test]
    fn statuses_are_judged_like_traefik() {
        let probe = Probe::new(&ServerHealthCheck::default(), &url("http://a:1"), None).unwrap();
        assert!(probe.judge(StatusCode::OK).is_ok());
        assert!(probe.judge(StatusCode::FOUND).is_ok());
        assert!(probe.judge(StatusCode::BAD_REQUEST).is_err());
        let strict = ServerHealthCheck {
            status: 204,
            ..ServerHealthCheck::default()
        };
        let probe = Probe::new(&strict, &url("http://a:1"), None).unwrap();
        assert!(probe.judge(StatusCode::OK).is_err());
        assert!(probe.judge(StatusCode::NO_CONTENT).is_ok());
    }

    #[test]
    fn grpc_serving_status_is_read_from_the_frame() {
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 0x01]), Some(1));
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 0x02]), Some(2));
        assert_eq!(serving_status(&[0, 0, 0, 0, 0]), Some(0));
    }

    #[test]
    fn redirects_resolve_against_the_probe() {
        let base: Uri = "http://a:1/x/health".parse().unwrap();
        assert_eq!(resolve(&base, "/ok").unwrap(), "http://a:1/ok");
        assert_eq!(resolve(&base, "ok").unwrap(), "http://a:1/x/ok");
        assert_eq!(resolve(&base, "http://b:2/z").unwrap(), "http://b:2/z");
    }
}
