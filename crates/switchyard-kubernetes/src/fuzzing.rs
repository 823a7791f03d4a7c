//! Entry points for the fuzz targets under `fuzz/` (cargo feature `fuzzing`): the translation of
//! cluster objects, which is a pure function of what the watches hold, reached without an API server.
//! Not a stable API.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_config::ProviderConfig;

use crate::crd::{
    CrdSecret, IngressRoute, IngressRouteTCP, IngressRouteUDP, Middleware, MiddlewareTCP, ServersTransport,
    ServersTransportTCP, TLSOption, TLSStore, TraefikService,
};
use crate::options::{CrdOptions, TranslateOptions};
use crate::translate::crd::{self, CrdView};
use crate::translate::{self, ClusterView, object_key};

/// The outcome of translating a set of objects: the configuration and one line per reported problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What the provider would publish.
    pub config: ProviderConfig,
    /// The problems reported on objects, as the logs and the report print them.
    pub problems: Vec<String>,
}

/// Translates `objects` (Kubernetes objects as JSON, each with its `kind`) as the Ingress provider
/// does with default options. Objects of other kinds, and objects that do not deserialize (the watch
/// would not have delivered them), are left out.
///
/// ```
/// use serde_json::json;
///
/// let ingress = json!({
///     "kind": "Ingress",
///     "metadata": {"namespace": "default", "name": "web"},
///     "spec": {"rules": [{"host": "a.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
///         "backend": {"service": {"name": "app", "port": {"number": 80}}}}]}}]},
/// });
/// let outcome = switchyard_kubernetes::fuzzing::translate_ingresses(&[ingress]);
/// assert!(outcome.problems.iter().any(|p| p.contains("app")), "{:?}", outcome.problems);
/// ```
pub fn translate_ingresses(objects: &[Value]) -> Outcome {
    let mut view = ClusterView::default();
    fill_core(&mut view, objects);
    for object in objects {
        match kind(object) {
            "Ingress" => view.ingresses.extend(read(object)),
            "IngressClass" => view.classes.extend(read(object)),
            "Secret" => {
                if let Some(secret) = read::<k8s_openapi::api::core::v1::Secret>(object) {
                    view.secrets.insert(object_key(&secret.metadata), secret);
                }
            }
            _ => {}
        }
    }
    let out = translate::translate(&view, &TranslateOptions::default());
    Outcome {
        config: out.snapshot,
        problems: out.problems.iter().map(ToString::to_string).collect(),
    }
}

/// Translates `objects` as the CRD provider (`traefik.io/v1alpha1`) does with default options, with
/// the same rules for what is left out as [`translate_ingresses`].
///
/// ```
/// use serde_json::json;
///
/// let route = json!({
///     "kind": "IngressRoute",
///     "metadata": {"namespace": "default", "name": "web"},
///     "spec": {"routes": [{"match": "Host(`a.test`)", "kind": "Rule",
///         "services": [{"name": "app", "port": 80}]}]},
/// });
/// let outcome = switchyard_kubernetes::fuzzing::translate_crds(&[route]);
/// assert!(outcome.problems.iter().any(|p| p.contains("app")), "{:?}", outcome.problems);
/// ```
pub fn translate_crds(objects: &[Value]) -> Outcome {
    let mut view = CrdView::default();
    fill_core(&mut view.core, objects);
    for object in objects {
        match kind(object) {
            "Secret" => {
                if let Some(secret) = read::<CrdSecret>(object) {
                    view.secrets.insert(object_key(&secret.0.metadata), secret);
                }
            }
            "IngressRoute" => view.ingress_routes.extend(read::<IngressRoute>(object)),
            "Middleware" => view.middlewares.extend(read::<Middleware>(object)),
            "TraefikService" => view.traefik_services.extend(read::<TraefikService>(object)),
            "ServersTransport" => view.servers_transports.extend(read::<ServersTransport>(object)),
            "TLSOption" => view.tls_options.extend(read::<TLSOption>(object)),
            "TLSStore" => view.tls_stores.extend(read::<TLSStore>(object)),
            "IngressRouteTCP" => view.ingress_route_tcps.extend(read::<IngressRouteTCP>(object)),
            "IngressRouteUDP" => view.ingress_route_udps.extend(read::<IngressRouteUDP>(object)),
            "MiddlewareTCP" => view.middleware_tcps.extend(read::<MiddlewareTCP>(object)),
            "ServersTransportTCP" => view.servers_transport_tcps.extend(read::<ServersTransportTCP>(object)),
            _ => {}
        }
    }
    let out = crd::translate(&view, &CrdOptions::default());
    Outcome {
        config: out.snapshot,
        problems: out.problems.iter().map(ToString::to_string).collect(),
    }
}

/// Services, EndpointSlices and Nodes, which both providers read.
fn fill_core(view: &mut ClusterView, objects: &[Value]) {
    for object in objects {
        match kind(object) {
            "Service" => {
                if let Some(service) = read::<k8s_openapi::api::core::v1::Service>(object) {
                    view.services.insert(object_key(&service.metadata), service);
                }
            }
            "EndpointSlice" => {
                if let Some(slice) = read(object) {
                    view.add_slice(slice);
                }
            }
            "Node" => view.nodes.extend(read(object)),
            _ => {}
        }
    }
}

fn kind(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or_default()
}

fn read<T: DeserializeOwned>(object: &Value) -> Option<Arc<T>> {
    serde_json::from_value(object.clone()).ok().map(Arc::new)
}
