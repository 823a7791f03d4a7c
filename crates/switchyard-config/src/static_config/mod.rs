//! The static configuration: what is fixed for the life of the process (entrypoints, providers, API,
//! observability), in Traefik's schema.

mod canary;
mod certificates_resolvers;
mod entry_point;
mod observability;
mod providers;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use canary::{Canary, MAX_CANARY_REQUESTS};
pub use certificates_resolvers::{
    Acme, CertificateResolver, DnsChallenge, Eab, HttpChallenge, KubernetesSecret, LETS_ENCRYPT_DIRECTORY, Propagation,
    TlsChallenge, UnsupportedOption,
};
pub use entry_point::{
    AddressError, EntryPoint, EntryPointAddress, EntryPointHttp, EntryPointHttp2, EntryPointTls, EntryPointTransport,
    EntryPointUdp, ForwardedHeaders, LifeCycle, ProxyProtocol, RedirectEntryPoint, Redirections, RespondingTimeouts,
};
pub use observability::{
    AccessLog, AccessLogFields, AccessLogFilters, AccessLogHeaders, Api, Log, Metrics, Otlp, Prometheus, Tracing,
};
pub use providers::{
    FileProviderOptions, IngressEndpoint, KubernetesCrdOptions, KubernetesGatewayOptions, KubernetesIngressOptions,
    LeaderElectionOptions, Providers, ServiceRef, StatusAddress,
};

use crate::{ForwardingTimeouts, Spiffe};

/// The name of the entrypoint Traefik creates for the API and metrics when they name none.
pub const INTERNAL_ENTRY_POINT: &str = "traefik";

/// Traefik's static configuration, for the parts switchyard provides.
///
/// Sections switchyard does not provide (`experimental`, `hostResolver`, other
/// providers such as `docker`) load as unknown keys: reported, not fatal.
///
/// ```
/// use switchyard_config::{Format, StaticConfig, load_str};
///
/// let yaml = "entryPoints:\n  web:\n    address: ':80'\nproviders:\n  file:\n    directory: /etc/switchyard\n";
/// let config = load_str::<StaticConfig>(yaml, Format::Yaml, "switchyard.yml").unwrap().value;
/// assert_eq!(config.entry_points["web"].address().unwrap().port(), 80);
/// assert!(config.providers.file.as_ref().unwrap().watch);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StaticConfig {
    /// Global switches (accepted; switchyard sends no usage data and checks no versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<Global>,
    /// The default transport towards backends (services without `serversTransport`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servers_transport: Option<StaticServersTransport>,
    /// Entrypoints by name.
    pub entry_points: BTreeMap<String, EntryPoint>,
    /// Configuration providers.
    pub providers: Providers,
    /// The read-only API (and Traefik's dashboard switch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    /// Metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Tracing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
    /// Access logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLog>,
    /// The process log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Log>,
    /// Core settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core: Option<Core>,
    /// ACME certificate resolvers by name, which routers name with `tls.certResolver`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub certificates_resolvers: BTreeMap<String, CertificateResolver>,
    /// Replaying recent requests through each new configuration before it goes live (a switchyard
    /// extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}

impl StaticConfig {
    /// The entrypoints as Traefik runs them: an `http` entrypoint on `:80` when none is configured, and
    /// a `traefik` entrypoint on `:8080` when the API or Prometheus metrics are enabled without an
    /// entrypoint of that name.
    ///
    /// ```
    /// use switchyard_config::{Api, StaticConfig};
    ///
    /// let mut config = StaticConfig::default();
    /// assert_eq!(config.effective_entry_points()["http"].address, ":80");
    /// config.api = Some(Api::default());
    /// assert_eq!(config.effective_entry_points()["traefik"].address, ":8080");
    /// ```
    pub fn effective_entry_points(&self) -> BTreeMap<String, EntryPoint> {
        let mut entry_points = self.entry_points.clone();
        if entry_points.is_empty() {
            entry_points.insert("http".into(), EntryPoint::new(":80"));
        }
        let prometheus_internal = self
            .metrics
            .as_ref()
            .and_then(|m| m.prometheus.as_ref())
            .is_some_and(|p| p.entry_point == INTERNAL_ENTRY_POINT && !p.manual_routing);
        if (self.api.is_some() || prometheus_internal) && !entry_points.contains_key(INTERNAL_ENTRY_POINT) {
            entry_points.insert(INTERNAL_ENTRY_POINT.into(), EntryPoint::new(":8080"));
        }
        entry_points
    }

    /// The entrypoints a router without `entryPoints` attaches to, sorted: those marked `asDefault`, or
    /// all of them when none is marked; never the internal `traefik` one nor UDP ones.
    pub fn default_entry_points(&self) -> Vec<String> {
        let all = self.effective_entry_points();
        let any_marked = all.values().any(|ep| ep.as_default);
        all.into_iter()
            .filter(|(name, ep)| {
                (!any_marked || ep.as_default)
                    && name != INTERNAL_ENTRY_POINT
                    && !ep.address().is_ok_and(|a| a.is_udp())
            })
            .map(|(name, _)| name)
            .collect()
    }
}

/// `global`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Global {
    /// Accepted for compatibility; switchyard never checks for new versions.
    pub check_new_version: bool,
    /// Accepted for compatibility; switchyard sends no usage data.
    pub send_anonymous_usage: bool,
    /// Do not append the client address to `X-Forwarded-For`.
    pub not_append_x_forwarded_for: bool,
}

/// The static `serversTransport`: the default transport towards backends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StaticServersTransport {
    /// Skip verification of backends' certificates.
    pub insecure_skip_verify: bool,
    /// Certificate authorities trusted for backends (paths or PEM).
    #[serde(rename = "rootCAs")]
    pub root_cas: Vec<String>,
    /// Idle connections kept per backend; 0 means 200.
    pub max_idle_conns_per_host: i32,
    /// Timeouts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarding_timeouts: Option<ForwardingTimeouts>,
    /// SPIFFE verification of backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<Spiffe>,
}

/// `core`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Core {
    /// The rule syntax of routers that do not say. Default: `v3`, the only one switchyard reads.
    pub default_rule_syntax: String,
}

impl Default for Core {
    fn default() -> Self {
        Self {
            default_rule_syntax: "v3".into(),
        }
    }
}
