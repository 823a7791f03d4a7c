//! Traefik's custom resources in the test API server route real requests through the proxy: routes to
//! Services, weighted and mirrored services, TraefikServices nesting others, and middlewares with their
//! Kubernetes references.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use serde_json::{Value, json};
use support::{Cluster, Pods, ingress_route, ready, secret, service, slice, traefik, within};

/// A Service `name` with the port `http` (80) over the pods.
fn deploy(cluster: &Cluster, name: &str, pods: &Pods) {
    cluster.apply(service("default", name, &[("http", 80)]));
    let addresses = pods.first(pods.addresses.len());
    cluster.apply(slice(
        "default",
        name,
        &format!("{name}-abc"),
        "http",
        pods.port,
        &ready(&addresses),
    ));
}

/// GET with extra headers: status and body.
async fn get_with(cluster: &Cluster, host: &str, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = Request::get(format!("http://{}{path}", cluster.addr)).header("host", host);
    for (key, value) in headers {
        request = request.header(*key, *value);
    }
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        cluster.client.request(request.body(Empty::<Bytes>::new()).unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Which pod answered each of `n` requests, counted.
async fn tally(cluster: &Cluster, host: &str, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let (status, body) = cluster.get(host, "/").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let pod = body.split_whitespace().next().unwrap_or_default().to_owned();
        *seen.entry(pod).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_go_to_services_by_port_name_or_number_with_priorities() {
    let cluster = Cluster::start_crd(|p| p).await;
    let a = Pods::start("a", 2).await;
    let b = Pods::start("b", 1).await;
    deploy(&cluster, "a", &a);
    deploy(&cluster, "b", &b);
    let mut routes = ingress_route(
        "default",
        "site",
        &[
            ("Host(`site.test`)", "a", json!("http")),
            ("Host(`site.test`) && PathPrefix(`/b`)", "b", json!(80)),
        ],
    );
    // An explicit priority below the default (the rule length) lets the shorter rule win.
    routes["spec"]["routes"][1]["priority"] = json!(1);
    routes["spec"]["entryPoints"] = json!(["web"]);
    cluster.apply(routes);
    cluster.routes_to("site.test", "/", "a-").await;
    assert!(
        cluster.get("site.test", "/b").await.1.starts_with("a-"),
        "priority 1 loses to the rule length"
    );
    let seen = tally(&cluster, "site.test", 4).await;
    assert_eq!(seen.len(), 2, "both pods of a: {seen:?}");

    let snapshot = cluster.gateway.snapshot();
    let config = &snapshot.published().runtime.config;
    let hash = |rule: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(rule.as_bytes())
            .iter()
            .take(10)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let router = format!("default-site-{}@kubernetescrd", hash("Host(`site.test`)"));
    assert!(
        config.http.routers.contains_key(&router),
        "{router} in {:?}",
        config.http.routers.keys()
    );
    assert!(
        config.http.services.contains_key("default-a-http@kubernetescrd"),
        "{:?}",
        config.http.services.keys()
    );
    assert!(config.http.services.contains_key("default-b-80@kubernetescrd"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_routes_and_traefik_services_split_by_weight_and_nest() {
    let cluster = Cluster::start_crd(|p| p).await;
    let a = Pods::start("a", 1).await;
    let b = Pods::start("b", 1).await;
    let c = Pods::start("c", 1).await;
    for (name, pods) in [("a", &a), ("b", &b), ("c", &c)] {
        deploy(&cluster, name, pods);
    }
    // A route with two services is a weighted service: 3 to 1.
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "split",
        json!({"routes": [{"match": "Host(`split.test`)", "services": [
            {"name": "a", "port": 80, "weight": 3},
            {"name": "b", "port": 80, "weight": 1},
        ]}]}),
    ));
    // A TraefikService nesting another TraefikService and a Service.
    cluster.apply(traefik(
        "TraefikService",
        "default",
        "inner",
        json!({"weighted": {"services": [{"name": "b", "port": 80}, {"name": "c", "port": 80}]}}),
    ));
    cluster.apply(traefik(
        "TraefikService",
        "default",
        "outer",
        json!({"weighted": {"services": [
            {"name": "a", "port": "http", "weight": 2},
            {"name": "inner", "kind": "TraefikService", "weight": 2},
        ]}}),
    ));
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "nested",
        json!({"routes": [{"match": "Host(`nested.test`)", "services": [{"name": "outer", "kind": "TraefikService"}]}]}),
    ));
    cluster.routes_to("split.test", "/", "").await;
    cluster.routes_to("nested.test", "/", "").await;
    let split = tally(&cluster, "split.test", 8).await;
    assert_eq!(split, BTreeMap::from([("a-0".to_owned(), 6), ("b-0".to_owned(), 2)]));
    let nested = tally(&cluster, "nested.test", 8).await;
    assert_eq!(
        nested,
        BTreeMap::from([("a-0".to_owned(), 4), ("b-0".to_owned(), 2), ("c-0".to_owned(), 2)]),
        "half to a, half to inner (split between b and c)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_weighted_services_keep_a_client_and_mirrors_get_copies() {
    let cluster = Cluster::start_crd(|p| p).await;
    let a = Pods::start("a", 1).await;
    let b = Pods::start("b", 1).await;
    let shadow = Pods::start("shadow", 1).await;
    for (name, pods) in [("a", &a), ("b", &b), ("shadow", &shadow)] {
        deploy(&cluster, name, pods);
    }
    cluster.apply(traefik(
        "TraefikService",
        "default",
        "sticky",
        json!({"weighted": {
            "services": [{"name": "a", "port": 80}, {"name": "b", "port": 80}],
            "sticky": {"cookie": {"name": "lane"}},
        }}),
    ));
    cluster.apply(traefik(
        "TraefikService",
        "default",
        "mirrored",
        json!({"mirroring": {"name": "a", "port": 80, "mirrors": [{"name": "shadow", "port": 80, "percent": 100}]}}),
    ));
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "both",
        json!({"routes": [
            {"match": "Host(`sticky.test`)", "services": [{"name": "sticky", "kind": "TraefikService"}]},
            {"match": "Host(`mirror.test`)", "services": [{"name": "mirrored", "kind": "TraefikService"}]},
        ]}),
    ));
    cluster.routes_to("sticky.test", "/", "").await;
    let request = Request::get(format!("http://{}/", cluster.addr))
        .header("host", "sticky.test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = cluster.client.request(request).await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("lane="), "{cookie}");
    let first = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned();
    for _ in 0..6 {
        let (_, body) = get_with(&cluster, "sticky.test", "/", &[("cookie", &cookie)]).await;
        assert_eq!(body, first, "the cookie keeps the client on one service");
    }

    cluster.routes_to("mirror.test", "/", "a-0").await;
    let before = shadow.hits.load(Ordering::Relaxed);
    for _ in 0..5 {
        assert_eq!(cluster.get("mirror.test", "/").await.1, "a-0");
    }
    within(Duration::from_secs(10), || async {
        shadow.hits.load(Ordering::Relaxed) >= before + 5
    })
    .await
    .expect("every request is mirrored to the shadow service");
}

fn middleware(name: &str, spec: Value) -> Value {
    traefik("Middleware", "default", name, spec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middlewares_chains_auth_from_secrets_and_error_pages_apply() {
    let cluster = Cluster::start_crd(|p| p).await;
    let app = Pods::start_echo("app", 1).await;
    let pages = Pods::start_echo("pages", 1).await;
    deploy(&cluster, "app", &app);
    deploy(&cluster, "pages", &pages);
    cluster.apply(middleware("strip", json!({"stripPrefix": {"prefixes": ["/api"]}})));
    cluster.apply(middleware(
        "tag",
        json!({"headers": {"customRequestHeaders": {"X-Test": "tagged"}}}),
    ));
    cluster.apply(middleware(
        "both",
        json!({"chain": {"middlewares": [{"name": "strip"}, {"name": "tag"}]}}),
    ));
    // basicAuth users: htpasswd lines in the only key of a Secret, or a kubernetes.io/basic-auth Secret.
    cluster.apply(secret(
        "default",
        "users",
        "Opaque",
        &[("users", "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\n")],
    ));
    cluster.apply(secret(
        "default",
        "bob",
        "kubernetes.io/basic-auth",
        &[("username", "bob"), ("password", "builder")],
    ));
    cluster.apply(middleware("auth", json!({"basicAuth": {"secret": "users"}})));
    cluster.apply(middleware(
        "bob-auth",
        json!({"basicAuth": {"secret": "bob", "realm": "shop"}}),
    ));
    cluster.apply(middleware(
        "oops",
        json!({"errors": {"status": ["500-599"], "query": "/page{status}", "service": {"name": "pages", "port": 80}}}),
    ));
    let route = |rule: &str, middlewares: &[&str]| {
        let refs: Vec<Value> = middlewares.iter().map(|m| json!({"name": m})).collect();
        json!({"match": rule, "middlewares": refs, "services": [{"name": "app", "port": 80}]})
    };
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "mw",
        json!({"routes": [
            route("Host(`chain.test`)", &["both"]),
            route("Host(`auth.test`)", &["auth"]),
            route("Host(`bob.test`)", &["bob-auth"]),
            route("Host(`errors.test`)", &["oops"]),
        ]}),
    ));
    cluster.routes_to("chain.test", "/api/x", "app-0").await;
    assert_eq!(cluster.get("chain.test", "/api/x").await.1, "app-0 /x tagged /api");

    assert_eq!(cluster.get("auth.test", "/").await.0, StatusCode::UNAUTHORIZED);
    // test:test (apr1), bob:builder ({SHA} from the basic-auth Secret).
    let test = get_with(&cluster, "auth.test", "/", &[("authorization", "Basic dGVzdDp0ZXN0")]).await;
    assert_eq!(test.0, StatusCode::OK, "{test:?}");
    let (status, _) = cluster.get("bob.test", "/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let bob = get_with(
        &cluster,
        "bob.test",
        "/",
        &[("authorization", "Basic Ym9iOmJ1aWxkZXI=")],
    )
    .await;
    assert_eq!(bob.0, StatusCode::OK, "{bob:?}");

    let (status, body) = cluster.get("errors.test", "/status/503").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "pages-0 /page503 - -")
    );
    assert_eq!(cluster.get("errors.test", "/status/404").await.0, StatusCode::NOT_FOUND);
}
