//! switchyard: an embeddable edge router that speaks Traefik's configuration.
//!
//! This facade is the crate applications depend on. It re-exports each part of switchyard as a module,
//! the optional ones behind cargo features, and turns a Traefik static configuration into a running
//! gateway with [`gateway_from_static`]:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = switchyard::config::load_file::<switchyard::config::StaticConfig>("traefik.yml".as_ref())?.value;
//! let gateway = switchyard::gateway_from_static(&config)?.start().await?;
//! gateway.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # A map of the crate
//!
//! switchyard is two flows that meet at one atomic pointer: configuration flows in from providers and
//! is compiled into an immutable [`proxy::Snapshot`]; requests flow through whichever snapshot is
//! current.
//!
//! **The request path.** An entrypoint ([`Gateway`], which binds them) accepts a connection (PROXY
//! protocol, TLS by SNI with [`tls`](mod@crate::tls) when the `tls` feature is on, HTTP/1.1 or HTTP/2),
//! checks each request's head and cleans its path, finds its route in the entrypoint's
//! [`rules::RouteTable`], runs the route's [`middleware`] stack, and forwards through the route's
//! service (load balancers and their [`proxy::balancing`] strategies, services over services) to a
//! backend. Where you can extend it:
//!
//! - [`Gateway::layer`]: a tower layer of your own around every request of the entrypoints;
//! - [`Gateway::plugins`]: middlewares of your own, which configurations name like built-in ones;
//! - [`middleware::layers`]: the built-in middlewares as tower layers, for a stack of your own;
//! - [`Gateway::balancer`]: a load-balancing strategy of your own, named by configurations;
//! - [`Gateway::embedded`] and [`proxy::RouterService`]: the router inside another server (axum, say).
//!
//! When the static configuration sets up `accessLog`, `metrics` or `tracing`, the
//! [`observe::Observer`]'s layer goes first on every entrypoint, before yours: it times each request and
//! puts a [`middleware::RequestRecord`] in its extensions, which routing, the load balancer, `retry` and
//! the upstream call fill in (router, service, server, attempts, the origin's status) and your layers
//! can read; the access log, the metrics and the server span are written from it when the response
//! ends.
//!
//! ```
//! use switchyard::Gateway;
//! use switchyard::config::StaticConfig;
//! use switchyard::middleware::{HttpService, MiddlewareLayer};
//! use tower::ServiceExt;
//!
//! // Every answer of the gateway says who served it.
//! let stamp = MiddlewareLayer::new(tower::layer::layer_fn(|inner: HttpService| {
//!     HttpService::new(inner.map_response(|mut response: http::Response<_>| {
//!         response.headers_mut().insert("x-served-by", http::HeaderValue::from_static("edge-1"));
//!         response
//!     }))
//! }));
//! let gateway = Gateway::new(&StaticConfig::default()).layer(stamp);
//! # let _ = gateway;
//! ```
//!
//! **The configuration path.** Providers ([`config::Provider`]: the file provider, the Kubernetes
//! providers, [`config::MemoryProvider`] driven from code, or your own) each publish their whole
//! configuration; the [`config::Aggregator`] qualifies names (`name@provider`), merges, validates and
//! reports every element with its key path ([`config::Report`]); the gateway compiles each result
//! into a [`proxy::Snapshot`], reusing what did not change, and swaps it in. Where you can extend it:
//! implement [`config::Provider`], or change a [`config::MemoryProvider`]'s configuration from code.
//!
//! ```no_run
//! use switchyard::Gateway;
//! use switchyard::config::{DynamicConfig, LoadBalancer, MemoryProvider, Router, Service, StaticConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut dynamic = DynamicConfig::default();
//! dynamic.http.routers.insert("api".into(), Router::new("PathPrefix(`/api`)", "api"));
//! dynamic.http.services.insert("api".into(), Service::from(LoadBalancer::with_urls(["http://127.0.0.1:9000"])));
//! let (provider, handle) = MemoryProvider::new("code", dynamic);
//! let gateway = Gateway::new(&StaticConfig::default()).provider(provider).start().await?;
//! // Live, without dropping a request:
//! handle.update(|c| c.http.routers.insert("all".into(), Router::new("PathPrefix(`/`)", "api")).map(drop).unwrap_or(()));
//! gateway.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The rule language can be used on its own:
//!
//! ```
//! use switchyard::rules::{RequestView, Route, RouteTable, Rule};
//!
//! let table = RouteTable::new([Route::new(
//!     "whoami",
//!     Rule::parse("Host(`whoami.localhost`) || PathPrefix(`/whoami`)").unwrap(),
//!     "whoami-service",
//! )]);
//! let (parts, _) = http::Request::get("http://whoami.localhost/").body(()).unwrap().into_parts();
//! let request = RequestView::new(&parts, None).unwrap();
//! assert_eq!(table.route(&request).map(|m| *m.value()), Some("whoami-service"));
//! ```
//!
//! # Cargo features
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `tls` (default) | TLS termination on entrypoints (SNI, `tls.certificates`, stores, `tls.options`, mutual TLS) and HTTPS towards backends (`serversTransports`), with rustls; the `tls` module |
//! | `acme` | ACME certificate resolvers, Traefik's `certificatesResolvers` (HTTP-01, TLS-ALPN-01, DNS-01; `acme.json` storage shared by replicas); the `acme` module |
//! | `file` | the file provider, Traefik's `providers.file` (YAML, TOML, JSON; watched); the `file` module |
//! | `kubernetes` | the Kubernetes providers, Traefik's `providers.kubernetesIngress` and `providers.kubernetesCRD` (needs Rust 1.89); the `kubernetes` module |
//! | `redis` | `rateLimit.redis`: rate limits shared by every replica through Redis |

/// Traefik v3 routing rules and the indexed route table (the `switchyard-rules` crate).
pub use switchyard_rules as rules;

/// Traefik's static and dynamic configuration, the `Provider` trait and the aggregator (the
/// `switchyard-config` crate).
pub use switchyard_config as config;

/// The file provider (the `switchyard-file` crate; cargo feature `file`).
#[cfg(feature = "file")]
pub use switchyard_file as file;

/// The Kubernetes providers, Ingress and Traefik's CRDs (the `switchyard-kubernetes` crate; cargo
/// feature `kubernetes`).
#[cfg(feature = "kubernetes")]
pub use switchyard_kubernetes as kubernetes;

/// The data plane: entrypoints, routing, forwarding, hot-swapped snapshots (the `switchyard-proxy` crate).
pub use switchyard_proxy as proxy;

/// Access logs, Prometheus metrics and OpenTelemetry traces, configured from Traefik's static
/// `accessLog`, `metrics` and `tracing` (the `switchyard-observe` crate; cargo features `access-log` and
/// `metrics`, on by default, and `otel`).
pub use switchyard_observe as observe;

/// Traefik's HTTP middlewares as tower layers, and the registry for your own (the
/// `switchyard-middleware` crate).
pub use switchyard_middleware as middleware;

/// Certificates, the SNI certificate store and Traefik's TLS options as rustls configurations (the
/// `switchyard-tls` crate; cargo feature `tls`, on by default).
#[cfg(feature = "tls")]
pub use switchyard_tls as tls;

/// ACME certificate resolvers: orders, storage, DNS providers (the `switchyard-acme` crate; cargo
/// feature `acme`).
#[cfg(feature = "acme")]
pub use switchyard_acme as acme;

pub use switchyard_proxy::{Gateway, RunningGateway};

/// A static configuration names a provider this build does not include.
#[derive(Debug, thiserror::Error)]
#[error("providers.{provider} is configured, but {}", Missing(feature))]
pub struct MissingFeature {
    /// The provider's key in the static configuration.
    pub provider: &'static str,
    /// The cargo feature that provides it; empty when no version of switchyard provides it yet.
    pub feature: &'static str,
}

/// Why a provider is missing: a cargo feature left out, or not implemented yet.
struct Missing<'a>(&'a str);

impl std::fmt::Display for Missing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("switchyard does not implement it yet")
        } else {
            write!(f, "switchyard was built without the `{}` feature", self.0)
        }
    }
}

/// A [`Gateway`] for a static configuration, with the providers it configures (`providers.file`,
/// `providers.kubernetesIngress`, `providers.kubernetesCRD` and `providers.kubernetesGateway`, whose
/// listeners serve on the entrypoints with their port). A provider this build was compiled without is
/// an error rather than silently missing routes.
///
/// ```
/// use switchyard::config::{Format, StaticConfig, load_str};
///
/// let config: StaticConfig = load_str("entryPoints:\n  web:\n    address: ':8000'\n", Format::Yaml, "traefik.yml")
///     .unwrap()
///     .value;
/// let gateway = switchyard::gateway_from_static(&config).unwrap();
/// # drop(gateway);
/// ```
pub fn gateway_from_static(config: &config::StaticConfig) -> Result<Gateway, MissingFeature> {
    let providers = &config.providers;
    if let Some(missing) = missing_provider(providers, BUILT) {
        return Err(missing);
    }
    #[allow(unused_mut, reason = "providers are added by feature")]
    let mut gateway = Gateway::new(config);
    #[cfg(feature = "file")]
    if let Some(options) = &providers.file {
        gateway = gateway.provider(file::FileProvider::from_static(options));
    }
    #[cfg(feature = "kubernetes")]
    if let Some(options) = &providers.kubernetes_ingress {
        gateway = gateway.provider(kubernetes::IngressProvider::from_static(options));
    }
    #[cfg(feature = "kubernetes")]
    if let Some(options) = &providers.kubernetes_crd {
        gateway = gateway.provider(kubernetes::CrdProvider::from_static(options));
    }
    #[cfg(feature = "kubernetes")]
    if let Some(options) = &providers.kubernetes_gateway {
        gateway = gateway.provider(gateway_api_provider(config, options));
    }
    Ok(gateway)
}

/// The Gateway API provider of `providers.kubernetesGateway`, its listeners mapped to the TCP
/// entrypoints by port.
#[cfg(feature = "kubernetes")]
fn gateway_api_provider(
    config: &config::StaticConfig,
    options: &config::KubernetesGatewayOptions,
) -> kubernetes::GatewayProvider {
    let mut provider = kubernetes::GatewayProvider::from_static(options);
    for (name, entry_point) in &config.entry_points {
        if let Ok(address) = entry_point.address()
            && !address.is_udp()
        {
            provider = provider.entry_point(name.clone(), address.port());
        }
    }
    provider
}

/// The optional providers a build includes.
#[derive(Debug, Clone, Copy)]
struct Built {
    file: bool,
    kubernetes: bool,
}

/// This build's providers.
const BUILT: Built = Built {
    file: cfg!(feature = "file"),
    kubernetes: cfg!(feature = "kubernetes"),
};

/// The first provider `providers` configures that a build with `built` lacks, in the order of
/// Traefik's documentation.
fn missing_provider(providers: &config::Providers, built: Built) -> Option<MissingFeature> {
    let configured = [
        ("file", "file", providers.file.is_some(), built.file),
        (
            "kubernetesIngress",
            "kubernetes",
            providers.kubernetes_ingress.is_some(),
            built.kubernetes,
        ),
        (
            "kubernetesCRD",
            "kubernetes",
            providers.kubernetes_crd.is_some(),
            built.kubernetes,
        ),
        (
            "kubernetesGateway",
            "kubernetes",
            providers.kubernetes_gateway.is_some(),
            built.kubernetes,
        ),
    ];
    configured
        .into_iter()
        .find(|&(_, _, on, built)| on && !built)
        .map(|(provider, feature, _, _)| MissingFeature { provider, feature })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(yaml: &str) -> config::Providers {
        let loaded = config::load_str::<config::StaticConfig>(yaml, config::Format::Yaml, "traefik.yml");
        loaded.map(|l| l.value.providers).expect("a valid static configuration")
    }

    #[test]
    fn a_provider_the_build_lacks_is_named_with_its_feature() {
        let both = providers("providers:\n  file:\n    filename: d.yml\n  kubernetesIngress: {}\n");
        let without = |file, kubernetes| missing_provider(&both, Built { file, kubernetes });
        assert_eq!(
            without(true, false).map(|m| m.to_string()).as_deref(),
            Some(
                "providers.kubernetesIngress is configured, but switchyard was built without the `kubernetes` feature"
            )
        );
        assert_eq!(
            without(false, true).map(|m| m.to_string()).as_deref(),
            Some("providers.file is configured, but switchyard was built without the `file` feature")
        );
        assert!(without(true, true).is_none());
        let none = providers("entryPoints:\n  web:\n    address: ':80'\n");
        assert!(
            missing_provider(
                &none,
                Built {
                    file: false,
                    kubernetes: false
                }
            )
            .is_none()
        );
    }

    #[test]
    fn crds_and_the_gateway_api_need_kubernetes() {
        let crd = providers("providers:\n  kubernetesCRD: {}\n  kubernetesGateway: {}\n");
        let all = Built {
            file: true,
            kubernetes: true,
        };
        assert!(missing_provider(&crd, all).is_none());
        let without = Built {
            file: true,
            kubernetes: false,
        };
        assert_eq!(
            missing_provider(&crd, without).map(|m| m.to_string()).as_deref(),
            Some("providers.kubernetesCRD is configured, but switchyard was built without the `kubernetes` feature")
        );
        let gateway_api = providers("providers:\n  kubernetesGateway: {}\n");
        assert_eq!(
            missing_provider(&gateway_api, without)
                .map(|m| m.to_string())
                .as_deref(),
            Some(
                "providers.kubernetesGateway is configured, but switchyard was built without the `kubernetes` feature"
            )
        );
    }
}

/// The README's Rust examples, compiled and run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
