//! The shipped manifests match the code: `deploy/crds.yaml` defines exactly the kinds the provider
//! watches, every key its schemas allow is read by the provider (none is reported as unknown), and
//! `deploy/rbac.yaml` grants each provider exactly the accesses it makes.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value, json};
use support::schema::{CRDS, RBAC, documents};
use support::{Cluster, ingress, rule, service, traefik, within};
use switchyard_kubernetes::{IngressProvider, TRAEFIK_KINDS};
use switchyard_test_apiserver::{Access, ApiServer};

fn crds() -> Vec<Value> {
    documents(CRDS)
}

#[test]
fn the_crds_define_exactly_the_watched_kinds() {
    let defined: BTreeSet<(String, String)> = crds()
        .iter()
        .map(|crd| {
            assert_eq!(crd["apiVersion"], "apiextensions.k8s.io/v1");
            assert_eq!(crd["spec"]["group"], "traefik.io");
            assert_eq!(crd["spec"]["scope"], "Namespaced");
            let names = &crd["spec"]["names"];
            assert_eq!(
                crd["metadata"]["name"],
                format!("{}.traefik.io", names["plural"].as_str().unwrap())
            );
            (
                names["kind"].as_str().unwrap().to_owned(),
                names["plural"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let watched: BTreeSet<(String, String)> = TRAEFIK_KINDS
        .iter()
        .map(|(k, p)| ((*k).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(defined, watched);
}

/// A value for every key the schema allows (one item per array, the first enum value), so that
/// reading it shows which keys the provider does not know.
fn fill(schema: &Value) -> Value {
    if schema["x-kubernetes-int-or-string"] == true {
        return json!(1);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("object") => {
            let mut map = Map::new();
            for (key, property) in schema["properties"].as_object().into_iter().flatten() {
                map.insert(key.clone(), fill(property));
            }
            Value::Object(map)
        }
        Some("array") => json!([fill(&schema["items"])]),
        Some("integer") => json!(1),
        Some("boolean") => json!(true),
        _ => json!("x"),
    }
}

/// The objects that together use every key of a kind's schema: the types of Middlewares and
/// TraefikServices one by one, since an object has exactly one.
fn full_objects(crd: &Value) -> Vec<Value> {
    let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
    let spec_schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let spec = fill(spec_schema);
    let one_type = matches!(kind, "Middleware" | "TraefikService");
    let specs: Vec<Value> = if one_type {
        spec.as_object().unwrap().iter().map(|(k, v)| json!({ k: v })).collect()
    } else {
        vec![spec]
    };
    specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| traefik(kind, "default", &format!("full-{}-{i}", kind.to_lowercase()), spec))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_the_schemas_allow_is_read() {
    let cluster = Cluster::start_crd(|p| p).await;
    let mut applied = Vec::new();
    for crd in crds() {
        for object in full_objects(&crd) {
            applied.push(object["metadata"]["name"].as_str().unwrap().to_owned());
            cluster.apply(object);
        }
    }
    // Every object is reported for something (the filled values name nothing that exists); wait until
    // the last one has been translated.
    let last = applied.last().unwrap().clone();
    within(Duration::from_secs(10), || async {
        cluster.warnings().iter().any(|w| w.contains(&last))
    })
    .await
    .unwrap_or_else(|_| panic!("{last} translated: {:#?}", cluster.warnings()));
    let unknown: Vec<String> = cluster
        .warnings()
        .into_iter()
        .filter(|w| w.contains("unknown key"))
        .collect();
    assert!(
        unknown.is_empty(),
        "keys the schemas allow but the provider does not read: {unknown:#?}"
    );
    assert!(
        applied.len() > 20,
        "the middleware and service types were applied one by one: {applied:?}"
    );
}

/// The (group, resource, verb) triples a ClusterRole grants.
fn granted(role: &str) -> BTreeSet<(String, String, String)> {
    let docs = documents(RBAC);
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == role)
        .unwrap_or_else(|| panic!("no ClusterRole {role}"));
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    let text = |v: &Value| v.as_str().unwrap().to_owned();
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

/// The accesses the provider has made once every granted one has been seen (the watches start one
/// after another, some after the first publication), or after ten seconds. Accesses beyond the grant
/// still show up in the comparison that follows.
async fn settled_accesses(
    cluster: &Cluster,
    grants: &BTreeSet<(String, String, String)>,
) -> BTreeSet<(String, String, String)> {
    let _ = within(Duration::from_secs(10), || async {
        used(&cluster.server.accesses()).is_superset(grants)
    })
    .await;
    used(&cluster.server.accesses())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_cluster_role_grants_exactly_what_the_provider_uses() {
    let cluster = Cluster::start_crd(|p| p).await;
    // A route whose rule does not parse: the provider writes an Event about it.
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "broken",
        json!({"routes": [{"match": "Host(`broken.test`", "services": [{"name": "app", "port": 80}]}]}),
    ));
    cluster.published().await;
    assert_eq!(
        settled_accesses(&cluster, &granted("switchyard-crd")).await,
        granted("switchyard-crd")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingress_cluster_role_grants_exactly_what_the_provider_uses() {
    let server = ApiServer::start().await;
    server.apply(service("default", "app", &[("http", 80)]));
    server.apply(ingress(
        "default",
        "app",
        json!({"rules": [rule("app.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    // An Ingress naming a Service that does not exist: the provider writes an Event about it.
    server.apply(ingress(
        "default",
        "orphan",
        json!({"rules": [rule("orphan.test", &[("Prefix", "/", "missing", "http")])]}),
    ));
    server.apply(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
    }));
    // Every optional access on: IngressClasses (the default), Nodes and status writes.
    let provider = IngressProvider::endpoint(server.url(), "", None)
        .report_node_internal_ips(true)
        .allow_empty_services(true);
    let cluster = Cluster::start_provider(server, provider).await;
    cluster.published().await;
    // The status write comes after the first publication.
    within(Duration::from_secs(10), || async {
        cluster.server.accesses().iter().any(|a| a.verb == "patch")
    })
    .await
    .expect("the Ingress status is written");
    assert_eq!(
        settled_accesses(&cluster, &granted("switchyard-ingress")).await,
        granted("switchyard-ingress")
    );
}
