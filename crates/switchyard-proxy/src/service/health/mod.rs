//! Server health: active probes (`healthCheck`) and passive failure counting (`passiveHealthCheck`),
//! with Traefik's options and defaults.
//!
//! - **Active**: each server is probed every `interval` while healthy and every `unhealthyInterval`
//!   (default: `interval`) while not. An HTTP probe passes with the expected `status`, or any 2xx/3xx
//!   when none is set (redirects followed unless `followRedirects: false`); a gRPC probe passes when
//!   `grpc.health.v1.Health/Check` answers `SERVING`. A probe that takes longer than `timeout` fails.
//! - **Passive**: a request that never reached the server or got a 5xx counts as a failure; a success
//!   clears the count. `maxFailedAttempts` failures within `failureWindow` take the server out; it comes
//!   back after `failureWindow`, or — when active probes run too — when a probe passes.
//!
//! An `https` probe (the server's scheme, or `scheme: https`) runs over TLS with the service's
//! `serversTransport`, speaking HTTP/2 when the handshake settles on `h2` (the `tls` feature).
//!
//! Health checks know servers only, each by its state ([`ServerStats`]) and names for the log
//! ([`Watched`]); a load balancer reads that state when it picks. A server out of rotation receives no
//! new requests (sticky ones move too); with none healthy, the service answers 503.

mod active;
mod passive;
mod probe;

use std::sync::Arc;

pub(crate) use active::{ActiveChecks, spawn_active};
pub(crate) use passive::Passive;
pub(crate) use probe::Probe;

use crate::balancing::ServerStats;

/// A server as health checks see it: its state, shared with the load balancer, and its names.
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    service: Arc<str>,
    url: Arc<str>,
    stats: Arc<ServerStats>,
}

impl Watched {
    pub(crate) fn new(service: Arc<str>, url: &str, stats: Arc<ServerStats>) -> Self {
        Self {
            service,
            url: Arc::from(url),
            stats,
        }
    }

    /// Puts the server in or out of rotation, logging a change.
    pub(crate) fn set_up(&self, up: bool) {
        if self.stats.set_up(up) {
            let status = if up { "UP" } else { "DOWN" };
            tracing::info!(target: "switchyard::health", service = &*self.service, server = &*self.url, status, "server status changed");
        }
    }

    pub(crate) fn stats(&self) -> &ServerStats {
        &self.stats
    }
}
