//! Thousands of Ingresses, Services and EndpointSlices converge to a compiled snapshot, and changes go
//! live at that scale.
//!
//! The suite runs 500 of each in debug builds as a behaviour check with a generous timeout. The figures
//! (5,000 Ingresses and 5,000 Services with 3 endpoints each) are ignored tests for release builds, each
//! run alone in its own process, so that timings and the memory figure are not blurred by another test:
//!
//! ```text
//! cargo test --release -p switchyard-kubernetes --test scale -- --ignored --exact --nocapture five_thousand_ingresses_converge_within_two_seconds_of_the_last_event
//! cargo test --release -p switchyard-kubernetes --test scale -- --ignored --exact --nocapture five_thousand_ingresses_steady_state_memory
//! cargo test --release -p switchyard-kubernetes --test scale -- --ignored --exact --nocapture ingress_changes_go_live_within_a_second_among_five_thousand
//! ```
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Cluster, ingress, median_and_max, ready, release_only, rss_mib, rule, service, slice, within};
use switchyard_test_apiserver::ApiServer;

/// How long the debug-build check waits: a behaviour check, not a speed figure.
const GENEROUS: Duration = Duration::from_secs(120);

/// Applies `n` Services (3 ready endpoints each, in one slice, on loopback addresses where nothing
/// listens) and `n` Ingresses routing to them.
fn apply_all(server: &ApiServer, n: usize) {
    for i in 0..n {
        apply_one(server, i);
    }
}

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
    server.apply(ingress(
        "default",
        &name,
        json!({"rules": [rule(&format!("{name}.test"), &[("Prefix", "/", &name, "http")])]}),
    ));
}

/// Applies everything while the provider runs; returns the time from the last event to a compiled
/// snapshot with every route, waiting at most `limit`.
async fn converge(n: usize, limit: Duration) -> (Cluster, Duration) {
    let cluster = Cluster::start(|p| p).await;
    cluster.published().await;
    apply_all(&cluster.server, n);
    let last_event = Instant::now();
    within(limit, || async {
        cluster.gateway.snapshot().route_count("web").plain == n
    })
    .await
    .expect("every route compiled");
    let converged = last_event.elapsed();
    let (status, body) = cluster.get(&format!("app-{}.test", n - 1), "/").await;
    assert_eq!(status, 502, "routed to an endpoint where nothing listens: {body}");
    (cluster, converged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_ingresses_converge() {
    let (_cluster, converged) = converge(500, GENEROUS).await;
    println!("500 Ingresses/Services/EndpointSlices: compiled {converged:?} after the last event (debug build)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure: run in release, alone"]
async fn five_thousand_ingresses_converge_within_two_seconds_of_the_last_event() {
    release_only();
    let (_cluster, converged) = converge(5_000, Duration::from_secs(60)).await;
    println!("5,000 Ingresses + 5,000 Services (3 endpoints each): compiled {converged:?} after the last event");
    assert!(converged < Duration::from_secs(2), "{converged:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure: run in release, alone in its process"]
async fn five_thousand_ingresses_steady_state_memory() {
    release_only();
    let start = rss_mib();
    let server = ApiServer::start().await;
    apply_all(&server, 5_000);
    let populated = rss_mib();
    let cluster = Cluster::start_with(server, |p| p).await;
    within(Duration::from_secs(60), || async {
        cluster.gateway.snapshot().route_count("web").plain == 5_000
    })
    .await
    .expect("every route compiled");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let added = rss_mib() - populated;
    println!(
        "5,000 Ingresses + 5,000 Services (3 endpoints each): the test API server holds {:.1} MiB; \
         the provider and the gateway add {added:.1} MiB once converged",
        populated - start
    );
    assert!(added < 512.0, "{added:.1} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure: run in release, alone"]
async fn ingress_changes_go_live_within_a_second_among_five_thousand() {
    release_only();
    let (cluster, _) = converge(5_000, Duration::from_secs(60)).await;
    let mut took = Vec::new();
    for i in 5_000..5_020 {
        let started = Instant::now();
        apply_one(&cluster.server, i);
        let host = format!("app-{i}.test");
        within(Duration::from_secs(30), || async {
            cluster.get(&host, "/").await.0 == 502
        })
        .await
        .expect("the new Ingress routes");
        took.push(started.elapsed());
    }
    let (median, max) = median_and_max(took);
    println!("a new Ingress among 5,000 goes live in {median:?} (median of 20), {max:?} at most");
    assert!(max < Duration::from_secs(1), "{max:?}");
}
