//! The `otel` feature end to end: requests through the observer's layer to a scripted upstream, spans
//! exported to real OTLP receivers (gRPC and HTTP/protobuf) on 127.0.0.1, decoded and checked.
#![cfg(feature = "otel")]

mod delivery;
mod harness;
mod metrics;
mod propagation;
mod receiver;

use http::StatusCode;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::harness::{Outcome, Upstream, flush, get, grpc_yaml, http_yaml, observer, send};
use crate::receiver::{Exported, Receiver};

/// The incoming W3C trace: trace id and the client's span id.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// The one span of `kind` among `spans`.
fn only(spans: &[Exported], kind: SpanKind) -> Exported {
    let mut of_kind = spans.iter().filter(|s| s.span.kind == kind as i32);
    let span = of_kind
        .next()
        .unwrap_or_else(|| panic!("no {kind:?} span in {spans:#?}"));
    assert!(of_kind.next().is_none(), "more than one {kind:?} span");
    span.clone()
}

/// The spans of `kind` among `spans`, in the order they ended.
fn all(spans: &[Exported], kind: SpanKind) -> Vec<Exported> {
    spans.iter().filter(|s| s.span.kind == kind as i32).cloned().collect()
}

const CAPTURE: &str = "  resourceAttributes:\n    deployment.environment: test\n  capturedRequestHeaders: [X-Tenant]\n  capturedResponseHeaders: [X-Upstream]\n  safeQueryParams: [page]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_continues_the_incoming_trace_with_a_server_and_a_client_span() {
    let receiver = Receiver::grpc(None).await;
    let observer = observer(&grpc_yaml(&receiver, CAPTURE), "tracecontext,baggage");
    let upstream = Upstream::new(&[Outcome::Answer(200)]);
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let headers = [
        ("traceparent", traceparent.as_str()),
        ("user-agent", "curl/8.5"),
        ("x-tenant", "acme"),
    ];
    let (status, body) = send(&observer, &upstream, get("/api/items?page=2&token=secret", &headers)).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
    flush(&observer).await;
    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let (server, client) = (only(&spans, SpanKind::Server), only(&spans, SpanKind::Client));
    check_server_span(&server);
    check_client_span(&client, &server);
    let expected = format!("00-{TRACE}-{}-01", client.span_id());
    assert_eq!(
        upstream.sent()[0]["traceparent"],
        expected.as_str(),
        "the client span is the upstream's parent"
    );
    assert_eq!(receiver.headers()[0]["authorization"], "Bearer t0k3n");
}

/// The server span's attributes for `GET /api/items?page=2&token=secret` with [`CAPTURE`].
const SERVER_ATTRIBUTES: [(&str, &str); 17] = [
    ("entry_point", "web"),
    ("http.request.method", "GET"),
    ("network.protocol.version", "1.1"),
    ("url.path", "/api/items"),
    ("url.query", "page=2&token=REDACTED"),
    ("url.scheme", "http"),
    ("server.address", "example.com"),
    ("server.port", "80"),
    ("client.address", "192.0.2.10"),
    ("client.port", "51000"),
    ("network.peer.address", "192.0.2.10"),
    ("user_agent.original", "curl/8.5"),
    ("http.request.header.x-tenant", "acme"),
    ("http.response.status_code", "200"),
    ("http.response.header.x-upstream", "u1"),
    ("traefik.router.name", "web@file"),
    ("traefik.service.name", "whoami@file"),
];

fn check_server_span(server: &Exported) {
    assert_eq!(server.span.name, "GET");
    assert_eq!(
        (server.trace_id(), server.parent_span_id()),
        (TRACE.to_owned(), PARENT.to_owned())
    );
    assert_ne!(server.span_id(), PARENT);
    assert_eq!(server.status(), (0, String::new()));
    for (key, value) in SERVER_ATTRIBUTES {
        assert_eq!(server.attr(key).as_deref(), Some(value), "server span attribute {key}");
    }
    assert_eq!(server.resource["service.name"], "edge");
    assert_eq!(server.resource["deployment.environment"], "test");
}

fn check_client_span(client: &Exported, server: &Exported) {
    assert_eq!(client.span.name, "ReverseProxy");
    assert_eq!(
        (client.trace_id(), client.parent_span_id()),
        (TRACE.to_owned(), server.span_id())
    );
    let expected = [
        ("http.request.method", "GET"),
        ("url.full", "http://10.0.0.7:8080/api/items?page=2&token=REDACTED"),
        ("server.address", "10.0.0.7"),
        ("server.port", "8080"),
        ("network.peer.address", "10.0.0.7"),
        ("network.peer.port", "8080"),
        ("http.response.status_code", "200"),
        ("http.request.header.x-tenant", "acme"),
    ];
    for (key, value) in expected {
        assert_eq!(client.attr(key).as_deref(), Some(value), "client span attribute {key}");
    }
    assert_eq!(client.resource["service.name"], "edge");
    check_times(client, server);
}

/// The client span ran within the server span, which started moments ago by the wall clock.
fn check_times(client: &Exported, server: &Exported) {
    let (s, c) = (&server.span, &client.span);
    assert!(
        s.start_time_unix_nano <= c.start_time_unix_nano
            && c.start_time_unix_nano <= c.end_time_unix_nano
            && c.end_time_unix_nano <= s.end_time_unix_nano,
        "client {}..{} within server {}..{}",
        c.start_time_unix_nano,
        c.end_time_unix_nano,
        s.start_time_unix_nano,
        s.end_time_unix_nano
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    let age = now.saturating_sub(u128::from(s.start_time_unix_nano));
    assert!(age < 60_000_000_000, "the server span started {age} ns ago");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_export_delivers_a_new_trace_rooted_at_the_proxy() {
    let receiver = Receiver::http(None).await;
    let observer = observer(&http_yaml(&receiver, ""), "tracecontext");
    let upstream = Upstream::new(&[Outcome::Answer(201)]);
    let (status, _) = send(&observer, &upstream, get("/", &[])).await;
    assert_eq!(status, StatusCode::CREATED);
    flush(&observer).await;
    let spans = receiver.spans();
    let server = only(&spans, SpanKind::Server);
    let client = only(&spans, SpanKind::Client);
    assert_eq!(server.parent_span_id(), "", "a root span");
    assert_eq!(
        (client.trace_id(), client.parent_span_id()),
        (server.trace_id(), server.span_id())
    );
    assert_eq!(server.attr("http.response.status_code").as_deref(), Some("201"));
    assert_eq!(server.resource["service.name"], "edge");
    let headers = &receiver.headers()[0];
    assert_eq!(headers["x-api-key"], "k3y");
    assert_eq!(headers["content-type"], "application/x-protobuf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_has_a_client_span_per_attempt() {
    let receiver = Receiver::grpc(None).await;
    let observer = observer(&grpc_yaml(&receiver, ""), "tracecontext");
    let upstream = Upstream::new(&[Outcome::Fail("connection refused"), Outcome::Answer(200)]);
    let (status, _) = send(&observer, &upstream, get("/", &[])).await;
    assert_eq!(status, StatusCode::OK);
    flush(&observer).await;
    let spans = receiver.spans();
    let server = only(&spans, SpanKind::Server);
    let clients = all(&spans, SpanKind::Client);
    assert_eq!(clients.len(), 2);
    assert!(clients.iter().all(|c| c.parent_span_id() == server.span_id()));
    assert_ne!(clients[0].span_id(), clients[1].span_id());
    clients.iter().for_each(|client| check_times(client, &server));
    assert!(
        clients[0].span.end_time_unix_nano <= clients[1].span.start_time_unix_nano,
        "the second attempt starts after the first ends"
    );
    assert_eq!(clients[0].status(), (2, "connection refused".to_owned()));
    assert_eq!(clients[0].attr("http.response.status_code"), None);
    assert_eq!(clients[1].attr("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(server.status().0, 0);
    let sent = upstream.sent();
    for (headers, client) in sent.iter().zip(&clients) {
        let expected = format!("00-{}-{}-01", client.trace_id(), client.span_id());
        assert_eq!(headers["traceparent"], expected.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_puts_the_proxys_cause_on_the_server_span() {
    let receiver = Receiver::grpc(None).await;
    let observer = observer(&grpc_yaml(&receiver, ""), "tracecontext");
    let upstream = Upstream::new(&[Outcome::Fail("connection refused")]);
    let (status, _) = send(&observer, &upstream, get("/", &[])).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    flush(&observer).await;
    let spans = receiver.spans();
    let server = only(&spans, SpanKind::Server);
    assert_eq!(server.status(), (2, "connection refused".to_owned()));
    assert_eq!(server.attr("http.response.status_code").as_deref(), Some("502"));
    assert_eq!(
        only(&spans, SpanKind::Client).status(),
        (2, "connection refused".to_owned())
    );
}
