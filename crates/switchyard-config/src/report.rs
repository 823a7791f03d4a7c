//! What validation found, element by element.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A problem with one element of the configuration, and where it is.
///
/// Displayed as `http.routers.api@file.service (dynamic.yml): service "web@file" does not exist`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ConfigError {
    /// The provider that defined the element (several, comma-separated, for cross-provider conflicts).
    pub provider: String,
    /// Where within the provider: a file for the file provider, an object for Kubernetes.
    pub origin: Option<String>,
    /// The key path of the offending value (`http.routers.api@file.rule`).
    pub key_path: String,
    /// What is wrong.
    #[source]
    pub problem: Problem,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key_path)?;
        if let Some(origin) = &self.origin {
            write!(f, " ({origin})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Why an element is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Problem {
    /// The router's rule does not parse.
    #[error("{0}")]
    Rule(String),
    /// The router asks for a rule syntax other than v3.
    #[error("ruleSyntax `{0}` is not supported: switchyard reads Traefik v3 rules only; rewrite the rule in v3 syntax")]
    RuleSyntax(String),
    /// A router has no rule.
    #[error("the rule is empty")]
    EmptyRule,
    /// A referenced service is not defined (or was disabled by its own errors).
    #[error("service `{0}` does not exist")]
    MissingService(String),
    /// A referenced service exists but is disabled by errors of its own.
    #[error("service `{0}` is disabled by its own errors")]
    DisabledService(String),
    /// A referenced middleware is not defined.
    #[error("middleware `{0}` does not exist")]
    MissingMiddleware(String),
    /// A referenced middleware exists but is disabled by errors of its own.
    #[error("middleware `{0}` is disabled by its own errors")]
    DisabledMiddleware(String),
    /// A referenced servers transport is not defined.
    #[error("serversTransport `{0}` does not exist")]
    MissingServersTransport(String),
    /// A referenced TLS options set is not defined.
    #[error("TLS options `{0}` do not exist")]
    MissingTlsOptions(String),
    /// A router names an entrypoint that is not configured.
    #[error("entryPoint `{0}` does not exist")]
    MissingEntryPoint(String),
    /// Services or middlewares refer to each other in a loop.
    #[error("reference cycle: {0}")]
    Cycle(String),
    /// A value is invalid for its option.
    #[error("{0}")]
    Invalid(String),
    /// Two definitions clash.
    #[error("{0}")]
    Conflict(String),
    /// A feature switchyard does not provide yet.
    #[error("{0}")]
    Unsupported(String),
    /// Every request the router's rule matches goes to routers tried before it on the same entrypoint
    /// (or may, where regexps leave it open): a warning, the router stays live.
    #[error("{0}")]
    Shadowed(String),
}

/// Whether an element went live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Live, without problems.
    Enabled,
    /// Live, with problems that did not stop it (an unknown entrypoint among known ones).
    Warning,
    /// Left out because of its errors.
    Disabled,
}

/// One element's status and errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElementReport {
    /// The provider that defined it.
    pub provider: String,
    /// Where within the provider (a file, a Kubernetes object), when known.
    pub origin: Option<String>,
    /// Whether it went live.
    pub status: Status,
    /// Its problems.
    pub errors: Vec<ConfigError>,
}

/// The status of every router, service and middleware, by qualified name, and problems not tied to one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Routers.
    pub routers: BTreeMap<String, ElementReport>,
    /// Services.
    pub services: BTreeMap<String, ElementReport>,
    /// Middlewares.
    pub middlewares: BTreeMap<String, ElementReport>,
    /// Problems of the configuration as a whole (conflicts between providers, unsupported sections).
    pub general: Vec<ConfigError>,
    /// The `tcp` section's routers, services and middlewares.
    pub tcp: TcpReport,
    /// The `udp` section's routers and services.
    pub udp: UdpReport,
}

/// The status of every UDP router and service, by qualified name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UdpReport {
    /// UDP routers.
    pub routers: BTreeMap<String, ElementReport>,
    /// UDP services.
    pub services: BTreeMap<String, ElementReport>,
}

/// The status of every TCP router, service and middleware, by qualified name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpReport {
    /// TCP routers.
    pub routers: BTreeMap<String, ElementReport>,
    /// TCP services.
    pub services: BTreeMap<String, ElementReport>,
    /// TCP middlewares.
    pub middlewares: BTreeMap<String, ElementReport>,
}

impl Report {
    /// Every error, element by element, then the general ones.
    pub fn errors(&self) -> impl Iterator<Item = &ConfigError> {
        self.routers
            .values()
            .chain(self.services.values())
            .chain(self.middlewares.values())
            .chain(self.tcp.routers.values())
            .chain(self.tcp.services.values())
            .chain(self.tcp.middlewares.values())
            .chain(self.udp.routers.values())
            .chain(self.udp.services.values())
            .flat_map(|element| &element.errors)
            .chain(&self.general)
    }
}
