//! The Gateway API to the dynamic configuration, and the statuses to write back: a pure function of
//! what the watches hold.
//!
//! Every listener of a Gateway of one of our GatewayClasses serves on the entrypoints whose port is
//! its port. Every match of every rule of an HTTPRoute attached to a listener becomes one router per
//! hostname the route serves there, named `httproute-<ns>-<name>-<gateway ns>-<gateway>-<listener>-
//! <rule>-<match>[-<hostname index>]`, with priorities that encode the specification's precedence
//! over all of them ([`precedence`]). A rule's backends become a weighted service
//! `httproute-<ns>-<name>-<rule>` over one load balancer per Service port (`<ns>-<service>-<port>`).

mod backends;
mod conditions;
mod conflicts;
mod filters;
mod grants;
mod grpc_matches;
mod hostname;
mod listeners;
mod matches;
mod precedence;
mod routes;
pub(crate) mod spec;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::Resource;
use kube::core::ApiResource;
use serde_json::{Value, json};
use switchyard_config::{CertificateAndStores, Router};

use super::crd::Object;
use super::{ClusterView, Key, Translation};
use crate::error::{ObjectError, TranslateError};
use crate::gateway_api::{Gateway, GatewayClass, GrpcRoute, HttpRoute, ReferenceGrant};
use crate::options::TranslateOptions;
use conditions::Condition;
use grants::Grants;
use listeners::ListenerState;
use precedence::Precedence;
use spec::{GatewayClassSpec, GatewaySpec, ReferenceGrantSpec};

pub(crate) use crate::gateway_api::GROUP;
/// The route kinds served, as listeners list them.
pub(crate) const ROUTE_KINDS: [&str; 2] = ["HTTPRoute", "GRPCRoute"];

/// What the Gateway provider's watches hold at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct GatewayView {
    /// Services, EndpointSlices and Secrets.
    pub(crate) core: ClusterView,
    /// Namespaces by name, for `allowedRoutes.namespaces.selector`.
    pub(crate) namespaces: BTreeMap<String, Arc<Namespace>>,
    pub(crate) classes: Vec<Arc<GatewayClass>>,
    pub(crate) gateways: Vec<Arc<Gateway>>,
    pub(crate) http_routes: Vec<Arc<HttpRoute>>,
    pub(crate) grpc_routes: Vec<Arc<GrpcRoute>>,
    pub(crate) grants: Vec<Arc<ReferenceGrant>>,
}

/// What decides the translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayOptions {
    /// The `controllerName` of the GatewayClasses handled.
    pub(crate) controller: String,
    /// Entrypoints by name with the port they listen on.
    pub(crate) entry_points: Vec<(String, u16)>,
    /// `status.addresses` of every Gateway handled.
    pub(crate) addresses: Vec<Value>,
    /// How Services become load balancers.
    pub(crate) backends: TranslateOptions,
}

/// A status to write: the whole `status` of one object, when it differs from the object's.
#[derive(Debug, Clone)]
pub(crate) struct StatusWrite {
    pub(crate) resource: ApiResource,
    /// Empty for cluster-scoped kinds.
    pub(crate) namespace: String,
    pub(crate) name: String,
    /// The object's `resourceVersion` when the difference was seen.
    pub(crate) version: Option<String>,
    pub(crate) status: Value,
}

/// A router waiting for its priority, which depends on every other one.
struct PendingRouter {
    /// Of a GRPCRoute: ranked among those only.
    grpc: bool,
    key: String,
    router: Router,
    precedence: Precedence,
    origin: String,
}

/// A Gateway of ours, as translation found it.
pub(crate) struct GatewayState {
    object: Arc<Gateway>,
    namespace: String,
    name: String,
    listeners: Vec<ListenerState>,
    /// Why `infrastructure.parametersRef` cannot be used, when the Gateway names one.
    invalid_parameters: Option<String>,
}

/// The translation under way.
pub(crate) struct GatewayTranslation<'a> {
    view: &'a GatewayView,
    options: &'a GatewayOptions,
    out: Translation<StatusWrite>,
    grants: Grants,
    certificates: BTreeMap<Key, CertificateAndStores>,
    pending: Vec<PendingRouter>,
    /// The servers transport of the rule being translated, when it has timeouts: its backends get
    /// load balancers of their own that use it.
    transport: Option<String>,
    /// The listeners routes lost to a route of the other kind with an intersecting hostname.
    conflicts: conflicts::Conflicts,
}

/// Translates every Gateway of our classes and the HTTPRoutes attached to them.
pub(crate) fn translate(view: &GatewayView, options: &GatewayOptions) -> Translation<StatusWrite> {
    let mut t = GatewayTranslation {
        view,
        options,
        out: Translation::default(),
        grants: Grants::default(),
        certificates: BTreeMap::new(),
        pending: Vec::new(),
        transport: None,
        conflicts: conflicts::Conflicts::default(),
    };
    t.read_grants();
    let classes = t.classes();
    let mut gateways = t.gateways(&classes);
    t.conflicts = conflicts::Conflicts::find(view, &gateways);
    for route in &view.http_routes {
        t.route(
            routes::RouteKind::Http,
            route.as_ref(),
            &route.spec,
            &route.status,
            &mut gateways,
        );
    }
    for route in &view.grpc_routes {
        t.route(
            routes::RouteKind::Grpc,
            route.as_ref(),
            &route.spec,
            &route.status,
            &mut gateways,
        );
    }
    for gateway in &gateways {
        t.gateway_status(gateway);
    }
    t.finish()
}

impl GatewayTranslation<'_> {
    fn problem(&mut self, object: Object<'_>, reason: TranslateError) {
        let error = ObjectError::new(object.kind, object.namespace, object.name, reason);
        self.out.problems.push(error);
    }

    /// Reads part of an object, reporting keys it does not know; `None` (reported) when it cannot be.
    fn read<T: serde::de::DeserializeOwned>(&mut self, object: Object<'_>, value: &Value, at: &str) -> Option<T> {
        match super::crd::read::read(value, at) {
            Ok(read) => {
                for path in read.unknown {
                    self.problem(object, TranslateError::UnknownKey { path });
                }
                Some(read.value)
            }
            Err(problem) => {
                self.problem(object, problem);
                None
            }
        }
    }

    fn read_grants(&mut self) {
        for grant in &self.view.grants {
            let object = Object::of("ReferenceGrant", grant.as_ref());
            if let Some(spec) = self.read::<ReferenceGrantSpec>(object, &grant.spec, "spec") {
                self.grants.0.push((object.namespace.to_owned(), spec));
            }
        }
    }

    /// The names of the GatewayClasses of our controller, each accepted.
    fn classes(&mut self) -> BTreeSet<String> {
        let mut ours = BTreeSet::new();
        for class in &self.view.classes {
            let object = Object::of("GatewayClass", class.as_ref());
            let Ok(spec) = serde_json::from_value::<GatewayClassSpec>(class.spec.clone()) else {
                continue;
            };
            if spec.controller_name != self.options.controller {
                continue;
            }
            ours.insert(object.name.to_owned());
            let conditions = [Condition::holds("Accepted")];
            let status = json!({
                "conditions": conditions::render(&conditions, generation(class.as_ref()), &class.status["conditions"]),
            });
            self.write_status(class.as_ref(), &class.status, status);
        }
        ours
    }

    /// The Gateways of our classes, with their listeners.
    fn gateways(&mut self, classes: &BTreeSet<String>) -> Vec<GatewayState> {
        let mut states = Vec::new();
        for gateway in &self.view.gateways {
            let class = gateway.spec["gatewayClassName"].as_str().unwrap_or_default();
            if !classes.contains(class) {
                continue;
            }
            let object = Object::of("Gateway", gateway.as_ref());
            let Some(spec) = self.read::<GatewaySpec>(object, &gateway.spec, "spec") else {
                continue;
            };
            let namespace = object.namespace.to_owned();
            let mut listeners = self.listeners(&namespace, &spec.listeners);
            // No kind of parameters is supported: a Gateway that names some is not served.
            let invalid_parameters = spec
                .infrastructure
                .and_then(|i| i.parameters_ref)
                .map(|p| format!("parameters {}/{} {} are not supported", p.group, p.kind, p.name));
            if invalid_parameters.is_some() {
                for listener in &mut listeners {
                    listener.ready = false;
                    listener.conditions.retain(|c| c.type_ != "Programmed");
                    let message = "the Gateway is not accepted: its parametersRef cannot be used";
                    listener
                        .conditions
                        .push(Condition::new("Programmed", false, "Invalid", message));
                }
            }
            states.push(GatewayState {
                object: Arc::clone(gateway),
                name: object.name.to_owned(),
                namespace,
                listeners,
                invalid_parameters,
            });
        }
        states
    }

    /// Asks for `status` on `object` when it differs from `current`.
    fn write_status<K: Resource<DynamicType = ()>>(&mut self, object: &K, current: &Value, status: Value) {
        if *current == status {
            return;
        }
        let meta = object.meta();
        self.out.statuses.push(StatusWrite {
            resource: ApiResource::erase::<K>(&()),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            version: meta.resource_version.clone(),
            status,
        });
    }

    /// A Gateway's status: its conditions, addresses and listeners (with their attached routes).
    fn gateway_status(&mut self, gateway: &GatewayState) {
        let object = gateway.object.as_ref();
        let generation = generation(object);
        let any_ready = gateway.listeners.iter().any(|l| l.ready);
        let all_accepted = gateway
            .listeners
            .iter()
            .all(|l| l.conditions.iter().any(|c| c.type_ == "Accepted" && c.status));
        let accepted = if let Some(invalid) = &gateway.invalid_parameters {
            Condition::new("Accepted", false, "InvalidParameters", invalid.clone())
        } else if all_accepted {
            Condition::holds("Accepted")
        } else if any_ready {
            Condition::new("Accepted", true, "ListenersNotValid", "some listeners are not valid")
        } else {
            Condition::new("Accepted", false, "ListenersNotValid", "no listener is valid")
        };
        let programmed = if any_ready {
            Condition::holds("Programmed")
        } else {
            Condition::new("Programmed", false, "Invalid", "no listener can serve")
        };
        let listeners: Vec<Value> = gateway
            .listeners
            .iter()
            .map(|l| l.status(generation, &object.status["listeners"]))
            .collect();
        let mut status = json!({
            "conditions": conditions::render(&[accepted, programmed], generation, &object.status["conditions"]),
            "listeners": listeners,
        });
        if !self.options.addresses.is_empty() {
            status["addresses"] = Value::Array(self.options.addresses.clone());
        }
        self.write_status(object, &object.status, status);
    }

    /// Gives every pending router its priority (HTTPRoutes' from 1, GRPCRoutes' above them, each in
    /// their own order) and adds the certificates.
    fn finish(mut self) -> Translation<StatusWrite> {
        let pending = std::mem::take(&mut self.pending);
        let (grpc, http): (Vec<PendingRouter>, Vec<PendingRouter>) = pending.into_iter().partition(|p| p.grpc);
        let base = i64::try_from(http.len()).unwrap_or(i64::MAX / 2);
        for (band, base) in [(http, 0), (grpc, base)] {
            let all: Vec<Precedence> = band.iter().map(|p| p.precedence.clone()).collect();
            for (mut pending, priority) in band.into_iter().zip(precedence::priorities(&all, base)) {
                pending.router.priority = priority;
                let key = pending.key;
                self.out
                    .snapshot
                    .origins
                    .insert(format!("http.routers.{key}"), pending.origin);
                self.out.snapshot.config.http.routers.insert(key, pending.router);
            }
        }
        self.out.snapshot.config.tls.certificates = std::mem::take(&mut self.certificates).into_values().collect();
        self.out
    }
}

/// An object's `metadata.generation` (0 when the API server does not set one).
fn generation<K: Resource>(object: &K) -> i64 {
    object.meta().generation.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object<K: serde::de::DeserializeOwned>(value: Value) -> Arc<K> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    fn options() -> GatewayOptions {
        GatewayOptions {
            controller: "example.com/edge".into(),
            entry_points: vec![("web".into(), 80)],
            addresses: Vec::new(),
            backends: TranslateOptions {
                allow_empty_services: true,
                ..TranslateOptions::default()
            },
        }
    }

    /// A view with our class, a Gateway `edge` with one HTTP listener, a Service `app` and a route
    /// whose one rule has these filters.
    fn view(filters: Value) -> GatewayView {
        let mut view = GatewayView::default();
        view.classes.push(object(json!({
            "metadata": {"name": "edge"}, "spec": {"controllerName": "example.com/edge"},
        })));
        view.gateways.push(object(json!({
            "metadata": {"namespace": "shop", "name": "edge"},
            "spec": {"gatewayClassName": "edge", "listeners": [{"name": "web", "port": 80, "protocol": "HTTP"}]},
        })));
        let service = json!({"metadata": {"namespace": "shop", "name": "app"}, "spec": {"ports": [{"port": 80}]}});
        view.core
            .services
            .insert(("shop".into(), "app".into()), object(service));
        view.http_routes.push(object(json!({
            "metadata": {"namespace": "shop", "name": "web"},
            "spec": {"parentRefs": [{"name": "edge"}], "rules": [
                {"filters": filters, "backendRefs": [{"name": "app", "port": 80}]},
            ]},
        })));
        view
    }

    #[test]
    fn an_extension_ref_names_a_traefik_middleware_of_the_route_namespace() {
        let filters = json!([{"type": "ExtensionRef",
            "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": "auth"}}]);
        let out = translate(&view(filters), &options());
        let routers: Vec<&Router> = out.snapshot.config.http.routers.values().collect();
        assert_eq!(routers.len(), 1, "{:?}", out.problems);
        assert_eq!(routers[0].middlewares, ["shop-auth@kubernetescrd"]);
        assert_eq!(routers[0].entry_points, ["web"]);
    }

    #[test]
    fn an_extension_ref_to_another_kind_fails_the_rule() {
        let filters = json!([{"type": "ExtensionRef",
            "extensionRef": {"group": "example.com", "kind": "Filter", "name": "x"}}]);
        let out = translate(&view(filters), &options());
        assert!(out.snapshot.config.http.routers.is_empty());
        let route = out.statuses.iter().find(|s| s.name == "web").unwrap();
        let accepted = &route.status["parents"][0]["conditions"][0];
        assert_eq!(
            (accepted["type"].as_str(), accepted["reason"].as_str()),
            (Some("Accepted"), Some("UnsupportedValue"))
        );
        assert!(
            accepted["message"].as_str().unwrap().contains("example.com/Filter"),
            "{accepted}"
        );
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path() {
        let filters = json!([{"type": "RequestHeaderModifier",
            "requestHeaderModifier": {"set": [{"name": "a", "value": "b"}], "colour": "blue"}}]);
        let out = translate(&view(filters), &options());
        let problems: Vec<String> = out.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            ["HTTPRoute shop/web: unknown key `spec.rules[0].filters[0].requestHeaderModifier.colour` ignored"]
        );
    }
}
