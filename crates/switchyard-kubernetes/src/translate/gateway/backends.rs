//! A rule's `backendRefs` as one service: a load balancer per Service port, weighted when there are
//! several. A backend that cannot be resolved keeps its share, answered by a fixed-answer service:
//! 500 for an HTTPRoute, `UNAVAILABLE` for a GRPCRoute, as the specification says.

use switchyard_config::{
    FixedAnswer, MirrorService, Mirroring, Service as ServiceConfig, ServiceKind, Weighted, WeightedService,
};

use super::GatewayTranslation;
use super::spec::{HttpBackendRef, RequestMirror};
use crate::translate::crd::Object;

/// The service standing for an HTTPRoute's backends that cannot be resolved: it answers 500.
pub(crate) const UNRESOLVED_HTTP: &str = "httproute-unresolved-backend";

/// The service standing for a GRPCRoute's backends that cannot be resolved: it answers gRPC status
/// 14 (`UNAVAILABLE`).
pub(crate) const UNRESOLVED_GRPC: &str = "grpcroute-unresolved-backend";

/// gRPC's `UNAVAILABLE` status code.
const GRPC_UNAVAILABLE: u32 = 14;

/// Why a backend cannot be resolved: the `ResolvedRefs` reason and message.
pub(crate) type Unresolved = (&'static str, String);

impl GatewayTranslation<'_> {
    /// The service of a rule's backends, named `name` when weighted; the problems of those that cannot
    /// be resolved. A backend with filters gets a service of its own carrying their middlewares; a
    /// filter that cannot be applied fails the rule.
    pub(crate) fn rule_service(
        &mut self,
        object: Object<'_>,
        name: &str,
        backends: &[HttpBackendRef],
        prefix: Option<&str>,
    ) -> Result<(String, Vec<Unresolved>), String> {
        let mut problems = Vec::new();
        let mut weighted = Vec::new();
        for (j, backend) in backends.iter().enumerate() {
            let weight = backend.weight.unwrap_or(1);
            let mut service = match self.backend(object, backend) {
                Ok(service) => service,
                Err(problem) => {
                    problems.push(problem);
                    self.unresolved(object)
                }
            };
            if !backend.filters.is_empty() {
                let key = format!("{name}-backend-{j}");
                let filtered = self.filters(object, &backend.filters, &key, prefix)?;
                if !filtered.mirrors.is_empty() {
                    return Err("RequestMirror is not supported on a backendRef".to_owned());
                }
                let key = crate::translate::normalize(&key);
                let only = vec![WeightedService {
                    name: service,
                    weight: 1,
                }];
                self.insert_service(
                    object,
                    &key,
                    ServiceKind::Weighted(Weighted {
                        services: only,
                        ..Weighted::default()
                    }),
                    filtered.middlewares,
                );
                service = key;
            }
            if weight > 0 {
                weighted.push(WeightedService { name: service, weight });
            }
        }
        let service = match weighted.as_slice() {
            [] => self.unresolved(object),
            [only] => only.name.clone(),
            _ => {
                let key = crate::translate::normalize(name);
                let kind = ServiceKind::Weighted(Weighted {
                    services: weighted,
                    ..Weighted::default()
                });
                self.insert_service(object, &key, kind, Vec::new());
                key
            }
        };
        Ok((service, problems))
    }

    /// `service` with the rule's mirrors, when it has any: a mirroring service `<route key>-mirror`.
    pub(crate) fn mirrored(
        &mut self,
        object: Object<'_>,
        route_key: &str,
        service: String,
        mirrors: &[RequestMirror],
        unresolved: &mut Vec<Unresolved>,
    ) -> String {
        if mirrors.is_empty() {
            return service;
        }
        let mut copies = Vec::new();
        for mirror in mirrors {
            match self.backend(object, &mirror.backend_ref) {
                Ok(name) => copies.push(MirrorService {
                    name,
                    percent: percent(mirror),
                }),
                Err(problem) => unresolved.push(problem),
            }
        }
        let key = crate::translate::normalize(&format!("{route_key}-mirror"));
        let kind = ServiceKind::Mirroring(Mirroring {
            service,
            mirrors: copies,
            ..Mirroring::default()
        });
        self.insert_service(object, &key, kind, Vec::new());
        key
    }

    fn insert_service(&mut self, object: Object<'_>, key: &str, kind: ServiceKind, middlewares: Vec<String>) {
        let config = ServiceConfig { kind, middlewares };
        self.out.snapshot.config.http.services.insert(key.to_owned(), config);
        self.out.snapshot.origins.insert(
            format!("http.services.{key}"),
            format!("{} {}/{}", object.kind, object.namespace, object.name),
        );
    }

    /// A servers transport `<route key>-timeout` whose response header timeout is `timeout`: the
    /// time a rule's backends have to answer (their requests time out with 504).
    pub(crate) fn timeout_transport(
        &mut self,
        object: Object<'_>,
        route_key: &str,
        timeout: switchyard_config::Duration,
    ) -> String {
        let key = crate::translate::normalize(&format!("{route_key}-timeout"));
        let transport = switchyard_config::ServersTransport {
            forwarding_timeouts: Some(switchyard_config::ForwardingTimeouts {
                response_header_timeout: timeout,
                ..switchyard_config::ForwardingTimeouts::default()
            }),
            ..switchyard_config::ServersTransport::default()
        };
        let config = &mut self.out.snapshot.config.http;
        config.servers_transports.insert(key.clone(), transport);
        self.out.snapshot.origins.insert(
            format!("http.serversTransports.{key}"),
            format!("{} {}/{}", object.kind, object.namespace, object.name),
        );
        key
    }

    /// An internal `RequestTimeout` middleware `<route key>-timeout`: `timeout` from the request to
    /// the end of the response (504 before the headers, the response cut off after).
    pub(crate) fn timeout_middleware(
        &mut self,
        object: Object<'_>,
        route_key: &str,
        timeout: switchyard_config::Duration,
    ) -> String {
        let key = crate::translate::normalize(&format!("{route_key}-timeout"));
        let middleware = switchyard_config::Middleware::RequestTimeout(switchyard_config::RequestTimeout { timeout });
        self.out
            .snapshot
            .config
            .http
            .middlewares
            .insert(key.clone(), middleware);
        self.out.snapshot.origins.insert(
            format!("http.middlewares.{key}"),
            format!("{} {}/{}", object.kind, object.namespace, object.name),
        );
        key
    }

    /// The service that answers for the backends of `object` that cannot be resolved.
    fn unresolved(&mut self, object: Object<'_>) -> String {
        let (key, answer) = if object.kind == "GRPCRoute" {
            (UNRESOLVED_GRPC, FixedAnswer::Grpc(GRPC_UNAVAILABLE))
        } else {
            (UNRESOLVED_HTTP, FixedAnswer::Http(500))
        };
        let services = &mut self.out.snapshot.config.http.services;
        services
            .entry(key.to_owned())
            .or_insert_with(|| ServiceConfig::from(ServiceKind::Fixed(answer)));
        key.to_owned()
    }

    /// The load balancer of one Service port, added once.
    fn backend(&mut self, object: Object<'_>, backend: &HttpBackendRef) -> Result<String, Unresolved> {
        let group = backend.group.as_deref().unwrap_or("");
        let kind = backend.kind.as_deref().unwrap_or("Service");
        if !group.is_empty() || kind != "Service" {
            return Err((
                "InvalidKind",
                format!("backend {group}/{kind} {} is not a Service", backend.name),
            ));
        }
        let namespace = backend.namespace.as_deref().unwrap_or(object.namespace);
        if namespace != object.namespace
            && !self.grants.permits(
                (object.kind, object.namespace),
                ("", "Service", namespace, &backend.name),
            )
        {
            let message = format!(
                "no ReferenceGrant in {namespace} lets {}s of {} refer to Service {}",
                object.kind, object.namespace, backend.name
            );
            return Err(("RefNotPermitted", message));
        }
        let Some(port) = backend.port else {
            return Err((
                "UnsupportedValue",
                format!("backend Service {} names no port", backend.name),
            ));
        };
        // GRPCRoutes reach their pods over HTTP/2 without TLS (h2c), as gRPC servers listen.
        let grpc = object.kind == "GRPCRoute";
        let suffix = if grpc { "-h2c" } else { "" };
        let mut key = crate::translate::normalize(&format!("{namespace}-{}-{port}{suffix}", backend.name));
        // A rule with timeouts has load balancers of its own, with its servers transport.
        if let Some(transport) = &self.transport {
            key = format!("{key}-{transport}");
        }
        if self.out.snapshot.config.http.services.contains_key(&key) {
            return Ok(key);
        }
        let port_ref = k8s_openapi::api::networking::v1::ServiceBackendPort {
            name: None,
            number: Some(port),
        };
        let lb = crate::translate::backend::load_balancer(
            &self.view.core,
            &self.options.backends,
            namespace,
            &backend.name,
            Some(&port_ref),
        )
        .map_err(|problem| ("BackendNotFound", problem.to_string()))?;
        let mut lb = lb;
        if let Some(transport) = &self.transport {
            lb.servers_transport.clone_from(transport);
        }
        if grpc {
            for server in &mut lb.servers {
                if let Some(rest) = server.url.strip_prefix("http://") {
                    server.url = format!("h2c://{rest}");
                }
            }
        }
        self.out
            .snapshot
            .config
            .http
            .services
            .insert(key.clone(), ServiceConfig::from(lb));
        self.out.snapshot.origins.insert(
            format!("http.services.{key}"),
            format!("Service {namespace}/{}", backend.name),
        );
        Ok(key)
    }
}

/// The share of requests a mirror receives, in percent (all by default).
fn percent(mirror: &RequestMirror) -> u32 {
    match (&mirror.percent, &mirror.fraction) {
        (Some(percent), _) => (*percent).min(100),
        (None, Some(fraction)) => {
            let denominator = fraction.denominator.unwrap_or(100).max(1);
            (fraction.numerator.saturating_mul(100) / denominator).min(100)
        }
        (None, None) => 100,
    }
}
