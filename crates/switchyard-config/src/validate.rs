//! Checking a merged configuration: every reference resolves, every rule parses. What is broken is
//! reported per element and left out; the rest goes live.

use std::collections::{BTreeMap, BTreeSet};

use switchyard_rules::Rule;

use std::sync::Arc;

use crate::merge::{DEFAULT_TLS_NAME, Merged, merge};
use crate::provider::ProviderConfig;
use crate::report::{ConfigError, ElementReport, Problem, Report, Status};
use crate::server_url::ServerUrl;
use crate::{DynamicConfig, Middleware, Router, Service};

/// What validation needs to know beyond the dynamic configuration itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationOptions {
    /// The entrypoints that exist. `None` skips the check (no static configuration at hand).
    pub entry_points: Option<BTreeSet<String>>,
    /// Services that exist outside the configuration (`api@internal`): routers may name them.
    pub internal_services: BTreeSet<String>,
}

/// A checked configuration: only what is valid, the parsed rules, and the report of everything.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// The elements that went live, with qualified names.
    pub config: DynamicConfig,
    /// The parsed rule of every live router.
    pub rules: BTreeMap<String, Rule>,
    /// The status and errors of every element, live or not.
    pub report: Report,
    /// The definitions of the elements left out (disabled), so that tools can show them with their errors.
    pub disabled: crate::HttpConfig,
    /// The live services, each after the services it refers to (a weighted service after its
    /// children): the order to build them in.
    pub service_order: Vec<String>,
    /// The live middlewares, each after the middlewares it refers to (a chain after its members).
    pub middleware_order: Vec<String>,
    /// The parsed server URLs of each live service, in `servers` order.
    pub server_urls: BTreeMap<String, Vec<ServerUrl>>,
}

impl RuntimeConfig {
    /// Merges provider snapshots (by provider name) and checks the result: what the aggregator does on
    /// every publication, available for tools and tests that have snapshots at hand. Routers without
    /// entrypoints get `default_entry_points`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::sync::Arc;
    /// use switchyard_config::{DynamicConfig, Router, RuntimeConfig, ProviderConfig, ValidationOptions};
    ///
    /// let mut config = DynamicConfig::default();
    /// config.http.routers.insert("r".into(), Router::new("Path(`/`)", "missing"));
    /// let snapshots = BTreeMap::from([(Arc::from("file"), Arc::new(ProviderConfig::from(config)))]);
    /// let runtime = RuntimeConfig::resolve(&snapshots, &[], &ValidationOptions::default());
    /// assert!(runtime.rules.is_empty());
    /// assert_eq!(runtime.report.errors().count(), 1);
    /// ```
    pub fn resolve(
        snapshots: &BTreeMap<Arc<str>, Arc<ProviderConfig>>,
        default_entry_points: &[String],
        options: &ValidationOptions,
    ) -> Self {
        validate(merge(snapshots, default_entry_points), options)
    }
}

/// Checks a merged configuration (see [`crate::Aggregator`], which calls this for you).
pub(crate) fn validate(merged: Merged, options: &ValidationOptions) -> RuntimeConfig {
    let mut checker = Checker {
        merged: &merged,
        report: Report {
            general: merged.errors.clone(),
            ..Report::default()
        },
        server_urls: BTreeMap::new(),
    };
    let http = &merged.config.http;

    let mut services = Walk::default();
    for name in http.services.keys() {
        checker.element(ElementKind::Service, name, &mut services);
    }
    let mut middlewares = Walk::default();
    for name in http.middlewares.keys() {
        checker.element(ElementKind::Middleware, name, &mut middlewares);
    }

    checker.propagate_disabled();

    let mut live = DynamicConfig {
        tls: merged.config.tls.clone(),
        ..DynamicConfig::default()
    };
    let mut rules = BTreeMap::new();
    let mut disabled = crate::HttpConfig::default();
    for (name, router) in &http.routers {
        let (report, live_router) = checker.router(name, router, options);
        if let Some((router, rule)) = live_router {
            rules.insert(name.clone(), rule);
            live.http.routers.insert(name.clone(), router);
        } else {
            disabled.routers.insert(name.clone(), router.clone());
        }
        checker.report.routers.insert(name.clone(), report);
    }

    for (name, report) in &checker.report.services {
        let target = if report.status == Status::Disabled {
            &mut disabled.services
        } else {
            &mut live.http.services
        };
        target.insert(name.clone(), http.services[name].clone());
    }
    for (name, report) in &checker.report.middlewares {
        let target = if report.status == Status::Disabled {
            &mut disabled.middlewares
        } else {
            &mut live.http.middlewares
        };
        target.insert(name.clone(), http.middlewares[name].clone());
    }
    live.http.servers_transports = http.servers_transports.clone();
    for error in checker.report.errors() {
        tracing::warn!(target: "switchyard::config", "{error}");
    }
    let live_only = |order: Vec<String>, section: &BTreeMap<String, ElementReport>| -> Vec<String> {
        order
            .into_iter()
            .filter(|name| section.get(name).is_some_and(|r| r.status != Status::Disabled))
            .collect()
    };
    let mut server_urls = std::mem::take(&mut checker.server_urls);
    server_urls.retain(|name, _| live.http.services.contains_key(name));
    RuntimeConfig {
        config: live,
        rules,
        server_urls,
        service_order: live_only(services.order, &checker.report.services),
        middleware_order: live_only(middlewares.order, &checker.report.middlewares),
        report: checker.report,
        disabled,
    }
}

/// A depth-first walk over the elements of one kind: where each element stands, the path being
/// walked (to name cycles), and the order elements finished in (each after those it refers to).
#[derive(Default)]
struct Walk {
    state: BTreeMap<String, Visit>,
    stack: Vec<String>,
    order: Vec<String>,
}

/// Depth-first resolution state of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    InProgress,
    Done(bool),
}

struct Checker<'a> {
    merged: &'a Merged,
    report: Report,
    /// Each service's server URLs, parsed as they are checked.
    server_urls: BTreeMap<String, Vec<ServerUrl>>,
}

impl Checker<'_> {
    fn error(&self, element_path: &str, field: &str, problem: Problem) -> ConfigError {
        let (provider, origin) = self.merged.origin_of(element_path);
        ConfigError {
            provider,
            origin,
            key_path: if field.is_empty() {
                element_path.to_owned()
            } else {
                format!("{element_path}.{field}")
            },
            problem,
        }
    }

    /// Checks one router: its rule, service, middlewares, TLS options and entrypoints. Returns its report
    /// and, when it can go live, the router (unknown entrypoints dropped) with its parsed rule.
    fn router(
        &self,
        name: &str,
        router: &Router,
        options: &ValidationOptions,
    ) -> (ElementReport, Option<(Router, Rule)>) {
        let key_path = format!("http.routers.{name}");
        let mut errors = Vec::new();
        let mut fatal = false;
        let mut problem = |field: &str, problem: Problem, is_fatal: bool| {
            fatal |= is_fatal;
            errors.push(self.error(&key_path, field, problem));
        };
        let rule = match router.rule_syntax.as_deref() {
            None | Some("" | "v3" | "default") if router.rule.trim().is_empty() => {
                problem("rule", Problem::EmptyRule, true);
                None
            }
            None | Some("" | "v3" | "default") => match Rule::parse(&router.rule) {
                Ok(rule) => Some(rule),
                Err(err) => {
                    problem("rule", Problem::Rule(err.to_string()), true);
                    None
                }
            },
            Some(other) => {
                problem("ruleSyntax", Problem::RuleSyntax(other.to_owned()), true);
                None
            }
        };
        match self.report.services.get(&router.service) {
            None if options.internal_services.contains(&router.service) => {}
            _ if router.service.is_empty() => problem("service", Problem::Invalid("no service given".into()), true),
            None => problem("service", Problem::MissingService(router.service.clone()), true),
            Some(service) if service.status == Status::Disabled => {
                problem("service", Problem::DisabledService(router.service.clone()), true);
            }
            Some(_) => {}
        }
        for (index, middleware) in router.middlewares.iter().enumerate() {
            let field = format!("middlewares[{index}]");
            match self.report.middlewares.get(middleware) {
                None => problem(&field, Problem::MissingMiddleware(middleware.clone()), true),
                Some(m) if m.status == Status::Disabled => {
                    problem(&field, Problem::DisabledMiddleware(middleware.clone()), true);
                }
                Some(_) => {}
            }
        }
        if let Some(tls) = &router.tls {
            let name = if tls.options.is_empty() {
                DEFAULT_TLS_NAME
            } else {
                &tls.options
            };
            if name != DEFAULT_TLS_NAME && !self.merged.config.tls.options.contains_key(name) {
                problem("tls.options", Problem::MissingTlsOptions(name.to_owned()), true);
            }
        }
        let mut router = router.clone();
        if let Some(known) = &options.entry_points {
            let before = router.entry_points.len();
            router.entry_points.retain(|ep| known.contains(ep));
            let missing: Vec<_> = self.merged.config.http.routers[name]
                .entry_points
                .iter()
                .filter(|ep| !known.contains(*ep))
                .cloned()
                .collect();
            for ep in missing {
                problem("entryPoints", Problem::MissingEntryPoint(ep), false);
            }
            if before > 0 && router.entry_points.is_empty() {
                fatal = true;
            }
        }
        let status = if fatal {
            Status::Disabled
        } else if errors.is_empty() {
            Status::Enabled
        } else {
            Status::Warning
        };
        let (provider, origin) = self.merged.origin_of(&key_path);
        let live = match (fatal, rule) {
            (false, Some(rule)) => Some((router, rule)),
            _ => None,
        };
        (
            ElementReport {
                provider,
                origin,
                status,
                errors,
            },
            live,
        )
    }

    /// Checks a service or middleware and, first, the elements of the same kind it refers to (a weighted
    /// service's children, a chain's members); returns whether it is valid. Loops are reported by the
    /// element that closes them.
    fn element(&mut self, kind: ElementKind, name: &str, walk: &mut Walk) -> bool {
        match walk.state.get(name) {
            Some(Visit::Done(ok)) => return *ok,
            Some(Visit::InProgress) => return false,
            None => {}
        }
        let http = &self.merged.config.http;
        let children = match kind {
            ElementKind::Service => http.services.get(name).map(Service::referenced_services),
            ElementKind::Middleware => http.middlewares.get(name).map(Middleware::referenced_middlewares),
        };
        let Some(children) = children else {
            return false;
        };
        walk.state.insert(name.to_owned(), Visit::InProgress);
        walk.stack.push(name.to_owned());
        let key_path = format!("http.{}.{name}", kind.section());
        let mut errors = Vec::new();
        for child in children {
            let problem = if walk.state.get(child) == Some(&Visit::InProgress) {
                let start = walk.stack.iter().position(|s| s == child).unwrap_or(0);
                Problem::Cycle(format!("{} → {child}", walk.stack[start..].join(" → ")))
            } else if !kind.exists(http, child) {
                kind.missing(child)
            } else if !self.element(kind, child, walk) {
                kind.disabled(child)
            } else {
                continue;
            };
            errors.push(self.error(&key_path, "", problem));
        }
        errors.extend(match kind {
            ElementKind::Service => self.service_own_errors(&key_path, name),
            ElementKind::Middleware => self.middleware_service_errors(&key_path, name),
        });
        walk.stack.pop();
        walk.order.push(name.to_owned());
        self.finish(&key_path, name, errors, &mut walk.state, kind)
    }

    /// A service's problems of its own: its servers transport and server URLs (kept parsed).
    fn service_own_errors(&mut self, key_path: &str, name: &str) -> Vec<ConfigError> {
        let service: &Service = &self.merged.config.http.services[name];
        let mut errors = Vec::new();
        if let Some(transport) = service.servers_transport() {
            if !self.merged.config.http.servers_transports.contains_key(transport) {
                errors.push(self.error(
                    key_path,
                    "serversTransport",
                    Problem::MissingServersTransport(transport.to_owned()),
                ));
            }
        }
        let mut parsed = Vec::new();
        for (index, url) in service.server_urls().enumerate() {
            match ServerUrl::parse(url) {
                Ok(url) => parsed.push(url),
                Err(reason) => errors.push(self.error(
                    key_path,
                    &format!("{}.servers[{index}].url", service.kind.name()),
                    Problem::Invalid(format!("`{url}`: {reason}")),
                )),
            }
        }
        self.server_urls.insert(name.to_owned(), parsed);
        errors
    }

    /// The services a middleware refers to (an `errors` middleware's page service) must be live.
    fn middleware_service_errors(&self, key_path: &str, name: &str) -> Vec<ConfigError> {
        let middleware: &Middleware = &self.merged.config.http.middlewares[name];
        middleware
            .referenced_services()
            .into_iter()
            .filter_map(|service| match self.report.services.get(service) {
                None => Some(self.error(key_path, "", Problem::MissingService(service.to_owned()))),
                Some(r) if r.status == Status::Disabled => {
                    Some(self.error(key_path, "", Problem::DisabledService(service.to_owned())))
                }
                Some(_) => None,
            })
            .collect()
    }

    /// Disables services whose own middlewares are missing or disabled, then spreads every disabling
    /// across kinds until nothing changes: a service whose child or middleware went down, a middleware
    /// whose member or error-page service went down. Runs after both depth-first walks, since services
    /// and middlewares can refer to each other.
    fn propagate_disabled(&mut self) {
        let http = &self.merged.config.http;
        for (name, service) in &http.services {
            for (index, middleware) in service.middlewares.iter().enumerate() {
                if !self.report.middlewares.contains_key(middleware) {
                    let field = format!("middlewares[{index}]");
                    let error = self.error(
                        &format!("http.services.{name}"),
                        &field,
                        Problem::MissingMiddleware(middleware.clone()),
                    );
                    self.disable(ElementKind::Service, name, error);
                }
            }
        }
        loop {
            let mut changed = false;
            for (name, service) in &http.services {
                let middlewares = service
                    .middlewares
                    .iter()
                    .map(|m| (ElementKind::Middleware, m.as_str()));
                let children = service
                    .referenced_services()
                    .into_iter()
                    .map(|s| (ElementKind::Service, s));
                changed |= self.disable_if_any_down(ElementKind::Service, name, middlewares.chain(children));
            }
            for (name, middleware) in &http.middlewares {
                let members = middleware
                    .referenced_middlewares()
                    .into_iter()
                    .map(|m| (ElementKind::Middleware, m));
                let services = middleware
                    .referenced_services()
                    .into_iter()
                    .map(|s| (ElementKind::Service, s));
                changed |= self.disable_if_any_down(ElementKind::Middleware, name, members.chain(services));
            }
            if !changed {
                return;
            }
        }
    }

    /// Disables an enabled element when one of the elements it uses is disabled; returns whether it did.
    fn disable_if_any_down<'n>(
        &mut self,
        kind: ElementKind,
        name: &str,
        uses: impl Iterator<Item = (ElementKind, &'n str)>,
    ) -> bool {
        if self.status(kind, name) != Some(Status::Enabled) {
            return false;
        }
        for (used_kind, used) in uses {
            if self.status(used_kind, used) == Some(Status::Disabled) {
                let error = self.error(&format!("http.{}.{name}", kind.section()), "", used_kind.disabled(used));
                self.disable(kind, name, error);
                return true;
            }
        }
        false
    }

    fn status(&self, kind: ElementKind, name: &str) -> Option<Status> {
        kind.reports(&self.report).get(name).map(|r| r.status)
    }

    fn disable(&mut self, kind: ElementKind, name: &str, error: ConfigError) {
        if let Some(report) = kind.reports_mut(&mut self.report).get_mut(name) {
            report.status = Status::Disabled;
            report.errors.push(error);
        }
    }

    fn finish(
        &mut self,
        key_path: &str,
        name: &str,
        errors: Vec<ConfigError>,
        state: &mut BTreeMap<String, Visit>,
        kind: ElementKind,
    ) -> bool {
        let ok = errors.is_empty();
        state.insert(name.to_owned(), Visit::Done(ok));
        let (provider, origin) = self.merged.origin_of(key_path);
        let report = ElementReport {
            provider,
            origin,
            status: if ok { Status::Enabled } else { Status::Disabled },
            errors,
        };
        kind.reports_mut(&mut self.report).insert(name.to_owned(), report);
        ok
    }
}

/// The two kinds of element that refer to others of their kind.
#[derive(Clone, Copy)]
enum ElementKind {
    Service,
    Middleware,
}

impl ElementKind {
    fn reports(self, report: &Report) -> &BTreeMap<String, ElementReport> {
        match self {
            ElementKind::Service => &report.services,
            ElementKind::Middleware => &report.middlewares,
        }
    }

    fn reports_mut(self, report: &mut Report) -> &mut BTreeMap<String, ElementReport> {
        match self {
            ElementKind::Service => &mut report.services,
            ElementKind::Middleware => &mut report.middlewares,
        }
    }

    fn section(self) -> &'static str {
        match self {
            ElementKind::Service => "services",
            ElementKind::Middleware => "middlewares",
        }
    }

    fn exists(self, http: &crate::HttpConfig, name: &str) -> bool {
        match self {
            ElementKind::Service => http.services.contains_key(name),
            ElementKind::Middleware => http.middlewares.contains_key(name),
        }
    }

    fn missing(self, name: &str) -> Problem {
        match self {
            ElementKind::Service => Problem::MissingService(name.to_owned()),
            ElementKind::Middleware => Problem::MissingMiddleware(name.to_owned()),
        }
    }

    fn disabled(self, name: &str) -> Problem {
        match self {
            ElementKind::Service => Problem::DisabledService(name.to_owned()),
            ElementKind::Middleware => Problem::DisabledMiddleware(name.to_owned()),
        }
    }
}
