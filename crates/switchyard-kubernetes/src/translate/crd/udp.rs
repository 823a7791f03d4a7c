//! IngressRouteUDPs: the `udp` section of the configuration.
//!
//! Names follow Traefik's CRD provider: route `i` of `<namespace>/<name>` is the router and service
//! `<namespace>-<name>-<i>` (not normalized), and each Service of a route with several services the load balancer
//! `<router>-<service>-<port>` under a weighted service.

use switchyard_config::{UdpLoadBalancer, UdpRouter, UdpServer, UdpService, UdpWeighted, WeightedService};

use super::reference;
use super::route_services::RouteService;
use super::servers::{Backend, addresses};
use super::spec::{IngressRouteUdpSpec, Port, ServiceUdp};
use super::{Crd, Object};
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
        let annotations = route.metadata.annotations.as_ref();
        let Some(spec) = self.handled_spec::<IngressRouteUdpSpec>(object, &route.spec, annotations)? else {
            return Ok(());
        };
        for (i, one) in spec.routes.iter().enumerate() {
            let path = format!("spec.routes[{i}]");
            let key = format!("{}-{}-{i}", object.namespace, object.name);
            match self.route_services(object, &one.services, &key, &format!("{path}.services")) {
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

    /// The load balancer over the servers of the Kubernetes Service a UDP route names.
    pub(crate) fn udp_load_balancer(
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

impl RouteService for ServiceUdp {
    type Built = UdpService;

    fn name(&self) -> &str {
        &self.name
    }
    fn port(&self) -> Option<&Port> {
        self.port.as_ref()
    }
    fn weight(&self) -> Option<u32> {
        self.weight
    }
    fn load_balancer(&self, crd: &mut Crd<'_>, object: Object<'_>, path: &str) -> Result<UdpService, TranslateError> {
        crd.udp_load_balancer(object, self, path)
    }
    fn weighted(children: Vec<WeightedService>) -> UdpService {
        UdpService {
            weighted: Some(UdpWeighted { services: children }),
            ..UdpService::default()
        }
    }
    fn insert(crd: &mut Crd<'_>, object: Object<'_>, key: &str, built: UdpService, path: &str) {
        crd.out.snapshot.config.udp.services.insert(key.to_owned(), built);
        crd.origin(format!("udp.services.{key}"), object, path);
    }
}
