//! From cluster objects to the dynamic configuration: a pure function of what the watches hold.

mod address;
mod annotations;
pub(crate) mod backend;
pub(crate) mod crd;
pub(crate) mod gateway;
pub(crate) mod rules;
pub(crate) mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{
    Ingress, IngressBackend, IngressClass, IngressLoadBalancerIngress, ServiceBackendPort,
};
use switchyard_config::{DynamicConfig, LoadBalancer, ProviderConfig, Router, Service as ServiceConfig};

use crate::error::{ObjectError, TranslateError};
use crate::options::TranslateOptions;
use annotations::RouterAnnotations;
use rules::PathType;

/// The `kubernetes.io/ingress.class` annotation, read when an Ingress names no class.
pub(crate) const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// The annotation value Traefik handles when no `ingressClass` is configured.
pub(crate) const DEFAULT_LEGACY_CLASS: &str = "traefik";
/// The label that ties an EndpointSlice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `(namespace, name)`.
pub(crate) type Key = (String, String);

/// The `(namespace, name)` of an object.
pub(crate) fn object_key(meta: &kube::api::ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// What the watches hold at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterView {
    pub(crate) ingresses: Vec<Arc<Ingress>>,
    pub(crate) classes: Vec<Arc<IngressClass>>,
    pub(crate) services: BTreeMap<Key, Arc<Service>>,
    /// EndpointSlices by the Service they belong to.
    pub(crate) slices: BTreeMap<Key, Vec<Arc<EndpointSlice>>>,
    pub(crate) secrets: BTreeMap<Key, Arc<Secret>>,
    /// Nodes, watched only when the Ingress status may need their addresses.
    pub(crate) nodes: Vec<Arc<Node>>,
}

impl ClusterView {
    /// Files an EndpointSlice under its Service.
    pub(crate) fn add_slice(&mut self, slice: Arc<EndpointSlice>) {
        let namespace = slice.metadata.namespace.clone().unwrap_or_default();
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .cloned();
        if let Some(service) = service {
            self.slices.entry((namespace, service)).or_default().push(slice);
        }
    }
}

/// An Ingress status to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusUpdate {
    pub(crate) namespace: String,
    pub(crate) name: String,
    /// The Ingress's `resourceVersion` when the difference was seen.
    pub(crate) version: Option<String>,
    pub(crate) ingress: Vec<IngressLoadBalancerIngress>,
}

/// The outcome of one translation, with the statuses to write (Ingress statuses unless said).
#[derive(Debug)]
pub(crate) struct Translation<S = StatusUpdate> {
    pub(crate) snapshot: ProviderConfig,
    pub(crate) problems: Vec<ObjectError>,
    pub(crate) statuses: Vec<S>,
}

impl<S> Default for Translation<S> {
    fn default() -> Self {
        Self {
            snapshot: ProviderConfig::default(),
            problems: Vec::new(),
            statuses: Vec::new(),
        }
    }
}

/// Translates every Ingress this provider handles.
pub(crate) fn translate(view: &ClusterView, options: &TranslateOptions) -> Translation {
    let mut out = Translation::default();
    let classes = our_classes(view, options);
    let published = address::published_address(view, options);
    if let Some(Err(problem)) = &published {
        out.problems.push(problem.clone());
    }
    let mut certificates = BTreeMap::new();
    for ingress in &view.ingresses {
        if !handles(ingress, &classes, options) {
            continue;
        }
        if let Some(Ok(address)) = &published {
            out.statuses.extend(status_update(ingress, address));
        }
        translate_ingress(view, options, ingress, &mut certificates, &mut out);
    }
    out.snapshot.config.tls.certificates = certificates.into_values().collect();
    out
}

/// The names of the IngressClasses of our controller, or only the configured one.
fn our_classes<'v>(view: &'v ClusterView, options: &TranslateOptions) -> BTreeSet<&'v str> {
    view.classes
        .iter()
        .filter(|class| class.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(options.controller.as_str()))
        .filter_map(|class| class.metadata.name.as_deref())
        .filter(|name| options.ingress_class.is_empty() || *name == options.ingress_class)
        .collect()
}

/// The status to write on an Ingress whose published address is not `address` yet.
fn status_update(ingress: &Ingress, address: &[IngressLoadBalancerIngress]) -> Option<StatusUpdate> {
    (address::current(ingress) != address).then(|| StatusUpdate {
        namespace: ingress.metadata.namespace.clone().unwrap_or_default(),
        name: ingress.metadata.name.clone().unwrap_or_default(),
        version: ingress.metadata.resource_version.clone(),
        ingress: address.to_vec(),
    })
}

/// Translates one Ingress of ours: its TLS certificates (each Secret once) and its routers.
fn translate_ingress(
    view: &ClusterView,
    options: &TranslateOptions,
    ingress: &Ingress,
    certificates: &mut BTreeMap<Key, switchyard_config::CertificateAndStores>,
    out: &mut Translation,
) {
    let namespace = ingress.metadata.namespace.clone().unwrap_or_default();
    let name = ingress.metadata.name.clone().unwrap_or_default();
    let mut one = IngressTranslation {
        view,
        options,
        ingress,
        namespace: &namespace,
        name: &name,
        out,
    };
    one.certificates(certificates);
    one.routers();
}

/// Whether the Ingress is ours: its class is one of ours, or, without a class, its legacy annotation
/// names our class (or is absent, or `traefik`, when no class is configured), as Traefik decides.
fn handles(ingress: &Ingress, classes: &BTreeSet<&str>, options: &TranslateOptions) -> bool {
    if let Some(class) = ingress.spec.as_ref().and_then(|s| s.ingress_class_name.as_deref()) {
        return classes.contains(class);
    }
    let annotation = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION))
        .map_or("", String::as_str);
    annotation == options.ingress_class || (options.ingress_class.is_empty() && annotation == DEFAULT_LEGACY_CLASS)
}

/// Traefik's name normalisation: the runs of letters and digits, joined with `-`.
pub(crate) fn normalize(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The rule of one path of an Ingress rule: its host and path conditions, or every request when it has
/// neither.
fn path_rule_text(host: &str, path_type: PathType, text: &str, matcher: Option<&str>) -> String {
    let parts: Vec<String> = [rules::host_rule(host), rules::path_rule(path_type, text, matcher)]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        "PathPrefix(`/`)".to_owned()
    } else {
        parts.join(" && ")
    }
}

/// The name of the service for a Service port, as Traefik names it: `<namespace>-<service>-<port>`.
fn service_key(namespace: &str, service: &str, port: Option<&ServiceBackendPort>) -> String {
    normalize(&format!(
        "{namespace}-{service}-{}",
        backend::port_text(port).unwrap_or_default()
    ))
}

struct IngressTranslation<'a> {
    view: &'a ClusterView,
    options: &'a TranslateOptions,
    ingress: &'a Ingress,
    namespace: &'a str,
    name: &'a str,
    out: &'a mut Translation,
}

impl IngressTranslation<'_> {
    fn problem(&mut self, reason: TranslateError) {
        self.out
            .problems
            .push(ObjectError::new("Ingress", self.namespace, self.name, reason));
    }

    fn origin(&self) -> String {
        format!("Ingress {}/{}", self.namespace, self.name)
    }

    fn certificates(&mut self, certificates: &mut BTreeMap<Key, switchyard_config::CertificateAndStores>) {
        let entries = self.ingress.spec.as_ref().and_then(|s| s.tls.as_ref());
        for secret_name in entries.into_iter().flatten().filter_map(|t| t.secret_name.as_deref()) {
            let key = (self.namespace.to_owned(), secret_name.to_owned());
            if certificates.contains_key(&key) {
                continue;
            }
            match tls::certificate(secret_name, self.view.secrets.get(&key).map(Arc::as_ref)) {
                Ok(certificate) => {
                    certificates.insert(key, certificate);
                }
                Err(problem) => self.problem(problem),
            }
        }
    }

    fn routers(&mut self) {
        let annotations = match RouterAnnotations::read(self.ingress.metadata.annotations.as_ref()) {
            Ok(annotations) => annotations,
            Err(problem) => return self.problem(problem),
        };
        if let Err(problem) = self.cross_provider_references(&annotations) {
            return self.problem(problem);
        }
        let Some(spec) = self.ingress.spec.as_ref() else { return };
        let explicit = annotations.priority.and_then(rules::explicit_priority);
        if let Some(backend) = &spec.default_backend
            && let Some(service) = self.service(backend)
        {
            let key = normalize(&format!("{}-{}-default-backend", self.namespace, self.name));
            let mut router = self.router(&annotations, "PathPrefix(`/`)".to_owned(), service);
            router.priority = explicit.unwrap_or(rules::DEFAULT_BACKEND_PRIORITY);
            self.insert_router(key, router);
        }
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            let host = rule.host.as_deref().unwrap_or("");
            for (j, path) in rule.http.iter().flat_map(|http| &http.paths).enumerate() {
                self.path_router(
                    &annotations,
                    explicit,
                    host,
                    path,
                    &format!("spec.rules[{i}].http.paths[{j}]"),
                );
            }
        }
    }

    /// Middlewares and TLS options named by annotations live in other providers: refused from
    /// namespaces outside `crossProviderNamespaces`.
    fn cross_provider_references(&self, annotations: &RouterAnnotations) -> Result<(), TranslateError> {
        if !annotations.middlewares.is_empty() {
            let what = "annotation router.middlewares";
            self.options.cross_provider_allowed(self.namespace, what)?;
        }
        if annotations.tls.as_ref().is_some_and(|tls| !tls.options.is_empty()) {
            let what = "annotation router.tls.options";
            self.options.cross_provider_allowed(self.namespace, what)?;
        }
        Ok(())
    }

    /// The router of one path of a rule, when its path and backend can be translated.
    fn path_router(
        &mut self,
        annotations: &RouterAnnotations,
        explicit: Option<i64>,
        host: &str,
        path: &k8s_openapi::api::networking::v1::HTTPIngressPath,
        at: &str,
    ) {
        let text = path.path.as_deref().unwrap_or("");
        let path_type = match PathType::parse(&path.path_type, text) {
            Ok(path_type) => path_type,
            Err(problem) => return self.problem(problem),
        };
        let Some(service) = self.service(&path.backend) else {
            return;
        };
        let rule_text = path_rule_text(host, path_type, text, annotations.path_matcher.as_deref());
        // The API server refuses hosts that are not DNS names, but objects can come from elsewhere (a
        // fuzzer found `*.b܋est`): a host or path that no rule can express is this Ingress's problem,
        // named where it is, rather than a broken rule on a router the user never wrote.
        if let Err(error) = switchyard_rules::Rule::parse(&rule_text) {
            return self.problem(TranslateError::Spec {
                path: format!("{at} (host `{host}`, path `{text}`)"),
                reason: format!("cannot be written as a rule: {error}"),
            });
        }
        let mut router = self.router(annotations, rule_text, service);
        router.priority = explicit.unwrap_or_else(|| rules::priority(host, path_type, text));
        let key = normalize(&format!("{}-{}-{}{}", self.namespace, self.name, host, text));
        self.insert_router(key, router);
    }

    fn router(&self, annotations: &RouterAnnotations, rule: String, service: String) -> Router {
        Router {
            rule,
            rule_syntax: annotations.rule_syntax.clone(),
            service,
            middlewares: annotations.middlewares.clone(),
            entry_points: annotations.entry_points.clone(),
            tls: annotations.tls.clone(),
            observability: annotations.observability.clone(),
            ..Router::default()
        }
    }

    /// Inserts a router, suffixing its key when another path already produced the same one.
    fn insert_router(&mut self, key: String, router: Router) {
        let origin = self.origin();
        let routers = &mut self.out.snapshot.config.http.routers;
        let mut unique = key.clone();
        let mut n = 1;
        while routers.contains_key(&unique) {
            n += 1;
            unique = format!("{key}-{n}");
        }
        self.out
            .snapshot
            .origins
            .insert(format!("http.routers.{unique}"), origin);
        routers.insert(unique, router);
    }

    /// The service for a backend, translated once; `None` (and a reported problem) when it cannot be.
    fn service(&mut self, backend: &IngressBackend) -> Option<String> {
        let Some(service) = &backend.service else {
            self.problem(TranslateError::ResourceBackend);
            return None;
        };
        let port = service.port.as_ref();
        let key = service_key(self.namespace, &service.name, port);
        if self.out.snapshot.config.http.services.contains_key(&key) {
            return Some(key);
        }
        match backend::load_balancer(self.view, self.options, self.namespace, &service.name, port) {
            Ok(lb) => {
                self.insert_service(&key, &service.name, lb);
                Some(key)
            }
            Err(problem) => {
                self.problem(problem);
                None
            }
        }
    }

    /// Adds the load balancer of Service `service_name` under `key`, with its origin.
    fn insert_service(&mut self, key: &str, service_name: &str, lb: LoadBalancer) {
        let config: &mut DynamicConfig = &mut self.out.snapshot.config;
        config.http.services.insert(key.to_owned(), ServiceConfig::from(lb));
        self.out.snapshot.origins.insert(
            format!("http.services.{key}"),
            format!("Service {}/{}", self.namespace, service_name),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_as_traefik_does() {
        assert_eq!(
            normalize("default-web-app.example.com/api/v1"),
            "default-web-app-example-com-api-v1"
        );
        assert_eq!(normalize("ns-name-/"), "ns-name");
        assert_eq!(normalize("ns-name-*.foo.com/"), "ns-name-foo-com");
    }

    fn ingress(class: Option<&str>, annotation: Option<&str>) -> Ingress {
        let mut ingress = Ingress::default();
        if let Some(annotation) = annotation {
            ingress.metadata.annotations = Some([(LEGACY_CLASS_ANNOTATION.to_owned(), annotation.to_owned())].into());
        }
        ingress.spec = Some(k8s_openapi::api::networking::v1::IngressSpec {
            ingress_class_name: class.map(str::to_owned),
            ..Default::default()
        });
        ingress
    }

    #[test]
    fn classes_decide_as_traefik_does() {
        let ours = BTreeSet::from(["traefik"]);
        let defaults = TranslateOptions::default();
        assert!(handles(&ingress(Some("traefik"), None), &ours, &defaults));
        assert!(!handles(&ingress(Some("nginx"), Some("traefik")), &ours, &defaults));
        assert!(handles(&ingress(None, None), &ours, &defaults));
        assert!(handles(&ingress(None, Some("traefik")), &ours, &defaults));
        assert!(!handles(&ingress(None, Some("nginx")), &ours, &defaults));
        let edge = TranslateOptions {
            ingress_class: "edge".into(),
            ..TranslateOptions::default()
        };
        assert!(handles(&ingress(None, Some("edge")), &ours, &edge));
        assert!(!handles(&ingress(None, None), &ours, &edge));
        assert!(!handles(&ingress(None, Some("traefik")), &ours, &edge));
    }

    /// Found by the `kubernetes` fuzz target: a host no rule can hold made a router with a broken rule.
    #[test]
    fn a_host_no_rule_can_express_is_the_ingress_problem_and_makes_no_router() {
        fn json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
            serde_json::from_value(value).unwrap()
        }
        let backend = serde_json::json!({"service": {"name": "app", "port": {"number": 80}}});
        let ingress: Ingress = json(serde_json::json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"rules": [
                {"host": "ok.test", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}},
                {"host": "*.b\u{70b}est", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}},
            ]},
        }));
        let service: Service = json(serde_json::json!({
            "metadata": {"namespace": "default", "name": "app"},
            "spec": {"ports": [{"port": 80}]},
        }));
        let mut view = ClusterView::default();
        view.ingresses.push(Arc::new(ingress));
        view.services
            .insert(("default".into(), "app".into()), Arc::new(service));
        let options = TranslateOptions {
            allow_empty_services: true,
            ..TranslateOptions::default()
        };
        let out = translate(&view, &options);
        let routers: Vec<&String> = out.snapshot.config.http.routers.keys().collect();
        assert_eq!(routers, ["default-web-ok-test"]);
        let problems: Vec<String> = out.problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("spec.rules[1].http.paths[0]"), "{problems:?}");
        assert!(problems[0].contains("cannot be written as a rule"), "{problems:?}");
    }
}
