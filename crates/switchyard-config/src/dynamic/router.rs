//! `http.routers`: which requests go where.

use serde::{Deserialize, Serialize};

/// A router: a rule, the service it sends matching requests to, and the middlewares in between.
///
/// ```
/// use switchyard_config::Router;
///
/// let mut router = Router::new("Host(`example.com`) && PathPrefix(`/api`)", "api");
/// router.middlewares.push("strip-api".into());
/// router.entry_points.push("websecure".into());
/// assert_eq!(router.priority, 0); // 0: the rule's length decides
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Router {
    /// The rule, in Traefik's v3 syntax.
    pub rule: String,
    /// `v3` (the default) or `v2`. Only v3 is supported; a router asking for v2 is reported and left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_syntax: Option<String>,
    /// Explicit priority; 0 means "the length of the rule", as in Traefik.
    pub priority: i64,
    /// The service, as `name` (same provider) or `name@provider`.
    pub service: String,
    /// Middlewares applied in order, each `name` or `name@provider`.
    pub middlewares: Vec<String>,
    /// EntryPoints the router listens on; empty means every entrypoint.
    pub entry_points: Vec<String>,
    /// When present, the router serves TLS requests only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouterTls>,
    /// Per-router observability switches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observability: Option<RouterObservability>,
}

impl Router {
    /// A router with a rule and a service and every other option at Traefik's default.
    pub fn new(rule: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            service: service.into(),
            ..Self::default()
        }
    }
}

/// A router's `tls` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouterTls {
    /// The TLS options to use, by name (`default` when empty).
    pub options: String,
    /// A certificate resolver (ACME) name.
    pub cert_resolver: String,
    /// Domains to request certificates for.
    pub domains: Vec<TlsDomain>,
}

/// A domain with its subject alternative names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsDomain {
    /// The main domain.
    pub main: String,
    /// Subject alternative names.
    pub sans: Vec<String>,
}

/// A router's `observability` section: which signals this router produces (all on by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouterObservability {
    /// Write access-log lines for this router's requests.
    pub access_logs: bool,
    /// Record metrics for this router.
    pub metrics: bool,
    /// Record traces for this router.
    pub tracing: bool,
    /// `minimal` or `detailed`.
    pub trace_verbosity: String,
}

impl Default for RouterObservability {
    fn default() -> Self {
        Self {
            access_logs: true,
            metrics: true,
            tracing: true,
            trace_verbosity: "minimal".into(),
        }
    }
}
