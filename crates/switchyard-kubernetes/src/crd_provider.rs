//! Traefik's `providers.kubernetesCRD`: IngressRoutes, Middlewares, TraefikServices, ServersTransports,
//! TLSOptions and TLSStores, with the Services, EndpointSlices, Secrets and Nodes they refer to.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::runtime::watcher;
use switchyard_config::{KubernetesCrdOptions, Provider, ProviderError, ProviderSink};

use crate::client::Connection;
use crate::crd::{
    CrdSecret, IngressRoute, IngressRouteTCP, IngressRouteUDP, Middleware, MiddlewareTCP, ServersTransport,
    ServersTransportTCP, TLSOption, TLSStore, TraefikService,
};
use crate::events::{self, EventWriter, Lookup};
use crate::mirror::Slim;
use crate::options::CrdOptions;
use crate::publish::PublishLoop;
use crate::translate::crd::{CrdView, PROVIDER, translate};
use crate::translate::{ClusterView, object_key};
use crate::watch::{SharedMirror, Watches, lock, watched_namespaces};

/// Traefik's `providers.kubernetesCRD`: the `traefik.io/v1alpha1` resources as routers, services,
/// middlewares, servers transports, TLS options, stores and certificates, kept up to date by watches.
/// Its elements are named as Traefik names them, under the provider name `kubernetescrd`, so
/// `name@kubernetescrd` references from other providers keep working.
///
/// ```no_run
/// use switchyard_config::Aggregator;
/// use switchyard_kubernetes::CrdProvider;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = CrdProvider::kubeconfig("/home/me/.kube/config")
///     .namespaces(["shop"])
///     .allow_cross_namespace(false);
/// let running = Aggregator::new().provider(provider).start()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CrdProvider {
    name: String,
    connection: Connection,
    namespaces: Vec<String>,
    label_selector: String,
    throttle: Duration,
    options: CrdOptions,
    events: bool,
}

impl Default for CrdProvider {
    fn default() -> Self {
        Self::new()
    }
}

/// The watches of one provider run.
#[derive(Default)]
struct Mirrors {
    ingress_routes: Vec<SharedMirror<IngressRoute>>,
    middlewares: Vec<SharedMirror<Middleware>>,
    traefik_services: Vec<SharedMirror<TraefikService>>,
    servers_transports: Vec<SharedMirror<ServersTransport>>,
    tls_options: Vec<SharedMirror<TLSOption>>,
    tls_stores: Vec<SharedMirror<TLSStore>>,
    routes_tcp: Vec<SharedMirror<IngressRouteTCP>>,
    routes_udp: Vec<SharedMirror<IngressRouteUDP>>,
    middlewares_tcp: Vec<SharedMirror<MiddlewareTCP>>,
    transports_tcp: Vec<SharedMirror<ServersTransportTCP>>,
    services: Vec<SharedMirror<Service>>,
    slices: Vec<SharedMirror<EndpointSlice>>,
    secrets: Vec<SharedMirror<CrdSecret>>,
    nodes: Vec<SharedMirror<Node>>,
}

fn listed<K: Slim>(mirrors: &[SharedMirror<K>]) -> bool {
    mirrors.iter().all(|m| lock(m).listed())
}

fn objects<K: Slim>(mirrors: &[SharedMirror<K>]) -> Vec<Arc<K>> {
    mirrors
        .iter()
        .flat_map(|m| lock(m).objects().cloned().collect::<Vec<_>>())
        .collect()
}

impl Mirrors {
    fn listed(&self) -> bool {
        listed(&self.ingress_routes)
            && listed(&self.middlewares)
            && listed(&self.traefik_services)
            && listed(&self.servers_transports)
            && listed(&self.tls_options)
            && listed(&self.tls_stores)
            && listed(&self.routes_tcp)
            && listed(&self.routes_udp)
            && listed(&self.middlewares_tcp)
            && listed(&self.transports_tcp)
            && listed(&self.services)
            && listed(&self.slices)
            && listed(&self.secrets)
            && listed(&self.nodes)
    }

    fn view(&self) -> CrdView {
        let core = self.core_view();
        CrdView {
            core,
            secrets: objects(&self.secrets)
                .into_iter()
                .map(|s| (object_key(&s.0.metadata), s))
                .collect(),
            ingress_routes: objects(&self.ingress_routes),
            middlewares: objects(&self.middlewares),
            traefik_services: objects(&self.traefik_services),
            servers_transports: objects(&self.servers_transports),
            tls_options: objects(&self.tls_options),
            tls_stores: objects(&self.tls_stores),
            ingress_route_tcps: objects(&self.routes_tcp),
            ingress_route_udps: objects(&self.routes_udp),
            middleware_tcps: objects(&self.middlewares_tcp),
            servers_transport_tcps: objects(&self.transports_tcp),
        }
    }

    /// Finds the Traefik objects watched, for the Events about them.
    fn lookup(&self) -> Lookup {
        let m = Self {
            ingress_routes: self.ingress_routes.clone(),
            middlewares: self.middlewares.clone(),
            traefik_services: self.traefik_services.clone(),
            servers_transports: self.servers_transports.clone(),
            tls_options: self.tls_options.clone(),
            tls_stores: self.tls_stores.clone(),
            routes_tcp: self.routes_tcp.clone(),
            routes_udp: self.routes_udp.clone(),
            middlewares_tcp: self.middlewares_tcp.clone(),
            transports_tcp: self.transports_tcp.clone(),
            ..Self::default()
        };
        Arc::new(move |kind, ns, name| match kind {
            "IngressRoute" => events::find(&m.ingress_routes, ns, name),
            "Middleware" => events::find(&m.middlewares, ns, name),
            "TraefikService" => events::find(&m.traefik_services, ns, name),
            "ServersTransport" => events::find(&m.servers_transports, ns, name),
            "TLSOption" => events::find(&m.tls_options, ns, name),
            "TLSStore" => events::find(&m.tls_stores, ns, name),
            "IngressRouteTCP" => events::find(&m.routes_tcp, ns, name),
            "IngressRouteUDP" => events::find(&m.routes_udp, ns, name),
            "MiddlewareTCP" => events::find(&m.middlewares_tcp, ns, name),
            "ServersTransportTCP" => events::find(&m.transports_tcp, ns, name),
            _ => None,
        })
    }

    /// The Services, EndpointSlices and Nodes the custom resources refer to.
    fn core_view(&self) -> ClusterView {
        let mut core = ClusterView::default();
        for service in objects(&self.services) {
            core.services.insert(object_key(&service.metadata), service);
        }
        for slice in objects(&self.slices) {
            core.add_slice(slice);
        }
        core.nodes = objects(&self.nodes);
        core
    }
}

impl CrdProvider {
    /// A provider named `kubernetescrd` that connects as [`Config::infer`](kube::Config::infer) does:
    /// with the service account inside a cluster, else with `KUBECONFIG` or `~/.kube/config`.
    pub fn new() -> Self {
        Self {
            name: PROVIDER.to_owned(),
            connection: Connection::Infer,
            namespaces: Vec::new(),
            label_selector: String::new(),
            throttle: Duration::ZERO,
            options: CrdOptions::default(),
            events: true,
        }
    }

    /// A provider that connects with a kubeconfig file (its current context).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::CrdProvider::kubeconfig("/etc/switchyard/kubeconfig");
    /// ```
    pub fn kubeconfig(path: impl Into<PathBuf>) -> Self {
        Self {
            connection: Connection::Kubeconfig(path.into()),
            ..Self::new()
        }
    }

    /// A provider that connects to `url` (Traefik's `endpoint`), with a bearer token (the token, or a
    /// file holding it; empty for none) and the CA certificate file to trust (for `https`).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::CrdProvider::endpoint("http://127.0.0.1:8001", "", None);
    /// ```
    pub fn endpoint(url: impl Into<String>, token: impl Into<String>, ca_file: Option<PathBuf>) -> Self {
        Self {
            connection: Connection::Endpoint {
                url: url.into(),
                token: token.into(),
                ca_file,
            },
            ..Self::new()
        }
    }

    /// A provider that uses a client the application built.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = kube::Client::try_default().await?;
    /// let provider = switchyard_kubernetes::CrdProvider::with_client(client);
    /// # Ok(()) }
    /// ```
    pub fn with_client(client: Client) -> Self {
        Self {
            connection: Connection::Client(client),
            ..Self::new()
        }
    }

    /// The provider as the static configuration's `providers.kubernetesCRD` describes it; every option
    /// of [`KubernetesCrdOptions`] is applied.
    ///
    /// ```
    /// use switchyard_config::KubernetesCrdOptions;
    /// use switchyard_kubernetes::CrdProvider;
    ///
    /// let options = KubernetesCrdOptions { allow_cross_namespace: true, ..Default::default() };
    /// let provider = CrdProvider::from_static(&options);
    /// ```
    pub fn from_static(options: &KubernetesCrdOptions) -> Self {
        let base = if options.endpoint.is_empty() {
            Self::new()
        } else {
            let ca = Some(PathBuf::from(&options.cert_auth_file_path)).filter(|p| !p.as_os_str().is_empty());
            Self::endpoint(options.endpoint.clone(), options.token.clone(), ca)
        };
        let mut provider = base
            .namespaces(options.namespaces.iter().cloned())
            .label_selector(options.label_selector.clone())
            .ingress_class(options.ingress_class.clone())
            .throttle(options.throttle_duration.to_std().unwrap_or_default())
            .allow_cross_namespace(options.allow_cross_namespace)
            .allow_empty_services(options.allow_empty_services)
            .allow_external_name_services(options.allow_external_name_services)
            .native_lb_by_default(options.native_lb_by_default)
            .disable_cluster_scope_resources(options.disable_cluster_scope_resources)
            .object_events(!options.disable_object_events);
        provider.options.cross_provider_namespaces = options.cross_provider_namespaces.clone();
        provider
    }

    /// Renames the provider (default `kubernetescrd`, so names read `default-auth@kubernetescrd`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Watches only these namespaces (default: all).
    pub fn namespaces<I: IntoIterator<Item = S>, S: Into<String>>(mut self, namespaces: I) -> Self {
        self.namespaces = namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// Handles only custom resources with these labels (`app=web,tier!=internal`); Services, Secrets
    /// and EndpointSlices are watched whatever their labels, as in Traefik.
    pub fn label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = selector.into();
        self
    }

    /// The class handled, from `spec.ingressClassName` or the `kubernetes.io/ingress.class`
    /// annotation. Empty (the default): IngressRoutes without a class or of class `traefik`.
    pub fn ingress_class(mut self, class: impl Into<String>) -> Self {
        self.options.ingress_class = class.into();
        self
    }

    /// The least time between two snapshots (Traefik's `throttleDuration`; default none).
    pub fn throttle(mut self, period: Duration) -> Self {
        self.throttle = period;
        self
    }

    /// Allows references to Services, Middlewares, TraefikServices, TLSOptions and TLSStores of other
    /// namespaces (default: refused, reported, and the referring route or object left out).
    pub fn allow_cross_namespace(mut self, allow: bool) -> Self {
        self.options.allow_cross_namespace = allow;
        self
    }

    /// Keeps routes whose Service has no ready endpoint (they answer 503) instead of leaving them out.
    pub fn allow_empty_services(mut self, allow: bool) -> Self {
        self.options.allow_empty_services = allow;
        self
    }

    /// Allows Services of type ExternalName.
    pub fn allow_external_name_services(mut self, allow: bool) -> Self {
        self.options.allow_external_name_services = allow;
        self
    }

    /// Balances to Services' ClusterIPs rather than to their endpoints, unless a reference's
    /// `nativeLB` says otherwise.
    pub fn native_lb_by_default(mut self, native: bool) -> Self {
        self.options.native_lb_by_default = native;
        self
    }

    /// Restricts references to other providers (`name@file`) to objects of these namespaces (default:
    /// every namespace; an empty list refuses them all).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::CrdProvider::new().cross_provider_namespaces(["platform"]);
    /// ```
    pub fn cross_provider_namespaces<I: IntoIterator<Item = S>, S: Into<String>>(mut self, namespaces: I) -> Self {
        self.options.cross_provider_namespaces = Some(namespaces.into_iter().map(Into::into).collect());
        self
    }

    /// Does not watch cluster-scoped resources (Nodes), so that the provider needs no ClusterRole for
    /// them; `nodePortLB` is then reported as unavailable.
    pub fn disable_cluster_scope_resources(mut self, disable: bool) -> Self {
        self.options.no_nodes = disable;
        self
    }

    /// Writes a Kubernetes Event (`events.k8s.io/v1`, type `Warning`, reason `InvalidConfiguration`) on
    /// each IngressRoute, Middleware or other Traefik object the configuration has a problem with,
    /// naming the key path and the problem, once per problem; and a `Normal` one (reason
    /// `ConfigurationValid`) once its problems are fixed. On by default (it needs `create` on
    /// `events.k8s.io` `events`); `disableObjectEvents` in the static configuration, a switchyard
    /// extension, turns it off.
    ///
    /// ```
    /// let provider = switchyard_kubernetes::CrdProvider::new().object_events(false);
    /// ```
    pub fn object_events(mut self, on: bool) -> Self {
        self.events = on;
        self
    }

    fn watch_all(&self, watches: &mut Watches) -> Mirrors {
        let mut m = Mirrors::default();
        let crd = watcher::Config::default().labels(&self.label_selector);
        for ns in watched_namespaces(&self.namespaces) {
            m.ingress_routes.push(watches.namespaced(ns, crd.clone()));
            m.middlewares.push(watches.namespaced(ns, crd.clone()));
            m.traefik_services.push(watches.namespaced(ns, crd.clone()));
            m.servers_transports.push(watches.namespaced(ns, crd.clone()));
            m.tls_options.push(watches.namespaced(ns, crd.clone()));
            m.tls_stores.push(watches.namespaced(ns, crd.clone()));
            m.routes_tcp.push(watches.namespaced(ns, crd.clone()));
            m.routes_udp.push(watches.namespaced(ns, crd.clone()));
            m.middlewares_tcp.push(watches.namespaced(ns, crd.clone()));
            m.transports_tcp.push(watches.namespaced(ns, crd.clone()));
            m.services.push(watches.namespaced(ns, watcher::Config::default()));
            m.slices.push(watches.namespaced(ns, watcher::Config::default()));
            m.secrets.push(watches.namespaced(ns, watcher::Config::default()));
        }
        if !self.options.no_nodes {
            m.nodes.push(watches.cluster(watcher::Config::default()));
        }
        m
    }
}

impl Provider for CrdProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self, sink: ProviderSink) -> Result<(), ProviderError> {
        let client = self.connection.client().await.map_err(ProviderError::other)?;
        if self.options.allow_cross_namespace {
            tracing::warn!("allowCrossNamespace is on: IngressRoutes may refer to objects of other namespaces");
        }
        let mut watches = Watches::new(client.clone(), sink.clone());
        let mirrors = self.watch_all(&mut watches);
        let problems = self.events.then(|| {
            let (problems, translated) = tokio::sync::watch::channel(Arc::default());
            let writer = EventWriter::new(client, sink.clone(), mirrors.lookup(), None);
            watches.spawn(writer.run(translated));
            problems
        });
        PublishLoop {
            sink,
            changed: watches.changed(),
            recovered: watches.recovered(),
            throttle: self.throttle,
            listed: || mirrors.listed(),
            translate: || {
                let translation = translate(&mirrors.view(), &self.options);
                events::offer(problems.as_ref(), &translation.problems);
                translation
            },
            statuses: None,
            notes: Vec::new(),
        }
        .run()
        .await;
        watches.shutdown().await;
        Ok(())
    }
}
