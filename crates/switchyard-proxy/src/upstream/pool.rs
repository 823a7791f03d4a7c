//! Pooled connections to one backend server.
//!
//! HTTP/1 connections are kept in a LIFO stack (the most recently used connection is the warmest and the
//! least likely to have been closed by the backend) and checked in again when a response body ends. One
//! HTTP/2 connection is shared by all requests and replaced when it closes.
//!
//! A backend may close an idle keep-alive connection just as a request is sent on it. As Go's transport
//! under Traefik does, a request that failed that way on a reused connection is sent again, once, on a
//! new connection: when nothing of it was sent, or when it is replayable (an idempotent method, or an
//! `Idempotency-Key`, and no body) and the connection closed before a response came.
//!
//! HTTPS backends (with the `tls` feature) get HTTP/2 when the TLS handshake settles on `h2` by ALPN —
//! one shared connection, as for h2c — and pooled HTTP/1.1 connections otherwise. The first connection
//! is made under the HTTP/2 lock, so that concurrent first requests do not each open one.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{Request, Response};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::{Origin, Protocol, TlsTarget, TransportSettings, UpstreamError};
use switchyard_middleware::{ConnectionPool, HttpService, Release, RequestBody, ResponseBody};
use tower::ServiceExt;

/// The connections to one server, under one transport's settings.
pub(crate) struct Pool {
    origin: Origin,
    settings: TransportSettings,
    /// The TLS settings of an HTTPS backend.
    #[cfg_attr(not(feature = "tls"), allow(dead_code, reason = "HTTPS needs the tls feature"))]
    tls: Option<TlsTarget>,
    /// An HTTPS backend chose HTTP/1.1 by ALPN: new connections need not take the HTTP/2 lock.
    #[cfg_attr(not(feature = "tls"), allow(dead_code, reason = "HTTPS needs the tls feature"))]
    http1_only: AtomicBool,
    idle: Mutex<Vec<Idle>>,
    shared: tokio::sync::Mutex<Option<http2::SendRequest<RequestBody>>>,
    /// The service that answers this server's requests in process instead of the network
    /// ([`Gateway::in_process_backend`](crate::Gateway::in_process_backend)), with the server's URL.
    in_process: Option<(HttpService, Arc<str>)>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("origin", &self.origin.authority())
            .field("idle", &self.idle_len())
            .finish_non_exhaustive()
    }
}

/// The server URL a request handed to an in-process backend was meant for, in the request's
/// extensions ([`Gateway::in_process_backend`](crate::Gateway::in_process_backend)).
///
/// ```
/// use switchyard_proxy::BackendServer;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(BackendServer("http://10.0.0.5:8080".into()));
/// assert_eq!(&*req.extensions().get::<BackendServer>().unwrap().0, "http://10.0.0.5:8080");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendServer(pub Arc<str>);

/// Hands a request to an in-process backend, telling it which server it was meant for.
async fn send_in_process(
    service: &HttpService,
    url: &Arc<str>,
    mut req: Request<RequestBody>,
) -> Response<ResponseBody> {
    req.extensions_mut().insert(BackendServer(Arc::clone(url)));
    let Ok(response) = service.clone().oneshot(req).await;
    response
}

struct Idle {
    sender: http1::SendRequest<RequestBody>,
    since: Instant,
}

impl Pool {
    pub(crate) fn new(origin: Origin, settings: TransportSettings, tls: Option<TlsTarget>) -> Arc<Self> {
        Arc::new(Self {
            origin,
            settings,
            tls,
            http1_only: AtomicBool::new(false),
            idle: Mutex::new(Vec::new()),
            shared: tokio::sync::Mutex::new(None),
            in_process: None,
        })
    }

    /// A pool whose requests `service` answers in process, each carrying the [`BackendServer`] it was
    /// meant for; nothing connects anywhere.
    pub(crate) fn in_process(origin: Origin, service: HttpService, url: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            origin,
            settings: TransportSettings::default(),
            tls: None,
            http1_only: AtomicBool::new(false),
            idle: Mutex::new(Vec::new()),
            shared: tokio::sync::Mutex::new(None),
            in_process: Some((service, url)),
        })
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Idle HTTP/1 connections in the pool.
    pub(crate) fn idle_len(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Sends a request (its URI already in the form the protocol needs) and returns the response head
    /// with the body still streaming.
    pub(crate) async fn send(
        self: &Arc<Self>,
        req: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        if let Some((service, url)) = &self.in_process {
            return Ok(send_in_process(service, url, req).await);
        }
        match self.origin.protocol() {
            Protocol::Http1 => self.send_http1(req, None).await,
            Protocol::H2c => self.send_http2(req).await,
            Protocol::Https => self.send_https(req).await,
        }
    }

    #[cfg(not(feature = "tls"))]
    async fn send_https(self: &Arc<Self>, _req: Request<RequestBody>) -> Result<Response<ResponseBody>, UpstreamError> {
        Err(UpstreamError::Unsupported(
            "HTTPS backends need switchyard's `tls` feature, which this build does not have",
        ))
    }

    /// HTTP/2 on the shared connection when the backend chose it, else pooled HTTP/1.1.
    #[cfg(feature = "tls")]
    async fn send_https(self: &Arc<Self>, req: Request<RequestBody>) -> Result<Response<ResponseBody>, UpstreamError> {
        if self.settings.disable_http2 || self.http1_only.load(std::sync::atomic::Ordering::Relaxed) {
            return self.send_http1(req, None).await;
        }
        if req.headers().contains_key(http::header::UPGRADE) {
            // As Go's transport: an upgrade (WebSocket) needs HTTP/1.1, on a connection offering only it.
            let fresh = match Box::pin(self.connect_https(true)).await? {
                Fresh::Http1(sender) => sender,
                Fresh::Http2(_) => return Err(UpstreamError::Unsupported("the backend chose h2 without offering it")),
            };
            return self.send_http1(req, Some(fresh)).await;
        }
        let mut shared = self.shared.lock().await;
        if let Some(sender) = shared.as_ref().filter(|s| !s.is_closed()) {
            let sender = sender.clone();
            drop(shared);
            return self.send_on_http2(sender, self.http2_form(req)?).await;
        }
        match Box::pin(self.connect_https(false)).await? {
            Fresh::Http2(sender) => {
                *shared = Some(sender.clone());
                drop(shared);
                self.send_on_http2(sender, self.http2_form(req)?).await
            }
            Fresh::Http1(sender) => {
                self.http1_only.store(true, std::sync::atomic::Ordering::Relaxed);
                drop(shared);
                self.send_http1(req, Some(sender)).await
            }
        }
    }

    /// A request prepared for HTTP/1.1 in the form HTTP/2 needs.
    #[cfg(feature = "tls")]
    fn http2_form(&self, req: Request<RequestBody>) -> Result<Request<RequestBody>, UpstreamError> {
        let (mut parts, body) = req.into_parts();
        self.origin.rewrite_for_http2(&mut parts)?;
        Ok(Request::from_parts(parts, body))
    }

    /// Sends over a pooled HTTP/1.1 connection, or `fresh`, or a new one.
    async fn send_http1(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
        mut fresh: Option<http1::SendRequest<RequestBody>>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        let mut replayed = false;
        loop {
            let pooled = if replayed { None } else { self.take_idle() };
            let (mut sender, reused) = match (fresh.take(), pooled) {
                (Some(fresh), _) => (fresh, false),
                (None, Some(sender)) => (sender, true),
                (None, None) => match Box::pin(self.connect_http1()).await? {
                    Fresh::Http1(sender) => (sender, false),
                    #[cfg(feature = "tls")]
                    Fresh::Http2(sender) => return self.adopt_http2(sender, req).await,
                },
            };
            if reused && sender.ready().await.is_err() {
                continue;
            }
            // The head is kept only where a replay may follow: a reused connection, a replayable request.
            let replay = (reused && !replayed && is_replayable(&req)).then(|| copy_head(&req));
            let sent = sender.try_send_request(req);
            let result = match self.settings.response_header_timeout {
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|_| UpstreamError::ResponseTimeout(limit))?,
                None => sent.await,
            };
            match result {
                Ok(response) => return Ok(self.answered(response, sender)),
                Err(mut failed) => match (failed.take_message(), replay) {
                    (Some(unsent), _) if reused => req = unsent,
                    (None, Some(head)) if closed_before_answering(failed.error()) => {
                        tracing::debug!(
                            target: "switchyard::upstream",
                            server = %self.origin.authority(),
                            error = %failed.error(),
                            "a reused connection closed before answering; sending the request again on a new one"
                        );
                        req = head;
                        replayed = true;
                    }
                    _ => return Err(UpstreamError::exchange(failed.into_error())),
                },
            }
        }
    }

    /// A backend's answer, its body handing the connection back to the pool when done (unless the
    /// connection changed protocols or the pool keeps nothing idle).
    fn answered(
        self: &Arc<Self>,
        response: Response<hyper::body::Incoming>,
        sender: http1::SendRequest<RequestBody>,
    ) -> Response<ResponseBody> {
        let keep = response.status() != http::StatusCode::SWITCHING_PROTOCOLS && self.settings.max_idle_per_host > 0;
        let release = keep.then(|| Release::new(Arc::clone(self) as Arc<dyn ConnectionPool>, sender));
        response.map(|body| ResponseBody::upstream(body, release))
    }

    async fn send_http2(&self, req: Request<RequestBody>) -> Result<Response<ResponseBody>, UpstreamError> {
        let sender = self.shared_http2().await?;
        self.send_on_http2(sender, req).await
    }

    /// A backend that had chosen HTTP/1.1 chose `h2` on a new connection: it becomes the shared one.
    #[cfg(feature = "tls")]
    async fn adopt_http2(
        &self,
        sender: http2::SendRequest<RequestBody>,
        req: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        self.http1_only.store(false, std::sync::atomic::Ordering::Relaxed);
        *self.shared.lock().await = Some(sender.clone());
        self.send_on_http2(sender, self.http2_form(req)?).await
    }

    async fn send_on_http2(
        &self,
        mut sender: http2::SendRequest<RequestBody>,
        req: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        sender.ready().await.map_err(UpstreamError::Request)?;
        let sent = sender.send_request(req);
        let response = match self.settings.response_header_timeout {
            Some(limit) => tokio::time::timeout(limit, sent)
                .await
                .map_err(|_| UpstreamError::ResponseTimeout(limit))?,
            None => sent.await,
        }
        .map_err(UpstreamError::exchange)?;
        Ok(response.map(|body| ResponseBody::upstream(body, None)))
    }

    fn take_idle(&self) -> Option<http1::SendRequest<RequestBody>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(conn) = idle.pop() {
            let expired = self
                .settings
                .idle_timeout
                .is_some_and(|limit| conn.since.elapsed() >= limit);
            if !expired && !conn.sender.is_closed() {
                return Some(conn.sender);
            }
        }
        None
    }

    async fn connect(&self) -> Result<TcpStream, UpstreamError> {
        let origin = &self.origin;
        let connect = async {
            match origin.address() {
                Some(address) => TcpStream::connect(address).await,
                None => TcpStream::connect((origin.host(), origin.port())).await,
            }
        };
        let stream = match self.settings.dial_timeout {
            Some(limit) => tokio::time::timeout(limit, connect)
                .await
                .map_err(|_| UpstreamError::ConnectTimeout {
                    origin: origin.authority().to_string(),
                    timeout: limit,
                })?,
            None => connect.await,
        }
        .map_err(|source| UpstreamError::Connect {
            origin: origin.authority().to_string(),
            source,
        })?;
        // Small requests and responses must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// A new HTTP/1.1 connection (for an HTTPS backend, HTTP/2 when the handshake chose it).
    async fn connect_http1(&self) -> Result<Fresh, UpstreamError> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.connect_https(self.settings.disable_http2).await;
        }
        let io = TokioIo::new(self.connect().await?);
        Ok(Fresh::Http1(self.handshake_http1(io).await?))
    }

    /// A TCP connection, the TLS handshake (offering only `http/1.1` when `http1`), then HTTP/2 or
    /// HTTP/1.1 as ALPN settled.
    #[cfg(feature = "tls")]
    async fn connect_https(&self, http1: bool) -> Result<Fresh, UpstreamError> {
        let tcp = self.connect().await?;
        let Some(tls) = &self.tls else {
            return Err(UpstreamError::Unsupported("an HTTPS backend without TLS settings"));
        };
        let stream = tls.handshake(tcp, http1).await.map_err(|source| UpstreamError::Tls {
            origin: self.origin.authority().to_string(),
            source,
        })?;
        if super::tls::negotiated_h2(&stream) {
            Ok(Fresh::Http2(self.handshake_http2(TokioIo::new(stream)).await?))
        } else {
            Ok(Fresh::Http1(self.handshake_http1(TokioIo::new(stream)).await?))
        }
    }

    async fn handshake_http1<T>(&self, io: T) -> Result<http1::SendRequest<RequestBody>, UpstreamError>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = http1::Builder::new()
            .writev(false)
            .handshake(io)
            .await
            .map_err(|source| self.handshake_error(source))?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(target: "switchyard::upstream", %error, "backend connection ended");
            }
        });
        Ok(sender)
    }

    async fn shared_http2(&self) -> Result<http2::SendRequest<RequestBody>, UpstreamError> {
        let mut shared = self.shared.lock().await;
        if let Some(sender) = shared.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let connected = Box::pin(async { self.handshake_http2(TokioIo::new(self.connect().await?)).await });
        let sender = connected.await?;
        *shared = Some(sender.clone());
        Ok(sender)
    }

    async fn handshake_http2<T>(&self, io: T) -> Result<http2::SendRequest<RequestBody>, UpstreamError>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(io)
            .await
            .map_err(|source| self.handshake_error(source))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(target: "switchyard::upstream", %error, "backend h2 connection ended");
            }
        });
        Ok(sender)
    }

    fn handshake_error(&self, source: hyper::Error) -> UpstreamError {
        UpstreamError::Handshake {
            origin: self.origin.authority().to_string(),
            source,
        }
    }
}

/// Whether a request may be sent again after its first sending failed, as Go's `isReplayable` decides:
/// no body, and a method that is safe to repeat or an idempotency key.
fn is_replayable(req: &Request<RequestBody>) -> bool {
    use http::Method;
    use http_body::Body;

    let idempotent = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) || req.headers().contains_key("idempotency-key")
        || req.headers().contains_key("x-idempotency-key");
    idempotent && req.body().is_end_stream()
}

/// A copy of a request's head with an empty body, for sending it again.
fn copy_head(req: &Request<RequestBody>) -> Request<RequestBody> {
    let mut copy = Request::new(RequestBody::empty());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

/// Whether a sending failed because the backend closed the connection (or reset it) before its answer.
fn closed_before_answering(error: &hyper::Error) -> bool {
    use std::io::ErrorKind;

    error.is_incomplete_message()
        || std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<std::io::Error>())
            .is_some_and(|io| {
                matches!(
                    io.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
                )
            })
}

/// A connection just made.
enum Fresh {
    Http1(http1::SendRequest<RequestBody>),
    #[cfg(feature = "tls")]
    Http2(http2::SendRequest<RequestBody>),
}

/// Connections come back when the response body read from them ends.
impl ConnectionPool for Pool {
    fn put(&self, sender: http1::SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let Ok(mut idle) = self.idle.lock() else { return };
        let now = Instant::now();
        if let Some(limit) = self.settings.idle_timeout {
            // The oldest connections sit at the bottom of the stack.
            let expired = idle.iter().take_while(|c| now.duration_since(c.since) >= limit).count();
            idle.drain(..expired);
        }
        if idle.len() < self.settings.max_idle_per_host {
            idle.push(Idle { sender, since: now });
        }
    }
}
