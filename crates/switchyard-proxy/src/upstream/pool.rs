//! Pooled connections to one backend server.
//!
//! HTTP/1 connections are kept in a LIFO stack (the most recently used connection is the warmest and the
//! least likely to have been closed by the backend) and checked in again when a response body ends. One
//! HTTP/2 connection is shared by all requests and replaced when it closes. A request that a pooled
//! connection could not even start sending — the backend closed it while idle — is retried once on a
//! fresh connection, since nothing of it reached the backend.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{Request, Response};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::{Origin, Protocol, TransportSettings, UpstreamError};
use switchyard_middleware::{ConnectionPool, Release, RequestBody, ResponseBody};

/// The connections to one server, under one transport's settings.
pub(crate) struct Pool {
    origin: Origin,
    settings: TransportSettings,
    idle: Mutex<Vec<Idle>>,
    shared: tokio::sync::Mutex<Option<http2::SendRequest<RequestBody>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("origin", &self.origin.authority())
            .field("idle", &self.idle_len())
            .finish_non_exhaustive()
    }
}

struct Idle {
    sender: http1::SendRequest<RequestBody>,
    since: Instant,
}

impl Pool {
    pub(crate) fn new(origin: Origin, settings: TransportSettings) -> Arc<Self> {
        Arc::new(Self {
            origin,
            settings,
            idle: Mutex::new(Vec::new()),
            shared: tokio::sync::Mutex::new(None),
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
        match self.origin.protocol() {
            Protocol::Http1 => self.send_http1(req).await,
            Protocol::H2c => self.send_http2(req).await,
            Protocol::Https => Err(UpstreamError::Unsupported(
                "HTTPS backends are not supported yet (TLS towards backends comes with the `tls` feature)",
            )),
        }
    }

    async fn send_http1(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        loop {
            let (mut sender, reused) = match self.take_idle() {
                Some(sender) => (sender, true),
                None => (self.connect_http1().await?, false),
            };
            if reused && sender.ready().await.is_err() {
                continue;
            }
            let sent = sender.try_send_request(req);
            let result = match self.settings.response_header_timeout {
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|_| UpstreamError::ResponseTimeout(limit))?,
                None => sent.await,
            };
            match result {
                Ok(response) => {
                    let keep = response.status() != http::StatusCode::SWITCHING_PROTOCOLS
                        && self.settings.max_idle_per_host > 0;
                    let release = keep.then(|| Release::new(Arc::clone(self) as Arc<dyn ConnectionPool>, sender));
                    return Ok(response.map(|body| ResponseBody::upstream(body, release)));
                }
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(UpstreamError::Request(failed.into_error())),
                },
            }
        }
    }

    async fn send_http2(&self, req: Request<RequestBody>) -> Result<Response<ResponseBody>, UpstreamError> {
        let mut sender = self.shared_http2().await?;
        sender.ready().await.map_err(UpstreamError::Request)?;
        let sent = sender.send_request(req);
        let response = match self.settings.response_header_timeout {
            Some(limit) => tokio::time::timeout(limit, sent)
                .await
                .map_err(|_| UpstreamError::ResponseTimeout(limit))?,
            None => sent.await,
        }
        .map_err(UpstreamError::Request)?;
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

    async fn connect(&self) -> Result<TokioIo<TcpStream>, UpstreamError> {
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
        Ok(TokioIo::new(stream))
    }

    async fn connect_http1(&self) -> Result<http1::SendRequest<RequestBody>, UpstreamError> {
        let io = self.connect().await?;
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
        let io = self.connect().await?;
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
        *shared = Some(sender.clone());
        Ok(sender)
    }

    fn handshake_error(&self, source: hyper::Error) -> UpstreamError {
        UpstreamError::Handshake {
            origin: self.origin.authority().to_string(),
            source,
        }
    }
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
