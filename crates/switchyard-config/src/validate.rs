//! Checking a merged configuration: every reference resolves, every rule parses. What is broken is
//! reported per element and left out; the rest goes live.

use std::collections::{BTreeMap, BTreeSet};

use switchyard_rules::{Rule, TcpRule};

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
    /// The parsed rule of every live TCP router.
    pub tcp_rules: BTreeMap<String, TcpRule>,
    /// The live TCP services, each after the services it refers to.
    pub tcp_service_order: Vec<String>,
    /// The TCP definitions left out (disabled).
    pub disabled_tcp: crate::TcpConfig,
    /// The live UDP services, each after the services it refers to.
    pub udp_service_order: Vec<String>,
    /// The UDP definitions left out (disabled).
    pub disabled_udp: crate::UdpConfig,
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
    let mut checker = Checker::new(&merged);
    let http = &merged.config.http;
    let services = checker.walk(ElementKind::Service, http.services.keys());
    let middlewares = checker.walk(ElementKind::Middleware, http.middlewares.keys());
    checker.propagate_disabled();
    let (mut live, disabled, rules) = checker.live_and_disabled(options);
    let tcp = crate::tcp_validation::validate_tcp(&merged, options);
    checker.report.tcp = tcp.report;
    live.tcp = tcp.live;
    let udp = crate::udp_validation::validate_udp(&merged, options);
    checker.report.udp = udp.report;
    live.udp = udp.live;
    for error in checker.report.errors() {
        tracing::warn!(target: "switchyard::config", "{error}");
    }
    let mut server_urls = std::mem::take(&mut checker.server_urls);
    server_urls.retain(|name, _| live.http.services.contains_key(name));
    RuntimeConfig {
        tcp_rules: tcp.rules,
        tcp_service_order: tcp.service_order,
        udp_service_order: udp.service_order,
        disabled_udp: udp.disabled,
        disabled_tcp: tcp.disabled,
        config: live,
        rules,
        server_urls,
        service_order: live_only(services.order, &checker.report.services),
        middleware_order: live_only(middlewares.order, &checker.report.middlewares),
        report: checker.report,
        disabled,
    }
}

/// Each element's definition, among the live ones or, when its report says so, the disabled ones.
fn by_status<T: Clone>(
    reports: &BTreeMap<String, ElementReport>,
    definitions: &BTreeMap<String, T>,
) -> (BTreeMap<String, T>, BTreeMap<String, T>) {
    let (mut live, mut disabled) = (BTreeMap::new(), BTreeMap::new());
    for (name, report) in reports {
        let target = if report.status == Status::Disabled {
            &mut disabled
        } else {
            &mut live
        };
        target.insert(name.clone(), definitions[name].clone());
    }
    (live, disabled)
}

/// The names of `order` whose element is not disabled, in that order.
fn live_only(order: Vec<String>, section: &BTreeMap<String, ElementReport>) -> Vec<String> {
    order
        .into_iter()
        .filter(|name| section.get(name).is_some_and(|r| r.status != Status::Disabled))
        .collect()
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

impl<'a> Checker<'a> {
    fn new(merged: &'a Merged) -> Self {
        Checker {
            merged,
            report: Report {
                general: merged.errors.clone(),
                ..Report::default()
            },
            server_urls: BTreeMap::new(),
        }
    }

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

    /// Checks every element of one kind, each after those it refers to.
    fn walk<'n>(&mut self, kind: ElementKind, names: impl Iterator<Item = &'n String>) -> Walk {
        let mut walk = Walk::default();
        for name in names {
            self.element(kind, name, &mut walk);
        }
        walk
    }

    /// Checks the routers, then sorts every element into the live configuration or the definitions left
    /// out; returns both, with the parsed rules of the live routers.
    fn live_and_disabled(
        &mut self,
        options: &ValidationOptions,
    ) -> (DynamicConfig, crate::HttpConfig, BTreeMap<String, Rule>) {
        let merged = self.merged;
        let http = &merged.config.http;
        let mut live = DynamicConfig {
            tls: merged.config.tls.clone(),
            ..DynamicConfig::default()
        };
        let mut disabled = crate::HttpConfig::default();
        let rules = self.routers(options, &mut live.http, &mut disabled);
        (live.http.services, disabled.services) = by_status(&self.report.services, &http.services);
        (live.http.middlewares, disabled.middlewares) = by_status(&self.report.middlewares, &http.middlewares);
        live.http.servers_transports = http.servers_transports.clone();
        (live, disabled, rules)
    }

    /// Checks every router, putting it in `live` (its rule returned parsed) or in `disabled`.
    fn routers(
        &mut self,
        options: &ValidationOptions,
        live: &mut crate::HttpConfig,
        disabled: &mut crate::HttpConfig,
    ) -> BTreeMap<String, Rule> {
        let merged = self.merged;
        let mut rules = BTreeMap::new();
        for (name, router) in &merged.config.http.routers {
            let (report, live_router) = self.router(name, router, options);
            if let Some((router, rule)) = live_router {
                rules.insert(name.clone(), rule);
                live.routers.insert(name.clone(), router);
            } else {
                disabled.routers.insert(name.clone(), router.clone());
            }
            self.report.routers.insert(name.clone(), report);
        }
        rules
    }

    /// Checks one router: its rule, service, middlewares, TLS options and entrypoints. Returns its report
    /// and, when it can go live, the router (unknown entrypoints dropped) with its parsed rule.
    fn router(
        &self,
        name: &str,
        router: &Router,
        options: &ValidationOptions,
    ) -> (ElementReport, Option<(Router, Rule)>) {
        let mut check = RouterCheck {
            checker: self,
            key_path: format!("http.routers.{name}"),
            errors: Vec::new(),
            fatal: false,
        };
        let rule = check.rule(router);
        check.service(&router.service, options);
        check.middlewares(&router.middlewares);
        check.tls_options(router);
        let mut router = router.clone();
        if let Some(known) = &options.entry_points {
            check.entry_points(name, &mut router, known);
        }
        check.finish(router, rule)
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
        let Some(children) = kind.references(&self.merged.config.http, name) else {
            return false;
        };
        walk.state.insert(name.to_owned(), Visit::InProgress);
        walk.stack.push(name.to_owned());
        let key_path = format!("http.{}.{name}", kind.section());
        let mut errors = self.children_errors(kind, &key_path, children, walk);
        errors.extend(match kind {
            ElementKind::Service => self.service_own_errors(&key_path, name),
            ElementKind::Middleware => self.middleware_service_errors(&key_path, name),
        });
        walk.stack.pop();
        walk.order.push(name.to_owned());
        self.finish(&key_path, name, errors, &mut walk.state, kind)
    }

    /// Checks the elements of the same kind an element refers to, first: a reference is wrong when it
    /// closes a loop, names nothing, or names an element that is not valid.
    fn children_errors(
        &mut self,
        kind: ElementKind,
        key_path: &str,
        children: Vec<&str>,
        walk: &mut Walk,
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for child in children {
            let problem = if walk.state.get(child) == Some(&Visit::InProgress) {
                let start = walk.stack.iter().position(|s| s == child).unwrap_or(0);
                Problem::Cycle(format!("{} → {child}", walk.stack[start..].join(" → ")))
            } else if !kind.exists(&self.merged.config.http, child) {
                kind.missing(child)
            } else if !self.element(kind, child, walk) {
                kind.disabled(child)
            } else {
                continue;
            };
            errors.push(self.error(key_path, "", problem));
        }
        errors
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
        let parsed = self.parse_server_urls(key_path, service, &mut errors);
        self.server_urls.insert(name.to_owned(), parsed);
        errors
    }

    /// The server URLs of a service that parse; each that does not is an error.
    fn parse_server_urls(&self, key_path: &str, service: &Service, errors: &mut Vec<ConfigError>) -> Vec<ServerUrl> {
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
        parsed
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
        self.disable_services_missing_middlewares();
        // Each pass may disable what the next one spreads further.
        while self.spread_disabled() {}
    }

    /// Disables services whose own middlewares do not exist.
    fn disable_services_missing_middlewares(&mut self) {
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
    }

    /// Disables, once over every service then every middleware, the enabled elements that use a
    /// disabled one; returns whether it disabled any.
    fn spread_disabled(&mut self) -> bool {
        let http = &self.merged.config.http;
        let mut changed = false;
        for (name, service) in &http.services {
            changed |= self.disable_if_any_down(ElementKind::Service, name, service_uses(service));
        }
        for (name, middleware) in &http.middlewares {
            changed |= self.disable_if_any_down(ElementKind::Middleware, name, middleware_uses(middleware));
        }
        changed
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

/// What a service uses: its middlewares, then its child services.
fn service_uses(service: &Service) -> impl Iterator<Item = (ElementKind, &str)> {
    let middlewares = service
        .middlewares
        .iter()
        .map(|m| (ElementKind::Middleware, m.as_str()));
    let children = service
        .referenced_services()
        .into_iter()
        .map(|s| (ElementKind::Service, s));
    middlewares.chain(children)
}

/// What a middleware uses: its member middlewares, then the services it sends to.
fn middleware_uses(middleware: &Middleware) -> impl Iterator<Item = (ElementKind, &str)> {
    let members = middleware
        .referenced_middlewares()
        .into_iter()
        .map(|m| (ElementKind::Middleware, m));
    let services = middleware
        .referenced_services()
        .into_iter()
        .map(|s| (ElementKind::Service, s));
    members.chain(services)
}

/// The problems found in one router so far, and whether one of them keeps it from going live.
struct RouterCheck<'c, 'a> {
    checker: &'c Checker<'a>,
    key_path: String,
    errors: Vec<ConfigError>,
    fatal: bool,
}

impl RouterCheck<'_, '_> {
    fn problem(&mut self, field: &str, problem: Problem, is_fatal: bool) {
        self.fatal |= is_fatal;
        self.errors.push(self.checker.error(&self.key_path, field, problem));
    }

    /// The router's rule, parsed, when its syntax is the one switchyard speaks.
    fn rule(&mut self, router: &Router) -> Option<Rule> {
        match router.rule_syntax.as_deref() {
            None | Some("" | "v3" | "default") if router.rule.trim().is_empty() => {
                self.problem("rule", Problem::EmptyRule, true);
                None
            }
            None | Some("" | "v3" | "default") => match Rule::parse(&router.rule) {
                Ok(rule) => Some(rule),
                Err(err) => {
                    self.problem("rule", Problem::Rule(err.to_string()), true);
                    None
                }
            },
            Some(other) => {
                self.problem("ruleSyntax", Problem::RuleSyntax(other.to_owned()), true);
                None
            }
        }
    }

    /// The router's service must be given, and be live or internal.
    fn service(&mut self, service: &str, options: &ValidationOptions) {
        match self.checker.report.services.get(service) {
            None if options.internal_services.contains(service) => {}
            _ if service.is_empty() => self.problem("service", Problem::Invalid("no service given".into()), true),
            None => self.problem("service", Problem::MissingService(service.to_owned()), true),
            Some(report) if report.status == Status::Disabled => {
                self.problem("service", Problem::DisabledService(service.to_owned()), true);
            }
            Some(_) => {}
        }
    }

    /// Each of the router's middlewares must exist and be live.
    fn middlewares(&mut self, middlewares: &[String]) {
        for (index, middleware) in middlewares.iter().enumerate() {
            let field = format!("middlewares[{index}]");
            match self.checker.report.middlewares.get(middleware) {
                None => self.problem(&field, Problem::MissingMiddleware(middleware.clone()), true),
                Some(m) if m.status == Status::Disabled => {
                    self.problem(&field, Problem::DisabledMiddleware(middleware.clone()), true);
                }
                Some(_) => {}
            }
        }
    }

    /// The TLS options a TLS router names must exist (the default ones always do).
    fn tls_options(&mut self, router: &Router) {
        let Some(tls) = &router.tls else {
            return;
        };
        let name = if tls.options.is_empty() {
            DEFAULT_TLS_NAME
        } else {
            &tls.options
        };
        if name != DEFAULT_TLS_NAME && !self.checker.merged.config.tls.options.contains_key(name) {
            self.problem("tls.options", Problem::MissingTlsOptions(name.to_owned()), true);
        }
    }

    /// Drops the entrypoints that do not exist from `router`, each reported; a router left with none
    /// of those it named cannot go live.
    fn entry_points(&mut self, name: &str, router: &mut Router, known: &BTreeSet<String>) {
        let before = router.entry_points.len();
        router.entry_points.retain(|ep| known.contains(ep));
        let missing: Vec<_> = self.checker.merged.config.http.routers[name]
            .entry_points
            .iter()
            .filter(|ep| !known.contains(*ep))
            .cloned()
            .collect();
        for ep in missing {
            self.problem("entryPoints", Problem::MissingEntryPoint(ep), false);
        }
        if before > 0 && router.entry_points.is_empty() {
            self.fatal = true;
        }
    }

    /// The router's report and, when nothing fatal was found, the router with its rule.
    fn finish(self, router: Router, rule: Option<Rule>) -> (ElementReport, Option<(Router, Rule)>) {
        let status = if self.fatal {
            Status::Disabled
        } else if self.errors.is_empty() {
            Status::Enabled
        } else {
            Status::Warning
        };
        let (provider, origin) = self.checker.merged.origin_of(&self.key_path);
        let live = match (self.fatal, rule) {
            (false, Some(rule)) => Some((router, rule)),
            _ => None,
        };
        (
            ElementReport {
                provider,
                origin,
                status,
                errors: self.errors,
            },
            live,
        )
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

    /// The elements of the same kind `name` refers to; `None` when it does not exist.
    fn references<'h>(self, http: &'h crate::HttpConfig, name: &str) -> Option<Vec<&'h str>> {
        match self {
            ElementKind::Service => http.services.get(name).map(Service::referenced_services),
            ElementKind::Middleware => http.middlewares.get(name).map(Middleware::referenced_middlewares),
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
