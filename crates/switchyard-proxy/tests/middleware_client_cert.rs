//! `passTLSClientCert` without TLS: client-forged headers never reach the backend, and an embedder that
//! terminates TLS itself hands the certificates to the router in the [`PeerCertificates`] extension.
//! Certificates presented over real TLS connections to the gateway are in `tls.rs`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use base64::Engine as _;
use http::Request;
use support::{Backend, TestGateway, client, full, middleware_route, send};
use switchyard_config::{Middleware, PassTlsClientCert};
use switchyard_middleware::{PeerCertificates, RequestBody};
use tower::ServiceExt;

const PEM: &str = include_str!("../../switchyard-middleware/tests/data/client-cert.pem");

fn pass_cert() -> Middleware {
    Middleware::PassTlsClientCert(PassTlsClientCert { pem: true, info: None })
}

#[tokio::test]
async fn forged_certificate_headers_are_dropped_without_a_client_certificate() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("cert", pass_cert())],
    ))
    .await;
    let forged = Request::get(gateway.url("/"))
        .header("x-forwarded-tls-client-cert", "forged")
        .body(full(""))
        .unwrap();
    assert_eq!(send(&client(), forged).await.0, 200);
    assert!(!backend.last().headers.contains_key("x-forwarded-tls-client-cert"));
}

#[tokio::test]
async fn an_embedders_peer_certificates_reach_the_backend() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("cert", pass_cert())],
    ))
    .await;
    // The embedder's own TLS server verified the client's certificate.
    let router = gateway.gateway.service("web").unwrap();
    let body: String = PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(&body).unwrap();
    let mut request = Request::get("/")
        .header("host", "app.example")
        .body(RequestBody::empty())
        .unwrap();
    request.extensions_mut().insert(PeerCertificates::new([der]));
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(backend.last().headers["x-forwarded-tls-client-cert"], body.as_str());
}
