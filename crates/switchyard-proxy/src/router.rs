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
use http::header::{CONNECTION, CONTENT_LENGTH};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use switchyard_rules::RequestView;

use crate::endpoint::RouteContext;
use crate::forward::{Client, EntryHeaders, ForwardedPolicy, Forwarding};
use crate::interim::InterimSink;
use crate::request_head::{self, HostError, UnderscoreHeaders};
use crate::request_path::{PathError, TargetPolicy};
use crate::snapshot::{Handler, RouteTarget, Snapshot, SnapshotHandle, Target};
use crate::{api, request_path, respond};
use switchyard_middleware::{BoxError, EncodedSet, PeerCertificates, RequestBody, ResponseBody};
use tower::ServiceExt;

/// What every connection of one entrypoint shares.
#[derive(Debug)]
pub(crate) struct EntryPointContext {
    pub(crate) index: usize,
    pub(crate) snapshots: SnapshotHandle,
    pub(crate) policy: ForwardedPolicy,
    pub(crate) keep_alive: KeepAliveLimits,
    /// `http.sanitizePath` and `http.encodeQuerySemicolons`.
    pub(crate) target: TargetPolicy,
    /// `http.underscoreHeadersStrategy`.
    pub(crate) underscores: UnderscoreHeaders,
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
    /// Whether requests come straight from the wire, so that their head is checked as a server must
    /// (`Host`); requests handed over by an embedding server were checked by that server.
    from_wire: bool,
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
            from_wire: true,
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
    ///
    /// The checks before routing and the choice of a target are synchronous and return the typed
    /// reason ([`EntryAnswer`]) when the request goes no further; one state machine then awaits the
    /// target, so that the request's head is moved as little as possible.
    ///
    /// `interim` is where the backend's informational answers go, when the client can take them.
    pub(crate) async fn handle(
        &self,
        req: Request<RequestBody>,
        interim: Option<InterimSink>,
    ) -> Response<ResponseBody> {
        let (mut parts, body) = req.into_parts();
        let snapshot = self.entry.snapshots.load();
        let mut response = match self.select(&snapshot, &mut parts) {
            Err(answer) => answer.into_response(),
            Ok(target) => match &target.handler {
                Handler::Service(node) => {
                    let how = Forwarding {
                        client: &self.client,
                        policy: &self.entry.policy,
                        entry_headers: EntryHeaders::Pending,
                        interim: interim.as_ref(),
                    };
                    match node.forward(parts, body, how).await {
                        Ok(response) => response,
                        Err(error) => respond::forward_failure(&target.router, &error),
                    }
                }
                Handler::Api => api::respond(&snapshot, &parts),
                Handler::Noop => Response::new(ResponseBody::empty()),
                Handler::Stack(stack) => {
                    self.attach(&snapshot, target, interim, &mut parts);
                    let Ok(response) = stack.clone().oneshot(Request::from_parts(parts, body)).await;
                    response
                }
            },
        };
        if self.should_close() {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }

    /// The target a request goes to, after the entrypoint's checks and rewrites (`Host`, `OPTIONS *`,
    /// underscore headers, the path and query: see [`request_head`] and [`request_path`]) and the
    /// route's own (encoded characters, TLS options).
    fn select<'s>(&self, snapshot: &'s Snapshot, parts: &mut Parts) -> Result<&'s Target, EntryAnswer> {
        if self.from_wire {
            request_head::check_http1(parts).map_err(EntryAnswer::Host)?;
        }
        request_head::align_with_target(parts).map_err(EntryAnswer::Host)?;
        if parts.method == Method::OPTIONS && parts.uri.path() == "*" {
            return Err(EntryAnswer::OptionsStar);
        }
        self.entry
            .underscores
            .apply(&mut parts.headers)
            .map_err(|()| EntryAnswer::UnderscoreHeader)?;
        let encoded = request_path::clean(&mut parts.uri, self.entry.target).map_err(EntryAnswer::Path)?;
        let route = self.route(snapshot, parts)?;
        if route.denied_encoded.intersects(encoded) {
            return Err(EntryAnswer::EncodedCharacter);
        }
        if self.splits_view(snapshot, parts, route, encoded) {
            return Err(EntryAnswer::SplitView);
        }
        if self.session.as_ref().is_some_and(|s| s.options != route.tls_options) {
            return Err(EntryAnswer::Misdirected);
        }
        snapshot.targets.get(route.target as usize).ok_or(EntryAnswer::NotFound)
    }

    /// Prepares a request for a middleware stack: what the end of the stack needs to know, and the
    /// client's certificates for `passTLSClientCert`.
    fn attach(&self, snapshot: &Arc<Snapshot>, target: &Target, interim: Option<InterimSink>, parts: &mut Parts) {
        if let Some(certificates) = self.session.as_ref().and_then(|s| s.peer_certificates.as_ref()) {
            parts.extensions.insert(certificates.clone());
        }
        let context = RouteContext {
            entry: Arc::clone(&self.entry),
            client: self.client.clone(),
            snapshot: Arc::clone(snapshot),
            router: Arc::clone(&target.router),
            interim,
        };
        context.attach(parts);
    }

    /// Whether a path with allowed encoded slashes or backslashes would go to another router once a
    /// backend decoded them: such a path could reach, through this router, what a higher-priority
    /// router guards (`/%2Fadmin` past `PathPrefix(`/admin`)`), so it is refused.
    fn splits_view(&self, snapshot: &Snapshot, parts: &Parts, route: RouteTarget, encoded: EncodedSet) -> bool {
        if !encoded.intersects(request_path::SEPARATORS) {
            return false;
        }
        let Some(reading) = request_path::separator_reading(&parts.uri) else {
            return true;
        };
        let mut head = Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = reading;
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        let (decoded, ()) = head.into_parts();
        self.route(snapshot, &decoded)
            .is_ok_and(|other| other.target != route.target)
    }

    fn route(&self, snapshot: &Snapshot, parts: &Parts) -> Result<RouteTarget, EntryAnswer> {
        let view = RequestView::new(parts, Some(self.client.ip)).map_err(|_| EntryAnswer::Undecodable)?;
        let table = snapshot.table(self.entry.index, self.client.tls);
        table
            .and_then(|t| t.route(&view))
            .map(|found| *found.value())
            .ok_or(EntryAnswer::NotFound)
    }
}

/// What the entrypoint answers itself, when a request reaches no target.
#[derive(Debug)]
enum EntryAnswer {
    /// A missing, repeated or malformed `Host`: 400 with Go's text, and the connection closed.
    Host(HostError),
    /// A path refused by normalization or sanitization: 400.
    Path(PathError),
    /// A path the routing view cannot decode: 400.
    Undecodable,
    /// A header name with an underscore, with `underscoreHeadersStrategy: reject`: Go's `http.Error` 400.
    UnderscoreHeader,
    /// `OPTIONS *`, which Go's server answers itself with an empty 200.
    OptionsStar,
    /// No router matches: Go's `404 page not found`.
    NotFound,
    /// An encoded character the route does not allow: a bare 400, as Traefik sends it.
    EncodedCharacter,
    /// Allowed encoded separators that would take the request elsewhere once decoded: a bare 400.
    SplitView,
    /// A route whose TLS options differ from the connection's handshake: 421.
    Misdirected,
}

impl EntryAnswer {
    fn into_response(self) -> Response<ResponseBody> {
        match self {
            Self::Host(error) => {
                let mut response = respond::status_text(StatusCode::BAD_REQUEST, Bytes::from(error.to_string()));
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                response
            }
            Self::Path(error) => {
                tracing::debug!(target: "switchyard::proxy", %error, "request path refused");
                respond::status_response(StatusCode::BAD_REQUEST)
            }
            Self::Undecodable => respond::status_response(StatusCode::BAD_REQUEST),
            Self::UnderscoreHeader => {
                respond::status_text(StatusCode::BAD_REQUEST, Bytes::from_static(b"Bad Request\n"))
            }
            Self::OptionsStar => {
                let mut response = Response::new(ResponseBody::empty());
                response
                    .headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                response
            }
            Self::NotFound => respond::not_found(),
            Self::EncodedCharacter | Self::SplitView => {
                tracing::debug!(target: "switchyard::proxy", reason = ?self, "encoded characters refused");
                respond::bare(StatusCode::BAD_REQUEST)
            }
            Self::Misdirected => {
                tracing::debug!(target: "switchyard::proxy", "TLS options of the route differ from the handshake's");
                respond::status_response(StatusCode::MISDIRECTED_REQUEST)
            }
        }
    }
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
        let mut connection = Connection::new(Arc::clone(&self.entry), peer, self.tls);
        connection.from_wire = false;
        Box::pin(async move { Ok(connection.handle(req.map(RequestBody::new), None).await) })
    }
}
