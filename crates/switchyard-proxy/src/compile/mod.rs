//! Turning a checked configuration into a [`Snapshot`], in small steps, each keeping what did not change
//! for the next compilation:
//!
//! 1. services in the order validation hands over (children first): load balancers
//!    ([`balancers`], with their pools and transports from [`transports`]) and services over services
//!    ([`parents`]);
//! 2. middlewares, chains after their members ([`middlewares`]);
//! 3. TLS certificates and options per server name ([`tls`], with the `tls` feature);
//! 4. route tables and targets per entrypoint ([`routes`]), and the routers no request can reach
//!    there ([`shadows`]);
//! 5. TCP services, middlewares and routes per entrypoint ([`tcp`]);
//! 6. UDP services and the router of each UDP entrypoint ([`udp`]).
//!
//! What cannot be compiled is recorded in the snapshot's report ([`findings`]) and left out; the rest
//! goes live.

#[cfg(feature = "acme")]
mod acme;
mod balancers;
mod findings;
mod middlewares;
mod parents;
mod routes;
mod shadows;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
mod transports;
mod udp;

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_config::{Problem, Published, Service, ServiceKind};
use switchyard_middleware::{EncodedSet, Plugins};

use crate::balancing::BalancerFactory;
use crate::service::{BalancedService, Node};
use crate::snapshot::{EntryPointInfo, Snapshot};
use crate::upstream::{ClientTls, TransportSettings};
use balancers::{BalancerRound, Balancers, Definition};
use findings::Findings;
use middlewares::Middlewares;
use parents::{ParentRound, Parents};
use transports::{TransportRound, Transports, needs_tls, transport_problem};

/// The internal API service routers can name.
pub const API_SERVICE: &str = "api@internal";

/// The internal service that answers nothing (an empty 200), for routers whose middlewares always
/// answer themselves, such as the generated entrypoint redirections.
pub const NOOP_SERVICE: &str = "noop@internal";

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
    /// `http.tls.certResolver` and `http.tls.domains`: what routers without a `tls` section of their
    /// own order certificates with.
    #[cfg(feature = "acme")]
    pub(crate) acme: Option<(String, Vec<switchyard_config::TlsDomain>)>,
}

/// Compiles snapshots, keeping between them what is worth carrying over: connection pools, load
/// balancers and services over services whose definitions did not change, middleware layers (and
/// their state), TLS client configurations and certificates.
#[derive(Debug)]
pub(crate) struct Compiler {
    entry_points: Arc<[EntryPointInfo]>,
    /// What each entrypoint's static configuration adds to its routers.
    entry_defaults: Vec<EntryPointDefaults>,
    transports: Transports,
    balancers: Balancers,
    parents: Parents,
    middlewares: Middlewares,
    /// What TCP compilation keeps between snapshots.
    tcp: tcp::TcpState,
    /// The gateway's own services besides the API and `noop@internal` (`prometheus@internal`).
    internal: HashMap<String, switchyard_middleware::HttpService>,
    /// How the API answers.
    api: Arc<crate::snapshot::ApiSettings>,
    canary: Option<Arc<crate::canary::Canary>>,
    /// The last TLS state, whose certificates serve on when their files are caught half-written.
    #[cfg(feature = "tls")]
    server_tls: Option<Arc<crate::tls::TlsState>>,
    #[cfg(feature = "acme")]
    acme: Option<Arc<switchyard_acme::CertResolvers>>,
}

/// How a compiler is set up, besides the entrypoints.
#[derive(Debug, Default)]
pub(crate) struct CompilerOptions {
    /// The static `serversTransport`, for services that name no transport.
    pub(crate) default_transport: TransportSettings,
    pub(crate) default_servers_transport: switchyard_config::ServersTransport,
    /// Builds `plugin` middlewares.
    pub(crate) plugins: Plugins,
    /// Load-balancing strategies of the embedder's own, by name.
    pub(crate) balancers: HashMap<String, BalancerFactory>,
    /// The gateway's own services besides the API and `noop@internal`, by qualified name.
    pub(crate) internal: HashMap<String, switchyard_middleware::HttpService>,
    /// How the API answers (static `api`).
    pub(crate) api: crate::snapshot::ApiSettings,
    /// What answers every server in process instead of the network (tests).
    pub(crate) in_process: Option<switchyard_middleware::HttpService>,
    /// The canary, which every snapshot hands to the connections that record requests.
    pub(crate) canary: Option<Arc<crate::canary::Canary>>,
    /// The ACME certificate resolvers, told which names routers need on each compile.
    #[cfg(feature = "acme")]
    pub(crate) acme: Option<Arc<switchyard_acme::CertResolvers>>,
}

impl Compiler {
    pub(crate) fn new(
        entry_points: Arc<[EntryPointInfo]>,
        entry_defaults: Vec<EntryPointDefaults>,
        options: CompilerOptions,
    ) -> Self {
        Self {
            entry_points,
            entry_defaults,
            transports: Transports::new(options.default_transport, options.default_servers_transport),
            balancers: Balancers::default()
                .with_custom(options.balancers)
                .with_in_process(options.in_process),
            parents: Parents::default(),
            middlewares: Middlewares::new(options.plugins),
            tcp: tcp::TcpState::default(),
            internal: options.internal,
            api: Arc::new(options.api),
            canary: options.canary,
            #[cfg(feature = "tls")]
            server_tls: None,
            #[cfg(feature = "acme")]
            acme: options.acme,
        }
    }

    /// Compiles a published configuration. Elements the proxy cannot run are reported and left out;
    /// the rest goes live.
    pub(crate) fn compile(&mut self, published: Arc<Published>) -> Snapshot {
        let mut report = published.runtime.report.clone();
        let mut findings = Findings { report: &mut report };
        let mut nodes = self.services(&published, &mut findings);
        self.middlewares.build(&published, &nodes, &mut findings);
        drop_services_with_broken_middlewares(&published, &mut nodes, &self.middlewares, &mut findings);
        #[cfg(feature = "tls")]
        let tls = self.server_tls(&published, &mut findings);
        #[cfg(feature = "tls")]
        let tls_options = |router: &str, ep: usize| tls.router_options(router, ep);
        #[cfg(not(feature = "tls"))]
        let tls_options = |_: &str, _: usize| Some(0);
        let sources = routes::Sources {
            published: &published,
            entry_points: &self.entry_points,
            defaults: &self.entry_defaults,
            services: &nodes,
            middlewares: self.middlewares.built(),
            internal: &self.internal,
            tls_options: &tls_options,
        };
        let (tables, targets) = routes::build(&sources, &mut findings);
        shadows::report(&tables, &self.entry_points, &published, &mut findings);
        let tcp_sources = tcp::TcpSources {
            published: &published,
            entry_points: &self.entry_points,
            #[cfg(feature = "tls")]
            tls: &tls,
        };
        let tcp = tcp::build(&tcp_sources, &mut self.tcp, &mut findings);
        let udp = udp::build(&published, &self.entry_points, &mut findings);
        Snapshot {
            udp,
            generation: published.generation,
            tables,
            targets,
            tcp,
            balancers: balancers_of(&nodes),
            report,
            entry_points: Arc::clone(&self.entry_points),
            api: Arc::clone(&self.api),
            canary: self.canary.clone(),
            #[cfg(feature = "tls")]
            tls: Some(tls),
            published,
        }
    }

    /// The server side's TLS, kept to reuse what did not change next time.
    #[cfg(feature = "tls")]
    fn server_tls(&mut self, published: &Published, findings: &mut Findings<'_>) -> Arc<crate::tls::TlsState> {
        let tls = Arc::new(tls::build(
            published,
            &self.entry_points,
            &self.entry_defaults,
            self.server_tls.as_deref(),
            #[cfg(feature = "acme")]
            self.acme.as_deref(),
            findings,
        ));
        self.server_tls = Some(Arc::clone(&tls));
        tls
    }

    /// Every live service, children before parents, as validation orders them.
    fn services(&mut self, published: &Published, findings: &mut Findings<'_>) -> HashMap<String, Node> {
        let definitions = &published.runtime.config.http.services;
        let mut nodes = HashMap::with_capacity(definitions.len());
        let mut round = ServiceRound::default();
        for name in &published.runtime.service_order {
            let Some(service) = definitions.get(name) else { continue };
            if let Some(node) = self.service(published, name, service, &nodes, &mut round, findings) {
                nodes.insert(name.clone(), node);
            }
        }
        self.transports.finish(published, round.transports, findings);
        self.balancers.finish(round.balancers);
        self.parents.finish(round.parents);
        nodes
    }

    /// One service: a load balancer, or a service over `nodes` already built.
    fn service(
        &self,
        published: &Published,
        name: &str,
        service: &Service,
        nodes: &HashMap<String, Node>,
        round: &mut ServiceRound,
        findings: &mut Findings<'_>,
    ) -> Option<Node> {
        let ServiceKind::LoadBalancer(config) = &service.kind else {
            return self
                .parents
                .build(name, &service.kind, nodes, &mut round.parents, findings);
        };
        let transport = &config.servers_transport;
        let tls = match needs_tls(config) {
            None => None,
            Some(field) => Some(self.client_tls(published, name, transport, field, round, findings)?),
        };
        let definition = Definition {
            name,
            config,
            urls: published.runtime.server_urls.get(name).map_or(&[][..], Vec::as_slice),
            settings: self.transports.settings(published, transport),
            tls,
        };
        let balancer = self.balancers.build(definition, &mut round.balancers, findings)?;
        Some(Node::Balancer(balancer))
    }

    /// The client side's TLS for a load balancer whose `field` needs it; `None` (reported against that
    /// field) when the servers transport's TLS cannot be built.
    fn client_tls(
        &self,
        published: &Published,
        name: &str,
        transport: &str,
        field: String,
        round: &mut ServiceRound,
        findings: &mut Findings<'_>,
    ) -> Option<ClientTls> {
        let built = self
            .transports
            .client_tls(published, transport, &mut round.transports, findings);
        built
            .map_err(|failure| {
                let (field, problem) = transport_problem(transport, field, failure);
                findings.service(name, &field, problem, true);
            })
            .ok()
    }
}

/// The load balancers among the services, by name, for the API and the embedder.
fn balancers_of(nodes: &HashMap<String, Node>) -> HashMap<String, Arc<BalancedService>> {
    nodes
        .iter()
        .filter_map(|(name, node)| Some((name.clone(), Arc::clone(node.balancer()?))))
        .collect()
}

/// What one compilation of the services built, to keep for the next one.
#[derive(Debug, Default)]
struct ServiceRound {
    transports: TransportRound,
    balancers: BalancerRound,
    parents: ParentRound,
}

/// A service whose own middlewares could not be built cannot serve.
fn drop_services_with_broken_middlewares(
    published: &Published,
    nodes: &mut HashMap<String, Node>,
    middlewares: &Middlewares,
    findings: &mut Findings<'_>,
) {
    let built = middlewares.built();
    nodes.retain(|name, _| {
        let services = &published.runtime.config.http.services;
        let own = services.get(name).map_or(&[][..], |s| s.middlewares.as_slice());
        match own.iter().position(|m| !built.contains_key(m)) {
            Some(index) => {
                let problem = Problem::DisabledMiddleware(own[index].clone());
                findings.service(name, &format!("middlewares[{index}]"), problem, true);
                false
            }
            None => true,
        }
    });
}
