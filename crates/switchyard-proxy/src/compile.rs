//! Turning a checked configuration into a [`Snapshot`], reusing what did not change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use switchyard_config::{
    ConfigError, ElementReport, LoadBalancer as LoadBalancerConfig, Middleware, Problem, Published, Report, Router,
    ServersTransport, ServiceKind, Status, qualify,
};
use switchyard_middleware::{BuildContext, CodeRanges, EncodedSet, HttpService, MiddlewareLayer, Plugins, Resolve};
use switchyard_rules::{Route, RouteTable};

use crate::endpoint::{ApiEndpoint, NoopEndpoint, ServiceEndpoint};
use crate::service::{
    Child, Failover, LoadBalancer, Mirror, Mirroring, Node, Options, Passive, Probe, Server, ServerStats, Sticky,
    Weighted, spawn_active,
};
use crate::snapshot::{EntryPointInfo, EntryPointTables, Handler, RouteTarget, Snapshot, Target};
use crate::upstream::{ClientTls, Origin, Pool, Protocol, TlsFailure, TransportSettings};

/// The internal API service routers can name.
pub const API_SERVICE: &str = "api@internal";

/// The internal service that answers nothing (an empty 200), for routers whose middlewares always
/// answer themselves, such as the generated entrypoint redirections.
pub const NOOP_SERVICE: &str = "noop@internal";

/// Compiles snapshots and keeps, between them, the state worth carrying over: connection pools by
/// server and transport, and whole load balancers whose definition did not change.
#[derive(Debug)]
pub(crate) struct Compiler {
    entry_points: Arc<[EntryPointInfo]>,
    /// What each entrypoint's static configuration adds to its routers.
    entry_defaults: Vec<EntryPointDefaults>,
    default_transport: TransportSettings,
    /// The static `serversTransport`, whose TLS options serve services that name no transport.
    default_servers_transport: ServersTransport,
    /// TLS client configurations by transport name (`""` for the default), with the definition each
    /// was built from; reused while it does not change.
    client_tls: HashMap<String, CompiledTls>,
    pools: HashMap<PoolKey, Arc<Pool>>,
    services: HashMap<String, CompiledService>,
    parents: HashMap<String, CompiledParent>,
    middlewares: HashMap<String, CompiledMiddleware>,
    plugins: Plugins,
    /// The last TLS state, whose certificates serve on when their files are caught half-written.
    #[cfg(feature = "tls")]
    server_tls: Option<Arc<crate::tls::TlsState>>,
}

/// A service over other services, kept while its definition and its children stay the same.
#[derive(Debug)]
struct CompiledParent {
    definition: ServiceKind,
    children: Vec<Node>,
    node: Node,
}

/// What an entrypoint's static `http` section adds to every router on it.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryPointDefaults {
    /// `http.tls`: every router is served over TLS, with these TLS options unless it names its own
    /// (`""` for the default options).
    pub(crate) tls: Option<String>,
    /// `http.middlewares`: in front of each router's own middlewares (names without `@provider` are
    /// the router's provider's, as in Traefik).
    pub(crate) middlewares: Vec<String>,
    /// `http.encodedCharacters`: the encoded characters refused in paths of routers that do not filter
    /// with an `encodedCharacters` middleware of their own.
    pub(crate) denied_encoded: EncodedSet,
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

/// A built middleware and the definition it was built from; its layer (and the state in it) is reused
/// while the definition stays the same.
#[derive(Clone)]
struct CompiledMiddleware {
    definition: Middleware,
    layer: MiddlewareLayer,
}

impl std::fmt::Debug for CompiledMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledMiddleware")
            .field("kind", &self.definition.kind())
            .finish_non_exhaustive()
    }
}

/// What middlewares may refer to while they are built: compiled services, and middlewares built before.
struct Resolver<'a> {
    services: &'a HashMap<String, Node>,
    middlewares: &'a HashMap<String, CompiledMiddleware>,
}

impl Resolve for Resolver<'_> {
    fn service(&self, name: &str) -> Option<HttpService> {
        self.services.get(name).map(|node| ServiceEndpoint::boxed(node.clone()))
    }

    fn middleware(&self, name: &str) -> Option<MiddlewareLayer> {
        self.middlewares.get(name).map(|m| m.layer.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    url: String,
    settings: TransportSettings,
    /// The build of the transport's TLS configuration ([`ClientTls::id`]), for HTTPS servers.
    tls: Option<u64>,
}

#[derive(Debug)]
struct CompiledService {
    definition: LoadBalancerConfig,
    settings: TransportSettings,
    tls: Option<ClientTls>,
    balancer: Arc<LoadBalancer>,
}

/// A transport's TLS client configuration, or why it has none.
#[derive(Debug, Clone)]
struct CompiledTls {
    definition: ServersTransport,
    built: Result<ClientTls, TlsFailure>,
}

/// Records problems found while compiling into the report.
pub(crate) struct Findings<'r> {
    report: &'r mut Report,
}

impl Findings<'_> {
    fn record(
        section: &mut BTreeMap<String, ElementReport>,
        kind: &str,
        name: &str,
        field: &str,
        problem: Problem,
        fatal: bool,
    ) {
        let Some(element) = section.get_mut(name) else { return };
        let key_path = if field.is_empty() {
            format!("http.{kind}.{name}")
        } else {
            format!("http.{kind}.{name}.{field}")
        };
        let error = ConfigError {
            provider: element.provider.clone(),
            origin: element.origin.clone(),
            key_path,
            problem,
        };
        tracing::warn!(target: "switchyard::config", "{error}");
        element.errors.push(error);
        element.status = match (fatal, element.status) {
            (true, _) | (false, Status::Disabled) => Status::Disabled,
            (false, _) => Status::Warning,
        };
    }

    fn service(&mut self, name: &str, field: &str, problem: Problem, fatal: bool) {
        Self::record(&mut self.report.services, "services", name, field, problem, fatal);
    }

    fn middleware(&mut self, name: &str, field: &str, problem: Problem) {
        Self::record(&mut self.report.middlewares, "middlewares", name, field, problem, true);
    }

    /// A servers transport's own problem, among the general ones (the report has no section for
    /// transports): `http.serversTransports.NAME.OPTION`, or `serversTransport.OPTION` for the static one.
    fn transport(&mut self, name: &str, failure: &TlsFailure) {
        let mut key_path = if name.is_empty() {
            "serversTransport".to_owned()
        } else {
            format!("http.serversTransports.{name}")
        };
        if !failure.option.is_empty() {
            key_path.push('.');
            key_path.push_str(&failure.option);
        }
        let provider = name.rsplit_once('@').map_or("", |(_, p)| p);
        let error = ConfigError {
            provider: provider.to_owned(),
            origin: None,
            key_path,
            problem: failure.problem.clone(),
        };
        tracing::warn!(target: "switchyard::config", "{error}");
        self.report.general.push(error);
    }

    pub(crate) fn router(&mut self, name: &str, field: &str, problem: Problem, fatal: bool) {
        Self::record(&mut self.report.routers, "routers", name, field, problem, fatal);
    }

    /// A problem outside routers, services and middlewares (`tls.certificates[2]`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn general(&mut self, key_path: String, problem: Problem) {
        let error = ConfigError {
            provider: String::new(),
            origin: None,
            key_path,
            problem,
        };
        tracing::warn!(target: "switchyard::config", "{error}");
        self.report.general.push(error);
    }
}

impl Compiler {
    pub(crate) fn new(
        entry_points: Arc<[EntryPointInfo]>,
        entry_defaults: Vec<EntryPointDefaults>,
        default_transport: TransportSettings,
    ) -> Self {
        Self {
            entry_points,
            entry_defaults,
            default_transport,
            default_servers_transport: ServersTransport::default(),
            client_tls: HashMap::new(),
            pools: HashMap::new(),
            services: HashMap::new(),
            parents: HashMap::new(),
            middlewares: HashMap::new(),
            plugins: Plugins::new(),
            #[cfg(feature = "tls")]
            server_tls: None,
        }
    }

    /// Takes the TLS options of services without `serversTransport` from the static `serversTransport`.
    pub(crate) fn with_default_servers_transport(mut self, transport: ServersTransport) -> Self {
        self.default_servers_transport = transport;
        self
    }

    /// Builds `plugin` middlewares from `plugins`.
    pub(crate) fn with_plugins(mut self, plugins: Plugins) -> Self {
        self.plugins = plugins;
        self
    }

    /// Compiles a published configuration. Elements the proxy cannot run are reported and left out;
    /// the rest goes live.
    pub(crate) fn compile(&mut self, published: Arc<Published>) -> Snapshot {
        let mut report = published.runtime.report.clone();
        let mut findings = Findings { report: &mut report };
        let mut pools = HashMap::new();
        let mut services = HashMap::new();
        let mut tls = HashMap::new();
        let http = &published.runtime.config.http;
        for (name, service) in &http.services {
            let ServiceKind::LoadBalancer(definition) = &service.kind else {
                continue;
            };
            let settings = self.transport(&published, &definition.servers_transport);
            let client_tls = match needs_tls(definition) {
                Some(field) => {
                    let transport = &definition.servers_transport;
                    match self.client_tls(&published, transport, &mut tls, &mut findings) {
                        Ok(client_tls) => Some(client_tls),
                        Err(failure) => {
                            let (field, problem) = transport_problem(transport, field, failure);
                            findings.service(name, &field, problem, true);
                            continue;
                        }
                    }
                }
                None => None,
            };
            if let Some(compiled) = self.reuse(name, definition, &settings, client_tls.as_ref(), &mut pools) {
                services.insert(name.clone(), compiled);
                continue;
            }
            let built = self.load_balancer(
                name,
                definition,
                &settings,
                client_tls.as_ref(),
                &mut pools,
                &mut findings,
            );
            if let Some(balancer) = built {
                let compiled = CompiledService {
                    definition: definition.clone(),
                    settings,
                    tls: client_tls,
                    balancer,
                };
                services.insert(name.clone(), compiled);
            }
        }
        // Transports no HTTPS server uses yet are checked too, so that a mistake shows before it matters.
        if cfg!(feature = "tls") {
            for name in http.servers_transports.keys() {
                let _unused = self.client_tls(&published, name, &mut tls, &mut findings);
            }
        }
        self.client_tls = tls;

        let mut nodes: HashMap<String, Node> = services
            .iter()
            .map(|(name, compiled)| (name.clone(), Node::Balancer(Arc::clone(&compiled.balancer))))
            .collect();
        let parents = self.build_parents(&published, &mut nodes, &mut findings);

        let middlewares = self.build_middlewares(&published, &nodes, &mut findings);
        // A service whose own middlewares could not be built cannot serve.
        nodes.retain(|name, _| {
            let own = http.services.get(name).map_or(&[][..], |s| s.middlewares.as_slice());
            match own.iter().position(|m| !middlewares.contains_key(m)) {
                Some(index) => {
                    let problem = Problem::DisabledMiddleware(own[index].clone());
                    findings.service(name, &format!("middlewares[{index}]"), problem, true);
                    false
                }
                None => true,
            }
        });

        // Per entrypoint: routes for plain connections, routes for TLS connections.
        let mut routes: Vec<[Vec<Route<RouteTarget>>; 2]> =
            self.entry_points.iter().map(|_| [Vec::new(), Vec::new()]).collect();
        let mut targets = Vec::new();
        #[cfg(feature = "tls")]
        let tls = crate::tls::TlsState::build(
            &published,
            &self.entry_points,
            &self.entry_defaults,
            self.server_tls.as_deref(),
            &mut findings,
        );
        for (name, router) in &http.routers {
            let service_middlewares = http
                .services
                .get(&router.service)
                .map_or(&[][..], |s| s.middlewares.as_slice());
            let Some(rule) = published.runtime.rules.get(name) else {
                continue;
            };
            let provider = findings
                .report
                .routers
                .get(name)
                .map(|r| r.provider.clone())
                .unwrap_or_default();
            // The router's target without entrypoint middlewares, shared by its entrypoints that add none.
            let mut shared: Option<Option<u32>> = None;
            for entry_point in &router.entry_points {
                let Some(ep) = self.entry_points.iter().position(|e| &e.name == entry_point) else {
                    continue;
                };
                let defaults = &self.entry_defaults[ep];
                let leading: Vec<String> = defaults.middlewares.iter().map(|m| qualify(m, &provider)).collect();
                let stack = Stack {
                    entry_point: &leading,
                    router: &router.middlewares,
                    service: service_middlewares,
                };
                let mut build = || {
                    let handler = Self::handler(name, router, &stack, &nodes, &middlewares, &mut findings)?;
                    targets.push(Target {
                        handler,
                        router: Arc::from(name.as_str()),
                    });
                    Some(u32::try_from(targets.len() - 1).unwrap_or(u32::MAX))
                };
                let index = if leading.is_empty() {
                    *shared.get_or_insert_with(build)
                } else {
                    build()
                };
                let Some(target) = index else { continue };
                let over_tls = router.tls.is_some() || defaults.tls.is_some();
                #[cfg(feature = "tls")]
                let tls_options = match over_tls {
                    true => match tls.router_options(name, ep) {
                        Some(id) => id,
                        None => continue,
                    },
                    false => 0,
                };
                #[cfg(not(feature = "tls"))]
                let tls_options = 0;
                let denied_encoded = if stack.filters_encoded_characters(&http.middlewares) {
                    EncodedSet::NONE
                } else {
                    defaults.denied_encoded
                };
                let target = RouteTarget {
                    target,
                    tls_options,
                    denied_encoded,
                };
                let mut route = Route::new(name.as_str(), rule.clone(), target);
                if router.priority != 0 {
                    route = route.with_priority(router.priority);
                }
                routes[ep][usize::from(over_tls)].push(route);
            }
        }
        self.pools = pools;
        self.services = services;
        self.parents = parents;
        self.middlewares = middlewares;
        let balancers = nodes
            .iter()
            .filter_map(|(name, node)| Some((name.clone(), Arc::clone(node.balancer()?))))
            .collect();
        Snapshot {
            balancers,
            generation: published.generation,
            tables: routes
                .into_iter()
                .map(|[plain, tls]| EntryPointTables {
                    plain: RouteTable::new(plain),
                    tls: RouteTable::new(tls),
                })
                .collect(),
            targets,
            report,
            published,
            #[cfg(feature = "tls")]
            tls: {
                let tls = Arc::new(tls);
                self.server_tls = Some(Arc::clone(&tls));
                Some(tls)
            },
            entry_points: Arc::clone(&self.entry_points),
        }
    }

    /// Builds the services over other services, children first, reusing those whose definition and
    /// children did not change. A service whose child is missing or down is reported and left out.
    fn build_parents(
        &self,
        published: &Published,
        nodes: &mut HashMap<String, Node>,
        findings: &mut Findings<'_>,
    ) -> HashMap<String, CompiledParent> {
        let definitions = &published.runtime.config.http.services;
        let mut built = HashMap::new();
        let mut pending: Vec<&String> = definitions
            .iter()
            .filter(|(_, s)| !matches!(s.kind, ServiceKind::LoadBalancer(_)))
            .map(|(name, _)| name)
            .collect();
        let mut attempted: HashSet<&str> = HashSet::new();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for name in pending {
                let service = &definitions[name];
                let children = service.referenced_services();
                let blocked = children.iter().any(|child| {
                    !nodes.contains_key(*child)
                        && !attempted.contains(child)
                        && definitions
                            .get(*child)
                            .is_some_and(|d| !matches!(d.kind, ServiceKind::LoadBalancer(_)))
                });
                if blocked {
                    waiting.push(name);
                    continue;
                }
                attempted.insert(name);
                let mut child_nodes = Vec::with_capacity(children.len());
                for (index, child) in children.iter().enumerate() {
                    match nodes.get(*child) {
                        Some(node) => child_nodes.push(node.clone()),
                        None => {
                            let problem = Problem::DisabledService((*child).to_owned());
                            findings.service(name, &child_field(&service.kind, index), problem, true);
                            break;
                        }
                    }
                }
                if child_nodes.len() != children.len() {
                    continue;
                }
                let reused = self.parents.get(name).filter(|p| {
                    p.definition == service.kind
                        && p.children.len() == child_nodes.len()
                        && p.children.iter().zip(&child_nodes).all(|(a, b)| a.same(b))
                });
                let node = match reused {
                    Some(previous) => previous.node.clone(),
                    None => match parent_node(name, &service.kind, &child_nodes) {
                        Ok(node) => node,
                        Err((field, problem)) => {
                            findings.service(name, &field, problem, true);
                            continue;
                        }
                    },
                };
                nodes.insert(name.clone(), node.clone());
                built.insert(
                    name.clone(),
                    CompiledParent {
                        definition: service.kind.clone(),
                        children: child_nodes,
                        node,
                    },
                );
            }
            if waiting.len() == before {
                waiting.iter().for_each(|name| {
                    attempted.insert(name);
                });
            }
            pending = waiting;
        }
        built
    }

    /// Builds every middleware, reusing the layers (and their state) of unchanged ones. Chains are built
    /// after their members; a middleware that fails to build is reported and left out.
    fn build_middlewares(
        &self,
        published: &Published,
        services: &HashMap<String, Node>,
        findings: &mut Findings<'_>,
    ) -> HashMap<String, CompiledMiddleware> {
        let definitions = &published.runtime.config.http.middlewares;
        let mut built: HashMap<String, CompiledMiddleware> = HashMap::new();
        let mut attempted: HashSet<&str> = HashSet::new();
        let mut pending: Vec<&String> = definitions.keys().collect();
        // Each round builds the middlewares that do not wait for a member not attempted yet (only chains
        // wait); validation has ruled out cycles, and a round without progress attempts the rest anyway.
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for name in pending {
                let definition = &definitions[name];
                if let Middleware::Chain(chain) = definition {
                    let member_pending = chain
                        .middlewares
                        .iter()
                        .any(|m| m != name && !attempted.contains(m.as_str()) && definitions.contains_key(m));
                    if member_pending {
                        waiting.push(name);
                        continue;
                    }
                }
                attempted.insert(name);
                let reusable = !matches!(definition, Middleware::Chain(_) | Middleware::Errors(_));
                if let Some(previous) = self
                    .middlewares
                    .get(name)
                    .filter(|p| reusable && p.definition == *definition)
                {
                    built.insert(name.clone(), previous.clone());
                    continue;
                }
                let resolver = Resolver {
                    services,
                    middlewares: &built,
                };
                let context = BuildContext::new(name)
                    .with_resolve(&resolver)
                    .with_plugins(&self.plugins);
                match switchyard_middleware::build(definition, &context) {
                    Ok(layer) => {
                        let compiled = CompiledMiddleware {
                            definition: definition.clone(),
                            layer,
                        };
                        built.insert(name.clone(), compiled);
                    }
                    Err(error) => {
                        let field = match error.field() {
                            "" => definition.kind().to_owned(),
                            field => format!("{}.{field}", definition.kind()),
                        };
                        findings.middleware(name, &field, Problem::Invalid(error.to_string()));
                    }
                }
            }
            if waiting.len() == before {
                // Only possible with a cycle, which validation reports; build them to report them.
                waiting.iter().for_each(|name| {
                    attempted.insert(name);
                });
            }
            pending = waiting;
        }
        built
    }

    /// What a router leads to: its service (or the API), behind the router's middlewares and then the
    /// service's own.
    fn handler(
        name: &str,
        router: &Router,
        stack: &Stack<'_>,
        services: &HashMap<String, Node>,
        middlewares: &HashMap<String, CompiledMiddleware>,
        findings: &mut Findings<'_>,
    ) -> Option<Handler> {
        #[cfg(not(feature = "tls"))]
        if router.tls.is_some() {
            let problem = Problem::Unsupported(
                "this build has no `tls` feature: the router only matches requests handed over as TLS".into(),
            );
            findings.router(name, "tls", problem, false);
        }
        let endpoint = if router.service == API_SERVICE {
            Handler::Api
        } else if router.service == NOOP_SERVICE {
            Handler::Noop
        } else {
            match services.get(&router.service) {
                Some(node) => Handler::Service(node.clone()),
                None => {
                    findings.router(name, "service", Problem::DisabledService(router.service.clone()), true);
                    return None;
                }
            }
        };
        if stack.is_empty() {
            return Some(endpoint);
        }
        let mut layers = Vec::with_capacity(stack.entry_point.len() + stack.router.len() + stack.service.len());
        for (index, middleware) in stack.entry_point.iter().enumerate() {
            let Some(compiled) = middlewares.get(middleware) else {
                let problem = Problem::Invalid(format!(
                    "middleware `{middleware}` from the entrypoint's http.middlewares[{index}] does not exist or is disabled"
                ));
                findings.router(name, "entryPoints", problem, true);
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
        layers.extend(
            stack
                .service
                .iter()
                .filter_map(|m| middlewares.get(m))
                .map(|c| c.layer.clone()),
        );
        let service = match endpoint {
            Handler::Service(node) => ServiceEndpoint::boxed(node),
            Handler::Noop => HttpService::new(NoopEndpoint),
            Handler::Api | Handler::Stack(_) => HttpService::new(ApiEndpoint),
        };
        Some(Handler::Stack(switchyard_middleware::chain(&layers, service)))
    }

    fn transport(&self, published: &Published, name: &str) -> TransportSettings {
        if name.is_empty() {
            return self.default_transport.clone();
        }
        published
            .runtime
            .config
            .http
            .servers_transports
            .get(name)
            .map_or_else(|| self.default_transport.clone(), TransportSettings::from_config)
    }

    /// The TLS client configuration of the transport `name` (the default one when empty), built once
    /// per compilation and kept across compilations while its definition does not change. A transport
    /// that cannot be built is reported once per compilation, under its own key path.
    fn client_tls(
        &self,
        published: &Published,
        name: &str,
        built: &mut HashMap<String, CompiledTls>,
        findings: &mut Findings<'_>,
    ) -> Result<ClientTls, TlsFailure> {
        if let Some(compiled) = built.get(name) {
            return compiled.built.clone();
        }
        let definition = match published.runtime.config.http.servers_transports.get(name) {
            Some(transport) if !name.is_empty() => transport,
            _ => &self.default_servers_transport,
        };
        let compiled = match self.client_tls.get(name).filter(|c| c.definition == *definition) {
            Some(previous) => previous.clone(),
            None => CompiledTls {
                definition: definition.clone(),
                built: ClientTls::from_config(definition),
            },
        };
        if let Err(failure) = &compiled.built {
            if !matches!(failure.problem, Problem::Unsupported(_)) {
                findings.transport(name, failure);
            }
        }
        built.insert(name.to_owned(), compiled.clone());
        compiled.built
    }

    /// The previous compilation of a service whose definition and transport did not change.
    fn reuse(
        &self,
        name: &str,
        definition: &LoadBalancerConfig,
        settings: &TransportSettings,
        tls: Option<&ClientTls>,
        pools: &mut HashMap<PoolKey, Arc<Pool>>,
    ) -> Option<CompiledService> {
        let previous = self.services.get(name)?;
        if previous.definition != *definition || previous.settings != *settings || previous.tls.as_ref() != tls {
            return None;
        }
        for (server, config) in previous.balancer.servers().iter().zip(&definition.servers) {
            let https = server.pool.origin().protocol() == Protocol::Https;
            let key = PoolKey {
                url: config.url.clone(),
                settings: settings.clone(),
                tls: tls.filter(|_| https).map(ClientTls::id),
            };
            pools.insert(key, Arc::clone(&server.pool));
        }
        Some(CompiledService {
            definition: definition.clone(),
            settings: settings.clone(),
            tls: tls.cloned(),
            balancer: Arc::clone(&previous.balancer),
        })
    }

    fn load_balancer(
        &self,
        name: &str,
        definition: &LoadBalancerConfig,
        settings: &TransportSettings,
        tls: Option<&ClientTls>,
        pools: &mut HashMap<PoolKey, Arc<Pool>>,
        findings: &mut Findings<'_>,
    ) -> Option<Arc<LoadBalancer>> {
        let mut servers = Vec::with_capacity(definition.servers.len());
        // Servers that stay in a changed service keep what the strategy learnt about them.
        let previous_stats: HashMap<&str, &Arc<ServerStats>> = self
            .services
            .get(name)
            .map(|p| {
                p.balancer
                    .servers()
                    .iter()
                    .map(|s| (s.url.as_str(), &s.stats))
                    .collect()
            })
            .unwrap_or_default();
        let probes_https = definition
            .health_check
            .as_ref()
            .is_some_and(|check| check.scheme.eq_ignore_ascii_case("https"));
        let mut targets = Vec::with_capacity(definition.servers.len());
        for (index, server) in definition.servers.iter().enumerate() {
            let field = format!("loadBalancer.servers[{index}].url");
            let origin = match Origin::parse(&server.url) {
                Ok(origin) => origin,
                Err(error) => {
                    findings.service(name, &field, Problem::Invalid(error.to_string()), true);
                    return None;
                }
            };
            let https = origin.protocol() == Protocol::Https;
            let target = match tls.filter(|_| https || probes_https).map(|t| t.target(origin.host())) {
                Some(Ok(target)) => Some(target),
                Some(Err(reason)) => {
                    findings.service(name, &field, Problem::Invalid(reason), true);
                    return None;
                }
                None => None,
            };
            targets.push(target.clone());
            let key = PoolKey {
                url: server.url.clone(),
                settings: settings.clone(),
                tls: tls.filter(|_| https).map(ClientTls::id),
            };
            let pool = pools
                .entry(key.clone())
                .or_insert_with(|| {
                    self.pools
                        .get(&key)
                        .cloned()
                        .unwrap_or_else(|| Pool::new(origin, settings.clone(), target.filter(|_| https)))
                })
                .clone();
            servers.push(Server {
                pool,
                url: server.url.clone(),
                weight: server.weight.unwrap_or(1),
                preserve_path: server.preserve_path,
                stats: previous_stats
                    .get(server.url.as_str())
                    .map_or_else(Arc::default, |s| Arc::clone(s)),
            });
        }
        let probes = match &definition.health_check {
            Some(check) => {
                let mut probes = Vec::with_capacity(definition.servers.len());
                for (server, target) in definition.servers.iter().zip(targets) {
                    match Probe::new(check, &server.url, target) {
                        Ok(probe) => probes.push(Some(probe)),
                        Err(error) => {
                            findings.service(
                                name,
                                "loadBalancer.healthCheck",
                                Problem::Invalid(error.to_string()),
                                true,
                            );
                            return None;
                        }
                    }
                }
                Some(probes)
            }
            None => None,
        };
        if probes.is_none() {
            // Without probes nothing would bring back a server a previous configuration took out.
            for server in &servers {
                server.stats.unbench();
                server.stats.set_up(true);
            }
        }
        let sticky = definition
            .sticky
            .as_ref()
            .and_then(|s| s.cookie.as_ref())
            .map(|cookie| Sticky::new(cookie, name, definition.servers.iter().map(|s| s.url.as_str())));
        let options = Options {
            strategy: definition.strategy,
            sticky,
            passive: definition
                .passive_health_check
                .as_ref()
                .map(|p| Passive::new(p, probes.is_some())),
            active_checks: probes.is_some(),
            pass_host_header: definition.pass_host_header,
        };
        let balancer = Arc::new(LoadBalancer::new(name, servers, options));
        if let (Some(probes), Some(check)) = (probes, &definition.health_check) {
            spawn_active(&balancer, probes, check);
        }
        Some(balancer)
    }
}

/// Where a load balancer needs TLS, as the key path to blame when it cannot have it: its first HTTPS
/// server, or its health check's `scheme: https`.
fn needs_tls(definition: &LoadBalancerConfig) -> Option<String> {
    let https = |url: &str| {
        url.get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    };
    if let Some(index) = definition.servers.iter().position(|s| https(&s.url)) {
        return Some(format!("loadBalancer.servers[{index}].url"));
    }
    definition
        .health_check
        .as_ref()
        .filter(|check| check.scheme.eq_ignore_ascii_case("https"))
        .map(|_| "loadBalancer.healthCheck.scheme".to_owned())
}

/// How a service is told that its transport cannot carry HTTPS: without the `tls` feature, at the HTTPS
/// server; otherwise at its `serversTransport`, naming the transport's fault.
fn transport_problem(transport: &str, field: String, failure: TlsFailure) -> (String, Problem) {
    if let Problem::Unsupported(_) = failure.problem {
        return (field, failure.problem);
    }
    let which = if transport.is_empty() {
        "the default serversTransport (static configuration)".to_owned()
    } else {
        format!("serversTransport `{transport}`")
    };
    let option = if failure.option.is_empty() {
        String::new()
    } else {
        format!("{}: ", failure.option)
    };
    let problem = Problem::Invalid(format!("{which} has invalid TLS settings: {option}{}", failure.problem));
    ("loadBalancer.serversTransport".to_owned(), problem)
}

/// The key path, below the service, of its `index`-th child reference.
fn child_field(kind: &ServiceKind, index: usize) -> String {
    match kind {
        ServiceKind::LoadBalancer(_) => String::new(),
        ServiceKind::Weighted(_) => format!("weighted.services[{index}]"),
        ServiceKind::HighestRandomWeight(_) => format!("highestRandomWeight.services[{index}]"),
        ServiceKind::Mirroring(_) if index == 0 => "mirroring.service".into(),
        ServiceKind::Mirroring(_) => format!("mirroring.mirrors[{}]", index - 1),
        ServiceKind::Failover(_) if index == 0 => "failover.service".into(),
        ServiceKind::Failover(_) => "failover.fallback".into(),
    }
}

/// Builds a service over `children` (in [`Service::referenced_services`] order).
fn parent_node(name: &str, kind: &ServiceKind, children: &[Node]) -> Result<Node, (String, Problem)> {
    let weighted = |services: &[switchyard_config::WeightedService],
                    rendezvous: bool,
                    sticky: Option<&switchyard_config::Sticky>,
                    health: bool| {
        let named: Vec<Child> = services
            .iter()
            .zip(children)
            .map(|(s, node)| Child {
                name: s.name.clone(),
                weight: s.weight,
                node: node.clone(),
            })
            .collect();
        let sticky = sticky
            .and_then(|s| s.cookie.as_ref())
            .map(|cookie| Sticky::new(cookie, name, services.iter().map(|s| s.name.as_str())));
        Node::Weighted(Arc::new(Weighted::new(name, named, rendezvous, sticky, health)))
    };
    Ok(match kind {
        ServiceKind::LoadBalancer(_) => unreachable!("load balancers are not parents"),
        ServiceKind::Weighted(w) => weighted(&w.services, false, w.sticky.as_ref(), w.health_check.is_some()),
        ServiceKind::HighestRandomWeight(h) => weighted(&h.services, true, None, h.health_check.is_some()),
        ServiceKind::Mirroring(m) => {
            let mirrors = m
                .mirrors
                .iter()
                .zip(&children[1..])
                .enumerate()
                .map(|(index, (mirror, node))| {
                    if mirror.percent > 100 {
                        return Err((
                            format!("mirroring.mirrors[{index}].percent"),
                            Problem::Invalid(format!("percent must be between 0 and 100, got {}", mirror.percent)),
                        ));
                    }
                    Ok(Mirror {
                        node: node.clone(),
                        percent: mirror.percent,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Node::Mirroring(Arc::new(Mirroring::new(
                name,
                children[0].clone(),
                mirrors,
                m.mirror_body,
                m.max_body_size,
                m.health_check.is_some(),
            )))
        }
        ServiceKind::Failover(f) => {
            check_failover_health(name, f, &children[0], &children[1])?;
            let on_status = match &f.errors {
                Some(errors) => {
                    let ranges = CodeRanges::parse(&errors.status, "status").map_err(|e| {
                        (
                            format!("failover.errors.{}", e.field()),
                            Problem::Invalid(e.to_string()),
                        )
                    })?;
                    Some((ranges, u64::try_from(errors.max_request_body_bytes).ok()))
                }
                None => None,
            };
            Node::Failover(Arc::new(Failover {
                name: name.to_owned(),
                main: children[0].clone(),
                fallback: children[1].clone(),
                on_status,
                checks_health: f.health_check.is_some(),
            }))
        }
    })
}

/// A failover leaves its main service only when told it is down, so, as in Traefik, the main service
/// must report its health (unless `errors` sends requests over by status); with `healthCheck` on the
/// failover, the fallback must report too.
fn check_failover_health(
    name: &str,
    failover: &switchyard_config::Failover,
    main: &Node,
    fallback: &Node,
) -> Result<(), (String, Problem)> {
    let by_status = failover.errors.as_ref().is_some_and(|e| !e.status.is_empty());
    let unhealthy = |field: &str, child: &str| {
        let problem = Problem::Invalid(format!(
            "cannot register {child} as updater for {name}: healthCheck not enabled in config for {child}, \
             so {name} could never fail over (give {child} a healthCheck{})",
            if field == "failover.service" {
                ", or failover.errors"
            } else {
                ""
            }
        ));
        (field.to_owned(), problem)
    };
    if !by_status && !main.reports_health() {
        return Err(unhealthy("failover.service", &failover.service));
    }
    if failover.health_check.is_some() && !fallback.reports_health() {
        return Err(unhealthy("failover.fallback", &failover.fallback));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::ServerHealthCheck;

    #[test]
    fn tls_is_needed_by_https_servers_and_https_probes() {
        let mut lb = LoadBalancerConfig::with_urls(["http://a:1", "HTTPS://b:2"]);
        assert_eq!(needs_tls(&lb).as_deref(), Some("loadBalancer.servers[1].url"));
        lb = LoadBalancerConfig::with_urls(["http://a:1"]);
        assert_eq!(needs_tls(&lb), None);
        lb.health_check = Some(ServerHealthCheck {
            scheme: "https".into(),
            ..ServerHealthCheck::default()
        });
        assert_eq!(needs_tls(&lb).as_deref(), Some("loadBalancer.healthCheck.scheme"));
    }

    #[test]
    fn transport_problems_name_the_transport_and_option() {
        let failure = |option: &str| TlsFailure {
            option: option.into(),
            problem: Problem::Invalid("`X` is not a cipher suite".into()),
        };
        let (field, problem) = transport_problem(
            "t@file",
            "loadBalancer.servers[0].url".into(),
            failure("cipherSuites[0]"),
        );
        assert_eq!(field, "loadBalancer.serversTransport");
        assert_eq!(
            problem.to_string(),
            "serversTransport `t@file` has invalid TLS settings: cipherSuites[0]: `X` is not a cipher suite"
        );
        let (_, problem) = transport_problem("", String::new(), failure(""));
        assert!(
            problem
                .to_string()
                .starts_with("the default serversTransport (static configuration)")
        );
        let unsupported = TlsFailure {
            option: String::new(),
            problem: Problem::Unsupported("no tls".into()),
        };
        let (field, _) = transport_problem("t", "loadBalancer.servers[0].url".into(), unsupported);
        assert_eq!(field, "loadBalancer.servers[0].url");
    }
}
