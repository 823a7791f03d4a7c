//! The address written to `status.loadBalancer.ingress` of handled Ingresses, as Traefik's
//! `ingressEndpoint` sets it: a fixed IP or hostname, the address of a published Service, or the nodes'
//! internal IPs. Pure: computed from what the watches hold; `status.rs` writes it.

use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerIngress, IngressPortStatus};

use super::ClusterView;
use crate::error::{ObjectError, TranslateError};
use crate::options::TranslateOptions;

/// The address to publish: `None` when no `ingressEndpoint` is configured, an error when the
/// published Service cannot give one.
pub(crate) fn published_address(
    view: &ClusterView,
    options: &TranslateOptions,
) -> Option<Result<Vec<IngressLoadBalancerIngress>, ObjectError>> {
    if options.report_node_internal_ips
        && let Some(found) = node_internal_ips(view, options)
    {
        return Some(found);
    }
    let endpoint = options.ingress_endpoint.as_ref()?;
    if endpoint.published_service.is_empty() {
        let entry = IngressLoadBalancerIngress {
            ip: Some(endpoint.ip.clone()).filter(|ip| !ip.is_empty()),
            hostname: Some(endpoint.hostname.clone()).filter(|h| !h.is_empty()),
            ports: None,
        };
        return Some(Ok(vec![entry]));
    }
    published_service(view, &endpoint.published_service)
}

/// `reportNodeInternalIPs`: the nodes' internal IPs; an error when there are none and no
/// `ingressEndpoint` to fall back on, else `None`.
fn node_internal_ips(
    view: &ClusterView,
    options: &TranslateOptions,
) -> Option<Result<Vec<IngressLoadBalancerIngress>, ObjectError>> {
    let addresses = node_addresses(view, "InternalIP", None);
    if !addresses.is_empty() {
        return Some(Ok(addresses));
    }
    if options.ingress_endpoint.is_some() {
        return None;
    }
    let reason = TranslateError::PublishedService {
        service: "reportNodeInternalIPs".into(),
        reason: "no node has an internal IP".into(),
    };
    Some(Err(ObjectError::new("Node", "", "", reason)))
}

/// The address of the published Service `namespace/name`, by its type; `None` for a load balancer not
/// provisioned yet (nothing to publish, nothing wrong).
fn published_service(
    view: &ClusterView,
    published: &str,
) -> Option<Result<Vec<IngressLoadBalancerIngress>, ObjectError>> {
    let (namespace, name) = published.split_once('/').unwrap_or(("", ""));
    let fail = |reason: &str| {
        let reason = TranslateError::PublishedService {
            service: published.to_owned(),
            reason: reason.to_owned(),
        };
        ObjectError::new("Service", namespace, name, reason)
    };
    let Some(service) = view.services.get(&(namespace.to_owned(), name.to_owned())) else {
        return Some(Err(fail("not found")));
    };
    Some(service_addresses(view, service)?.map_err(|reason| fail(&reason)))
}

/// The addresses a Service gives, by its type; `None` for a load balancer not provisioned yet, the
/// reason when the Service cannot give any.
fn service_addresses(view: &ClusterView, service: &Service) -> Option<Result<Vec<IngressLoadBalancerIngress>, String>> {
    let spec = service.spec.clone().unwrap_or_default();
    let addresses = match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "LoadBalancer" => load_balancer_addresses(service)?,
        "ClusterIP" => external_ips(&spec),
        "NodePort" if view.nodes.is_empty() => {
            let reason = "NodePort Services need the nodes, which are not watched (disableClusterScopeResources?)";
            return Some(Err(reason.to_owned()));
        }
        "NodePort" => node_addresses(view, "ExternalIP", Some(node_ports(&spec))),
        "ExternalName" => vec![IngressLoadBalancerIngress {
            ip: None,
            hostname: spec.external_name.clone(),
            ports: None,
        }],
        other => return Some(Err(format!("Services of type {other} are not supported"))),
    };
    Some(Ok(addresses))
}

/// A LoadBalancer Service's provisioned addresses, if any.
fn load_balancer_addresses(service: &Service) -> Option<Vec<IngressLoadBalancerIngress>> {
    let ingress = service.status.as_ref()?.load_balancer.as_ref()?.ingress.clone()?;
    let port = |p: k8s_openapi::api::core::v1::PortStatus| IngressPortStatus {
        error: p.error,
        port: p.port,
        protocol: p.protocol,
    };
    let addresses = ingress.into_iter().map(|lb| IngressLoadBalancerIngress {
        ip: lb.ip,
        hostname: lb.hostname,
        ports: lb.ports.map(|ports| ports.into_iter().map(port).collect()),
    });
    Some(addresses.collect())
}

/// A ClusterIP Service's external IPs, each with the Service's ports.
fn external_ips(spec: &ServiceSpec) -> Vec<IngressLoadBalancerIngress> {
    let ports: Vec<IngressPortStatus> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| IngressPortStatus {
            error: None,
            port: p.port,
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
        })
        .collect();
    spec.external_ips
        .iter()
        .flatten()
        .map(|ip| IngressLoadBalancerIngress {
            ip: Some(ip.clone()),
            hostname: None,
            ports: Some(ports.clone()).filter(|p| !p.is_empty()),
        })
        .collect()
}

/// A NodePort Service's node ports.
fn node_ports(spec: &ServiceSpec) -> Vec<IngressPortStatus> {
    spec.ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(IngressPortStatus {
                error: None,
                port: p.node_port?,
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            })
        })
        .collect()
}

/// The nodes' addresses of one type (`InternalIP`, `ExternalIP`), each with these ports.
fn node_addresses(
    view: &ClusterView,
    kind: &str,
    ports: Option<Vec<IngressPortStatus>>,
) -> Vec<IngressLoadBalancerIngress> {
    let ports = ports.filter(|p| !p.is_empty());
    view.nodes
        .iter()
        .filter_map(|node| node.status.as_ref()?.addresses.as_ref())
        .flatten()
        .filter(|address| address.type_ == kind)
        .map(|address| IngressLoadBalancerIngress {
            ip: Some(address.address.clone()),
            hostname: None,
            ports: ports.clone(),
        })
        .collect()
}

/// The address an Ingress's status shows now.
pub(crate) fn current(ingress: &Ingress) -> Vec<IngressLoadBalancerIngress> {
    ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::IngressEndpoint;

    #[test]
    fn a_fixed_endpoint_is_published_and_missing_node_ips_are_reported() {
        let view = ClusterView::default();
        assert!(published_address(&view, &TranslateOptions::default()).is_none());
        let fixed = TranslateOptions {
            ingress_endpoint: Some(IngressEndpoint {
                ip: "192.0.2.1".into(),
                ..IngressEndpoint::default()
            }),
            ..TranslateOptions::default()
        };
        let published = published_address(&view, &fixed).unwrap().unwrap();
        assert_eq!(published[0].ip.as_deref(), Some("192.0.2.1"));
        let nodes = TranslateOptions {
            report_node_internal_ips: true,
            ..TranslateOptions::default()
        };
        let error = published_address(&view, &nodes).unwrap().unwrap_err();
        assert!(error.to_string().contains("no node has an internal IP"), "{error}");
        let missing = TranslateOptions {
            ingress_endpoint: Some(IngressEndpoint {
                published_service: "kube-system/lb".into(),
                ..IngressEndpoint::default()
            }),
            ..TranslateOptions::default()
        };
        let error = published_address(&view, &missing).unwrap().unwrap_err();
        assert!(error.to_string().contains("not found"), "{error}");
    }
}
