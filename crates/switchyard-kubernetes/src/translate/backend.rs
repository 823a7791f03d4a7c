//! Services and their EndpointSlices as load balancers.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::ServiceBackendPort;
use switchyard_config::{LoadBalancer, Server};

use super::ClusterView;
use super::annotations::ServiceAnnotations;
use crate::error::TranslateError;
use crate::options::TranslateOptions;

/// The port a backend names, as Traefik writes it in service names: the name, or the number.
pub(crate) fn port_text(port: Option<&ServiceBackendPort>) -> Option<String> {
    let port = port?;
    match (&port.name, port.number) {
        (Some(name), _) if !name.is_empty() => Some(name.clone()),
        (_, Some(number)) => Some(number.to_string()),
        _ => None,
    }
}

/// The load balancer for one Service port: its ready endpoints, or its ClusterIP with nativeLB, or its
/// external name.
pub(crate) fn load_balancer(
    view: &ClusterView,
    options: &TranslateOptions,
    namespace: &str,
    service_name: &str,
    port: Option<&ServiceBackendPort>,
) -> Result<LoadBalancer, TranslateError> {
    let service = find_service(view, namespace, service_name)?;
    let annotations = ServiceAnnotations::read(service.metadata.annotations.as_ref())?;
    let service_port = backend_port(service, service_name, port)?;
    let scheme = servers_scheme(&annotations, service_port);
    let native = annotations.native_lb.unwrap_or(options.native_lb_by_default);
    let servers = servers(view, options, (namespace, service_name), &scheme, service_port, native)?;
    if servers.is_empty() && !options.allow_empty_services {
        return Err(TranslateError::NoEndpoints {
            service: service_name.to_owned(),
        });
    }
    if annotations.servers_transport.is_some() {
        let what = format!("Service `{service_name}` annotation service.serverstransport");
        options.cross_provider_allowed(namespace, &what)?;
    }
    Ok(annotated_load_balancer(servers, annotations))
}

/// The Service `namespace/service_name`.
fn find_service<'v>(view: &'v ClusterView, namespace: &str, service_name: &str) -> Result<&'v Service, TranslateError> {
    view.services
        .get(&(namespace.to_owned(), service_name.to_owned()))
        .map(AsRef::as_ref)
        .ok_or_else(|| TranslateError::MissingService {
            name: service_name.to_owned(),
        })
}

/// The Service port a backend names, by name or number.
fn backend_port<'s>(
    service: &'s Service,
    service_name: &str,
    port: Option<&ServiceBackendPort>,
) -> Result<&'s ServicePort, TranslateError> {
    let wanted = port.ok_or_else(|| TranslateError::NoPort {
        service: service_name.to_owned(),
    })?;
    find_port(service, wanted).ok_or_else(|| TranslateError::MissingPort {
        service: service_name.to_owned(),
        port: port_text(Some(wanted)).unwrap_or_default(),
    })
}

/// The `service.serversscheme` annotation, else `https` for port 443 or a port named `https...`, else
/// `http`.
fn servers_scheme(annotations: &ServiceAnnotations, service_port: &ServicePort) -> String {
    let port_name = service_port.name.clone().unwrap_or_default();
    annotations.servers_scheme.clone().unwrap_or_else(|| {
        if service_port.port == 443 || port_name.starts_with("https") {
            "https".to_owned()
        } else {
            "http".to_owned()
        }
    })
}

/// A load balancer over `servers` with what the Service's annotations set.
fn annotated_load_balancer(servers: Vec<Server>, annotations: ServiceAnnotations) -> LoadBalancer {
    let mut lb = LoadBalancer {
        servers,
        sticky: annotations.sticky,
        servers_transport: annotations.servers_transport.unwrap_or_default(),
        ..LoadBalancer::default()
    };
    if let Some(pass) = annotations.pass_host_header {
        lb.pass_host_header = pass;
    }
    lb
}

/// The servers of a Service port: its external name, its ClusterIP (nativeLB), or the ready endpoints
/// of its slices.
fn servers(
    view: &ClusterView,
    options: &TranslateOptions,
    (namespace, service_name): (&str, &str),
    scheme: &str,
    service_port: &ServicePort,
    native: bool,
) -> Result<Vec<Server>, TranslateError> {
    let key = (namespace.to_owned(), service_name.to_owned());
    let spec = view.services.get(&key).and_then(|s| s.spec.as_ref());
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return external_name_server(options, spec, service_name, scheme, service_port.port);
    }
    if native {
        return cluster_ip_server(spec, service_name, scheme, service_port.port);
    }
    let slices = view.slices.get(&key).map(Vec::as_slice).unwrap_or_default();
    let port_name = service_port.name.as_deref().unwrap_or_default();
    Ok(ready_endpoints(slices, port_name)
        .into_iter()
        .map(|(address, port)| Server::new(url(scheme, &address, port)))
        .collect())
}

/// An ExternalName Service's name as its only server, when `allowExternalNameServices` allows it.
fn external_name_server(
    options: &TranslateOptions,
    spec: Option<&ServiceSpec>,
    service_name: &str,
    scheme: &str,
    port: i32,
) -> Result<Vec<Server>, TranslateError> {
    if !options.allow_external_name_services {
        return Err(TranslateError::ExternalNameNotAllowed {
            service: service_name.to_owned(),
        });
    }
    let host = spec.and_then(|s| s.external_name.as_deref()).unwrap_or_default();
    Ok(vec![Server::new(url(scheme, host, port))])
}

/// The Service's ClusterIP as its only server (`nativeLB`); headless Services have none.
fn cluster_ip_server(
    spec: Option<&ServiceSpec>,
    service_name: &str,
    scheme: &str,
    port: i32,
) -> Result<Vec<Server>, TranslateError> {
    let cluster_ip = spec
        .and_then(|s| s.cluster_ip.as_deref())
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .ok_or_else(|| TranslateError::NoClusterIp {
            service: service_name.to_owned(),
        })?;
    Ok(vec![Server::new(url(scheme, cluster_ip, port))])
}

fn find_port<'a>(service: &'a Service, wanted: &ServiceBackendPort) -> Option<&'a ServicePort> {
    let ports = service.spec.as_ref()?.ports.as_ref()?;
    ports.iter().find(|p| match (&wanted.name, wanted.number) {
        (Some(name), _) if !name.is_empty() => p.name.as_deref() == Some(name.as_str()),
        (_, Some(number)) => p.port == number,
        _ => false,
    })
}

/// The addresses and ports of ready, not terminating endpoints of every slice, for the slice port with
/// the Service port's name; each address once (dual-stack Services have one slice per family).
pub(crate) fn ready_endpoints(slices: &[Arc<EndpointSlice>], port_name: &str) -> BTreeSet<(String, i32)> {
    let mut found = BTreeSet::new();
    for slice in slices {
        let Some(port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name)
            .and_then(|p| p.port)
        else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let conditions = endpoint.conditions.as_ref();
            // The API says an unknown readiness is to be taken as ready.
            let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
            let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
            if ready && !terminating {
                found.extend(endpoint.addresses.iter().map(|address| (address.clone(), port)));
            }
        }
    }
    found
}

pub(crate) fn url(scheme: &str, host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}
