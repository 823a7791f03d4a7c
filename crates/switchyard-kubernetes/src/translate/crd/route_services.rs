//! The services of a TCP or UDP route, as Traefik builds them: the load balancer of its only Service
//! under the route's key, or, for several, each Service's load balancer under
//! `<key>-<service>-<port>` and a weighted service over them under the key.

use switchyard_config::WeightedService;

use super::reference;
use super::servers::{Backend, addresses};
use super::spec::Port;
use super::{Crd, Object};
use crate::error::TranslateError;

/// A Service a TCP or UDP route names, and how its section of the configuration keeps services.
pub(crate) trait RouteService {
    /// The service built for the configuration (`TcpService`, `UdpService`).
    type Built;

    /// The Service and how its servers are picked.
    fn backend(&self) -> Backend<'_>;
    /// The Service's namespace; the route's when empty.
    fn namespace(&self) -> &str;
    fn weight(&self) -> Option<u32>;
    /// The load balancer over the Service's servers.
    fn load_balancer(&self, crd: &mut Crd<'_>, object: Object<'_>, path: &str) -> Result<Self::Built, TranslateError>;
    /// A weighted service over `children`.
    fn weighted(children: Vec<WeightedService>) -> Self::Built;
    /// Adds `built` to the configuration under `key`, with its origin.
    fn insert(crd: &mut Crd<'_>, object: Object<'_>, key: &str, built: Self::Built, path: &str);
}

impl Crd<'_> {
    /// Adds the service `key` of a route over `services`, found at `path`. A Service that cannot be
    /// used is reported and left out of the weighted service; the route fails when none is left.
    pub(crate) fn route_services<S: RouteService>(
        &mut self,
        object: Object<'_>,
        services: &[S],
        key: &str,
        path: &str,
    ) -> Result<(), TranslateError> {
        let spec_error = |reason: &str| TranslateError::Spec {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if let [one] = services {
            let built = one.load_balancer(self, object, &format!("{path}[0]"))?;
            S::insert(self, object, key, built, path);
            return Ok(());
        }
        if services.is_empty() {
            return Err(spec_error("a route needs at least one service"));
        }
        let mut children = Vec::new();
        for (i, one) in services.iter().enumerate() {
            let at = format!("{path}[{i}]");
            match one.load_balancer(self, object, &at) {
                Ok(built) => {
                    let backend = one.backend();
                    let port = backend.port.map(Port::text).unwrap_or_default();
                    let name = format!("{key}-{}-{port}", backend.name);
                    S::insert(self, object, &name, built, &at);
                    let weight = one.weight().unwrap_or(1);
                    children.push(WeightedService { name, weight });
                }
                Err(problem) => self.problem(object, problem),
            }
        }
        if children.is_empty() {
            return Err(spec_error("none of the route's services can be used"));
        }
        S::insert(self, object, key, S::weighted(children), path);
        Ok(())
    }

    /// The `host:port` addresses of the Service a route names at `path`, in the route's namespace
    /// unless it names another (which must be allowed).
    pub(crate) fn route_addresses<S: RouteService>(
        &self,
        object: Object<'_>,
        service: &S,
        path: &str,
    ) -> Result<Vec<String>, TranslateError> {
        let namespace = match service.namespace() {
            "" => object.namespace,
            named => named,
        };
        reference::same_provider(self.options, object.namespace, namespace, &format!("{path}.namespace"))?;
        let backend = service.backend();
        addresses(&self.view.core, self.options, namespace, &backend).map_err(|reason| TranslateError::Spec {
            path: path.to_owned(),
            reason: format!("Service `{}`: {reason}", backend.name),
        })
    }
}
