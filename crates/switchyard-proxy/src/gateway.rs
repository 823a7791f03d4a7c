//! A whole gateway: providers feed the aggregator, each configuration is compiled into a snapshot and
//! swapped in, and the entrypoints serve requests through whichever snapshot is current.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_config::{
    Aggregator, AggregatorError, DynamicConfig, MemoryProvider, Provider, Router, RunningAggregator, StaticConfig,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use switchyard_middleware::Plugins;

use crate::balancing::BalancerFactory;
use crate::compile::{API_SERVICE, Compiler, CompilerOptions, EntryPointDefaults, NOOP_SERVICE};
use crate::connection::EntryPointContext;
use crate::entry_point::{EntryPointError, EntryPointServer, EntryPointSettings};
use crate::router_service::RouterService;
use crate::snapshot::{EntryPointInfo, Snapshot, SnapshotHandle};
use crate::upstream::TransportSettings;

/// The entrypoint Traefik serves its API on when `api.insecure` is set.
const API_ENTRY_POINT: &str = "traefik";

/// How often certificate files are checked for changes (modification time and size).
#[cfg(feature = "tls")]
const CERTIFICATE_FILES_POLL: Duration = Duration::from_secs(1);

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
    balancers: std::collections::HashMap<String, BalancerFactory>,
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
        let aggregator =
            Aggregator::for_static(static_config).internal_services([API_SERVICE.to_owned(), NOOP_SERVICE.to_owned()]);
        Self {
            static_config: static_config.clone(),
            aggregator,
            hostname: system_hostname(),
            plugins: Plugins::new(),
            balancers: std::collections::HashMap::new(),
        }
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
        F: Fn(&dyn crate::balancing::ServerSet) -> Box<dyn crate::balancing::Balancer> + Send + Sync + 'static,
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

    /// Binds every entrypoint, starts the providers and serves. Fails before serving anything if an
    /// entrypoint cannot be bound.
    pub async fn start(self) -> Result<RunningGateway, GatewayError> {
        let entry_points = self.static_config.effective_entry_points();
        let mut settings = Vec::with_capacity(entry_points.len());
        for (name, config) in &entry_points {
            for option in not_yet_honoured(config) {
                tracing::warn!(target: "switchyard::entrypoint", "entryPoints.{name}.{option} is not supported yet and is ignored");
            }
            settings.push((
                name.clone(),
                EntryPointSettings::from_config(name, config, self.hostname.as_deref())?,
            ));
        }
        let handle = SnapshotHandle::default();
        let mut servers = Vec::with_capacity(settings.len());
        for (index, (name, settings)) in settings.iter().enumerate() {
            let context = Arc::new(EntryPointContext {
                index,
                snapshots: handle.clone(),
                policy: Arc::new(settings.policy.clone()),
                keep_alive: settings.keep_alive,
                target: settings.target,
                underscores: settings.underscores,
            });
            servers.push(EntryPointServer::bind(name, settings.clone(), context)?);
        }
        let infos: Arc<[EntryPointInfo]> = servers
            .iter()
            .zip(&settings)
            .map(|(server, (name, s))| EntryPointInfo {
                name: name.clone(),
                address: server
                    .local_addr()
                    .map_or_else(|_| s.address.to_string(), |a| a.to_string()),
            })
            .collect();
        handle.store(Arc::new(Snapshot::empty(Arc::clone(&infos))));
        let compiler = Compiler::new(
            infos,
            settings
                .iter()
                .map(|(_, s)| EntryPointDefaults {
                    tls: s.tls.clone(),
                    middlewares: s.middlewares.clone(),
                    denied_encoded: s.denied_encoded,
                })
                .collect(),
            CompilerOptions {
                default_transport: self.default_transport(),
                default_servers_transport: self.default_servers_transport(),
                plugins: self.plugins.clone(),
                balancers: self.balancers.clone(),
            },
        );

        let internal = internal_config(&self.static_config, &entry_points, &servers);
        let mut aggregator = self.aggregator;
        if !internal.http.routers.is_empty() {
            let (provider, _handle) = MemoryProvider::new("internal", internal);
            aggregator = aggregator.provider(provider);
        }
        let aggregator = aggregator.start()?;
        let shutdown = CancellationToken::new();
        let (live_tx, live_rx) = watch::channel(handle.load());
        let compile_task = tokio::spawn(compile_loop(compiler, aggregator.subscribe(), handle.clone(), live_tx));
        let mut addresses = Vec::new();
        let mut contexts = Vec::new();
        let mut tasks = Vec::new();
        for server in servers {
            let name = settings[server.context().index].0.clone();
            if let Ok(address) = server.local_addr() {
                addresses.push((name.clone(), address));
            }
            contexts.push((name, Arc::clone(server.context())));
            tasks.push(tokio::spawn(server.run(shutdown.clone())));
        }
        Ok(RunningGateway {
            addresses,
            contexts,
            handle,
            live: live_rx,
            shutdown,
            entry_point_tasks: tasks,
            compile_task,
            aggregator,
        })
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

async fn compile_loop(
    mut compiler: Compiler,
    mut updates: watch::Receiver<Arc<switchyard_config::Published>>,
    handle: SnapshotHandle,
    live: watch::Sender<Arc<Snapshot>>,
) {
    loop {
        let published = Arc::clone(&updates.borrow_and_update());
        if published.generation > 0 {
            // Compiling 10k routes takes tens of milliseconds: keep it off the threads serving requests.
            let compiled = tokio::task::spawn_blocking(move || {
                let snapshot = compiler.compile(published);
                (compiler, snapshot)
            })
            .await;
            let Ok((returned, snapshot)) = compiled else { return };
            compiler = returned;
            let snapshot = Arc::new(snapshot);
            handle.store(Arc::clone(&snapshot));
            live.send_replace(snapshot);
        }
        if !next_change(&mut updates, &handle).await {
            return;
        }
    }
}

/// Waits for a new configuration, or (with TLS) for a certificate, key or CA file to be rewritten
/// in place, which the configuration itself does not show. `false` once the aggregator is gone.
async fn next_change(
    updates: &mut watch::Receiver<Arc<switchyard_config::Published>>,
    handle: &SnapshotHandle,
) -> bool {
    #[cfg(feature = "tls")]
    loop {
        tokio::select! {
            changed = updates.changed() => return changed.is_ok(),
            () = tokio::time::sleep(CERTIFICATE_FILES_POLL) => {
                let snapshot = handle.load();
                if snapshot.tls.as_ref().is_some_and(|tls| tls.server.files_changed()) {
                    tracing::info!(target: "switchyard::tls", "certificate files changed on disk; reloading them");
                    return true;
                }
            }
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = handle;
        updates.changed().await.is_ok()
    }
}

/// A started gateway.
#[derive(Debug)]
pub struct RunningGateway {
    addresses: Vec<(String, SocketAddr)>,
    contexts: Vec<(String, Arc<EntryPointContext>)>,
    handle: SnapshotHandle,
    live: watch::Receiver<Arc<Snapshot>>,
    shutdown: CancellationToken,
    entry_point_tasks: Vec<JoinHandle<()>>,
    compile_task: JoinHandle<()>,
    aggregator: RunningAggregator,
}

impl RunningGateway {
    /// The address an entrypoint is bound to (with port 0 resolved).
    pub fn local_addr(&self, entry_point: &str) -> Option<SocketAddr> {
        self.addresses.iter().find(|(n, _)| n == entry_point).map(|(_, a)| *a)
    }

    /// The snapshot requests currently run through.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.handle.load()
    }

    /// Waits until the live snapshot satisfies `ready` (say, a router is routed) and returns it.
    pub async fn wait_for(&self, mut ready: impl FnMut(&Snapshot) -> bool) -> Arc<Snapshot> {
        let mut live = self.live.clone();
        match live.wait_for(|s| ready(s)).await {
            Ok(snapshot) => Arc::clone(&snapshot),
            Err(_) => self.handle.load(),
        }
    }

    /// Notifications of each snapshot going live.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.live.clone()
    }

    /// An entrypoint's router as a tower `Service`, to embed in another server.
    pub fn service(&self, entry_point: &str) -> Option<RouterService> {
        self.contexts
            .iter()
            .find(|(n, _)| n == entry_point)
            .map(|(_, context)| RouterService::new(Arc::clone(context)))
    }

    /// Stops accepting connections, lets in-flight requests finish within each entrypoint's grace
    /// period, then stops the providers.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.entry_point_tasks {
            let _ = task.await;
        }
        self.aggregator.shutdown().await;
        self.compile_task.abort();
    }
}

/// Static entrypoint options read from Traefik files that this build does not act on yet.
fn not_yet_honoured(config: &switchyard_config::EntryPoint) -> Vec<&'static str> {
    let options = [
        #[cfg(not(feature = "tls"))]
        ("http.tls", config.http.tls.is_some()),
        (
            "http.tls.certResolver (ACME)",
            config.http.tls.as_ref().is_some_and(|t| !t.cert_resolver.is_empty()),
        ),
        (
            "transport.respondingTimeouts.writeTimeout",
            !config.transport.responding_timeouts.write_timeout.is_zero(),
        ),
        ("http3", config.http3.is_some()),
        ("allowACMEByPass (ACME)", config.allow_acme_bypass),
        (
            "http.tls.domains (ACME)",
            config.http.tls.as_ref().is_some_and(|t| !t.domains.is_empty()),
        ),
        (
            "http2.maxEncoderHeaderTableSize (HTTP/2 answers use the table the client allows)",
            config.http2.max_encoder_header_table_size
                != switchyard_config::EntryPointHttp2::default().max_encoder_header_table_size,
        ),
    ];
    options
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
}

/// The host name, for `X-Forwarded-Server`.
fn system_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| Some("localhost".to_owned()))
}

/// What the gateway itself routes: the API on the `traefik` entrypoint (`api.insecure`), and one
/// redirect router per entrypoint with `http.redirections.entryPoint`, as Traefik generates them
/// (`web-to-websecure@internal` with the middleware `redirect-web-to-websecure@internal`, catching
/// every host at the configured priority).
fn internal_config(
    static_config: &StaticConfig,
    entry_points: &std::collections::BTreeMap<String, switchyard_config::EntryPoint>,
    servers: &[EntryPointServer],
) -> DynamicConfig {
    let mut internal = DynamicConfig::default();
    if static_config.api.as_ref().is_some_and(|api| api.insecure) {
        let mut router = Router::new("PathPrefix(`/api`) || PathPrefix(`/dashboard`)", API_SERVICE);
        router.priority = i64::MAX - 1;
        router.entry_points = vec![API_ENTRY_POINT.to_owned()];
        internal.http.routers.insert("api".into(), router);
    }
    let bound_port = |name: &str| {
        let index = entry_points.keys().position(|n| n == name)?;
        servers.get(index)?.local_addr().ok().map(|a| a.port())
    };
    for (name, config) in entry_points {
        let Some(redirect) = config.http.redirections.as_ref().and_then(|r| r.entry_point.as_ref()) else {
            continue;
        };
        let (target, port) = match redirect.to.strip_prefix(':') {
            Some(port) => (port.to_owned(), Some(port.to_owned())),
            None => (redirect.to.clone(), bound_port(&redirect.to).map(|p| p.to_string())),
        };
        let Some(port) = port else {
            tracing::error!(
                target: "switchyard::entrypoint",
                "entryPoints.{name}.http.redirections.entryPoint.to: entrypoint `{}` does not exist; no redirection",
                redirect.to
            );
            continue;
        };
        let middleware = format!("redirect-{name}-to-{target}");
        let scheme = switchyard_config::RedirectScheme {
            scheme: redirect.scheme.clone(),
            port,
            permanent: redirect.permanent,
        };
        internal.http.middlewares.insert(
            middleware.clone(),
            switchyard_config::Middleware::RedirectScheme(scheme),
        );
        let mut router = Router::new("HostRegexp(`^.+$`)", NOOP_SERVICE);
        router.priority = redirect.priority;
        router.entry_points = vec![name.clone()];
        router.middlewares = vec![middleware];
        internal.http.routers.insert(format!("{name}-to-{target}"), router);
    }
    internal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_without_effect_are_named() {
        let mut entry_point = switchyard_config::EntryPoint::new(":80");
        assert!(
            not_yet_honoured(&entry_point).is_empty(),
            "the defaults all take effect"
        );
        entry_point.allow_acme_bypass = true;
        entry_point.http2.max_encoder_header_table_size = 8192;
        entry_point.http3 = Some(serde_json::json!({}));
        let named = not_yet_honoured(&entry_point);
        assert!(named.iter().any(|n| n.starts_with("allowACMEByPass")), "{named:?}");
        assert!(
            named.iter().any(|n| n.starts_with("http2.maxEncoderHeaderTableSize")),
            "{named:?}"
        );
        assert!(named.contains(&"http3"), "{named:?}");
    }
}
