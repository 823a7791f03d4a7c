//! `retry`, `circuitBreaker`, `buffering` and `errors` through the proxy, with real backends.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use http::Request;
use support::{Backend, TestGateway, client, get, middleware_route, send};
use switchyard_config::{
    Buffering, CircuitBreaker, DynamicConfig, ErrorPage, LoadBalancer, Middleware, Retry, Service, Status,
};
use tokio::net::TcpListener;

/// The URL of a port nothing listens on any more.
async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

fn retry(attempts: u32) -> Middleware {
    Middleware::Retry(Retry {
        attempts,
        ..Retry::default()
    })
}

fn body(text: &'static str) -> support::TestBody {
    support::full(text)
}

/// The error path of `name`'s first error, and its status.
fn problem(gateway: &TestGateway, name: &str) -> (Status, String) {
    let snapshot = gateway.gateway.snapshot();
    let element = &snapshot.report().middlewares[name];
    let path = element.errors.first().map(|e| e.key_path.clone()).unwrap_or_default();
    (element.status, path)
}

#[tokio::test]
async fn retry_moves_on_from_a_refusing_server_and_replays_the_body() {
    let backend = Backend::start("up").await;
    let dead = refused_url().await;
    let config = middleware_route("PathPrefix(`/`)", &[dead, backend.url()], vec![("retry", retry(2))]);
    let gateway = TestGateway::start(config).await;
    let client = client();
    for _ in 0..4 {
        let (status, _, text) = get(&client, &gateway.url("/"), None).await;
        assert_eq!((status.as_u16(), text.as_str()), (200, "up"));
    }
    for _ in 0..2 {
        let request = Request::put(gateway.url("/echo")).body(body("keep me")).unwrap();
        let (status, _, text) = send(&client, request).await;
        assert_eq!((status.as_u16(), text.as_str()), (200, "keep me"));
    }
    assert_eq!(backend.seen().len(), 6);
}

#[tokio::test]
async fn retry_leaves_a_backend_answer_alone() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let config = middleware_route("PathPrefix(`/`)", &[a.url(), b.url()], vec![("retry", retry(3))]);
    let gateway = TestGateway::start(config).await;
    let client = client();
    let (status, _, _) = get(&client, &gateway.url("/status/500"), None).await;
    assert_eq!(status, 500);
    let (status, _, _) = get(&client, &gateway.url("/status/502"), None).await;
    assert_eq!(status, 502, "a backend's own 502 is not a network error");
    assert_eq!(a.seen().len() + b.seen().len(), 2);

    // With statuses configured, a 500 is retried on the other server.
    let retry_500 = Middleware::Retry(Retry {
        attempts: 2,
        status: vec!["500".into()],
        ..Retry::default()
    });
    gateway
        .reconfigure(|c| {
            c.http.middlewares.insert("retry".into(), retry_500);
        })
        .await;
    let (status, _, _) = get(&client, &gateway.url("/status/500"), None).await;
    assert_eq!(status, 500);
    assert_eq!(a.seen().len() + b.seen().len(), 4);
}

#[tokio::test]
async fn circuit_breaker_trips_on_errors_and_recovers() {
    let backend = Backend::start("b").await;
    let breaker = Middleware::CircuitBreaker(CircuitBreaker {
        expression: "ResponseCodeRatio(500, 600, 0, 600) > 0.5".into(),
        fallback_duration: switchyard_config::Duration::from_millis(200),
        recovery_duration: switchyard_config::Duration::from_millis(200),
        response_code: 429,
        ..CircuitBreaker::default()
    });
    let config = middleware_route("PathPrefix(`/`)", &[backend.url()], vec![("cb", breaker)]);
    let gateway = TestGateway::start(config).await;
    let client = client();

    let (status, _, _) = get(&client, &gateway.url("/status/500"), None).await;
    assert_eq!(status, 500);
    let (status, _, text) = get(&client, &gateway.url("/"), None).await;
    assert_eq!((status.as_u16(), text.as_str()), (429, "Too Many Requests"));
    assert_eq!(backend.seen().len(), 1, "a tripped breaker answers itself");

    // Recovery begins with nothing let through, then the breaker is back in standby.
    tokio::time::sleep(Duration::from_millis(220)).await;
    let (status, _, _) = get(&client, &gateway.url("/"), None).await;
    assert_eq!(status, 429);
    tokio::time::sleep(Duration::from_millis(220)).await;
    let (status, _, text) = get(&client, &gateway.url("/"), None).await;
    assert_eq!((status.as_u16(), text.as_str()), (200, "b"));
}

#[tokio::test]
async fn circuit_breaker_counts_refused_connections_as_network_errors() {
    let dead = refused_url().await;
    let breaker = Middleware::CircuitBreaker(CircuitBreaker {
        expression: "NetworkErrorRatio() > 0.5".into(),
        ..CircuitBreaker::default()
    });
    let config = middleware_route("PathPrefix(`/`)", &[dead], vec![("cb", breaker)]);
    let gateway = TestGateway::start(config).await;
    let client = client();
    let (status, _, _) = get(&client, &gateway.url("/"), None).await;
    assert_eq!(status, 502);
    let (status, _, text) = get(&client, &gateway.url("/"), None).await;
    assert_eq!((status.as_u16(), text.as_str()), (503, "Service Unavailable"));
}

fn with_pages(mut config: DynamicConfig, pages: &Backend) -> DynamicConfig {
    config
        .http
        .services
        .insert("pages".into(), Service::from(LoadBalancer::with_urls([pages.url()])));
    config
}

#[tokio::test]
async fn errors_serves_a_page_with_the_original_status() {
    let backend = Backend::start("b").await;
    let pages = Backend::start("pages").await;
    let errors = Middleware::Errors(ErrorPage {
        status: vec!["500-599".into(), "404".into()],
        status_rewrites: BTreeMap::from([("503".to_owned(), 418)]),
        service: "pages".into(),
        query: "/{status}/{originalStatus}?u={url}".into(),
        ..ErrorPage::default()
    });
    let config = with_pages(
        middleware_route("PathPrefix(`/`)", &[backend.url()], vec![("errors", errors)]),
        &pages,
    );
    let gateway = TestGateway::start(config).await;
    let client = client();

    let (status, _, text) = get(&client, &gateway.url("/status/500?x=1"), Some("site.test")).await;
    assert_eq!((status.as_u16(), text.as_str()), (500, "pages"));
    let seen = pages.last();
    assert_eq!(seen.uri, "/500/500?u=http%3A%2F%2Fsite.test%2Fstatus%2F500%3Fx%3D1");
    assert_eq!(seen.headers["host"], "site.test");

    let (status, _, text) = get(&client, &gateway.url("/status/503"), None).await;
    assert_eq!((status.as_u16(), text.as_str()), (418, "pages"));
    let original = format!("http%3A%2F%2F{}%2Fstatus%2F503", gateway.addr).replace(':', "%3A");
    assert_eq!(pages.last().uri, format!("/418/503?u={original}").as_str());

    let (status, _, text) = get(&client, &gateway.url("/status/201"), None).await;
    assert_eq!((status.as_u16(), text.as_str()), (201, "b"));
    assert_eq!(pages.seen().len(), 2);
}

#[tokio::test]
async fn invalid_options_are_reported_with_their_key_path() {
    let backend = Backend::start("b").await;
    let cb = Middleware::CircuitBreaker(CircuitBreaker {
        expression: "NetworkErrorRatio() > 0.5 &&".into(),
        ..CircuitBreaker::default()
    });
    let buffering = Middleware::Buffering(Buffering {
        retry_expression: "Attempts() <".into(),
        ..Buffering::default()
    });
    let mut config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("cb", cb), ("buf", buffering)],
    );
    config.http.middlewares.insert("retry".into(), retry(0));
    let errors = Middleware::Errors(ErrorPage {
        status: vec!["500".into()],
        service: "nowhere".into(),
        ..ErrorPage::default()
    });
    config.http.middlewares.insert("errors".into(), errors);
    let gateway = TestGateway::start(config).await;
    assert_eq!(
        problem(&gateway, "cb@test"),
        (
            Status::Disabled,
            "http.middlewares.cb@test.circuitBreaker.expression".into()
        )
    );
    assert_eq!(
        problem(&gateway, "buf@test"),
        (
            Status::Disabled,
            "http.middlewares.buf@test.buffering.retryExpression".into()
        )
    );
    assert_eq!(
        problem(&gateway, "retry@test"),
        (Status::Disabled, "http.middlewares.retry@test.retry.attempts".into())
    );
    // The proxy checks references before building: an unknown page service disables the middleware.
    assert_eq!(problem(&gateway, "errors@test").0, Status::Disabled);
    let (status, _, _) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!(status, 404, "the router using them is disabled");
}

fn buffering(change: impl FnOnce(&mut Buffering)) -> Middleware {
    let mut config = Buffering::default();
    change(&mut config);
    Middleware::Buffering(config)
}

#[tokio::test]
async fn buffering_limits_spills_and_delivers_intact() {
    let backend = Backend::start("b").await;
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![(
            "buf",
            buffering(|b| {
                b.max_request_body_bytes = 400_000;
                b.mem_request_body_bytes = 1000;
                b.mem_response_body_bytes = 1000;
                b.max_response_body_bytes = 350_000;
            }),
        )],
    );
    let gateway = TestGateway::start(config).await;
    let client = client();

    // 300 kB streamed without a length: spilled to disk both ways, delivered with a Content-Length.
    let request = Request::put(gateway.url("/echo"))
        .body(support::bytes_body(300_000))
        .unwrap();
    let (status, headers, text) = send(&client, request).await;
    assert_eq!(status, 200);
    assert_eq!(text.len(), 300_000);
    assert!(text.bytes().all(|b| b == b'x'));
    assert_eq!(headers["content-length"], "300000");
    assert_eq!(backend.last().headers["content-length"], "300000");

    // Too large by its Content-Length, or by what arrives.
    let before = backend.seen().len();
    let request = Request::put(gateway.url("/echo"))
        .header("content-length", "500000")
        .body(support::bytes_body(500_000))
        .unwrap();
    let (status, _, text) = send(&client, request).await;
    assert_eq!((status.as_u16(), text.as_str()), (413, "Request Entity Too Large"));
    let request = Request::put(gateway.url("/echo"))
        .body(support::bytes_body(500_000))
        .unwrap();
    let (status, _, _) = send(&client, request).await;
    assert_eq!(status, 413);
    assert_eq!(backend.seen().len(), before, "the service never saw them");

    // A response over its bound is replaced.
    let (status, _, text) = get(&client, &gateway.url("/bytes/360000"), None).await;
    assert_eq!((status.as_u16(), text.as_str()), (500, "Internal Server Error"));
}

#[tokio::test]
async fn buffering_replays_on_network_errors() {
    let backend = Backend::start("up").await;
    let dead = refused_url().await;
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[dead, backend.url()],
        vec![(
            "buf",
            buffering(|b| b.retry_expression = "IsNetworkError() && Attempts() < 2".into()),
        )],
    );
    let gateway = TestGateway::start(config).await;
    let client = client();
    for _ in 0..4 {
        let request = Request::post(gateway.url("/echo")).body(body("again")).unwrap();
        let (status, _, text) = send(&client, request).await;
        assert_eq!((status.as_u16(), text.as_str()), (200, "again"));
    }
}

#[tokio::test]
async fn retry_lets_a_websocket_upgrade_through_after_a_refusal() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let backend = Backend::start("ws").await;
    let dead = refused_url().await;
    let config = middleware_route("PathPrefix(`/`)", &[dead, backend.url()], vec![("retry", retry(2))]);
    let gateway = TestGateway::start(config).await;
    for _ in 0..2 {
        let stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
        let (mut ws, response) = tokio_tungstenite::client_async(format!("ws://{}/ws", gateway.addr), stream)
            .await
            .unwrap();
        assert_eq!(response.status(), 101);
        ws.send(Message::text("hi")).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), "hi");
        ws.close(None).await.unwrap();
    }
}
