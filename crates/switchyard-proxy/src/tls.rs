//! TLS on entrypoints, as compiled into a snapshot: the certificates and options, which options each
//! server name gets on each entrypoint, and the options each TLS router resolved to (built by
//! `compile::tls`).

use std::collections::HashMap;
use std::sync::Arc;

use rustls::ServerConfig;
use switchyard_tls::{HostMap, ServerTls};

/// What a server name's handshake uses on one entrypoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SniOptions {
    /// The options with this id.
    Use(u32),
    /// The routers for this name name invalid options: refuse the handshake rather than fall back to
    /// weaker defaults.
    Refuse,
}

/// The compiled TLS side of a snapshot.
#[derive(Debug)]
pub(crate) struct TlsState {
    pub(crate) server: ServerTls,
    /// Per entrypoint: options by server name (from the `Host` rules of its TLS routers).
    pub(crate) sni: Vec<HostMap<SniOptions>>,
    /// The options id of each TLS router, per entrypoint index.
    pub(crate) routers: HashMap<(String, usize), u32>,
}

impl TlsState {
    /// The options id of a TLS router on an entrypoint; `None` when it cannot serve there.
    pub(crate) fn router_options(&self, router: &str, entry_point: usize) -> Option<u32> {
        self.routers.get(&(router.to_owned(), entry_point)).copied()
    }

    /// The configuration a handshake for `server_name` uses on an entrypoint, with its options id.
    /// Without SNI, a certificate covering the local address (`local_ip`) by IP SAN answers, as in
    /// Traefik.
    pub(crate) fn for_server_name(
        &self,
        entry_point: usize,
        server_name: Option<&str>,
        local_ip: Option<std::net::IpAddr>,
    ) -> Option<(u32, Arc<ServerConfig>)> {
        let choice = server_name
            .and_then(|name| self.sni.get(entry_point)?.get(name).copied())
            .unwrap_or(SniOptions::Use(0));
        let SniOptions::Use(id) = choice else { return None };
        let config = self.server.config(id);
        let by_address = match (server_name, local_ip) {
            (None, Some(ip)) => self.server.store().find(&ip.to_string()),
            _ => None,
        };
        Some(match by_address {
            Some(key) => (id, switchyard_tls::with_certificate(config, Arc::clone(key))),
            None => (id, Arc::clone(config)),
        })
    }
}
