//! Changes to every kind of custom resource reach live routing while requests keep flowing without a
//! failure, and an API server restart in the middle loses nothing. How fast each change went live is
//! printed; the one-second figure is measured in release mode by `scale.rs`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Cluster, Pods, RequestLoop, ready, secret, service, slice, traefik, within};

/// Generous: a loaded two-core machine may be slow; the speed figure is measured elsewhere.
const LIVE: Duration = Duration::from_secs(15);

fn deploy(cluster: &Cluster, name: &str, pods: &Pods, count: usize) {
    cluster.apply(service("default", name, &[("http", 80)]));
    cluster.apply(slice(
        "default",
        name,
        &format!("{name}-abc"),
        "http",
        pods.port,
        &ready(&pods.first(count)),
    ));
}

fn weighted(a: u32, b: u32) -> Value {
    traefik(
        "TraefikService",
        "default",
        "split",
        json!({"weighted": {"services": [{"name": "a", "port": 80, "weight": a}, {"name": "b", "port": 80, "weight": b}]}}),
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

fn steady_route(extra_rules: &[&str]) -> Value {
    let mut routes = vec![json!({"match": "Host(`steady.test`)", "middlewares": [{"name": "tag"}],
        "services": [{"name": "split", "kind": "TraefikService"}]})];
    for rule in extra_rules {
        routes.push(json!({"match": rule, "middlewares": [{"name": "auth"}], "services": [{"name": "a", "port": 80}]}));
    }
    traefik("IngressRoute", "default", "steady", json!({"routes": routes}))
}

async fn answers(cluster: &Cluster, host: &str, tries: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..tries {
        seen.insert(cluster.get(host, "/").await.1);
    }
    seen
}

/// Applies, then waits until `check` holds; returns how long it took.
async fn change<F, Fut>(cluster: &Cluster, what: &str, objects: Vec<Value>, check: F) -> (String, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    for object in objects {
        cluster.apply(object);
    }
    within(LIVE, check)
        .await
        .unwrap_or_else(|_| panic!("{what} did not go live: {:?}", cluster.warnings()));
    (what.to_owned(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_changes_live_under_load_and_survives_an_api_server_restart() {
    let cluster = Cluster::start_crd(|p| p).await;
    let a = Pods::start_echo("a", 2).await;
    let b = Pods::start_echo("b", 1).await;
    deploy(&cluster, "a", &a, 1);
    deploy(&cluster, "b", &b, 1);
    cluster.apply(secret(
        "default",
        "users",
        "Opaque",
        &[("users", "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/")],
    ));
    cluster.apply(traefik(
        "Middleware",
        "default",
        "auth",
        json!({"basicAuth": {"secret": "users"}}),
    ));
    cluster.apply(tag("one"));
    cluster.apply(weighted(1, 0));
    cluster.apply(steady_route(&[]));
    cluster.routes_to("steady.test", "/", "a-0 / one").await;
    let requests = RequestLoop::start(cluster.addr, "steady.test", "/", "");
    let mut figures = Vec::new();

    figures.push(
        change(&cluster, "Middleware", vec![tag("two")], || async {
            cluster.get("steady.test", "/").await.1.contains(" two ")
        })
        .await,
    );
    figures.push(
        change(&cluster, "TraefikService", vec![weighted(0, 1)], || async {
            cluster.get("steady.test", "/").await.1.starts_with("b-0 ")
        })
        .await,
    );
    figures.push(
        change(
            &cluster,
            "Service endpoints",
            vec![weighted(1, 0), {
                let pods = a.first(2);
                slice("default", "a", "a-abc", "http", a.port, &ready(&pods))
            }],
            || async { answers(&cluster, "steady.test", 6).await.len() == 2 },
        )
        .await,
    );
    figures.push(
        change(
            &cluster,
            "IngressRoute",
            vec![steady_route(&["Host(`added.test`)"])],
            || async { cluster.get("added.test", "/").await.0 == 401 },
        )
        .await,
    );
    figures.push(change(&cluster, "Secret", vec![secret("default", "users", "Opaque", &[("users", "other:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/")])], || async {
        let snapshot = cluster.gateway.snapshot();
        let middleware = &snapshot.published().runtime.config.http.middlewares["default-auth@kubernetescrd"];
        matches!(middleware, switchyard_config::Middleware::BasicAuth(auth) if auth.users[0].starts_with("other:"))
    }).await);
    let options = |min: &str| traefik("TLSOption", "default", "opts", json!({"minVersion": min}));
    figures.push(
        change(&cluster, "TLSOption", vec![options("VersionTLS13")], || async {
            let snapshot = cluster.gateway.snapshot();
            snapshot
                .published()
                .runtime
                .config
                .tls
                .options
                .get("default-opts@kubernetescrd")
                .is_some_and(|o| o.min_version == "VersionTLS13")
        })
        .await,
    );
    let transport = |name: &str| traefik("ServersTransport", "default", "tr", json!({"serverName": name}));
    figures.push(
        change(&cluster, "ServersTransport", vec![transport("a.internal")], || async {
            let snapshot = cluster.gateway.snapshot();
            snapshot
                .published()
                .runtime
                .config
                .http
                .servers_transports
                .get("default-tr@kubernetescrd")
                .is_some_and(|t| t.server_name == "a.internal")
        })
        .await,
    );
    let pem = |body: &str| format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
    let key = "-----BEGIN PRIVATE KEY-----\nKKKK\n-----END PRIVATE KEY-----\n";
    let store = traefik(
        "TLSStore",
        "default",
        "default",
        json!({"defaultCertificate": {"secretName": "fallback"}}),
    );
    let certificate = secret(
        "default",
        "fallback",
        "kubernetes.io/tls",
        &[("tls.crt", &pem("AAAA")), ("tls.key", key)],
    );
    figures.push(
        change(&cluster, "TLSStore", vec![certificate, store], || async {
            let snapshot = cluster.gateway.snapshot();
            let stores = &snapshot.published().runtime.config.tls.stores;
            stores
                .get("default")
                .and_then(|s| s.default_certificate.as_ref())
                .is_some_and(|c| c.cert_file.contains("AAAA"))
        })
        .await,
    );

    // The API server restarts; a change made while it is down arrives once it is back.
    cluster.server.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.server.apply(tag("three"));
    cluster.server.resume().await;
    figures.push(
        change(&cluster, "Middleware across a restart", vec![], || async {
            cluster.get("steady.test", "/").await.1.contains(" three ")
        })
        .await,
    );

    let (sent, failures) = requests.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed: {failures:?}",
        failures.len()
    );
    assert!(sent > 50, "the request loop ran ({sent} requests)");
    println!("{sent} requests, none failed; live after: {figures:?}");
}
