//! A Traefik user's TLS setup from files: `web` redirects to `websecure`, which serves every router over
//! TLS (`http.tls`) with a certificate from the dynamic file, verified by a client that trusts the CA.
#![cfg(all(feature = "file", feature = "tls"))]
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;

async fn backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let proto = req.headers().get("x-forwarded-proto").cloned();
                let body = format!(
                    "shop over {}",
                    proto.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("?")
                );
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_from_the_dynamic_file_and_a_redirecting_entrypoint() {
    let shop = backend().await;
    let dir = tempfile::tempdir().unwrap();

    // A private CA and a certificate for shop.example, written where the dynamic file points.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let site_key = rcgen::KeyPair::generate().unwrap();
    let site = rcgen::CertificateParams::new(vec!["shop.example".to_owned()])
        .unwrap()
        .signed_by(&site_key, &issuer)
        .unwrap();
    std::fs::write(dir.path().join("shop.crt"), site.pem()).unwrap();
    std::fs::write(dir.path().join("shop.key"), site_key.serialize_pem()).unwrap();

    let dynamic = dir.path().join("dynamic.yml");
    let yaml = format!(
        r#"http:
  routers:
    shop:
      rule: "Host(`shop.example`)"
      service: shop
  services:
    shop:
      loadBalancer:
        servers:
          - url: "http://{shop}"
tls:
  certificates:
    - certFile: {dir}/shop.crt
      keyFile: {dir}/shop.key
  options:
    default:
      minVersion: VersionTLS12
"#,
        dir = dir.path().display()
    );
    std::fs::write(&dynamic, yaml).unwrap();
    let static_file = dir.path().join("traefik.yml");
    let static_yaml = format!(
        r#"entryPoints:
  web:
    address: 127.0.0.1:0
    http:
      redirections:
        entryPoint:
          to: websecure
          scheme: https
  websecure:
    address: 127.0.0.1:0
    http:
      tls: {{}}
providers:
  providersThrottleDuration: 0s
  file:
    filename: {}
"#,
        dynamic.display()
    );
    std::fs::write(&static_file, static_yaml).unwrap();
    let gateway = support::start_when(&static_file, |s| s.route_count("websecure").tls == 1).await;
    let snapshot = gateway.snapshot();
    assert!(snapshot.report().errors().next().is_none(), "{:?}", snapshot.report());
    let (web, websecure) = (
        gateway.local_addr("web").unwrap(),
        gateway.local_addr("websecure").unwrap(),
    );

    // Plain HTTP on `web` is redirected to `websecure`.
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = http::Request::get(format!("http://{web}/cart?id=7"))
        .header("host", "shop.example")
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 301);
    assert_eq!(
        response.headers()["location"],
        format!("https://shop.example:{}/cart?id=7", websecure.port()).as_str()
    );

    // HTTPS on `websecure`, verified against the CA, as a browser would.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(websecure).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from("shop.example").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get("/cart")
        .header("host", "shop.example")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "shop over https");
    gateway.shutdown().await;
}
