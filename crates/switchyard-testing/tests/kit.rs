//! The kit's own behaviour: sources (file, directory, text), entrypoints, TLS, what backends receive,
//! problems, and the errors it gives.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use http::Request;
use switchyard_testing::{Format, RoutingTest, TestKitError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn https(url: &str) -> Request<&'static str> {
    Request::get(url).body("").unwrap()
}

#[tokio::test]
async fn a_directory_of_yaml_and_toml_routes_as_the_file_provider_reads_it() {
    let test = RoutingTest::builder().directory(FIXTURES).start().await.unwrap();

    let plain = test.get("http://shop.example/cart?x=1").await.unwrap();
    assert_eq!(plain.router(), Some("to-https@file"));
    assert_eq!(plain.middlewares(), ["https@file"]);
    assert_eq!(plain.status(), 301);
    assert_eq!(plain.redirect(), Some("https://shop.example/cart?x=1"));
    assert!(plain.received().is_none());

    let api = test
        .send_on("websecure", https("https://shop.example/api/items/3"))
        .await
        .unwrap();
    assert_eq!(api.router(), Some("api@file"));
    assert_eq!(api.middlewares(), ["strip-api@file", "tag@file"]);
    let received = api.received().unwrap();
    assert_eq!(received.server, "http://api-1:8080");
    assert_eq!(received.path(), "/items/3");
    assert_eq!(received.header("x-shop"), Some("1"));
    assert_eq!(received.header("x-forwarded-proto"), Some("https"));
    // The router that lost, and why the winner won.
    let explanation = api.explanation();
    assert_eq!(
        explanation.losers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["shop@file"]
    );
    assert_eq!(
        explanation.router.as_ref().unwrap().matched,
        ["Host(`shop.example`)", "PathPrefix(`/api`)"]
    );

    let mut canary = https("https://shop.example/api/items");
    canary.headers_mut().insert("x-canary", "1".parse().unwrap());
    let canary = test.send_on("websecure", canary).await.unwrap();
    assert_eq!(canary.router(), Some("api-canary@file"));
    assert_eq!(canary.received().unwrap().path(), "/api/items");

    // From the TOML file of the subdirectory.
    let admin = test
        .send_on("websecure", https("https://shop.example/admin/users"))
        .await
        .unwrap();
    assert_eq!(admin.router(), Some("admin@file"));
    let mut post = https("https://shop.example/admin/users");
    *post.method_mut() = http::Method::POST;
    assert_eq!(
        test.send_on("websecure", post).await.unwrap().router(),
        Some("shop@file")
    );

    // `api-orders` (priority 10) loses every request to `api` (priority 42, its rule's length).
    let problems = test.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("http.routers.api-orders@file.rule ("),
        "{problems:?}"
    );
    assert!(
        problems[0].ends_with("unreachable on entrypoint `websecure` (TLS): every request the rule matches goes first to `api@file` (priority 42)"),
        "{problems:?}"
    );
    test.shutdown().await;
}

#[tokio::test]
async fn bodies_and_methods_reach_the_backend() {
    let test = RoutingTest::from_file(format!("{FIXTURES}/shop.yml")).await.unwrap();
    let request = Request::put("https://shop.example/api/cart")
        .body("two apples")
        .unwrap();
    let exchange = test.send_on("websecure", request).await.unwrap();
    let received = exchange.received().unwrap();
    assert_eq!(received.method, http::Method::PUT);
    assert_eq!(&received.body[..], b"two apples");
    assert_eq!(exchange.all_received().len(), 1);
    // A path the entrypoint cleans is routed and forwarded clean.
    let exchange = test
        .send_on("websecure", https("https://shop.example/x/../api//cart"))
        .await
        .unwrap();
    assert_eq!(exchange.received().unwrap().path(), "/cart");
    test.shutdown().await;
}

#[tokio::test]
async fn text_sources_and_their_errors() {
    let toml = "[http.routers.r]\nrule = \"Path(`/`)\"\nservice = \"s\"\n[[http.services.s.loadBalancer.servers]]\nurl = \"http://s\"\n";
    let test = RoutingTest::builder()
        .text(toml, Format::Toml)
        .entry_points(["edge"])
        .start()
        .await
        .unwrap();
    assert_eq!(test.get("http://h/").await.unwrap().router(), Some("r@file"));
    let error = test.send_on("web", https("http://h/")).await.unwrap_err();
    assert!(matches!(error, TestKitError::UnknownEntryPoint(..)), "{error}");
    test.shutdown().await;

    let error = RoutingTest::from_yaml("http: [").await.unwrap_err();
    assert!(matches!(error, TestKitError::Load(_)), "{error}");
    let error = RoutingTest::from_file(format!("{FIXTURES}/missing.yml"))
        .await
        .unwrap_err();
    assert!(matches!(error, TestKitError::Load(_)), "{error}");
}

#[tokio::test]
async fn json_and_a_static_configuration_with_entrypoint_middlewares() {
    let json = r#"{"http": {
        "routers": {"r": {"rule": "PathPrefix(`/app`)", "service": "s"}},
        "middlewares": {"tag": {"headers": {"customRequestHeaders": {"X-Edge": "yes"}}}},
        "services": {"s": {"loadBalancer": {"servers": [{"url": "http://app:3000"}]}}}
    }}"#;
    let mut edge = switchyard_config::EntryPoint::new("127.0.0.1:0");
    edge.http.middlewares = vec!["tag@file".into()];
    let mut static_config = switchyard_config::StaticConfig::default();
    static_config.entry_points.insert("edge".into(), edge);
    let test = RoutingTest::builder()
        .text(json, Format::Json)
        .static_config(static_config)
        .start()
        .await
        .unwrap();
    let exchange = test.get("http://any.example/app/x").await.unwrap();
    assert_eq!(exchange.router(), Some("r@file"));
    // The entrypoint's middlewares come first.
    assert_eq!(exchange.middlewares(), ["tag@file"]);
    assert_eq!(exchange.received().unwrap().header("x-edge"), Some("yes"));
    assert_eq!(exchange.received().unwrap().server, "http://app:3000");
    test.shutdown().await;
}
