//! The aggregator end to end: providers publish, names are qualified, broken elements are reported and
//! left out while the rest goes live, bursts are throttled, failing providers keep their last good state.

use std::sync::Arc;
use std::time::Duration;

use switchyard_config::{
    Aggregator, AggregatorError, DynamicConfig, LoadBalancer, MemoryProvider, Problem, Provider, ProviderConfig,
    ProviderError, ProviderSink, Published, Router, RunningAggregator, Service, Status,
};
use tokio::sync::watch;

fn service(url: &str) -> Service {
    Service::from(LoadBalancer::with_urls([url]))
}

fn config(routers: &[(&str, &str, &str)], services: &[&str]) -> DynamicConfig {
    let mut config = DynamicConfig::default();
    for (name, rule, service) in routers {
        config.http.routers.insert((*name).into(), Router::new(*rule, *service));
    }
    for name in services {
        config
            .http
            .services
            .insert((*name).into(), service("http://127.0.0.1:9"));
    }
    config
}

async fn wait(updates: &mut watch::Receiver<Arc<Published>>, what: impl Fn(&Published) -> bool) -> Arc<Published> {
    tokio::time::timeout(Duration::from_secs(5), updates.wait_for(|p| what(p)))
        .await
        .expect("timed out waiting for a configuration")
        .expect("aggregator stopped")
        .clone()
}

fn start(aggregator: Aggregator) -> (RunningAggregator, watch::Receiver<Arc<Published>>) {
    let running = aggregator
        .throttle(Duration::from_millis(5))
        .start()
        .expect("aggregator starts");
    let updates = running.subscribe();
    (running, updates)
}

#[tokio::test]
async fn names_are_qualified_and_references_resolve_within_and_across_providers() {
    let (a, _a) = MemoryProvider::new(
        "a",
        config(
            &[("web", "Host(`a.test`)", "web"), ("cross", "Host(`x.test`)", "api@b")],
            &["web"],
        ),
    );
    let (b, _b) = MemoryProvider::new("b", config(&[], &["api"]));
    let (running, mut updates) = start(Aggregator::new().provider(a).provider(b));
    let published = wait(&mut updates, |p| p.runtime.rules.len() == 2).await;
    let routers = &published.runtime.config.http.routers;
    assert_eq!(routers["web@a"].service, "web@a");
    assert_eq!(routers["cross@a"].service, "api@b");
    assert!(published.runtime.config.http.services.contains_key("api@b"));
    assert_eq!(published.runtime.report.routers["web@a"].status, Status::Enabled);
    assert_eq!(published.runtime.report.errors().count(), 0);
    running.shutdown().await;
}

#[tokio::test]
async fn certificate_stores_are_qualified_like_the_stores_they_name() {
    let mut tls = config(&[], &[]);
    tls.tls.stores.insert("internal".into(), Default::default());
    tls.tls.certificates.push(switchyard_config::CertificateAndStores {
        cert_file: "cert.pem".into(),
        key_file: "key.pem".into(),
        stores: vec!["default".into(), "internal".into()],
    });
    let (a, _a) = MemoryProvider::new("a", tls);
    let (running, mut updates) = start(Aggregator::new().provider(a));
    let published = wait(&mut updates, |p| !p.runtime.config.tls.certificates.is_empty()).await;
    let tls = &published.runtime.config.tls;
    assert!(tls.stores.contains_key("internal@a"));
    assert_eq!(tls.certificates[0].stores, ["default", "internal@a"]);
    running.shutdown().await;
}

#[tokio::test]
async fn a_broken_router_is_reported_with_its_key_path_and_the_rest_goes_live() {
    let mut cfg = config(
        &[
            ("good", "Host(`good.test`)", "svc"),
            ("bad-rule", "Host(`a.test`) && (Path(`/x`)", "svc"),
            ("no-service", "Host(`b.test`)", "missing"),
            ("old-syntax", "Host(`c.test`)", "svc"),
            ("bad-mw", "Host(`d.test`)", "svc"),
        ],
        &["svc"],
    );
    cfg.http.routers.get_mut("old-syntax").unwrap().rule_syntax = Some("v2".into());
    cfg.http
        .routers
        .get_mut("bad-mw")
        .unwrap()
        .middlewares
        .push("nope".into());
    let mut snapshot = ProviderConfig::from(cfg);
    snapshot
        .origins
        .insert("http.routers.no-service".into(), "conf/routes.yml".into());
    let (provider, _handle) = MemoryProvider::new("file", snapshot);
    let (running, mut updates) = start(Aggregator::new().provider(provider));
    let published = wait(&mut updates, |p| p.generation > 0).await;

    assert_eq!(published.runtime.rules.keys().collect::<Vec<_>>(), ["good@file"]);
    let report = &published.runtime.report.routers;
    let only_error = |name: &str| {
        assert_eq!(report[name].status, Status::Disabled, "{name}");
        assert_eq!(report[name].errors.len(), 1, "{name}: {:?}", report[name].errors);
        report[name].errors[0].clone()
    };

    let err = only_error("bad-rule@file");
    assert_eq!(err.key_path, "http.routers.bad-rule@file.rule");
    assert_eq!(
        err.to_string(),
        "http.routers.bad-rule@file.rule: expected ')' at column 30, found end of rule"
    );

    let err = only_error("no-service@file");
    assert_eq!(err.problem, Problem::MissingService("missing@file".into()));
    assert_eq!(err.origin.as_deref(), Some("conf/routes.yml"));
    assert_eq!(
        err.to_string(),
        "http.routers.no-service@file.service (conf/routes.yml): service `missing@file` does not exist"
    );

    assert_eq!(only_error("old-syntax@file").problem, Problem::RuleSyntax("v2".into()));
    let err = only_error("bad-mw@file");
    assert_eq!(err.key_path, "http.routers.bad-mw@file.middlewares[0]");
    assert_eq!(err.problem, Problem::MissingMiddleware("nope@file".into()));
    running.shutdown().await;
}

#[tokio::test]
async fn invalid_server_urls_disable_the_service_and_its_routers() {
    let mut cfg = config(&[("r", "Path(`/`)", "svc")], &[]);
    cfg.http.services.insert("svc".into(), service("ftp://10.0.0.1"));
    let (provider, _handle) = MemoryProvider::new("p", cfg);
    let (running, mut updates) = start(Aggregator::new().provider(provider));
    let published = wait(&mut updates, |p| p.generation > 0).await;
    let service = &published.runtime.report.services["svc@p"];
    assert_eq!(service.status, Status::Disabled);
    assert_eq!(
        service.errors[0].key_path,
        "http.services.svc@p.loadBalancer.servers[0].url"
    );
    assert_eq!(
        published.runtime.report.routers["r@p"].errors[0].problem,
        Problem::DisabledService("svc@p".into())
    );
    assert!(published.runtime.config.http.services.is_empty());
    running.shutdown().await;
}

#[tokio::test]
async fn entry_points_default_and_unknown_ones_are_reported() {
    let mut cfg = config(
        &[
            ("plain", "Path(`/a`)", "svc"),
            ("typo", "Path(`/b`)", "svc"),
            ("mixed", "Path(`/c`)", "svc"),
        ],
        &["svc"],
    );
    cfg.http.routers.get_mut("typo").unwrap().entry_points = vec!["wbe".into()];
    cfg.http.routers.get_mut("mixed").unwrap().entry_points = vec!["web".into(), "wbe".into()];
    let (provider, _handle) = MemoryProvider::new("p", cfg);
    let aggregator = Aggregator::new()
        .entry_points(["web".to_owned(), "websecure".to_owned()], vec!["web".into()])
        .provider(provider);
    let (running, mut updates) = start(aggregator);
    let published = wait(&mut updates, |p| p.generation > 0).await;
    let routers = &published.runtime.config.http.routers;
    assert_eq!(routers["plain@p"].entry_points, ["web"]);
    assert_eq!(routers["mixed@p"].entry_points, ["web"]);
    assert!(!routers.contains_key("typo@p"));
    let report = &published.runtime.report.routers;
    assert_eq!(report["mixed@p"].status, Status::Warning);
    assert_eq!(report["typo@p"].status, Status::Disabled);
    assert_eq!(
        report["typo@p"].errors[0].problem,
        Problem::MissingEntryPoint("wbe".into())
    );
    running.shutdown().await;
}

#[tokio::test]
async fn changes_reach_subscribers_and_unchanged_snapshots_publish_nothing() {
    let (provider, handle) = MemoryProvider::new("p", config(&[("a", "Path(`/a`)", "svc")], &["svc"]));
    let (running, mut updates) = start(Aggregator::new().provider(provider));
    let first = wait(&mut updates, |p| p.generation > 0).await;
    handle.update(|c| {
        c.http.routers.insert("b".into(), Router::new("Path(`/b`)", "svc"));
    });
    let second = wait(&mut updates, |p| p.runtime.rules.len() == 2).await;
    assert!(second.generation > first.generation);
    // Re-publishing the same configuration changes nothing.
    handle.update(|_| {});
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(running.current().generation, second.generation);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn bursts_are_throttled_and_the_latest_state_wins() {
    let (provider, handle) = MemoryProvider::new("p", DynamicConfig::default());
    let running = Aggregator::new()
        .throttle(Duration::from_secs(2))
        .provider(provider)
        .start()
        .unwrap();
    let mut updates = running.subscribe();
    wait(&mut updates, |p| p.generation > 0).await;
    let start = running.current().generation;
    for i in 0..50 {
        handle.set(config(&[(&format!("r{i}"), "Path(`/`)", "svc")], &["svc"]));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // 50 changes over one second: at most one publication at once and one when the period ends.
    let published = wait(&mut updates, |p| p.runtime.rules.contains_key("r49@p")).await;
    assert!(
        published.generation - start <= 2,
        "{} publications for a 1 s burst with a 2 s throttle",
        published.generation - start
    );
    running.shutdown().await;
}

/// A provider that publishes once, then fails on demand.
struct Flaky {
    fail: tokio::sync::mpsc::Receiver<&'static str>,
}

impl Provider for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn run(mut self, sink: ProviderSink) -> Result<(), ProviderError> {
        sink.publish(config(&[("r", "Path(`/`)", "svc")], &["svc"]));
        let reason = self.fail.recv().await.unwrap_or("closed");
        sink.report(&ProviderError::Settings(format!("recoverable: {reason}")));
        let reason = self.fail.recv().await.unwrap_or("closed");
        Err(ProviderError::Settings(format!("fatal: {reason}")))
    }
}

#[tokio::test]
async fn a_failing_provider_keeps_its_last_good_snapshot() {
    let (fail, rx) = tokio::sync::mpsc::channel(2);
    let (running, mut updates) = start(Aggregator::new().provider(Flaky { fail: rx }));
    wait(&mut updates, |p| p.runtime.rules.contains_key("r@flaky")).await;

    fail.send("source unreachable").await.unwrap();
    let published = wait(&mut updates, |p| p.providers["flaky"].last_error.is_some()).await;
    assert!(
        published.providers["flaky"]
            .last_error
            .as_ref()
            .unwrap()
            .contains("source unreachable")
    );
    assert!(published.runtime.rules.contains_key("r@flaky"));

    fail.send("gave up").await.unwrap();
    let published = wait(&mut updates, |p| p.providers["flaky"].ended).await;
    assert!(
        published.providers["flaky"]
            .last_error
            .as_ref()
            .unwrap()
            .contains("gave up")
    );
    assert!(published.runtime.rules.contains_key("r@flaky"));
    running.shutdown().await;
}

#[tokio::test]
async fn provider_names_must_be_unique_and_plain() {
    let (a, _) = MemoryProvider::new("same", DynamicConfig::default());
    let (b, _) = MemoryProvider::new("same", DynamicConfig::default());
    assert_eq!(
        Aggregator::new().provider(a).provider(b).start().unwrap_err(),
        AggregatorError::DuplicateProvider("same".into())
    );
    let (c, _) = MemoryProvider::new("a@b", DynamicConfig::default());
    assert_eq!(
        Aggregator::new().provider(c).start().unwrap_err(),
        AggregatorError::InvalidProviderName("a@b".into())
    );
}

#[tokio::test]
async fn udp_sections_merge_with_qualified_names_and_broken_ones_are_reported() {
    let cfg = DynamicConfig {
        udp: serde_json::from_value(serde_json::json!({
            "routers": {"dns": {"service": "dns"}, "lost": {"service": "nowhere"}},
            "services": {
                "dns": {"weighted": {"services": [{"name": "a", "weight": 2}, {"name": "b@other"}]}},
                "a": {"loadBalancer": {"servers": [{"address": "10.0.0.53:53"}]}}
            }
        }))
        .unwrap(),
        ..DynamicConfig::default()
    };
    let other = DynamicConfig {
        udp: serde_json::from_value(serde_json::json!({
            "services": {"b": {"loadBalancer": {"servers": [{"address": "no-port"}]}}}
        }))
        .unwrap(),
        ..DynamicConfig::default()
    };
    let (provider, _handle) = MemoryProvider::new("p", cfg);
    let (second, _other) = MemoryProvider::new("other", other);
    let (running, mut updates) = start(Aggregator::new().provider(provider).provider(second));
    let published = wait(&mut updates, |p| p.runtime.report.udp.routers.len() == 2).await;
    let report = &published.runtime.report.udp;
    assert_eq!(
        report.services["b@other"].errors[0].key_path,
        "udp.services.b@other.loadBalancer.servers[0].address"
    );
    assert_eq!(report.services["dns@p"].status, Status::Disabled);
    assert_eq!(
        report.routers["dns@p"].errors[0].problem,
        Problem::DisabledService("dns@p".into())
    );
    assert_eq!(
        report.routers["lost@p"].errors[0].problem,
        Problem::MissingService("nowhere@p".into())
    );
    assert!(published.runtime.config.udp.services.contains_key("a@p"));
    assert!(published.runtime.config.udp.routers.is_empty());
    assert!(published.runtime.report.general.is_empty());
    running.shutdown().await;
}

#[tokio::test]
async fn broken_references_cascade_and_cycles_are_named() {
    let yaml = r#"
http:
  routers:
    via-chain: {rule: "Path(`/a`)", service: svc, middlewares: [outer]}
    via-loop: {rule: "Path(`/b`)", service: svc, middlewares: [loop-a]}
    via-weighted: {rule: "Path(`/c`)", service: split}
    via-service-mw: {rule: "Path(`/d`)", service: guarded}
    fine: {rule: "Path(`/e`)", service: split-ok, middlewares: [inner]}
    via-parent: {rule: "Path(`/f`)", service: parent}
  middlewares:
    outer: {chain: {middlewares: [inner, ghost]}}
    inner: {addPrefix: {prefix: /x}}
    loop-a: {chain: {middlewares: [loop-b]}}
    loop-b: {chain: {middlewares: [loop-a]}}
  services:
    svc: {loadBalancer: {servers: [{url: "http://127.0.0.1:9"}]}}
    split: {weighted: {services: [{name: svc, weight: 1}, {name: missing, weight: 1}]}}
    split-ok: {weighted: {services: [{name: svc, weight: 3}]}}
    guarded: {loadBalancer: {servers: [{url: "http://127.0.0.1:9"}]}, middlewares: [absent]}
    parent: {weighted: {services: [{name: guarded, weight: 1}]}}
"#;
    let cfg = switchyard_config::load_str::<DynamicConfig>(yaml, switchyard_config::Format::Yaml, "refs.yml")
        .unwrap()
        .value;
    let (provider, _handle) = MemoryProvider::new("file", cfg);
    let (running, mut updates) = start(Aggregator::new().provider(provider));
    let published = wait(&mut updates, |p| p.generation > 0).await;
    let report = &published.runtime.report;

    assert_eq!(
        report.middlewares["outer@file"].errors[0].problem,
        Problem::MissingMiddleware("ghost@file".into())
    );
    assert_eq!(
        report.routers["via-chain@file"].errors[0].problem,
        Problem::DisabledMiddleware("outer@file".into())
    );
    // The element that closes the loop names it; the others are disabled through it.
    let Problem::Cycle(cycle) = &report.middlewares["loop-b@file"].errors[0].problem else {
        panic!("{:?}", report.middlewares["loop-b@file"])
    };
    assert_eq!(cycle, "loop-a@file → loop-b@file → loop-a@file");
    assert_eq!(report.middlewares["loop-a@file"].status, Status::Disabled);
    assert_eq!(report.routers["via-loop@file"].status, Status::Disabled);
    assert_eq!(
        report.services["split@file"].errors[0].problem,
        Problem::MissingService("missing@file".into())
    );
    assert_eq!(report.routers["via-weighted@file"].status, Status::Disabled);
    let guarded = &report.services["guarded@file"];
    assert_eq!(guarded.errors[0].key_path, "http.services.guarded@file.middlewares[0]");
    assert_eq!(report.routers["via-service-mw@file"].status, Status::Disabled);
    // Disabled through its middleware, the service takes its parents down with it.
    assert_eq!(
        report.services["parent@file"].errors[0].problem,
        Problem::DisabledService("guarded@file".into())
    );
    assert_eq!(report.routers["via-parent@file"].status, Status::Disabled);

    assert_eq!(published.runtime.rules.keys().collect::<Vec<_>>(), ["fine@file"]);
    let live = &published.runtime.config.http;
    assert!(live.middlewares.contains_key("inner@file") && !live.middlewares.contains_key("outer@file"));
    assert!(live.services.contains_key("split-ok@file") && !live.services.contains_key("split@file"));
    running.shutdown().await;
}

#[tokio::test]
async fn tls_options_are_qualified_except_a_shared_default_defined_once() {
    let tls = |names: &[&str]| {
        let mut cfg = DynamicConfig::default();
        for name in names {
            cfg.tls
                .options
                .insert((*name).into(), switchyard_config::TlsOptions::default());
        }
        cfg
    };
    let mut a_cfg = tls(&["default", "modern"]);
    let mut router = Router::new("Host(`a.test`)", "svc");
    router.tls = Some(switchyard_config::RouterTls {
        options: "modern".into(),
        ..Default::default()
    });
    a_cfg.http.routers.insert("secure".into(), router);
    a_cfg.http.services.insert("svc".into(), service("http://127.0.0.1:9"));
    let (a, _a) = MemoryProvider::new("a", a_cfg);
    let (b, b_handle) = MemoryProvider::new("b", tls(&["legacy"]));
    let (running, mut updates) = start(Aggregator::new().provider(a).provider(b));
    let published = wait(&mut updates, |p| p.runtime.config.tls.options.len() == 3).await;
    let names: Vec<_> = published.runtime.config.tls.options.keys().cloned().collect();
    assert_eq!(names, ["default", "legacy@b", "modern@a"]);
    assert_eq!(
        published.runtime.config.http.routers["secure@a"]
            .tls
            .as_ref()
            .unwrap()
            .options,
        "modern@a"
    );
    assert!(published.runtime.report.general.is_empty());

    // A second provider defining `default` too: neither is used, and the conflict is reported.
    b_handle.set(tls(&["default", "legacy"]));
    let published = wait(&mut updates, |p| !p.runtime.report.general.is_empty()).await;
    assert!(!published.runtime.config.tls.options.contains_key("default"));
    let conflict = &published.runtime.report.general[0];
    assert_eq!(conflict.key_path, "tls.options.default");
    assert_eq!(
        conflict.problem,
        Problem::Conflict(
            "the default TLS options are defined by several providers (a, b); none of them is used".into()
        )
    );
    assert_eq!(conflict.provider, "a, b");
    running.shutdown().await;
}
