//! Compiling `loadBalancer` services: a pool of connections per server (shared by services that name
//! the same server with the same transport, and kept across reloads), the strategy, sticky cookies and
//! health checks. A service whose definition and transport did not change is kept whole, with the load
//! and health its servers have; a changed one keeps what it knew of the servers that stay.

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_config::{LoadBalancer as LoadBalancerConfig, Problem, ServerScheme, ServerUrl, Strategy};
use switchyard_middleware::HttpService;

use super::findings::Findings;
use crate::balancing::{BalancerFactory, Picker, ServerStats};
use crate::service::{ActiveChecks, BalancedService, Options, Passive, Probe, Server, Sticky, Watched, spawn_active};
use crate::upstream::{ClientTls, Origin, Pool, TlsTarget, TransportSettings};

/// The connections to one server under one transport.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    url: String,
    settings: TransportSettings,
    /// The build of the transport's TLS configuration ([`ClientTls::id`]), for HTTPS servers.
    tls: Option<u64>,
}

/// A compiled load balancer and what it was compiled from.
#[derive(Debug)]
struct Compiled {
    definition: LoadBalancerConfig,
    settings: TransportSettings,
    tls: Option<ClientTls>,
    balancer: Arc<BalancedService>,
}

/// The load balancers and pools of the live snapshot, kept for the next compilation.
#[derive(Debug, Default)]
pub(crate) struct Balancers {
    pools: HashMap<PoolKey, Arc<Pool>>,
    services: HashMap<String, Compiled>,
    /// Strategies of the embedder's own, by name.
    custom: HashMap<String, BalancerFactory>,
    /// What answers every server in process, for tests; `None` connects to the servers.
    in_process: Option<HttpService>,
}

/// What one compilation built, to keep for the next one.
#[derive(Debug, Default)]
pub(crate) struct BalancerRound {
    pools: HashMap<PoolKey, Arc<Pool>>,
    services: HashMap<String, Compiled>,
}

/// What a load balancer is compiled from.
pub(crate) struct Definition<'a> {
    pub(crate) name: &'a str,
    pub(crate) config: &'a LoadBalancerConfig,
    /// Its servers' URLs, as validation parsed them.
    pub(crate) urls: &'a [ServerUrl],
    pub(crate) settings: TransportSettings,
    pub(crate) tls: Option<ClientTls>,
}

/// Why a server cannot be compiled: the key path below the service, and the problem.
type Failure = (String, Problem);

impl Balancers {
    /// Registers strategies of the embedder's own, by the name configurations give as `strategy`.
    pub(crate) fn with_custom(mut self, custom: HashMap<String, BalancerFactory>) -> Self {
        self.custom = custom;
        self
    }

    /// Answers every server with `service`, in process.
    pub(crate) fn with_in_process(mut self, service: Option<HttpService>) -> Self {
        self.in_process = service;
        self
    }

    /// The load balancer of `definition`: the previous one when nothing it depends on changed, else a
    /// new one (reported and `None` when it cannot be built).
    pub(crate) fn build(
        &self,
        definition: Definition<'_>,
        round: &mut BalancerRound,
        findings: &mut Findings<'_>,
    ) -> Option<Arc<BalancedService>> {
        let name = definition.name;
        if let Some(kept) = self.reuse(&definition, round) {
            return Some(kept);
        }
        match self.compile(&definition, round) {
            Ok(balancer) => {
                let compiled = Compiled {
                    definition: definition.config.clone(),
                    settings: definition.settings,
                    tls: definition.tls,
                    balancer: Arc::clone(&balancer),
                };
                round.services.insert(name.to_owned(), compiled);
                Some(balancer)
            }
            Err((field, problem)) => {
                findings.service(name, &field, problem, true);
                None
            }
        }
    }

    /// Keeps this round's load balancers and pools; the others are dropped with the old snapshot.
    pub(crate) fn finish(&mut self, round: BalancerRound) {
        self.pools = round.pools;
        self.services = round.services;
    }

    /// The previous load balancer, when its definition and transport did not change.
    fn reuse(&self, definition: &Definition<'_>, round: &mut BalancerRound) -> Option<Arc<BalancedService>> {
        let previous = self.services.get(definition.name)?;
        let unchanged = previous.definition == *definition.config
            && previous.settings == definition.settings
            && previous.tls == definition.tls;
        if !unchanged {
            return None;
        }
        for (server, url) in previous.balancer.servers().iter().zip(definition.urls) {
            round
                .pools
                .insert(pool_key(definition, &server.url, url), Arc::clone(&server.pool));
        }
        let compiled = Compiled {
            definition: previous.definition.clone(),
            settings: previous.settings.clone(),
            tls: previous.tls.clone(),
            balancer: Arc::clone(&previous.balancer),
        };
        round.services.insert(definition.name.to_owned(), compiled);
        Some(Arc::clone(&previous.balancer))
    }

    /// A new load balancer: servers, strategy, sticky cookie, passive and active health.
    fn compile(&self, definition: &Definition<'_>, round: &mut BalancerRound) -> Result<Arc<BalancedService>, Failure> {
        if definition.urls.len() != definition.config.servers.len() {
            let problem = Problem::Invalid("the server URLs were not all checked".into());
            return Err(("loadBalancer.servers".into(), problem));
        }
        let targets = tls_targets(definition)?;
        let servers = self.servers(definition, &targets, round);
        let probes = probes(definition, &targets)?;
        if probes.is_none() {
            // Without probes nothing would bring back a server a previous configuration took out.
            for server in &servers {
                server.stats.unbench();
                server.stats.set_up(true);
            }
        }
        let name: Arc<str> = Arc::from(definition.name);
        let config = definition.config;
        let active = probes.and_then(|probes| active_checks(&name, &servers, probes, config));
        let options = Options {
            picker: self.picker(definition.name, &config.strategy, &servers)?,
            sticky: sticky(definition),
            passive: config
                .passive_health_check
                .as_ref()
                .map(|p| Passive::new(p, config.health_check.is_some())),
            active,
            pass_host_header: config.pass_host_header,
        };
        Ok(Arc::new(BalancedService::new(name, servers, options)))
    }

    /// The servers, each with its pool (this round's, the previous snapshot's, or a new one) and what
    /// the strategy learnt about it before, if it was there.
    fn servers(
        &self,
        definition: &Definition<'_>,
        targets: &[Option<TlsTarget>],
        round: &mut BalancerRound,
    ) -> Vec<Server> {
        let previous: HashMap<&str, &Arc<ServerStats>> = self
            .services
            .get(definition.name)
            .map(|p| p.balancer.servers().iter().map(|s| (&*s.url, &s.stats)).collect())
            .unwrap_or_default();
        let configured = definition.config.servers.iter().zip(definition.urls).zip(targets);
        configured
            .map(|((server, url), target)| {
                let pool = self.pool(definition, &server.url, url, target, round);
                Server {
                    pool,
                    url: Arc::from(server.url.as_str()),
                    weight: server.weight.unwrap_or(1),
                    preserve_path: server.preserve_path,
                    stats: previous
                        .get(server.url.as_str())
                        .map_or_else(Arc::default, |s| Arc::clone(s)),
                }
            })
            .collect()
    }

    /// A server's pool: this round's for the same origin and transport, the previous snapshot's, or a
    /// new one.
    fn pool(
        &self,
        definition: &Definition<'_>,
        configured: &str,
        url: &ServerUrl,
        target: &Option<TlsTarget>,
        round: &mut BalancerRound,
    ) -> Arc<Pool> {
        let key = pool_key(definition, configured, url);
        let pool = round.pools.entry(key.clone()).or_insert_with(|| {
            self.pools.get(&key).cloned().unwrap_or_else(|| {
                if let Some(service) = &self.in_process {
                    return Pool::in_process(Origin::from(url), service.clone(), Arc::from(configured));
                }
                let tls = target.clone().filter(|_| is_https(url));
                Pool::new(Origin::from(url), definition.settings.clone(), tls)
            })
        });
        Arc::clone(pool)
    }

    /// The strategy: a built-in one, or one registered under the name the configuration gives.
    fn picker(&self, service: &str, strategy: &Strategy, servers: &[Server]) -> Result<Picker, Failure> {
        let Strategy::Custom(custom) = strategy else {
            return Ok(Picker::new(strategy, servers));
        };
        match self.custom.get(custom) {
            Some(factory) => Ok(Picker::custom(factory.build(&servers))),
            None => {
                let mut known: Vec<&str> = self.custom.keys().map(String::as_str).collect();
                known.sort_unstable();
                let problem = Problem::Invalid(format!(
                    "unknown strategy `{custom}` for {service}: use wrr, p2c, hrw, leasttime{}",
                    known.iter().map(|k| format!(", {k}")).collect::<String>()
                ));
                Err(("loadBalancer.strategy".into(), problem))
            }
        }
    }
}

/// Starts the active health checks of a load balancer's servers, if it has any.
fn active_checks(
    name: &Arc<str>,
    servers: &[Server],
    probes: Vec<Probe>,
    config: &LoadBalancerConfig,
) -> Option<ActiveChecks> {
    let watched = servers
        .iter()
        .map(|s| Watched::new(Arc::clone(name), &s.url, Arc::clone(&s.stats)));
    let checks = config.health_check.as_ref()?;
    spawn_active(watched.zip(probes).collect(), checks)
}

/// The pool key of a server of `definition`.
fn pool_key(definition: &Definition<'_>, url: &str, parsed: &ServerUrl) -> PoolKey {
    PoolKey {
        url: url.to_owned(),
        settings: definition.settings.clone(),
        tls: definition.tls.as_ref().filter(|_| is_https(parsed)).map(ClientTls::id),
    }
}

fn is_https(url: &ServerUrl) -> bool {
    url.scheme() == ServerScheme::Https
}

/// The TLS settings of each server that speaks HTTPS or is probed over HTTPS.
fn tls_targets(definition: &Definition<'_>) -> Result<Vec<Option<TlsTarget>>, Failure> {
    let probes_https = definition
        .config
        .health_check
        .as_ref()
        .is_some_and(|check| check.scheme.eq_ignore_ascii_case("https"));
    let mut targets = Vec::with_capacity(definition.urls.len());
    for (index, url) in definition.urls.iter().enumerate() {
        let target = match definition.tls.as_ref().filter(|_| is_https(url) || probes_https) {
            Some(tls) => Some(
                tls.target(url.host())
                    .map_err(|reason| (format!("loadBalancer.servers[{index}].url"), Problem::Invalid(reason)))?,
            ),
            None => None,
        };
        targets.push(target);
    }
    Ok(targets)
}

/// Each server's probe, when the service has `healthCheck`.
fn probes(definition: &Definition<'_>, targets: &[Option<TlsTarget>]) -> Result<Option<Vec<Probe>>, Failure> {
    let Some(check) = &definition.config.health_check else {
        return Ok(None);
    };
    definition
        .urls
        .iter()
        .zip(targets)
        .map(|(url, target)| Probe::new(check, url, target.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|error| ("loadBalancer.healthCheck".into(), Problem::Invalid(error.to_string())))
}

/// The sticky cookie, when the service has one.
fn sticky(definition: &Definition<'_>) -> Option<Sticky> {
    let cookie = definition.config.sticky.as_ref()?.cookie.as_ref()?;
    let urls = definition.config.servers.iter().map(|s| s.url.as_str());
    Some(Sticky::new(cookie, definition.name, urls))
}
