//! IngressRouteUDPs: the `udp` section of the configuration.
//!
//! Names follow Traefik's CRD provider: route `i` of `<namespace>/<name>` is the router and service
//! `<namespace>-<name>-<i>` (not normalized), and each Service of a route with several services the load balancer
//! `<router>-<service>-<port>` under a weighted service.

use switchyard_config::{UdpLoadBalancer, UdpRouter, UdpServer, UdpService, UdpWeighted, WeightedService};

use super::route_services::RouteService;
use super::servers::Backend;
use super::spec::{IngressRouteUdpSpec, ServiceUdp};
use super::{Crd, Object};
use crate::crd::IngressRouteUDP;
use crate::error::TranslateError;

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
        let servers = self
            .route_addresses(object, service, path)?
            .into_iter()
            .map(|address| UdpServer { address })
            .collect();
        Ok(UdpService {
            load_balancer: Some(UdpLoadBalancer { servers }),
            ..UdpService::default()
        })
    }
}

impl RouteService for ServiceUdp {
    type Built = UdpService;

    fn backend(&self) -> Backend<'_> {
        Backend {
            name: &self.name,
            port: self.port.as_ref(),
            native_lb: self.native_lb,
            node_port_lb: self.node_port_lb,
        }
    }
    fn namespace(&self) -> &str {
        &self.namespace
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
