//! `compress` through the proxy: each encoding negotiated and decodable, and what stays uncompressed.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::io::Read;

use http::{HeaderMap, Request};
use support::{Backend, TestGateway, client, full, middleware_route, send};
use switchyard_config::{Compress, Middleware, Status};

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => {
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
        }
        "br" => {
            brotli::Decompressor::new(body, 4096).read_to_end(&mut out).unwrap();
        }
        "zstd" => out = zstd::stream::decode_all(body).unwrap(),
        other => panic!("unexpected encoding {other}"),
    }
    out
}

/// Sends a request and returns the raw bytes of the answer (the support helper reads text).
async fn raw(request: Request<support::TestBody>) -> (u16, HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    let response = client().request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status.as_u16(),
        parts.headers,
        body.collect().await.unwrap().to_bytes().to_vec(),
    )
}

async fn fetch(gateway: &TestGateway, method: &str, path: &str, accept: Option<&str>) -> (u16, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(gateway.url(path));
    if let Some(accept) = accept {
        request = request.header("accept-encoding", accept);
    }
    raw(request.body(full("")).unwrap()).await
}

async fn gateway(config: Compress) -> (Backend, TestGateway) {
    let backend = Backend::start("b").await;
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("gz", Middleware::Compress(config))],
    );
    let gateway = TestGateway::start(config).await;
    (backend, gateway)
}

#[tokio::test]
async fn every_encoding_is_negotiated_and_decodes_to_the_backend_body() {
    let (_backend, gateway) = gateway(Compress::default()).await;
    let expected = vec![b'x'; 200_000];
    for (accept, encoding) in [
        ("gzip", "gzip"),
        ("br;q=1, gzip;q=0.5", "br"),
        ("zstd", "zstd"),
        ("gzip, br, zstd", "gzip"),
    ] {
        let (status, headers, body) = fetch(&gateway, "GET", "/bytes/200000", Some(accept)).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-encoding"], encoding, "{accept}");
        assert_eq!(headers["vary"], "Accept-Encoding");
        assert!(!headers.contains_key("content-length"));
        assert!(body.len() < 10_000, "{encoding}: {} bytes", body.len());
        assert_eq!(decode(encoding, &body), expected, "{encoding}");
    }
}

#[tokio::test]
async fn small_bodies_head_requests_and_unwilling_clients_are_left_alone() {
    let (_backend, gateway) = gateway(Compress::default()).await;
    let (_, headers, body) = fetch(&gateway, "GET", "/bytes/100", Some("gzip")).await;
    assert!(!headers.contains_key("content-encoding"));
    assert_eq!(body, vec![b'x'; 100]);
    assert_eq!(headers["vary"], "Accept-Encoding");

    let (_, headers, body) = fetch(&gateway, "GET", "/bytes/5000", None).await;
    assert!(!headers.contains_key("content-encoding"));
    assert_eq!(body.len(), 5000);

    let (_, headers, _) = fetch(&gateway, "GET", "/bytes/5000", Some("identity, deflate")).await;
    assert!(!headers.contains_key("content-encoding"));

    let (_, headers, _) = fetch(&gateway, "HEAD", "/bytes/5000", Some("gzip")).await;
    assert!(!headers.contains_key("content-encoding"));
}

#[tokio::test]
async fn excluded_and_included_types_and_bad_options() {
    // The echo backend answers with the request's body and no Content-Type; `/status/200` with text.
    let (_backend, gateway) = gateway(Compress {
        excluded_content_types: vec!["application/octet-stream".into()],
        min_response_body_bytes: 10,
        ..Compress::default()
    })
    .await;
    let request = Request::post(gateway.url("/echo"))
        .header("accept-encoding", "gzip")
        .header("content-type", "application/grpc")
        .body(full("a gRPC request is never compressed, whatever its size"))
        .unwrap();
    let (_, headers, _) = send(&client(), request).await;
    assert!(
        !headers.contains_key("content-encoding"),
        "the request's own type is excluded"
    );

    let request = Request::post(gateway.url("/echo"))
        .header("accept-encoding", "gzip")
        .body(full("twenty-something bytes of text to compress"))
        .unwrap();
    let (_, headers, body) = raw(request).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(decode("gzip", &body), b"twenty-something bytes of text to compress");

    gateway
        .reconfigure(|c| {
            c.http.middlewares.insert(
                "gz".into(),
                Middleware::Compress(Compress {
                    excluded_content_types: vec!["text/html".into()],
                    included_content_types: vec!["text/plain".into()],
                    ..Compress::default()
                }),
            );
        })
        .await;
    let snapshot = gateway.gateway.snapshot();
    let report = &snapshot.report().middlewares["gz@test"];
    assert_eq!(report.status, Status::Disabled);
    assert_eq!(
        report.errors[0].to_string(),
        "http.middlewares.gz@test.compress: excludedContentTypes and includedContentTypes options are mutually exclusive"
    );
}
