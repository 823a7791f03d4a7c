//! TLS Secrets end to end: an Ingress with `tls.secretName` and `router.tls` is served over TLS with the
//! Secret's certificate, and a rotated Secret serves from the next handshake while a loop of fresh TLS
//! connections keeps going without a failure.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use support::{Cluster, LIVE_TIMEOUT, Pods, ingress, ready, rule, service, slice, tls_secret, within};

/// A certificate for `names` signed by `ca`, as PEM, key PEM and the leaf's DER.
fn issue(ca: &rcgen::Issuer<'static, rcgen::KeyPair>, names: &[&str]) -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// One request over a fresh TLS connection verified against `roots`: the served leaf and the answer.
async fn fetch(addr: SocketAddr, roots: &rustls::RootCertStore, host: &str) -> Result<(Vec<u8>, String), String> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(host.to_owned()).unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let served = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::get("/")
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((served, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_tls_secret_serves_from_the_next_handshake_without_failures() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_cert.der().to_vec())).unwrap();
    let (cert_a, key_a, der_a) = issue(&ca, &["secure.test"]);
    let (cert_b, key_b, der_b) = issue(&ca, &["secure.test"]);

    let cluster = Cluster::start(|p| p).await;
    let pods = Pods::start("secure", 1).await;
    cluster.server.apply(service("default", "secure", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "secure",
        "secure-abc",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    cluster.server.apply(tls_secret("default", "site", &cert_a, &key_a));
    let mut secure = ingress(
        "default",
        "secure",
        json!({
            "tls": [{"hosts": ["secure.test"], "secretName": "site"}],
            "rules": [rule("secure.test", &[("Prefix", "/", "secure", "http")])],
        }),
    );
    secure["metadata"]["annotations"] = json!({"traefik.ingress.kubernetes.io/router.tls": "true"});
    cluster.server.apply(secure);
    let addr = cluster.addr;
    within(std::time::Duration::from_secs(10), || async {
        fetch(addr, &roots, "secure.test")
            .await
            .is_ok_and(|(served, _)| served == der_a)
    })
    .await
    .expect("the Ingress is served over TLS with the Secret's certificate");

    // Fresh TLS connections in a loop, each verified against the CA, while the Secret rotates.
    let stop = Arc::new(AtomicBool::new(false));
    let looping = {
        let (stop, roots) = (Arc::clone(&stop), roots.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match fetch(addr, &roots, "secure.test").await {
                    Ok((_, body)) if body.starts_with("secure-") => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    cluster.server.apply(tls_secret("default", "site", &cert_b, &key_b));
    let took = within(LIVE_TIMEOUT, || async {
        fetch(addr, &roots, "secure.test")
            .await
            .is_ok_and(|(served, _)| served == der_b)
    })
    .await
    .expect("the rotated certificate serves");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = looping.await.unwrap();
    assert!(failed.is_empty(), "failed TLS requests during the rotation: {failed:?}");
    assert!(ok > 20, "the loop ran ({ok} requests)");
    println!("rotated Secret served after {took:?}; {ok} TLS requests, none failed");
}
