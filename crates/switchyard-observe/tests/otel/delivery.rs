//! What is exported and what it costs requests: sampling, the router's tracing switch, and a
//! collector that cannot be reached.

use std::time::{Duration, Instant};

use http::StatusCode;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::harness::{Outcome, Upstream, flush, get, grpc_yaml, http_yaml, observer, send};
use crate::receiver::{Receiver, Tls};
use crate::{PARENT, TRACE, all};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_rate_zero_exports_nothing_yet_follows_a_sampled_parent() {
    let receiver = Receiver::grpc(None).await;
    let observer = observer(&grpc_yaml(&receiver, "  sampleRate: 0.0\n"), "tracecontext");
    let upstream = Upstream::new(&[Outcome::Answer(200)]);
    send(&observer, &upstream, get("/", &[])).await;
    flush(&observer).await;
    assert!(receiver.spans().is_empty(), "{:#?}", receiver.spans());
    let unsampled = upstream.sent()[0]["traceparent"].to_str().expect("ASCII").to_owned();
    assert!(unsampled.ends_with("-00"), "the decision travels upstream: {unsampled}");
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    send(&observer, &upstream, get("/", &[("traceparent", &traceparent)])).await;
    flush(&observer).await;
    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "a sampled parent's trace is recorded");
    assert!(spans.iter().all(|s| s.trace_id() == TRACE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_without_tracing_exports_no_span_and_leaves_the_headers_alone() {
    let receiver = Receiver::grpc(None).await;
    let observer = observer(&grpc_yaml(&receiver, ""), "tracecontext");
    let mut quiet = Upstream::new(&[Outcome::Answer(200)]);
    quiet.tracing = false;
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let (status, _) = send(&observer, &quiet, get("/", &[("traceparent", &traceparent)])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        quiet.sent()[0]["traceparent"],
        traceparent.as_str(),
        "passed through, as in Traefik"
    );
    let traced = Upstream::new(&[Outcome::Answer(200)]);
    send(&observer, &traced, get("/", &[])).await;
    flush(&observer).await;
    let spans = receiver.spans();
    assert_eq!(
        all(&spans, SpanKind::Server).len(),
        1,
        "only the traced request's: {spans:#?}"
    );
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|s| s.trace_id() != TRACE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_services_are_traced_only_with_add_internals() {
    for (extra, expected) in [("", 0), ("  addInternals: true\n", 1)] {
        let receiver = Receiver::grpc(None).await;
        let observer = observer(&grpc_yaml(&receiver, extra), "tracecontext");
        let mut api = Upstream::new(&[]);
        api.service = "api@internal";
        let (status, _) = send(&observer, &api, get("/api/rawdata", &[])).await;
        assert_eq!(status, StatusCode::OK);
        flush(&observer).await;
        assert_eq!(receiver.spans().len(), expected, "with {extra:?}");
    }
}

/// A port nothing listens on.
async fn closed_port() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    listener.local_addr().expect("the bound address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_costs_spans_never_requests() {
    let addr = closed_port().await;
    let dead = Receiver::at(addr);
    for yaml in [grpc_yaml(&dead, ""), http_yaml(&dead, "")] {
        let observer = observer(&yaml, "tracecontext");
        let upstream = Upstream::new(&[Outcome::Answer(200)]);
        let started = Instant::now();
        for _ in 0..50 {
            let (status, _) = send(&observer, &upstream, get("/", &[])).await;
            assert_eq!(status, StatusCode::OK);
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "requests waited: {:?}",
            started.elapsed()
        );
        let flushing = Instant::now();
        flush(&observer).await;
        assert!(
            flushing.elapsed() < Duration::from_secs(8),
            "flush is bounded: {:?}",
            flushing.elapsed()
        );
    }
}

/// `tracing` exporting over `transport` (`grpc` or `http`) to `receiver` over TLS, with the `tls`
/// options given as YAML lines.
fn tls_yaml(transport: &str, receiver: &Receiver, tls: &[String]) -> String {
    let endpoint = match transport {
        "grpc" => receiver.addr.to_string(),
        _ => format!("https://{}", receiver.addr),
    };
    let tls: String = tls.iter().map(|line| format!("        {line}\n")).collect();
    format!("tracing:\n  otlp:\n    {transport}:\n      endpoint: {endpoint}\n      tls:\n{tls}")
}

/// The `ca` option with `tls`'s certificate inline.
fn ca(tls: &Tls) -> Vec<String> {
    let mut lines = vec!["ca: |".to_owned()];
    lines.extend(tls.ca.lines().map(|line| format!("  {line}")));
    lines
}

/// How many spans `receiver` holds after one request through an observer of `yaml`.
async fn spans_after_one_request(receiver: &Receiver, yaml: &str) -> usize {
    let observer = observer(yaml, "tracecontext");
    send(&observer, &Upstream::new(&[Outcome::Answer(200)]), get("/", &[])).await;
    flush(&observer).await;
    receiver.spans().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_collectors_are_verified_with_the_configured_ca() {
    let tls = Tls::new();
    for transport in ["grpc", "http"] {
        let receiver = match transport {
            "grpc" => Receiver::grpc(Some(&tls)).await,
            _ => Receiver::http(Some(&tls)).await,
        };
        let trusted = tls_yaml(transport, &receiver, &ca(&tls));
        assert_eq!(
            spans_after_one_request(&receiver, &trusted).await,
            2,
            "{transport} with its CA"
        );
        let skip = tls_yaml(transport, &receiver, &["insecureSkipVerify: true".to_owned()]);
        assert_eq!(
            spans_after_one_request(&receiver, &skip).await,
            4,
            "{transport} unverified"
        );
        let unknown = tls_yaml(transport, &receiver, &["insecureSkipVerify: false".to_owned()]);
        assert_eq!(
            spans_after_one_request(&receiver, &unknown).await,
            4,
            "{transport}: an unknown CA"
        );
    }
}
