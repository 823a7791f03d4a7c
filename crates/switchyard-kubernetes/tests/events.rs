//! Errors on the objects: what the configuration report (and the providers' own translation) says
//! about an Ingress, IngressRoute or Middleware is written back to it as Kubernetes Events, once per
//! problem, with a `Normal` Event once it is fixed, while the rest of the configuration keeps serving
//! through the real gateway.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use support::{
    Cluster, LIVE_TIMEOUT, Pods, ingress, ready, register_traefik_kinds, rule, service, slice, traefik, within,
};
use switchyard_config::{Aggregator, Format, KubernetesCrdOptions, StaticConfig, load_str};
use switchyard_kubernetes::{CrdProvider, IngressProvider, LeaderElection};
use switchyard_test_apiserver::ApiServer;

/// Deploys Service `name` (port `http` 80) with the pods as its endpoints.
fn deploy(server: &ApiServer, name: &str, pods: &Pods) {
    server.apply(service("default", name, &[("http", 80)]));
    server.apply(slice(
        "default",
        name,
        &format!("{name}-abc"),
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
}

/// The Events regarding object `kind default/name`, oldest first.
fn events(server: &ApiServer, kind: &str, name: &str) -> Vec<Value> {
    let mut events: Vec<Value> = server
        .list("Event", Some("default"))
        .into_iter()
        .filter(|e| e["regarding"]["kind"] == kind && e["regarding"]["name"] == name)
        .collect();
    events.sort_by_key(|e| {
        e["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    events
}

/// The notes of the Events of this type regarding `kind default/name`.
fn notes(server: &ApiServer, kind: &str, name: &str, type_: &str) -> Vec<String> {
    events(server, kind, name)
        .iter()
        .filter(|e| e["type"] == type_)
        .map(|e| e["note"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until an Event of this type regarding `kind default/name` has a note containing every part.
async fn expect_event(cluster: &Cluster, kind: &str, name: &str, type_: &str, parts: &[&str]) -> Value {
    let found = || {
        events(&cluster.server, kind, name)
            .into_iter()
            .find(|e| e["type"] == type_ && parts.iter().all(|p| e["note"].as_str().unwrap().contains(p)))
    };
    within(LIVE_TIMEOUT, || async { found().is_some() })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no {type_} Event on {kind} default/{name} with {parts:?}; its Events: {:#?}; warnings: {:?}",
                events(&cluster.server, kind, name),
                cluster.warnings()
            )
        });
    found().unwrap()
}

/// Checks the fields every Event of ours has, against the object it regards.
fn check_event(event: &Value, object: &Value, reason: &str) {
    assert_eq!(event["apiVersion"], "events.k8s.io/v1");
    assert_eq!(event["reason"], reason);
    assert_eq!(event["reportingController"], "switchyard");
    assert!(event["reportingInstance"].as_str().is_some_and(|i| !i.is_empty()));
    assert!(event["action"].as_str().is_some_and(|a| !a.is_empty()));
    assert!(event["eventTime"].as_str().is_some());
    let regarding = &event["regarding"];
    assert_eq!(regarding["apiVersion"], object["apiVersion"]);
    assert_eq!(regarding["namespace"], "default");
    assert_eq!(regarding["uid"], object["metadata"]["uid"]);
    assert!(regarding["resourceVersion"].as_str().is_some());
}

/// Waits until the gateway has compiled a configuration newer than `generation`; returns its own.
async fn reloaded(cluster: &Cluster, generation: u64) -> u64 {
    let snapshot = cluster.gateway.wait_for(|s| s.generation() > generation).await;
    snapshot.generation()
}

fn broken_route(rule: &str) -> Value {
    traefik(
        "IngressRoute",
        "default",
        "broken",
        json!({"routes": [{"match": rule, "services": [{"name": "b", "port": 80}]}]}),
    )
}

fn tag(value: &str) -> Value {
    traefik(
        "Middleware",
        "default",
        "tag",
        json!({"headers": {"customRequestHeaders": {"X-Test": value}}}),
    )
}

/// The CRD provider's cluster: Services `a` and `b`, IngressRoute `good` (through Middleware `tag`)
/// to `a` and IngressRoute `broken`, whose rule does not parse, to `b`.
async fn crd_cluster(provider: impl FnOnce(String) -> CrdProvider) -> (Cluster, Pods, Pods) {
    let server = ApiServer::start().await;
    register_traefik_kinds(&server);
    let provider = provider(server.url());
    let cluster = Cluster::start_provider(server, provider).await;
    let (a, b) = (Pods::start("a", 1).await, Pods::start("b", 1).await);
    deploy(&cluster.server, "a", &a);
    deploy(&cluster.server, "b", &b);
    cluster.apply(tag("one"));
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "good",
        json!({"routes": [{"match": "Host(`good.test`)", "middlewares": [{"name": "tag"}],
            "services": [{"name": "a", "port": 80}]}]}),
    ));
    cluster.apply(broken_route("Host(`broken.test`"));
    (cluster, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_ingress_route_gets_a_warning_and_its_fix_a_normal_event() {
    let (cluster, _a, _b) = crd_cluster(|url| CrdProvider::endpoint(url, "", None)).await;
    cluster.routes_to("good.test", "/", "a-0").await;

    let warning = expect_event(
        &cluster,
        "IngressRoute",
        "broken",
        "Warning",
        &[
            "http.routers.default-broken-",
            "@kubernetescrd.rule",
            "(IngressRoute default/broken spec.routes[0])",
        ],
    )
    .await;
    let broken = cluster.server.get("IngressRoute", "default", "broken").unwrap();
    check_event(&warning, &broken, "InvalidConfiguration");
    assert!(
        notes(&cluster.server, "IngressRoute", "good", "Warning").is_empty(),
        "nothing is wrong with the good route"
    );
    // The rest keeps serving through the real gateway.
    assert_eq!(cluster.get("good.test", "/").await.1, "a-0");

    cluster.apply(broken_route("Host(`broken.test`)"));
    cluster.routes_to("broken.test", "/", "b-0").await;
    let normal = expect_event(&cluster, "IngressRoute", "broken", "Normal", &[]).await;
    let fixed = cluster.server.get("IngressRoute", "default", "broken").unwrap();
    check_event(&normal, &fixed, "ConfigurationValid");
    // Once: further reloads announce nothing more about it.
    let mut generation = cluster.gateway.snapshot().generation();
    cluster.apply(tag("two"));
    generation = reloaded(&cluster, generation).await;
    assert!(generation > 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notes(&cluster.server, "IngressRoute", "broken", "Normal").len(), 1);
    assert_eq!(notes(&cluster.server, "IngressRoute", "broken", "Warning").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_identical_reloads_write_no_new_event() {
    let (cluster, _a, _b) = crd_cluster(|url| CrdProvider::endpoint(url, "", None)).await;
    // A Middleware with a key switchyard does not read: the provider's own warning, as an Event.
    cluster.apply(traefik(
        "Middleware",
        "default",
        "typo",
        json!({"headers": {"customRequestHeaderz": {"X-Test": "x"}}}),
    ));
    cluster.routes_to("good.test", "/", "a-0").await;
    expect_event(&cluster, "IngressRoute", "broken", "Warning", &["@kubernetescrd.rule"]).await;
    expect_event(
        &cluster,
        "Middleware",
        "typo",
        "Warning",
        &["unknown key `spec.headers.customRequestHeaderz` ignored"],
    )
    .await;
    // And the report's: left with no header set, the middleware is invalid.
    expect_event(
        &cluster,
        "Middleware",
        "typo",
        "Warning",
        &["http.middlewares.default-typo@kubernetescrd.headers (Middleware default/typo): "],
    )
    .await;
    // Let the writer settle, then count.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = cluster.server.list("Event", None).len();
    assert_eq!(before, 3, "{:#?}", cluster.server.list("Event", None));

    let mut generation = cluster.gateway.snapshot().generation();
    for i in 0..20 {
        // A change elsewhere reloads the whole configuration (and its report) ...
        cluster.apply(tag(&format!("reload-{i}")));
        // ... and the broken objects are written again, unchanged but for their resourceVersion.
        cluster.apply(broken_route("Host(`broken.test`"));
        cluster.apply(traefik(
            "Middleware",
            "default",
            "typo",
            json!({"headers": {"customRequestHeaderz": {"X-Test": "x"}}}),
        ));
        generation = reloaded(&cluster, generation).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        cluster.server.list("Event", None).len(),
        before,
        "reloads with the same problems wrote Events: {:#?}",
        cluster.server.list("Event", None)
    );
    assert_eq!(cluster.get("good.test", "/").await.1, "a-0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingress_naming_a_missing_middleware_or_service_gets_warnings_then_a_normal_event() {
    let server = ApiServer::start().await;
    let pods = Pods::start("app", 1).await;
    deploy(&server, "app", &pods);
    server.apply(ingress(
        "default",
        "good",
        json!({"rules": [rule("good.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    let mut chained = ingress(
        "default",
        "chained",
        json!({"rules": [rule("chained.test", &[("Prefix", "/", "app", "http")])]}),
    );
    chained["metadata"]["annotations"] =
        json!({"traefik.ingress.kubernetes.io/router.middlewares": "default-missing@kubernetescrd"});
    server.apply(chained.clone());
    server.apply(ingress(
        "default",
        "orphan",
        json!({"rules": [rule("orphan.test", &[("Prefix", "/", "nowhere", "http")])]}),
    ));
    let cluster = Cluster::start_with(server, |p| p).await;
    cluster.routes_to("good.test", "/", "app-0").await;

    // From the report: the router's middleware does not exist.
    let warning = expect_event(
        &cluster,
        "Ingress",
        "chained",
        "Warning",
        &[
            "@kubernetes",
            "(Ingress default/chained)",
            "middleware `default-missing@kubernetescrd` does not exist",
        ],
    )
    .await;
    check_event(
        &warning,
        &cluster.server.get("Ingress", "default", "chained").unwrap(),
        "InvalidConfiguration",
    );
    // From the provider's own translation: the Service does not exist.
    expect_event(
        &cluster,
        "Ingress",
        "orphan",
        "Warning",
        &["Service `nowhere` not found"],
    )
    .await;
    assert!(notes(&cluster.server, "Ingress", "good", "Warning").is_empty());
    assert_eq!(cluster.get("good.test", "/").await.1, "app-0");

    chained["metadata"]["annotations"] = json!({});
    cluster.server.apply(chained);
    cluster.routes_to("chained.test", "/", "app-0").await;
    let normal = expect_event(&cluster, "Ingress", "chained", "Normal", &[]).await;
    check_event(
        &normal,
        &cluster.server.get("Ingress", "default", "chained").unwrap(),
        "ConfigurationValid",
    );
    assert_eq!(notes(&cluster.server, "Ingress", "chained", "Warning").len(), 1);
    assert!(
        notes(&cluster.server, "Ingress", "orphan", "Normal").is_empty(),
        "orphan is still broken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_capped_per_second_over_all_objects() {
    let cluster = Cluster::start_crd(|p| p).await;
    let pods = Pods::start("a", 1).await;
    deploy(&cluster.server, "a", &pods);
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "good",
        json!({"routes": [{"match": "Host(`good.test`)", "services": [{"name": "a", "port": 80}]}]}),
    ));
    const BROKEN: usize = 40;
    for i in 0..BROKEN {
        cluster.apply(traefik(
            "IngressRoute",
            "default",
            &format!("broken-{i}"),
            json!({"routes": [{"match": format!("Host(`broken-{i}.test`"), "services": [{"name": "a", "port": 80}]}]}),
        ));
    }
    cluster.routes_to("good.test", "/", "a-0").await;
    within(Duration::from_secs(30), || async {
        cluster.server.list("Event", None).len() >= BROKEN
    })
    .await
    .unwrap_or_else(|_| panic!("only {} Events", cluster.server.list("Event", None).len()));
    // When each was written, by the writer's own clock: a burst of 20, then 5 a second, never more.
    let mut times: Vec<Timestamp> = cluster
        .server
        .list("Event", None)
        .iter()
        .map(|e| e["eventTime"].as_str().unwrap().parse().unwrap())
        .collect();
    times.sort();
    for (i, time) in times.iter().enumerate() {
        let elapsed = time.duration_since(times[0]).as_secs_f64();
        let allowed = 20.0 + elapsed * 5.0 + 1.0;
        assert!((i + 1) as f64 <= allowed, "{} Events within {elapsed} s", i + 1);
    }
    let span = times[BROKEN - 1].duration_since(times[0]).as_secs_f64();
    assert!(
        span >= 3.5,
        "{BROKEN} Events within {span} s: faster than 20 plus 5 a second"
    );
    assert_eq!(cluster.server.list("Event", None).len(), BROKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_object_events_writes_none() {
    let yaml = "providers:\n  kubernetesIngress:\n    disableObjectEvents: true\n  kubernetesCRD:\n    disableObjectEvents: true\n";
    let loaded = load_str::<StaticConfig>(yaml, Format::Yaml, "static.yml").unwrap();
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    let providers = loaded.value.providers;
    assert!(providers.kubernetes_ingress.unwrap().disable_object_events);
    let crd = providers.kubernetes_crd.unwrap();
    assert!(crd.disable_object_events);

    let (cluster, _a, _b) =
        crd_cluster(|url| CrdProvider::from_static(&KubernetesCrdOptions { endpoint: url, ..crd })).await;
    cluster.routes_to("good.test", "/", "a-0").await;
    // The broken route is in the report, and no Event is written about it.
    within(LIVE_TIMEOUT, || async {
        cluster
            .gateway
            .snapshot()
            .report()
            .routers
            .values()
            .any(|r| r.origin.as_deref().is_some_and(|o| o.contains("broken")) && !r.errors.is_empty())
    })
    .await
    .expect("the broken route is in the report");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(cluster.server.list("Event", None).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leader_election_only_the_leader_writes_events() {
    let server = ApiServer::start().await;
    server.apply(ingress(
        "default",
        "orphan",
        json!({"rules": [rule("orphan.test", &[("Prefix", "/", "nowhere", "http")])]}),
    ));
    let replica = |identity: &str| {
        let election = LeaderElection::new("default", "switchyard-events")
            .identity(identity)
            .lease_duration(Duration::from_secs(2))
            .retry_period(Duration::from_millis(100));
        let provider = IngressProvider::endpoint(server.url(), "", None).leader_election(election);
        Aggregator::new()
            .throttle(Duration::ZERO)
            .provider(provider)
            .start()
            .unwrap()
    };
    let (first, second) = (replica("replica-1"), replica("replica-2"));
    within(LIVE_TIMEOUT, || async {
        !notes(&server, "Ingress", "orphan", "Warning").is_empty()
    })
    .await
    .expect("the leader writes a Warning");
    // Both replicas translated the same problem; give the follower every chance to write it too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        notes(&server, "Ingress", "orphan", "Warning"),
        ["Service `nowhere` not found"],
        "{:#?}",
        server.list("Event", None)
    );
    first.shutdown().await;
    second.shutdown().await;
}
