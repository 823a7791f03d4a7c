//! Thousands of Ingresses, Services and EndpointSlices converge to a compiled snapshot quickly.
//!
//! The suite runs 500 of each in debug builds. The full-size figures (5,000 Ingresses and 5,000 Services
//! with 3 endpoints each) are ignored tests, meant for release builds, each in its own process so that
//! the memory figure is not blurred by the other test:
//!
//! ```text
//! cargo test --release -p switchyard-kubernetes --test scale -- --ignored --nocapture converge
//! cargo test --release -p switchyard-kubernetes --test scale -- --ignored --nocapture memory
//! ```
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Cluster, ingress, ready, rule, service, slice, within};
use switchyard_test_apiserver::ApiServer;

/// The resident set size of this process, in MiB (Linux).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Applies `n` Services (3 ready endpoints each, in one slice, on loopback addresses where nothing
/// listens) and `n` Ingresses routing to them.
fn apply_all(server: &ApiServer, n: usize) {
    for i in 0..n {
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
        server.apply(ingress(
            "default",
            &name,
            json!({"rules": [rule(&format!("{name}.test"), &[("Prefix", "/", &name, "http")])]}),
        ));
    }
}

/// Applies everything while the provider runs; returns the time from the last event to a compiled
/// snapshot with every route.
async fn converge(n: usize) -> Duration {
    let cluster = Cluster::start(|p| p).await;
    cluster.published().await;
    apply_all(&cluster.server, n);
    let last_event = Instant::now();
    within(Duration::from_secs(60), || async {
        cluster.gateway.snapshot().route_count("web", false) == n
    })
    .await
    .expect("every route compiled");
    let converged = last_event.elapsed();
    let (status, body) = cluster.get(&format!("app-{}.test", n - 1), "/").await;
    assert_eq!(status, 502, "routed to an endpoint where nothing listens: {body}");
    converged
}

/// The resident memory the API server's objects take, then what the provider and the gateway add
/// once they have converged on them, in MiB.
async fn steady_memory(n: usize) -> (f64, f64) {
    let start = rss_mib();
    let server = ApiServer::start().await;
    apply_all(&server, n);
    let populated = rss_mib();
    let cluster = Cluster::start_with(server, |p| p).await;
    within(Duration::from_secs(60), || async {
        cluster.gateway.snapshot().route_count("web", false) == n
    })
    .await
    .expect("every route compiled");
    tokio::time::sleep(Duration::from_secs(1)).await;
    (populated - start, rss_mib() - populated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_ingresses_converge_within_two_seconds_of_the_last_event() {
    let converged = converge(500).await;
    println!("500 Ingresses/Services/EndpointSlices: compiled {converged:?} after the last event");
    assert!(converged < Duration::from_secs(2), "{converged:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the full-size figure: run in release"]
async fn five_thousand_ingresses_converge_within_two_seconds_of_the_last_event() {
    let converged = converge(5_000).await;
    println!("5,000 Ingresses + 5,000 Services (3 endpoints each): compiled {converged:?} after the last event");
    assert!(converged < Duration::from_secs(2), "{converged:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the full-size figure: run in release, alone in its process"]
async fn five_thousand_ingresses_steady_state_memory() {
    let (server, provider_and_gateway) = steady_memory(5_000).await;
    println!(
        "5,000 Ingresses + 5,000 Services (3 endpoints each): the test API server holds {server:.1} MiB; \
         the provider and the gateway add {provider_and_gateway:.1} MiB once converged"
    );
    assert!(provider_and_gateway < 512.0, "{provider_and_gateway:.1} MiB");
}
