//! Turning a checked configuration into a [`Snapshot`], reusing what did not change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use switchyard_config::{
    ConfigError, ElementReport, LoadBalancer as LoadBalancerConfig, Problem, Published, Report, Router, ServiceKind,
    Status, Strategy,
};
use switchyard_rules::{Route, RouteTable};

use crate::service::{LoadBalancer, Server};
use crate::snapshot::{EntryPointInfo, EntryPointTables, Handler, Snapshot, Target};
use crate::upstream::{Origin, Pool, Protocol, TransportSettings};

/// The internal API service routers can name.
pub const API_SERVICE: &str = "api@internal";

/// Compiles snapshots and keeps, between them, the state worth carrying over: connection pools by
/// server and transport, and whole load balancers whose definition did not change.
#[derive(Debug)]
pub(crate) struct Compiler {
    entry_points: Arc<[EntryPointInfo]>,
    /// Entry points whose every router is served over TLS (`http.tls` in the static configuration).
    tls_entry_points: Vec<bool>,
    default_transport: TransportSettings,
    pools: HashMap<PoolKey, Arc<Pool>>,
    services: HashMap<String, CompiledService>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    url: String,
    settings: TransportSettings,
}

#[derive(Debug)]
struct CompiledService {
    definition: LoadBalancerConfig,
    settings: TransportSettings,
    balancer: Arc<LoadBalancer>,
}

/// Records problems found while compiling into the report.
struct Findings<'r> {
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

    fn router(&mut self, name: &str, field: &str, problem: Problem, fatal: bool) {
        Self::record(&mut self.report.routers, "routers", name, field, problem, fatal);
    }
}

impl Compiler {
    pub(crate) fn new(
        entry_points: Arc<[EntryPointInfo]>,
        tls_entry_points: Vec<bool>,
        default_transport: TransportSettings,
    ) -> Self {
        Self {
            entry_points,
            tls_entry_points,
            default_transport,
            pools: HashMap::new(),
            services: HashMap::new(),
        }
    }

    /// Compiles a published configuration. Elements the proxy cannot run are reported and left out;
    /// the rest goes live.
    pub(crate) fn compile(&mut self, published: Arc<Published>) -> Snapshot {
        let mut report = published.runtime.report.clone();
        let mut findings = Findings { report: &mut report };
        let mut pools = HashMap::new();
        let mut services = HashMap::new();
        let http = &published.runtime.config.http;
        for (name, service) in &http.services {
            let ServiceKind::LoadBalancer(definition) = &service.kind else {
                let problem = Problem::Unsupported(format!(
                    "`{}` services are not supported yet; use a `loadBalancer` service",
                    service.kind.name()
                ));
                findings.service(name, service.kind.name(), problem, true);
                continue;
            };
            if !service.middlewares.is_empty() {
                let problem = Problem::Unsupported("service middlewares are not applied yet".into());
                findings.service(name, "middlewares", problem, true);
                continue;
            }
            let settings = self.transport(&published, &definition.servers_transport);
            if let Some(compiled) = self.reuse(name, definition, &settings, &mut pools) {
                services.insert(name.clone(), compiled);
                continue;
            }
            match self.load_balancer(name, definition, &settings, &mut pools, &mut findings) {
                Some(balancer) => {
                    services.insert(
                        name.clone(),
                        CompiledService {
                            definition: definition.clone(),
                            settings,
                            balancer: Arc::new(balancer),
                        },
                    );
                }
                None => continue,
            }
        }

        // Per entrypoint: routes for plain connections, routes for TLS connections.
        let mut routes: Vec<[Vec<Route<u32>>; 2]> =
            self.entry_points.iter().map(|_| [Vec::new(), Vec::new()]).collect();
        let mut targets = Vec::new();
        for (name, router) in &http.routers {
            let Some(handler) = self.handler(name, router, &services, &mut findings) else {
                continue;
            };
            let Some(rule) = published.runtime.rules.get(name) else {
                continue;
            };
            let index = u32::try_from(targets.len()).unwrap_or(u32::MAX);
            targets.push(Target { handler });
            for entry_point in &router.entry_points {
                let Some(ep) = self.entry_points.iter().position(|e| &e.name == entry_point) else {
                    continue;
                };
                let mut route = Route::new(name.as_str(), rule.clone(), index);
                if router.priority != 0 {
                    route = route.with_priority(router.priority);
                }
                let tls = router.tls.is_some() || self.tls_entry_points[ep];
                routes[ep][usize::from(tls)].push(route);
            }
        }
        self.pools = pools;
        self.services = services;
        Snapshot {
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
            entry_points: Arc::clone(&self.entry_points),
        }
    }

    fn handler(
        &self,
        name: &str,
        router: &Router,
        services: &HashMap<String, CompiledService>,
        findings: &mut Findings<'_>,
    ) -> Option<Handler> {
        if !router.middlewares.is_empty() {
            let problem = Problem::Unsupported("router middlewares are not applied yet".into());
            findings.router(name, "middlewares", problem, true);
            return None;
        }
        if router.tls.is_some() {
            let problem = Problem::Unsupported("TLS is not served yet: the router only matches TLS connections".into());
            findings.router(name, "tls", problem, false);
        }
        if router.service == API_SERVICE {
            return Some(Handler::Api);
        }
        match services.get(&router.service) {
            Some(compiled) => Some(Handler::Service(Arc::clone(&compiled.balancer))),
            None => {
                findings.router(name, "service", Problem::DisabledService(router.service.clone()), true);
                None
            }
        }
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

    /// The previous compilation of a service whose definition and transport did not change.
    fn reuse(
        &self,
        name: &str,
        definition: &LoadBalancerConfig,
        settings: &TransportSettings,
        pools: &mut HashMap<PoolKey, Arc<Pool>>,
    ) -> Option<CompiledService> {
        let previous = self.services.get(name)?;
        if previous.definition != *definition || previous.settings != *settings {
            return None;
        }
        for (server, config) in previous.balancer.servers().iter().zip(&definition.servers) {
            let key = PoolKey {
                url: config.url.clone(),
                settings: settings.clone(),
            };
            pools.insert(key, Arc::clone(&server.pool));
        }
        Some(CompiledService {
            definition: definition.clone(),
            settings: settings.clone(),
            balancer: Arc::clone(&previous.balancer),
        })
    }

    fn load_balancer(
        &self,
        name: &str,
        definition: &LoadBalancerConfig,
        settings: &TransportSettings,
        pools: &mut HashMap<PoolKey, Arc<Pool>>,
        findings: &mut Findings<'_>,
    ) -> Option<LoadBalancer> {
        let mut servers = Vec::with_capacity(definition.servers.len());
        for (index, server) in definition.servers.iter().enumerate() {
            let field = format!("loadBalancer.servers[{index}].url");
            let origin = match Origin::parse(&server.url) {
                Ok(origin) => origin,
                Err(error) => {
                    findings.service(name, &field, Problem::Invalid(error.to_string()), true);
                    return None;
                }
            };
            if origin.protocol() == Protocol::Https {
                let problem = Problem::Unsupported("HTTPS backends are not supported yet (they come with TLS)".into());
                findings.service(name, &field, problem, true);
                return None;
            }
            let key = PoolKey {
                url: server.url.clone(),
                settings: settings.clone(),
            };
            let pool = pools
                .entry(key.clone())
                .or_insert_with(|| {
                    self.pools
                        .get(&key)
                        .cloned()
                        .unwrap_or_else(|| Pool::new(origin, settings.clone()))
                })
                .clone();
            servers.push(Server {
                pool,
                weight: server.weight.unwrap_or(1),
                preserve_path: server.preserve_path,
            });
        }
        let unsupported = [
            (
                definition.strategy != Strategy::Wrr,
                "strategy",
                "only `wrr` is implemented yet; wrr is used",
            ),
            (
                definition.sticky.is_some(),
                "sticky",
                "sticky sessions are not implemented yet; ignored",
            ),
            (
                definition.health_check.is_some(),
                "healthCheck",
                "active health checks are not implemented yet; ignored",
            ),
            (
                definition.passive_health_check.is_some(),
                "passiveHealthCheck",
                "passive health checks are not implemented yet; ignored",
            ),
        ];
        for (field, message) in unsupported.iter().filter(|(on, ..)| *on).map(|(_, f, m)| (f, m)) {
            findings.service(
                name,
                &format!("loadBalancer.{field}"),
                Problem::Unsupported((*message).into()),
                false,
            );
        }
        Some(LoadBalancer::new(servers, definition.pass_host_header))
    }
}
