//! IngressRouteUDPs: the `udp` section of the configuration.
//!
//! Names follow Traefik's CRD provider: route `i` of `<namespace>/<name>` is the router and service
//! `<namespace>-<name>-<i>` (not normalized), and each Service of a route with several services the load balancer
//! `<router>-<service>-<port>` under a weighted service.

use switchyard_config::{UdpLoadBalancer, UdpRouter, UdpServer, UdpService, UdpWeighted, WeightedService};

use super::reference;
use super::servers::{Backend, addresses};
use super::spec::{IngressRouteUdpSpec, ServiceUdp};
use super::{Crd, Object, handles_class};
use crate::crd::IngressRouteUDP;
use crate::error::TranslateError;

fn spec_error(path: &str, reason: impl Into<String>) -> TranslateError {
    TranslateError::Spec {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl Crd<'_> {
    /// Every IngressRouteUDP of the handled class.
    pub(crate) fn ingress_route_udps(&mut self) {
        for route in &self.view.ingress_route_udps {
            let object = Object::of("IngressRouteUDP", route.as_ref());
            if let Err(problem) = self.ingress_route_udp(object, route) {
                self.problem(object, problem);
            }
        }
    }

    fn ingress_route_udp(&mut self, object: Object<'_>, route: &IngressRouteUDP) -> Result<(), TranslateError> {
        let spec: IngressRouteUdpSpec = self.read(object, &route.spec, "spec")?;
        let annotations = route.metadata.annotations.as_ref();
        if !handles_class(
            &self.options.ingress_class,
            spec.ingress_class_name.as_deref(),
            annotations,
        ) {
            return Ok(());
        }
        for (i, one) in spec.routes.iter().enumerate() {
            let path = format!("spec.routes[{i}]");
            let key = format!("{}-{}-{i}", object.namespace, object.name);
            match self.udp_route_service(object, &one.services, &key, &format!("{path}.services")) {
                Ok(()) => {
                    let router = UdpRouter {
                        entry_points: spec.entry_points.clone(),
                        service: key.clone(),
                    };
                    self.out.snapshot.config.udp.routers.insert(key.clone(), router);
                    self.origin(format!("udp.routers.{key}"), object, &path);
                }
                Err(problem) => self.problem(object, problem),
            }
        }
        Ok(())
    }

    /// The service `key` of a UDP route: the load balancer of its only Service, or a weighted service
    /// over the load balancers of its Services (a Service that cannot be used is reported and left out;
    /// the route fails when none is left).
    fn udp_route_service(
        &mut self,
        object: Object<'_>,
        services: &[ServiceUdp],
        key: &str,
        path: &str,
    ) -> Result<(), TranslateError> {
        match services {
            [] => Err(spec_error(path, "a route needs at least one service")),
            [one] => {
                let service = self.udp_load_balancer(object, one, &format!("{path}[0]"))?;
                self.insert_udp_service(object, key, service, path);
                Ok(())
            }
            many => {
                let mut children = Vec::new();
                for (i, one) in many.iter().enumerate() {
                    let at = format!("{path}[{i}]");
                    match self.udp_load_balancer(object, one, &at) {
                        Ok(service) => {
                            let port = one.port.as_ref().map(|p| p.text()).unwrap_or_default();
                            let name = format!("{key}-{}-{port}", one.name);
                            self.insert_udp_service(object, &name, service, &at);
                            children.push(WeightedService {
                                name,
                                weight: one.weight.unwrap_or(1),
                            });
                        }
                        Err(problem) => self.problem(object, problem),
                    }
                }
                if children.is_empty() {
                    return Err(spec_error(path, "none of the route's services can be used"));
                }
                let service = UdpService {
                    weighted: Some(UdpWeighted { services: children }),
                    ..UdpService::default()
                };
                self.insert_udp_service(object, key, service, path);
                Ok(())
            }
        }
    }

    fn insert_udp_service(&mut self, object: Object<'_>, key: &str, service: UdpService, path: &str) {
        self.out.snapshot.config.udp.services.insert(key.to_owned(), service);
        self.origin(format!("udp.services.{key}"), object, path);
    }

    /// The load balancer over the servers of the Kubernetes Service a UDP route names.
    fn udp_load_balancer(
        &mut self,
        object: Object<'_>,
        service: &ServiceUdp,
        path: &str,
    ) -> Result<UdpService, TranslateError> {
        let namespace = if service.namespace.is_empty() {
            object.namespace
        } else {
            &service.namespace
        };
        reference::same_provider(self.options, object.namespace, namespace, &format!("{path}.namespace"))?;
        let backend = Backend {
            name: &service.name,
            port: service.port.as_ref(),
            native_lb: service.native_lb,
            node_port_lb: service.node_port_lb,
        };
        let found = addresses(&self.view.core, self.options, namespace, &backend)
            .map_err(|reason| spec_error(path, format!("Service `{}`: {reason}", service.name)))?;
        let servers = found.into_iter().map(|address| UdpServer { address }).collect();
        Ok(UdpService {
            load_balancer: Some(UdpLoadBalancer { servers }),
            ..UdpService::default()
        })
    }
}
