//! The `tcp` section: routers that pick connections by TLS server name, ALPN or client address,
//! services that balance connections over servers, and the middlewares and servers transports they use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::tls::{Certificate, FileOrContent};
use super::{Spiffe, TlsDomain};
use crate::Duration;
use crate::names::qualify;

/// The `tcp` section of a dynamic configuration.
///
/// ```
/// use switchyard_config::{TcpConfig, TcpRouter, TcpService};
///
/// let mut tcp = TcpConfig::default();
/// tcp.routers.insert("db".into(), TcpRouter::new("HostSNI(`*`)", "db"));
/// tcp.services.insert("db".into(), TcpService::with_addresses(["10.0.0.5:5432"]));
/// assert_eq!(tcp.routers["db"].service, "db");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpConfig {
    /// TCP routers by name.
    pub routers: BTreeMap<String, TcpRouter>,
    /// TCP services by name.
    pub services: BTreeMap<String, TcpService>,
    /// TCP middlewares by name.
    pub middlewares: BTreeMap<String, TcpMiddleware>,
    /// TCP servers transports by name.
    pub servers_transports: BTreeMap<String, TcpServersTransport>,
}

impl TcpConfig {
    /// Whether the section defines nothing.
    pub fn is_empty(&self) -> bool {
        self.routers.is_empty()
            && self.services.is_empty()
            && self.middlewares.is_empty()
            && self.servers_transports.is_empty()
    }
}

/// A TCP router: a rule over what a connection shows before any byte is forwarded (TLS server name,
/// ALPN protocols, client address), and the service its connections go to.
///
/// ```
/// use switchyard_config::{TcpRouter, TcpRouterTls};
///
/// let router = TcpRouter::new("HostSNI(`db.example.com`)", "db").with_tls(TcpRouterTls::passthrough());
/// assert!(router.tls.unwrap().passthrough);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpRouter {
    /// EntryPoints the router listens on; empty means the default entrypoints.
    pub entry_points: Vec<String>,
    /// The rule: `HostSNI`, `HostSNIRegexp`, `ClientIP`, `ALPN` with `&&`, `||`, `!`.
    pub rule: String,
    /// `v3` (the default) or `v2`; only v3 is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_syntax: Option<String>,
    /// Explicit priority; 0 means the length of the rule.
    pub priority: i64,
    /// Middlewares applied to each connection, each `name` or `name@provider`.
    pub middlewares: Vec<String>,
    /// The service, `name` or `name@provider`.
    pub service: String,
    /// When present, the router takes TLS connections only: terminated with the entrypoint's
    /// certificates, or passed through untouched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TcpRouterTls>,
}

impl TcpRouter {
    /// A router with a rule and a service, every other option at its default.
    ///
    /// ```
    /// let router = switchyard_config::TcpRouter::new("HostSNI(`*`)", "echo");
    /// assert_eq!(router.priority, 0);
    /// ```
    pub fn new(rule: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            service: service.into(),
            ..Self::default()
        }
    }

    /// The router with its `tls` section.
    ///
    /// ```
    /// use switchyard_config::{TcpRouter, TcpRouterTls};
    ///
    /// let router = TcpRouter::new("HostSNI(`a.example`)", "a").with_tls(TcpRouterTls::default());
    /// assert!(!router.tls.unwrap().passthrough);
    /// ```
    #[must_use]
    pub fn with_tls(mut self, tls: TcpRouterTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The router listening on `entry_points` only.
    ///
    /// ```
    /// let router = switchyard_config::TcpRouter::new("HostSNI(`*`)", "a").with_entry_points(["db"]);
    /// assert_eq!(router.entry_points, ["db"]);
    /// ```
    #[must_use]
    pub fn with_entry_points<I>(mut self, entry_points: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.entry_points = entry_points.into_iter().map(Into::into).collect();
        self
    }

    /// The router with `middlewares` applied to each connection, in order.
    ///
    /// ```
    /// let router = switchyard_config::TcpRouter::new("HostSNI(`*`)", "a").with_middlewares(["lan"]);
    /// assert_eq!(router.middlewares, ["lan"]);
    /// ```
    #[must_use]
    pub fn with_middlewares<I>(mut self, middlewares: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.middlewares = middlewares.into_iter().map(Into::into).collect();
        self
    }

    /// Qualifies the names this router refers to with `provider`.
    pub(crate) fn qualify_references(&mut self, provider: &str, default_entry_points: &[String]) {
        if !self.service.is_empty() {
            self.service = qualify(&self.service, provider);
        }
        for middleware in &mut self.middlewares {
            *middleware = qualify(middleware, provider);
        }
        if let Some(tls) = &mut self.tls {
            if !tls.options.is_empty() && tls.options != crate::DEFAULT_TLS_NAME {
                tls.options = qualify(&tls.options, provider);
            }
        }
        if self.entry_points.is_empty() {
            self.entry_points = default_entry_points.to_vec();
        }
    }
}

/// A TCP router's `tls` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpRouterTls {
    /// Forward the TLS bytes untouched (the backend terminates TLS); otherwise switchyard terminates
    /// and forwards plaintext.
    pub passthrough: bool,
    /// The TLS options, by name (`default` when empty).
    pub options: String,
    /// A certificate resolver (ACME) name; not provided by switchyard.
    pub cert_resolver: String,
    /// Domains to request certificates for with the resolver.
    pub domains: Vec<TlsDomain>,
}

impl TcpRouterTls {
    /// TLS passthrough: the connection's bytes go to the backend as they came.
    ///
    /// ```
    /// assert!(switchyard_config::TcpRouterTls::passthrough().passthrough);
    /// ```
    pub fn passthrough() -> Self {
        Self {
            passthrough: true,
            ..Self::default()
        }
    }
}

/// A TCP service: exactly one of `loadBalancer` and `weighted`.
///
/// ```
/// use switchyard_config::TcpService;
///
/// let service = TcpService::with_addresses(["10.0.0.1:6379", "10.0.0.2:6379"]);
/// assert_eq!(service.load_balancer.unwrap().servers.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpService {
    /// Round robin over servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<TcpLoadBalancer>,
    /// Weighted round robin over other TCP services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted: Option<TcpWeighted>,
}

impl TcpService {
    /// A load balancer over servers at `addresses` (`host:port`).
    ///
    /// ```
    /// let service = switchyard_config::TcpService::with_addresses(["127.0.0.1:9000"]);
    /// assert!(service.weighted.is_none());
    /// ```
    pub fn with_addresses<I>(addresses: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let servers = addresses
            .into_iter()
            .map(|address| TcpServer {
                address: address.into(),
                tls: false,
            })
            .collect();
        Self {
            load_balancer: Some(TcpLoadBalancer {
                servers,
                ..TcpLoadBalancer::default()
            }),
            weighted: None,
        }
    }

    /// The services a weighted service refers to, in order.
    pub fn referenced_services(&self) -> impl Iterator<Item = &str> {
        self.weighted
            .iter()
            .flat_map(|w| w.services.iter().map(|s| s.name.as_str()))
    }

    /// Qualifies the names this service refers to with `provider`.
    pub(crate) fn qualify_references(&mut self, provider: &str) {
        if let Some(lb) = &mut self.load_balancer {
            if !lb.servers_transport.is_empty() {
                lb.servers_transport = qualify(&lb.servers_transport, provider);
            }
        }
        if let Some(weighted) = &mut self.weighted {
            for service in &mut weighted.services {
                service.name = qualify(&service.name, provider);
            }
        }
    }
}

/// `loadBalancer` of a TCP service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpLoadBalancer {
    /// The servers, used in turn.
    pub servers: Vec<TcpServer>,
    /// The servers transport (dial timeout, TLS, PROXY protocol), by name.
    pub servers_transport: String,
    /// Deprecated in Traefik v3 for `serversTransport.proxyProtocol`: send a PROXY protocol header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<TcpProxyProtocol>,
    /// Deprecated in Traefik v3 for `serversTransport.terminationDelay`: milliseconds to wait for the
    /// other side after one side closed; negative waits without limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_delay: Option<i64>,
    /// Active health checks of the servers: a server failing one gets no new connection until it
    /// passes one again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<TcpServerHealthCheck>,
}

/// `healthCheck` of a TCP load balancer: connect (with the servers transport, TLS included), optionally
/// send `send` and expect `expect` back, within `timeout`, every `interval`.
///
/// ```
/// use switchyard_config::{Duration, TcpServerHealthCheck};
///
/// let check = TcpServerHealthCheck::default();
/// assert_eq!((check.interval, check.timeout), (Duration::from_secs(30), Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpServerHealthCheck {
    /// The port to check instead of the server's; 0 for the server's.
    pub port: u16,
    /// Bytes to send once connected.
    pub send: String,
    /// Bytes the server must answer with.
    pub expect: String,
    /// How often healthy servers are checked. Default: 30 s.
    pub interval: Duration,
    /// How often unhealthy servers are checked; default: `interval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy_interval: Option<Duration>,
    /// How long a check may take. Default: 5 s.
    pub timeout: Duration,
}

impl Default for TcpServerHealthCheck {
    fn default() -> Self {
        Self {
            port: 0,
            send: String::new(),
            expect: String::new(),
            interval: Duration::from_secs(30),
            unhealthy_interval: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A TCP server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpServer {
    /// `host:port`.
    pub address: String,
    /// Speak TLS to the server, with the servers transport's TLS settings.
    pub tls: bool,
}

/// `proxyProtocol`: which PROXY protocol version to write in front of the forwarded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpProxyProtocol {
    /// 1 (text) or 2 (binary). Default: 2.
    pub version: u8,
}

impl Default for TcpProxyProtocol {
    fn default() -> Self {
        Self { version: 2 }
    }
}

/// `weighted` of a TCP service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpWeighted {
    /// The services and their weights.
    pub services: Vec<super::WeightedService>,
    /// When present (`healthCheck: {}`), services whose servers are all unhealthy get no connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<super::ParentHealthCheck>,
}

/// A TCP middleware: exactly one type key.
///
/// ```
/// use switchyard_config::{TcpIpAllowList, TcpMiddleware};
///
/// let lan = TcpMiddleware::ip_allow_list(["10.0.0.0/8"]);
/// assert_eq!(lan.ip_allow_list.unwrap().source_range, ["10.0.0.0/8"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpMiddleware {
    /// Accepts connections from listed networks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_allow_list: Option<TcpIpAllowList>,
    /// The deprecated name of `ipAllowList`, still read by Traefik v3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_white_list: Option<TcpIpAllowList>,
    /// Limits the connections open at once per client IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight_conn: Option<TcpInFlightConn>,
}

impl TcpMiddleware {
    /// An `ipAllowList` of `ranges` (IPs or CIDRs).
    ///
    /// ```
    /// let m = switchyard_config::TcpMiddleware::ip_allow_list(["127.0.0.1"]);
    /// assert!(m.in_flight_conn.is_none());
    /// ```
    pub fn ip_allow_list<I>(ranges: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            ip_allow_list: Some(TcpIpAllowList {
                source_range: ranges.into_iter().map(Into::into).collect(),
            }),
            ..Self::default()
        }
    }

    /// The type keys present, in Traefik's spelling.
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            (self.ip_allow_list.is_some(), "ipAllowList"),
            (self.ip_white_list.is_some(), "ipWhiteList"),
            (self.in_flight_conn.is_some(), "inFlightConn"),
        ]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect()
    }
}

/// `ipAllowList` of a TCP middleware.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpIpAllowList {
    /// Allowed IPs and CIDRs.
    pub source_range: Vec<String>,
}

/// `inFlightConn` of a TCP middleware.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpInFlightConn {
    /// How many connections one client IP may hold open at once.
    pub amount: i64,
}

/// A TCP servers transport: how connections to servers are dialled and closed.
///
/// ```
/// use switchyard_config::{Duration, TcpServersTransport};
///
/// let transport = TcpServersTransport::default();
/// assert_eq!(transport.dial_timeout, Duration::from_secs(30));
/// assert_eq!(transport.termination_delay, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpServersTransport {
    /// Time allowed to connect to a server. Default: 30 s.
    pub dial_timeout: Duration,
    /// TCP keep-alive period on server connections; negative disables. Default: 15 s.
    pub dial_keep_alive: Duration,
    /// How long to wait for the other side after one side closed its writing half; negative waits
    /// without limit. Default: 100 ms.
    pub termination_delay: Duration,
    /// Write a PROXY protocol header to servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<TcpProxyProtocol>,
    /// TLS towards servers with `tls: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TcpTransportTls>,
}

impl Default for TcpServersTransport {
    fn default() -> Self {
        Self {
            dial_timeout: Duration::from_secs(30),
            dial_keep_alive: Duration::from_secs(15),
            termination_delay: Duration::from_millis(100),
            proxy_protocol: None,
            tls: None,
        }
    }
}

/// `tls` of a TCP servers transport.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TcpTransportTls {
    /// The server name (SNI) sent and checked.
    pub server_name: String,
    /// Skips verification of the servers' certificates.
    pub insecure_skip_verify: bool,
    /// Trusted certificate authorities, as paths or inline PEM.
    #[serde(rename = "rootCAs")]
    pub root_cas: Vec<FileOrContent>,
    /// Client certificates presented to servers.
    pub certificates: Vec<Certificate>,
    /// A URI that must appear among the server certificate's SANs.
    #[serde(rename = "peerCertURI")]
    pub peer_cert_uri: String,
    /// SPIFFE verification of servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<Spiffe>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_traefik_keys() {
        let json = r#"{
            "routers": {"r": {"entryPoints": ["web"], "rule": "HostSNI(`a`)", "service": "s",
                "tls": {"passthrough": true, "options": "o", "certResolver": "le",
                        "domains": [{"main": "a", "sans": ["b"]}]}}},
            "services": {"s": {"loadBalancer": {"servers": [{"address": "1.2.3.4:5", "tls": true}],
                "proxyProtocol": {"version": 1}, "terminationDelay": 200, "serversTransport": "t"}},
                "w": {"weighted": {"services": [{"name": "s", "weight": 3}]}}},
            "middlewares": {"m": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}},
                            "n": {"inFlightConn": {"amount": 4}}},
            "serversTransports": {"t": {"dialTimeout": "5s", "tls": {"serverName": "db"}}}
        }"#;
        let tcp: TcpConfig = serde_json::from_str(json).unwrap();
        let router = &tcp.routers["r"];
        assert!(router.tls.as_ref().unwrap().passthrough);
        assert_eq!(router.tls.as_ref().unwrap().domains[0].sans, ["b"]);
        let lb = tcp.services["s"].load_balancer.as_ref().unwrap();
        assert!(lb.servers[0].tls);
        assert_eq!(lb.proxy_protocol, Some(TcpProxyProtocol { version: 1 }));
        assert_eq!(lb.termination_delay, Some(200));
        assert_eq!(tcp.services["w"].referenced_services().collect::<Vec<_>>(), ["s"]);
        assert_eq!(tcp.middlewares["n"].in_flight_conn.unwrap().amount, 4);
        assert_eq!(tcp.servers_transports["t"].dial_timeout, Duration::from_secs(5));
        assert_eq!(
            tcp.servers_transports["t"].termination_delay,
            Duration::from_millis(100)
        );
    }
}
