//! What can go wrong: setting up the client, and translating one object.

/// Why the provider could not start, or what it reports while it recovers.
///
/// ```
/// use switchyard_kubernetes::KubernetesError;
///
/// let error = KubernetesError::WatchRestarted { resource: "ingresses in default".into(), failures: 3 };
/// assert_eq!(error.to_string(), "watching ingresses in default: 3 attempts in a row failed; listing again");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubernetesError {
    /// No client configuration: no endpoint given, no kubeconfig found and not running in a cluster.
    #[error("no Kubernetes client configuration: {0}")]
    Config(String),
    /// The client could not be built from its configuration.
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// A setting of the provider is invalid (a malformed label selector, an endpoint that is no URL).
    #[error("invalid setting `{setting}`: {reason}")]
    Setting {
        /// The setting (`endpoint`, `labelSelector`, `ingressEndpoint.publishedService`, ...).
        setting: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A watch failed; the provider retries and keeps its last snapshot meanwhile.
    #[error("watching {resource}: {source}")]
    Watch {
        /// The resource watched (`ingresses in default`).
        resource: String,
        /// The watcher's error.
        #[source]
        source: kube::runtime::watcher::Error,
    },
    /// A watch kept failing to start and was restarted from a fresh list.
    #[error("watching {resource}: {failures} attempts in a row failed; listing again")]
    WatchRestarted {
        /// The resource watched.
        resource: String,
        /// How many attempts failed in a row.
        failures: u32,
    },
    /// A Gateway API status (of a GatewayClass, Gateway or route) could not be written.
    #[error("cannot update the status of {object}: {source}")]
    GatewayStatus {
        /// The object: `HTTPRoute default/web`, `GatewayClass switchyard`.
        object: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// An Event about an object's configuration could not be written (is `create` on
    /// `events.k8s.io` `events` granted?); it is not retried.
    #[error("cannot write an Event about {object}: {source}")]
    Event {
        /// The object: `IngressRoute default/web`.
        object: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// An Ingress status could not be written.
    #[error("cannot update the status of Ingress {namespace}/{name}: {source}")]
    Status {
        /// The Ingress namespace.
        namespace: String,
        /// The Ingress name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// An object, or part of one, that could not be translated; the rest of the configuration goes live.
///
/// ```
/// use switchyard_kubernetes::{ObjectError, TranslateError};
///
/// let error = ObjectError::new("Ingress", "default", "web", TranslateError::MissingService { name: "api".into() });
/// assert_eq!(error.to_string(), "Ingress default/web: Service `api` not found");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {namespace}/{name}: {reason}")]
pub struct ObjectError {
    /// The object's kind (`Ingress`, `Service`).
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// What is wrong.
    pub reason: TranslateError,
}

impl ObjectError {
    /// An error about one object.
    pub fn new(kind: &'static str, namespace: &str, name: &str, reason: TranslateError) -> Self {
        Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            reason,
        }
    }
}

/// Why an object (or one of its paths, or TLS entries) was skipped.
///
/// ```
/// use switchyard_kubernetes::TranslateError;
///
/// let error = TranslateError::MissingPort { service: "web".into(), port: "http".into() };
/// assert_eq!(error.to_string(), "Service `web` has no port http");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TranslateError {
    /// A backend names a Service that does not exist.
    #[error("Service `{name}` not found")]
    MissingService {
        /// The Service name.
        name: String,
    },
    /// A backend names a port the Service does not have.
    #[error("Service `{service}` has no port {port}")]
    MissingPort {
        /// The Service name.
        service: String,
        /// The port, by name or number.
        port: String,
    },
    /// A backend names no port.
    #[error("the backend of Service `{service}` names no port")]
    NoPort {
        /// The Service name.
        service: String,
    },
    /// A Service has no ready endpoints (and `allowEmptyServices` is off).
    #[error("Service `{service}` has no ready endpoints")]
    NoEndpoints {
        /// The Service name.
        service: String,
    },
    /// An ExternalName Service while `allowExternalNameServices` is off.
    #[error("Service `{service}` is of type ExternalName, which allowExternalNameServices does not allow")]
    ExternalNameNotAllowed {
        /// The Service name.
        service: String,
    },
    /// nativeLB asked for a Service without a ClusterIP.
    #[error("Service `{service}` has no ClusterIP to balance to (headless?)")]
    NoClusterIp {
        /// The Service name.
        service: String,
    },
    /// A backend that is a resource rather than a Service.
    #[error("resource backends are not supported")]
    ResourceBackend,
    /// A path type other than Exact, Prefix and ImplementationSpecific, or a path that is not absolute.
    #[error("invalid path `{path}` of type `{path_type}`")]
    InvalidPath {
        /// The path.
        path: String,
        /// Its type.
        path_type: String,
    },
    /// An annotation whose value cannot be used.
    #[error("annotation `{key}`: invalid value `{value}`: {reason}")]
    Annotation {
        /// The annotation key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A TLS entry names a Secret that does not exist.
    #[error("TLS Secret `{name}` not found")]
    MissingSecret {
        /// The Secret name.
        name: String,
    },
    /// A TLS Secret without a usable `tls.crt` or `tls.key`.
    #[error("TLS Secret `{name}`: {reason}")]
    BadSecret {
        /// The Secret name.
        name: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// A value of a custom resource's spec cannot be read or used.
    #[error("`{path}`: {reason}")]
    Spec {
        /// Its key path (`spec.routes[0].services[1].port`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A key of a custom resource's spec that switchyard does not read.
    #[error("unknown key `{path}` ignored")]
    UnknownKey {
        /// Its key path.
        path: String,
    },
    /// A reference to another namespace while `allowCrossNamespace` is off, or to another provider from
    /// a namespace outside `crossProviderNamespaces`.
    #[error("`{path}`: {reason}")]
    NotAllowed {
        /// The key path of the reference.
        path: String,
        /// Which rule refuses it.
        reason: String,
    },
    /// The published Service for the Ingress status cannot give an address.
    #[error("cannot publish an address from Service `{service}`: {reason}")]
    PublishedService {
        /// `namespace/name` of the Service.
        service: String,
        /// Why.
        reason: String,
    },
}
