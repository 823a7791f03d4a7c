//! The data plane of switchyard: entrypoints that accept connections, a router that sends each request
//! through the live [`Snapshot`], and the upstream client that forwards it to a backend.
//!
//! Configuration flows in from providers through the aggregator of `switchyard-config`; each checked
//! configuration is compiled into an immutable [`Snapshot`] (route tables per entrypoint, a load balancer
//! per service, pooled connections per server) and swapped in atomically. A request loads the snapshot
//! once and keeps it to the end, so reloads never disturb requests in flight; connection pools and load
//! balancers of unchanged services are carried over from one snapshot to the next.
//!
//! Most applications use [`Gateway`]:
//!
//! ```no_run
//! use switchyard_config::{DynamicConfig, LoadBalancer, MemoryProvider, Router, Service, StaticConfig};
//! use switchyard_proxy::Gateway;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut dynamic = DynamicConfig::default();
//! dynamic.http.routers.insert("whoami".into(), Router::new("Host(`whoami.localhost`)", "whoami"));
//! dynamic.http.services.insert("whoami".into(), Service::from(LoadBalancer::with_urls(["http://127.0.0.1:9000"])));
//! let (provider, handle) = MemoryProvider::new("memory", dynamic);
//!
//! let gateway = Gateway::new(&StaticConfig::default()).provider(provider).start().await?;
//! // ... later, change the configuration: it goes live without dropping a request.
//! handle.update(|c| { c.http.routers.get_mut("whoami").unwrap().rule = "PathPrefix(`/`)".into(); });
//! gateway.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What a request goes through
//! - **Entrypoint**: HTTP/1.1 and h2c on one port (HTTP/2 by its preface, or by ALPN over TLS),
//!   Traefik's limits: `respondingTimeouts` (see below), `http.maxHeaderBytes`,
//!   `http2.maxConcurrentStreams`, `transport.keepAliveMaxRequests`/`keepAliveMaxTime`, the PROXY
//!   protocol (v1 and v2) from `proxyProtocol.trustedIPs`, and graceful shutdown by
//!   `transport.lifeCycle` (`requestAcceptGraceTimeout`, `graceTimeOut`). Options not acted on
//!   (`writeTimeout`, `http3`, `allowACMEByPass`, and without the `acme` feature `http.tls.certResolver`
//!   and `http.tls.domains`) are logged as warnings at start.
//! - **Before routing**: the `Host` checked and aligned with an absolute-form target, headers with
//!   underscores handled by `http.underscoreHeadersStrategy`, and the path cleaned in Traefik's three
//!   stages (encoded characters, normalization, `http.sanitizePath`); the cleaned path is what routers
//!   match and backends receive.
//! - **Routing**: the entrypoint's indexed [`RouteTable`](switchyard_rules::RouteTable); no match is
//!   `404 page not found`, a request whose path cannot be decoded is `400`.
//! - **Middlewares**: the entrypoint's `http.middlewares`, then the router's, then the service's, the
//!   first outermost, built by `switchyard-middleware` (Traefik's set and your own
//!   [`Plugins`](switchyard_middleware::Plugins), see [`Gateway::plugins`]). The entrypoint's
//!   forwarding headers are set before the stack runs (as Traefik's entrypoint does), and
//!   `X-Forwarded-For` is appended when the request leaves. A middleware that cannot be built is
//!   reported and takes its routers down; the rest serves. Layers of unchanged middlewares (and their
//!   state: rate-limit buckets, circuit-breaker windows) are kept across reloads.
//! - **Forwarding**: `X-Forwarded-For/Host/Port/Proto/Server` and `X-Real-Ip` set as Traefik sets them,
//!   with client-supplied values kept only from `forwardedHeaders.trustedIPs` (or `insecure`);
//!   hop-by-hop headers removed both ways (but a client cannot strip `X-Forwarded-*` headers by naming
//!   them in `Connection`); `passHostHeader`; `preservePath`; `;` in queries sent as `&`; `Upgrade`
//!   requests (WebSocket) tunnelled; HTTP/2 backends with `h2c://` server URLs, trailers included.
//! - **HTTPS backends** (cargo feature `tls`): `https://` server URLs over rustls with the service's
//!   `serversTransport` (`rootCAs`, `insecureSkipVerify`, `serverName`, client `certificates`,
//!   `min/maxVersion`, `cipherSuites`, `peerCertURI`, `disableHTTP2`), HTTP/2 when ALPN settles on `h2`;
//!   the static `serversTransport` serves services without one. Health checks and `forwardAuth` speak
//!   HTTPS too. A transport with invalid TLS options takes down the services needing it; the rest serves.
//! - **Errors**: connection refused or reset `502`, `dialTimeout` and `responseHeaderTimeout` `504`, each
//!   with its reason phrase as body, no (healthy) server `503` with `no available server`, as Traefik
//!   answers; each is logged with router, service, server and cause. Informational answers (`103 Early
//!   Hints`) of HTTP/1.1 backends are passed on to HTTP/1.1 and HTTP/2 clients.
//!
//! # Why a request goes where it goes
//! [`Snapshot::explain`] (and `/api/explain` on the API entrypoint) runs a described request through
//! the steps above without sending it, and answers the router that wins with the parts of its rule
//! that matched, the routers that lose, the middlewares, the service and the server
//! ([`Explanation`]). Each compilation also reports, as warnings in [`Snapshot::report`], the routers
//! no request can reach because routers tried before them on the same entrypoint take all their
//! requests. [`Gateway::in_process_backend`] answers every server in process, for tests of a
//! configuration (the `switchyard-testing` crate).
//!
//! # TCP and UDP
//! Entrypoints with `tcp` routers look at each connection before HTTP does: the TLS ClientHello is
//! peeked for its server name and ALPN, and TCP routers (`HostSNI`, `HostSNIRegexp`, `ClientIP`,
//! `ALPN`) take the connections that are theirs, passed through or TLS-terminated, beside HTTP and
//! HTTPS routers on the same port; plain ``HostSNI(`*`)`` routers serve protocols where the server
//! speaks first. Entrypoints whose address ends in `/udp` serve their `udp` router, with sessions per
//! client address. See [`Snapshot::tcp_route_count`] and [`Snapshot::has_udp_route`].
//!
//! # Differences from Traefik, on purpose
//! - hyper's request-head timer also covers the wait between keep-alive requests, so it enforces both
//!   `readTimeout` (for request heads) and `idleTimeout`, whichever is shorter. A request body gets
//!   its own `readTimeout`, counted from its head, and is answered 408 when it is late.
//! - Response bodies are streamed frame by frame as they arrive, which is never later than any
//!   `responseForwarding.flushInterval` would flush them.

mod api;
pub mod balancing;
mod canary;
mod compile;
mod connection;
mod dashboard;
mod date;
mod endpoint;
mod entry_point;
mod explain;
mod forward;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod gateway;
mod interim;
mod request_head;
mod request_path;
mod respond;
mod router_service;
mod routing;
mod service;
mod snapshot;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
mod trusted_peers;
mod udp;
mod upstream;

pub use canary::{Canary, CanaryError, CanaryReport, CanaryState, MovedRequest, ReplayedRequest, RoutedTo};
pub use compile::{API_SERVICE, NOOP_SERVICE};

pub use entry_point::EntryPointError;
pub use explain::{
    ChildService, ExplainError, ExplainRequest, Explanation, Refused, RouterMatch, ServerState, ServiceTree,
};
pub use gateway::{Gateway, GatewayError, PROMETHEUS_SERVICE, RunningGateway};
pub use router_service::{PeerAddr, RouterService};
pub use snapshot::{RouteCount, Snapshot};
pub use switchyard_middleware::{BoxError, RequestBody, ResponseBody};
pub use trusted_peers::TrustedIpError;
pub use upstream::BackendServer;
