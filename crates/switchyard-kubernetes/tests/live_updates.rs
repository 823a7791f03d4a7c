//! Changes in the cluster reach live routing while requests keep flowing without a failure. The time
//! each took is printed; the one-second figure is measured in release builds (`scale.rs`).
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeSet;

use http::StatusCode;
use serde_json::json;
use support::{Cluster, LIVE_TIMEOUT, Pods, RequestLoop, ingress, ready, rule, service, slice, tls_secret, within};

const CERT_A: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
const CERT_B: &str = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nKKKK\n-----END PRIVATE KEY-----\n";

async fn distinct_answers(cluster: &Cluster, host: &str, tries: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..tries {
        seen.insert(cluster.get(host, "/").await.1);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_path_changes_deletion_and_secret_rotation_go_live_without_failures() {
    let cluster = Cluster::start(|p| p).await;
    let pods = Pods::start("live", 3).await;
    let other = Pods::start("other", 1).await;
    cluster.server.apply(service("default", "live", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "live",
        "live-abc",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    cluster.server.apply(service("default", "other", &[("web", 8080)]));
    cluster.server.apply(slice(
        "default",
        "other",
        "other-abc",
        "web",
        other.port,
        &ready(&other.first(1)),
    ));
    cluster.server.apply(ingress(
        "default",
        "live",
        json!({"rules": [rule("live.test", &[("Prefix", "/", "live", "http")])]}),
    ));
    cluster.server.apply(tls_secret("default", "site", CERT_A, KEY));
    let mut paths = ingress(
        "default",
        "paths",
        json!({
            "tls": [{"hosts": ["paths.test"], "secretName": "site"}],
            "rules": [rule("paths.test", &[("Exact", "/v1", "other", "web")])],
        }),
    );
    cluster.server.apply(paths.clone());
    cluster.routes_to("live.test", "/", "live-0").await;
    cluster.routes_to("paths.test", "/v1", "other-0").await;
    let requests = RequestLoop::start(cluster.addr, "live.test", "/", "live-");
    let mut figures = Vec::new();

    // Scale up: three pods answer.
    cluster.server.apply(slice(
        "default",
        "live",
        "live-abc",
        "http",
        pods.port,
        &ready(&pods.first(3)),
    ));
    let took = within(LIVE_TIMEOUT, || async {
        distinct_answers(&cluster, "live.test", 6).await.len() == 3
    })
    .await
    .expect("scaled up");
    figures.push(("scale up", took));

    // Scale down: one pod is left in rotation (the others keep running, as terminating pods do).
    cluster.server.apply(slice(
        "default",
        "live",
        "live-abc",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    let took = within(LIVE_TIMEOUT, || async {
        distinct_answers(&cluster, "live.test", 6).await == BTreeSet::from(["live-0".to_owned()])
    })
    .await
    .expect("scaled down");
    figures.push(("scale down", took));

    // A path changes.
    paths["spec"]["rules"] = json!([rule("paths.test", &[("Exact", "/v2", "other", "web")])]);
    cluster.server.apply(paths);
    let took = within(LIVE_TIMEOUT, || async {
        cluster.get("paths.test", "/v2").await.0 == StatusCode::OK
            && cluster.get("paths.test", "/v1").await.0 == StatusCode::NOT_FOUND
    })
    .await
    .expect("the changed path is live");
    figures.push(("path change", took));

    // The TLS Secret is rotated: the published certificate changes.
    let certificate = |cluster: &Cluster| {
        let snapshot = cluster.gateway.snapshot();
        let certificates = &snapshot.published().runtime.config.tls.certificates;
        certificates.iter().map(|c| c.cert_file.clone()).collect::<Vec<_>>()
    };
    assert_eq!(certificate(&cluster), [CERT_A]);
    cluster.server.apply(tls_secret("default", "site", CERT_B, KEY));
    let took = within(LIVE_TIMEOUT, || async { certificate(&cluster) == [CERT_B] })
        .await
        .expect("the rotated certificate is published");
    figures.push(("secret rotation", took));

    // The Ingress is deleted: its routes and its certificate go.
    assert!(cluster.server.delete("Ingress", "default", "paths"));
    let took = within(LIVE_TIMEOUT, || async {
        cluster.get("paths.test", "/v2").await.0 == StatusCode::NOT_FOUND && certificate(&cluster).is_empty()
    })
    .await
    .expect("the deleted Ingress leaves");
    figures.push(("ingress deletion", took));

    let (sent, failures) = requests.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed: {failures:?}",
        failures.len()
    );
    assert!(sent > 50, "the request loop ran ({sent} requests)");
    println!("{sent} requests, no failure; live after: {figures:?}");
}
