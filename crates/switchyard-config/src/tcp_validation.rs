//! Checking the merged `tcp` section: every reference resolves, every rule parses, every option is
//! one switchyard applies or is reported. What is broken is reported per element and left out.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use switchyard_rules::TcpRule;

use crate::merge::{DEFAULT_TLS_NAME, Merged};
use crate::report::{ConfigError, ElementReport, Problem, Status};
use crate::{TcpConfig, TcpLoadBalancer, TcpMiddleware, TcpRouter, TcpService, ValidationOptions};

/// The longest `send` and `expect` of a TCP health check.
pub const MAX_HEALTH_PAYLOAD: usize = 65_535;

/// The checked `tcp` section.
#[derive(Debug, Default)]
pub(crate) struct CheckedTcp {
    pub(crate) live: TcpConfig,
    pub(crate) disabled: TcpConfig,
    pub(crate) rules: BTreeMap<String, TcpRule>,
    pub(crate) service_order: Vec<String>,
    pub(crate) report: crate::TcpReport,
}

/// Checks the merged `tcp` section.
pub(crate) fn validate_tcp(merged: &Merged, options: &ValidationOptions) -> CheckedTcp {
    let mut check = TcpCheck {
        merged,
        tcp: &merged.config.tcp,
        out: CheckedTcp::default(),
        visiting: Vec::new(),
    };
    for name in check.tcp.services.keys() {
        check.service(name);
    }
    for (name, middleware) in &check.tcp.middlewares {
        let errors = check.middleware(name, middleware);
        let report = check.element_report(&format!("tcp.middlewares.{name}"), errors);
        check.out.report.middlewares.insert(name.clone(), report);
    }
    for (name, router) in &check.tcp.routers {
        check.router(name, router, options);
    }
    let out = &mut check.out;
    split(
        &out.report.services,
        &merged.config.tcp.services,
        &mut out.live.services,
        &mut out.disabled.services,
    );
    split(
        &out.report.middlewares,
        &merged.config.tcp.middlewares,
        &mut out.live.middlewares,
        &mut out.disabled.middlewares,
    );
    out.live.servers_transports = merged.config.tcp.servers_transports.clone();
    let services = &out.report.services;
    out.service_order
        .retain(|name| services[name].status != Status::Disabled);
    check.out
}

/// Puts each element in `live` or `disabled` by its report.
fn split<T: Clone>(
    reports: &BTreeMap<String, ElementReport>,
    all: &BTreeMap<String, T>,
    live: &mut BTreeMap<String, T>,
    disabled: &mut BTreeMap<String, T>,
) {
    for (name, report) in reports {
        let into = if report.status == Status::Disabled {
            &mut *disabled
        } else {
            &mut *live
        };
        into.insert(name.clone(), all[name].clone());
    }
}

/// One problem and whether it keeps the element from going live.
type Found = (ConfigError, bool);

struct TcpCheck<'a> {
    merged: &'a Merged,
    tcp: &'a TcpConfig,
    out: CheckedTcp,
    /// The services being checked, to name reference cycles.
    visiting: Vec<String>,
}

impl TcpCheck<'_> {
    fn error(&self, element: &str, field: &str, problem: Problem) -> ConfigError {
        let (provider, origin) = self.merged.origin_of(element);
        ConfigError {
            provider,
            origin,
            key_path: if field.is_empty() {
                element.to_owned()
            } else {
                format!("{element}.{field}")
            },
            problem,
        }
    }

    fn element_report(&self, element: &str, found: Vec<Found>) -> ElementReport {
        let (provider, origin) = self.merged.origin_of(element);
        let status = if found.iter().any(|(_, fatal)| *fatal) {
            Status::Disabled
        } else if found.is_empty() {
            Status::Enabled
        } else {
            Status::Warning
        };
        ElementReport {
            provider,
            origin,
            status,
            errors: found.into_iter().map(|(error, _)| error).collect(),
        }
    }

    /// Checks a service (after the services it refers to); returns whether it can go live.
    fn service(&mut self, name: &str) -> bool {
        if let Some(report) = self.out.report.services.get(name) {
            return report.status != Status::Disabled;
        }
        let Some(service) = self.tcp.services.get(name) else {
            return false;
        };
        self.visiting.push(name.to_owned());
        let element = format!("tcp.services.{name}");
        let mut found = Vec::new();
        match (&service.load_balancer, &service.weighted) {
            (Some(lb), None) => self.load_balancer(&element, lb, &mut found),
            (None, Some(_)) => self.weighted(&element, service, &mut found),
            _ => found.push((
                self.error(
                    &element,
                    "",
                    Problem::Invalid("a TCP service needs exactly one of `loadBalancer` and `weighted`".into()),
                ),
                true,
            )),
        }
        self.visiting.pop();
        let report = self.element_report(&element, found);
        let live = report.status != Status::Disabled;
        self.out.report.services.insert(name.to_owned(), report);
        self.out.service_order.push(name.to_owned());
        live
    }

    fn load_balancer(&self, element: &str, lb: &TcpLoadBalancer, found: &mut Vec<Found>) {
        for (index, server) in lb.servers.iter().enumerate() {
            if let Err(reason) = check_address(&server.address) {
                let field = format!("loadBalancer.servers[{index}].address");
                found.push((self.error(element, &field, Problem::Invalid(reason)), true));
            }
        }
        if let Some(proxy) = &lb.proxy_protocol {
            if !matches!(proxy.version, 1 | 2) {
                let problem = Problem::Invalid(format!(
                    "PROXY protocol version {} does not exist (1 or 2)",
                    proxy.version
                ));
                found.push((self.error(element, "loadBalancer.proxyProtocol.version", problem), true));
            }
        }
        if !lb.servers_transport.is_empty() && !self.tcp.servers_transports.contains_key(&lb.servers_transport) {
            let problem = Problem::MissingServersTransport(lb.servers_transport.clone());
            found.push((self.error(element, "loadBalancer.serversTransport", problem), true));
        }
        if let Some(check) = &lb.health_check {
            self.health_check(element, check, found);
        }
    }

    /// Values Traefik replaces by its defaults (with an error in its log) are reported the same way.
    fn health_check(&self, element: &str, check: &crate::TcpServerHealthCheck, found: &mut Vec<Found>) {
        let durations = [
            ("interval", Some(check.interval)),
            ("unhealthyInterval", check.unhealthy_interval),
            ("timeout", Some(check.timeout)),
        ];
        for (field, value) in durations {
            if value.is_some_and(|d| d.is_negative() || d.is_zero()) {
                let problem = Problem::Invalid("must be positive; the default applies".into());
                found.push((
                    self.error(element, &format!("loadBalancer.healthCheck.{field}"), problem),
                    false,
                ));
            }
        }
        for (field, value) in [("send", &check.send), ("expect", &check.expect)] {
            if value.len() > MAX_HEALTH_PAYLOAD {
                let problem = Problem::Invalid(format!("longer than {MAX_HEALTH_PAYLOAD} bytes; it is not used"));
                found.push((
                    self.error(element, &format!("loadBalancer.healthCheck.{field}"), problem),
                    false,
                ));
            }
        }
    }

    fn weighted(&mut self, element: &str, service: &TcpService, found: &mut Vec<Found>) {
        for child in service.referenced_services() {
            let problem = if self.visiting.iter().any(|v| v == child) {
                let start = self.visiting.iter().position(|v| v == child).unwrap_or(0);
                Problem::Cycle(format!("{} → {child}", self.visiting[start..].join(" → ")))
            } else if !self.tcp.services.contains_key(child) {
                Problem::MissingService(child.to_owned())
            } else if !self.service(child) {
                Problem::DisabledService(child.to_owned())
            } else {
                continue;
            };
            found.push((self.error(element, "weighted.services", problem), true));
        }
    }

    fn middleware(&self, name: &str, middleware: &TcpMiddleware) -> Vec<Found> {
        let element = format!("tcp.middlewares.{name}");
        let kinds = middleware.kinds();
        if kinds.len() != 1 {
            let problem = Problem::Invalid(format!(
                "a TCP middleware needs exactly one type (ipAllowList or inFlightConn), found {}",
                if kinds.is_empty() {
                    "none".to_owned()
                } else {
                    kinds.join(", ")
                }
            ));
            return vec![(self.error(&element, "", problem), true)];
        }
        let mut found = Vec::new();
        if let Some(list) = middleware.ip_allow_list.as_ref().or(middleware.ip_white_list.as_ref()) {
            let field = kinds[0];
            if list.source_range.is_empty() {
                let problem = Problem::Invalid("sourceRange is empty".into());
                found.push((self.error(&element, &format!("{field}.sourceRange"), problem), true));
            }
            for (index, range) in list.source_range.iter().enumerate() {
                if parse_range(range).is_none() {
                    let problem = Problem::Invalid(format!("`{range}` is not an IP address or CIDR"));
                    found.push((
                        self.error(&element, &format!("{field}.sourceRange[{index}]"), problem),
                        true,
                    ));
                }
            }
        }
        if let Some(limit) = &middleware.in_flight_conn {
            if limit.amount <= 0 {
                let problem = Problem::Invalid(format!("amount must be positive, got {}", limit.amount));
                found.push((self.error(&element, "inFlightConn.amount", problem), true));
            }
        }
        found
    }

    fn router(&mut self, name: &str, router: &TcpRouter, options: &ValidationOptions) {
        let element = format!("tcp.routers.{name}");
        let mut found = Vec::new();
        let rule = self.rule(&element, router, &mut found);
        self.router_references(&element, router, &mut found);
        let mut live_router = router.clone();
        if let Some(known) = &options.entry_points {
            live_router.entry_points.retain(|ep| known.contains(ep));
            for ep in router.entry_points.iter().filter(|ep| !known.contains(*ep)) {
                found.push((
                    self.error(&element, "entryPoints", Problem::MissingEntryPoint(ep.clone())),
                    false,
                ));
            }
            if !router.entry_points.is_empty() && live_router.entry_points.is_empty() {
                let problem = Problem::Invalid("none of the router's entryPoints exists".into());
                found.push((self.error(&element, "entryPoints", problem), true));
            }
        }
        let report = self.element_report(&element, found);
        match rule {
            Some(rule) if report.status != Status::Disabled => {
                self.out.rules.insert(name.to_owned(), rule);
                self.out.live.routers.insert(name.to_owned(), live_router);
            }
            _ => {
                self.out.disabled.routers.insert(name.to_owned(), router.clone());
            }
        }
        self.out.report.routers.insert(name.to_owned(), report);
    }

    /// The router's rule, parsed; a `HostSNI` other than `*` needs the router's `tls`, as in Traefik.
    fn rule(&self, element: &str, router: &TcpRouter, found: &mut Vec<Found>) -> Option<TcpRule> {
        if let Some(syntax) = router
            .rule_syntax
            .as_deref()
            .filter(|s| !matches!(*s, "" | "v3" | "default"))
        {
            found.push((
                self.error(element, "ruleSyntax", Problem::RuleSyntax(syntax.to_owned())),
                true,
            ));
            return None;
        }
        if router.rule.trim().is_empty() {
            found.push((self.error(element, "rule", Problem::EmptyRule), true));
            return None;
        }
        let rule = match TcpRule::parse(&router.rule) {
            Ok(rule) => rule,
            Err(error) => {
                found.push((self.error(element, "rule", Problem::Rule(error.to_string())), true));
                return None;
            }
        };
        if router.tls.is_none() && !rule.sni_domains().is_empty() {
            let problem =
                Problem::Invalid("a HostSNI matcher other than HostSNI(`*`) needs the router's `tls` section".into());
            found.push((self.error(element, "rule", problem), true));
            return None;
        }
        Some(rule)
    }

    /// The router's service, middlewares and TLS options must exist and be live.
    fn router_references(&self, element: &str, router: &TcpRouter, found: &mut Vec<Found>) {
        let service = match self.out.report.services.get(&router.service) {
            _ if router.service.is_empty() => Some(Problem::Invalid("no service given".into())),
            None => Some(Problem::MissingService(router.service.clone())),
            Some(r) if r.status == Status::Disabled => Some(Problem::DisabledService(router.service.clone())),
            Some(_) => None,
        };
        if let Some(problem) = service {
            found.push((self.error(element, "service", problem), true));
        }
        for (index, middleware) in router.middlewares.iter().enumerate() {
            let problem = match self.out.report.middlewares.get(middleware) {
                None => Problem::MissingMiddleware(middleware.clone()),
                Some(m) if m.status == Status::Disabled => Problem::DisabledMiddleware(middleware.clone()),
                Some(_) => continue,
            };
            found.push((self.error(element, &format!("middlewares[{index}]"), problem), true));
        }
        let Some(tls) = &router.tls else { return };
        let options = if tls.options.is_empty() {
            DEFAULT_TLS_NAME
        } else {
            &tls.options
        };
        if tls.passthrough && !tls.options.is_empty() {
            let problem = Problem::Invalid(
                "TLS options do not apply to a passthrough router, which does not terminate TLS".into(),
            );
            found.push((self.error(element, "tls.options", problem), false));
        } else if options != DEFAULT_TLS_NAME && !self.merged.config.tls.options.contains_key(options) {
            found.push((
                self.error(element, "tls.options", Problem::MissingTlsOptions(options.to_owned())),
                true,
            ));
        }
        // `certResolver` and `domains` are checked where certificates are ordered (the proxy, with the
        // static certificate resolvers at hand).
    }
}

/// A `host:port` address, as servers of TCP services have.
pub(crate) fn check_address(address: &str) -> Result<(), String> {
    let port = address
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty())
        .map(|(_, port)| port)
        .ok_or_else(|| format!("`{address}` is not host:port"))?;
    port.parse::<u16>()
        .map(|_| ())
        .map_err(|_| format!("`{address}` has no valid port"))
}

/// An IP address or CIDR of a `sourceRange`.
pub(crate) fn parse_range(range: &str) -> Option<IpNet> {
    match range.parse::<IpAddr>() {
        Ok(ip) => Some(IpNet::from(ip)),
        Err(_) => range.parse::<IpNet>().ok(),
    }
}
