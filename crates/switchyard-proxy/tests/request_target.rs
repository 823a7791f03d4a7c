//! The host and target of a request, as the entrypoint settles them before routing (RFC 9112 §3.2),
//! over raw sockets so that the request goes out exactly as written.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use support::{Backend, TestGateway, raw_exchange, route, static_config_with};
use switchyard_config::{DynamicConfig, LoadBalancer, Router, Service};

async fn send(gateway: &TestGateway, request: &str) -> support::RawResponse {
    raw_exchange(gateway.addr, request.as_bytes()).await
}

#[tokio::test]
async fn http11_without_exactly_one_valid_host_is_refused_as_go_refuses_it() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let cases = [
        (
            "GET / HTTP/1.1\r\n\r\n",
            "400 Bad Request: missing required Host header",
        ),
        (
            "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
            "400 Bad Request: too many Host headers",
        ),
        (
            "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            "400 Bad Request: malformed Host header",
        ),
        (
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "400 Bad Request: malformed Host header",
        ),
    ];
    for (request, body) in cases {
        let response = send(&gateway, request).await;
        assert_eq!(response.status, 400, "{request:?}");
        assert_eq!(String::from_utf8_lossy(&response.body), body, "{request:?}");
        assert_eq!(response.header("connection"), Some("close"), "{request:?}");
    }
    assert!(backend.seen().is_empty());
}

#[tokio::test]
async fn an_absolute_form_target_names_the_host_for_routing_and_forwarding() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let mut config = DynamicConfig::default();
    for backend in [&a, &b] {
        let rule = format!("Host(`{}.example`)", backend.name);
        config
            .http
            .routers
            .insert(backend.name.into(), Router::new(&rule, backend.name));
        let service = Service::from(LoadBalancer::with_urls([backend.url()]));
        config.http.services.insert(backend.name.into(), service);
    }
    let gateway = TestGateway::start(config).await;
    let request = "GET http://b.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n";
    let response = send(&gateway, request).await;
    assert_eq!((response.status, response.body.as_slice()), (200, &b"b"[..]));
    let seen = b.last();
    assert_eq!(seen.headers["host"], "b.example");
    assert_eq!(seen.uri, "/x?y=1", "the backend gets the origin form");
    assert_eq!(seen.headers["x-forwarded-host"], "b.example");
    assert!(a.seen().is_empty());
}

#[tokio::test]
async fn http10_without_host_reaches_the_backend_with_one() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let response = send(&gateway, "GET /old HTTP/1.0\r\n\r\n").await;
    assert_eq!((response.status, response.body.as_slice()), (200, &b"b"[..]));
    let seen = backend.last();
    assert_eq!(
        seen.headers["host"],
        backend.addr.to_string(),
        "the backend's own address, as Go's client sends"
    );
    assert_eq!(seen.version, http::Version::HTTP_11);
}

#[tokio::test]
async fn options_star_is_answered_by_the_entrypoint() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let response = send(
        &gateway,
        "OPTIONS * HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("0"));
    assert!(response.body.is_empty());
    assert!(backend.seen().is_empty(), "no router sees `OPTIONS *`");
    let response = send(
        &gateway,
        "OPTIONS /x HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        backend.last().method,
        http::Method::OPTIONS,
        "OPTIONS on a path is routed as usual"
    );
}

#[tokio::test]
async fn a_head_over_max_header_bytes_gets_traefiks_431() {
    let backend = Backend::start("b").await;
    let limited = static_config_with(|ep| ep.http.max_header_bytes = 16 << 10);
    let gateway = TestGateway::start_with(limited, route("PathPrefix(`/`)", &[backend.url()])).await;
    let head = |size: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(size)
        )
    };
    // As Go's server, the limit has 4 KiB of slack.
    let response = send(&gateway, &head((16 << 10) + 2048)).await;
    assert_eq!(response.status, 200);
    let response = send(&gateway, &head(32 << 10)).await;
    assert_eq!(response.status, 431);
    assert_eq!(
        String::from_utf8_lossy(&response.body),
        "431 Request Header Fields Too Large",
        "{}",
        response.head
    );
    assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(backend.seen().len(), 1);
}
