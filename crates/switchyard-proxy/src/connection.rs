//! A client connection and what every request on it goes through, in stages: the entrypoint's checks
//! and rewrites of the head ([`request_head`], [`request_path`]), routing through the live snapshot,
//! the route's own checks, then the target (a service, a middleware stack, the API). A request that
//! stops early gets its [`Refusal`]'s answer; one whose service fails gets `respond::forward_failure`'s.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::header::CONNECTION;
use http::request::Parts;
use http::{HeaderValue, Request, Response};

use crate::api;
use crate::canary::Recorded;
use crate::endpoint::{self, RouteContext};
use crate::forward::{Client, EntryHeaders, ForwardedPolicy, Forwarding};
use crate::interim::InterimSink;
use crate::request_head::UnderscoreHeaders;
use crate::request_path::TargetPolicy;
use crate::respond::Refusal;
use crate::routing::{self, RouteInput};
use crate::snapshot::{Handler, Snapshot, SnapshotHandle, Target};
use switchyard_middleware::{
    ClientInfo, HttpService, MiddlewareLayer, PeerCertificates, RequestBody, RequestRecord, ResponseBody,
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// What every connection of one entrypoint shares.
#[derive(Debug)]
pub(crate) struct EntryPointContext {
    pub(crate) index: usize,
    pub(crate) snapshots: SnapshotHandle,
    pub(crate) policy: Arc<ForwardedPolicy>,
    pub(crate) keep_alive: KeepAliveLimits,
    /// `http.sanitizePath` and `http.encodeQuerySemicolons`.
    pub(crate) target: TargetPolicy,
    /// `http.underscoreHeadersStrategy`.
    pub(crate) underscores: UnderscoreHeaders,
    /// `respondingTimeouts.readTimeout` over request bodies.
    pub(crate) body_timeout: Option<Duration>,
    /// The embedder's layers around every request (`Gateway::layer`), outermost first.
    pub(crate) layers: Vec<MiddlewareLayer>,
    /// Cancelled when the gateway shuts down.
    pub(crate) stopped: CancellationToken,
    /// The gateway's observability, for what it counts per connection.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) observer: Option<Arc<switchyard_observe::Observer>>,
    /// The observing of this entrypoint's requests, when the gateway observes them.
    pub(crate) observing: Option<switchyard_observe::EntryObserver>,
    /// The HTTP-01 challenges this entrypoint answers ahead of every router (it is an ACME
    /// resolver's `httpChallenge.entryPoint`).
    #[cfg(feature = "acme")]
    pub(crate) http01: Option<Arc<switchyard_acme::Http01Tokens>>,
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
    /// The client's port, for the observer.
    port: u16,
    served: AtomicU64,
    opened: Instant,
    /// What the TLS handshake settled, on TLS connections accepted by an entrypoint.
    session: Option<TlsSession>,
    /// Whether requests come straight from the wire, so that their head is checked as a server must
    /// (`Host`); requests handed over by an embedding server were checked by that server.
    pub(crate) from_wire: bool,
}

/// What a TLS handshake settled that requests on the connection need.
#[derive(Debug)]
pub(crate) struct TlsSession {
    /// The id of the TLS options the handshake used; a route whose router resolved to other options
    /// answers 421 (the client reused a connection for a host it was not set up for).
    pub(crate) options: u32,
    /// The client's certificate chain, for `passTLSClientCert`.
    pub(crate) peer_certificates: Option<PeerCertificates>,
    /// The TLS version (`1.3`), for the observer.
    pub(crate) version: Option<&'static str>,
    /// The cipher suite's IANA name, for the observer.
    pub(crate) cipher: Option<&'static str>,
    /// The server name the client sent (SNI), for the canary's replay of its requests.
    pub(crate) server_name: Option<Box<str>>,
}

impl Connection {
    pub(crate) fn new(entry: Arc<EntryPointContext>, peer: SocketAddr, tls: bool) -> Self {
        let trusted = entry.policy.trusts(peer.ip());
        Self {
            entry,
            client: Client::new(peer.ip(), trusted, tls),
            port: peer.port(),
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

    /// Serves one request: observed (access log, metrics, span) when the gateway observes requests,
    /// through the embedder's layers around every request of the entrypoint (`Gateway::layer`), if
    /// any, then [`handle`](Self::handle).
    ///
    /// The observer is called here rather than as the first tower layer, so that observing costs no
    /// boxed stack per request; embedders' own servers get the same observing as a layer. The
    /// request's future stays where it is, observed or not: the observation is a small allocation.
    pub(crate) async fn serve(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
        interim: Option<InterimSink>,
    ) -> Response<ResponseBody> {
        let observation = (self.entry.observing.as_ref()).map(|o| o.begin(&mut req, self.client_info()));
        let response = self.serve_layers(req, interim).await;
        match observation {
            Some(observation) => observation.answered(response),
            None => response,
        }
    }

    /// The client as middlewares and the observer see it.
    fn client_info(&self) -> ClientInfo {
        let client = ClientInfo::new(self.client.ip, self.client.tls).with_port(self.port);
        match &self.session {
            Some(session) => client.with_tls_session(session.version, session.cipher),
            None => client,
        }
    }

    /// Serves one request through the embedder's layers, if any, then [`handle`](Self::handle).
    async fn serve_layers(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
        interim: Option<InterimSink>,
    ) -> Response<ResponseBody> {
        if self.entry.layers.is_empty() {
            return self.handle(req, interim).await;
        }
        if let Some(sink) = interim {
            req.extensions_mut().insert(sink);
        }
        req.extensions_mut().insert(self.client_info());
        let inner = HttpService::new(Handling(Arc::clone(self)));
        let Ok(response) = switchyard_middleware::chain(&self.entry.layers, inner)
            .oneshot(req)
            .await;
        response
    }

    /// Serves one request to completion of its response head.
    ///
    /// The checks before routing and the choice of a target are synchronous and return the typed
    /// reason ([`Refusal`]) when the request goes no further; one state machine then awaits the
    /// target, so that the request's head is moved as little as possible.
    ///
    /// `interim` is where the backend's informational answers go, when the client can take them.
    pub(crate) async fn handle(
        &self,
        req: Request<RequestBody>,
        interim: Option<InterimSink>,
    ) -> Response<ResponseBody> {
        #[cfg(feature = "acme")]
        if let Some(answer) = self.http01_answer(&req) {
            return answer;
        }
        let (mut parts, body) = req.into_parts();
        let snapshot = self.entry.snapshots.load();
        if let Some(canary) = &snapshot.canary {
            canary.record(&Recorded {
                entry_point: self.entry.index,
                parts: &parts,
                client_ip: self.client.ip,
                tls: self.client.tls,
                server_name: self.session.as_ref().and_then(|s| s.server_name.as_deref()),
            });
        }
        let mut response = match self.select(&snapshot, &mut parts) {
            Err(answer) => answer.into_response(),
            Ok(target) => match note_route(&parts, target) {
                Handler::Service(node) => {
                    let how = Forwarding {
                        client: &self.client,
                        policy: &self.entry.policy,
                        entry_headers: EntryHeaders::Pending,
                        interim: interim.as_ref(),
                    };
                    endpoint::forward(node, parts, body, how, &target.router).await
                }
                Handler::Api => api::respond(&snapshot, &parts),
                Handler::Noop => Response::new(ResponseBody::empty()),
                Handler::Internal(service) => {
                    let Ok(response) = service.clone().oneshot(Request::from_parts(parts, body)).await;
                    response
                }
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

    /// The answer to an ACME HTTP-01 challenge, ahead of every router and redirection.
    #[cfg(feature = "acme")]
    fn http01_answer(&self, req: &Request<RequestBody>) -> Option<Response<ResponseBody>> {
        let tokens = self.entry.http01.as_ref()?;
        if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
            return None;
        }
        let answer = tokens.answer(req.uri().path())?;
        let mut response = Response::new(ResponseBody::from(bytes::Bytes::copy_from_slice(answer.as_bytes())));
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Some(response)
    }

    /// The target a request goes to: [`routing::select`] with this connection's entrypoint and client.
    fn select<'s>(&self, snapshot: &'s Snapshot, parts: &mut Parts) -> Result<&'s Target, Refusal> {
        let input = RouteInput {
            entry_point: self.entry.index,
            target: self.entry.target,
            underscores: self.entry.underscores,
            client_ip: self.client.ip,
            tls: self.client.tls,
            tls_options: self.session.as_ref().map(|s| s.options),
            from_wire: self.from_wire,
        };
        routing::select(snapshot, &input, parts).map(|(target, _)| target)
    }

    /// Prepares a request for a middleware stack: what the end of the stack needs to know, and the
    /// client's certificates for `passTLSClientCert`.
    fn attach(&self, snapshot: &Arc<Snapshot>, target: &Target, interim: Option<InterimSink>, parts: &mut Parts) {
        if let Some(certificates) = self.session.as_ref().and_then(|s| s.peer_certificates.as_ref()) {
            parts.extensions.insert(certificates.clone());
        }
        let context = RouteContext {
            policy: Arc::clone(&self.entry.policy),
            client: self.client.clone(),
            snapshot: Arc::clone(snapshot),
            router: Arc::clone(&target.router),
            interim,
        };
        context.attach(parts);
    }
}

/// Tells the request's record, when it is observed, which router it took; returns the target's handler.
fn note_route<'t>(parts: &Parts, target: &'t Target) -> &'t Handler {
    if let Some(record) = RequestRecord::of(&parts.extensions) {
        record.set_router(Arc::clone(&target.router), target.signals);
    }
    &target.handler
}

/// A connection's handling of requests as the innermost service of the embedder's layers; the
/// request's informational sink travels in its extensions through them.
#[derive(Debug, Clone)]
struct Handling(Arc<Connection>);

impl tower::Service<Request<RequestBody>> for Handling {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<RequestBody>) -> Self::Future {
        let interim = req.extensions_mut().remove::<InterimSink>();
        let connection = Arc::clone(&self.0);
        Box::pin(async move { Ok(connection.handle(req, interim).await) })
    }
}
