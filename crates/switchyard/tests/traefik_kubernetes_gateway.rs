//! A Traefik static file with `providers.kubernetesGateway`, through the facade: listeners serve on
//! the entrypoint with their port, and options switchyard does not apply are reported.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use serde_json::json;
use support::backend;
use switchyard::config::{Format, StaticConfig, load_str};
use switchyard_test_apiserver::{ApiServer, ResourceType};

/// A port nothing listens on now, for an entrypoint whose port the Gateway's listener must name.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_api_provider_follows_the_static_settings() {
    let server = ApiServer::start().await;
    for kind in switchyard::kubernetes::GATEWAY_KINDS {
        server.register(ResourceType::of(kind.0, kind.1));
    }
    let pod = backend("shop").await;
    server.apply(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": "shop", "name": "app"},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }));
    server.apply(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": "shop", "name": "app-1", "labels": {"kubernetes.io/service-name": "app"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [pod.ip().to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "http", "port": pod.port(), "protocol": "TCP"}],
    }));
    let port = free_port();
    server.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "switchyard"}, "spec": {"controllerName": "traefik.io/gateway-controller"},
    }));
    server.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"namespace": "shop", "name": "edge"},
        "spec": {"gatewayClassName": "switchyard", "listeners": [{"name": "web", "port": port, "protocol": "HTTP"}]},
    }));
    server.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": "shop", "name": "app"},
        "spec": {"parentRefs": [{"name": "edge"}], "hostnames": ["shop.example"],
                 "rules": [{"backendRefs": [{"name": "app", "port": 80}]}]},
    }));
    let yaml = format!(
        "entryPoints:\n  web:\n    address: 127.0.0.1:{port}\nproviders:\n  providersThrottleDuration: 0s\n  \
         kubernetesGateway:\n    endpoint: {}\n    qps: 50\n    statusAddress:\n      ip: 192.0.2.1\n",
        server.url()
    );
    let config: StaticConfig = load_str(&yaml, Format::Yaml, "traefik.yml").unwrap().value;
    let gateway = switchyard::gateway_from_static(&config).unwrap().start().await.unwrap();
    let live = gateway.wait_for(|s| s.route_count("web").plain > 0);
    let snapshot = tokio::time::timeout(Duration::from_secs(10), live)
        .await
        .expect("the HTTPRoute never reached the routing table");
    let warnings = snapshot.published().providers["kubernetesgateway"].warnings.clone();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("providers.kubernetesGateway.qps is not supported")),
        "{warnings:?}"
    );
    let addr = gateway.local_addr("web").unwrap();
    assert_eq!(
        support::get(addr, "/", &[("host", "shop.example")]).await,
        (200, "shop".into())
    );
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let gw = server.get("Gateway", "shop", "edge").unwrap();
            if gw["status"]["addresses"][0]["value"] == "192.0.2.1" {
                return gw;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the Gateway status got the static address");
    assert_eq!(status["status"]["listeners"][0]["attachedRoutes"], 1);
    gateway.shutdown().await;
}
