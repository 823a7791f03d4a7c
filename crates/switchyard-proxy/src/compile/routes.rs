//! Compiling routers into route tables: per entrypoint, one table for plain connections and one for TLS
//! ones, each route leading to a target (a service, the API, or a middleware stack around them) with
//! what the route itself checks (encoded characters, TLS options).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use switchyard_config::{Middleware, Problem, Published, Router, qualify};
use switchyard_middleware::{EncodedSet, HttpService, Signals};
use switchyard_rules::{Route, RouteTable};

use super::findings::Findings;
use super::middlewares::Compiled as CompiledMiddleware;
use super::{API_SERVICE, EntryPointDefaults, NOOP_SERVICE};
use crate::endpoint::{ApiEndpoint, NoopEndpoint, ServiceEndpoint};
use crate::service::Node;
use crate::snapshot::{EntryPointInfo, EntryPointTables, Handler, RouteTarget, Target};

/// What routes are built from: the entrypoints, and the compiled services and middlewares.
pub(crate) struct Sources<'a> {
    pub(crate) published: &'a Published,
    pub(crate) entry_points: &'a [EntryPointInfo],
    pub(crate) defaults: &'a [EntryPointDefaults],
    pub(crate) services: &'a HashMap<String, Node>,
    pub(crate) middlewares: &'a HashMap<String, CompiledMiddleware>,
    /// The gateway's own services besides the API and `noop@internal`.
    pub(crate) internal: &'a HashMap<String, HttpService>,
    /// The options id of a TLS router on an entrypoint (`None`: it cannot serve there).
    pub(crate) tls_options: &'a dyn Fn(&str, usize) -> Option<u32>,
}

/// The route tables of every entrypoint, and the targets their routes lead to.
pub(crate) fn build(sources: &Sources<'_>, findings: &mut Findings<'_>) -> (Vec<EntryPointTables>, Vec<Target>) {
    // Per entrypoint: routes for plain connections, routes for TLS connections.
    let mut routes: Vec<[Vec<Route<RouteTarget>>; 2]> =
        sources.entry_points.iter().map(|_| Default::default()).collect();
    let mut targets = Vec::new();
    for (name, router) in &sources.published.runtime.config.http.routers {
        let Some(rule) = sources.published.runtime.rules.get(name) else {
            continue;
        };
        let mut router_routes = RouterRoutes {
            name,
            router,
            provider: provider_of(findings, name),
            shared: None,
        };
        let Some(serving) = stream_entry_points(sources.entry_points, &router.entry_points, |field, problem, fatal| {
            findings.router(name, field, problem, fatal);
        }) else {
            continue;
        };
        for ep in serving {
            if let Some((over_tls, target)) = router_routes.on(sources, ep, &mut targets, findings) {
                let mut route = Route::new(name.as_str(), rule.clone(), target);
                if router.priority != 0 {
                    route = route.with_priority(router.priority);
                }
                routes[ep][usize::from(over_tls)].push(route);
            }
        }
    }
    let tables = routes
        .into_iter()
        .map(|[plain, tls]| EntryPointTables {
            plain: RouteTable::new(plain),
            tls: RouteTable::new(tls),
        })
        .collect();
    (tables, targets)
}

/// The indexes of the named entrypoints an HTTP or TCP router can serve on: those that listen for
/// TCP. Each UDP entrypoint named is reported; a router naming only UDP entrypoints is disabled
/// (`None`). Entrypoints that do not exist were reported and dropped by validation.
pub(crate) fn stream_entry_points(
    entry_points: &[EntryPointInfo],
    named: &[String],
    mut report: impl FnMut(&str, Problem, bool),
) -> Option<Vec<usize>> {
    let mut serving = Vec::with_capacity(named.len());
    let mut udp = Vec::new();
    for entry_point in named {
        match entry_points.iter().position(|e| &e.name == entry_point) {
            Some(ep) if entry_points[ep].udp => udp.push(entry_point),
            Some(ep) => serving.push(ep),
            None => {}
        }
    }
    let only_udp = serving.is_empty() && !udp.is_empty();
    for entry_point in udp {
        let problem = Problem::Invalid(format!(
            "entryPoint `{entry_point}` listens for UDP; only UDP routers serve there"
        ));
        report("entryPoints", problem, only_udp);
    }
    (!only_udp).then_some(serving)
}

/// The provider a router came from, to qualify the entrypoint's middleware names with.
fn provider_of(findings: &Findings<'_>, router: &str) -> String {
    findings
        .report
        .routers
        .get(router)
        .map(|r| r.provider.clone())
        .unwrap_or_default()
}

/// One router's routes, entrypoint after entrypoint.
struct RouterRoutes<'a> {
    name: &'a str,
    router: &'a Router,
    provider: String,
    /// The router's target without entrypoint middlewares, shared by its entrypoints that add none.
    shared: Option<Option<u32>>,
}

impl RouterRoutes<'_> {
    /// The route on entrypoint `ep`: whether it serves TLS connections, and where it leads; `None` when
    /// the router cannot serve there (reported).
    fn on(
        &mut self,
        sources: &Sources<'_>,
        ep: usize,
        targets: &mut Vec<Target>,
        findings: &mut Findings<'_>,
    ) -> Option<(bool, RouteTarget)> {
        let defaults = &sources.defaults[ep];
        let leading: Vec<String> = defaults
            .middlewares
            .iter()
            .map(|m| qualify(m, &self.provider))
            .collect();
        let stack = Stack {
            entry_point: &leading,
            router: &self.router.middlewares,
            service: self.service_middlewares(sources),
        };
        let target = self.target(&stack, sources, targets, findings)?;
        let over_tls = self.router.tls.is_some() || defaults.tls.is_some();
        let tls_options = if over_tls {
            (sources.tls_options)(self.name, ep)?
        } else {
            0
        };
        let denied_encoded = if stack.filters_encoded_characters(&sources.published.runtime.config.http.middlewares) {
            EncodedSet::NONE
        } else {
            defaults.denied_encoded
        };
        let target = RouteTarget {
            target,
            tls_options,
            denied_encoded,
        };
        Some((over_tls, target))
    }

    /// The middlewares the router's service declares for itself.
    fn service_middlewares<'s>(&self, sources: &Sources<'s>) -> &'s [String] {
        sources
            .published
            .runtime
            .config
            .http
            .services
            .get(&self.router.service)
            .map_or(&[][..], |s| s.middlewares.as_slice())
    }

    /// The index of the route's target among `targets`: built for this stack, or shared with the
    /// router's other entrypoints when the entrypoint adds no middleware.
    fn target(
        &mut self,
        stack: &Stack<'_>,
        sources: &Sources<'_>,
        targets: &mut Vec<Target>,
        findings: &mut Findings<'_>,
    ) -> Option<u32> {
        let (name, router) = (self.name, self.router);
        let mut build = || {
            let handler = handler(name, router, stack, sources, findings)?;
            targets.push(Target {
                handler,
                router: Arc::from(name),
                signals: signals(router),
                middlewares: stack.names(),
                service: sources.services.get(&router.service).cloned(),
            });
            Some(u32::try_from(targets.len() - 1).unwrap_or(u32::MAX))
        };
        if stack.entry_point.is_empty() {
            *self.shared.get_or_insert_with(build)
        } else {
            build()
        }
    }
}

/// The middlewares in front of one route, outermost first.
struct Stack<'a> {
    entry_point: &'a [String],
    router: &'a [String],
    service: &'a [String],
}

impl Stack<'_> {
    fn is_empty(&self) -> bool {
        self.entry_point.is_empty() && self.router.is_empty() && self.service.is_empty()
    }

    /// The middlewares' qualified names, outermost first.
    fn names(&self) -> Box<[String]> {
        [self.entry_point, self.router, self.service]
            .concat()
            .into_boxed_slice()
    }

    /// Whether an `encodedCharacters` middleware filters this route (directly or in a chain), which then
    /// decides alone which encoded characters pass.
    fn filters_encoded_characters(&self, definitions: &BTreeMap<String, Middleware>) -> bool {
        fn filters(name: &str, definitions: &BTreeMap<String, Middleware>, depth: usize) -> bool {
            match definitions.get(name) {
                Some(Middleware::EncodedCharacters(_)) => true,
                // Validation refuses chain cycles; the depth bound keeps a missed one from recursing forever.
                Some(Middleware::Chain(chain)) if depth < 32 => {
                    chain.middlewares.iter().any(|m| filters(m, definitions, depth + 1))
                }
                _ => false,
            }
        }
        [self.entry_point, self.router, self.service]
            .into_iter()
            .flatten()
            .any(|name| filters(name, definitions, 0))
    }
}

/// What a router leads to: its service (or the API), behind the entrypoint's middlewares, the router's,
/// then the service's own.
fn handler(
    name: &str,
    router: &Router,
    stack: &Stack<'_>,
    sources: &Sources<'_>,
    findings: &mut Findings<'_>,
) -> Option<Handler> {
    #[cfg(not(feature = "tls"))]
    if router.tls.is_some() {
        let problem = Problem::Unsupported(
            "this build has no `tls` feature: the router only matches requests handed over as TLS".into(),
        );
        findings.router(name, "tls", problem, false);
    }
    let endpoint = endpoint(name, router, sources, findings)?;
    if stack.is_empty() {
        return Some(endpoint);
    }
    let layers = layers(name, stack, sources.middlewares, findings)?;
    Some(Handler::Stack(switchyard_middleware::chain(
        &layers,
        endpoint_service(endpoint),
    )))
}

/// The end of a route as the service its middlewares wrap.
fn endpoint_service(endpoint: Handler) -> HttpService {
    match endpoint {
        Handler::Service(node) => ServiceEndpoint::boxed(node),
        Handler::Noop => HttpService::new(NoopEndpoint),
        Handler::Internal(service) => service,
        Handler::Api | Handler::Stack(_) => HttpService::new(ApiEndpoint),
    }
}

/// The end of a route: the internal API, `noop@internal`, another of the gateway's own services, or a
/// compiled service.
fn endpoint(name: &str, router: &Router, sources: &Sources<'_>, findings: &mut Findings<'_>) -> Option<Handler> {
    match router.service.as_str() {
        API_SERVICE => Some(Handler::Api),
        NOOP_SERVICE => Some(Handler::Noop),
        service => match sources.services.get(service) {
            Some(node) => Some(Handler::Service(node.clone())),
            None if sources.internal.contains_key(service) => {
                sources.internal.get(service).cloned().map(Handler::Internal)
            }
            None => {
                findings.router(name, "service", Problem::DisabledService(service.to_owned()), true);
                None
            }
        },
    }
}

/// The layers of a route's stack, outermost first; `None` (reported) when one is missing.
fn layers(
    name: &str,
    stack: &Stack<'_>,
    middlewares: &HashMap<String, CompiledMiddleware>,
    findings: &mut Findings<'_>,
) -> Option<Vec<switchyard_middleware::MiddlewareLayer>> {
    let mut layers = Vec::with_capacity(stack.entry_point.len() + stack.router.len() + stack.service.len());
    for (index, middleware) in stack.entry_point.iter().enumerate() {
        let Some(compiled) = middlewares.get(middleware) else {
            findings.router(
                name,
                "entryPoints",
                missing_entry_point_middleware(index, middleware),
                true,
            );
            return None;
        };
        layers.push(compiled.layer.clone());
    }
    for (index, middleware) in stack.router.iter().enumerate() {
        let Some(compiled) = middlewares.get(middleware) else {
            let field = format!("middlewares[{index}]");
            findings.router(name, &field, Problem::DisabledMiddleware(middleware.clone()), true);
            return None;
        };
        layers.push(compiled.layer.clone());
    }
    // Checked when services were compiled: a service's own middlewares are all built.
    let service = stack.service.iter().filter_map(|m| middlewares.get(m));
    layers.extend(service.map(|c| c.layer.clone()));
    Some(layers)
}

/// An entrypoint's middleware that is not there (entrypoint middlewares are not a router's field).
fn missing_entry_point_middleware(index: usize, middleware: &str) -> Problem {
    Problem::Invalid(format!(
        "middleware `{middleware}` from the entrypoint's http.middlewares[{index}] does not exist or is disabled"
    ))
}

/// A router's `observability` switches, when it has the section.
fn signals(router: &Router) -> Option<Signals> {
    (router.observability.as_ref()).map(|o| Signals::new(o.access_logs, o.metrics, o.tracing))
}
