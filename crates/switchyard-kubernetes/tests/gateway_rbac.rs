//! `deploy/rbac.yaml`'s `switchyard-gateway` ClusterRole grants the Gateway API provider exactly the
//! accesses it makes, status writes included.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::gateway::{backend, gateway, http_listener, http_route, start};
use support::schema::{RBAC, documents};
use support::{service, within};
use switchyard_test_apiserver::Access;

/// The (group, resource, verb) triples a ClusterRole grants.
fn granted(role: &str) -> BTreeSet<(String, String, String)> {
    let docs = documents(RBAC);
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == role)
        .unwrap_or_else(|| panic!("no ClusterRole {role}"));
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    grants.insert((text(group), text(resource), text(verb)));
                }
            }
        }
    }
    grants
}

fn used(accesses: &[Access]) -> BTreeSet<(String, String, String)> {
    accesses
        .iter()
        .map(|a| (a.group.clone(), a.resource.clone(), a.verb.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_cluster_role_grants_exactly_what_the_provider_uses() {
    let cluster = start(|p| p).await;
    cluster.server.apply(service("default", "app", &[("http", 80)]));
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let spec = json!({"parentRefs": [{"name": "edge"}], "rules": [{"backendRefs": [backend("app", 80, 1)]}]});
    cluster.server.apply(http_route("default", "web", spec.clone()));
    let mut grpc = http_route("default", "rpc", spec);
    grpc["kind"] = json!("GRPCRoute");
    cluster.server.apply(grpc);
    let grants = granted("switchyard-gateway");
    let _ = within(Duration::from_secs(15), || async {
        used(&cluster.server.accesses()).is_superset(&grants)
    })
    .await;
    assert_eq!(used(&cluster.server.accesses()), grants);
}
