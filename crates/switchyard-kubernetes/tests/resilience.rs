//! The API server going away, watches ending, `410 Gone`: the provider lists again and resumes, and
//! serves its last snapshot meanwhile.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Cluster, Pods, RequestLoop, ingress, ready, rule, service, slice, within};

/// Recovery includes the watcher's back-off after failed attempts (at most 2 s); generous, for loaded
/// machines.
const RECOVERS_WITHIN: Duration = Duration::from_secs(20);

async fn cluster_with_route(pods: &Pods) -> Cluster {
    let cluster = Cluster::start(|p| p).await;
    cluster.server.apply(service("default", "app", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "app",
        "app-abc",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    cluster.server.apply(ingress(
        "default",
        "app",
        json!({"rules": [rule("app.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    cluster.routes_to("app.test", "/", "app-0").await;
    cluster
}

/// Adds an Ingress for `host` to the same Service.
fn add_host(cluster: &Cluster, host: &str) {
    cluster.server.apply(ingress(
        "default",
        host,
        json!({"rules": [rule(host, &[("Prefix", "/", "app", "http")])]}),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_keeps_the_routes_and_changes_made_meanwhile_arrive() {
    let pods = Pods::start("app", 1).await;
    let cluster = cluster_with_route(&pods).await;
    let requests = RequestLoop::start(cluster.addr, "app.test", "/", "app-0");

    cluster.server.stop().await;
    // Down for a while: the last snapshot keeps serving, and the cluster changes meanwhile.
    tokio::time::sleep(Duration::from_millis(700)).await;
    add_host(&cluster, "added-while-down.test");
    within(RECOVERS_WITHIN, || async {
        let snapshot = cluster.gateway.snapshot();
        let reported = snapshot.published().providers["kubernetes"].last_error.clone();
        reported.is_some_and(|e| e.contains("watching"))
    })
    .await
    .expect("the outage is reported");
    cluster.server.resume().await;
    let took = within(RECOVERS_WITHIN, || async {
        cluster.get("added-while-down.test", "/").await.0 == 200
    })
    .await
    .expect("the change made while the API server was down arrives");
    within(RECOVERS_WITHIN, || async {
        let snapshot = cluster.gateway.snapshot();
        snapshot.published().providers["kubernetes"].last_error.is_none()
    })
    .await
    .expect("the outage is no longer reported once every watch works again");

    let (sent, failures) = requests.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed: {failures:?}",
        failures.len()
    );
    println!("{sent} requests without failure; caught up {took:?} after the API server came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_watches_resume_and_a_compacted_history_is_listed_again() {
    let pods = Pods::start("app", 1).await;
    let cluster = cluster_with_route(&pods).await;
    let requests = RequestLoop::start(cluster.addr, "app.test", "/", "app-0");

    // Watch streams end: the next change still arrives.
    cluster.server.drop_watches();
    add_host(&cluster, "after-drop.test");
    cluster.routes_to("after-drop.test", "/", "app-0").await;

    // History is compacted while watches are down: resuming gets `410 Gone`, and the watcher lists.
    cluster.server.drop_watches();
    add_host(&cluster, "after-compaction.test");
    cluster.server.compact();
    cluster.routes_to("after-compaction.test", "/", "app-0").await;

    let (sent, failures) = requests.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed: {failures:?}",
        failures.len()
    );
}

/// Every watch request is answered with `status` (not an in-stream event): kube's watcher alone
/// would retry the same version forever. Only a fresh list can bring the change in.
async fn watches_refused_with(status: u16) {
    let pods = Pods::start("app", 1).await;
    let cluster = cluster_with_route(&pods).await;
    cluster.server.fail_watches(Some(status));
    cluster.server.drop_watches();
    add_host(&cluster, "relisted.test");
    within(RECOVERS_WITHIN, || async {
        cluster.get("relisted.test", "/").await.0 == 200
    })
    .await
    .expect("the watch was restarted and listed again");

    cluster.server.fail_watches(None);
    add_host(&cluster, "watched-again.test");
    within(RECOVERS_WITHIN, || async {
        cluster.get("watched-again.test", "/").await.0 == 200
    })
    .await
    .expect("watching again once the API server accepts watches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_refused_with_410_are_restarted_from_a_fresh_list() {
    watches_refused_with(410).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_refused_with_504_are_restarted_from_a_fresh_list() {
    watches_refused_with(504).await;
}
