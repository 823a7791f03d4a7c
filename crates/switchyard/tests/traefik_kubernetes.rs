//! A Traefik static file with `providers.kubernetesIngress`, through the facade: the provider is built
//! from the file's settings and routes what the API server holds.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use support::backend;
use switchyard::config::{Format, StaticConfig, load_str};
use switchyard_test_apiserver::ApiServer;

async fn get(addr: SocketAddr, host: &str) -> (u16, String) {
    support::get(addr, "/", &[("host", host)]).await
}

/// An Ingress for `{namespace}.example` to the Service `app`, its Service, and an EndpointSlice with
/// one ready endpoint at `pod`.
fn app(server: &ApiServer, namespace: &str, pod: SocketAddr) {
    server.apply(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": namespace, "name": "app"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80}]},
    }));
    server.apply(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": namespace, "name": "app-1", "labels": {"kubernetes.io/service-name": "app"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [pod.ip().to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "http", "port": pod.port(), "protocol": "TCP"}],
    }));
    let path =
        json!({"pathType": "Prefix", "path": "/", "backend": {"service": {"name": "app", "port": {"name": "http"}}}});
    server.apply(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"namespace": namespace, "name": "app"},
        "spec": {"rules": [{"host": format!("{namespace}.example"), "http": {"paths": [path]}}]},
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_ingress_provider_follows_the_static_settings() {
    let server = ApiServer::start().await;
    app(&server, "shop", backend("shop").await);
    app(&server, "other", backend("other").await);
    let yaml = format!(
        "entryPoints:\n  web:\n    address: 127.0.0.1:0\nproviders:\n  providersThrottleDuration: 0s\n  kubernetesIngress:\n    endpoint: {}\n    namespaces: [shop]\n",
        server.url()
    );
    let config: StaticConfig = load_str(&yaml, Format::Yaml, "traefik.yml").unwrap().value;
    let gateway = switchyard::gateway_from_static(&config).unwrap().start().await.unwrap();
    let live = gateway.wait_for(|s| s.route_count("web").plain > 0);
    let snapshot = tokio::time::timeout(Duration::from_secs(10), live)
        .await
        .expect("the Ingress never reached the routing table");
    let routers: Vec<_> = snapshot
        .published()
        .runtime
        .config
        .http
        .routers
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        routers,
        ["shop-app-shop-example@kubernetes"],
        "only the watched namespace"
    );
    let addr = gateway.local_addr("web").unwrap();
    assert_eq!(get(addr, "shop.example").await, (200, "shop".into()));
    assert_eq!(get(addr, "other.example").await, (404, "404 page not found\n".into()));
    gateway.shutdown().await;
}
