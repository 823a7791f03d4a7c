//! HTTPRoutes and GRPCRoutes: which listeners each attaches to, the routers of its rules there, and
//! its status.

use std::collections::BTreeMap;

use kube::Resource;
use serde_json::{Value, json};
use switchyard_config::{Router, RouterTls};

use super::backends::Unresolved;
use super::conditions::{self, Condition};
use super::grpc_matches::{self, GRPC_CONTENT_TYPE};
use super::matches;
use super::precedence::{Precedence, Rank};
use super::spec::{GrpcRouteRule, HttpRouteRule, HttpRouteSpec, ParentReference};
use super::{GROUP, GatewayState, GatewayTranslation, PendingRouter, generation, hostname};
use crate::translate::crd::Object;

/// The kinds of route served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    Http,
    Grpc,
}

impl RouteKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
        }
    }

    /// The prefix of its elements' names.
    fn prefix(self) -> &'static str {
        match self {
            RouteKind::Http => "httproute",
            RouteKind::Grpc => "grpcroute",
        }
    }
}

/// A rule that can be served: its conditions, service and middlewares.
struct ServedRule {
    matches: Vec<(Option<String>, Rank)>,
    service: String,
    middlewares: Vec<String>,
}

/// A route's rules, translated once for all its parents.
struct Rules {
    /// By rule index; `None` for a rule that failed.
    served: Vec<Option<ServedRule>>,
    /// Why rules failed (`UnsupportedValue`).
    invalid: Vec<String>,
    unresolved: Vec<Unresolved>,
}

/// How one parent reference fared.
enum Attachment {
    Attached,
    Refused(&'static str, String),
}

/// Where a route attaches: the listener's Gateway, and the route's hostnames and age.
struct Placement<'a> {
    kind: RouteKind,
    object: Object<'a>,
    created: &'a str,
    hostnames: &'a [String],
    labels: &'a BTreeMap<String, String>,
}

impl GatewayTranslation<'_> {
    /// Attaches a route to the listeners its parent references select, and asks for its status.
    pub(crate) fn route<K: Resource<DynamicType = ()>>(
        &mut self,
        kind: RouteKind,
        resource: &K,
        spec: &Value,
        status: &Value,
        gateways: &mut [GatewayState],
    ) {
        let object = Object::of(kind.name(), resource);
        let Some(spec) = self.read::<HttpRouteSpec>(object, spec, "spec") else {
            return;
        };
        let labels = namespace_labels(self.view, object.namespace);
        let created = resource
            .meta()
            .creation_timestamp
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let placement = Placement {
            kind,
            object,
            created: &created,
            hostnames: &spec.hostnames,
            labels: &labels,
        };
        let mut rules: Option<Rules> = None;
        let mut parents = Vec::new();
        for parent in &spec.parent_refs {
            if parent.kind.as_deref().unwrap_or("Gateway") != "Gateway"
                || parent.group.as_deref().unwrap_or(GROUP) != GROUP
            {
                continue;
            }
            let gateway_namespace = parent.namespace.as_deref().unwrap_or(object.namespace);
            let found = gateways
                .iter()
                .position(|g| g.namespace == gateway_namespace && g.name == parent.name);
            let attachment = match found {
                Some(index) => {
                    let rules = rules.get_or_insert_with(|| self.rules(kind, object, &spec));
                    let gateway = &mut gateways[index];
                    let lost = |listener: &str| {
                        let at = (gateway_namespace, parent.name.as_str());
                        self.conflicts.lost(kind, (object.namespace, object.name), at, listener)
                    };
                    let attachment = attach(kind, object.namespace, &labels, &spec, parent, gateway, lost);
                    if matches!(attachment, Attachment::Attached) {
                        self.routers(&placement, parent, gateway, rules);
                    }
                    attachment
                }
                None if self.exists(gateway_namespace, &parent.name) => continue,
                None => Attachment::Refused(
                    "NoMatchingParent",
                    format!("Gateway {gateway_namespace}/{} not found", parent.name),
                ),
            };
            let rules = rules.get_or_insert_with(|| self.rules(kind, object, &spec));
            parents.push((parent.clone(), attachment_conditions(attachment, rules)));
        }
        self.route_status(resource, status, parents);
    }

    /// Whether a Gateway exists at all (one of another class is left to its controller).
    fn exists(&self, namespace: &str, name: &str) -> bool {
        self.view
            .gateways
            .iter()
            .any(|g| g.metadata.namespace.as_deref() == Some(namespace) && g.metadata.name.as_deref() == Some(name))
    }

    /// Translates each rule: its matches, filters and backends.
    fn rules(&mut self, kind: RouteKind, object: Object<'_>, spec: &HttpRouteSpec) -> Rules {
        let mut out = Rules {
            served: Vec::new(),
            invalid: Vec::new(),
            unresolved: Vec::new(),
        };
        for (i, value) in spec.rules.iter().enumerate() {
            let at = format!("spec.rules[{i}]");
            let translated = match kind {
                RouteKind::Http => self
                    .read::<HttpRouteRule>(object, value, &at)
                    .map(|rule| self.http_rule(object, &rule, i)),
                RouteKind::Grpc => self
                    .read::<GrpcRouteRule>(object, value, &at)
                    .map(|rule| self.grpc_rule(object, &rule, i)),
            };
            let served = match translated {
                None => None,
                Some(Ok((served, unresolved))) => {
                    out.unresolved.extend(unresolved);
                    Some(served)
                }
                Some(Err(reason)) => {
                    out.invalid.push(format!("{at}: {reason}"));
                    None
                }
            };
            out.served.push(served);
        }
        out
    }

    fn http_rule(
        &mut self,
        object: Object<'_>,
        rule: &HttpRouteRule,
        index: usize,
    ) -> Result<(ServedRule, Vec<Unresolved>), String> {
        let default_match = [super::spec::HttpRouteMatch::default()];
        let given = rule
            .matches
            .as_deref()
            .filter(|m| !m.is_empty())
            .unwrap_or(&default_match);
        let matches = given
            .iter()
            .map(|m| matches::condition(m).map(|(text, rank)| (text, Rank::Http(rank))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|unsupported| format!("{} is not supported", unsupported.0))?;
        let route_key = format!("httproute-{}-{}-{index}", object.namespace, object.name);
        let timeout = rule.timeouts.as_ref().map(timeout).transpose()?.flatten();
        let prefix = shared_prefix(given);
        let filtered = self.filters(object, &rule.filters, &route_key, prefix)?;
        self.transport = timeout.map(|t| self.timeout_transport(object, &route_key, t));
        let service = self.rule_service(object, &route_key, &rule.backend_refs, prefix);
        self.transport = None;
        let (service, mut unresolved) = service?;
        let service = self.mirrored(object, &route_key, service, &filtered.mirrors, &mut unresolved);
        let mut middlewares = filtered.middlewares;
        if let Some(timeout) = timeout {
            // Outermost, so that the deadline covers the filters and the whole response.
            middlewares.insert(0, self.timeout_middleware(object, &route_key, timeout));
        }
        Ok((
            ServedRule {
                matches,
                service,
                middlewares,
            },
            unresolved,
        ))
    }

    fn grpc_rule(
        &mut self,
        object: Object<'_>,
        rule: &GrpcRouteRule,
        index: usize,
    ) -> Result<(ServedRule, Vec<Unresolved>), String> {
        let default_match = [super::spec::GrpcRouteMatch::default()];
        let given = rule
            .matches
            .as_deref()
            .filter(|m| !m.is_empty())
            .unwrap_or(&default_match);
        let matches = given
            .iter()
            .map(|m| grpc_matches::condition(m).map(|(text, rank)| (text, Rank::Grpc(rank))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|unsupported| format!("{} is not supported", unsupported.0))?;
        let supported = [
            "RequestHeaderModifier",
            "ResponseHeaderModifier",
            "RequestMirror",
            "ExtensionRef",
        ];
        let filters = rule
            .filters
            .iter()
            .chain(rule.backend_refs.iter().flat_map(|b| &b.filters));
        if let Some(filter) = filters.map(|f| f.type_.as_str()).find(|t| !supported.contains(t)) {
            return Err(format!("filter {filter} is not supported on a GRPCRoute"));
        }
        let route_key = format!("grpcroute-{}-{}-{index}", object.namespace, object.name);
        let filtered = self.filters(object, &rule.filters, &route_key, None)?;
        let (service, mut unresolved) = self.rule_service(object, &route_key, &rule.backend_refs, None)?;
        let service = self.mirrored(object, &route_key, service, &filtered.mirrors, &mut unresolved);
        let middlewares = filtered.middlewares;
        Ok((
            ServedRule {
                matches,
                service,
                middlewares,
            },
            unresolved,
        ))
    }

    /// One router per served rule, match and hostname on a listener the route attached to.
    fn routers(&mut self, placement: &Placement<'_>, parent: &ParentReference, gateway: &GatewayState, rules: &Rules) {
        let Placement { kind, object, .. } = *placement;
        for listener in gateway.listeners.iter().filter(|l| selected(parent, l)) {
            if !admitted(listener, kind, object.namespace, &gateway.namespace, placement.labels)
                || self.conflicts.lost(
                    kind,
                    (object.namespace, object.name),
                    (&gateway.namespace, &gateway.name),
                    &listener.name,
                )
            {
                continue;
            }
            let Some(hosts) = hostname::intersect(listener.hostname.as_deref(), placement.hostnames) else {
                continue;
            };
            let hosts = if hosts.is_empty() { vec![String::new()] } else { hosts };
            for (r, rule) in rules.served.iter().enumerate() {
                let Some(rule) = rule else { continue };
                for (m, (condition, rank)) in rule.matches.iter().enumerate() {
                    for (h, host) in hosts.iter().enumerate() {
                        let grpc = (kind == RouteKind::Grpc).then(|| GRPC_CONTENT_TYPE.to_owned());
                        let parts: Vec<String> = hostname::rule(host)
                            .into_iter()
                            .chain(grpc)
                            .chain(condition.clone())
                            .collect();
                        let text = if parts.is_empty() {
                            "PathPrefix(`/`)".to_owned()
                        } else {
                            parts.join(" && ")
                        };
                        let key = crate::translate::normalize(&format!(
                            "{}-{}-{}-{}-{}-{}-{r}-{m}-{h}",
                            kind.prefix(),
                            object.namespace,
                            object.name,
                            gateway.namespace,
                            gateway.name,
                            listener.name
                        ));
                        let router = Router {
                            rule: text,
                            service: rule.service.clone(),
                            middlewares: rule.middlewares.clone(),
                            entry_points: listener.entry_points.clone(),
                            tls: listener.https.then(RouterTls::default),
                            ..Router::default()
                        };
                        let precedence = Precedence {
                            hostname: hostname::specificity(host),
                            rank: *rank,
                            created: placement.created.to_owned(),
                            route: format!("{}/{}", object.namespace, object.name),
                            rule: r,
                            matched: m,
                        };
                        let origin = format!("{} spec.rules[{r}].matches[{m}]", object.origin());
                        let grpc = kind == RouteKind::Grpc;
                        self.pending.push(PendingRouter {
                            grpc,
                            key,
                            router,
                            precedence,
                            origin,
                        });
                    }
                }
            }
        }
    }

    /// Writes the route's entries for our parents, keeping other controllers' entries.
    fn route_status<K: Resource<DynamicType = ()>>(
        &mut self,
        route: &K,
        current: &Value,
        parents: Vec<(ParentReference, Vec<Condition>)>,
    ) {
        let controller = self.options.controller.clone();
        let previous = current["parents"].as_array().cloned().unwrap_or_default();
        let generation = generation(route);
        let mut entries: Vec<Value> = previous
            .iter()
            .filter(|p| p["controllerName"] != controller.as_str())
            .cloned()
            .collect();
        for (parent, conditions) in parents {
            let parent_ref = serde_json::to_value(&parent).unwrap_or(Value::Null);
            let earlier = previous
                .iter()
                .find(|p| p["controllerName"] == controller.as_str() && p["parentRef"] == parent_ref)
                .map(|p| p["conditions"].clone())
                .unwrap_or(Value::Null);
            entries.push(json!({
                "parentRef": parent_ref,
                "controllerName": controller,
                "conditions": conditions::render(&conditions, generation, &earlier),
            }));
        }
        let status = json!({"parents": entries});
        if current.is_null() && entries_empty(&status) {
            return;
        }
        self.write_status(route, current, status);
    }
}

/// The time a rule's backends have to answer: the shorter of `timeouts.request` and
/// `timeouts.backendRequest` (`0s` is no limit); `None` when neither limits it.
fn timeout(timeouts: &super::spec::HttpRouteTimeouts) -> Result<Option<switchyard_config::Duration>, String> {
    let mut shortest: Option<switchyard_config::Duration> = None;
    for (key, value) in [
        ("request", &timeouts.request),
        ("backendRequest", &timeouts.backend_request),
    ] {
        let Some(value) = value else { continue };
        let parsed: switchyard_config::Duration = value
            .parse()
            .map_err(|error| format!("timeouts.{key} `{value}`: {error}"))?;
        if parsed.to_std().is_some_and(|d| !d.is_zero()) {
            shortest = Some(match shortest {
                Some(s) if s.to_std() <= parsed.to_std() => s,
                _ => parsed,
            });
        }
    }
    Ok(shortest)
}

/// The `PathPrefix` value every match of a rule has, if they share one.
fn shared_prefix(matches: &[super::spec::HttpRouteMatch]) -> Option<&str> {
    let mut prefixes = matches.iter().map(|m| match &m.path {
        None => Some("/"),
        Some(path) if path.type_.as_deref().unwrap_or("PathPrefix") == "PathPrefix" => {
            Some(path.value.as_deref().unwrap_or("/"))
        }
        Some(_) => None,
    });
    let first = prefixes.next()??;
    prefixes.all(|p| p == Some(first)).then_some(first)
}

fn entries_empty(status: &Value) -> bool {
    status["parents"].as_array().is_none_or(Vec::is_empty)
}

/// The labels of a namespace (none when it is not known).
pub(super) fn namespace_labels(view: &super::GatewayView, namespace: &str) -> BTreeMap<String, String> {
    view.namespaces
        .get(namespace)
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default()
}

/// Whether a listener serves and allows routes of `kind` from `namespace`.
pub(super) fn admitted(
    listener: &super::listeners::ListenerState,
    kind: RouteKind,
    namespace: &str,
    gateway_namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    listener.ready && listener.admits(kind.name(), namespace, gateway_namespace, labels)
}

/// Whether a parent reference selects a listener by its `sectionName` and `port`.
pub(super) fn selected(parent: &ParentReference, listener: &super::listeners::ListenerState) -> bool {
    parent.section_name.as_deref().is_none_or(|s| s == listener.name) && parent.port.is_none_or(|p| p == listener.port)
}

/// Whether a route of `kind` in `namespace` attaches to some listener the reference selects, and why
/// not.
fn attach(
    kind: RouteKind,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    spec: &HttpRouteSpec,
    parent: &ParentReference,
    gateway: &mut GatewayState,
    lost: impl Fn(&str) -> bool,
) -> Attachment {
    let selected: Vec<&mut super::listeners::ListenerState> =
        gateway.listeners.iter_mut().filter(|l| selected(parent, l)).collect();
    if selected.is_empty() {
        let what = match (&parent.section_name, parent.port) {
            (Some(section), _) => format!("listener {section}"),
            (None, Some(port)) => format!("a listener on port {port}"),
            (None, None) => "a listener".to_owned(),
        };
        return Attachment::Refused("NoMatchingParent", format!("the Gateway has no {what}"));
    }
    let (mut allowed, mut attached, mut conflicted) = (false, false, false);
    for listener in selected {
        if !admitted(listener, kind, namespace, &gateway.namespace, labels) {
            continue;
        }
        allowed = true;
        if hostname::intersect(listener.hostname.as_deref(), &spec.hostnames).is_none() {
            continue;
        }
        if lost(&listener.name) {
            conflicted = true;
        } else {
            attached = true;
            listener.attached += 1;
        }
    }
    let other = match kind {
        RouteKind::Http => RouteKind::Grpc,
        RouteKind::Grpc => RouteKind::Http,
    };
    match (allowed, attached) {
        (_, true) => Attachment::Attached,
        (true, false) if conflicted => Attachment::Refused(
            super::conflicts::REASON,
            format!(
                "a {} that comes first (older, or first by namespace/name) serves a hostname of this route \
                 on every listener it could attach to",
                other.name()
            ),
        ),
        (true, false) => Attachment::Refused(
            "NoMatchingListenerHostname",
            "no hostname of the route matches a listener's hostname".to_owned(),
        ),
        (false, false) => Attachment::Refused(
            "NotAllowedByListeners",
            "no valid listener the reference selects allows this route".to_owned(),
        ),
    }
}

/// The `Accepted`, `ResolvedRefs` (and `PartiallyInvalid`) conditions of one parent entry.
fn attachment_conditions(attachment: Attachment, rules: &Rules) -> Vec<Condition> {
    let all_invalid = !rules.invalid.is_empty() && rules.served.iter().all(Option::is_none);
    let mut conditions = vec![match attachment {
        Attachment::Refused(reason, message) => Condition::new("Accepted", false, reason, message),
        Attachment::Attached if all_invalid => {
            Condition::new("Accepted", false, "UnsupportedValue", rules.invalid.join("; "))
        }
        Attachment::Attached => Condition::holds("Accepted"),
    }];
    conditions.push(match rules.unresolved.first() {
        Some((reason, _)) => {
            let messages: Vec<&str> = rules.unresolved.iter().map(|(_, m)| m.as_str()).collect();
            Condition::new("ResolvedRefs", false, reason, messages.join("; "))
        }
        None => Condition::holds("ResolvedRefs"),
    });
    if !rules.invalid.is_empty() && !all_invalid {
        conditions.push(Condition::new(
            "PartiallyInvalid",
            true,
            "UnsupportedValue",
            rules.invalid.join("; "),
        ));
    }
    conditions
}
