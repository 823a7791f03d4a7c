//! The provider: watches, translation on change, publication, status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::Client;
use kube::runtime::watcher;
use switchyard_config::{IngressEndpoint, KubernetesIngressOptions, Provider, ProviderError, ProviderSink};
use tokio::sync::mpsc;

use crate::client::Connection;
use crate::events::{self, EventWriter, Lookup};
use crate::leader::{Elector, LeaderElection};
use crate::mirror::Slim;
use crate::options::TranslateOptions;
use crate::publish::PublishLoop;
use crate::status::StatusWriter;
use crate::translate::{ClusterView, Key, object_key, translate};
use crate::watch::{SharedMirror, Watches, lock, watched_namespaces};

/// Traefik's `providers.kubernetesIngress`: routers, services and certificates from Ingresses,
/// Services, EndpointSlices and TLS Secrets, kept up to date by watches.
///
/// ```no_run
/// use switchyard_config::Aggregator;
/// use switchyard_kubernetes::IngressProvider;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = IngressProvider::kubeconfig("/home/me/.kube/config")
///     .namespaces(["default", "shop"])
///     .ingress_class("switchyard");
/// let running = Aggregator::new().provider(provider).start()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct IngressProvider {
    name: String,
    connection: Connection,
    namespaces: Vec<String>,
    label_selector: String,
    throttle: Duration,
    class_lookup: bool,
    cluster_scope: bool,
    translate: TranslateOptions,
    leader_election: Option<LeaderElection>,
    events: bool,
}

impl Default for IngressProvider {
    fn default() -> Self {
        Self::new()
    }
}

/// The watches of one provider run, by resource type.
#[derive(Default)]
struct Mirrors {
    ingresses: Vec<SharedMirror<Ingress>>,
    classes: Vec<SharedMirror<IngressClass>>,
    services: Vec<SharedMirror<Service>>,
    slices: Vec<SharedMirror<EndpointSlice>>,
    secrets: Vec<SharedMirror<Secret>>,
    nodes: Vec<SharedMirror<Node>>,
}

impl Mirrors {
    fn listed(&self) -> bool {
        fn all<K: Slim>(mirrors: &[SharedMirror<K>]) -> bool {
            mirrors.iter().all(|m| lock(m).listed())
        }
        all(&self.ingresses)
            && all(&self.classes)
            && all(&self.services)
            && all(&self.slices)
            && all(&self.secrets)
            && all(&self.nodes)
    }

    fn view(&self) -> ClusterView {
        let mut view = ClusterView::default();
        collect(&mut view.ingresses, &self.ingresses);
        collect(&mut view.classes, &self.classes);
        collect_by_key(&mut view.services, &self.services);
        for mirror in &self.slices {
            for slice in lock(mirror).objects() {
                view.add_slice(Arc::clone(slice));
            }
        }
        collect(&mut view.nodes, &self.nodes);
        collect_by_key(&mut view.secrets, &self.secrets);
        view
    }
}

/// Adds the objects `mirrors` hold to `into`.
fn collect<K: Slim>(into: &mut Vec<Arc<K>>, mirrors: &[SharedMirror<K>]) {
    for mirror in mirrors {
        into.extend(lock(mirror).objects().cloned());
    }
}

/// Adds the objects `mirrors` hold to `into`, by `(namespace, name)`.
fn collect_by_key<K: Slim>(into: &mut BTreeMap<Key, Arc<K>>, mirrors: &[SharedMirror<K>]) {
    for mirror in mirrors {
        into.extend(lock(mirror).objects().map(|o| (object_key(o.meta()), Arc::clone(o))));
    }
}

impl IngressProvider {
    /// A provider named `kubernetes` that connects as [`Config::infer`](kube::Config::infer) does: with
    /// the service account inside a cluster, else with `KUBECONFIG` or `~/.kube/config`.
    pub fn new() -> Self {
        Self {
            name: "kubernetes".to_owned(),
            connection: Connection::Infer,
            namespaces: Vec::new(),
            label_selector: String::new(),
            throttle: Duration::ZERO,
            class_lookup: true,
            cluster_scope: true,
            translate: TranslateOptions::default(),
            leader_election: None,
            events: true,
        }
    }

    /// A provider that connects with a kubeconfig file (its current context).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::IngressProvider::kubeconfig("/etc/switchyard/kubeconfig");
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
    /// let provider = switchyard_kubernetes::IngressProvider::endpoint("http://127.0.0.1:8001", "", None);
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
    /// let provider = switchyard_kubernetes::IngressProvider::with_client(client);
    /// # Ok(()) }
    /// ```
    pub fn with_client(client: Client) -> Self {
        Self {
            connection: Connection::Client(client),
            ..Self::new()
        }
    }

    /// The provider as the static configuration's `providers.kubernetesIngress` describes it.
    ///
    /// ```
    /// use switchyard_config::KubernetesIngressOptions;
    /// use switchyard_kubernetes::IngressProvider;
    ///
    /// let options = KubernetesIngressOptions { namespaces: vec!["default".into()], ..Default::default() };
    /// let provider = IngressProvider::from_static(&options);
    /// ```
    pub fn from_static(options: &KubernetesIngressOptions) -> Self {
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
            .allow_empty_services(options.allow_empty_services)
            .allow_external_name_services(options.allow_external_name_services)
            .native_lb_by_default(options.native_lb_by_default)
            .object_events(!options.disable_object_events);
        provider.class_lookup = !(options.disable_ingress_class_lookup || options.disable_cluster_scope_resources);
        provider.cluster_scope = !options.disable_cluster_scope_resources;
        provider.translate.report_node_internal_ips = options.report_node_internal_ips;
        provider.translate.cross_provider_namespaces = options.cross_provider_namespaces.clone();
        if let Some(endpoint) = &options.ingress_endpoint {
            provider = provider.ingress_endpoint(endpoint.clone());
        }
        if let Some(election) = &options.leader_election {
            provider = provider.leader_election(LeaderElection::from_static(election));
        }
        provider
    }

    /// Renames the provider (default `kubernetes`, so names read `default-web-80@kubernetes`).
    ///
    /// ```
    /// use switchyard_config::Provider;
    /// let provider = switchyard_kubernetes::IngressProvider::new().named("staging");
    /// assert_eq!(provider.name(), "staging");
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Watches only these namespaces (default: all).
    pub fn namespaces<I: IntoIterator<Item = S>, S: Into<String>>(mut self, namespaces: I) -> Self {
        self.namespaces = namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// Handles only Ingresses with these labels (`app=web,tier!=internal`).
    pub fn label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = selector.into();
        self
    }

    /// The IngressClass name, or legacy `kubernetes.io/ingress.class` annotation value, handled. Empty
    /// (the default): every IngressClass of our controller, and Ingresses without a class or annotated
    /// `traefik`.
    pub fn ingress_class(mut self, class: impl Into<String>) -> Self {
        self.translate.ingress_class = class.into();
        self
    }

    /// The `spec.controller` of the IngressClasses handled (default `traefik.io/ingress-controller`).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::IngressProvider::new().controller_name("example.com/switchyard");
    /// ```
    pub fn controller_name(mut self, controller: impl Into<String>) -> Self {
        self.translate.controller = controller.into();
        self
    }

    /// The least time between two snapshots (Traefik's `throttleDuration`; default none).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::IngressProvider::new().throttle(std::time::Duration::from_millis(500));
    /// ```
    pub fn throttle(mut self, period: Duration) -> Self {
        self.throttle = period;
        self
    }

    /// Writes this address to the status of handled Ingresses (Traefik's `ingressEndpoint`).
    ///
    /// ```
    /// use switchyard_config::IngressEndpoint;
    ///
    /// let published = IngressEndpoint { published_service: "kube-system/switchyard".into(), ..Default::default() };
    /// let provider = switchyard_kubernetes::IngressProvider::new().ingress_endpoint(published);
    /// ```
    pub fn ingress_endpoint(mut self, endpoint: IngressEndpoint) -> Self {
        self.translate.ingress_endpoint = Some(endpoint);
        self
    }

    /// Writes the nodes' internal IPs to the status of handled Ingresses (Traefik's
    /// `reportNodeInternalIPs`); they take precedence over [`ingress_endpoint`](Self::ingress_endpoint).
    pub fn report_node_internal_ips(mut self, report: bool) -> Self {
        self.translate.report_node_internal_ips = report;
        self
    }

    /// Restricts the namespaces whose Ingresses may name middlewares and TLS options, and whose
    /// Services may name a servers transport (all of which live in other providers), as Traefik's
    /// `crossProviderNamespaces` does (default: every namespace; an empty list refuses them all).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::IngressProvider::new().cross_provider_namespaces(["platform"]);
    /// ```
    pub fn cross_provider_namespaces<I: IntoIterator<Item = S>, S: Into<String>>(mut self, namespaces: I) -> Self {
        self.translate.cross_provider_namespaces = Some(namespaces.into_iter().map(Into::into).collect());
        self
    }

    /// Elects one replica among those sharing this Lease to write Ingress status and Events, so that
    /// several replicas do not fight over it or repeat each other (a switchyard extension; without it,
    /// every replica writes). Only matters when statuses are written
    /// ([`ingress_endpoint`](Self::ingress_endpoint),
    /// [`report_node_internal_ips`](Self::report_node_internal_ips)) or Events are
    /// ([`object_events`](Self::object_events)).
    ///
    /// ```
    /// use switchyard_kubernetes::{IngressProvider, LeaderElection};
    ///
    /// let provider = IngressProvider::new().leader_election(LeaderElection::new("kube-system", "switchyard"));
    /// ```
    pub fn leader_election(mut self, election: LeaderElection) -> Self {
        self.leader_election = Some(election);
        self
    }

    /// Writes a Kubernetes Event (`events.k8s.io/v1`, type `Warning`, reason `InvalidConfiguration`) on
    /// each Ingress the configuration has a problem with, naming the key path and the problem, once
    /// per problem; and a `Normal` one (reason `ConfigurationValid`) once its problems are fixed. On by
    /// default (it needs `create` on `events.k8s.io` `events`); `disableObjectEvents` in the static
    /// configuration, a switchyard extension, turns it off.
    ///
    /// ```
    /// let provider = switchyard_kubernetes::IngressProvider::new().object_events(false);
    /// ```
    pub fn object_events(mut self, on: bool) -> Self {
        self.events = on;
        self
    }

    /// Keeps routers whose Service has no ready endpoint (they answer 503) instead of leaving them out.
    pub fn allow_empty_services(mut self, allow: bool) -> Self {
        self.translate.allow_empty_services = allow;
        self
    }

    /// Allows backends of type ExternalName.
    pub fn allow_external_name_services(mut self, allow: bool) -> Self {
        self.translate.allow_external_name_services = allow;
        self
    }

    /// Balances to Services' ClusterIPs rather than to their endpoints, unless a Service's
    /// `service.nativelb` annotation says otherwise.
    pub fn native_lb_by_default(mut self, native: bool) -> Self {
        self.translate.native_lb_by_default = native;
        self
    }

    /// Starts one watch per resource type and namespace, and the cluster-wide ones asked for.
    fn watch_all(&self, watches: &mut Watches) -> Mirrors {
        let mut mirrors = Mirrors::default();
        let ingress_config = watcher::Config::default().labels(&self.label_selector);
        for namespace in watched_namespaces(&self.namespaces) {
            let all = watcher::Config::default();
            mirrors
                .ingresses
                .push(watches.namespaced(namespace, ingress_config.clone()));
            mirrors.services.push(watches.namespaced(namespace, all.clone()));
            mirrors.slices.push(watches.namespaced(namespace, all.clone()));
            mirrors.secrets.push(watches.namespaced(namespace, all));
        }
        if self.class_lookup {
            mirrors.classes.push(watches.cluster(watcher::Config::default()));
        }
        if self.watches_nodes() {
            mirrors.nodes.push(watches.cluster(watcher::Config::default()));
        }
        mirrors
    }

    /// Whether the Ingress status may need the nodes' addresses (and cluster-scoped watches are on).
    fn watches_nodes(&self) -> bool {
        let published_service = self
            .translate
            .ingress_endpoint
            .as_ref()
            .is_some_and(|e| !e.published_service.is_empty());
        self.cluster_scope && (self.translate.report_node_internal_ips || published_service)
    }
}

impl Provider for IngressProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self, sink: ProviderSink) -> Result<(), ProviderError> {
        let client = self.connection.client().await.map_err(ProviderError::other)?;
        let mut watches = Watches::new(client.clone(), sink.clone());
        let mirrors = self.watch_all(&mut watches);
        let changed = watches.changed();
        let recovered = watches.recovered();
        let mut election = None;
        let writes = self.translate.writes_status() || self.events;
        let leading = self.leader_election.clone().filter(|_| writes).map(|settings| {
            let (leading, follow) = tokio::sync::watch::channel(false);
            let elector = Elector::new(client.clone(), settings).run(leading, sink.clone());
            election = Some(AbortOnDrop(tokio::spawn(elector)));
            follow
        });
        let statuses = self.translate.writes_status().then(|| {
            let (updates, pending) = mpsc::unbounded_channel();
            let writer = StatusWriter::new(client.clone(), sink.clone(), leading.clone(), Arc::clone(&changed));
            watches.spawn(writer.run(pending));
            updates
        });
        let problems = self.events.then(|| {
            let ingresses = mirrors.ingresses.clone();
            let lookup: Lookup = Arc::new(move |kind, namespace, name| {
                (kind == "Ingress")
                    .then(|| events::find(&ingresses, namespace, name))
                    .flatten()
            });
            let (problems, translated) = tokio::sync::watch::channel(Arc::default());
            let writer = EventWriter::new(client.clone(), sink.clone(), lookup, leading);
            watches.spawn(writer.run(translated));
            problems
        });
        PublishLoop {
            sink,
            changed,
            recovered,
            throttle: self.throttle,
            listed: || mirrors.listed(),
            translate: || {
                let translation = translate(&mirrors.view(), &self.translate);
                events::offer(problems.as_ref(), &translation.problems);
                translation
            },
            statuses,
            notes: Vec::new(),
        }
        .run()
        .await;
        if let Some(mut election) = election {
            // Shutting down: let the elector free the Lease, so that another replica takes over now
            // rather than when the Lease expires.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut election.0).await;
        }
        watches.shutdown().await;
        Ok(())
    }
}

/// A task that ends with the provider run, also when the run is dropped rather than shut down.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
