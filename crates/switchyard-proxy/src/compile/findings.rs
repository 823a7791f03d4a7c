//! Where compiling records what it finds: problems of routers, services, middlewares and transports,
//! into the snapshot's report, each with its key path, and logged.

use std::collections::BTreeMap;

use switchyard_config::{ConfigError, ElementReport, Problem, Report, Status};

use crate::upstream::TlsFailure;

/// Records problems found while compiling into the report.
pub(crate) struct Findings<'r> {
    pub(crate) report: &'r mut Report,
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
        let key_path = match field {
            "" => format!("{kind}.{name}"),
            field => format!("{kind}.{name}.{field}"),
        };
        let (provider, origin) = (element.provider.clone(), element.origin.clone());
        let error = ConfigError {
            provider,
            origin,
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

    pub(crate) fn service(&mut self, name: &str, field: &str, problem: Problem, fatal: bool) {
        Self::record(&mut self.report.services, "http.services", name, field, problem, fatal);
    }

    pub(crate) fn middleware(&mut self, name: &str, field: &str, problem: Problem) {
        Self::record(
            &mut self.report.middlewares,
            "http.middlewares",
            name,
            field,
            problem,
            true,
        );
    }

    /// A servers transport's own problem, among the general ones (the report has no section for
    /// transports): `http.serversTransports.NAME.OPTION`, or `serversTransport.OPTION` for the static one.
    pub(crate) fn transport(&mut self, name: &str, failure: &TlsFailure) {
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
        Self::record(&mut self.report.routers, "http.routers", name, field, problem, fatal);
    }

    /// A TCP router's problem.
    pub(crate) fn tcp_router(&mut self, name: &str, field: &str, problem: Problem, fatal: bool) {
        Self::record(&mut self.report.tcp.routers, "tcp.routers", name, field, problem, fatal);
    }

    /// A TCP service's problem.
    pub(crate) fn tcp_service(&mut self, name: &str, field: &str, problem: Problem, fatal: bool) {
        Self::record(
            &mut self.report.tcp.services,
            "tcp.services",
            name,
            field,
            problem,
            fatal,
        );
    }

    /// A UDP router's problem.
    pub(crate) fn udp_router(&mut self, name: &str, field: &str, problem: Problem, fatal: bool) {
        Self::record(&mut self.report.udp.routers, "udp.routers", name, field, problem, fatal);
    }

    /// A UDP service's problem, which keeps it from serving.
    pub(crate) fn udp_service(&mut self, name: &str, field: &str, problem: Problem) {
        Self::record(
            &mut self.report.udp.services,
            "udp.services",
            name,
            field,
            problem,
            true,
        );
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
