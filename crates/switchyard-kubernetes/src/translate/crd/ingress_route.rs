//! IngressRoutes: one router per route, named `<namespace>-<name>-<hash of match>`.

use sha2::Digest;
use switchyard_config::{Router, RouterObservability, RouterTls};

use super::reference;
use super::spec::{IngressRouteSpec, Observability, Route, RouteTls};
use super::tls::{DEFAULT, tls_id};
use super::{Crd, Object};
use crate::crd::IngressRoute;
use crate::error::TranslateError;
use crate::translate::normalize;

/// The router name of a route: Traefik's `<namespace>-<name>-<hash>`, the hash being the first ten bytes
/// of the SHA-256 of the match, in hexadecimal (Go's `%.10x` of the digest).
pub(crate) fn router_name(namespace: &str, name: &str, rule: &str) -> String {
    let digest = sha2::Sha256::digest(rule.as_bytes());
    let hash: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    normalize(&format!("{namespace}-{name}-{hash}"))
}

/// A route is of kind `Rule` (or names none) and has a match rule.
fn check_route(route: &Route, path: &str) -> Result<(), TranslateError> {
    let invalid = |key: &str, reason: String| TranslateError::Spec {
        path: format!("{path}.{key}"),
        reason,
    };
    if !route.kind.is_empty() && route.kind != "Rule" {
        return Err(invalid(
            "kind",
            format!("kind `{}` is not supported: only `Rule`", route.kind),
        ));
    }
    if route.rule.trim().is_empty() {
        return Err(invalid("match", "the match rule is empty".into()));
    }
    Ok(())
}

impl Crd<'_> {
    /// Every IngressRoute of the handled class.
    pub(crate) fn ingress_routes(&mut self) {
        for route in &self.view.ingress_routes {
            let object = Object::of("IngressRoute", route.as_ref());
            if let Err(problem) = self.ingress_route(object, route) {
                self.problem(object, problem);
            }
        }
    }

    fn ingress_route(&mut self, object: Object<'_>, route: &IngressRoute) -> Result<(), TranslateError> {
        let annotations = route.metadata.annotations.as_ref();
        let Some(spec) = self.handled_spec::<IngressRouteSpec>(object, &route.spec, annotations)? else {
            return Ok(());
        };
        let tls = match &spec.tls {
            Some(tls) => Some(self.route_tls(object, tls)?),
            None => None,
        };
        self.routes(object, &spec, tls.as_ref());
        Ok(())
    }

    /// The router of each route, with the IngressRoute's `tls`; a route that cannot be translated is
    /// reported alone.
    fn routes(&mut self, object: Object<'_>, spec: &IngressRouteSpec, tls: Option<&RouterTls>) {
        for (i, one) in spec.routes.iter().enumerate() {
            let path = format!("spec.routes[{i}]");
            match self.route(object, spec, one, &path) {
                Ok((key, mut router)) => {
                    router.tls = tls.cloned();
                    self.out.snapshot.config.http.routers.insert(key.clone(), router);
                    self.origin(format!("http.routers.{key}"), object, &path);
                }
                Err(problem) => self.problem(object, problem),
            }
        }
    }

    fn route(
        &mut self,
        object: Object<'_>,
        spec: &IngressRouteSpec,
        route: &Route,
        path: &str,
    ) -> Result<(String, Router), TranslateError> {
        check_route(route, path)?;
        let key = router_name(object.namespace, object.name, &route.rule);
        let middlewares = self.middleware_references(object, &route.middlewares, &format!("{path}.middlewares"))?;
        let service = self.route_service(object, &route.services, &key, &format!("{path}.services"))?;
        let router = Router {
            rule: route.rule.clone(),
            rule_syntax: route.syntax.clone().filter(|s| !s.is_empty()),
            priority: route.priority,
            service,
            middlewares,
            entry_points: spec.entry_points.clone(),
            tls: None,
            observability: route.observability.as_ref().map(observability),
        };
        Ok((key, router))
    }

    /// The service of a route: its only service, or a weighted service over them named after the router.
    fn route_service(
        &mut self,
        object: Object<'_>,
        services: &[serde_json::Value],
        key: &str,
        path: &str,
    ) -> Result<String, TranslateError> {
        match services {
            [] => Err(TranslateError::Spec {
                path: path.to_owned(),
                reason: "a route needs at least one service".into(),
            }),
            [one] => Ok(self.backend(object, one, &format!("{path}[0]"), None)?.0),
            many => {
                self.weighted(object, many, None, key, path)?;
                Ok(key.to_owned())
            }
        }
    }

    /// The routers' `tls`, and the certificate of `secretName` (in `store` when one is named).
    pub(crate) fn route_tls(&mut self, object: Object<'_>, tls: &RouteTls) -> Result<RouterTls, TranslateError> {
        let mut options = String::new();
        if let Some(reference) = tls.options.as_ref().filter(|r| !r.name.is_empty()) {
            options = self.tls_reference(object, &reference.namespace, &reference.name, "spec.tls.options")?;
        }
        let mut stores = Vec::new();
        if let Some(reference) = tls.store.as_ref().filter(|r| !r.name.is_empty()) {
            stores.push(self.tls_reference(object, &reference.namespace, &reference.name, "spec.tls.store")?);
        }
        if !tls.secret_name.is_empty() {
            self.certificate(object, &tls.secret_name, stores, "spec.tls.secretName");
        }
        Ok(RouterTls {
            options,
            cert_resolver: tls.cert_resolver.clone(),
            domains: tls.domains.clone(),
        })
    }

    /// A TLSOption or TLSStore reference: `default` is the shared one, others resolve as references do.
    fn tls_reference(
        &self,
        object: Object<'_>,
        namespace: &str,
        name: &str,
        path: &str,
    ) -> Result<String, TranslateError> {
        if name == DEFAULT {
            return Ok(DEFAULT.to_owned());
        }
        let resolved = reference::resolve(self.options, object.namespace, namespace, name, path)?;
        if name.contains('@') {
            return Ok(resolved);
        }
        let namespace = if namespace.is_empty() {
            object.namespace
        } else {
            namespace
        };
        Ok(tls_id(namespace, name))
    }
}

fn observability(given: &Observability) -> RouterObservability {
    let defaults = RouterObservability::default();
    RouterObservability {
        access_logs: given.access_logs.unwrap_or(defaults.access_logs),
        metrics: given.metrics.unwrap_or(defaults.metrics),
        tracing: given.tracing.unwrap_or(defaults.tracing),
        trace_verbosity: given.trace_verbosity.clone().unwrap_or(defaults.trace_verbosity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_names_hash_the_match_as_traefik_does() {
        // The name Traefik's own tests expect for this route.
        assert_eq!(
            router_name("default", "test.route", "Host(`foo.com`) && PathPrefix(`/bar`)"),
            "default-test-route-6b204d94623b3df4370c"
        );
    }
}
