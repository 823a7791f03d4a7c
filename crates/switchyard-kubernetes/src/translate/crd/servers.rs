//! The servers of a Kubernetes Service referenced by a custom resource: its ready endpoints, its
//! ClusterIP (`nativeLB`), its nodes (`nodePortLB`) or its external name. HTTP services reach them by
//! URL, TCP and UDP services by `host:port`.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};

use super::spec::{Port, ServiceRef};
use crate::options::CrdOptions;
use crate::translate::ClusterView;
use crate::translate::backend::{ready_endpoints, url};

/// What picks the servers of a Service, whatever the protocol spoken to them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backend<'a> {
    /// The Service's name.
    pub(crate) name: &'a str,
    /// The Service port, by number or name.
    pub(crate) port: Option<&'a Port>,
    /// Balance to the ClusterIP; the provider's `nativeLBByDefault` when unset.
    pub(crate) native_lb: Option<bool>,
    /// Balance to the nodes' NodePort (NodePort Services only).
    pub(crate) node_port_lb: bool,
}

/// One server: a host (name or IP address) and a port.
type Endpoint = (String, i32);

/// The Service a reference names, with the port it names.
struct Target<'a> {
    view: &'a ClusterView,
    options: &'a CrdOptions,
    /// `namespace/name`, for messages.
    name: String,
    key: (String, String),
    spec: &'a ServiceSpec,
    port: ServicePort,
}

/// The server URLs of the Service an HTTP reference names (in `namespace`), or why there are none.
pub(crate) fn servers(
    view: &ClusterView,
    options: &CrdOptions,
    namespace: &str,
    reference: &ServiceRef,
) -> Result<Vec<String>, String> {
    let backend = Backend {
        name: &reference.name,
        port: reference.port.as_ref(),
        native_lb: reference.native_lb,
        node_port_lb: reference.node_port_lb,
    };
    let target = Target::new(view, options, namespace, &backend)?;
    if reference.health_check.is_some() && target.spec.type_.as_deref() != Some("ExternalName") {
        return Err("healthCheck is only allowed for ExternalName Services (Kubernetes checks pods itself)".into());
    }
    let scheme = scheme(&reference.scheme, &target.port)?;
    let endpoints = target.endpoints_of(&backend)?;
    Ok(endpoints
        .into_iter()
        .map(|(host, port)| url(&scheme, &host, port))
        .collect())
}

/// The `host:port` addresses of the Service a TCP or UDP reference names (in `namespace`), or why there
/// are none.
pub(crate) fn addresses(
    view: &ClusterView,
    options: &CrdOptions,
    namespace: &str,
    backend: &Backend<'_>,
) -> Result<Vec<String>, String> {
    let target = Target::new(view, options, namespace, backend)?;
    let endpoints = target.endpoints_of(backend)?;
    Ok(endpoints
        .into_iter()
        .map(|(host, port)| host_port(&host, port))
        .collect())
}

/// `host:port`, with an IPv6 address in brackets.
fn host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl<'a> Target<'a> {
    /// The Service a backend names, with the port it names, checked.
    fn new(
        view: &'a ClusterView,
        options: &'a CrdOptions,
        namespace: &str,
        backend: &Backend<'_>,
    ) -> Result<Self, String> {
        let key = (namespace.to_owned(), backend.name.to_owned());
        let name = format!("{namespace}/{}", backend.name);
        let service = view
            .services
            .get(&key)
            .ok_or_else(|| format!("Service `{name}` not found"))?;
        let port = service_port(service, named_port(backend)?)?;
        let spec = service.spec.as_ref().ok_or("has no spec")?;
        Ok(Self {
            view,
            options,
            name,
            key,
            spec,
            port,
        })
    }

    /// The servers, by the Service's type and the backend's choices.
    fn endpoints_of(&self, backend: &Backend<'_>) -> Result<Vec<Endpoint>, String> {
        if self.spec.type_.as_deref() == Some("ExternalName") {
            self.external_name()
        } else if backend.native_lb.unwrap_or(self.options.native_lb_by_default) {
            self.cluster_ip()
        } else if backend.node_port_lb && self.spec.type_.as_deref() == Some("NodePort") {
            self.node_ports()
        } else {
            self.endpoints()
        }
    }

    fn external_name(&self) -> Result<Vec<Endpoint>, String> {
        if !self.options.allow_external_name_services {
            return Err(format!(
                "Service `{}` is of type ExternalName, which allowExternalNameServices does not allow",
                self.name
            ));
        }
        let host = self.spec.external_name.as_deref().unwrap_or_default();
        Ok(vec![(host.to_owned(), self.port.port)])
    }

    fn cluster_ip(&self) -> Result<Vec<Endpoint>, String> {
        let ip = self
            .spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
            .ok_or_else(|| format!("Service `{}` has no ClusterIP to balance to (headless?)", self.name))?;
        Ok(vec![(ip.to_owned(), self.port.port)])
    }

    /// The ready, not terminating endpoints of every EndpointSlice of the Service.
    fn endpoints(&self) -> Result<Vec<Endpoint>, String> {
        let slices = self.view.slices.get(&self.key).map(Vec::as_slice).unwrap_or_default();
        let port_name = self.port.name.clone().unwrap_or_default();
        let servers: Vec<Endpoint> = ready_endpoints(slices, &port_name).into_iter().collect();
        if servers.is_empty() && !self.options.allow_empty_services {
            return Err(format!("Service `{}` has no ready endpoints", self.name));
        }
        Ok(servers)
    }

    /// Every node's internal IP at the Service's node port.
    fn node_ports(&self) -> Result<Vec<Endpoint>, String> {
        if self.options.no_nodes {
            return Err("nodePortLB needs the nodes, which disableClusterScopeResources leaves unwatched".into());
        }
        let node_port = self.port.node_port.ok_or("the Service port has no nodePort")?;
        let servers: Vec<Endpoint> = self
            .view
            .nodes
            .iter()
            .filter_map(|node| node.status.as_ref()?.addresses.as_ref())
            .flatten()
            .filter(|address| address.type_ == "InternalIP")
            .map(|address| (address.address.clone(), node_port))
            .collect();
        if servers.is_empty() {
            return Err("no node has an internal IP for nodePortLB".into());
        }
        Ok(servers)
    }
}

/// The port a backend names.
fn named_port<'p>(backend: &Backend<'p>) -> Result<&'p Port, String> {
    backend
        .port
        .filter(|p| !p.is_unset())
        .ok_or_else(|| "names no port".to_owned())
}

/// The Service port named; an ExternalName Service also takes a port number it does not list.
fn service_port(service: &Service, port: &Port) -> Result<ServicePort, String> {
    let spec = service.spec.as_ref();
    let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let found = ports.iter().find(|p| match port {
        Port::Number(number) => p.port == *number,
        Port::Name(name) => p.name.as_deref() == Some(name.as_str()),
    });
    if let Some(found) = found {
        return Ok(found.clone());
    }
    match port {
        Port::Number(number) if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") => Ok(ServicePort {
            port: *number,
            ..ServicePort::default()
        }),
        _ => Err(format!("has no port {}", port.text())),
    }
}

/// The scheme of the servers: as given, or `https` for port 443 or a port name starting with `https`.
fn scheme(given: &str, port: &ServicePort) -> Result<String, String> {
    match given {
        "http" | "https" | "h2c" => Ok(given.to_owned()),
        "" if port.port == 443 || port.name.as_deref().is_some_and(|n| n.starts_with("https")) => Ok("https".into()),
        "" => Ok("http".into()),
        other => Err(format!("invalid scheme `{other}` (http, https or h2c)")),
    }
}
