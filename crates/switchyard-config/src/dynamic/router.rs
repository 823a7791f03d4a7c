//! `http.routers`: which requests go where.

use serde::{Deserialize, Serialize};

/// A router: a rule, the service it sends matching requests to, and the middlewares in between.
///
/// ```
/// use switchyard_config::Router;
///
/// let router = Router::new("Host(`example.com`) && PathPrefix(`/api`)", "api")
///     .with_middlewares(["strip-api"])
///     .with_entry_points(["websecure"]);
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
    ///
    /// ```
    /// use switchyard_config::Router;
    ///
    /// let router = Router::new("PathPrefix(`/api`)", "api@file");
    /// assert_eq!((router.rule.as_str(), router.service.as_str()), ("PathPrefix(`/api`)", "api@file"));
    /// ```
    pub fn new(rule: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            service: service.into(),
            ..Self::default()
        }
    }

    /// The router with `middlewares` (each `name` or `name@provider`) in place of its list, applied in
    /// that order, the first one outermost.
    ///
    /// ```
    /// use switchyard_config::Router;
    ///
    /// let router = Router::new("PathPrefix(`/api`)", "api").with_middlewares(["auth", "strip-api@file"]);
    /// assert_eq!(router.middlewares, ["auth", "strip-api@file"]);
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

    /// The router with an explicit priority: among the routers that match a request, the highest
    /// priority wins; 0 (the default) means the length of the rule, as in Traefik.
    ///
    /// ```
    /// use switchyard_config::Router;
    ///
    /// let fallback = Router::new("PathPrefix(`/`)", "default").with_priority(1);
    /// assert_eq!(fallback.priority, 1);
    /// ```
    #[must_use]
    pub fn with_priority(mut self, priority: i64) -> Self {
        self.priority = priority;
        self
    }

    /// The router listening on `entry_points` only, in place of its list; an empty list means every
    /// entrypoint.
    ///
    /// ```
    /// use switchyard_config::Router;
    ///
    /// let router = Router::new("Host(`example.com`)", "site").with_entry_points(["websecure"]);
    /// assert_eq!(router.entry_points, ["websecure"]);
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

    /// The router serving TLS requests only, with `tls` (its TLS options by name, a certificate
    /// resolver, domains); `RouterTls::default()` uses the default TLS options.
    ///
    /// ```
    /// use switchyard_config::{Router, RouterTls};
    ///
    /// let strict = RouterTls { options: "modern".into(), ..RouterTls::default() };
    /// let router = Router::new("Host(`example.com`)", "site").with_tls(strict);
    /// assert_eq!(router.tls.map(|tls| tls.options).as_deref(), Some("modern"));
    /// ```
    #[must_use]
    pub fn with_tls(mut self, tls: RouterTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The router with `observability` deciding which signals (access logs, metrics, traces) its
    /// requests produce.
    ///
    /// ```
    /// use switchyard_config::{Router, RouterObservability};
    ///
    /// let quiet = RouterObservability { access_logs: false, ..RouterObservability::default() };
    /// let router = Router::new("Path(`/health`)", "health").with_observability(quiet);
    /// assert_eq!(router.observability.map(|o| o.access_logs), Some(false));
    /// ```
    #[must_use]
    pub fn with_observability(mut self, observability: RouterObservability) -> Self {
        self.observability = Some(observability);
        self
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
