//! HTTPS towards backends: serversTransport TLS options against real TLS backends with certificates
//! from a private CA made for each test.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use support::{Logs, TestBody, TestGateway, client, eventually, full, get};
use switchyard_config::{
    Certificate, Duration as ConfigDuration, DynamicConfig, ForwardAuth, LoadBalancer, Middleware, Router,
    ServerHealthCheck, ServersTransport, Service, Status,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A private certificate authority.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Pki {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "switchyard test CA");
        let ca = params.self_signed(&key).unwrap();
        Self {
            ca_pem: ca.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), with a URI SAN when given.
    fn leaf(&self, names: &[&str], uri: Option<&str>, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        if let Some(uri) = uri {
            params.subject_alt_names.push(SanType::URI(uri.try_into().unwrap()));
        }
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, None, ExtendedKeyUsagePurpose::ServerAuth)
    }
}

/// How a test backend speaks TLS.
#[derive(Default)]
struct BackendTls {
    tls12_only: bool,
    /// Client certificates must chain to this CA.
    client_ca: Option<String>,
}

/// An HTTPS backend (hyper behind tokio-rustls) that records the HTTP version of each request and
/// answers `/health` with a status the test sets.
struct TlsBackend {
    addr: SocketAddr,
    versions: Arc<Mutex<Vec<Version>>>,
    health: Arc<AtomicU16>,
    probes: Arc<AtomicUsize>,
    /// TLS handshakes completed.
    handshakes: Arc<AtomicUsize>,
    /// Why handshakes failed, as the backend saw it.
    failed: Arc<Mutex<Vec<String>>>,
}

impl TlsBackend {
    async fn start(leaf: &Leaf, options: BackendTls) -> Self {
        let provider = switchyard_tls::provider();
        let versions: &[&rustls::SupportedProtocolVersion] = if options.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS12, &rustls::version::TLS13]
        };
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .unwrap();
        let builder = match &options.client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in switchyard_tls::certificates(ca).unwrap() {
                    roots.add(cert).unwrap();
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(
                switchyard_tls::certificates(&leaf.cert).unwrap(),
                switchyard_tls::private_key(&leaf.key).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = Self {
            addr: listener.local_addr().unwrap(),
            versions: Arc::default(),
            health: Arc::new(AtomicU16::new(200)),
            probes: Arc::default(),
            handshakes: Arc::default(),
            failed: Arc::default(),
        };
        let (handshakes, failed) = (Arc::clone(&backend.handshakes), Arc::clone(&backend.failed));
        let (versions, health, probes) = (
            Arc::clone(&backend.versions),
            Arc::clone(&backend.health),
            Arc::clone(&backend.probes),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let (versions, health, probes) = (Arc::clone(&versions), Arc::clone(&health), Arc::clone(&probes));
                let (handshakes, failed) = (Arc::clone(&handshakes), Arc::clone(&failed));
                tokio::spawn(async move {
                    let tls = match acceptor.accept(stream).await {
                        Ok(tls) => tls,
                        Err(error) => return failed.lock().unwrap().push(error.to_string()),
                    };
                    handshakes.fetch_add(1, Ordering::SeqCst);
                    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                        let answer = answer(&mut req, &versions, &health, &probes);
                        async move { Ok::<_, Infallible>(answer) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        backend
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn versions(&self) -> Vec<Version> {
        self.versions.lock().unwrap().clone()
    }

    /// Why the last failed handshake failed, as the backend saw it.
    fn last_failure(&self) -> String {
        let failed = self.failed.lock().unwrap();
        failed.last().cloned().expect("a failed handshake")
    }
}

fn answer(
    req: &mut Request<Incoming>,
    versions: &Mutex<Vec<Version>>,
    health: &AtomicU16,
    probes: &AtomicUsize,
) -> Response<TestBody> {
    if req.uri().path() == "/health" {
        probes.fetch_add(1, Ordering::SeqCst);
        let mut response = Response::new(full("health"));
        *response.status_mut() = StatusCode::from_u16(health.load(Ordering::SeqCst)).unwrap();
        return response;
    }
    versions.lock().unwrap().push(req.version());
    if req.uri().path() == "/ws" {
        return support::websocket(req);
    }
    Response::new(full("secure"))
}

/// Router `r` → service `s` (the given servers) → transport `t`.
fn config(urls: &[String], transport: ServersTransport) -> DynamicConfig {
    let mut config = DynamicConfig::default();
    config
        .http
        .routers
        .insert("r".into(), Router::new("PathPrefix(`/`)", "s"));
    let mut lb = LoadBalancer::with_urls(urls.iter().cloned());
    lb.servers_transport = "t".into();
    config.http.services.insert("s".into(), Service::from(lb));
    config.http.servers_transports.insert("t".into(), transport);
    config
}

fn trusting(pki: &Pki) -> ServersTransport {
    ServersTransport {
        root_cas: vec![pki.ca_pem.clone()],
        ..ServersTransport::default()
    }
}

async fn status(gateway: &TestGateway) -> StatusCode {
    get(&client(), &gateway.url("/"), None).await.0
}

/// Sends a request that the gateway must answer with 502, and returns the logged cause.
async fn bad_gateway(gateway: &TestGateway, logs: &Logs) -> String {
    let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::BAD_GATEWAY, "Bad Gateway"));
    logs.last_cause()
}

/// Changes transport `t` and waits until the change is live.
async fn set_transport(gateway: &TestGateway, transport: ServersTransport) {
    gateway
        .reconfigure(|c| {
            c.http.servers_transports.insert("t".into(), transport);
        })
        .await;
}

#[tokio::test]
async fn an_https_backend_is_reached_with_root_cas_and_h2_by_alpn() {
    let logs = Logs::capture();
    let pki = Pki::new();
    let backend = TlsBackend::start(&pki.server(&["127.0.0.1"]), BackendTls::default()).await;
    let gateway = TestGateway::start(config(&[backend.url()], trusting(&pki))).await;
    for _ in 0..3 {
        let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "secure"));
    }
    assert_eq!(
        backend.versions(),
        [Version::HTTP_2; 3],
        "h2 was offered and chosen by ALPN"
    );
    assert_eq!(backend.handshakes.load(Ordering::SeqCst), 1, "one shared h2 connection");

    // A reload that leaves the transport alone keeps its connections.
    gateway
        .reconfigure(|c| {
            c.http
                .routers
                .insert("other".into(), Router::new("PathPrefix(`/other`)", "s"));
        })
        .await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
    assert_eq!(
        backend.handshakes.load(Ordering::SeqCst),
        1,
        "the pool survived the reload"
    );

    // The system's roots do not know the private CA.
    set_transport(&gateway, ServersTransport::default()).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        format!(
            "TLS handshake with {} failed: invalid peer certificate: UnknownIssuer",
            backend.addr
        )
    );
}

#[tokio::test]
async fn the_static_servers_transport_serves_services_without_one() {
    let pki = Pki::new();
    let backend = TlsBackend::start(&pki.server(&["127.0.0.1"]), BackendTls::default()).await;
    let dynamic = support::route("PathPrefix(`/`)", &[backend.url()]);
    let mut static_config = support::static_config();
    let gateway = TestGateway::start_with(static_config.clone(), dynamic.clone()).await;
    assert_eq!(status(&gateway).await, StatusCode::BAD_GATEWAY, "the system's roots");

    static_config.servers_transport = Some(switchyard_config::StaticServersTransport {
        root_cas: vec![pki.ca_pem.clone()],
        ..Default::default()
    });
    let gateway = TestGateway::start_with(static_config, dynamic).await;
    let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "secure"));
}

#[tokio::test]
async fn websockets_reach_an_h2_backend_over_http1() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let pki = Pki::new();
    let backend = TlsBackend::start(&pki.server(&["127.0.0.1"]), BackendTls::default()).await;
    let gateway = TestGateway::start(config(&[backend.url()], trusting(&pki))).await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
    let stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(format!("ws://{}/ws", gateway.addr), stream)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("over tls")).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "over tls");
    assert_eq!(backend.versions(), [Version::HTTP_2, Version::HTTP_11]);
}

#[tokio::test]
async fn disable_http2_keeps_backends_on_http1() {
    let pki = Pki::new();
    let backend = TlsBackend::start(&pki.server(&["127.0.0.1"]), BackendTls::default()).await;
    let transport = ServersTransport {
        disable_http2: true,
        ..trusting(&pki)
    };
    let gateway = TestGateway::start(config(&[backend.url()], transport)).await;
    for _ in 0..3 {
        assert_eq!(status(&gateway).await, StatusCode::OK);
    }
    assert_eq!(backend.versions(), [Version::HTTP_11; 3]);
}

#[tokio::test]
async fn server_name_chooses_the_name_checked_in_the_certificate() {
    let logs = Logs::capture();
    let pki = Pki::new();
    let backend = TlsBackend::start(&pki.server(&["backend.test"]), BackendTls::default()).await;
    // By default the URL's host (127.0.0.1) is checked: the certificate does not name it.
    let gateway = TestGateway::start(config(&[backend.url()], trusting(&pki))).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        format!(
            "TLS handshake with {} failed: invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"backend.test\")",
            backend.addr
        )
    );
    let named = |name: &str| ServersTransport {
        server_name: name.into(),
        ..trusting(&pki)
    };
    set_transport(&gateway, named("backend.test")).await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
    set_transport(&gateway, named("wrong.test")).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        format!(
            "TLS handshake with {} failed: invalid peer certificate: certificate not valid for name \"wrong.test\"; certificate is only valid for DnsName(\"backend.test\")",
            backend.addr
        )
    );
}

#[tokio::test]
async fn insecure_skip_verify_accepts_a_self_signed_backend() {
    let logs = Logs::capture();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["self.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let leaf = Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
    };
    let backend = TlsBackend::start(&leaf, BackendTls::default()).await;
    let gateway = TestGateway::start(config(&[backend.url()], ServersTransport::default())).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        format!(
            "TLS handshake with {} failed: invalid peer certificate: UnknownIssuer",
            backend.addr
        )
    );
    let insecure = ServersTransport {
        insecure_skip_verify: true,
        ..ServersTransport::default()
    };
    set_transport(&gateway, insecure).await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
}

#[tokio::test]
async fn mutual_tls_presents_the_first_client_certificate() {
    let logs = Logs::capture();
    let pki = Pki::new();
    let client_pki = Pki::new();
    let options = BackendTls {
        client_ca: Some(client_pki.ca_pem.clone()),
        ..BackendTls::default()
    };
    let backend = TlsBackend::start(&pki.server(&["127.0.0.1"]), options).await;
    let gateway = TestGateway::start(config(&[backend.url()], trusting(&pki))).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        "backend request failed: connection error"
    );
    assert_eq!(
        backend.last_failure(),
        "peer sent no certificates",
        "no client certificate"
    );

    let client_cert = client_pki.leaf(&["gateway.test"], None, ExtendedKeyUsagePurpose::ClientAuth);
    let unknown = Pki::new().leaf(&["gateway.test"], None, ExtendedKeyUsagePurpose::ClientAuth);
    let with = |first: &Leaf, second: &Leaf| ServersTransport {
        certificates: vec![
            Certificate::new(first.cert.clone(), first.key.clone()),
            Certificate::new(second.cert.clone(), second.key.clone()),
        ],
        ..trusting(&pki)
    };
    set_transport(&gateway, with(&client_cert, &unknown)).await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
    set_transport(&gateway, with(&unknown, &client_cert)).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        "backend request failed: connection error"
    );
    assert_eq!(
        backend.last_failure(),
        "invalid peer certificate: BadSignature",
        "only the first is presented (its CA has the client CA's name, not its key)"
    );
}

#[tokio::test]
async fn min_version_tls13_refuses_a_tls12_only_backend() {
    let logs = Logs::capture();
    let pki = Pki::new();
    let options = BackendTls {
        tls12_only: true,
        ..BackendTls::default()
    };
    let backend = TlsBackend::start(&pki.server(&["127.0.0.1"]), options).await;
    let gateway = TestGateway::start(config(&[backend.url()], trusting(&pki))).await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
    let strict = ServersTransport {
        min_version: "VersionTLS13".into(),
        ..trusting(&pki)
    };
    set_transport(&gateway, strict).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        format!(
            "TLS handshake with {} failed: received fatal alert: ProtocolVersion",
            backend.addr
        )
    );
}

#[tokio::test]
async fn peer_cert_uri_must_be_among_the_backend_sans() {
    let logs = Logs::capture();
    let pki = Pki::new();
    let uri = "spiffe://cluster.test/ns/shop/sa/api";
    let leaf = pki.leaf(&["127.0.0.1"], Some(uri), ExtendedKeyUsagePurpose::ServerAuth);
    let backend = TlsBackend::start(&leaf, BackendTls::default()).await;
    let expecting = |peer: &str| ServersTransport {
        peer_cert_uri: peer.into(),
        ..trusting(&pki)
    };
    let gateway = TestGateway::start(config(&[backend.url()], expecting(uri))).await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
    set_transport(&gateway, expecting("spiffe://cluster.test/ns/shop/sa/other")).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        format!(
            "TLS handshake with {} failed: invalid peer certificate: Other(OtherError(the backend's certificate has no URI SAN `spiffe://cluster.test/ns/shop/sa/other` (peerCertURI)))",
            backend.addr
        )
    );

    // With insecureSkipVerify, as in Traefik, the name is not checked but the chain still is.
    let insecure = |roots: Vec<String>| ServersTransport {
        insecure_skip_verify: true,
        server_name: "wrong.test".into(),
        peer_cert_uri: uri.into(),
        root_cas: roots,
        ..ServersTransport::default()
    };
    set_transport(&gateway, insecure(vec![pki.ca_pem.clone()])).await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
    set_transport(&gateway, insecure(Vec::new())).await;
    assert_eq!(
        bad_gateway(&gateway, &logs).await,
        format!(
            "TLS handshake with {} failed: invalid peer certificate: UnknownIssuer",
            backend.addr
        ),
        "the system's roots do not know the CA"
    );
}

#[tokio::test]
async fn an_unknown_cipher_suite_disables_only_the_services_using_the_transport() {
    let pki = Pki::new();
    let backend = TlsBackend::start(&pki.server(&["127.0.0.1"]), BackendTls::default()).await;
    let app = support::Backend::start("app").await;
    let transport = ServersTransport {
        cipher_suites: vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(), "TLS_BOGUS".into()],
        ..trusting(&pki)
    };
    let mut dynamic = config(&[backend.url()], transport);
    dynamic
        .http
        .routers
        .insert("healthy".into(), Router::new("PathPrefix(`/ok`)", "healthy"));
    let mut lb = LoadBalancer::with_urls([backend.url()]);
    lb.servers_transport = "good".into();
    dynamic.http.services.insert("healthy".into(), Service::from(lb));
    dynamic.http.servers_transports.insert("good".into(), trusting(&pki));
    let gateway = TestGateway::start(dynamic).await;

    assert_eq!(get(&client(), &gateway.url("/ok"), None).await.0, StatusCode::OK);
    assert_eq!(
        status(&gateway).await,
        StatusCode::NOT_FOUND,
        "router r is disabled with its service"
    );
    let snapshot = gateway.gateway.snapshot();
    let report = snapshot.report();
    let service = &report.services["s@test"];
    assert_eq!(service.status, Status::Disabled);
    let error = service.errors[0].to_string();
    let (error, _) = error.split_once("; supported: ").unwrap();
    assert_eq!(
        error,
        "http.services.s@test.loadBalancer.serversTransport: serversTransport `t@test` has invalid TLS \
         settings: cipherSuites[1]: `TLS_BOGUS` is not a cipher suite rustls offers"
    );
    let general: Vec<String> = report.general.iter().map(ToString::to_string).collect();
    let [transport] = general.as_slice() else {
        panic!("one problem: {general:?}")
    };
    assert_eq!(
        transport.split_once("; supported: ").unwrap().0,
        "http.serversTransports.t@test.cipherSuites[1]: `TLS_BOGUS` is not a cipher suite rustls offers"
    );
    assert_eq!(report.services["healthy@test"].status, Status::Enabled);

    // A transport is checked even while only plain HTTP servers use it.
    gateway
        .reconfigure(|c| {
            let transport = ServersTransport {
                root_cas: vec!["/nonexistent/switchyard/ca.pem".into()],
                ..ServersTransport::default()
            };
            c.http.servers_transports.insert("good".into(), transport);
            let mut plain = LoadBalancer::with_urls([app.url()]);
            plain.servers_transport = "good".into();
            c.http.services.insert("healthy".into(), Service::from(plain));
        })
        .await;
    assert_eq!(get(&client(), &gateway.url("/ok"), None).await.0, StatusCode::OK);
    let snapshot = gateway.gateway.snapshot();
    let general: Vec<String> = snapshot.report().general.iter().map(ToString::to_string).collect();
    assert_eq!(
        general.last().unwrap(),
        &format!(
            "http.serversTransports.good@test.rootCAs[0]: cannot read `/nonexistent/switchyard/ca.pem`: {}",
            std::io::Error::from_raw_os_error(2)
        ),
        "{general:?}"
    );
}

#[tokio::test]
async fn https_health_checks_probe_over_tls() {
    let pki = Pki::new();
    let backend = TlsBackend::start(&pki.server(&["backend.test"]), BackendTls::default()).await;
    let transport = ServersTransport {
        server_name: "backend.test".into(),
        ..trusting(&pki)
    };
    let mut dynamic = config(&[backend.url()], transport);
    let Some(switchyard_config::ServiceKind::LoadBalancer(lb)) =
        dynamic.http.services.get_mut("s").map(|s| &mut s.kind)
    else {
        unreachable!("a load balancer")
    };
    lb.health_check = Some(ServerHealthCheck {
        path: "/health".into(),
        interval: ConfigDuration::from(Duration::from_millis(50)),
        timeout: ConfigDuration::from(Duration::from_millis(500)),
        ..ServerHealthCheck::default()
    });
    let gateway = TestGateway::start(dynamic).await;
    assert_eq!(status(&gateway).await, StatusCode::OK);
    eventually("two probes", async || backend.probes.load(Ordering::SeqCst) >= 2).await;

    backend.health.store(503, Ordering::SeqCst);
    eventually("the failing probe taking the server out", async || {
        status(&gateway).await == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    backend.health.store(200, Ordering::SeqCst);
    eventually("the passing probe bringing it back", async || {
        status(&gateway).await == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn forward_auth_reaches_an_https_authentication_server() {
    let pki = Pki::new();
    let auth = TlsBackend::start(&pki.server(&["auth.test", "127.0.0.1"]), BackendTls::default()).await;
    let app = support::Backend::start("app").await;
    let forward = |tls: Option<switchyard_config::ClientTls>| ForwardAuth {
        address: format!("{}/health", auth.url()),
        tls,
        ..ForwardAuth::default()
    };
    let trusted = switchyard_config::ClientTls {
        ca: pki.ca_pem.clone(),
        ..switchyard_config::ClientTls::default()
    };
    let dynamic = support::middleware_route(
        "PathPrefix(`/`)",
        &[app.url()],
        vec![("auth", Middleware::ForwardAuth(forward(Some(trusted))))],
    );
    let gateway = TestGateway::start(dynamic).await;
    let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "app"));
    assert_eq!(auth.probes.load(Ordering::SeqCst), 1, "asked the authentication server");

    auth.health.store(403, Ordering::SeqCst);
    assert_eq!(get(&client(), &gateway.url("/"), None).await.0, StatusCode::FORBIDDEN);

    // Without the CA, the server's certificate is refused: Traefik answers 500.
    auth.health.store(200, Ordering::SeqCst);
    gateway
        .reconfigure(|c| {
            c.http
                .middlewares
                .insert("auth".into(), Middleware::ForwardAuth(forward(None)));
        })
        .await;
    assert_eq!(
        get(&client(), &gateway.url("/"), None).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        auth.last_failure(),
        "received fatal alert: UnknownCA",
        "the gateway refused the certificate"
    );
}

#[tokio::test]
async fn forward_auth_presents_its_client_certificate_and_may_skip_verification() {
    let pki = Pki::new();
    let client_pki = Pki::new();
    let options = BackendTls {
        client_ca: Some(client_pki.ca_pem.clone()),
        ..BackendTls::default()
    };
    let auth = TlsBackend::start(&pki.server(&["auth.test"]), options).await;
    let app = support::Backend::start("app").await;
    let client_cert = client_pki.leaf(&["gateway.test"], None, ExtendedKeyUsagePurpose::ClientAuth);
    let forward = |tls: switchyard_config::ClientTls| {
        Middleware::ForwardAuth(ForwardAuth {
            address: format!("{}/health", auth.url()),
            tls: Some(tls),
            ..ForwardAuth::default()
        })
    };
    // The certificate names auth.test, not 127.0.0.1: only insecureSkipVerify lets it through.
    let insecure = switchyard_config::ClientTls {
        insecure_skip_verify: true,
        ..switchyard_config::ClientTls::default()
    };
    let dynamic = support::middleware_route(
        "PathPrefix(`/`)",
        &[app.url()],
        vec![("auth", forward(insecure.clone()))],
    );
    let gateway = TestGateway::start(dynamic).await;
    assert_eq!(
        get(&client(), &gateway.url("/"), None).await.0,
        StatusCode::INTERNAL_SERVER_ERROR,
        "no client certificate"
    );
    assert_eq!(auth.last_failure(), "peer sent no certificates");
    let with_cert = switchyard_config::ClientTls {
        cert: client_cert.cert.clone(),
        key: client_cert.key.clone(),
        ..insecure
    };
    gateway
        .reconfigure(|c| {
            c.http.middlewares.insert("auth".into(), forward(with_cert.clone()));
        })
        .await;
    let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "app"));
    let verified = switchyard_config::ClientTls {
        ca: pki.ca_pem.clone(),
        insecure_skip_verify: false,
        ..with_cert
    };
    gateway
        .reconfigure(|c| {
            c.http.middlewares.insert("auth".into(), forward(verified));
        })
        .await;
    assert_eq!(
        get(&client(), &gateway.url("/"), None).await.0,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the name is checked without insecureSkipVerify"
    );
    assert_eq!(
        auth.last_failure(),
        "received fatal alert: BadCertificate",
        "the gateway refused the certificate for its name"
    );
}
