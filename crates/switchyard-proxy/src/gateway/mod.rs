//! A whole gateway: providers feed the aggregator, each configuration is compiled into a snapshot and
//! swapped in, and the entrypoints serve requests through whichever snapshot is current.

mod entry_points;
mod internal;
mod observe;
mod running;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_config::{Aggregator, AggregatorError, EntryPoint, MemoryProvider, Provider, StaticConfig};
use switchyard_middleware::{HttpService, MiddlewareLayer, Plugins};
use switchyard_observe::Observer;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::balancing::{Balancer, BalancerFactory, ServerSet};
use crate::compile::{API_SERVICE, Compiler, CompilerOptions, EntryPointDefaults, NOOP_SERVICE};
use crate::entry_point::{EntryPointError, EntryPointServer};
use crate::snapshot::{EntryPointInfo, Snapshot, SnapshotHandle};
use crate::udp::UdpEntryPoint;
use crate::upstream::TransportSettings;
use entry_points::{Planned, system_hostname};
pub use observe::PROMETHEUS_SERVICE;
pub use running::RunningGateway;

/// Why a gateway cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// An entrypoint is misconfigured or its address is taken.
    #[error(transparent)]
    EntryPoint(#[from] EntryPointError),
    /// The providers are misconfigured (duplicate names, ...).
    #[error(transparent)]
    Aggregator(#[from] AggregatorError),
    /// The access log, metrics or tracing cannot be set up as configured.
    #[error(transparent)]
    Observe(#[from] switchyard_observe::ObserveError),
    /// A certificate resolver (`certificatesResolvers`) cannot be set up as configured.
    #[cfg(feature = "acme")]
    #[error(transparent)]
    Acme(#[from] switchyard_acme::AcmeError),
}

/// Builds a gateway from a Traefik static configuration and any number of providers.
///
/// ```no_run
/// use switchyard_config::{DynamicConfig, LoadBalancer, MemoryProvider, Router, Service, StaticConfig};
/// use switchyard_proxy::Gateway;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut dynamic = DynamicConfig::default();
/// dynamic.http.routers.insert("web".into(), Router::new("PathPrefix(`/`)", "web"));
/// dynamic.http.services.insert("web".into(), Service::from(LoadBalancer::with_urls(["http://127.0.0.1:9000"])));
/// let (provider, _handle) = MemoryProvider::new("memory", dynamic);
///
/// let static_config: StaticConfig = switchyard_config::load_str(
///     "entryPoints:\n  web:\n    address: 127.0.0.1:8000\n",
///     switchyard_config::Format::Yaml,
///     "static.yml",
/// )?.value;
/// let gateway = Gateway::new(&static_config).provider(provider).start().await?;
/// println!("listening on {:?}", gateway.local_addr("web"));
/// gateway.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Gateway {
    static_config: StaticConfig,
    aggregator: Aggregator,
    hostname: Option<String>,
    plugins: Plugins,
    balancers: HashMap<String, BalancerFactory>,
    /// Entrypoints that listen on no socket, only served through [`RunningGateway::service`].
    embedded: BTreeSet<String>,
    /// Layers around every request, by entrypoint (`None`: every entrypoint), outermost first.
    layers: Vec<(Option<String>, MiddlewareLayer)>,
    /// What answers every server in process instead of the network ([`Self::in_process_backend`]).
    in_process: Option<HttpService>,
    /// The ACME certificate resolvers, or why they cannot be set up (reported by `start`).
    #[cfg(feature = "acme")]
    acme: Result<Option<Arc<switchyard_acme::CertResolvers>>, switchyard_acme::AcmeError>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("aggregator", &self.aggregator)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway with the entrypoints, throttle and API of a static configuration. Providers are added
    /// with [`provider`](Self::provider); the static configuration's `providers` section is read by the
    /// caller (the `switchyard` facade does it for the providers it was built with).
    pub fn new(static_config: &StaticConfig) -> Self {
        let mut internal = vec![API_SERVICE.to_owned(), NOOP_SERVICE.to_owned()];
        if static_config.metrics.as_ref().is_some_and(|m| m.prometheus.is_some()) {
            internal.push(PROMETHEUS_SERVICE.to_owned());
        }
        let aggregator = Aggregator::for_static(static_config).internal_services(internal);
        #[cfg(not(feature = "acme"))]
        if !static_config.certificates_resolvers.is_empty() {
            tracing::warn!(target: "switchyard::acme", "certificatesResolvers need the `acme` feature; routers naming them are served without ordered certificates");
        }
        Self {
            #[cfg(feature = "acme")]
            acme: cert_resolvers(static_config),
            static_config: static_config.clone(),
            aggregator,
            hostname: system_hostname(),
            plugins: Plugins::new(),
            balancers: HashMap::new(),
            embedded: BTreeSet::new(),
            layers: Vec::new(),
            in_process: None,
        }
    }

    /// Answers the requests for every server of every load balancer with `backend`, in process,
    /// instead of connecting to the server: routing, middlewares and load balancing run as configured,
    /// and the request the backend gets carries the [`BackendServer`](crate::BackendServer) it was
    /// meant for. Meant for tests of a configuration (the `switchyard-testing` crate); health checks
    /// still probe the servers' real addresses.
    ///
    /// ```
    /// use switchyard_config::StaticConfig;
    /// use switchyard_middleware::{HttpService, RequestBody, ResponseBody};
    /// use switchyard_proxy::Gateway;
    ///
    /// let backend = HttpService::new(tower::service_fn(|_req: http::Request<RequestBody>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(ResponseBody::empty()))
    /// }));
    /// let gateway = Gateway::new(&StaticConfig::default()).in_process_backend(backend);
    /// # let _ = gateway;
    /// ```
    #[must_use]
    pub fn in_process_backend(mut self, backend: HttpService) -> Self {
        self.in_process = Some(backend);
        self
    }

    /// Middlewares of your own, which configuration refers to as `plugin: { <name>: {...} }`.
    ///
    /// ```
    /// use switchyard_config::StaticConfig;
    /// use switchyard_middleware::{HttpService, MiddlewareLayer, Plugins};
    /// use switchyard_proxy::Gateway;
    ///
    /// let plugins = Plugins::new().with("noop", |_options| {
    ///     Ok(MiddlewareLayer::new(tower::layer::layer_fn(|inner: HttpService| inner)))
    /// });
    /// let gateway = Gateway::new(&StaticConfig::default()).plugins(plugins);
    /// # let _ = gateway;
    /// ```
    pub fn plugins(mut self, plugins: Plugins) -> Self {
        self.plugins = plugins;
        self
    }

    /// A load-balancing strategy of your own, for the load balancers whose configuration names it as
    /// their `strategy` (`loadBalancer: { strategy: first-up, servers: [...] }`). The factory gets
    /// the service's servers each time the service is compiled; a `strategy` no factory answers to is
    /// reported, and its service left out.
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use std::sync::Arc;
    /// use switchyard_config::StaticConfig;
    /// use switchyard_proxy::Gateway;
    /// use switchyard_proxy::balancing::{Balancer, ServerSet};
    ///
    /// #[derive(Debug)]
    /// struct FirstUp;
    ///
    /// impl Balancer for FirstUp {
    ///     fn pick(&self, servers: &dyn ServerSet, _client: IpAddr) -> Option<usize> {
    ///         (0..servers.len()).find(|&i| servers.weight(i) > 0 && servers.stats(i).is_up())
    ///     }
    /// }
    ///
    /// let gateway = Gateway::new(&StaticConfig::default()).balancer("first-up", |_servers| Box::new(FirstUp));
    /// # let _ = gateway;
    /// ```
    pub fn balancer<F>(mut self, strategy: impl Into<String>, factory: F) -> Self
    where
        F: Fn(&dyn ServerSet) -> Box<dyn Balancer> + Send + Sync + 'static,
    {
        self.balancers.insert(strategy.into(), BalancerFactory::new(factory));
        self
    }

    /// Adds a provider.
    pub fn provider<P: Provider>(mut self, provider: P) -> Self {
        self.aggregator = self.aggregator.provider(provider);
        self
    }

    /// Overrides `providers.providersThrottleDuration` (tests and demos use 0 to see changes at once).
    pub fn throttle(mut self, period: Duration) -> Self {
        self.aggregator = self.aggregator.throttle(period);
        self
    }

    /// An entrypoint that listens on no socket: routers name it as any other, and another server (axum,
    /// a hyper server of your own) serves it through [`RunningGateway::service`]. An entrypoint of
    /// the static configuration by that name keeps its other settings and is not bound; otherwise one
    /// with Traefik's defaults is added.
    ///
    /// ```
    /// use switchyard_config::StaticConfig;
    /// use switchyard_proxy::Gateway;
    ///
    /// # async fn run() -> Result<(), switchyard_proxy::GatewayError> {
    /// let gateway = Gateway::new(&StaticConfig::default()).embedded("app").start().await?;
    /// assert!(gateway.local_addr("app").is_none());
    /// let router = gateway.service("app").expect("the embedded entrypoint");
    /// # drop(router);
    /// # Ok(()) }
    /// ```
    pub fn embedded(mut self, entry_point: impl Into<String>) -> Self {
        let name = entry_point.into();
        self.static_config
            .entry_points
            .entry(name.clone())
            .or_insert_with(|| EntryPoint::new("127.0.0.1:0"));
        self.embedded.insert(name);
        self.aggregator = self.aggregator.entry_points(
            self.static_config.effective_entry_points().into_keys(),
            self.static_config.default_entry_points(),
        );
        self
    }

    /// A tower layer around every request of every entrypoint, outside routing: it sees each request
    /// as the entrypoint received it (after the checks of its head and path) and each answer as it
    /// leaves, whatever router, middleware or service produced it: the place for an embedder's own
    /// logging, metrics, limits or headers. Layers apply in the order given, the first outermost.
    ///
    /// ```
    /// use switchyard_config::StaticConfig;
    /// use switchyard_middleware::{HttpService, MiddlewareLayer};
    /// use switchyard_proxy::Gateway;
    /// use tower::ServiceExt;
    ///
    /// // Stamps every answer of the gateway.
    /// let stamp = MiddlewareLayer::new(tower::layer::layer_fn(|inner: HttpService| {
    ///     HttpService::new(inner.map_response(|mut response: http::Response<_>| {
    ///         response.headers_mut().insert("x-served-by", http::HeaderValue::from_static("switchyard"));
    ///         response
    ///     }))
    /// }));
    /// let gateway = Gateway::new(&StaticConfig::default()).layer(stamp);
    /// # let _ = gateway;
    /// ```
    pub fn layer(mut self, layer: MiddlewareLayer) -> Self {
        self.layers.push((None, layer));
        self
    }

    /// A tower layer around every request of one entrypoint (see [`layer`](Self::layer)).
    pub fn layer_on(mut self, entry_point: impl Into<String>, layer: MiddlewareLayer) -> Self {
        self.layers.push((Some(entry_point.into()), layer));
        self
    }

    /// The ACME certificate resolvers of the static configuration (`certificatesResolvers`), to
    /// register DNS providers or a storage of your own before starting, or to read how orders went.
    ///
    /// ```
    /// use switchyard_config::StaticConfig;
    /// use switchyard_proxy::Gateway;
    ///
    /// let gateway = Gateway::new(&StaticConfig::default());
    /// assert!(gateway.cert_resolvers().is_none(), "none configured");
    /// ```
    #[cfg(feature = "acme")]
    pub fn cert_resolvers(&self) -> Option<&Arc<switchyard_acme::CertResolvers>> {
        self.acme.as_ref().ok().and_then(Option::as_ref)
    }

    /// Replaces the certificate resolvers (say, one built with
    /// [`CertResolvers::with_storage`](switchyard_acme::CertResolvers::with_storage)); they must
    /// serve into their own [`IssuedCertificates`](switchyard_tls::IssuedCertificates).
    #[cfg(feature = "acme")]
    pub fn with_cert_resolvers(mut self, resolvers: switchyard_acme::CertResolvers) -> Self {
        self.acme = Ok(Some(Arc::new(resolvers)));
        self
    }

    /// Binds every entrypoint that listens, starts the providers and serves. Fails before serving
    /// anything if an entrypoint cannot be bound.
    #[cfg_attr(
        not(feature = "acme"),
        allow(unused_mut, reason = "the acme feature takes the resolvers out")
    )]
    pub async fn start(mut self) -> Result<RunningGateway, GatewayError> {
        #[cfg(feature = "acme")]
        let acme = std::mem::replace(&mut self.acme, Ok(None))?;
        #[cfg(feature = "acme")]
        self.check_http_challenge_entry_points(acme.as_deref())?;
        let entry_points = self.static_config.effective_entry_points();
        let planned = entry_points
            .iter()
            .map(|(name, config)| Planned::new(name, config, self.hostname.as_deref(), !self.embedded.contains(name)))
            .collect::<Result<Vec<_>, _>>()?;
        let handle = SnapshotHandle::default();
        let stopped = CancellationToken::new();
        let observer = Observer::from_static(&self.static_config)?;
        #[cfg(feature = "acme")]
        let http01 = |name: &str| {
            acme.as_ref()
                .filter(|a| a.http_challenge_entry_points().contains(name))
                .map(|a| Arc::clone(a.http01()))
        };
        #[cfg(not(feature = "acme"))]
        let http01 = |_: &str| None::<()>;
        let (contexts, servers) = self.bind(&planned, &handle, &stopped, observer.as_ref(), &http01)?;
        let udp_servers = bind_udp(&planned, &handle)?;
        let mut addresses: Vec<(String, SocketAddr)> = servers
            .iter()
            .filter_map(|s| Some((contexts[s.context().index].0.clone(), s.local_addr().ok()?)))
            .collect();
        addresses.extend(
            udp_servers
                .iter()
                .filter_map(|(name, s)| Some((name.clone(), s.local_addr().ok()?))),
        );
        let infos = entry_point_infos(&planned, &addresses);
        let canary = self
            .static_config
            .canary
            .as_ref()
            .map(|settings| Arc::new(crate::canary::Canary::new(settings)));
        handle.store(Arc::new(Snapshot::empty(Arc::clone(&infos))));
        let internal = observe::internal_services(observer.as_ref(), &handle);
        let compiler = self.compiler(
            infos,
            &planned,
            internal,
            canary.clone(),
            #[cfg(feature = "acme")]
            acme.clone(),
        );
        #[cfg(feature = "acme")]
        let acme_task = acme.clone().map(|a| tokio::spawn(a.run(stopped.child_token())));
        let aggregator = self.aggregator(&entry_points, &addresses).start()?;
        let (live_tx, live_rx) = watch::channel(handle.load());
        let compile_task = tokio::spawn(running::compile_loop(
            compiler,
            aggregator.subscribe(),
            running::Live {
                handle: handle.clone(),
                sender: live_tx,
                observer: observer.clone(),
                canary: canary.clone(),
                feedback: aggregator.report_feedback(),
            },
        ));
        let mut entry_point_tasks: Vec<_> = servers
            .into_iter()
            .map(|s| tokio::spawn(s.run(stopped.clone())))
            .collect();
        entry_point_tasks.extend(
            udp_servers
                .into_iter()
                .map(|(_, s)| tokio::spawn(s.run(stopped.clone()))),
        );
        Ok(RunningGateway {
            addresses,
            contexts,
            handle,
            live: live_rx,
            shutdown: stopped,
            entry_point_tasks,
            compile_task,
            aggregator,
            observer,
            canary,
            #[cfg(feature = "acme")]
            acme,
            #[cfg(feature = "acme")]
            acme_task,
        })
    }

    /// Every `httpChallenge.entryPoint` must be an entrypoint of the gateway.
    #[cfg(feature = "acme")]
    fn check_http_challenge_entry_points(
        &self,
        acme: Option<&switchyard_acme::CertResolvers>,
    ) -> Result<(), switchyard_acme::AcmeError> {
        let known = self.static_config.effective_entry_points();
        for entry_point in acme.map(|a| a.http_challenge_entry_points()).unwrap_or_default() {
            if !known.contains_key(&entry_point) {
                return Err(switchyard_acme::AcmeError::Config {
                    key_path: "certificatesResolvers.*.acme.httpChallenge.entryPoint".into(),
                    reason: format!("no entrypoint `{entry_point}`"),
                });
            }
        }
        Ok(())
    }

    /// The context of every planned entrypoint, and a bound server for each that listens.
    fn bind(
        &self,
        planned: &[Planned],
        handle: &SnapshotHandle,
        stopped: &CancellationToken,
        observer: Option<&Arc<Observer>>,
        http01: &dyn Fn(&str) -> Http01,
    ) -> Result<(running::Contexts, Vec<EntryPointServer>), GatewayError> {
        let mut contexts = Vec::with_capacity(planned.len());
        let mut servers = Vec::new();
        for (index, plan) in planned.iter().enumerate() {
            #[cfg(feature = "acme")]
            let context = plan.context(
                index,
                handle,
                self.layers_of(&plan.name),
                stopped,
                observer,
                http01(&plan.name),
            );
            #[cfg(not(feature = "acme"))]
            let context = {
                let _ = http01(&plan.name);
                plan.context(index, handle, self.layers_of(&plan.name), stopped, observer)
            };
            if plan.listens && plan.settings.udp.is_none() {
                servers.push(EntryPointServer::bind(
                    &plan.name,
                    plan.settings.clone(),
                    Arc::clone(&context),
                )?);
            }
            contexts.push((plan.name.clone(), context));
        }
        Ok((contexts, servers))
    }

    /// The embedder's layers around the requests of an entrypoint, outermost first (the observer, when
    /// there is one, comes before them: see `Connection::serve`).
    fn layers_of(&self, entry_point: &str) -> Vec<MiddlewareLayer> {
        self.layers
            .iter()
            .filter(|(only, _)| only.as_deref().is_none_or(|only| only == entry_point))
            .map(|(_, layer)| layer.clone())
            .collect()
    }

    /// The compiler, with what each entrypoint adds to its routers.
    fn compiler(
        &self,
        infos: Arc<[EntryPointInfo]>,
        planned: &[Planned],
        internal: HashMap<String, switchyard_middleware::HttpService>,
        canary: Option<Arc<crate::canary::Canary>>,
        #[cfg(feature = "acme")] acme: Option<Arc<switchyard_acme::CertResolvers>>,
    ) -> Compiler {
        #[cfg(feature = "acme")]
        let static_entry_points = self.static_config.effective_entry_points();
        let defaults = planned
            .iter()
            .map(|p| EntryPointDefaults {
                #[cfg(feature = "acme")]
                acme: static_entry_points
                    .get(&p.name)
                    .and_then(|ep| ep.http.tls.as_ref())
                    .filter(|tls| !tls.cert_resolver.is_empty())
                    .map(|tls| (tls.cert_resolver.clone(), tls.domains.clone())),
                tls: p.settings.tls.clone(),
                middlewares: p.settings.middlewares.clone(),
                denied_encoded: p.settings.denied_encoded,
            })
            .collect();
        let options = CompilerOptions {
            default_transport: self.default_transport(),
            default_servers_transport: self.default_servers_transport(),
            plugins: self.plugins.clone(),
            balancers: self.balancers.clone(),
            internal,
            // Without an `api` section, a gateway that routes `api@internal` from its own
            // configuration gets Traefik's defaults (dashboard on, at the root).
            api: crate::snapshot::ApiSettings::of(self.static_config.api.as_ref()),
            in_process: self.in_process.clone(),
            canary,
            #[cfg(feature = "acme")]
            acme,
        };
        Compiler::new(infos, defaults, options)
    }

    /// The aggregator, with the gateway's own routers (API, redirections) as the `internal` provider.
    fn aggregator(self, entry_points: &BTreeMap<String, EntryPoint>, addresses: &[(String, SocketAddr)]) -> Aggregator {
        let bound = |name: &str| addresses.iter().find(|(n, _)| n == name).map(|(_, a)| *a);
        let internal = internal::internal_config(&self.static_config, entry_points, &bound);
        if internal.http.routers.is_empty() {
            return self.aggregator;
        }
        let (provider, _handle) = MemoryProvider::new("internal", internal);
        self.aggregator.provider(provider)
    }

    fn default_transport(&self) -> TransportSettings {
        let global = self.static_config.servers_transport.clone().unwrap_or_default();
        TransportSettings::new(
            &global.forwarding_timeouts.unwrap_or_default(),
            global.max_idle_conns_per_host,
            false,
        )
    }

    /// The TLS options of the static `serversTransport`, for services that name no transport.
    fn default_servers_transport(&self) -> switchyard_config::ServersTransport {
        let global = self.static_config.servers_transport.clone().unwrap_or_default();
        switchyard_config::ServersTransport {
            insecure_skip_verify: global.insecure_skip_verify,
            root_cas: global.root_cas,
            spiffe: global.spiffe,
            ..switchyard_config::ServersTransport::default()
        }
    }
}

/// What an entrypoint answers of ACME's HTTP-01 challenges.
#[cfg(feature = "acme")]
type Http01 = Option<Arc<switchyard_acme::Http01Tokens>>;
#[cfg(not(feature = "acme"))]
type Http01 = Option<()>;

/// The certificate resolvers of a static configuration, if it has any.
#[cfg(feature = "acme")]
fn cert_resolvers(
    static_config: &StaticConfig,
) -> Result<Option<Arc<switchyard_acme::CertResolvers>>, switchyard_acme::AcmeError> {
    if static_config.certificates_resolvers.is_empty() {
        return Ok(None);
    }
    let issued = Arc::new(switchyard_tls::IssuedCertificates::default());
    switchyard_acme::CertResolvers::from_static(static_config, issued).map(|r| Some(Arc::new(r)))
}

/// Binds every UDP entrypoint that listens.
fn bind_udp(planned: &[Planned], handle: &SnapshotHandle) -> Result<Vec<(String, UdpEntryPoint)>, EntryPointError> {
    let mut bound = Vec::new();
    for (index, plan) in planned.iter().enumerate() {
        let Some(timeout) = plan.settings.udp.filter(|_| plan.listens) else {
            continue;
        };
        let address = plan.settings.address;
        let server = UdpEntryPoint::bind(&plan.name, index, address, timeout, handle.clone()).map_err(|source| {
            EntryPointError::Bind {
                name: plan.name.clone(),
                address,
                source,
            }
        })?;
        bound.push((plan.name.clone(), server));
    }
    Ok(bound)
}

/// The entrypoints as the internal API describes them: bound addresses, with port 0 resolved.
fn entry_point_infos(planned: &[Planned], addresses: &[(String, SocketAddr)]) -> Arc<[EntryPointInfo]> {
    planned
        .iter()
        .map(|plan| {
            let udp = plan.settings.udp.is_some();
            let bound = addresses.iter().find(|(n, _)| *n == plan.name);
            let address = bound.map_or_else(|| plan.settings.address.to_string(), |(_, a)| a.to_string());
            EntryPointInfo {
                name: plan.name.clone(),
                udp,
                target: plan.settings.target,
                underscores: plan.settings.underscores,
                // Traefik writes a UDP entrypoint's address with its `/udp` suffix.
                address: if udp { format!("{address}/udp") } else { address },
            }
        })
        .collect()
}
