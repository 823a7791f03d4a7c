//! Redirections and encoded-character checks through the proxy.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use http::Request;
use support::{Backend, TestGateway, client, full, get, middleware_route, send};
use switchyard_config::{EncodedCharacters, Middleware, RedirectRegex, RedirectScheme, Status};

#[tokio::test]
async fn redirect_scheme_sends_plain_requests_to_https() {
    let backend = Backend::start("b").await;
    let redirect = Middleware::RedirectScheme(RedirectScheme {
        scheme: "https".into(),
        port: "8443".into(),
        permanent: true,
    });
    let gateway = TestGateway::start(middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("https", redirect)],
    ))
    .await;
    let client = client();

    let (status, headers, body) = get(&client, &gateway.url("/cart?item=7"), Some("shop.example")).await;
    assert_eq!((status.as_u16(), body.as_str()), (301, "Moved Permanently"));
    assert_eq!(headers["location"], "https://shop.example:8443/cart?item=7");
    let post = Request::post(gateway.url("/cart"))
        .header("host", "shop.example:80")
        .body(full("x"))
        .unwrap();
    let (status, headers, _) = send(&client, post).await;
    assert_eq!(status, 308, "other methods keep their method and body");
    assert_eq!(headers["location"], "https://shop.example:8443/cart");
    assert!(backend.seen().is_empty());

    // A client cannot claim to be on HTTPS already: its X-Forwarded-Proto is dropped at the entrypoint.
    let forged = Request::get(gateway.url("/"))
        .header("host", "shop.example")
        .header("x-forwarded-proto", "https")
        .body(full(""))
        .unwrap();
    assert_eq!(send(&client, forged).await.0, 301);
}

#[tokio::test]
async fn redirect_regex_rewrites_the_url_and_leaves_others_alone() {
    let backend = Backend::start("b").await;
    let redirect = Middleware::RedirectRegex(RedirectRegex {
        regex: "^http://old\\.example/(.*)".into(),
        replacement: "https://new.example/${1}".into(),
        permanent: false,
    });
    let gateway = TestGateway::start(middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("move", redirect)],
    ))
    .await;
    let client = client();
    let (status, headers, _) = get(&client, &gateway.url("/docs/a?x=1"), Some("old.example")).await;
    assert_eq!(status, 302);
    assert_eq!(headers["location"], "https://new.example/docs/a?x=1");
    let (status, _, body) = get(&client, &gateway.url("/docs"), Some("other.example")).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));

    gateway
        .reconfigure(|c| {
            c.http.middlewares.insert(
                "move".into(),
                Middleware::RedirectRegex(RedirectRegex {
                    regex: "(".into(),
                    ..RedirectRegex::default()
                }),
            );
        })
        .await;
    let snapshot = gateway.gateway.snapshot();
    let report = &snapshot.report().middlewares["move@test"];
    assert_eq!(report.status, Status::Disabled);
    assert_eq!(
        report.errors[0].key_path,
        "http.middlewares.move@test.redirectRegex.regex"
    );
}

#[tokio::test]
async fn encoded_characters_are_refused_unless_allowed() {
    let backend = Backend::start("b").await;
    let check = Middleware::EncodedCharacters(EncodedCharacters {
        allow_encoded_slash: true,
        ..EncodedCharacters::default()
    });
    let gateway = TestGateway::start(middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("chars", check)],
    ))
    .await;
    let client = client();
    assert_eq!(get(&client, &gateway.url("/a%2Fb"), None).await.0, 200);
    let (status, _, body) = get(&client, &gateway.url("/a%3Bb"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (400, ""));
    assert_eq!(get(&client, &gateway.url("/a%5cb"), None).await.0, 400);
    assert_eq!(backend.seen().len(), 1);
}
