//! The servers of a Kubernetes Service referenced by a custom resource: its ready endpoints, its
//! ClusterIP (`nativeLB`), its nodes (`nodePortLB`) or its external name.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};

use super::spec::{Port, ServiceRef};
use crate::options::CrdOptions;
use crate::translate::ClusterView;
use crate::translate::backend::{ready_endpoints, url};

/// The Service a reference names, with its port and the scheme to reach it, as the server kinds need.
struct Target<'a> {
    view: &'a ClusterView,
    options: &'a CrdOptions,
    /// `namespace/name`, for messages.
    name: String,
    key: (String, String),
    spec: &'a ServiceSpec,
    port: ServicePort,
    scheme: String,
}

/// The server URLs of the Service a reference names (in `namespace`), or why there are none.
pub(crate) fn servers(
    view: &ClusterView,
    options: &CrdOptions,
    namespace: &str,
    reference: &ServiceRef,
) -> Result<Vec<String>, String> {
    let key = (namespace.to_owned(), reference.name.clone());
    let name = format!("{namespace}/{}", reference.name);
    let service = view
        .services
        .get(&key)
        .ok_or_else(|| format!("Service `{name}` not found"))?;
    let target = Target::new(view, options, name, key, service, reference)?;
    if target.spec.type_.as_deref() == Some("ExternalName") {
        target.external_name()
    } else if reference.native_lb.unwrap_or(options.native_lb_by_default) {
        target.cluster_ip()
    } else if reference.node_port_lb && target.spec.type_.as_deref() == Some("NodePort") {
        target.node_ports()
    } else {
        target.endpoints()
    }
}

impl<'a> Target<'a> {
    /// The Service a reference names, with the port it names and its scheme, checked.
    fn new(
        view: &'a ClusterView,
        options: &'a CrdOptions,
        name: String,
        key: (String, String),
        service: &'a Service,
        reference: &ServiceRef,
    ) -> Result<Self, String> {
        let port = service_port(service, named_port(reference)?)?;
        let spec = service.spec.as_ref().ok_or("has no spec")?;
        if reference.health_check.is_some() && spec.type_.as_deref() != Some("ExternalName") {
            return Err("healthCheck is only allowed for ExternalName Services (Kubernetes checks pods itself)".into());
        }
        let scheme = scheme(&reference.scheme, &port)?;
        Ok(Self {
            view,
            options,
            name,
            key,
            spec,
            port,
            scheme,
        })
    }

    fn external_name(&self) -> Result<Vec<String>, String> {
        if !self.options.allow_external_name_services {
            return Err(format!(
                "Service `{}` is of type ExternalName, which allowExternalNameServices does not allow",
                self.name
            ));
        }
        let host = self.spec.external_name.as_deref().unwrap_or_default();
        Ok(vec![url(&self.scheme, host, self.port.port)])
    }

    fn cluster_ip(&self) -> Result<Vec<String>, String> {
        let ip = self
            .spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
            .ok_or_else(|| format!("Service `{}` has no ClusterIP to balance to (headless?)", self.name))?;
        Ok(vec![url(&self.scheme, ip, self.port.port)])
    }

    /// The ready, not terminating endpoints of every EndpointSlice of the Service.
    fn endpoints(&self) -> Result<Vec<String>, String> {
        let slices = self.view.slices.get(&self.key).map(Vec::as_slice).unwrap_or_default();
        let port_name = self.port.name.clone().unwrap_or_default();
        let servers: Vec<String> = ready_endpoints(slices, &port_name)
            .into_iter()
            .map(|(address, port)| url(&self.scheme, &address, port))
            .collect();
        if servers.is_empty() && !self.options.allow_empty_services {
            return Err(format!("Service `{}` has no ready endpoints", self.name));
        }
        Ok(servers)
    }

    /// Every node's internal IP at the Service's node port.
    fn node_ports(&self) -> Result<Vec<String>, String> {
        if self.options.no_nodes {
            return Err("nodePortLB needs the nodes, which disableClusterScopeResources leaves unwatched".into());
        }
        let node_port = self.port.node_port.ok_or("the Service port has no nodePort")?;
        let servers: Vec<String> = self
            .view
            .nodes
            .iter()
            .filter_map(|node| node.status.as_ref()?.addresses.as_ref())
            .flatten()
            .filter(|address| address.type_ == "InternalIP")
            .map(|address| url(&self.scheme, &address.address, node_port))
            .collect();
        if servers.is_empty() {
            return Err("no node has an internal IP for nodePortLB".into());
        }
        Ok(servers)
    }
}

/// The port a reference names.
fn named_port(reference: &ServiceRef) -> Result<&Port, String> {
    reference
        .port
        .as_ref()
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
