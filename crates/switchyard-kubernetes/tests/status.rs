//! Handled Ingresses get the configured address in `status.loadBalancer.ingress`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::{Cluster, ingress, rule, service, within};
use switchyard_config::IngressEndpoint;
use switchyard_test_apiserver::ApiServer;

fn status(server: &ApiServer, name: &str) -> Value {
    server.get("Ingress", "default", name).unwrap()["status"]["loadBalancer"]["ingress"].clone()
}

async fn eventually_status(server: &ApiServer, name: &str, expected: Value) {
    within(std::time::Duration::from_secs(5), || async {
        status(server, name) == expected
    })
    .await
    .unwrap_or_else(|_| panic!("status of {name}: {} instead of {expected}", status(server, name)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_address_is_written_to_handled_ingresses_only() {
    let endpoint = IngressEndpoint {
        ip: "192.0.2.10".into(),
        hostname: "lb.example.com".into(),
        published_service: String::new(),
    };
    let cluster = Cluster::start(|p| p.ingress_endpoint(endpoint).allow_empty_services(true)).await;
    cluster.server.apply(service("default", "app", &[("http", 80)]));
    let spec = json!({"rules": [rule("app.test", &[("Prefix", "/", "app", "http")])]});
    cluster.server.apply(ingress("default", "ours", spec.clone()));
    let mut theirs = ingress("default", "theirs", spec);
    theirs["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": "nginx"});
    cluster.server.apply(theirs);
    eventually_status(
        &cluster.server,
        "ours",
        json!([{"ip": "192.0.2.10", "hostname": "lb.example.com"}]),
    )
    .await;
    assert_eq!(status(&cluster.server, "theirs"), Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_service_address_follows_the_service() {
    let endpoint = IngressEndpoint {
        published_service: "kube-system/switchyard".into(),
        ..IngressEndpoint::default()
    };
    let cluster = Cluster::start(|p| p.ingress_endpoint(endpoint).allow_empty_services(true)).await;
    let mut published = service("kube-system", "switchyard", &[("web", 80)]);
    published["spec"]["type"] = json!("LoadBalancer");
    published["status"] = json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}]}});
    cluster.server.apply(published.clone());
    cluster.server.apply(service("default", "app", &[("http", 80)]));
    cluster.server.apply(ingress(
        "default",
        "app",
        json!({"rules": [rule("app.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    eventually_status(&cluster.server, "app", json!([{"ip": "203.0.113.5"}])).await;

    published["status"] = json!({"loadBalancer": {"ingress": [{"hostname": "elb.example.com"}]}});
    cluster.server.apply(published);
    eventually_status(&cluster.server, "app", json!([{"hostname": "elb.example.com"}])).await;
}
