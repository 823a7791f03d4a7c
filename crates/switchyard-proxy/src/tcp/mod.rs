//! TCP routing on entrypoints, beside HTTP: Traefik's `tcp` routers, services and middlewares.
//!
//! An entrypoint with TCP routers looks at each new connection before serving it as HTTP. A TLS
//! ClientHello is peeked, not consumed ([`client_hello`]), so its server name and ALPN protocols can
//! choose a router; then, in Traefik's order:
//!
//! 1. an HTTP router over TLS whose `Host` names the server name serves the connection as HTTPS;
//! 2. else a TLS TCP router whose rule matches (other than ``HostSNI(`*`)`` alone) takes it: passed
//!    through untouched (`tls.passthrough`), or terminated with the entrypoint's certificates and
//!    forwarded as plaintext;
//! 3. else HTTPS routers without a host, then a ``HostSNI(`*`)`` TLS TCP router, then HTTPS's 404.
//!
//! A connection that does not open with TLS goes to the first plain TCP router that matches, else to
//! HTTP. When an entrypoint has plain TCP routers and nothing over TLS, connections are routed at
//! once, without waiting for a first byte, so protocols where the server speaks first (MySQL, SMTP)
//! work; with TLS routers beside them, a client silent for [`SERVER_FIRST_WAIT`] is taken as one.
//!
//! A connection keeps the route it was given: a reload changes where new connections go, never
//! established ones.

mod client_hello;
mod forward;
mod health_check;
mod middleware;
mod proxy_header;
mod round_robin;
mod routes;
mod service;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_rules::TcpConnection;
use tokio::net::TcpStream;

use crate::connection::EntryPointContext;
use crate::snapshot::Snapshot;
use client_hello::Opening;
use forward::IntoHalves;
pub(crate) use health_check::{HealthCheck, spawn as spawn_health_check};
pub(crate) use middleware::{InFlightConn, TcpMiddleware};
pub(crate) use round_robin::WeightedTurns;
pub(crate) use routes::{TargetTls, TcpRoute, TcpRoutes, TcpTarget};
pub(crate) use service::{BackendTls, DialSettings, TcpBalancer, TcpServer, TcpService, TcpWeighted};

/// How long a client that sends nothing is waited for, on an entrypoint with both TLS routes and plain
/// TCP routers, before it is taken for one of the protocols where the server speaks first.
pub(crate) const SERVER_FIRST_WAIT: Duration = Duration::from_secs(1);

/// Routes a new connection by the entrypoint's TCP routers and serves it when one takes it; hands it
/// back when it is HTTP's (or the entrypoint has no TCP routers).
pub(crate) async fn route(
    stream: TcpStream,
    context: &EntryPointContext,
    client: SocketAddr,
    wait: Duration,
) -> Option<TcpStream> {
    let snapshot = context.snapshots.load();
    let routes = match snapshot.tcp.get(context.index) {
        Some(routes) if !routes.is_empty() => routes,
        _ => return Some(stream),
    };
    let https = snapshot.table(context.index, true).is_some_and(|t| !t.is_empty());
    let bare = TcpConnection::new(Some(client.ip()));
    if !routes.plain.is_empty() && routes.tls.is_empty() && !https {
        if let Some(target) = routes.plain_match(&bare) {
            let target = Arc::clone(target);
            drop(snapshot);
            serve(stream, target, client, wait).await;
            return None;
        }
    }
    let first_byte = if routes.plain.is_empty() {
        wait
    } else {
        SERVER_FIRST_WAIT
    };
    let choice = match client_hello::peek(&stream, first_byte, wait).await {
        Opening::Gone => return None,
        Opening::Silent if routes.plain.is_empty() => return None,
        Opening::Silent | Opening::Plain => routes.plain_match(&bare).cloned(),
        Opening::Tls(record) => tls_choice(&snapshot, context.index, routes, https, &record, bare),
    };
    drop(snapshot);
    match choice {
        Some(target) => {
            serve(stream, target, client, wait).await;
            None
        }
        None => Some(stream),
    }
}

/// The TCP target of a TLS connection, in Traefik's order; `None` when HTTPS serves it.
fn tls_choice(
    snapshot: &Snapshot,
    entry_point: usize,
    routes: &TcpRoutes,
    https: bool,
    record: &[u8],
    bare: TcpConnection<'_>,
) -> Option<Arc<TcpTarget>> {
    // A ClientHello that does not parse is left to the TLS handshake, which reports it.
    let hello = client_hello::parse(record)?;
    let connection = bare.with_server_name(hello.server_name).with_alpn(&hello.alpn);
    if https && https_names(snapshot, entry_point, connection.server_name()) {
        return None;
    }
    match routes.tls_match(&connection) {
        Some((target, false)) => Some(Arc::clone(target)),
        Some(_) if https => None,
        Some((target, true)) => Some(Arc::clone(target)),
        None => None,
    }
}

/// Whether an HTTP router over TLS on the entrypoint names this server name in a `Host` matcher.
#[cfg(feature = "tls")]
fn https_names(snapshot: &Snapshot, entry_point: usize, server_name: &str) -> bool {
    !server_name.is_empty()
        && snapshot
            .tls
            .as_ref()
            .and_then(|tls| tls.sni.get(entry_point))
            .is_some_and(|names| names.get(server_name).is_some())
}

/// Without the `tls` feature no HTTP router serves TLS.
#[cfg(not(feature = "tls"))]
fn https_names(_snapshot: &Snapshot, _entry_point: usize, _server_name: &str) -> bool {
    false
}

/// Serves a routed connection: the router's middlewares, TLS termination if the router asks, a
/// server of its service, then bytes both ways until both sides are done.
async fn serve(stream: TcpStream, target: Arc<TcpTarget>, client: SocketAddr, wait: Duration) {
    let _held = match middleware::admit(&target.middlewares, client.ip()) {
        Ok(held) => held,
        Err(refused) => {
            tracing::debug!(target: "switchyard::tcp", router = %target.router, %client, %refused, "connection refused");
            return;
        }
    };
    // The address the client reached, for a PROXY protocol header; asked of the system only then.
    let local = if target.service.writes_proxy_header() {
        Some(stream.local_addr().unwrap_or(client))
    } else {
        None
    };
    match &target.tls {
        TargetTls::Plain | TargetTls::Passthrough => to_backend(stream, &target, client, local).await,
        #[cfg(feature = "tls")]
        TargetTls::Terminate(config) => {
            // Boxed, as the other TLS states below: a plain connection's task stays small.
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
            match tokio::time::timeout(wait, Box::pin(acceptor.accept(stream))).await {
                Ok(Ok(tls)) => Box::pin(to_backend(tls, &target, client, local)).await,
                Ok(Err(error)) => {
                    tracing::debug!(target: "switchyard::tcp", router = %target.router, %client, %error, "TLS handshake failed");
                }
                Err(_) => {
                    tracing::debug!(target: "switchyard::tcp", router = %target.router, %client, "TLS handshake timed out")
                }
            }
        }
    }
    #[cfg(not(feature = "tls"))]
    let _ = wait;
}

/// Connects to a server of the target's service and forwards the connection to it.
async fn to_backend<S: IntoHalves>(stream: S, target: &TcpTarget, client: SocketAddr, local: Option<SocketAddr>) {
    let (backend, delay) = match target.service.connect(client, local).await {
        Ok(connected) => connected,
        Err(error) => {
            tracing::debug!(target: "switchyard::tcp", router = %target.router, %client, %error, "no backend");
            return;
        }
    };
    let forwarded = match backend {
        service::Backend::Plain(backend) => forward::forward(stream, backend, delay).await,
        #[cfg(feature = "tls")]
        service::Backend::Tls(backend) => Box::pin(forward::forward(stream, *backend, delay)).await,
    };
    tracing::trace!(target: "switchyard::tcp", router = %target.router, %client, up = forwarded.up, down = forwarded.down, "connection closed");
}
