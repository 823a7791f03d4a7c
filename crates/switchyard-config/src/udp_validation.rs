//! Checking the merged `udp` section: services resolve (servers are `host:port`, weighted services
//! name live services without loops) and routers name a live service and known entrypoints.

use crate::merge::Merged;
use crate::report::{ConfigError, ElementReport, Problem, Status};
use crate::tcp_validation::check_address;
use crate::{UdpConfig, UdpReport, UdpRouter, ValidationOptions};

/// The checked `udp` section.
#[derive(Debug, Default)]
pub(crate) struct CheckedUdp {
    pub(crate) live: UdpConfig,
    pub(crate) disabled: UdpConfig,
    pub(crate) service_order: Vec<String>,
    pub(crate) report: UdpReport,
}

/// Checks the merged `udp` section.
pub(crate) fn validate_udp(merged: &Merged, options: &ValidationOptions) -> CheckedUdp {
    let mut check = UdpCheck {
        merged,
        udp: &merged.config.udp,
        out: CheckedUdp::default(),
        visiting: Vec::new(),
    };
    for name in check.udp.services.keys() {
        check.service(name);
    }
    for (name, router) in &check.udp.routers {
        check.router(name, router, options);
    }
    let out = &mut check.out;
    for (name, report) in &out.report.services {
        if report.status != Status::Disabled {
            out.live
                .services
                .insert(name.clone(), merged.config.udp.services[name].clone());
        }
    }
    let services = &out.report.services;
    out.service_order
        .retain(|name| services[name].status != Status::Disabled);
    check.out
}

struct UdpCheck<'a> {
    merged: &'a Merged,
    udp: &'a UdpConfig,
    out: CheckedUdp,
    visiting: Vec<String>,
}

impl UdpCheck<'_> {
    fn error(&self, element: &str, field: &str, problem: Problem) -> ConfigError {
        let (provider, origin) = self.merged.origin_of(element);
        let key_path = if field.is_empty() {
            element.to_owned()
        } else {
            format!("{element}.{field}")
        };
        ConfigError {
            provider,
            origin,
            key_path,
            problem,
        }
    }

    fn report(&self, element: &str, errors: Vec<ConfigError>, fatal: bool) -> ElementReport {
        let (provider, origin) = self.merged.origin_of(element);
        let status = match (fatal, errors.is_empty()) {
            (true, _) => Status::Disabled,
            (false, true) => Status::Enabled,
            (false, false) => Status::Warning,
        };
        ElementReport {
            provider,
            origin,
            status,
            errors,
        }
    }

    /// Checks a service after those it refers to; returns whether it can go live.
    fn service(&mut self, name: &str) -> bool {
        if let Some(report) = self.out.report.services.get(name) {
            return report.status != Status::Disabled;
        }
        let Some(service) = self.udp.services.get(name) else {
            return false;
        };
        self.visiting.push(name.to_owned());
        let element = format!("udp.services.{name}");
        let mut errors = Vec::new();
        match (&service.load_balancer, &service.weighted) {
            (Some(lb), None) => {
                for (index, server) in lb.servers.iter().enumerate() {
                    if let Err(reason) = check_address(&server.address) {
                        let field = format!("loadBalancer.servers[{index}].address");
                        errors.push(self.error(&element, &field, Problem::Invalid(reason)));
                    }
                }
            }
            (None, Some(_)) => {
                for child in service.referenced_services() {
                    let problem = if let Some(start) = self.visiting.iter().position(|v| v == child) {
                        Problem::Cycle(format!("{} → {child}", self.visiting[start..].join(" → ")))
                    } else if !self.udp.services.contains_key(child) {
                        Problem::MissingService(child.to_owned())
                    } else if !self.service(child) {
                        Problem::DisabledService(child.to_owned())
                    } else {
                        continue;
                    };
                    errors.push(self.error(&element, "weighted.services", problem));
                }
            }
            _ => errors.push(self.error(
                &element,
                "",
                Problem::Invalid("a UDP service needs exactly one of `loadBalancer` and `weighted`".into()),
            )),
        }
        self.visiting.pop();
        let fatal = !errors.is_empty();
        let report = self.report(&element, errors, fatal);
        self.out.report.services.insert(name.to_owned(), report);
        self.out.service_order.push(name.to_owned());
        !fatal
    }

    fn router(&mut self, name: &str, router: &UdpRouter, options: &ValidationOptions) {
        let element = format!("udp.routers.{name}");
        let mut errors = Vec::new();
        let mut fatal = false;
        let service = match self.out.report.services.get(&router.service) {
            _ if router.service.is_empty() => Some(Problem::Invalid("no service given".into())),
            None => Some(Problem::MissingService(router.service.clone())),
            Some(r) if r.status == Status::Disabled => Some(Problem::DisabledService(router.service.clone())),
            Some(_) => None,
        };
        if let Some(problem) = service {
            errors.push(self.error(&element, "service", problem));
            fatal = true;
        }
        let mut live = router.clone();
        if let Some(known) = &options.entry_points {
            live.entry_points.retain(|ep| known.contains(ep));
            for ep in router.entry_points.iter().filter(|ep| !known.contains(*ep)) {
                errors.push(self.error(&element, "entryPoints", Problem::MissingEntryPoint(ep.clone())));
            }
            fatal |= !router.entry_points.is_empty() && live.entry_points.is_empty();
        }
        let report = self.report(&element, errors, fatal);
        if fatal {
            self.out.disabled.routers.insert(name.to_owned(), router.clone());
        } else {
            self.out.live.routers.insert(name.to_owned(), live);
        }
        self.out.report.routers.insert(name.to_owned(), report);
    }
}
