//! HTTPS listeners terminating TLS with certificates from Secrets, over real handshakes, and the
//! listener status when a certificate cannot be used.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use support::gateway::{backend, condition, eventually, gateway, http_route, start};
use support::tls::{Ca, Issued, provider};
use support::{Pods, ready, secret, service, slice};

/// One GET over TLS for `host` (SNI): the leaf served and the status.
async fn fetch(addr: SocketAddr, roots: &rustls::RootCertStore, host: &str) -> Result<(Vec<u8>, u16), String> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
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
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    Ok((served, response.status().as_u16()))
}

fn tls_secret(namespace: &str, name: &str, issued: &Issued) -> Value {
    secret(
        namespace,
        name,
        "kubernetes.io/tls",
        &[("tls.crt", &issued.cert), ("tls.key", &issued.key)],
    )
}

fn https_listener(name: &str, hostname: &str, secret: Value) -> Value {
    json!({"name": name, "port": 443, "protocol": "HTTPS", "hostname": hostname,
           "tls": {"mode": "Terminate", "certificateRefs": [secret]}})
}

fn listener_condition(status: &Value, listener: &str, type_: &str) -> (String, String) {
    let found = status["listeners"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["name"] == listener))
        .map(|l| condition(&l["conditions"], type_).clone())
        .unwrap_or(Value::Null);
    (
        found["status"].as_str().unwrap_or("").to_owned(),
        found["reason"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listeners_serve_their_certificate_or_say_why_not() {
    let cluster = start(|p| p).await;
    let pods = Pods::start("app", 1).await;
    cluster.server.apply(service("default", "app", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "app",
        "app-x",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    let ca = Ca::new();
    let good = ca.issue(&["secure.test"]);
    let elsewhere = ca.issue(&["far.test"]);
    cluster.server.apply(tls_secret("default", "secure-cert", &good));
    cluster.server.apply(tls_secret("vault", "far-cert", &elsewhere));
    let listeners = json!([
        https_listener("secure", "secure.test", json!({"name": "secure-cert"})),
        https_listener("missing", "missing.test", json!({"name": "no-such-secret"})),
        https_listener("far", "far.test", json!({"name": "far-cert", "namespace": "vault"})),
    ]);
    cluster.server.apply(gateway("default", "edge", listeners));
    cluster.server.apply(http_route(
        "default",
        "app",
        json!({"parentRefs": [{"name": "edge"}], "rules": [{"backendRefs": [backend("app", 80, 1)]}]}),
    ));
    support::within(support::LIVE_TIMEOUT, || async {
        fetch(cluster.addr, &ca.roots, "secure.test")
            .await
            .is_ok_and(|(_, status)| status == 200)
    })
    .await
    .unwrap_or_else(|_| panic!("secure.test never served: {:?}", cluster.warnings()));
    let (served, _) = fetch(cluster.addr, &ca.roots, "secure.test").await.unwrap();
    assert_eq!(served, good.der, "the Secret's certificate is served");

    eventually(&cluster.server, "Gateway", "default", "edge", |s| {
        listener_condition(s, "missing", "ResolvedRefs") == ("False".into(), "InvalidCertificateRef".into())
            && listener_condition(s, "far", "ResolvedRefs") == ("False".into(), "RefNotPermitted".into())
            && listener_condition(s, "secure", "ResolvedRefs") == ("True".into(), "ResolvedRefs".into())
    })
    .await;
    let gw = support::gateway::status(&cluster.server, "Gateway", "default", "edge");
    assert_eq!(listener_condition(&gw, "missing", "Programmed").0, "False");
    assert!(
        fetch(cluster.addr, &ca.roots, "far.test")
            .await
            .map(|(served, _)| served)
            != Ok(elsewhere.der.clone()),
        "a certificate of another namespace is not served without a grant"
    );

    // A ReferenceGrant lets Gateways of `default` use the Secret.
    cluster.server.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant",
        "metadata": {"namespace": "vault", "name": "certs"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "default"}],
                 "to": [{"group": "", "kind": "Secret", "name": "far-cert"}]},
    }));
    support::within(support::LIVE_TIMEOUT, || async {
        fetch(cluster.addr, &ca.roots, "far.test")
            .await
            .is_ok_and(|(served, status)| served == elsewhere.der && status == 200)
    })
    .await
    .expect("the granted certificate is served");
}
