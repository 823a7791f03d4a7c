//! Requests for backends that cannot be resolved: the specification answers them 500 (a missing
//! Service, a kind that is not a Service, another namespace without a ReferenceGrant, a rule with no
//! backendRefs), and with weights only the invalid backends' share of the requests gets 500.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use support::gateway::{backend, gateway, http_listener, http_route, start};
use support::{Cluster, Pods, ready, service, slice};

/// Pods named `name` behind a Service `name` (port 80) in `namespace`.
async fn app(cluster: &Cluster, namespace: &str, name: &str) -> Pods {
    let pods = Pods::start(name, 1).await;
    cluster.server.apply(service(namespace, name, &[("http", 80)]));
    cluster.server.apply(slice(
        namespace,
        name,
        &format!("{name}-x"),
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    pods
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolvable_backends_answer_500() {
    let cluster = start(|p| p).await;
    let _good = app(&cluster, "default", "good").await;
    let _elsewhere = app(&cluster, "other", "elsewhere").await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let path = |p: &str| json!([{"path": {"type": "PathPrefix", "value": p}}]);
    cluster.server.apply(http_route(
        "default",
        "invalid",
        json!({
            "parentRefs": [{"name": "edge"}],
            "hostnames": ["invalid.test"],
            "rules": [
                {"matches": path("/good"), "backendRefs": [backend("good", 80, 1)]},
                {"matches": path("/missing"), "backendRefs": [backend("gone", 80, 1)]},
                {"matches": path("/kind"),
                 "backendRefs": [{"group": "example.com", "kind": "Bucket", "name": "good", "port": 80}]},
                {"matches": path("/grant"),
                 "backendRefs": [{"name": "elsewhere", "namespace": "other", "port": 80}]},
                {"matches": path("/nothing")},
            ],
        }),
    ));
    cluster.routes_to("invalid.test", "/good", "good-").await;
    for path in ["/missing", "/kind", "/grant", "/nothing"] {
        let (status, body) = cluster.get("invalid.test", path).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_share_of_invalid_backends_answers_500() {
    let cluster = start(|p| p).await;
    let good = app(&cluster, "default", "good").await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    // 1 of 4 to a missing Service, 1 of 4 to a kind that is not a Service.
    cluster.server.apply(http_route(
        "default",
        "split",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["split.test"],
        "rules": [{"backendRefs": [
            backend("good", 80, 2),
            backend("gone", 80, 1),
            {"group": "example.com", "kind": "Bucket", "name": "good", "port": 80, "weight": 1},
        ]}]}),
    ));
    cluster.routes_to("split.test", "/", "good-").await;
    let before = good.hits.load(std::sync::atomic::Ordering::Relaxed);
    let total = 2_000_u32;
    let mut errors = 0_u32;
    for _ in 0..total {
        let (status, body) = cluster.get("split.test", "/").await;
        match status {
            StatusCode::OK => assert!(body.starts_with("good-"), "{body}"),
            StatusCode::INTERNAL_SERVER_ERROR => errors += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let served = good.hits.load(std::sync::atomic::Ordering::Relaxed) - before;
    let share = f64::from(errors) / f64::from(total);
    assert!((share - 0.5).abs() <= 0.05, "the invalid half got {share} of 500s");
    assert_eq!(
        served + errors as usize,
        total as usize,
        "every other request reached the pod"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_to_unresolvable_backends_are_unavailable() {
    let cluster = start(|p| p).await;
    let _web = app(&cluster, "default", "web").await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let mut route = http_route(
        "default",
        "calls",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["grpc.test"],
               "rules": [{"backendRefs": [backend("gone", 50051, 1)]}]}),
    );
    route["kind"] = json!("GRPCRoute");
    cluster.server.apply(route);
    // An HTTPRoute on another hostname tells when the configuration is live.
    cluster.server.apply(http_route(
        "default",
        "site",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["web.test"],
               "rules": [{"backendRefs": [backend("web", 80, 1)]}]}),
    ));
    cluster.routes_to("web.test", "/", "web-").await;
    let stream = tokio::net::TcpStream::connect(cluster.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::post("http://grpc.test/echo.Echo/Say")
        .version(Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "14", "{:?}", response.headers());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty());
}
