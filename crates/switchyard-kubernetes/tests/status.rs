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
    within(std::time::Duration::from_secs(15), || async {
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

fn node(name: &str, internal: &str, external: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name},
        "status": {"addresses": [
            {"type": "InternalIP", "address": internal},
            {"type": "ExternalIP", "address": external},
            {"type": "Hostname", "address": name},
        ]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_internal_ips_are_reported_when_asked_for() {
    let server = ApiServer::start().await;
    server.apply(node("node-a", "10.0.0.1", "198.51.100.1"));
    server.apply(node("node-b", "10.0.0.2", "198.51.100.2"));
    let cluster = Cluster::start_with(server, |p| p.report_node_internal_ips(true).allow_empty_services(true)).await;
    cluster.server.apply(service("default", "app", &[("http", 80)]));
    cluster.server.apply(ingress(
        "default",
        "app",
        json!({"rules": [rule("app.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    eventually_status(&cluster.server, "app", json!([{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_port_published_service_publishes_the_nodes_external_ips_and_node_ports() {
    let endpoint = IngressEndpoint {
        published_service: "kube-system/switchyard".into(),
        ..IngressEndpoint::default()
    };
    let server = ApiServer::start().await;
    server.apply(node("node-a", "10.0.0.1", "198.51.100.1"));
    let mut published = service("kube-system", "switchyard", &[("web", 80)]);
    published["spec"]["type"] = json!("NodePort");
    published["spec"]["ports"][0]["nodePort"] = json!(30080);
    server.apply(published);
    let cluster = Cluster::start_with(server, |p| p.ingress_endpoint(endpoint).allow_empty_services(true)).await;
    cluster.server.apply(service("default", "app", &[("http", 80)]));
    cluster.server.apply(ingress(
        "default",
        "app",
        json!({"rules": [rule("app.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    eventually_status(
        &cluster.server,
        "app",
        json!([{"ip": "198.51.100.1", "ports": [{"port": 30080, "protocol": "TCP"}]}]),
    )
    .await;
}
