//! `contentType` through the proxy: a response without a type gets the sniffed one; others keep theirs.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use http::Request;
use support::{Backend, TestGateway, client, full, middleware_route, route, send};
use switchyard_config::{ContentType, Middleware};

#[tokio::test]
async fn untyped_responses_are_sniffed_only_with_the_middleware() {
    let backend = Backend::start("b").await;
    let echo =
        |gateway: &TestGateway, body: &'static str| Request::post(gateway.url("/echo")).body(full(body)).unwrap();

    let plain = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let (_, headers, _) = send(&client(), echo(&plain, "<html><body>hi</body></html>")).await;
    assert!(
        !headers.contains_key("content-type"),
        "Traefik v3 leaves a missing type missing"
    );

    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("ct", Middleware::ContentType(ContentType::default()))],
    );
    let sniffing = TestGateway::start(config).await;
    let (status, headers, body) = send(&client(), echo(&sniffing, "<html><body>hi</body></html>")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(body, "<html><body>hi</body></html>");
    let (_, headers, _) = send(&client(), echo(&sniffing, "plain words")).await;
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    // The backend's own answers carry a type, which stays.
    let (_, headers, _) = send(
        &client(),
        Request::get(sniffing.url("/trailers")).body(full("")).unwrap(),
    )
    .await;
    assert_eq!(headers["content-type"], "application/grpc");
}
