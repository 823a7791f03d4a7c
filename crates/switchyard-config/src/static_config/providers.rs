//! `providers`: where dynamic configuration comes from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Duration;

/// `providers`. Only the providers switchyard provides are modelled; others (`docker`, `consulCatalog`,
/// ...) load as unknown keys and are reported, so a Traefik file with them still loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Providers {
    /// How long the aggregator waits between publications of a burst of changes. Default: 2 s.
    pub providers_throttle_duration: Duration,
    /// The file provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileProviderOptions>,
    /// Kubernetes Ingress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_ingress: Option<KubernetesIngressOptions>,
    /// Kubernetes Traefik CRDs (`traefik.io/v1alpha1`).
    #[serde(rename = "kubernetesCRD", skip_serializing_if = "Option::is_none")]
    pub kubernetes_crd: Option<KubernetesCrdOptions>,
    /// Kubernetes Gateway API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_gateway: Option<KubernetesGatewayOptions>,
}

impl Default for Providers {
    fn default() -> Self {
        Self {
            providers_throttle_duration: Duration::from_secs(2),
            file: None,
            kubernetes_ingress: None,
            kubernetes_crd: None,
            kubernetes_gateway: None,
        }
    }
}

/// `providers.file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FileProviderOptions {
    /// One file (exclusive with `directory`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<PathBuf>,
    /// A directory of files (exclusive with `filename`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
    /// Reload on changes. Default: `true`.
    pub watch: bool,
    /// Accepted for compatibility; switchyard does not render Go templates.
    pub debug_log_generated_template: bool,
}

impl Default for FileProviderOptions {
    fn default() -> Self {
        Self {
            filename: None,
            directory: None,
            watch: true,
            debug_log_generated_template: false,
        }
    }
}

/// `providers.kubernetesIngress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KubernetesIngressOptions {
    /// The API server URL; empty for in-cluster or kubeconfig.
    pub endpoint: String,
    /// A bearer token (or a path to one).
    pub token: String,
    /// The CA certificate of the API server.
    pub cert_auth_file_path: String,
    /// Namespaces watched; empty for all.
    pub namespaces: Vec<String>,
    /// Label selector for Ingresses.
    pub label_selector: String,
    /// The `kubernetes.io/ingress.class` annotation value handled.
    pub ingress_class: String,
    /// What to publish in Ingress status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_endpoint: Option<IngressEndpoint>,
    /// Publish the nodes' internal IPs in Ingress status.
    #[serde(rename = "reportNodeInternalIPs")]
    pub report_node_internal_ips: bool,
    /// Minimum time between two configurations from this provider.
    pub throttle_duration: Duration,
    /// Keep routers whose services have no endpoints (answer 503).
    pub allow_empty_services: bool,
    /// Allow ExternalName services.
    pub allow_external_name_services: bool,
    /// Namespaces whose Ingresses and Services may refer to other providers' middlewares, TLS options
    /// and servers transports: absent for every namespace, as in Traefik, and an empty list for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_provider_namespaces: Option<Vec<String>>,
    /// Do not look up IngressClass objects.
    pub disable_ingress_class_lookup: bool,
    /// Do not watch cluster-scoped resources.
    pub disable_cluster_scope_resources: bool,
    /// Route to the Service's ClusterIP instead of pod endpoints by default.
    #[serde(rename = "nativeLBByDefault")]
    pub native_lb_by_default: bool,
    /// `Prefix` path matching element-wise only.
    pub strict_prefix_matching: bool,
    /// Elect one replica on a Lease to write Ingress status and Events (a switchyard extension, not in
    /// Traefik).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_election: Option<LeaderElectionOptions>,
    /// Do not write Kubernetes Events on the Ingresses the configuration has problems with (a
    /// switchyard extension, not in Traefik; Events are written by default and need `create` on
    /// `events.k8s.io` `events`).
    pub disable_object_events: bool,
}

/// `providers.kubernetesIngress.leaderElection`, a switchyard extension: of the replicas sharing the
/// Lease, only the one holding it writes Ingress status; another takes over when it expires.
///
/// ```
/// use switchyard_config::{Duration, LeaderElectionOptions};
///
/// let election = LeaderElectionOptions { namespace: "switchyard".into(), ..Default::default() };
/// assert_eq!(election.lease_name, "switchyard-ingress-status");
/// assert_eq!((election.lease_duration, election.retry_period), (Duration::from_secs(15), Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LeaderElectionOptions {
    /// The Lease's namespace. Default: `default`.
    pub namespace: String,
    /// The Lease's name. Default: `switchyard-ingress-status`.
    pub lease_name: String,
    /// This replica's `holderIdentity`, unique among replicas; empty for `$POD_NAME` (else
    /// `$HOSTNAME`) with a random suffix.
    pub identity: String,
    /// How long the Lease holds after its last renewal (whole seconds). Default: 15 s; 0 or negative
    /// means the default.
    pub lease_duration: Duration,
    /// How often the other replicas read it, and how soon a failed renewal is tried again (at most a
    /// quarter of `leaseDuration` is used; the holder renews every third of it). Default: 2 s; 0 or
    /// negative means the default.
    pub retry_period: Duration,
}

impl Default for LeaderElectionOptions {
    fn default() -> Self {
        Self {
            namespace: "default".into(),
            lease_name: "switchyard-ingress-status".into(),
            identity: String::new(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// `ingressEndpoint`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressEndpoint {
    /// An IP address.
    pub ip: String,
    /// A host name.
    pub hostname: String,
    /// A Service (`namespace/name`) whose address is published.
    pub published_service: String,
}

/// `providers.kubernetesCRD`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KubernetesCrdOptions {
    /// The API server URL.
    pub endpoint: String,
    /// A bearer token.
    pub token: String,
    /// The CA certificate of the API server.
    pub cert_auth_file_path: String,
    /// Namespaces watched; empty for all.
    pub namespaces: Vec<String>,
    /// Allow references across namespaces.
    pub allow_cross_namespace: bool,
    /// Allow ExternalName services.
    pub allow_external_name_services: bool,
    /// Namespaces whose objects may refer to other providers' elements (`name@file`): absent for every
    /// namespace, as in Traefik, and an empty list for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_provider_namespaces: Option<Vec<String>>,
    /// Label selector.
    pub label_selector: String,
    /// The ingress class handled.
    pub ingress_class: String,
    /// Minimum time between two configurations from this provider.
    pub throttle_duration: Duration,
    /// Keep routers whose services have no endpoints.
    pub allow_empty_services: bool,
    /// Route to ClusterIPs by default.
    #[serde(rename = "nativeLBByDefault")]
    pub native_lb_by_default: bool,
    /// Do not watch cluster-scoped resources.
    pub disable_cluster_scope_resources: bool,
    /// Do not write Kubernetes Events on the IngressRoutes, Middlewares and other objects the
    /// configuration has problems with (a switchyard extension, not in Traefik; Events are written by
    /// default and need `create` on `events.k8s.io` `events`).
    pub disable_object_events: bool,
}

/// `providers.kubernetesGateway`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KubernetesGatewayOptions {
    /// The API server URL.
    pub endpoint: String,
    /// A bearer token.
    pub token: String,
    /// Client request rate towards the API server.
    pub qps: u32,
    /// Client burst towards the API server.
    pub burst: u32,
    /// The CA certificate of the API server.
    pub cert_auth_file_path: String,
    /// Namespaces watched; empty for all.
    pub namespaces: Vec<String>,
    /// Label selector.
    pub label_selector: String,
    /// Minimum time between two configurations from this provider.
    pub throttle_duration: Duration,
    /// Also handle the experimental channel's resources.
    pub experimental_channel: bool,
    /// What to publish in Gateway status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_address: Option<StatusAddress>,
    /// Route to ClusterIPs by default.
    #[serde(rename = "nativeLBByDefault")]
    pub native_lb_by_default: bool,
    /// Namespaces allowed to reference other providers.
    pub cross_provider_namespaces: Vec<String>,
}

/// `statusAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatusAddress {
    /// An IP address.
    pub ip: String,
    /// A host name.
    pub hostname: String,
    /// A Service whose address is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceRef>,
}

/// A Service by name and namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceRef {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
}
