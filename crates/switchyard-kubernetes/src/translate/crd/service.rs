//! Service references (`services[]`, `errors.service`, the children of TraefikServices) and
//! TraefikServices: weighted, mirroring, highestRandomWeight and failover.

use serde_json::Value;
use switchyard_config::{
    Failover, FailoverErrors, HighestRandomWeight, LoadBalancer, MirrorService, Mirroring, Service, ServiceKind,
    Sticky, Strategy, Weighted, WeightedService,
};

use super::read::without;
use super::reference::{self, PROVIDER};
use super::servers::servers;
use super::spec::ServiceRef;
use super::{Crd, Object};
use crate::error::TranslateError;
use crate::translate::normalize;

/// A child service with its weight, as weighted services list them.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Children {
    services: Vec<Value>,
    sticky: Option<Sticky>,
}

/// `highestRandomWeight`: children without sticky sessions.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct HrwSpec {
    services: Vec<Value>,
}

/// `failover`, with its service references kept raw.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct FailoverSpec {
    service: Value,
    fallback: Value,
    errors: Option<FailoverErrors>,
}

fn spec_error(path: &str, reason: impl Into<String>) -> TranslateError {
    TranslateError::Spec {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl Crd<'_> {
    /// Resolves a service reference made by `object` at `path`: the name to route to, after adding the
    /// load balancer of a Kubernetes Service (under `name` when given, else `<ns>-<service>-<port>`).
    pub(crate) fn backend(
        &mut self,
        object: Object<'_>,
        value: &Value,
        path: &str,
        name: Option<String>,
    ) -> Result<(String, Option<u32>), TranslateError> {
        let mut reference: ServiceRef = self.read(object, value, path)?;
        let cross_provider = reference.name.contains('@');
        self.check_reference(object, &mut reference, path)?;
        let weight = reference.weight;
        match reference.kind.as_str() {
            "" | "Service" if !cross_provider => Ok((self.kubernetes_service(object, &reference, path, name)?, weight)),
            "" | "Service" | "TraefikService" => Ok((traefik_service_name(&reference), weight)),
            other => Err(spec_error(
                &format!("{path}.kind"),
                format!("unknown kind `{other}` (Service or TraefikService)"),
            )),
        }
    }

    /// A reference to another provider must be allowed from the object's namespace; one within this
    /// provider takes the object's namespace when it names none, and must be allowed to reach it.
    fn check_reference(
        &self,
        object: Object<'_>,
        reference: &mut ServiceRef,
        path: &str,
    ) -> Result<(), TranslateError> {
        if reference.name.contains('@') {
            return reference::cross_provider(self.options, object.namespace, &reference.name, &format!("{path}.name"));
        }
        if reference.namespace.is_empty() {
            reference.namespace = object.namespace.to_owned();
        }
        reference::same_provider(
            self.options,
            object.namespace,
            &reference.namespace,
            &format!("{path}.namespace"),
        )
    }

    /// Adds the load balancer of the Kubernetes Service a reference names, under `name` when given,
    /// else `<ns>-<service>-<port>`; returns the key.
    fn kubernetes_service(
        &mut self,
        object: Object<'_>,
        reference: &ServiceRef,
        path: &str,
        name: Option<String>,
    ) -> Result<String, TranslateError> {
        let port = reference.port.as_ref().map(|p| p.text()).unwrap_or_default();
        let key = name.unwrap_or_else(|| normalize(&format!("{}-{}-{port}", reference.namespace, reference.name)));
        let service = self.load_balancer(object, reference, path)?;
        self.out.snapshot.config.http.services.insert(key.clone(), service);
        self.origin(format!("http.services.{key}"), object, path);
        Ok(key)
    }

    /// The load balancer over a Kubernetes Service's servers.
    fn load_balancer(
        &mut self,
        object: Object<'_>,
        reference: &ServiceRef,
        path: &str,
    ) -> Result<Service, TranslateError> {
        let strategy = strategy(&reference.strategy, path)?;
        let urls = servers(&self.view.core, self.options, &reference.namespace, reference)
            .map_err(|reason| spec_error(path, format!("Service `{}`: {reason}", reference.name)))?;
        let mut lb = LoadBalancer::with_urls(urls);
        lb.strategy = strategy;
        lb.sticky.clone_from(&reference.sticky);
        lb.health_check.clone_from(&reference.health_check);
        lb.passive_health_check.clone_from(&reference.passive_health_check);
        lb.pass_host_header = reference.pass_host_header.unwrap_or(true);
        if let Some(interval) = reference.response_forwarding.as_ref().and_then(|r| r.flush_interval) {
            lb.response_forwarding.flush_interval = interval;
        }
        lb.servers_transport = self.transport_reference(object, reference, path)?;
        let mut service = Service::from(lb);
        service.middlewares =
            self.middleware_references(object, &reference.middlewares, &format!("{path}.middlewares"))?;
        Ok(service)
    }

    /// `serversTransport`: a name in the object's namespace, or `name@provider`.
    fn transport_reference(
        &self,
        object: Object<'_>,
        reference: &ServiceRef,
        path: &str,
    ) -> Result<String, TranslateError> {
        let name = &reference.servers_transport;
        if name.is_empty() {
            return Ok(String::new());
        }
        if name.contains('@') {
            reference::cross_provider(
                self.options,
                object.namespace,
                name,
                &format!("{path}.serversTransport"),
            )?;
            return Ok(name.clone());
        }
        Ok(reference::id(&reference.namespace, name))
    }

    /// A weighted service over `values` under `key` (the services of a route, or a TraefikService).
    pub(crate) fn weighted(
        &mut self,
        object: Object<'_>,
        values: &[Value],
        sticky: Option<Sticky>,
        key: &str,
        path: &str,
    ) -> Result<(), TranslateError> {
        let services = self.children(object, values, path)?;
        let weighted = Weighted {
            services,
            sticky,
            health_check: None,
        };
        self.insert_service(object, key, ServiceKind::Weighted(weighted), path);
        Ok(())
    }

    fn children(
        &mut self,
        object: Object<'_>,
        values: &[Value],
        path: &str,
    ) -> Result<Vec<WeightedService>, TranslateError> {
        let mut services = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let (name, weight) = self.backend(object, value, &format!("{path}[{i}]"), None)?;
            services.push(WeightedService {
                name,
                weight: weight.unwrap_or(1),
            });
        }
        Ok(services)
    }

    fn insert_service(&mut self, object: Object<'_>, key: &str, kind: ServiceKind, path: &str) {
        self.out
            .snapshot
            .config
            .http
            .services
            .insert(key.to_owned(), Service::from(kind));
        self.origin(format!("http.services.{key}"), object, path);
    }

    /// Every TraefikService: each is reported alone when it cannot be translated.
    pub(crate) fn traefik_services(&mut self) {
        for service in &self.view.traefik_services {
            let object = Object::of("TraefikService", service.as_ref());
            let key = reference::id(object.namespace, object.name);
            if let Err(problem) = self.traefik_service(object, &service.spec, &key) {
                self.problem(object, problem);
            }
        }
    }

    fn traefik_service(&mut self, object: Object<'_>, spec: &Value, key: &str) -> Result<(), TranslateError> {
        let types = ["weighted", "mirroring", "highestRandomWeight", "failover"];
        let present: Vec<&str> = types.into_iter().filter(|t| spec.get(*t).is_some()).collect();
        let [kind] = present.as_slice() else {
            let reason = format!("a TraefikService has exactly one of {types:?}, found {present:?}");
            return Err(spec_error("spec", reason));
        };
        let unknown = spec.as_object().into_iter().flatten().map(|(k, _)| k);
        for unknown in unknown.filter(|k| !types.contains(&k.as_str())) {
            let path = format!("spec.{unknown}");
            self.problem(object, TranslateError::UnknownKey { path });
        }
        let value = &spec[*kind];
        let path = format!("spec.{kind}");
        match *kind {
            "weighted" => {
                let children: Children = self.read(object, value, &path)?;
                let services_path = format!("{path}.services");
                self.weighted(object, &children.services, children.sticky, key, &services_path)
            }
            "mirroring" => self.mirroring(object, value, key, &path),
            "highestRandomWeight" => self.highest_random_weight(object, value, key, &path),
            _ => self.failover(object, value, key, &path),
        }
    }

    fn highest_random_weight(
        &mut self,
        object: Object<'_>,
        value: &Value,
        key: &str,
        path: &str,
    ) -> Result<(), TranslateError> {
        let spec: HrwSpec = self.read(object, value, path)?;
        let services = self.children(object, &spec.services, &format!("{path}.services"))?;
        let hrw = HighestRandomWeight {
            services,
            health_check: None,
        };
        self.insert_service(object, key, ServiceKind::HighestRandomWeight(hrw), path);
        Ok(())
    }

    fn mirroring(&mut self, object: Object<'_>, value: &Value, key: &str, path: &str) -> Result<(), TranslateError> {
        let main = without(value, &["mirrorBody", "maxBodySize", "mirrors"]);
        let (service, _) = self.backend(object, &main, path, None)?;
        let mut mirroring = Mirroring {
            service,
            ..Mirroring::default()
        };
        if let Some(body) = value.get("mirrorBody") {
            mirroring.mirror_body = self.read(object, body, &format!("{path}.mirrorBody"))?;
        }
        if let Some(size) = value.get("maxBodySize") {
            mirroring.max_body_size = self.read(object, size, &format!("{path}.maxBodySize"))?;
        }
        mirroring.mirrors = self.mirrors(object, value, path)?;
        self.insert_service(object, key, ServiceKind::Mirroring(mirroring), path);
        Ok(())
    }

    /// The `mirrors` of a mirroring service, each a service reference with its `percent`.
    fn mirrors(&mut self, object: Object<'_>, value: &Value, path: &str) -> Result<Vec<MirrorService>, TranslateError> {
        let mirrors: Vec<Value> = match value.get("mirrors") {
            Some(mirrors) => self.read(object, mirrors, &format!("{path}.mirrors"))?,
            None => Vec::new(),
        };
        let mut services = Vec::new();
        for (i, mirror) in mirrors.iter().enumerate() {
            let at = format!("{path}.mirrors[{i}]");
            let percent = match mirror.get("percent") {
                Some(percent) => self.read(object, percent, &format!("{at}.percent"))?,
                None => 0,
            };
            let (name, _) = self.backend(object, &without(mirror, &["percent"]), &at, None)?;
            services.push(MirrorService { name, percent });
        }
        Ok(services)
    }

    fn failover(&mut self, object: Object<'_>, value: &Value, key: &str, path: &str) -> Result<(), TranslateError> {
        let spec: FailoverSpec = self.read(object, value, path)?;
        let (service, _) = self.backend(object, &spec.service, &format!("{path}.service"), None)?;
        let (fallback, _) = self.backend(object, &spec.fallback, &format!("{path}.fallback"), None)?;
        let failover = Failover {
            service,
            fallback,
            health_check: None,
            errors: spec.errors,
        };
        self.insert_service(object, key, ServiceKind::Failover(failover), path);
        Ok(())
    }
}

/// A load balancer's `strategy`, by Traefik's names.
fn strategy(name: &str, path: &str) -> Result<Strategy, TranslateError> {
    match name {
        "" | "wrr" | "RoundRobin" => Ok(Strategy::Wrr),
        "p2c" => Ok(Strategy::P2c),
        "hrw" => Ok(Strategy::Hrw),
        "leasttime" => Ok(Strategy::LeastTime),
        other => Err(spec_error(
            &format!("{path}.strategy"),
            format!("unknown strategy `{other}`"),
        )),
    }
}

/// The name of a TraefikService (or another provider's service) as referenced: `<ns>-<name>`, or
/// `name@provider` for another provider's.
fn traefik_service_name(reference: &ServiceRef) -> String {
    match reference.name.rsplit_once('@') {
        Some((name, PROVIDER)) => normalize(&format!("{}-{name}", reference.namespace)),
        Some((name, provider)) => format!("{}@{provider}", normalize(name)),
        None => reference::id(&reference.namespace, &reference.name),
    }
}
