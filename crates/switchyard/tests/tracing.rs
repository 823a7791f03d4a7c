//! A Traefik static file with `tracing` over OTLP/HTTP: a request that carries a W3C trace through a
//! real gateway to a real backend gives a server span continuing the client's trace and a client span
//! for the upstream call, and the backend sees the client span as its parent, never the client's own.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

type Seen = Arc<Mutex<Vec<String>>>;

/// A backend that notes the `traceparent` of each request.
async fn backend(seen: Seen) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let parent = req.headers().get("traceparent").map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().extend(parent);
                async { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok")))) }
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

/// An OTLP/HTTP receiver keeping the spans it is sent.
async fn receiver(spans: Arc<Mutex<Vec<Span>>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let spans = Arc::clone(&spans);
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let spans = Arc::clone(&spans);
                async move {
                    assert_eq!(req.uri().path(), "/v1/traces");
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let export = ExportTraceServiceRequest::decode(body).unwrap();
                    let all = export.resource_spans.into_iter().flat_map(|r| r.scope_spans);
                    spans.lock().unwrap().extend(all.flat_map(|s| s.spans));
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                }
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match value {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

fn write_files(dir: &std::path::Path, backend: SocketAddr, receiver: SocketAddr) -> std::path::PathBuf {
    let dynamic = dir.join("dynamic.yml");
    std::fs::write(
        &dynamic,
        format!(
            "http:\n  routers:\n    app:\n      rule: PathPrefix(`/app`)\n      service: app\n  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: http://{backend}\n"
        ),
    )
    .unwrap();
    let static_file = dir.join("traefik.yml");
    std::fs::write(
        &static_file,
        format!(
            "entryPoints:\n  web:\n    address: 127.0.0.1:0\ntracing:\n  serviceName: edge\n  otlp:\n    http:\n      endpoint: http://{receiver}/v1/traces\nproviders:\n  providersThrottleDuration: 0s\n  file:\n    filename: {}\n",
            dynamic.display()
        ),
    )
    .unwrap();
    static_file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traced_request_continues_the_clients_trace_through_the_gateway() {
    let seen = Seen::default();
    let spans = Arc::new(Mutex::new(Vec::new()));
    let dir = tempfile::tempdir().unwrap();
    let static_file = write_files(
        dir.path(),
        backend(Arc::clone(&seen)).await,
        receiver(Arc::clone(&spans)).await,
    );
    let gateway = support::start(&static_file, 1).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = http::Request::get(format!(
        "http://{}/app?token=secret",
        gateway.local_addr("web").unwrap()
    ))
    .header("traceparent", format!("00-{TRACE}-{CLIENT_SPAN}-01"))
    .body(Empty::new())
    .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    gateway.shutdown().await;

    let spans = spans.lock().unwrap().clone();
    let of_kind = |kind: SpanKind| spans.iter().find(|s| s.kind == kind as i32).cloned().unwrap();
    let (server, client) = (of_kind(SpanKind::Server), of_kind(SpanKind::Client));
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(hex(&server.trace_id), TRACE);
    assert_eq!(hex(&server.parent_span_id), CLIENT_SPAN);
    assert_eq!(hex(&client.trace_id), TRACE);
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(attribute(&server, "traefik.router.name").as_deref(), Some("app@file"));
    assert_eq!(attribute(&server, "traefik.service.name").as_deref(), Some("app@file"));
    assert_eq!(attribute(&server, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attribute(&server, "url.path").as_deref(), Some("/app"));
    assert_eq!(attribute(&client, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attribute(&client, "server.address").as_deref(), Some("127.0.0.1"));
    let upstream = seen.lock().unwrap().clone();
    assert_eq!(upstream, [format!("00-{TRACE}-{}-01", hex(&client.span_id))]);
}
