//! The request handler every entrypoint runs: load the snapshot, route, forward, map errors to statuses.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode};
use switchyard_rules::RequestView;

use crate::api;
use crate::endpoint::RouteContext;
use crate::forward::{Client, EntryHeaders, ForwardedPolicy};
use crate::service::Forwarding;
use crate::snapshot::{Handler, RouteTarget, Snapshot, SnapshotHandle};
use switchyard_middleware::{BoxError, PeerCertificates, RequestBody, ResponseBody};
use tower::ServiceExt;

/// What every connection of one entrypoint shares.
#[derive(Debug)]
pub(crate) struct EntryPointContext {
    pub(crate) index: usize,
    pub(crate) snapshots: SnapshotHandle,
    pub(crate) policy: ForwardedPolicy,
    pub(crate) keep_alive: KeepAliveLimits,
}

/// `transport.keepAliveMaxRequests` / `keepAliveMaxTime`: when a connection has served enough, its
/// next response says `Connection: close`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeepAliveLimits {
    pub(crate) max_requests: Option<u64>,
    pub(crate) max_time: Option<Duration>,
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) entry: Arc<EntryPointContext>,
    pub(crate) client: Client,
    served: AtomicU64,
    opened: Instant,
    /// What the TLS handshake settled, on TLS connections accepted by an entrypoint.
    session: Option<TlsSession>,
}

/// What a TLS handshake settled that requests on the connection need.
#[derive(Debug)]
pub(crate) struct TlsSession {
    /// The id of the TLS options the handshake used; a route whose router resolved to other options
    /// answers 421 (the client reused a connection for a host it was not set up for).
    pub(crate) options: u32,
    /// The client's certificate chain, for `passTLSClientCert`.
    pub(crate) peer_certificates: Option<PeerCertificates>,
}

impl Connection {
    pub(crate) fn new(entry: Arc<EntryPointContext>, peer: IpAddr, tls: bool) -> Self {
        let trusted = entry.policy.trusts(peer);
        Self {
            entry,
            client: Client::new(peer, trusted, tls),
            served: AtomicU64::new(0),
            opened: Instant::now(),
            session: None,
        }
    }

    /// A connection over TLS, with what its handshake settled.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn with_session(mut self, session: TlsSession) -> Self {
        self.session = Some(session);
        self
    }

    /// Whether this response must close the connection (`keepAliveMaxRequests`/`keepAliveMaxTime`);
    /// without limits it touches neither the counter nor the clock.
    fn should_close(&self) -> bool {
        let limits = self.entry.keep_alive;
        let by_count = limits
            .max_requests
            .is_some_and(|max| self.served.fetch_add(1, Ordering::Relaxed) + 1 >= max);
        by_count || limits.max_time.is_some_and(|max| self.opened.elapsed() >= max)
    }

    /// Serves one request to completion of its response head.
    pub(crate) async fn handle(&self, req: Request<RequestBody>) -> Response<ResponseBody> {
        let snapshot = self.entry.snapshots.load();
        let (mut parts, body) = req.into_parts();
        if let Some(certificates) = self.session.as_ref().and_then(|s| s.peer_certificates.as_ref()) {
            parts.extensions.insert(certificates.clone());
        }
        let mut response = match self.route(&snapshot, &parts) {
            Routed::To(route) if self.session.as_ref().is_some_and(|s| s.options != route.tls_options) => {
                tracing::debug!(target: "switchyard::proxy", host = ?parts.uri.host(), "TLS options of the route differ from the handshake's");
                status_response(StatusCode::MISDIRECTED_REQUEST)
            }
            Routed::To(route) => match &snapshot.targets[route.target as usize].handler {
                Handler::Service(node) => {
                    let how = Forwarding {
                        client: &self.client,
                        policy: &self.entry.policy,
                        entry_headers: EntryHeaders::Pending,
                    };
                    match node.forward(parts, body, how).await {
                        Ok(response) => response,
                        Err(error) => {
                            tracing::debug!(target: "switchyard::proxy", %error, "forwarding failed");
                            status_response(error.status())
                        }
                    }
                }
                Handler::Api => api::respond(&snapshot, &parts),
                Handler::Noop => Response::new(ResponseBody::empty()),
                Handler::Stack(stack) => {
                    let context = RouteContext {
                        entry: Arc::clone(&self.entry),
                        client: self.client.clone(),
                        snapshot: Arc::clone(&snapshot),
                    };
                    context.attach(&mut parts);
                    let req = Request::from_parts(parts, body);
                    let Ok(response) = stack.clone().oneshot(req).await;
                    response
                }
            },
            Routed::Status(status) if status == StatusCode::NOT_FOUND => not_found(),
            Routed::Status(status) => status_response(status),
        };
        if self.should_close() {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }

    fn route(&self, snapshot: &Snapshot, parts: &Parts) -> Routed {
        let Ok(view) = RequestView::new(parts, Some(self.client.ip)) else {
            return Routed::Status(StatusCode::BAD_REQUEST);
        };
        let table = snapshot.table(self.entry.index, self.client.tls);
        match table.and_then(|t| t.route(&view)) {
            Some(found) => Routed::To(*found.value()),
            None => Routed::Status(StatusCode::NOT_FOUND),
        }
    }
}

/// Where routing sent a request: a target of the snapshot, or straight to an error status.
enum Routed {
    To(RouteTarget),
    Status(StatusCode),
}

/// Go's `http.NotFound`, which Traefik answers when no router matches.
fn not_found() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::from("404 page not found\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// A status with its reason phrase as body, as Traefik's proxy error handler writes it.
pub(crate) fn status_response(status: StatusCode) -> Response<ResponseBody> {
    let text = status.canonical_reason().unwrap_or("Error");
    let mut response = Response::new(ResponseBody::from(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The client address of a request handed to a [`RouterService`]; without it, requests count as coming
/// from `0.0.0.0` (which `ClientIP` rules and `X-Forwarded-For` then see).
///
/// ```
/// use std::net::SocketAddr;
/// use switchyard_proxy::PeerAddr;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(PeerAddr("192.0.2.1:5000".parse::<SocketAddr>().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// One entrypoint's router as a tower `Service`, for embedding switchyard in another server (axum,
/// tonic, a hyper server of your own). It follows live configuration changes like the entrypoint does.
///
/// Get one from [`RunningGateway::service`](crate::RunningGateway::service).
#[derive(Debug, Clone)]
pub struct RouterService {
    entry: Arc<EntryPointContext>,
    tls: bool,
}

impl RouterService {
    pub(crate) fn new(entry: Arc<EntryPointContext>) -> Self {
        Self { entry, tls: false }
    }

    /// Routes requests as if they came over TLS (to the routers with a `tls` section).
    #[must_use]
    pub fn over_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
}

impl<B> tower_service::Service<Request<B>> for RouterService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let peer = req
            .extensions()
            .get::<PeerAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
        let connection = Connection::new(Arc::clone(&self.entry), peer, self.tls);
        Box::pin(async move { Ok(connection.handle(req.map(RequestBody::new)).await) })
    }
}
