//! Two thousand HTTPRoutes on one Gateway converge to a compiled snapshot, and their statuses are
//! written.
//!
//! The debug-build run is a behaviour check with a generous timeout; the figure is an ignored test for
//! release builds, run alone:
//!
//! ```text
//! cargo test --release -p switchyard-kubernetes --test gateway_scale -- --ignored --exact --nocapture two_thousand_http_routes_converge_within_two_seconds_of_the_last_event
//! ```
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::gateway::{backend, gateway, http_listener, http_route, parent_condition, start};
use support::{Cluster, ready, release_only, service, slice, within};

const ROUTES: usize = 2_000;

/// Applies `n` Services (3 endpoints each, on loopback addresses where nothing listens) and `n`
/// HTTPRoutes on Gateway `edge`, each with its own hostname.
fn apply_all(cluster: &Cluster, n: usize) {
    for i in 0..n {
        let name = format!("app-{i}");
        cluster.server.apply(service("default", &name, &[("http", 80)]));
        let endpoints: Vec<String> = (1..=3).map(|k| format!("127.{}.{}.{k}", i / 250, i % 250)).collect();
        let endpoints: Vec<&str> = endpoints.iter().map(String::as_str).collect();
        cluster.server.apply(slice(
            "default",
            &name,
            &format!("{name}-x"),
            "http",
            8080,
            &ready(&endpoints),
        ));
        cluster.server.apply(http_route(
            "default",
            &name,
            json!({"parentRefs": [{"name": "edge"}], "hostnames": [format!("{name}.test")],
                   "rules": [{"matches": [{"path": {"value": "/api"}}], "backendRefs": [backend(&name, 80, 1)]}]}),
        ));
    }
}

/// Applies everything while the provider runs: the time from the last event to a compiled snapshot
/// with every route, and to every route's status written.
async fn converge(n: usize, limit: Duration) -> (Duration, Duration) {
    let cluster = start(|p| p).await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    cluster.published().await;
    apply_all(&cluster, n);
    let last_event = Instant::now();
    within(limit, || async {
        cluster.gateway.snapshot().route_count("web").plain == n
    })
    .await
    .unwrap_or_else(|_| panic!("every route compiled: {:?}", cluster.warnings().first()));
    let routed = last_event.elapsed();
    // A route can be compiled before its Service's endpoints are seen (it answers 500, an unresolved
    // backend, as the Gateway API says, or 503): it has converged once it reaches its endpoints,
    // where nothing listens (502).
    let last = format!("app-{}.test", n - 1);
    within(limit, || async { cluster.get(&last, "/api").await.0 == 502 })
        .await
        .unwrap_or_else(|_| panic!("the last route reaches its endpoints: {:?}", cluster.warnings().first()));
    within(limit, || async {
        (0..n).step_by(97).chain([n - 1]).all(|i| {
            let status = support::gateway::status(&cluster.server, "HTTPRoute", "default", &format!("app-{i}"));
            parent_condition(&status, "Accepted") == ("True".into(), "Accepted".into())
        })
    })
    .await
    .expect("route statuses written");
    let statuses = last_event.elapsed();
    (routed, statuses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_http_routes_converge() {
    let (routed, statuses) = converge(ROUTES, Duration::from_secs(120)).await;
    println!(
        "2,000 HTTPRoutes/Services/EndpointSlices: compiled {routed:?}, statuses written {statuses:?} after the last event (debug build)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure: run in release, alone"]
async fn two_thousand_http_routes_converge_within_two_seconds_of_the_last_event() {
    release_only();
    let (routed, statuses) = converge(ROUTES, Duration::from_secs(60)).await;
    println!(
        "2,000 HTTPRoutes + 2,000 Services (3 endpoints each): compiled {routed:?}, statuses written {statuses:?} after the last event"
    );
    assert!(routed < Duration::from_secs(2), "{routed:?}");
}
