//! The Kubernetes Gateway API provider (`providers.kubernetesGateway`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::runtime::watcher;
use serde_json::json;
use switchyard_config::{KubernetesGatewayOptions, Provider, ProviderError, ProviderSink};
use tokio::sync::mpsc;

use crate::client::Connection;
use crate::gateway_api::{Gateway, GatewayClass, GrpcRoute, HttpRoute, ReferenceGrant, ReferenceGrantV1beta1};
use crate::gateway_status::GatewayStatusWriter;
use crate::leader::{Elector, LeaderElection};
use crate::mirror::Slim;
use crate::options::TranslateOptions;
use crate::publish::PublishLoop;
use crate::translate::gateway::{GatewayOptions, GatewayView, translate};
use crate::translate::object_key;
use crate::watch::{SharedMirror, Watches, lock, watched_namespaces};

/// Traefik's default Gateway API controller name: GatewayClasses with this `spec.controllerName` are
/// handled unless [`GatewayProvider::controller_name`] names another.
///
/// ```
/// assert_eq!(switchyard_kubernetes::DEFAULT_GATEWAY_CONTROLLER, "traefik.io/gateway-controller");
/// ```
pub const DEFAULT_GATEWAY_CONTROLLER: &str = "traefik.io/gateway-controller";

/// Traefik's `providers.kubernetesGateway`: the Gateways of our GatewayClasses and the HTTPRoutes and
/// GRPCRoutes attached to them as routers, services, middlewares and certificates, with their statuses written
/// back, kept up to date by watches. Elements are published under the provider name
/// `kubernetesgateway`.
///
/// A listener serves on the entrypoints listening on its port, which the provider must be told
/// ([`entry_point`](Self::entry_point); `switchyard::gateway_from_static` does it from the static
/// configuration).
///
/// ```no_run
/// use switchyard_config::Aggregator;
/// use switchyard_kubernetes::GatewayProvider;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = GatewayProvider::kubeconfig("/home/me/.kube/config")
///     .entry_point("web", 80)
///     .entry_point("websecure", 443);
/// let running = Aggregator::new().provider(provider).start()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GatewayProvider {
    name: String,
    connection: Connection,
    namespaces: Vec<String>,
    label_selector: String,
    throttle: Duration,
    options: GatewayOptions,
    leader_election: Option<LeaderElection>,
    /// Static options read but not applied, reported when the provider starts.
    unsupported: Vec<String>,
}

impl Default for GatewayProvider {
    fn default() -> Self {
        Self::new()
    }
}

/// The watches of one provider run.
#[derive(Default)]
struct Mirrors {
    classes: Vec<SharedMirror<GatewayClass>>,
    gateways: Vec<SharedMirror<Gateway>>,
    http_routes: Vec<SharedMirror<HttpRoute>>,
    grpc_routes: Vec<SharedMirror<GrpcRoute>>,
    grants: Vec<SharedMirror<ReferenceGrant>>,
    grants_v1beta1: Vec<SharedMirror<ReferenceGrantV1beta1>>,
    services: Vec<SharedMirror<Service>>,
    slices: Vec<SharedMirror<EndpointSlice>>,
    secrets: Vec<SharedMirror<Secret>>,
    namespaces: Vec<SharedMirror<Namespace>>,
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
        listed(&self.classes)
            && listed(&self.gateways)
            && listed(&self.http_routes)
            && listed(&self.grpc_routes)
            && listed(&self.grants)
            && listed(&self.grants_v1beta1)
            && listed(&self.services)
            && listed(&self.slices)
            && listed(&self.secrets)
            && listed(&self.namespaces)
    }

    fn view(&self) -> GatewayView {
        let mut view = GatewayView::default();
        for service in objects(&self.services) {
            view.core.services.insert(object_key(&service.metadata), service);
        }
        for slice in objects(&self.slices) {
            view.core.add_slice(slice);
        }
        for secret in objects(&self.secrets) {
            view.core.secrets.insert(object_key(&secret.metadata), secret);
        }
        for namespace in objects(&self.namespaces) {
            view.namespaces
                .insert(namespace.metadata.name.clone().unwrap_or_default(), namespace);
        }
        view.classes = objects(&self.classes);
        view.gateways = objects(&self.gateways);
        view.http_routes = objects(&self.http_routes);
        view.grpc_routes = objects(&self.grpc_routes);
        view.grants = objects(&self.grants);
        let older = objects(&self.grants_v1beta1);
        view.grants
            .extend(older.iter().map(|g| Arc::new(ReferenceGrant::from(g.as_ref().clone()))));
        view
    }
}

impl Slim for Namespace {}

/// Which ReferenceGrant version the API server serves.
enum GrantVersion {
    V1,
    V1beta1,
    None,
}

impl GatewayProvider {
    /// A provider named `kubernetesgateway` that connects as [`Config::infer`](kube::Config::infer)
    /// does, handling GatewayClasses of controller [`DEFAULT_GATEWAY_CONTROLLER`].
    pub fn new() -> Self {
        Self {
            name: "kubernetesgateway".to_owned(),
            connection: Connection::Infer,
            namespaces: Vec::new(),
            label_selector: String::new(),
            throttle: Duration::ZERO,
            options: GatewayOptions {
                controller: DEFAULT_GATEWAY_CONTROLLER.to_owned(),
                entry_points: Vec::new(),
                addresses: Vec::new(),
                backends: TranslateOptions {
                    allow_empty_services: true,
                    ..TranslateOptions::default()
                },
            },
            leader_election: None,
            unsupported: Vec::new(),
        }
    }

    /// A provider that connects with a kubeconfig file (its current context).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::GatewayProvider::kubeconfig("/etc/switchyard/kubeconfig");
    /// ```
    pub fn kubeconfig(path: impl Into<PathBuf>) -> Self {
        Self {
            connection: Connection::Kubeconfig(path.into()),
            ..Self::new()
        }
    }

    /// A provider that connects to `url`, with a bearer token (the token, or a file holding it; empty
    /// for none) and the CA certificate file to trust (for `https`).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::GatewayProvider::endpoint("http://127.0.0.1:8001", "", None);
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
    /// let provider = switchyard_kubernetes::GatewayProvider::with_client(client);
    /// # Ok(()) }
    /// ```
    pub fn with_client(client: Client) -> Self {
        Self {
            connection: Connection::Client(client),
            ..Self::new()
        }
    }

    /// The provider as the static configuration's `providers.kubernetesGateway` describes it. Options
    /// switchyard does not apply (`qps`, `burst`, `experimentalChannel`, `statusAddress.service`,
    /// `crossProviderNamespaces`) are reported as warnings of the provider when it starts.
    ///
    /// ```
    /// use switchyard_config::KubernetesGatewayOptions;
    /// use switchyard_kubernetes::GatewayProvider;
    ///
    /// let options = KubernetesGatewayOptions { namespaces: vec!["shop".into()], ..Default::default() };
    /// let provider = GatewayProvider::from_static(&options).entry_point("web", 80);
    /// ```
    pub fn from_static(options: &KubernetesGatewayOptions) -> Self {
        let base = if options.endpoint.is_empty() {
            Self::new()
        } else {
            let ca = Some(PathBuf::from(&options.cert_auth_file_path)).filter(|p| !p.as_os_str().is_empty());
            Self::endpoint(options.endpoint.clone(), options.token.clone(), ca)
        };
        let mut provider = base
            .namespaces(options.namespaces.iter().cloned())
            .label_selector(options.label_selector.clone())
            .throttle(options.throttle_duration.to_std().unwrap_or_default())
            .native_lb_by_default(options.native_lb_by_default);
        if let Some(address) = &options.status_address {
            provider = provider.status_address(&address.ip, &address.hostname);
        }
        provider.unsupported = unsupported(options);
        provider
    }

    /// Renames the provider (default `kubernetesgateway`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Watches only these namespaces (default: all).
    pub fn namespaces<I: IntoIterator<Item = S>, S: Into<String>>(mut self, namespaces: I) -> Self {
        self.namespaces = namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// Handles only GatewayClasses, Gateways, HTTPRoutes and GRPCRoutes with these labels (`app=web`).
    pub fn label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = selector.into();
        self
    }

    /// The least time between two snapshots (default none).
    pub fn throttle(mut self, period: Duration) -> Self {
        self.throttle = period;
        self
    }

    /// The `spec.controllerName` of the GatewayClasses handled (default
    /// [`DEFAULT_GATEWAY_CONTROLLER`]).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::GatewayProvider::new().controller_name("example.com/edge");
    /// ```
    pub fn controller_name(mut self, controller: impl Into<String>) -> Self {
        self.options.controller = controller.into();
        self
    }

    /// Lets listeners on `port` serve on the entrypoint `name`. A listener whose port no entrypoint
    /// has is not accepted (`PortUnavailable`).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::GatewayProvider::new().entry_point("web", 80);
    /// ```
    pub fn entry_point(mut self, name: impl Into<String>, port: u16) -> Self {
        self.options.entry_points.push((name.into(), port));
        self
    }

    /// The address written to `status.addresses` of every Gateway handled: an IP address and/or a
    /// hostname (empty for none).
    ///
    /// ```
    /// let provider = switchyard_kubernetes::GatewayProvider::new().status_address("192.0.2.10", "");
    /// ```
    pub fn status_address(mut self, ip: &str, hostname: &str) -> Self {
        self.options.addresses.clear();
        if !ip.is_empty() {
            self.options.addresses.push(json!({"type": "IPAddress", "value": ip}));
        }
        if !hostname.is_empty() {
            self.options
                .addresses
                .push(json!({"type": "Hostname", "value": hostname}));
        }
        self
    }

    /// Balances to Services' ClusterIPs rather than to their endpoints.
    pub fn native_lb_by_default(mut self, native: bool) -> Self {
        self.options.backends.native_lb_by_default = native;
        self
    }

    /// Elects one replica among those sharing this Lease to write statuses.
    ///
    /// ```
    /// use switchyard_kubernetes::{GatewayProvider, LeaderElection};
    ///
    /// let provider = GatewayProvider::new().leader_election(LeaderElection::new("kube-system", "switchyard-gateway"));
    /// ```
    pub fn leader_election(mut self, election: LeaderElection) -> Self {
        self.leader_election = Some(election);
        self
    }

    /// The ReferenceGrant version served: `v1` from Gateway API 1.5, `v1beta1` before.
    async fn grant_version(client: &Client) -> GrantVersion {
        for (version, found) in [("v1", GrantVersion::V1), ("v1beta1", GrantVersion::V1beta1)] {
            let group_version = format!("{}/{version}", crate::gateway_api::GROUP);
            if let Ok(list) = client.list_api_group_resources(&group_version).await
                && list.resources.iter().any(|r| r.name == "referencegrants")
            {
                return found;
            }
        }
        GrantVersion::None
    }

    fn watch_all(&self, watches: &mut Watches, grants: &GrantVersion) -> Mirrors {
        let mut m = Mirrors::default();
        let labelled = watcher::Config::default().labels(&self.label_selector);
        let all = watcher::Config::default();
        for ns in watched_namespaces(&self.namespaces) {
            m.gateways.push(watches.namespaced(ns, labelled.clone()));
            m.http_routes.push(watches.namespaced(ns, labelled.clone()));
            m.grpc_routes.push(watches.namespaced(ns, labelled.clone()));
            match grants {
                GrantVersion::V1 => m.grants.push(watches.namespaced(ns, all.clone())),
                GrantVersion::V1beta1 => m.grants_v1beta1.push(watches.namespaced(ns, all.clone())),
                GrantVersion::None => {}
            }
            m.services.push(watches.namespaced(ns, all.clone()));
            m.slices.push(watches.namespaced(ns, all.clone()));
            m.secrets.push(watches.namespaced(ns, all.clone()));
        }
        m.classes.push(watches.cluster(labelled));
        m.namespaces.push(watches.cluster(all));
        m
    }
}

/// The options of `providers.kubernetesGateway` switchyard reads but does not apply.
fn unsupported(options: &KubernetesGatewayOptions) -> Vec<String> {
    let mut found = Vec::new();
    let mut report = |set: bool, key: &str, why: &str| {
        if set {
            found.push(format!("providers.kubernetesGateway.{key} is not supported: {why}"));
        }
    };
    report(
        options.qps != 0,
        "qps",
        "requests to the API server are not rate-limited",
    );
    report(
        options.burst != 0,
        "burst",
        "requests to the API server are not rate-limited",
    );
    report(
        options.experimental_channel,
        "experimentalChannel",
        "only the Standard channel's kinds are watched",
    );
    let service = options.status_address.as_ref().is_some_and(|a| a.service.is_some());
    report(
        service,
        "statusAddress.service",
        "only `ip` and `hostname` are published",
    );
    report(
        !options.cross_provider_namespaces.is_empty(),
        "crossProviderNamespaces",
        "ExtensionRef filters name Traefik Middlewares of the route's namespace only",
    );
    found
}

impl Provider for GatewayProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self, sink: ProviderSink) -> Result<(), ProviderError> {
        for problem in &self.unsupported {
            tracing::warn!("{problem}");
        }
        let mut notes = self.unsupported.clone();
        let client = self.connection.client().await.map_err(ProviderError::other)?;
        let grants = Self::grant_version(&client).await;
        if matches!(grants, GrantVersion::None) {
            let problem =
                "the API server serves no ReferenceGrant (v1 or v1beta1): references across namespaces are refused";
            tracing::warn!("{problem}");
            notes.push(problem.to_owned());
        }
        let mut watches = Watches::new(client.clone(), sink.clone());
        let mirrors = self.watch_all(&mut watches, &grants);
        let changed = watches.changed();
        let (updates, pending) = mpsc::unbounded_channel();
        let mut election = None;
        let leading = self.leader_election.clone().map(|settings| {
            let (leading, follow) = tokio::sync::watch::channel(false);
            let elector = Elector::new(client.clone(), settings).run(leading, sink.clone());
            election = Some(tokio::spawn(elector));
            follow
        });
        let writer = GatewayStatusWriter::new(client.clone(), sink.clone(), leading, Arc::clone(&changed));
        watches.spawn(writer.run(pending));
        PublishLoop {
            sink,
            changed,
            recovered: watches.recovered(),
            throttle: self.throttle,
            listed: || mirrors.listed(),
            translate: || translate(&mirrors.view(), &self.options),
            statuses: Some(updates),
            notes,
        }
        .run()
        .await;
        if let Some(mut election) = election {
            // Let the elector free the Lease, so that another replica takes over now.
            if tokio::time::timeout(Duration::from_secs(2), &mut election)
                .await
                .is_err()
            {
                election.abort();
            }
        }
        watches.shutdown().await;
        Ok(())
    }
}
