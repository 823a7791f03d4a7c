//! The compiled configuration that requests run through, and the handle that swaps it atomically.

use std::sync::Arc;

use arc_swap::ArcSwap;
use switchyard_config::{Published, Report};
use switchyard_rules::RouteTable;

use switchyard_middleware::{EncodedSet, HttpService};

use crate::service::{BalancedService, Node};

/// An immutable, compiled configuration: one route table per entrypoint (and per TLS-ness of the
/// connection), each route leading to a compiled service.
///
/// A request loads the current snapshot once and keeps it until its response ends, so a reload never
/// changes a request in flight; the previous snapshot is freed when its last request finishes.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) generation: u64,
    pub(crate) tables: Vec<EntryPointTables>,
    pub(crate) targets: Vec<Target>,
    /// The TCP routes of each entrypoint, by entrypoint index (empty when no entrypoint has any).
    pub(crate) tcp: Vec<crate::tcp::TcpRoutes>,
    /// The service of each UDP entrypoint's router, by entrypoint index.
    pub(crate) udp: Vec<Option<crate::udp::UdpService>>,
    pub(crate) published: Arc<Published>,
    pub(crate) report: Report,
    pub(crate) entry_points: Arc<[EntryPointInfo]>,
    /// How `api@internal` answers (static `api`).
    pub(crate) api: Arc<ApiSettings>,
    /// The compiled load balancers by service name, for the servers' health in the API.
    pub(crate) balancers: std::collections::HashMap<String, Arc<BalancedService>>,
    /// The canary that records requests and checks new configurations (static `canary`).
    pub(crate) canary: Option<Arc<crate::canary::Canary>>,
    /// Certificates and TLS options; `None` before the first configuration.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<crate::tls::TlsState>>,
}

/// The static `api` options that shape `api@internal`'s answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ApiSettings {
    /// Whether the dashboard's page is served (`api.dashboard`).
    pub(crate) dashboard: bool,
    /// `api.basePath` without its trailing `/`: empty for the root.
    pub(crate) base_path: String,
}

impl ApiSettings {
    /// The settings of a static `api` section; without one, what Traefik's defaults give.
    pub(crate) fn of(api: Option<&switchyard_config::Api>) -> Self {
        let defaults = switchyard_config::Api::default();
        let api = api.unwrap_or(&defaults);
        Self {
            dashboard: api.dashboard,
            base_path: api.base_path.trim_end_matches('/').to_owned(),
        }
    }
}

/// An entrypoint as the internal API describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct EntryPointInfo {
    /// Its name.
    pub(crate) name: String,
    /// The address it listens on, as bound (port 0 resolved).
    pub(crate) address: String,
    /// Whether it listens for UDP.
    #[serde(skip)]
    pub(crate) udp: bool,
    /// What its requests go through before routing (`http.sanitizePath`, `http.encodeQuerySemicolons`),
    /// for explaining a routing decision as the entrypoint makes it.
    #[serde(skip)]
    pub(crate) target: crate::request_path::TargetPolicy,
    /// `http.underscoreHeadersStrategy`, for the same.
    #[serde(skip)]
    pub(crate) underscores: crate::request_head::UnderscoreHeaders,
}

/// The routes of one entrypoint: routers with a `tls` section serve TLS connections only, the others
/// plain connections only, as in Traefik.
#[derive(Debug)]
pub(crate) struct EntryPointTables {
    pub(crate) plain: RouteTable<RouteTarget>,
    pub(crate) tls: RouteTable<RouteTarget>,
}

/// What a route leads to: a target, and (for routes served over TLS) the TLS options its router
/// resolved to, which the connection's handshake must have used (else 421, as in Traefik).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteTarget {
    pub(crate) target: u32,
    pub(crate) tls_options: u32,
    /// The encoded characters refused in the path: the entrypoint's `http.encodedCharacters`, or none
    /// when the router's middlewares include an `encodedCharacters` of their own.
    pub(crate) denied_encoded: EncodedSet,
}

/// What a route leads to.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) handler: Handler,
    /// The router's qualified name.
    pub(crate) router: Arc<str>,
    /// The router's `observability` switches, when it has the section.
    pub(crate) signals: Option<switchyard_middleware::Signals>,
    /// The qualified names of the middlewares in front of the service, outermost first (the
    /// entrypoint's, the router's, the service's), for explaining a routing decision.
    pub(crate) middlewares: Box<[String]>,
    /// The router's service, when it is a compiled one (also when middlewares wrap it), for the same.
    pub(crate) service: Option<Node>,
}

#[derive(Debug)]
pub(crate) enum Handler {
    /// A service.
    Service(Node),
    /// The internal API (`api@internal`).
    Api,
    /// `noop@internal`: an empty 200.
    Noop,
    /// Another of the gateway's own services (`prometheus@internal`).
    Internal(HttpService),
    /// A router's middlewares around its service (or the API).
    Stack(HttpService),
}

impl Snapshot {
    /// An empty snapshot: every request gets 404 until a configuration is compiled.
    pub(crate) fn empty(entry_points: Arc<[EntryPointInfo]>) -> Self {
        Self {
            generation: 0,
            tables: entry_points
                .iter()
                .map(|_| EntryPointTables {
                    plain: RouteTable::new([]),
                    tls: RouteTable::new([]),
                })
                .collect(),
            targets: Vec::new(),
            tcp: Vec::new(),
            udp: Vec::new(),
            published: Arc::new(Published::default()),
            report: Report::default(),
            entry_points,
            api: Arc::default(),
            balancers: std::collections::HashMap::new(),
            canary: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The aggregator generation this snapshot was compiled from (0 before the first configuration).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The status and errors of every router, service and middleware, including what compiling found
    /// (a service the proxy cannot run, say).
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The configuration this snapshot was compiled from, and the providers' statuses.
    pub fn published(&self) -> &Published {
        &self.published
    }

    /// How many routes an entrypoint serves, on plain and on TLS connections (routers with a `tls`
    /// section, or on an entrypoint with `http.tls`, serve TLS connections only, as in Traefik).
    ///
    /// ```
    /// # async fn run(gateway: switchyard_proxy::RunningGateway) {
    /// let routes = gateway.snapshot().route_count("web");
    /// println!("{} plain and {} TLS routes", routes.plain, routes.tls);
    /// # }
    /// ```
    pub fn route_count(&self, entry_point: &str) -> RouteCount {
        let tables = self
            .entry_points
            .iter()
            .position(|ep| ep.name == entry_point)
            .and_then(|i| self.tables.get(i));
        tables.map_or(RouteCount::default(), |t| RouteCount {
            plain: t.plain.len(),
            tls: t.tls.len(),
        })
    }

    /// How many TCP routers an entrypoint serves, on plain and on TLS connections.
    ///
    /// ```
    /// # async fn run(gateway: switchyard_proxy::RunningGateway) {
    /// let routes = gateway.snapshot().tcp_route_count("web");
    /// println!("{} plain and {} TLS TCP routes", routes.plain, routes.tls);
    /// # }
    /// ```
    pub fn tcp_route_count(&self, entry_point: &str) -> RouteCount {
        let routes = self
            .entry_points
            .iter()
            .position(|ep| ep.name == entry_point)
            .and_then(|i| self.tcp.get(i));
        routes.map_or(RouteCount::default(), |r| RouteCount {
            plain: r.plain.len(),
            tls: r.tls.len(),
        })
    }

    /// Whether a UDP entrypoint has a router whose service can take sessions.
    ///
    /// ```
    /// # async fn run(gateway: switchyard_proxy::RunningGateway) {
    /// assert!(gateway.snapshot().has_udp_route("dns"));
    /// # }
    /// ```
    pub fn has_udp_route(&self, entry_point: &str) -> bool {
        self.entry_points
            .iter()
            .position(|ep| ep.name == entry_point)
            .and_then(|i| self.udp.get(i))
            .is_some_and(Option::is_some)
    }

    pub(crate) fn table(&self, entry_point: usize, tls: bool) -> Option<&RouteTable<RouteTarget>> {
        let tables = self.tables.get(entry_point)?;
        Some(if tls { &tables.tls } else { &tables.plain })
    }
}

/// How many routes an entrypoint serves ([`Snapshot::route_count`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteCount {
    /// Routes for plain-text connections.
    pub plain: usize,
    /// Routes for TLS connections.
    pub tls: usize,
}

/// The shared pointer to the current snapshot: the control plane stores, the data plane loads.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotHandle(Arc<ArcSwap<Snapshot>>);

impl Default for SnapshotHandle {
    fn default() -> Self {
        Self::new(Snapshot::empty(Arc::from([])))
    }
}

impl SnapshotHandle {
    pub(crate) fn new(snapshot: Snapshot) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(snapshot)))
    }

    /// The current snapshot.
    pub(crate) fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    pub(crate) fn store(&self, snapshot: Arc<Snapshot>) {
        self.0.store(snapshot);
    }
}
