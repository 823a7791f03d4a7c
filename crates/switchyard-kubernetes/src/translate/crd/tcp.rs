//! IngressRouteTCPs, MiddlewareTCPs and ServersTransportTCPs: the `tcp` section of the configuration.
//!
//! Names follow Traefik's CRD provider: a route is the router and service `<namespace>-<name>-<hash>`
//! (the hash as for IngressRoutes, the name not normalized), each Service of a route with several
//! services the load balancer `<router>-<service>-<port>` under a weighted service, and a MiddlewareTCP or
//! ServersTransportTCP `<namespace>-<name>`.

use serde_json::Value;
use sha2::Digest;
use switchyard_config::{
    Certificate, TcpLoadBalancer, TcpMiddleware, TcpRouter, TcpRouterTls, TcpServer, TcpServersTransport, TcpService,
    TcpTransportTls, TcpWeighted, WeightedService,
};

use super::read::without;
use super::reference;
use super::route_services::RouteService;
use super::servers::Backend;
use super::spec::{IngressRouteTcpSpec, RouteTcp, RouteTls, ServiceTcp, TransportSecrets};
use super::{Crd, Object};
use crate::crd::IngressRouteTCP;
use crate::error::TranslateError;

/// The router (and service) name of a TCP route: `<namespace>-<name>-<hash>`, as Traefik names it
/// (the first ten bytes of the SHA-256 of the match, in hexadecimal; not normalized).
pub(crate) fn tcp_router_name(namespace: &str, name: &str, rule: &str) -> String {
    let digest = sha2::Sha256::digest(rule.as_bytes());
    let hash: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("{namespace}-{name}-{hash}")
}

fn spec_error(path: &str, reason: impl Into<String>) -> TranslateError {
    TranslateError::Spec {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// The key of an IngressRouteTCP's `tls` beside those of an IngressRoute's ([`RouteTls`]).
const PASSTHROUGH: &str = "passthrough";

impl Crd<'_> {
    /// Every IngressRouteTCP of the handled class.
    pub(crate) fn ingress_route_tcps(&mut self) {
        for route in &self.view.ingress_route_tcps {
            let object = Object::of("IngressRouteTCP", route.as_ref());
            if let Err(problem) = self.ingress_route_tcp(object, route) {
                self.problem(object, problem);
            }
        }
    }

    fn ingress_route_tcp(&mut self, object: Object<'_>, route: &IngressRouteTCP) -> Result<(), TranslateError> {
        let annotations = route.metadata.annotations.as_ref();
        let Some(spec) = self.handled_spec::<IngressRouteTcpSpec>(object, &route.spec, annotations)? else {
            return Ok(());
        };
        let tls = match &spec.tls {
            Some(tls) => Some(self.route_tls_tcp(object, tls)?),
            None => None,
        };
        for (i, one) in spec.routes.iter().enumerate() {
            let path = format!("spec.routes[{i}]");
            match self.route_tcp(object, &spec, one, &path) {
                Ok((key, mut router)) => {
                    router.tls = tls.clone();
                    self.out.snapshot.config.tcp.routers.insert(key.clone(), router);
                    self.origin(format!("tcp.routers.{key}"), object, &path);
                }
                Err(problem) => self.problem(object, problem),
            }
        }
        Ok(())
    }

    /// `tls` of an IngressRouteTCP: passthrough, or termination with the certificate of `secretName`.
    fn route_tls_tcp(&mut self, object: Object<'_>, value: &Value) -> Result<TcpRouterTls, TranslateError> {
        let passthrough = match value.get(PASSTHROUGH) {
            Some(flag) => self.read(object, flag, "spec.tls.passthrough")?,
            None => false,
        };
        let mut given: RouteTls = self.read(object, &without(value, &[PASSTHROUGH]), "spec.tls")?;
        if passthrough && !given.secret_name.is_empty() {
            // The connection is not terminated: the certificate would never be presented.
            let reason = "a passthrough route does not terminate TLS: `secretName` is not used".to_owned();
            self.problem(object, spec_error("spec.tls.secretName", reason));
            given.secret_name.clear();
        }
        let common = self.route_tls(object, &given)?;
        Ok(TcpRouterTls {
            passthrough,
            options: common.options,
            cert_resolver: common.cert_resolver,
            domains: common.domains,
        })
    }

    fn route_tcp(
        &mut self,
        object: Object<'_>,
        spec: &IngressRouteTcpSpec,
        route: &RouteTcp,
        path: &str,
    ) -> Result<(String, TcpRouter), TranslateError> {
        if route.rule.trim().is_empty() {
            return Err(spec_error(&format!("{path}.match"), "the match rule is empty"));
        }
        let key = tcp_router_name(object.namespace, object.name, &route.rule);
        let middlewares = self.middleware_references(object, &route.middlewares, &format!("{path}.middlewares"))?;
        self.route_services(object, &route.services, &key, &format!("{path}.services"))?;
        let router = TcpRouter {
            entry_points: spec.entry_points.clone(),
            rule: route.rule.clone(),
            rule_syntax: route.syntax.clone().filter(|s| !s.is_empty()),
            priority: route.priority,
            middlewares,
            service: key.clone(),
            tls: None,
        };
        Ok((key, router))
    }

    /// The load balancer over the servers of the Kubernetes Service a TCP route names.
    pub(crate) fn tcp_load_balancer(
        &mut self,
        object: Object<'_>,
        service: &ServiceTcp,
        path: &str,
    ) -> Result<TcpService, TranslateError> {
        let servers = self
            .route_addresses(object, service, path)?
            .into_iter()
            .map(|address| TcpServer {
                address,
                tls: service.tls,
            })
            .collect();
        let servers_transport = self.tcp_transport_reference(object, &service.servers_transport, path)?;
        let load_balancer = TcpLoadBalancer {
            servers,
            servers_transport,
            proxy_protocol: service.proxy_protocol,
            termination_delay: service.termination_delay,
            health_check: None,
        };
        Ok(TcpService {
            load_balancer: Some(load_balancer),
            ..TcpService::default()
        })
    }

    /// `serversTransport` of a TCP service: a ServersTransportTCP of the route's namespace, or
    /// `name@provider`.
    fn tcp_transport_reference(&self, object: Object<'_>, name: &str, path: &str) -> Result<String, TranslateError> {
        if name.is_empty() {
            return Ok(String::new());
        }
        if name.contains('@') {
            let at = format!("{path}.serversTransport");
            reference::cross_provider(self.options, object.namespace, name, &at)?;
            return Ok(name.to_owned());
        }
        Ok(reference::id(object.namespace, name))
    }

    /// Every MiddlewareTCP: `ipAllowList` (or the deprecated `ipWhiteList`) or `inFlightConn`.
    pub(crate) fn middleware_tcps(&mut self) {
        for middleware in &self.view.middleware_tcps {
            let object = Object::of("MiddlewareTCP", middleware.as_ref());
            match self.read::<TcpMiddleware>(object, &middleware.spec, "spec") {
                Ok(built) => {
                    let key = reference::id(object.namespace, object.name);
                    self.out.snapshot.config.tcp.middlewares.insert(key.clone(), built);
                    self.origin(format!("tcp.middlewares.{key}"), object, "");
                }
                Err(problem) => self.problem(object, problem),
            }
        }
    }

    /// Every ServersTransportTCP: timeouts, PROXY protocol, and TLS with CAs and client certificates
    /// from Secrets.
    pub(crate) fn servers_transport_tcps(&mut self) {
        for transport in &self.view.servers_transport_tcps {
            let object = Object::of("ServersTransportTCP", transport.as_ref());
            match self.servers_transport_tcp(object, &transport.spec) {
                Ok(built) => {
                    let key = reference::id(object.namespace, object.name);
                    self.out
                        .snapshot
                        .config
                        .tcp
                        .servers_transports
                        .insert(key.clone(), built);
                    self.origin(format!("tcp.serversTransports.{key}"), object, "");
                }
                Err(problem) => self.problem(object, problem),
            }
        }
    }

    fn servers_transport_tcp(
        &mut self,
        object: Object<'_>,
        spec: &Value,
    ) -> Result<TcpServersTransport, TranslateError> {
        let mut transport: TcpServersTransport = self.read(object, &without(spec, &["tls"]), "spec")?;
        let Some(tls) = spec.get("tls") else {
            return Ok(transport);
        };
        let secret_keys = ["rootCAsSecrets", "rootCAs", "certificatesSecrets"];
        let mut client: TcpTransportTls = self.read(object, &without(tls, &secret_keys), "spec.tls")?;
        let only_secrets = Value::Object(
            tls.as_object()
                .into_iter()
                .flatten()
                .filter(|(key, _)| secret_keys.contains(&key.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let secrets: TransportSecrets = self.read(object, &only_secrets, "spec.tls")?;
        client.root_cas = self.root_cas_at(object, &secrets, "spec.tls")?;
        for (i, name) in secrets.certificates_secrets.iter().enumerate() {
            let path = format!("spec.tls.certificatesSecrets[{i}]");
            let (cert, key) = self.secrets(&object).certificate(name, &path)?;
            client.certificates.push(Certificate::new(cert, key));
        }
        transport.tls = Some(client);
        Ok(transport)
    }
}

impl RouteService for ServiceTcp {
    type Built = TcpService;

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
    fn load_balancer(&self, crd: &mut Crd<'_>, object: Object<'_>, path: &str) -> Result<TcpService, TranslateError> {
        crd.tcp_load_balancer(object, self, path)
    }
    fn weighted(children: Vec<WeightedService>) -> TcpService {
        let weighted = TcpWeighted {
            services: children,
            health_check: None,
        };
        TcpService {
            weighted: Some(weighted),
            ..TcpService::default()
        }
    }
    fn insert(crd: &mut Crd<'_>, object: Object<'_>, key: &str, built: TcpService, path: &str) {
        crd.out.snapshot.config.tcp.services.insert(key.to_owned(), built);
        crd.origin(format!("tcp.services.{key}"), object, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_router_names_are_not_normalized_as_in_traefik() {
        // The name Traefik's own tests expect for `HostSNI(`foo.com`)` in `default/test.route`.
        assert_eq!(
            tcp_router_name("default", "test.route", "HostSNI(`foo.com`)"),
            "default-test.route-fdd3e9338e47a45efefc"
        );
    }
}
