//! The typed specs of Traefik's custom resources, with Traefik's key names. Parts that are exactly a
//! dynamic-configuration type (`sticky`, `healthCheck`, most middlewares) use switchyard-config's type.

use serde::Deserialize;
use switchyard_config::{PassiveHealthCheck, ServerHealthCheck, Sticky, TlsDomain};

/// A route kind's spec, which names the class of provider that handles it.
pub(crate) trait Classed {
    /// `spec.ingressClassName`.
    fn ingress_class_name(&self) -> Option<&str>;
}

macro_rules! classed {
    ($($spec:ty),*) => {$(
        impl Classed for $spec {
            fn ingress_class_name(&self) -> Option<&str> {
                self.ingress_class_name.as_deref()
            }
        }
    )*};
}

classed!(IngressRouteSpec, IngressRouteTcpSpec, IngressRouteUdpSpec);

/// A reference to another object by name, in the referrer's namespace unless one is given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Reference {
    pub(crate) name: String,
    pub(crate) namespace: String,
}

/// `IngressRoute.spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct IngressRouteSpec {
    pub(crate) ingress_class_name: Option<String>,
    pub(crate) entry_points: Vec<String>,
    pub(crate) routes: Vec<Route>,
    pub(crate) tls: Option<RouteTls>,
}

/// One of `spec.routes`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Route {
    #[serde(rename = "match")]
    pub(crate) rule: String,
    pub(crate) kind: String,
    pub(crate) priority: i64,
    pub(crate) syntax: Option<String>,
    /// Read separately (see [`ServiceRef`]), kept raw here.
    pub(crate) services: Vec<serde_json::Value>,
    pub(crate) middlewares: Vec<Reference>,
    pub(crate) observability: Option<Observability>,
}

/// `routes[].observability`: each switch defaults to on.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Observability {
    pub(crate) access_logs: Option<bool>,
    pub(crate) metrics: Option<bool>,
    pub(crate) tracing: Option<bool>,
    pub(crate) trace_verbosity: Option<String>,
}

/// `IngressRoute.spec.tls`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RouteTls {
    pub(crate) secret_name: String,
    pub(crate) options: Option<Reference>,
    pub(crate) store: Option<Reference>,
    pub(crate) cert_resolver: String,
    pub(crate) domains: Vec<TlsDomain>,
}

/// A Service port, by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum Port {
    Number(i32),
    Name(String),
}

impl Port {
    /// As Traefik writes it in service names.
    pub(crate) fn text(&self) -> String {
        match self {
            Port::Number(number) => number.to_string(),
            Port::Name(name) => name.clone(),
        }
    }

    /// Whether the port names nothing (`0` or `""`).
    pub(crate) fn is_unset(&self) -> bool {
        matches!(self, Port::Number(0)) || matches!(self, Port::Name(name) if name.is_empty())
    }
}

/// A reference to a Kubernetes Service (and how to balance over it) or to a TraefikService: Traefik's
/// `LoadBalancerSpec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServiceRef {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) namespace: String,
    pub(crate) middlewares: Vec<Reference>,
    pub(crate) sticky: Option<Sticky>,
    pub(crate) port: Option<Port>,
    pub(crate) scheme: String,
    pub(crate) strategy: String,
    pub(crate) pass_host_header: Option<bool>,
    pub(crate) response_forwarding: Option<ResponseForwarding>,
    pub(crate) servers_transport: String,
    pub(crate) weight: Option<u32>,
    #[serde(rename = "nativeLB")]
    pub(crate) native_lb: Option<bool>,
    #[serde(rename = "nodePortLB")]
    pub(crate) node_port_lb: bool,
    pub(crate) health_check: Option<ServerHealthCheck>,
    pub(crate) passive_health_check: Option<PassiveHealthCheck>,
}

/// `responseForwarding`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ResponseForwarding {
    pub(crate) flush_interval: Option<switchyard_config::Duration>,
}

/// A Secret by name, for the TLSStore's certificates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SecretRef {
    pub(crate) secret_name: String,
}

/// `TLSStore.spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct TlsStoreSpec {
    pub(crate) default_certificate: Option<SecretRef>,
    pub(crate) default_generated_cert: Option<switchyard_config::GeneratedCert>,
    pub(crate) certificates: Vec<SecretRef>,
}

/// `clientAuth` of a `TLSOption`: CAs from Secrets.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ClientAuth {
    pub(crate) secret_names: Vec<String>,
    pub(crate) client_auth_type: String,
}

/// The Kubernetes-specific parts of a `ServersTransport`: CAs and client certificates from Secrets.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct TransportSecrets {
    #[serde(rename = "rootCAsSecrets")]
    pub(crate) root_cas_secrets: Vec<String>,
    #[serde(rename = "rootCAs")]
    pub(crate) root_cas: Vec<RootCa>,
    pub(crate) certificates_secrets: Vec<String>,
}

/// One of `rootCAs`: a Secret or a ConfigMap holding a CA.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RootCa {
    pub(crate) secret: Option<String>,
    pub(crate) config_map: Option<String>,
}

/// `tls` of a `forwardAuth` middleware: CA and client certificate from Secrets.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ClientTlsSecrets {
    pub(crate) ca_secret: String,
    pub(crate) cert_secret: String,
    pub(crate) insecure_skip_verify: bool,
    pub(crate) ca_optional: Option<bool>,
}

/// `basicAuth` and `digestAuth`: users from a Secret.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct AuthSecret {
    pub(crate) secret: String,
    pub(crate) realm: String,
    pub(crate) remove_header: bool,
    pub(crate) header_field: String,
}

/// `chain`: middlewares by reference.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Chain {
    pub(crate) middlewares: Vec<Reference>,
}

/// `IngressRouteTCP.spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct IngressRouteTcpSpec {
    pub(crate) ingress_class_name: Option<String>,
    pub(crate) entry_points: Vec<String>,
    pub(crate) routes: Vec<RouteTcp>,
    /// Read separately: `passthrough` beside the keys of [`RouteTls`].
    pub(crate) tls: Option<serde_json::Value>,
}

/// One of `IngressRouteTCP.spec.routes`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RouteTcp {
    #[serde(rename = "match")]
    pub(crate) rule: String,
    pub(crate) priority: i64,
    pub(crate) syntax: Option<String>,
    pub(crate) services: Vec<ServiceTcp>,
    pub(crate) middlewares: Vec<Reference>,
}

/// A Kubernetes Service behind a TCP route: Traefik's `ServiceTCP`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServiceTcp {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) port: Option<Port>,
    pub(crate) weight: Option<u32>,
    pub(crate) termination_delay: Option<i64>,
    pub(crate) proxy_protocol: Option<switchyard_config::TcpProxyProtocol>,
    pub(crate) servers_transport: String,
    pub(crate) tls: bool,
    #[serde(rename = "nativeLB")]
    pub(crate) native_lb: Option<bool>,
    #[serde(rename = "nodePortLB")]
    pub(crate) node_port_lb: bool,
}

/// `IngressRouteUDP.spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct IngressRouteUdpSpec {
    pub(crate) ingress_class_name: Option<String>,
    pub(crate) entry_points: Vec<String>,
    pub(crate) routes: Vec<RouteUdp>,
}

/// One of `IngressRouteUDP.spec.routes`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RouteUdp {
    pub(crate) services: Vec<ServiceUdp>,
}

/// A Kubernetes Service behind a UDP route: Traefik's `ServiceUDP`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServiceUdp {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) port: Option<Port>,
    pub(crate) weight: Option<u32>,
    #[serde(rename = "nativeLB")]
    pub(crate) native_lb: Option<bool>,
    #[serde(rename = "nodePortLB")]
    pub(crate) node_port_lb: bool,
}
