//! Thousands of IngressRoutes (two routes and a Middleware each), with their Services and
//! EndpointSlices, converge to a compiled snapshot, and changes go live at that scale.
//!
//! The suite runs 300 in debug builds as a behaviour check with a generous timeout. The figures (5,000
//! IngressRoutes, 5,000 Middlewares, 5,000 Services with 3 endpoints each) are ignored tests for
//! release builds, each run alone in its own process:
//!
//! ```text
//! cargo test --release -p switchyard-kubernetes --test crd_scale -- --ignored --exact --nocapture five_thousand_ingress_routes_converge_within_two_seconds_of_the_last_object
//! cargo test --release -p switchyard-kubernetes --test crd_scale -- --ignored --exact --nocapture five_thousand_ingress_routes_steady_state_memory
//! cargo test --release -p switchyard-kubernetes --test crd_scale -- --ignored --exact --nocapture crd_changes_go_live_within_a_second_among_five_thousand
//! ```
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{
    Cluster, median_and_max, ready, register_traefik_kinds, release_only, rss_mib, service, slice, traefik, within,
};
use switchyard_kubernetes::CrdProvider;
use switchyard_test_apiserver::ApiServer;

/// Applies the Service (3 endpoints where nothing listens), Middleware and IngressRoute number `i`.
fn apply_one(server: &ApiServer, i: usize) {
    let name = format!("app-{i}");
    server.apply(service("default", &name, &[("http", 80)]));
    let endpoints: Vec<String> = (1..=3).map(|k| format!("127.{}.{}.{k}", i / 250, i % 250)).collect();
    let endpoints: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    server.apply(slice(
        "default",
        &name,
        &format!("{name}-abc"),
        "http",
        8080,
        &ready(&endpoints),
    ));
    server.apply(traefik(
        "Middleware",
        "default",
        &name,
        json!({"stripPrefix": {"prefixes": ["/a", "/b"]}}),
    ));
    let route = |path: &str| {
        json!({"match": format!("Host(`{name}.test`) && PathPrefix(`{path}`)"), "middlewares": [{"name": name}],
            "services": [{"name": name, "port": 80}]})
    };
    server.apply(traefik(
        "IngressRoute",
        "default",
        &name,
        json!({"routes": [route("/a"), route("/b")]}),
    ));
}

fn apply_all(server: &ApiServer, n: usize) {
    for i in 0..n {
        apply_one(server, i);
    }
}

async fn start(server: ApiServer) -> Cluster {
    let provider = CrdProvider::endpoint(server.url(), "", None);
    Cluster::start_provider(server, provider).await
}

/// Applies everything while the provider runs; returns the time from the last object to a compiled
/// snapshot with every route, waiting at most `limit`.
async fn converge(n: usize, limit: Duration) -> (Cluster, Duration) {
    let server = ApiServer::start().await;
    register_traefik_kinds(&server);
    let cluster = start(server).await;
    cluster.published().await;
    apply_all(&cluster.server, n);
    let last_object = Instant::now();
    within(limit, || async {
        cluster.gateway.snapshot().route_count("web").plain == 2 * n
    })
    .await
    .unwrap_or_else(|_| panic!("every route compiled: {:?}", cluster.warnings().first()));
    let converged = last_object.elapsed();
    let (status, body) = cluster.get(&format!("app-{}.test", n - 1), "/b/x").await;
    assert_eq!(status, 502, "routed to an endpoint where nothing listens: {body}");
    (cluster, converged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_ingress_routes_converge() {
    let (_cluster, converged) = converge(300, Duration::from_secs(120)).await;
    println!(
        "300 IngressRoutes (600 routers, 300 Middlewares, 300 Services): compiled {converged:?} after the last object (debug build)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure: run in release, alone"]
async fn five_thousand_ingress_routes_converge_within_two_seconds_of_the_last_object() {
    release_only();
    let (_cluster, converged) = converge(5_000, Duration::from_secs(60)).await;
    println!(
        "5,000 IngressRoutes (10,000 routers, 5,000 Middlewares, 5,000 Services with 3 endpoints): compiled {converged:?} after the last object"
    );
    assert!(converged < Duration::from_secs(2), "{converged:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure: run in release, alone in its process"]
async fn five_thousand_ingress_routes_steady_state_memory() {
    release_only();
    let start_rss = rss_mib();
    let server = ApiServer::start().await;
    register_traefik_kinds(&server);
    apply_all(&server, 5_000);
    let populated = rss_mib();
    let cluster = start(server).await;
    within(Duration::from_secs(60), || async {
        cluster.gateway.snapshot().route_count("web").plain == 10_000
    })
    .await
    .expect("every route compiled");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let added = rss_mib() - populated;
    println!(
        "5,000 IngressRoutes + 5,000 Middlewares + 5,000 Services (3 endpoints each): the test API server holds \
         {:.1} MiB; the provider and the gateway add {added:.1} MiB once converged",
        populated - start_rss
    );
    assert!(added < 768.0, "{added:.1} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure: run in release, alone"]
async fn crd_changes_go_live_within_a_second_among_five_thousand() {
    release_only();
    let (cluster, _) = converge(5_000, Duration::from_secs(60)).await;
    let mut took = Vec::new();
    for i in 5_000..5_020 {
        let started = Instant::now();
        apply_one(&cluster.server, i);
        let host = format!("app-{i}.test");
        within(Duration::from_secs(30), || async {
            cluster.get(&host, "/a").await.0 == 502
        })
        .await
        .expect("the new IngressRoute routes");
        took.push(started.elapsed());
    }
    let (median, max) = median_and_max(took);
    println!("a new IngressRoute among 5,000 goes live in {median:?} (median of 20), {max:?} at most");
    assert!(max < Duration::from_secs(1), "{max:?}");
}
