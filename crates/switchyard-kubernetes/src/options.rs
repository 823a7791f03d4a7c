//! The settings translation depends on.

use switchyard_config::IngressEndpoint;

/// Traefik's default IngressClass controller name: IngressClasses with this `spec.controller` are
/// handled unless [`IngressProvider::controller_name`](crate::IngressProvider::controller_name) names
/// another.
///
/// ```
/// assert_eq!(switchyard_kubernetes::DEFAULT_CONTROLLER, "traefik.io/ingress-controller");
/// ```
pub const DEFAULT_CONTROLLER: &str = "traefik.io/ingress-controller";

/// What decides the translation (the watch settings live in the provider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TranslateOptions {
    /// `ingressClass`: the IngressClass name or legacy annotation value handled; empty for Traefik's
    /// defaults.
    pub(crate) ingress_class: String,
    /// The `spec.controller` of IngressClasses handled.
    pub(crate) controller: String,
    pub(crate) allow_empty_services: bool,
    pub(crate) allow_external_name_services: bool,
    pub(crate) native_lb_by_default: bool,
    /// Where the Ingress status comes from; `None` leaves statuses alone.
    pub(crate) ingress_endpoint: Option<IngressEndpoint>,
    /// Publish the nodes' internal IPs in Ingress status (before `ingress_endpoint`).
    pub(crate) report_node_internal_ips: bool,
    /// Namespaces whose Ingresses and Services may name middlewares, TLS options and servers
    /// transports (always other providers' elements); `None`: every namespace.
    pub(crate) cross_provider_namespaces: Option<Vec<String>>,
}

impl TranslateOptions {
    /// Refuses references to other providers' elements from a namespace outside
    /// `crossProviderNamespaces`.
    pub(crate) fn cross_provider_allowed(
        &self,
        namespace: &str,
        what: &str,
    ) -> Result<(), crate::error::TranslateError> {
        match &self.cross_provider_namespaces {
            Some(allowed) if !allowed.iter().any(|ns| ns == namespace) => Err(crate::error::TranslateError::Spec {
                path: what.to_owned(),
                reason: format!(
                    "refers to another provider, and namespace `{namespace}` is not in crossProviderNamespaces"
                ),
            }),
            _ => Ok(()),
        }
    }
}

impl TranslateOptions {
    /// Whether Ingress statuses are written at all.
    pub(crate) fn writes_status(&self) -> bool {
        self.ingress_endpoint.is_some() || self.report_node_internal_ips
    }
}

impl Default for TranslateOptions {
    fn default() -> Self {
        Self {
            ingress_class: String::new(),
            controller: DEFAULT_CONTROLLER.to_owned(),
            allow_empty_services: false,
            allow_external_name_services: false,
            native_lb_by_default: false,
            ingress_endpoint: None,
            report_node_internal_ips: false,
            cross_provider_namespaces: None,
        }
    }
}

/// What decides the translation of Traefik's custom resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CrdOptions {
    /// `ingressClass`: the class handled; empty for IngressRoutes without one or of class `traefik`.
    pub(crate) ingress_class: String,
    /// References to other namespaces are allowed.
    pub(crate) allow_cross_namespace: bool,
    pub(crate) allow_external_name_services: bool,
    pub(crate) allow_empty_services: bool,
    pub(crate) native_lb_by_default: bool,
    /// Nodes are not watched (`disableClusterScopeResources`), so `nodePortLB` cannot work.
    pub(crate) no_nodes: bool,
    /// Namespaces whose objects may refer to other providers' elements; `None`: every namespace.
    pub(crate) cross_provider_namespaces: Option<Vec<String>>,
}
