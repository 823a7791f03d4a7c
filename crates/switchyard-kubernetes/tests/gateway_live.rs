//! Changes to Gateways, HTTPRoutes, Services and EndpointSlices reach live routing while requests keep
//! flowing without a failure, each within a second.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{Value, json};
use support::gateway::{backend, gateway, http_listener, http_route, start};
use support::{Cluster, Pods, RequestLoop, ready, service, slice, within};

/// Each change must route within this.
const LIVE: Duration = Duration::from_secs(1);

fn deploy(cluster: &Cluster, name: &str, pods: &Pods, count: usize) {
    cluster.server.apply(service("default", name, &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        name,
        &format!("{name}-x"),
        "http",
        pods.port,
        &ready(&pods.first(count)),
    ));
}

fn steady(weights: (u32, u32), extra: &[Value]) -> Value {
    let mut rules = vec![json!({"backendRefs": [backend("va", 80, weights.0), backend("vb", 80, weights.1)]})];
    rules.extend(extra.iter().cloned());
    http_route(
        "default",
        "steady",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["steady.test"], "rules": rules}),
    )
}

/// Applies a change and waits until `check` holds: how long it took.
async fn live<F, Fut>(what: &str, change: impl FnOnce(), check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    change();
    within(Duration::from_secs(15), check)
        .await
        .unwrap_or_else(|_| panic!("{what} never went live"));
    let took = started.elapsed();
    println!("{what}: live in {took:?}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_change_goes_live_within_a_second_without_a_failed_request() {
    let cluster = start(|p| p).await;
    let va = Pods::start("va", 2).await;
    let vb = Pods::start("vb", 1).await;
    let extra = Pods::start("extra", 1).await;
    deploy(&cluster, "va", &va, 1);
    deploy(&cluster, "vb", &vb, 1);
    deploy(&cluster, "extra", &extra, 1);
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    cluster.server.apply(steady((1, 0), &[]));
    cluster.routes_to("steady.test", "/", "va-").await;

    // Every answer must come from a pod of va or vb, whatever changes.
    let requests = RequestLoop::start(cluster.addr, "steady.test", "/", "v");
    let mut took = Vec::new();
    let answers_from = |prefix: &'static str| {
        let cluster = &cluster;
        move || async move { cluster.get("steady.test", "/").await.1.starts_with(prefix) }
    };

    took.push(
        live(
            "weights moved to vb",
            || {
                cluster.server.apply(steady((0, 1), &[]));
            },
            answers_from("vb-"),
        )
        .await,
    );
    took.push(
        live(
            "weights moved back to va",
            || {
                cluster.server.apply(steady((1, 0), &[]));
            },
            answers_from("va-"),
        )
        .await,
    );
    took.push(
        live(
            "a second pod in the EndpointSlice",
            || deploy(&cluster, "va", &va, 2),
            || async { va_pods_seen(&cluster).await == 2 },
        )
        .await,
    );
    let extra_rule = json!({"matches": [{"path": {"value": "/extra"}}], "backendRefs": [backend("extra", 80, 1)]});
    took.push(
        live(
            "a new rule",
            || {
                cluster.server.apply(steady((1, 0), &[extra_rule]));
            },
            || async { cluster.get("steady.test", "/extra").await.1.starts_with("extra-") },
        )
        .await,
    );
    took.push(
        live(
            "a new HTTPRoute",
            || {
                cluster.server.apply(http_route(
                    "default",
                    "other",
                    json!({"parentRefs": [{"name": "edge"}], "hostnames": ["other.test"],
                           "rules": [{"backendRefs": [backend("extra", 80, 1)]}]}),
                ));
            },
            || async { cluster.get("other.test", "/").await.0 == StatusCode::OK },
        )
        .await,
    );
    took.push(
        live(
            "a listener hostname narrowing the Gateway",
            || {
                cluster
                    .server
                    .apply(gateway("default", "edge", json!([http_listener("web", "steady.test")])));
            },
            || async { cluster.get("other.test", "/").await.0 == StatusCode::NOT_FOUND },
        )
        .await,
    );
    took.push(
        live(
            "the listener hostname widened again",
            || {
                cluster
                    .server
                    .apply(gateway("default", "edge", json!([http_listener("web", "")])));
            },
            || async { cluster.get("other.test", "/").await.0 == StatusCode::OK },
        )
        .await,
    );
    took.push(
        live(
            "an HTTPRoute deleted",
            || {
                cluster.server.delete("HTTPRoute", "default", "other");
            },
            || async { cluster.get("other.test", "/").await.0 == StatusCode::NOT_FOUND },
        )
        .await,
    );

    let (sent, failures) = requests.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(sent > 50, "the request loop ran ({sent} requests)");
    let slowest = took.iter().max().unwrap();
    assert!(*slowest < LIVE, "a change took {slowest:?}");
}

/// How many distinct va pods answer a few requests.
async fn va_pods_seen(cluster: &Cluster) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        seen.insert(cluster.get("steady.test", "/").await.1);
    }
    seen.iter().filter(|b| b.starts_with("va-")).count()
}
