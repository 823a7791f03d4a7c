//! The servers of a Kubernetes Service referenced by a custom resource: its ready endpoints, its
//! ClusterIP (`nativeLB`), its nodes (`nodePortLB`) or its external name.

use k8s_openapi::api::core::v1::{Service, ServicePort};

use super::spec::{Port, ServiceRef};
use crate::options::CrdOptions;
use crate::translate::ClusterView;
use crate::translate::backend::{ready_endpoints, url};

/// The server URLs of `service` (in `namespace`) for the reference, or why there are none.
pub(crate) fn servers(
    view: &ClusterView,
    options: &CrdOptions,
    namespace: &str,
    reference: &ServiceRef,
) -> Result<Vec<String>, String> {
    let key = (namespace.to_owned(), reference.name.clone());
    let service = view
        .services
        .get(&key)
        .ok_or_else(|| format!("Service `{namespace}/{}` not found", reference.name))?;
    let port = reference.port.as_ref().filter(|p| !p.is_unset()).ok_or("names no port")?;
    let found = service_port(service, port)?;
    let spec = service.spec.clone().unwrap_or_default();
    let external = spec.type_.as_deref() == Some("ExternalName");
    if reference.health_check.is_some() && !external {
        return Err("healthCheck is only allowed for ExternalName Services (Kubernetes checks pods itself)".into());
    }
    let scheme = scheme(&reference.scheme, &found)?;
    if external {
        if !options.allow_external_name_services {
            return Err(format!(
                "Service `{namespace}/{}` is of type ExternalName, which allowExternalNameServices does not allow",
                reference.name
            ));
        }
        let host = spec.external_name.unwrap_or_default();
        return Ok(vec![url(&scheme, &host, found.port)]);
    }
    if reference.native_lb.unwrap_or(options.native_lb_by_default) {
        let ip = spec.cluster_ip.filter(|ip| !ip.is_empty() && ip != "None").ok_or_else(|| {
            format!("Service `{namespace}/{}` has no ClusterIP to balance to (headless?)", reference.name)
        })?;
        return Ok(vec![url(&scheme, &ip, found.port)]);
    }
    if reference.node_port_lb && spec.type_.as_deref() == Some("NodePort") {
        return node_ports(view, options, &scheme, &found);
    }
    let slices = view.slices.get(&key).map(Vec::as_slice).unwrap_or_default();
    let name = found.name.clone().unwrap_or_default();
    let servers: Vec<String> = ready_endpoints(slices, &name)
        .into_iter()
        .map(|(address, port)| url(&scheme, &address, port))
        .collect();
    if servers.is_empty() && !options.allow_empty_services {
        return Err(format!("Service `{namespace}/{}` has no ready endpoints", reference.name));
    }
    Ok(servers)
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

/// Every node's internal IP at the Service's node port.
fn node_ports(view: &ClusterView, options: &CrdOptions, scheme: &str, port: &ServicePort) -> Result<Vec<String>, String> {
    if options.no_nodes {
        return Err("nodePortLB needs the nodes, which disableClusterScopeResources leaves unwatched".into());
    }
    let node_port = port.node_port.ok_or("the Service port has no nodePort")?;
    let servers: Vec<String> = view
        .nodes
        .iter()
        .filter_map(|node| node.status.as_ref()?.addresses.as_ref())
        .flatten()
        .filter(|address| address.type_ == "InternalIP")
        .map(|address| url(scheme, &address.address, node_port))
        .collect();
    if servers.is_empty() {
        return Err("no node has an internal IP for nodePortLB".into());
    }
    Ok(servers)
}
