//! Ports of core GATEWAY-GRPC conformance tests (kubernetes-sigs/gateway-api `conformance/tests`),
//! in switchyard's own code: the same objects against the test API server, real h2c calls through
//! the gateway to gRPC echo backends.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::sync::atomic::Ordering;

use http::StatusCode;
use serde_json::{Value, json};
use support::conformance::{GrpcEcho, grpc_call, grpc_connection, grpc_pod};
use support::gateway::{eventually, gateway, http_route, parent_condition, start};

/// The suite's infrastructure namespace.
const NS: &str = "gateway-conformance-infra";

fn grpc_route(name: &str, spec: Value) -> Value {
    let mut route = http_route(NS, name, spec);
    route["kind"] = json!("GRPCRoute");
    route
}

fn listener(name: &str, hostname: &str) -> Value {
    json!({"name": name, "port": 80, "protocol": "HTTP", "hostname": hostname,
           "allowedRoutes": {"namespaces": {"from": "Same"}}})
}

/// GRPCRouteListenerHostnameMatching: listeners on one port told apart by hostname, each route on
/// the listeners its `sectionName` names; a host no listener serves is not routed (HTTP 404, which
/// gRPC clients read as `UNIMPLEMENTED`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_route_listener_hostname_matching() {
    let cluster = start(|p| p).await;
    let _v1 = GrpcEcho::start(&cluster, NS, "grpc-infra-backend-v1").await;
    let _v2 = GrpcEcho::start(&cluster, NS, "grpc-infra-backend-v2").await;
    let _v3 = GrpcEcho::start(&cluster, NS, "grpc-infra-backend-v3").await;
    let gateway_name = "grpcroute-listener-hostname-matching";
    cluster.server.apply(gateway(
        NS,
        gateway_name,
        json!([
            listener("listener-1", "bar.com"),
            listener("listener-2", "foo.bar.com"),
            listener("listener-3", "*.bar.com"),
            listener("listener-4", "*.foo.com"),
        ]),
    ));
    let parent = |section: &str| json!({"name": gateway_name, "namespace": NS, "sectionName": section});
    let to = |backend: &str| json!([{"backendRefs": [{"name": backend, "port": 8080}]}]);
    cluster.server.apply(grpc_route(
        "backend-v1",
        json!({"parentRefs": [parent("listener-1")], "rules": to("grpc-infra-backend-v1")}),
    ));
    cluster.server.apply(grpc_route(
        "backend-v2",
        json!({"parentRefs": [parent("listener-2")], "rules": to("grpc-infra-backend-v2")}),
    ));
    cluster.server.apply(grpc_route(
        "backend-v3",
        json!({"parentRefs": [parent("listener-3"), parent("listener-4")], "rules": to("grpc-infra-backend-v3")}),
    ));
    for route in ["backend-v1", "backend-v2", "backend-v3"] {
        eventually(&cluster.server, "GRPCRoute", NS, route, |s| {
            parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
        })
        .await;
    }
    let mut sender = grpc_connection(cluster.addr).await;
    let path = "/grpc.conformance.EchoService/Echo";
    support::within(support::LIVE_TIMEOUT, || {
        let mut sender = sender.clone();
        async move {
            let (_, headers) = grpc_call(&mut sender, "multiple.prefixes.foo.com", path, &[]).await;
            grpc_pod(&headers) == Some("grpc-infra-backend-v3-0")
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the routes never served: {:?}", cluster.warnings()));
    for (authority, pod) in [
        ("bar.com", Some("grpc-infra-backend-v1-0")),
        ("foo.bar.com", Some("grpc-infra-backend-v2-0")),
        ("baz.bar.com", Some("grpc-infra-backend-v3-0")),
        ("boo.bar.com", Some("grpc-infra-backend-v3-0")),
        ("multiple.prefixes.bar.com", Some("grpc-infra-backend-v3-0")),
        ("multiple.prefixes.foo.com", Some("grpc-infra-backend-v3-0")),
        ("foo.com", None),
        ("no.matching.host", None),
    ] {
        let (status, headers) = grpc_call(&mut sender, authority, path, &[]).await;
        match pod {
            Some(pod) => assert_eq!(grpc_pod(&headers), Some(pod), "{authority}: {status} {headers:?}"),
            None => assert_eq!(status, StatusCode::NOT_FOUND, "{authority}: {headers:?}"),
        }
    }
}

/// GRPCRouteWeight: calls split 70/30/0 by the backends' weights (within 5 points over 2,000
/// calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_route_weight() {
    let cluster = start(|p| p).await;
    let v1 = GrpcEcho::start(&cluster, NS, "grpc-infra-backend-v1").await;
    let v2 = GrpcEcho::start(&cluster, NS, "grpc-infra-backend-v2").await;
    let v3 = GrpcEcho::start(&cluster, NS, "grpc-infra-backend-v3").await;
    cluster.server.apply(gateway(
        NS,
        "same-namespace",
        json!([{"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}]),
    ));
    let backend = |name: &str, weight: u32| json!({"name": name, "port": 8080, "weight": weight});
    cluster.server.apply(grpc_route(
        "weighted-backends",
        json!({"parentRefs": [{"name": "same-namespace"}], "rules": [{"backendRefs": [
            backend("grpc-infra-backend-v1", 70), backend("grpc-infra-backend-v2", 30), backend("grpc-infra-backend-v3", 0),
        ]}]}),
    ));
    let mut sender = grpc_connection(cluster.addr).await;
    let path = "/grpc.conformance.EchoService/Echo";
    support::within(support::LIVE_TIMEOUT, || {
        let mut sender = sender.clone();
        async move { grpc_pod(&grpc_call(&mut sender, "any.test", path, &[]).await.1).is_some() }
    })
    .await
    .unwrap_or_else(|_| panic!("the route never served: {:?}", cluster.warnings()));
    let before = (v1.calls.load(Ordering::Relaxed), v2.calls.load(Ordering::Relaxed));
    let total = 2_000_u32;
    for _ in 0..total {
        let (status, headers) = grpc_call(&mut sender, "any.test", path, &[]).await;
        assert!(grpc_pod(&headers).is_some(), "{status} {headers:?}");
    }
    let share = |now: usize, then: usize| (now - then) as f64 / f64::from(total);
    let one = share(v1.calls.load(Ordering::Relaxed), before.0);
    let two = share(v2.calls.load(Ordering::Relaxed), before.1);
    assert!((one - 0.7).abs() <= 0.05, "weight 70 got {one}");
    assert!((two - 0.3).abs() <= 0.05, "weight 30 got {two}");
    assert_eq!(v3.calls.load(Ordering::Relaxed), 0, "weight 0 gets no call");
}
