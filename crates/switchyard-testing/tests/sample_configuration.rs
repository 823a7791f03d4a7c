//! The repository's sample configuration (`benches/load/routes-stack.yml`: one catch-all router behind
//! headers, stripPrefix, rateLimit and compress) tested the way a user tests theirs in CI.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use switchyard_testing::RoutingTest;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../benches/load/routes-stack.yml");

#[tokio::test]
async fn the_sample_routes_through_its_middleware_stack() {
    let test = RoutingTest::from_file(SAMPLE).await.unwrap();
    assert_eq!(test.problems(), Vec::<String>::new());

    let exchange = test.get("http://example.com/api/users?page=2").await.unwrap();
    assert_eq!(exchange.status(), 200);
    assert_eq!(exchange.router(), Some("all@file"));
    assert_eq!(exchange.service(), Some("backend@file"));
    assert_eq!(
        exchange.middlewares(),
        ["security@file", "strip@file", "limit@file", "gzip@file"]
    );
    // What the backend got: the prefix stripped, the header added.
    let backend = exchange.received().unwrap();
    assert_eq!(backend.server, "http://127.0.0.1:9000");
    assert_eq!(backend.uri, "/users?page=2");
    assert_eq!(backend.header("x-env"), Some("bench"));
    assert_eq!(backend.header("x-forwarded-prefix"), Some("/api"));
    // What the client got: the security headers.
    assert_eq!(exchange.header("x-served-by"), Some("switchyard"));
    assert_eq!(exchange.header("x-frame-options"), Some("DENY"));
    assert_eq!(exchange.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(exchange.text(), "http://127.0.0.1:9000");

    // The router is on `web` only.
    let request = http::Request::get("http://example.com/").body("").unwrap();
    let elsewhere = test.send_on("websecure", request).await.unwrap();
    assert_eq!((elsewhere.status().as_u16(), elsewhere.router()), (404, None));
    test.shutdown().await;
}
