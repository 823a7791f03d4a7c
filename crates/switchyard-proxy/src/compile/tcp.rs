//! Compiling the `tcp` section: services (load balancers and weighted splits, with their dial
//! settings and backend TLS), middlewares (keeping `inFlightConn` counters of unchanged definitions
//! across reloads), and per entrypoint the TCP routes in the order they are tried.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ipnet::IpNet;
use switchyard_config::{
    Problem, Published, TcpLoadBalancer, TcpMiddleware as Definition, TcpRouter, TcpServerHealthCheck,
    TcpServersTransport,
};

use super::findings::Findings;
use crate::snapshot::EntryPointInfo;
use crate::tcp::{
    BackendTls, DialSettings, HealthCheck, InFlightConn, TargetTls, TcpBalancer, TcpMiddleware, TcpRoute, TcpRoutes,
    TcpServer, TcpService, TcpTarget, TcpWeighted, WeightedTurns, spawn_health_check,
};

/// The default of `dialKeepAlive` when it is 0, as Go's dialer has it.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What TCP compilation keeps from one snapshot to the next for elements whose definition did not
/// change: `inFlightConn` counters (a reload does not reset their limits) and load balancers (their
/// servers' health, their turn, their health-check task).
#[derive(Debug, Default)]
pub(crate) struct TcpState {
    in_flight: HashMap<String, (i64, Arc<InFlightConn>)>,
    balancers: HashMap<String, KeptBalancer>,
}

/// A load balancer with the definitions it was built from.
#[derive(Debug)]
struct KeptBalancer {
    definition: TcpLoadBalancer,
    transport: TcpServersTransport,
    balancer: Arc<TcpBalancer>,
}

/// What the TCP routes are built from.
pub(crate) struct TcpSources<'a> {
    pub(crate) published: &'a Published,
    pub(crate) entry_points: &'a [EntryPointInfo],
    /// The TLS side of the snapshot, for routers that terminate TLS.
    #[cfg(feature = "tls")]
    pub(crate) tls: &'a crate::tls::TlsState,
}

/// The TCP routes of every entrypoint (an empty list when there are none at all).
pub(crate) fn build(sources: &TcpSources<'_>, state: &mut TcpState, findings: &mut Findings<'_>) -> Vec<TcpRoutes> {
    let tcp = &sources.published.runtime.config.tcp;
    if tcp.routers.is_empty() {
        state.in_flight.clear();
        state.balancers.clear();
        return Vec::new();
    }
    let services = state.services(sources.published, findings);
    let middlewares = state.middlewares(sources.published);
    let mut routes: Vec<TcpRoutes> = sources.entry_points.iter().map(|_| TcpRoutes::default()).collect();
    for (name, router) in &tcp.routers {
        let Some(rule) = sources.published.runtime.tcp_rules.get(name) else {
            continue;
        };
        let priority = if router.priority == 0 {
            rule.default_priority()
        } else {
            router.priority
        };
        let Some(serving) =
            super::routes::stream_entry_points(sources.entry_points, &router.entry_points, |field, problem, fatal| {
                findings.tcp_router(name, field, problem, fatal);
            })
        else {
            continue;
        };
        let Some(target) = target(sources, name, router, &services, &middlewares, findings) else {
            continue;
        };
        let target = Arc::new(target);
        for ep in serving {
            let route = TcpRoute {
                rule: rule.clone(),
                priority,
                target: Arc::clone(&target),
            };
            match router.tls {
                None => routes[ep].plain.push(route),
                Some(_) => routes[ep].tls.push(route),
            }
        }
    }
    routes.iter_mut().for_each(TcpRoutes::sort);
    routes
}

/// A router's target; `None` (reported) when its service, a middleware or its TLS cannot serve.
fn target(
    sources: &TcpSources<'_>,
    name: &str,
    router: &TcpRouter,
    services: &HashMap<String, TcpService>,
    middlewares: &HashMap<String, TcpMiddleware>,
    findings: &mut Findings<'_>,
) -> Option<TcpTarget> {
    let Some(service) = services.get(&router.service) else {
        findings.tcp_router(name, "service", Problem::DisabledService(router.service.clone()), true);
        return None;
    };
    let mut chain = Vec::with_capacity(router.middlewares.len());
    for (index, middleware) in router.middlewares.iter().enumerate() {
        let Some(built) = middlewares.get(middleware) else {
            let problem = Problem::DisabledMiddleware(middleware.clone());
            findings.tcp_router(name, &format!("middlewares[{index}]"), problem, true);
            return None;
        };
        chain.push(built.clone());
    }
    let tls = match &router.tls {
        None => TargetTls::Plain,
        Some(tls) if tls.passthrough => TargetTls::Passthrough,
        Some(tls) => terminate(sources, name, &tls.options, findings)?,
    };
    Some(TcpTarget {
        router: Arc::from(name),
        middlewares: chain,
        service: service.clone(),
        tls,
    })
}

/// TLS termination with the router's options over the entrypoints' certificates.
#[cfg(feature = "tls")]
fn terminate(sources: &TcpSources<'_>, name: &str, options: &str, findings: &mut Findings<'_>) -> Option<TargetTls> {
    let options = if options.is_empty() {
        switchyard_tls::DEFAULT_OPTIONS
    } else {
        options
    };
    match sources.tls.server.id(options) {
        Some(id) => Some(TargetTls::Terminate(Arc::clone(sources.tls.server.config(id)))),
        None => {
            let problem = Problem::Invalid(format!(
                "TLS options `{options}` are invalid (see tls.options.{options}); the router is off"
            ));
            findings.tcp_router(name, "tls.options", problem, true);
            None
        }
    }
}

/// Without the `tls` feature no router terminates TLS.
#[cfg(not(feature = "tls"))]
fn terminate(_sources: &TcpSources<'_>, name: &str, _options: &str, findings: &mut Findings<'_>) -> Option<TargetTls> {
    let problem =
        Problem::Unsupported("terminating TLS needs switchyard's `tls` feature, which this build does not have".into());
    findings.tcp_router(name, "tls", problem, true);
    None
}

impl TcpState {
    /// Every live TCP middleware, built; `inFlightConn` counters are kept while their amount is unchanged.
    fn middlewares(&mut self, published: &Published) -> HashMap<String, TcpMiddleware> {
        let definitions = &published.runtime.config.tcp.middlewares;
        let mut kept = HashMap::new();
        let mut built = HashMap::with_capacity(definitions.len());
        for (name, definition) in definitions {
            let middleware = match definition {
                Definition {
                    in_flight_conn: Some(limit),
                    ..
                } => {
                    let counter = match self.in_flight.remove(name) {
                        Some((amount, counter)) if amount == limit.amount => counter,
                        _ => Arc::new(InFlightConn::new(u32::try_from(limit.amount).unwrap_or(u32::MAX))),
                    };
                    kept.insert(name.clone(), (limit.amount, Arc::clone(&counter)));
                    TcpMiddleware::InFlightConn(counter)
                }
                _ => {
                    let list = definition.ip_allow_list.as_ref().or(definition.ip_white_list.as_ref());
                    let ranges = list.map_or(&[][..], |l| l.source_range.as_slice());
                    TcpMiddleware::IpAllowList(ranges.iter().filter_map(|r| parse_range(r)).collect())
                }
            };
            built.insert(name.clone(), middleware);
        }
        self.in_flight = kept;
        built
    }
}

/// An IP address or CIDR (validation already refused the others).
fn parse_range(range: &str) -> Option<IpNet> {
    match range.parse::<std::net::IpAddr>() {
        Ok(ip) => Some(IpNet::from(ip.to_canonical())),
        Err(_) => range.parse::<IpNet>().ok().map(|net| net.trunc()),
    }
}

impl TcpState {
    /// Every live TCP service, children before parents; those that cannot be built are reported.
    fn services(&mut self, published: &Published, findings: &mut Findings<'_>) -> HashMap<String, TcpService> {
        let tcp = &published.runtime.config.tcp;
        let mut built: HashMap<String, TcpService> = HashMap::new();
        let mut kept = HashMap::new();
        for name in &published.runtime.tcp_service_order {
            let Some(definition) = tcp.services.get(name) else {
                continue;
            };
            let service = if let Some(lb) = &definition.load_balancer {
                self.balancer(published, name, lb, &mut kept, findings)
            } else if let Some(weighted) = &definition.weighted {
                weighted_service(name, weighted, &built, findings)
            } else {
                None
            };
            if let Some(service) = service {
                built.insert(name.clone(), service);
            }
        }
        self.balancers = kept;
        built
    }

    /// A load balancer: the previous one while its definition and transport are unchanged, else a new
    /// one (with its health-check task).
    fn balancer(
        &mut self,
        published: &Published,
        name: &str,
        lb: &TcpLoadBalancer,
        kept: &mut HashMap<String, KeptBalancer>,
        findings: &mut Findings<'_>,
    ) -> Option<TcpService> {
        let transports = &published.runtime.config.tcp.servers_transports;
        let named = (!lb.servers_transport.is_empty())
            .then(|| transports.get(&lb.servers_transport))
            .flatten();
        let transport = named.cloned().unwrap_or_default();
        let balancer = match self.balancers.remove(name) {
            Some(previous) if previous.definition == *lb && previous.transport == transport => previous.balancer,
            _ => {
                let balancer = Arc::new(balancer(name, lb, &transport, named.is_some(), findings)?);
                if let Some(check) = &lb.health_check {
                    spawn_health_check(&balancer, compiled_health_check(check));
                }
                balancer
            }
        };
        kept.insert(
            name.to_owned(),
            KeptBalancer {
                definition: lb.clone(),
                transport,
                balancer: Arc::clone(&balancer),
            },
        );
        Some(TcpService::Balancer(balancer))
    }
}

/// A health check's settings, Traefik's defaults in place of values that are not positive.
fn compiled_health_check(check: &TcpServerHealthCheck) -> HealthCheck {
    let defaults = TcpServerHealthCheck::default();
    let positive = |d: switchyard_config::Duration| d.to_std().filter(|d| !d.is_zero());
    let interval = positive(check.interval)
        .or(positive(defaults.interval))
        .unwrap_or(Duration::from_secs(30));
    let payload = |text: &str| -> Box<[u8]> {
        if text.len() > switchyard_config::MAX_HEALTH_PAYLOAD {
            Box::default()
        } else {
            text.as_bytes().into()
        }
    };
    HealthCheck {
        port: (check.port != 0).then_some(check.port),
        send: payload(&check.send),
        expect: payload(&check.expect),
        interval,
        unhealthy_interval: check.unhealthy_interval.and_then(positive).unwrap_or(interval),
        timeout: positive(check.timeout)
            .or(positive(defaults.timeout))
            .unwrap_or(Duration::from_secs(5)),
    }
}

fn weighted_service(
    name: &str,
    weighted: &switchyard_config::TcpWeighted,
    built: &HashMap<String, TcpService>,
    findings: &mut Findings<'_>,
) -> Option<TcpService> {
    let mut services = Vec::with_capacity(weighted.services.len());
    for child in &weighted.services {
        let Some(service) = built.get(&child.name) else {
            findings.tcp_service(
                name,
                "weighted.services",
                Problem::DisabledService(child.name.clone()),
                true,
            );
            return None;
        };
        services.push(service.clone());
    }
    let turns = WeightedTurns::new(weighted.services.iter().map(|s| s.weight).collect());
    Some(TcpService::Weighted(Arc::new(TcpWeighted {
        services,
        turns,
        follows_health: weighted.health_check.is_some(),
    })))
}

/// A load balancer with its dial settings and, for servers with `tls: true`, the backend TLS.
fn balancer(
    name: &str,
    lb: &TcpLoadBalancer,
    transport: &TcpServersTransport,
    named: bool,
    findings: &mut Findings<'_>,
) -> Option<TcpBalancer> {
    let dial = dial_settings(name, lb, transport, named, findings);
    let mut servers = Vec::with_capacity(lb.servers.len());
    for (index, server) in lb.servers.iter().enumerate() {
        let tls = if server.tls {
            let field = format!("loadBalancer.servers[{index}].tls");
            Some(
                backend_tls(transport, &server.address)
                    .map_err(|problem| findings.tcp_service(name, &field, problem, true))
                    .ok()?,
            )
        } else {
            None
        };
        servers.push(TcpServer {
            address: server.address.clone(),
            tls,
        });
    }
    let turns = WeightedTurns::new(vec![1; servers.len()]);
    Some(TcpBalancer {
        up: servers.iter().map(|_| AtomicBool::new(true)).collect(),
        servers,
        turns,
        dial: Arc::new(dial),
    })
}

/// The transport's settings; a load balancer without a transport uses the default one with its own
/// deprecated `terminationDelay` and `proxyProtocol`, which a named transport overrides (reported).
fn dial_settings(
    name: &str,
    lb: &TcpLoadBalancer,
    transport: &TcpServersTransport,
    named: bool,
    findings: &mut Findings<'_>,
) -> DialSettings {
    let mut settings = DialSettings {
        timeout: transport.dial_timeout.to_std().filter(|d| !d.is_zero()),
        keep_alive: match transport.dial_keep_alive.to_std() {
            Some(d) if d.is_zero() => Some(DEFAULT_KEEP_ALIVE),
            other => other,
        },
        termination_delay: transport.termination_delay.to_std(),
        proxy_protocol: transport.proxy_protocol.map(|p| p.version),
    };
    let deprecated = [
        ("loadBalancer.terminationDelay", lb.termination_delay.is_some()),
        ("loadBalancer.proxyProtocol", lb.proxy_protocol.is_some()),
    ];
    if named {
        for (field, _) in deprecated.iter().filter(|(_, set)| *set) {
            let problem =
                Problem::Invalid("ignored: the service's serversTransport decides this, as in Traefik".into());
            findings.tcp_service(name, field, problem, false);
        }
        return settings;
    }
    if let Some(millis) = lb.termination_delay {
        settings.termination_delay = u64::try_from(millis).ok().map(Duration::from_millis);
    }
    if let Some(proxy) = lb.proxy_protocol {
        settings.proxy_protocol = Some(proxy.version);
    }
    settings
}

/// TLS towards a server at `address` with the transport's `tls` settings (system roots without them).
#[cfg(feature = "tls")]
fn backend_tls(transport: &TcpServersTransport, address: &str) -> Result<BackendTls, Problem> {
    let tls = transport.tls.clone().unwrap_or_default();
    let settings = switchyard_config::ServersTransport {
        server_name: tls.server_name,
        insecure_skip_verify: tls.insecure_skip_verify,
        root_cas: tls.root_cas,
        certificates: tls.certificates,
        peer_cert_uri: tls.peer_cert_uri,
        spiffe: tls.spiffe,
        ..switchyard_config::ServersTransport::default()
    };
    let failed = |error: switchyard_tls::TlsError| Problem::Invalid(error.to_string());
    let shared = switchyard_tls::client_config(&settings).map_err(failed)?;
    let mut config = rustls::ClientConfig::clone(&shared);
    // The bytes are the client's: offering a protocol would be a promise switchyard cannot keep.
    config.alpn_protocols.clear();
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = switchyard_tls::server_name(&settings, host).map_err(failed)?;
    Ok(BackendTls {
        connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        server_name,
    })
}

/// Without the `tls` feature no server is reached over TLS.
#[cfg(not(feature = "tls"))]
fn backend_tls(_transport: &TcpServersTransport, _address: &str) -> Result<BackendTls, Problem> {
    Err(Problem::Unsupported(
        "TLS to servers needs switchyard's `tls` feature, which this build does not have".into(),
    ))
}
