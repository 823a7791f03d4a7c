//! The `http` and `forwardedHeaders` options of an entrypoint that shape a request before routing:
//! `encodeQuerySemicolons`, `underscoreHeadersStrategy` and `forwardedHeaders.connection`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::sync::{Arc, Mutex};

use support::{Backend, TestGateway, middleware_route, raw_exchange, route, static_config_with};
use switchyard_config::{EntryPoint, Middleware, StaticConfig};
use switchyard_middleware::{HttpService, MiddlewareLayer, Plugins};
use tower::ServiceExt;
use tower::layer::layer_fn;

async fn send(gateway: &TestGateway, head: &str) -> support::RawResponse {
    let request = format!("{head}\r\nHost: a.example\r\nConnection: close\r\n\r\n");
    raw_exchange(gateway.addr, request.as_bytes()).await
}

async fn start(static_config: StaticConfig, rule: &str) -> (TestGateway, Backend) {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start_with(static_config, route(rule, &[backend.url()])).await;
    (gateway, backend)
}

#[tokio::test]
async fn query_semicolons_separate_by_default_and_are_escaped_on_request() {
    let (gateway, backend) = start(static_config_with(|_| {}), "Query(`b`, `2`)").await;
    assert_eq!(
        send(&gateway, "GET /q?a=1;b=2 HTTP/1.1").await.status,
        200,
        "routers see `;` as `&`"
    );
    assert_eq!(backend.last().uri, "/q?a=1&b=2");

    let encoding = static_config_with(|ep: &mut EntryPoint| ep.http.encode_query_semicolons = true);
    let (gateway, backend) = start(encoding, "PathPrefix(`/`)").await;
    assert_eq!(send(&gateway, "GET /q?a=1;b=2 HTTP/1.1").await.status, 200);
    assert_eq!(backend.last().uri, "/q?a=1%3Bb=2");
}

#[tokio::test]
async fn headers_with_underscores_are_kept_deleted_or_refused() {
    let head = "GET / HTTP/1.1\r\nX_Forwarded_User: mallory\r\nX-Plain: 1";
    let (gateway, backend) = start(static_config_with(|_| {}), "PathPrefix(`/`)").await;
    assert_eq!(send(&gateway, head).await.status, 200);
    assert_eq!(backend.last().headers["x_forwarded_user"], "mallory", "kept by default");

    let deleting = static_config_with(|ep: &mut EntryPoint| ep.http.underscore_headers_strategy = "delete".into());
    let (gateway, backend) = start(deleting, "PathPrefix(`/`)").await;
    assert_eq!(send(&gateway, head).await.status, 200);
    let seen = backend.last().headers;
    assert!(!seen.contains_key("x_forwarded_user") && seen.contains_key("x-plain"));

    let rejecting = static_config_with(|ep: &mut EntryPoint| ep.http.underscore_headers_strategy = "reject".into());
    let (gateway, backend) = start(rejecting, "PathPrefix(`/`)").await;
    let response = send(&gateway, head).await;
    assert_eq!(
        (response.status, response.body.as_slice()),
        (400, &b"Bad Request\n"[..])
    );
    assert!(backend.seen().is_empty());
}

#[tokio::test]
async fn an_unknown_underscore_strategy_stops_the_gateway_from_starting() {
    let config = static_config_with(|ep: &mut EntryPoint| ep.http.underscore_headers_strategy = "sideways".into());
    let error = switchyard_proxy::Gateway::new(&config).start().await.err().unwrap();
    let text = error.to_string();
    assert!(
        text.contains("entryPoints.web.http.underscoreHeadersStrategy") && text.contains("sideways"),
        "{text}"
    );
}

/// A plugin recording the request headers its middleware sees.
fn recorder(seen: Arc<Mutex<Vec<http::HeaderMap>>>) -> Plugins {
    Plugins::new().with("record", move |_options| {
        let seen = Arc::clone(&seen);
        Ok(MiddlewareLayer::new(layer_fn(move |inner: HttpService| {
            let seen = Arc::clone(&seen);
            HttpService::new(inner.map_request(move |req: http::Request<_>| {
                seen.lock().unwrap().push(req.headers().clone());
                req
            }))
        })))
    })
}

#[tokio::test]
async fn headers_named_in_connection_reach_middlewares_only_when_allowed() {
    let backend = Backend::start("b").await;
    let mut plugin = std::collections::BTreeMap::new();
    plugin.insert("record".to_owned(), serde_json::json!({}));
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("rec", Middleware::Plugin(plugin))],
    );
    let allowing = static_config_with(|ep: &mut EntryPoint| ep.forwarded_headers.connection = vec!["X-Kept".into()]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let plugins = recorder(Arc::clone(&seen));
    let gateway = TestGateway::start_built(allowing, config, |g| g.plugins(plugins)).await;
    let head = "GET / HTTP/1.1\r\nConnection: x-kept, x-dropped\r\nX-Kept: 1\r\nX-Dropped: 2\r\nX-Other: 3";
    let request = format!("{head}\r\nHost: a.example\r\n\r\n");
    let response = raw_exchange(
        gateway.addr,
        format!("{request}GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200);
    let middleware_saw = seen.lock().unwrap()[0].clone();
    assert!(middleware_saw.contains_key("x-kept"), "allowed: {middleware_saw:?}");
    assert!(
        !middleware_saw.contains_key("x-dropped"),
        "named in Connection: {middleware_saw:?}"
    );
    assert!(middleware_saw.contains_key("x-other"));
    let backend_saw = &backend.seen()[0].headers;
    assert!(
        !backend_saw.contains_key("x-kept")
            && !backend_saw.contains_key("x-dropped")
            && backend_saw.contains_key("x-other"),
        "hop-by-hop headers never reach the backend: {backend_saw:?}"
    );
}
