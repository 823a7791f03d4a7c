//! Traefik's `providers.kubernetesCRD` settings, read from a static configuration: endpoint and token,
//! namespaces, labelSelector, ingressClass, allowEmptyServices, nativeLBByDefault,
//! disableClusterScopeResources, throttleDuration.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, register_traefik_kinds, service, traefik, within};
use switchyard_config::{Format, KubernetesCrdOptions, StaticConfig, load_str};
use switchyard_kubernetes::CrdProvider;
use switchyard_test_apiserver::ApiServer;

fn options(yaml: &str) -> KubernetesCrdOptions {
    let config: StaticConfig = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
    config.providers.kubernetes_crd.unwrap()
}

fn route(namespace: &str, name: &str, class: Option<&str>, labels: Value) -> Value {
    let mut object = traefik(
        "IngressRoute",
        namespace,
        name,
        json!({"routes": [{"match": format!("Host(`{name}.test`)"), "services": [{"name": "app", "port": 80}]}]}),
    );
    if let Some(class) = class {
        object["spec"]["ingressClassName"] = json!(class);
    }
    object["metadata"]["labels"] = labels;
    object
}

fn routers(cluster: &Cluster) -> Vec<String> {
    let snapshot = cluster.gateway.snapshot();
    snapshot
        .published()
        .runtime
        .config
        .http
        .routers
        .keys()
        .map(|k| k.split('-').take(2).collect::<Vec<_>>().join("-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_settings_select_what_is_watched_and_handled() {
    let server = ApiServer::start().await;
    register_traefik_kinds(&server);
    server.require_token(Some("s3cret"));
    for namespace in ["shop", "blog", "other"] {
        server.apply(service(namespace, "app", &[("http", 80)]));
    }
    server.apply(route("shop", "shop", Some("edge"), json!({"expose": "yes"})));
    server.apply(route("blog", "unlabelled", Some("edge"), json!({"expose": "no"})));
    server.apply(route("blog", "other-class", Some("traefik"), json!({"expose": "yes"})));
    server.apply(route("other", "elsewhere", Some("edge"), json!({"expose": "yes"})));
    let mut annotated = route("blog", "annotated", None, json!({"expose": "yes"}));
    annotated["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": "edge"});
    server.apply(annotated);
    let yaml = format!(
        "providers:
  kubernetesCRD:
    endpoint: {}
    token: s3cret
    namespaces: [shop, blog]
    labelSelector: expose=yes
    ingressClass: edge
    allowEmptyServices: true
    nativeLBByDefault: true
    disableClusterScopeResources: true
    throttleDuration: 300ms
",
        server.url()
    );
    let provider = CrdProvider::from_static(&options(&yaml));
    let cluster = Cluster::start_provider(server, provider).await;
    within(Duration::from_secs(10), || async { routers(&cluster).len() == 2 })
        .await
        .unwrap_or_else(|_| panic!("{:?} {:?}", routers(&cluster), cluster.warnings()));
    assert_eq!(routers(&cluster), ["blog-annotated", "shop-shop"]);
    let snapshot = cluster.gateway.snapshot();
    let services = &snapshot.published().runtime.config.http.services;
    let switchyard_config::ServiceKind::LoadBalancer(lb) = &services["shop-app-80@kubernetescrd"].kind else {
        panic!()
    };
    assert_eq!(lb.servers[0].url, "http://10.96.0.10:80", "nativeLBByDefault");
    // disableClusterScopeResources: no Node is ever listed.
    assert!(cluster.server.accesses().iter().all(|a| a.resource != "nodes"));

    // Throttled: after a publication, the next one waits for throttleDuration (300 ms).
    cluster
        .server
        .apply(route("shop", "second", Some("edge"), json!({"expose": "yes"})));
    within(Duration::from_secs(10), || async { routers(&cluster).len() == 3 })
        .await
        .unwrap();
    let published = std::time::Instant::now();
    cluster
        .server
        .apply(route("shop", "third", Some("edge"), json!({"expose": "yes"})));
    within(Duration::from_secs(10), || async { routers(&cluster).len() == 4 })
        .await
        .unwrap();
    let waited = published.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "the next change came {waited:?} after a publication"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_services_are_left_out_unless_allowed() {
    let strict = Cluster::start_crd(|p| p).await;
    strict.apply(service("default", "app", &[("http", 80)]));
    strict.apply(route("default", "empty", None, json!({})));
    within(Duration::from_secs(10), || async {
        strict
            .warnings()
            .iter()
            .any(|w| w.contains("Service `default/app` has no ready endpoints"))
    })
    .await
    .unwrap_or_else(|_| panic!("{:?}", strict.warnings()));
    assert!(routers(&strict).is_empty());

    let allowing = Cluster::start_crd(|p| p.allow_empty_services(true)).await;
    allowing.apply(service("default", "app", &[("http", 80)]));
    allowing.apply(route("default", "empty", None, json!({})));
    within(Duration::from_secs(10), || async {
        allowing.get("empty.test", "/").await.0 == 503
    })
    .await
    .expect("a route to a Service without endpoints answers 503");
}
