//! The TCP routes of one entrypoint, in the order they are tried, and what each leads to.

use std::sync::Arc;

use switchyard_rules::{TcpConnection, TcpRule};

use super::middleware::TcpMiddleware;
use super::service::TcpService;

/// The TCP routes of one entrypoint: routers without `tls` take plain connections, the others TLS
/// ones, as in Traefik. Each list is sorted by priority (highest first), then router name.
#[derive(Debug, Default)]
pub(crate) struct TcpRoutes {
    pub(crate) plain: Vec<TcpRoute>,
    pub(crate) tls: Vec<TcpRoute>,
}

/// One router on one entrypoint.
#[derive(Debug)]
pub(crate) struct TcpRoute {
    pub(crate) rule: TcpRule,
    pub(crate) priority: i64,
    pub(crate) target: Arc<TcpTarget>,
}

/// Where a routed connection goes: through the router's middlewares to its service, its TLS
/// terminated or not.
#[derive(Debug)]
pub(crate) struct TcpTarget {
    /// The router's qualified name, for logs.
    pub(crate) router: Arc<str>,
    pub(crate) middlewares: Vec<TcpMiddleware>,
    pub(crate) service: TcpService,
    pub(crate) tls: TargetTls,
}

/// What happens to TLS on a routed connection.
#[derive(Debug)]
pub(crate) enum TargetTls {
    /// A plain connection: bytes go as they come.
    Plain,
    /// `tls.passthrough`: the TLS bytes go to the backend untouched, ClientHello included.
    Passthrough,
    /// Terminated with this configuration (the router's TLS options over the certificates).
    #[cfg(feature = "tls")]
    Terminate(Arc<rustls::ServerConfig>),
}

impl TcpRoutes {
    /// Whether the entrypoint has no TCP route.
    pub(crate) fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.tls.is_empty()
    }

    /// Sorts both lists into the order they are tried.
    pub(crate) fn sort(&mut self) {
        for routes in [&mut self.plain, &mut self.tls] {
            routes.sort_by(|a, b| {
                b.priority
                    .cmp(&a.priority)
                    .then_with(|| a.target.router.cmp(&b.target.router))
            });
        }
    }

    /// The first plain route whose rule matches.
    pub(crate) fn plain_match(&self, connection: &TcpConnection<'_>) -> Option<&Arc<TcpTarget>> {
        first_match(&self.plain, connection).map(|(target, _)| target)
    }

    /// The first TLS route whose rule matches, and whether its rule is ``HostSNI(`*`)`` alone.
    pub(crate) fn tls_match(&self, connection: &TcpConnection<'_>) -> Option<(&Arc<TcpTarget>, bool)> {
        first_match(&self.tls, connection)
    }
}

fn first_match<'r>(routes: &'r [TcpRoute], connection: &TcpConnection<'_>) -> Option<(&'r Arc<TcpTarget>, bool)> {
    routes
        .iter()
        .find(|route| route.rule.matches(connection))
        .map(|route| (&route.target, route.rule.is_catch_all()))
}
