//! Path middlewares through the proxy: what the backend receives, and what the client gets on bad input.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use support::{Backend, TestGateway, client, get, middleware_route, static_config_with};
use switchyard_config::{
    AddPrefix, EncodedCharacters, Middleware, ReplacePath, ReplacePathRegex, StripPrefix, StripPrefixRegex,
};

fn strip(prefixes: &[&str]) -> Middleware {
    Middleware::StripPrefix(StripPrefix {
        prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        ..StripPrefix::default()
    })
}

#[tokio::test]
async fn strip_prefix_forwards_the_rest_with_the_query_and_x_forwarded_prefix() {
    let backend = Backend::start("b").await;
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("strip", strip(&["/api", "/v1"]))],
    );
    // An entrypoint that leaves paths as they come, so that the middleware meets escaped and doubled
    // slashes itself.
    let lenient = static_config_with(|ep| {
        ep.http.sanitize_path = false;
        ep.http.encoded_characters = Some(EncodedCharacters {
            allow_encoded_slash: true,
            ..EncodedCharacters::default()
        });
    });
    let gateway = TestGateway::start_with(lenient, config).await;
    let client = client();

    let (status, _, _) = get(&client, &gateway.url("/api/users?id=7&x=a%20b"), None).await;
    assert_eq!(status, 200);
    let seen = backend.last();
    assert_eq!(seen.uri, "/users?id=7&x=a%20b");
    assert_eq!(seen.headers["x-forwarded-prefix"], "/api");

    get(&client, &gateway.url("/api"), None).await;
    assert_eq!(backend.last().uri, "/");
    get(&client, &gateway.url("/v1/a%2Fb"), None).await;
    assert_eq!(backend.last().uri, "/a%2Fb", "the client's escaping survives");
    get(&client, &gateway.url("/other"), None).await;
    assert!(!backend.last().headers.contains_key("x-forwarded-prefix"));

    let before = backend.seen().len();
    let (status, _, body) = get(&client, &gateway.url("/api/..%2f..%2fetc"), None).await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "b"),
        "an escaped slash is not a segment"
    );
    let (status, _, body) = get(&client, &gateway.url("/api//etc"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (400, "Bad Request\n"));
    assert_eq!(
        backend.seen().len(),
        before + 1,
        "the refused request never reached the backend"
    );
}

#[tokio::test]
async fn a_client_cannot_forge_x_forwarded_prefix() {
    let backend = Backend::start("b").await;
    let config = middleware_route("PathPrefix(`/`)", &[backend.url()], vec![("strip", strip(&["/api"]))]);
    let gateway = TestGateway::start(config).await;
    let request = http::Request::get(gateway.url("/api/x"))
        .header("x-forwarded-prefix", "/forged")
        .body(support::full(""))
        .unwrap();
    support::send(&client(), request).await;
    let values: Vec<_> = backend
        .last()
        .headers
        .get_all("x-forwarded-prefix")
        .iter()
        .cloned()
        .collect();
    assert_eq!(values, ["/api"]);
}

#[tokio::test]
async fn regex_strips_and_rewrites() {
    let backend = Backend::start("b").await;
    let strip_regex = Middleware::StripPrefixRegex(StripPrefixRegex {
        regex: vec!["/tenant/[a-z]+".into()],
    });
    let rewrite = Middleware::ReplacePathRegex(ReplacePathRegex {
        regex: "^/orders/(\\d+)$".into(),
        replacement: "/api/orders?id=$1".into(),
    });
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("tenant", strip_regex), ("orders", rewrite)],
    );
    let gateway = TestGateway::start(config).await;
    let client = client();

    get(&client, &gateway.url("/tenant/acme/orders/42?x=1"), None).await;
    let seen = backend.last();
    // Go keeps `?` from a replacement in the path, escaped; the original query stays.
    assert_eq!(seen.uri, "/api/orders%3Fid=42?x=1");
    assert_eq!(seen.headers["x-forwarded-prefix"], "/tenant/acme");
    assert_eq!(seen.headers["x-replaced-path"], "/orders/42");

    get(&client, &gateway.url("/tenant/42/orders/1"), None).await;
    assert_eq!(backend.last().uri, "/tenant/42/orders/1", "neither expression matches");
}

#[tokio::test]
async fn add_prefix_and_replace_path() {
    let backend = Backend::start("b").await;
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![
            ("add", Middleware::AddPrefix(AddPrefix { prefix: "/v2".into() })),
            (
                "replace",
                Middleware::ReplacePath(ReplacePath { path: "/fixed".into() }),
            ),
        ],
    );
    let gateway = TestGateway::start(config).await;
    get(&client(), &gateway.url("/x?keep=1"), None).await;
    let seen = backend.last();
    assert_eq!(seen.uri, "/fixed?keep=1");
    assert_eq!(
        seen.headers["x-replaced-path"], "/v2/x",
        "replacePath saw addPrefix's result: order is kept"
    );
}
