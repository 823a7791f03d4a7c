//! TLS with Traefik's custom resources, over real handshakes: an IngressRoute's certificate from its
//! Secret, a TLSStore's default certificate, a TLSOption requiring client certificates signed by a CA
//! from a Secret, and a ServersTransport reaching an HTTPS pod with a CA and a client certificate from
//! Secrets.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::json;
use support::tls::{Ca, Issued, chain_and_key, provider};
use support::{Cluster, Pods, ready, secret, service, slice, traefik, within};

/// One GET over a fresh TLS connection for `host` (SNI), trusting `roots`, with a client certificate
/// if given: the leaf the gateway served and the status.
async fn fetch(
    addr: SocketAddr,
    roots: &rustls::RootCertStore,
    host: &str,
    client: Option<&Issued>,
) -> Result<(Vec<u8>, u16), String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone());
    let config = match client {
        Some(issued) => {
            let (chain, key) = chain_and_key(issued);
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
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

fn tls_secret(name: &str, issued: &Issued) -> serde_json::Value {
    secret(
        "default",
        name,
        "kubernetes.io/tls",
        &[("tls.crt", &issued.cert), ("tls.key", &issued.key)],
    )
}

async fn cluster_with_app() -> (Cluster, Pods) {
    let cluster = Cluster::start_crd(|p| p).await;
    let pods = Pods::start("app", 1).await;
    cluster.apply(service("default", "app", &[("http", 80)]));
    cluster.apply(slice(
        "default",
        "app",
        "app-abc",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    (cluster, pods)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_certificates_default_store_and_client_auth_options_serve_tls() {
    let (cluster, _pods) = cluster_with_app().await;
    let ca = Ca::new();
    let site = ca.issue(&["secure.test", "mutual.test"]);
    let fallback = ca.issue(&["fallback.test", "other.test"]);
    let clients = Ca::new();
    let client = clients.issue(&["client"]);
    cluster.apply(tls_secret("site", &site));
    cluster.apply(tls_secret("fallback", &fallback));
    cluster.apply(secret("default", "client-ca", "Opaque", &[("ca.crt", &clients.pem)]));
    cluster.apply(traefik(
        "TLSStore",
        "default",
        "default",
        json!({"defaultCertificate": {"secretName": "fallback"}}),
    ));
    cluster.apply(traefik(
        "TLSOption",
        "default",
        "mutual",
        json!({"clientAuth": {"secretNames": ["client-ca"], "clientAuthType": "RequireAndVerifyClientCert"}}),
    ));
    let routes = |name: &str, host: &str, tls: serde_json::Value| {
        traefik(
            "IngressRoute",
            "default",
            name,
            json!({"routes": [{"match": format!("Host(`{host}`)"), "services": [{"name": "app", "port": 80}]}], "tls": tls}),
        )
    };
    cluster.apply(routes("secure", "secure.test", json!({"secretName": "site"})));
    cluster.apply(routes("mutual", "mutual.test", json!({"options": {"name": "mutual"}})));
    let addr = cluster.addr;
    within(Duration::from_secs(10), || async {
        fetch(addr, &ca.roots, "secure.test", None)
            .await
            .is_ok_and(|(served, status)| served == site.der && status == 200)
    })
    .await
    .unwrap_or_else(|_| panic!("the route's Secret serves secure.test: {:?}", cluster.warnings()));
    // No route's certificate names other.test: the default store's certificate answers.
    let served = fetch(addr, &ca.roots, "other.test", None).await.unwrap().0;
    assert!(
        served == fallback.der,
        "the TLSStore's default certificate serves names without their own"
    );

    // The TLSOption requires a client certificate from the CA in the Secret.
    within(Duration::from_secs(10), || async {
        fetch(addr, &ca.roots, "mutual.test", Some(&client))
            .await
            .is_ok_and(|(_, status)| status == 200)
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "a client with a certificate of the CA gets in: {:?}",
            cluster.warnings()
        )
    });
    let refused = fetch(addr, &ca.roots, "mutual.test", None).await;
    assert!(
        refused.is_err(),
        "a client without a certificate is refused: {refused:?}"
    );
    let stranger = Ca::new().issue(&["client"]);
    assert!(
        fetch(addr, &ca.roots, "mutual.test", Some(&stranger)).await.is_err(),
        "a certificate of another CA is refused"
    );
}

/// An HTTPS pod with this certificate, requiring client certificates from `clients`; answers `tls-pod`.
async fn https_pod(issued: &Issued, clients: &Ca) -> u16 {
    let (chain, key) = chain_and_key(issued);
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(clients.roots.clone()), provider())
            .build()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(|_request| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("tls-pod"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_transport_reaches_https_pods_with_cas_and_client_certificates_from_secrets() {
    let cluster = Cluster::start_crd(|p| p).await;
    let backend_ca = Ca::new();
    let clients = Ca::new();
    let pod_port = https_pod(&backend_ca.issue(&["backend.internal"]), &clients).await;
    let gateway_cert = clients.issue(&["gateway"]);
    cluster.apply(service("default", "secure", &[("https", 443)]));
    cluster.apply(slice(
        "default",
        "secure",
        "secure-abc",
        "https",
        pod_port,
        &ready(&["127.0.0.1"]),
    ));
    cluster.apply(secret(
        "default",
        "backend-ca",
        "Opaque",
        &[("tls.ca", &backend_ca.pem)],
    ));
    cluster.apply(tls_secret("gateway-cert", &gateway_cert));
    cluster.apply(traefik(
        "ServersTransport",
        "default",
        "pods",
        json!({
            "serverName": "backend.internal",
            "rootCAsSecrets": ["backend-ca"],
            "certificatesSecrets": ["gateway-cert"],
            "forwardingTimeouts": {"dialTimeout": "5s", "responseHeaderTimeout": 10},
        }),
    ));
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "secure",
        json!({"routes": [
            {"match": "Host(`with.test`)", "services": [{"name": "secure", "port": "https", "serversTransport": "pods"}]},
            {"match": "Host(`without.test`)", "services": [{"name": "secure", "port": 443}]},
        ]}),
    ));
    cluster.routes_to("with.test", "/", "tls-pod").await;
    let (status, _) = cluster.get("without.test", "/").await;
    assert!(
        status.is_server_error(),
        "without the transport the pod's certificate is not trusted: {status}"
    );
    let snapshot = cluster.gateway.snapshot();
    let transport = &snapshot.published().runtime.config.http.servers_transports["default-pods@kubernetescrd"];
    let timeouts = transport.forwarding_timeouts.unwrap();
    assert_eq!(
        timeouts.response_header_timeout,
        switchyard_config::Duration::from_secs(10)
    );
    assert_eq!(timeouts.dial_timeout, switchyard_config::Duration::from_secs(5));
}
