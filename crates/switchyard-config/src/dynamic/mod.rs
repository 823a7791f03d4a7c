//! The dynamic configuration: what providers discover and what changes while the router runs.
//!
//! The types follow Traefik's schema key for key (camelCase names, the same nesting), so Traefik's
//! YAML, TOML and JSON files load as they are, and a configuration built in code reads like the file it
//! replaces.

mod middleware;
mod references;
mod router;
mod service;
mod tcp;
mod tls;
mod transport;
mod udp;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use middleware::*;
pub use router::*;
pub use service::*;
pub use tcp::*;
pub use tls::*;
pub use transport::*;
pub use udp::*;

/// One provider's dynamic configuration, or the merged configuration of all providers.
///
/// ```
/// use switchyard_config::{DynamicConfig, LoadBalancer, Router, Service};
///
/// let mut config = DynamicConfig::default();
/// config.http.routers.insert("api".into(), Router::new("Host(`api.example.com`)", "api"));
/// config.http.services.insert("api".into(), Service::from(LoadBalancer::with_urls(["http://10.0.0.1:8080"])));
/// assert_eq!(config.http.routers["api"].service, "api");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DynamicConfig {
    /// HTTP routers, services, middlewares and servers transports.
    pub http: HttpConfig,
    /// TCP routers, services, middlewares and servers transports.
    #[serde(skip_serializing_if = "TcpConfig::is_empty")]
    pub tcp: TcpConfig,
    /// UDP routers and services.
    #[serde(skip_serializing_if = "UdpConfig::is_empty")]
    pub udp: UdpConfig,
    /// Certificates, TLS options and certificate stores.
    pub tls: TlsConfig,
}

/// The `http` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpConfig {
    /// Routers by name.
    pub routers: BTreeMap<String, Router>,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// Middlewares by name.
    pub middlewares: BTreeMap<String, Middleware>,
    /// Servers transports (how to talk to backends) by name.
    pub servers_transports: BTreeMap<String, ServersTransport>,
}
