//! Trace context in and out in every format: the server span continues the client's trace, and the
//! upstream is sent the proxy's client span, never the client's span id.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::harness::{Outcome, Upstream, flush, get, grpc_yaml, observer, send};
use crate::receiver::{Exported, Receiver};
use crate::{PARENT, TRACE, only};

/// One request carrying `headers` through an observer propagating with `propagators`: its server and
/// client spans and the headers the upstream got.
async fn round_trip(propagators: &str, headers: &[(&str, &str)]) -> (Exported, Exported, HeaderMap) {
    let receiver = Receiver::grpc(None).await;
    let observer = observer(&grpc_yaml(&receiver, ""), propagators);
    let upstream = Upstream::new(&[Outcome::Answer(200)]);
    send(&observer, &upstream, get("/api/items", headers)).await;
    flush(&observer).await;
    let spans = receiver.spans();
    let sent = upstream.sent().pop().expect("one attempt");
    (only(&spans, SpanKind::Server), only(&spans, SpanKind::Client), sent)
}

/// The server span continues the client's trace under its span, as a new span.
fn continues(server: &Exported, client: &Exported) {
    assert_eq!(
        (server.trace_id(), server.parent_span_id()),
        (TRACE.to_owned(), PARENT.to_owned())
    );
    assert_ne!(server.span_id(), PARENT);
    assert_eq!(client.parent_span_id(), server.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_single_header_in_and_out() {
    let b3 = format!("{TRACE}-{PARENT}-1");
    let (server, client, sent) = round_trip("b3", &[("b3", &b3), ("x-b3-spanid", PARENT)]).await;
    continues(&server, &client);
    assert_eq!(sent["b3"], format!("{TRACE}-{}-1", client.span_id()).as_str());
    assert!(
        !sent.contains_key("x-b3-spanid"),
        "the client's B3 headers are replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_multiple_headers_in_and_out() {
    let incoming = [
        ("x-b3-traceid", TRACE),
        ("x-b3-spanid", PARENT),
        ("x-b3-sampled", "1"),
        ("x-b3-parentspanid", "1111111111111111"),
    ];
    let (server, client, sent) = round_trip("b3multi", &incoming).await;
    continues(&server, &client);
    assert_eq!(sent["x-b3-traceid"], TRACE);
    assert_eq!(sent["x-b3-spanid"], client.span_id().as_str());
    assert_eq!(sent["x-b3-sampled"], "1");
    assert!(!sent.contains_key("x-b3-parentspanid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_uber_trace_id_in_and_out() {
    let uber = format!("{TRACE}:{PARENT}:0:1");
    let (server, client, sent) = round_trip("jaeger", &[("uber-trace-id", &uber)]).await;
    continues(&server, &client);
    assert_eq!(
        sent["uber-trace-id"],
        format!("{TRACE}:{}:0:1", client.span_id()).as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracecontext_and_baggage_in_and_out_by_default() {
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let incoming = [
        ("traceparent", traceparent.as_str()),
        ("tracestate", "vendor=x"),
        ("baggage", "tenant=acme"),
    ];
    let (server, client, sent) = round_trip("tracecontext,baggage", &incoming).await;
    continues(&server, &client);
    assert_eq!(
        sent["traceparent"],
        format!("00-{TRACE}-{}-01", client.span_id()).as_str()
    );
    assert_eq!(sent["tracestate"], "vendor=x");
    assert_eq!(sent["baggage"], "tenant=acme");
}

/// A SkyWalking trace id (not hex), as a Java agent makes them.
const SW_TRACE: &str = "3e5b5c4f0a1d4c0f9a8b7c6d5e4f3a2b.62.17000000000000002";

fn sw8(fields: [&str; 8]) -> String {
    let [sample, trace, segment, span, service, instance, endpoint, target] = fields;
    let b = |s: &str| STANDARD.encode(s);
    [
        sample.to_owned(),
        b(trace),
        b(segment),
        span.to_owned(),
        b(service),
        b(instance),
        b(endpoint),
        b(target),
    ]
    .join("-")
}

fn sw8_fields(header: &str) -> Vec<String> {
    let fields: Vec<&str> = header.split('-').collect();
    assert_eq!(fields.len(), 8, "{header}");
    let decode = |f: &str| String::from_utf8(STANDARD.decode(f).expect("base64")).expect("utf-8");
    let plain = |i: usize| i == 0 || i == 3;
    let field = |(i, f): (usize, &&str)| if plain(i) { (*f).to_owned() } else { decode(f) };
    fields.iter().enumerate().map(field).collect()
}

/// The `sw8` of a SkyWalking Java agent in the `frontend` service.
const AGENT: [&str; 8] = [
    "1",
    SW_TRACE,
    "a2b4c6d8e0f2.56.1",
    "3",
    "frontend",
    "fe-1",
    "/checkout",
    "gw:80",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sw8_round_trip_keeps_the_skywalking_trace_id() {
    let (server, client, sent) = round_trip("tracecontext,sw8", &[("sw8", &sw8(AGENT))]).await;
    assert_eq!(server.parent_span_id().len(), 16, "the agent's span is the parent");
    assert_eq!(client.parent_span_id(), server.span_id());
    check_sent_sw8(&sw8_fields(sent["sw8"].to_str().expect("ASCII")), &client);
    let traceparent = format!("00-{}-{}-01", client.trace_id(), client.span_id());
    assert_eq!(sent["traceparent"], traceparent.as_str());
    calls_back_in(&sent["sw8"], &client).await;
}

/// The agent's trace goes on, with the proxy's client span (span 0 of the proxy's service) as parent.
fn check_sent_sw8(out: &[String], client: &Exported) {
    assert_eq!(out[0], "1");
    assert_eq!(out[1], SW_TRACE, "the SkyWalking trace goes on");
    assert_eq!(out[2], client.span_id(), "the client span is the parent segment");
    assert_eq!((out[3].as_str(), out[4].as_str()), ("0", "edge"));
    assert!(!out[5].is_empty(), "the proxy's instance");
    assert_eq!((out[6].as_str(), out[7].as_str()), ("GET:/api/items", "10.0.0.7:8080"));
}

/// The upstream, SkyWalking-instrumented, calls through the proxy again with the `sw8` it got: the
/// proxy's client span is its parent, and both sides stay in the same traces.
async fn calls_back_in(sw8: &http::HeaderValue, client: &Exported) {
    let again = sw8.to_str().expect("ASCII").to_owned();
    let (server, _, sent) = round_trip("sw8", &[("sw8", &again)]).await;
    assert_eq!(
        (server.trace_id(), server.parent_span_id()),
        (client.trace_id(), client.span_id())
    );
    assert_eq!(sw8_fields(sent["sw8"].to_str().expect("ASCII"))[1], SW_TRACE);
}
