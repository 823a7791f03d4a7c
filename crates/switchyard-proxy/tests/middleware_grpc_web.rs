//! `grpcWeb` through the proxy to an HTTP/2 (h2c) backend: gRPC-Web in, gRPC to the backend, trailers
//! back as a trailer frame; CORS preflights answered.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use base64::Engine as _;
use http::{HeaderMap, Request};
use http_body_util::BodyExt;
use support::{Backend, TestGateway, client, full, middleware_route};
use switchyard_config::{GrpcWeb, Middleware};

async fn raw(request: Request<support::TestBody>) -> (u16, HeaderMap, Vec<u8>) {
    let response = client().request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status.as_u16(),
        parts.headers,
        body.collect().await.unwrap().to_bytes().to_vec(),
    )
}

async fn gateway() -> (Backend, TestGateway) {
    let backend = Backend::start("grpc").await;
    let url = format!("h2c://{}", backend.addr);
    let web = Middleware::GrpcWeb(GrpcWeb {
        allow_origins: vec!["https://app.example".into()],
    });
    let gateway = TestGateway::start(middleware_route("PathPrefix(`/`)", &[url], vec![("web", web)])).await;
    (backend, gateway)
}

const TRAILER_FRAME: &[u8] = b"\x80\x00\x00\x00\x24grpc-status: 0\r\ngrpc-message: done\r\n";

#[tokio::test]
async fn grpc_web_calls_reach_the_backend_as_grpc_and_return_trailers_in_the_body() {
    let (backend, gateway) = gateway().await;
    let request = Request::post(gateway.url("/trailers"))
        .header("content-type", "application/grpc-web+proto")
        .header("origin", "https://app.example")
        .header("x-grpc-web", "1")
        .body(full("\x00\x00\x00\x00\x00"))
        .unwrap();
    let (status, headers, body) = raw(request).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/grpc-web");
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert_eq!(
        headers["access-control-expose-headers"],
        "grpc-status, grpc-message, grpc-status-details-bin"
    );
    let mut expected = b"payload".to_vec();
    expected.extend_from_slice(TRAILER_FRAME);
    assert_eq!(body, expected);
    let seen = backend.last();
    assert_eq!(seen.version, http::Version::HTTP_2);
    assert_eq!(seen.headers["content-type"], "application/grpc+proto");
}

#[tokio::test]
async fn the_text_form_is_base64_both_ways_and_other_origins_get_no_cors() {
    let (_backend, gateway) = gateway().await;
    let request = Request::post(gateway.url("/trailers"))
        .header("content-type", "application/grpc-web-text")
        .header("origin", "https://elsewhere.example")
        .body(full("AAAAAAA="))
        .unwrap();
    let (status, headers, body) = raw(request).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/grpc-web-text");
    assert!(!headers.contains_key("access-control-allow-origin"));
    // Each chunk is its own padded base64 segment: decode them four characters at a time.
    assert_eq!(body.len() % 4, 0);
    let decoded: Vec<u8> = body
        .chunks(4)
        .flat_map(|group| base64::engine::general_purpose::STANDARD.decode(group).unwrap())
        .collect();
    let mut expected = b"payload".to_vec();
    expected.extend_from_slice(TRAILER_FRAME);
    assert_eq!(decoded, expected);
}

#[tokio::test]
async fn preflights_are_answered_at_the_proxy() {
    let (backend, gateway) = gateway().await;
    let preflight = Request::options(gateway.url("/svc.Greeter/Hello"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-grpc-web")
        .body(full(""))
        .unwrap();
    let (status, headers, _) = raw(preflight).await;
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert_eq!(headers["access-control-allow-methods"], "POST");
    assert_eq!(headers["access-control-allow-headers"], "content-type,x-grpc-web");
    assert!(backend.seen().is_empty(), "the backend never sees a preflight");
}
