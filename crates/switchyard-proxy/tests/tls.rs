//! TLS termination through the real proxy: certificates generated here (rcgen), real handshakes with
//! rustls clients on 127.0.0.1, real backends behind.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};
use support::{Backend, TestGateway, client, get, route, static_config_with};
use switchyard_config::{
    CertificateAndStores, ClientAuth, DynamicConfig, Middleware, PassTlsClientCert, RouterTls, TlsOptions,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// A private certificate authority issuing server and client certificates.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

/// An issued certificate: chain PEM, key PEM, and the leaf's DER to recognise it on the wire.
#[derive(Clone)]
struct Issued {
    cert: String,
    key: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn issue(&self, names: &[&str]) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

fn entry(issued: &Issued) -> CertificateAndStores {
    CertificateAndStores {
        cert_file: issued.cert.clone(),
        key_file: issued.key.clone(),
        stores: Vec::new(),
    }
}

/// A router `name` for `rule` over TLS with `options`, to the backend.
fn tls_router(config: &mut DynamicConfig, name: &str, rule: &str, options: &str, backend: &Backend) {
    let mut router = switchyard_config::Router::new(rule, name);
    router.tls = Some(RouterTls {
        options: options.to_owned(),
        ..RouterTls::default()
    });
    config.http.routers.insert(name.to_owned(), router);
    config.http.services.insert(
        name.to_owned(),
        switchyard_config::Service::from(switchyard_config::LoadBalancer::with_urls([backend.url()])),
    );
}

/// Accepts any server certificate, so that tests can look at which one was served.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// How a test client connects.
#[derive(Clone)]
struct Dial {
    server_name: String,
    alpn: Vec<&'static str>,
    versions: &'static [&'static SupportedProtocolVersion],
    client_cert: Option<Issued>,
}

impl Dial {
    fn to(server_name: &str) -> Self {
        Self {
            server_name: server_name.to_owned(),
            alpn: vec!["http/1.1"],
            versions: rustls::ALL_VERSIONS,
            client_cert: None,
        }
    }
}

/// What one request over a fresh TLS connection saw.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: String,
    served: Vec<u8>,
    alpn: Option<Vec<u8>>,
    version: rustls::ProtocolVersion,
}

/// Connects, handshakes, sends `GET path` with `Host: host` and reads the answer.
async fn request(addr: SocketAddr, dial: &Dial, host: &str, path: &str) -> Result<Answer, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(dial.versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let mut config = match &dial.client_cert {
        Some(issued) => {
            let chain: Vec<CertificateDer<'static>> = vec![CertificateDer::from(issued.der.clone())];
            let key = rustls::pki_types::pem::PemObject::from_pem_slice(issued.key.as_bytes()).unwrap();
            let key: PrivateKeyDer<'static> = key;
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = dial.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(dial.server_name.clone()).unwrap();
    let stream = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (_, session) = stream.get_ref();
    let served = session.peer_certificates().unwrap()[0].to_vec();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let version = session.protocol_version().unwrap();
    let io = TokioIo::new(stream);
    let req = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let (mut parts, body) = req.into_parts();
        parts.uri = format!("https://{host}{path}").parse().unwrap();
        sender.send_request(Request::from_parts(parts, body)).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(req).await
    }
    .map_err(|e| format!("request: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        served,
        alpn,
        version,
    })
}

#[tokio::test]
async fn sni_picks_exact_then_wildcard_then_default_and_plain_http_still_serves() {
    let backend = Backend::start("app").await;
    let plain = Backend::start("plain").await;
    let ca = Ca::new("test CA");
    let (exact, wildcard, fallback) = (
        ca.issue(&["api.example.test"]),
        ca.issue(&["*.example.test"]),
        ca.issue(&["fallback.test"]),
    );
    let mut config = route("Host(`plain.test`)", &[plain.url()]);
    tls_router(&mut config, "api", "Host(`api.example.test`)", "", &backend);
    config.tls.certificates = vec![entry(&wildcard), entry(&exact)];
    let store = switchyard_config::TlsStore {
        default_certificate: Some(switchyard_config::Certificate::new(
            fallback.cert.clone(),
            fallback.key.clone(),
        )),
        ..switchyard_config::TlsStore::default()
    };
    config.tls.stores.insert("default".into(), store);
    let gw = TestGateway::start(config).await;

    let answer = request(gw.addr, &Dial::to("api.example.test"), "api.example.test", "/")
        .await
        .unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "app"));
    assert_eq!(answer.served, exact.der, "the exact certificate");
    let answer = request(gw.addr, &Dial::to("www.example.test"), "www.example.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.served, wildcard.der, "the wildcard certificate");
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "no TLS router for www");
    let answer = request(gw.addr, &Dial::to("other.test"), "other.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.served, fallback.der, "the store's default certificate");
    // No SNI at all (an IP address as server name is not sent): the default certificate...
    let answer = request(gw.addr, &Dial::to("127.0.0.1"), "api.example.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.served, fallback.der);
    assert_eq!(answer.status, StatusCode::OK);
    // ...unless a certificate covers the address the client connected to.
    let by_ip = ca.issue(&["127.0.0.1"]);
    gw.reconfigure(|c| c.tls.certificates.push(entry(&by_ip))).await;
    let answer = request(gw.addr, &Dial::to("127.0.0.1"), "api.example.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.served, by_ip.der, "the certificate for the local IP");

    // Plain HTTP on the same entrypoint serves the plain routers only.
    let http = client();
    let (status, _, body) = get(&http, &gw.url("/"), Some("plain.test")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "plain"));
    let (status, _, _) = get(&http, &gw.url("/"), Some("api.example.test")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // TLS requests carry X-Forwarded-Proto: https.
    assert_eq!(backend.last().headers["x-forwarded-proto"], "https");
}

#[tokio::test]
async fn a_generated_default_certificate_when_none_is_configured() {
    let backend = Backend::start("app").await;
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "app", "PathPrefix(`/`)", "", &backend);
    let gw = TestGateway::start(config).await;
    let answer = request(gw.addr, &Dial::to("anything.test"), "anything.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let served = String::from_utf8_lossy(&answer.served).into_owned();
    assert!(
        served.contains("TRAEFIK DEFAULT CERT"),
        "generated certificate's common name"
    );
}

#[tokio::test]
async fn alpn_negotiates_h2_or_http1() {
    let backend = Backend::start("app").await;
    let ca = Ca::new("test CA");
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "app", "Host(`h.test`)", "", &backend);
    config.tls.certificates = vec![entry(&ca.issue(&["h.test"]))];
    let gw = TestGateway::start(config).await;

    let mut dial = Dial::to("h.test");
    dial.alpn = vec!["h2", "http/1.1"];
    let answer = request(gw.addr, &dial, "h.test", "/").await.unwrap();
    assert_eq!(answer.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "app"));
    dial.alpn = vec!["http/1.1"];
    let answer = request(gw.addr, &dial, "h.test", "/").await.unwrap();
    assert_eq!(answer.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn min_version_and_misdirected_requests_follow_the_options_of_each_host() {
    let backend = Backend::start("app").await;
    let ca = Ca::new("test CA");
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "legacy", "Host(`legacy.test`)", "", &backend);
    tls_router(&mut config, "also", "Host(`also.test`)", "", &backend);
    tls_router(&mut config, "modern", "Host(`modern.test`)", "modern", &backend);
    config.tls.certificates = vec![entry(&ca.issue(&["legacy.test", "also.test", "modern.test"]))];
    config.tls.options.insert(
        "modern".into(),
        TlsOptions {
            min_version: "VersionTLS13".into(),
            ..TlsOptions::default()
        },
    );
    let gw = TestGateway::start(config).await;

    let mut tls12 = Dial::to("modern.test");
    tls12.versions = TLS12_ONLY;
    let refused = request(gw.addr, &tls12, "modern.test", "/").await.unwrap_err();
    assert!(refused.starts_with("handshake"), "{refused}");
    let answer = request(gw.addr, &Dial::to("modern.test"), "modern.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.version, rustls::ProtocolVersion::TLSv1_3);
    assert_eq!(answer.status, StatusCode::OK);
    tls12.server_name = "legacy.test".into();
    let answer = request(gw.addr, &tls12, "legacy.test", "/").await.unwrap();
    assert_eq!(
        (answer.version, answer.status),
        (rustls::ProtocolVersion::TLSv1_2, StatusCode::OK)
    );

    // A connection set up for legacy.test (default options) cannot be used for modern.test...
    let answer = request(gw.addr, &Dial::to("legacy.test"), "modern.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);
    // ...but can for another host with the same options.
    let answer = request(gw.addr, &Dial::to("legacy.test"), "also.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn client_certificates_required_verified_and_passed_on() {
    let backend = Backend::start("app").await;
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let strangers = Ca::new("other CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("clients.pem");
    std::fs::write(&ca_file, &clients.pem).unwrap();

    let mut config = DynamicConfig::default();
    tls_router(&mut config, "secure", "Host(`secure.test`)", "mtls", &backend);
    config.http.routers.get_mut("secure").unwrap().middlewares = vec!["cert".into()];
    config.http.middlewares.insert(
        "cert".into(),
        Middleware::PassTlsClientCert(PassTlsClientCert { pem: true, info: None }),
    );
    config.tls.certificates = vec![entry(&ca.issue(&["secure.test"]))];
    config.tls.options.insert(
        "mtls".into(),
        TlsOptions {
            client_auth: ClientAuth {
                ca_files: vec![ca_file.to_string_lossy().into_owned()],
                client_auth_type: "RequireAndVerifyClientCert".into(),
            },
            ..TlsOptions::default()
        },
    );
    let gw = TestGateway::start(config).await;

    let without = request(gw.addr, &Dial::to("secure.test"), "secure.test", "/").await;
    assert!(without.is_err(), "no client certificate: {without:?}");
    let mut stranger = Dial::to("secure.test");
    stranger.client_cert = Some(strangers.issue(&["mallory"]));
    let refused = request(gw.addr, &stranger, "secure.test", "/").await;
    assert!(refused.is_err(), "a certificate from another CA: {refused:?}");
    assert!(backend.seen().is_empty());

    let mut alice = Dial::to("secure.test");
    alice.client_cert = Some(clients.issue(&["alice"]));
    let answer = request(gw.addr, &alice, "secure.test", "/").await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let passed = backend.last().headers["x-forwarded-tls-client-cert"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        passed.len() > 100,
        "the client's certificate, PEM body URL-escaped: {passed}"
    );
}

#[tokio::test]
async fn sni_strict_refuses_unknown_names() {
    let backend = Backend::start("app").await;
    let ca = Ca::new("test CA");
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "app", "Host(`known.test`)", "", &backend);
    config.tls.certificates = vec![entry(&ca.issue(&["known.test"]))];
    config.tls.options.insert(
        "default".into(),
        TlsOptions {
            sni_strict: true,
            ..TlsOptions::default()
        },
    );
    let gw = TestGateway::start(config).await;
    assert!(
        request(gw.addr, &Dial::to("known.test"), "known.test", "/")
            .await
            .is_ok()
    );
    let refused = request(gw.addr, &Dial::to("unknown.test"), "unknown.test", "/")
        .await
        .unwrap_err();
    assert!(refused.starts_with("handshake"), "{refused}");
    assert!(
        request(gw.addr, &Dial::to("127.0.0.1"), "known.test", "/")
            .await
            .is_err(),
        "no SNI"
    );
}

#[tokio::test]
async fn broken_options_and_certificates_are_reported_while_the_rest_serves() {
    let backend = Backend::start("app").await;
    let ca = Ca::new("test CA");
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "good", "Host(`good.test`)", "", &backend);
    tls_router(&mut config, "weak", "Host(`weak.test`)", "weak", &backend);
    config.tls.certificates = vec![
        CertificateAndStores {
            cert_file: "/nonexistent/site.pem".into(),
            key_file: "/nonexistent/site.key".into(),
            stores: Vec::new(),
        },
        entry(&ca.issue(&["good.test", "weak.test"])),
    ];
    config.tls.options.insert(
        "weak".into(),
        TlsOptions {
            cipher_suites: vec!["TLS_RSA_WITH_RC4_128_SHA".into()],
            ..TlsOptions::default()
        },
    );
    let gw = TestGateway::start(config).await;
    let snapshot = gw.gateway.snapshot();
    let report = snapshot.report();
    let general: Vec<String> = report.general.iter().map(ToString::to_string).collect();
    assert!(
        general
            .iter()
            .any(|e| e.starts_with("tls.certificates[0]") && e.contains("/nonexistent/site.pem")),
        "{general:?}"
    );
    assert!(
        general
            .iter()
            .any(|e| e.starts_with("tls.options.weak@test.cipherSuites[0]") && e.contains("TLS_RSA_WITH_RC4_128_SHA")),
        "{general:?}"
    );
    let weak = &report.routers["weak@test"];
    assert_eq!(weak.status, switchyard_config::Status::Disabled);
    assert!(weak.errors[0].key_path.ends_with("tls.options"), "{:?}", weak.errors);

    let answer = request(gw.addr, &Dial::to("good.test"), "good.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let refused = request(gw.addr, &Dial::to("weak.test"), "weak.test", "/")
        .await
        .unwrap_err();
    assert!(
        refused.starts_with("handshake"),
        "handshakes for the broken options' host are refused: {refused}"
    );
}

#[tokio::test]
async fn rewritten_certificate_files_serve_on_the_next_handshake_without_failures() {
    let backend = Backend::start("app").await;
    let ca = Ca::new("test CA");
    let (first, second) = (ca.issue(&["rotate.test"]), ca.issue(&["rotate.test"]));
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("site.pem"), dir.path().join("site.key"));
    std::fs::write(&cert_path, &first.cert).unwrap();
    std::fs::write(&key_path, &first.key).unwrap();
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "app", "Host(`rotate.test`)", "", &backend);
    config.tls.certificates = vec![CertificateAndStores {
        cert_file: cert_path.to_string_lossy().into_owned(),
        key_file: key_path.to_string_lossy().into_owned(),
        stores: Vec::new(),
    }];
    let gw = Arc::new(TestGateway::start(config).await);
    let addr = gw.addr;

    // Load: four clients making fresh connections while the files are rewritten.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let stop = Arc::clone(&stop);
        let (first, second) = (first.clone(), second.clone());
        loops.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match request(addr, &Dial::to("rotate.test"), "rotate.test", "/").await {
                    Ok(a) if a.status == StatusCode::OK && (a.served == first.der || a.served == second.der) => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Write the key first, then the certificate, with a reload in between: the mismatched pair is
    // refused and the previous certificate keeps serving (never the default one).
    std::fs::write(&key_path, &second.key).unwrap();
    gw.gateway
        .wait_for(|s| {
            s.report()
                .general
                .iter()
                .any(|e| e.to_string().contains("still serving"))
        })
        .await;
    std::fs::write(&cert_path, &second.cert).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = request(addr, &Dial::to("rotate.test"), "rotate.test", "/")
            .await
            .unwrap();
        if answer.served == second.der {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for task in loops {
        let (ok, failed) = task.await.unwrap();
        assert!(failed.is_empty(), "failed requests during rotation: {failed:?}");
        total += ok;
    }
    assert!(total > 20, "the load loop ran ({total} requests)");
}

#[tokio::test]
async fn entrypoint_redirection_and_entrypoint_tls() {
    let backend = Backend::start("app").await;
    let mut static_config = static_config_with(|web| {
        web.http.redirections = Some(switchyard_config::Redirections {
            entry_point: Some(switchyard_config::RedirectEntryPoint {
                to: "websecure".into(),
                ..switchyard_config::RedirectEntryPoint::default()
            }),
        });
    });
    let mut websecure = switchyard_config::EntryPoint::new("127.0.0.1:0");
    websecure.http.tls = Some(switchyard_config::EntryPointTls::default());
    static_config.entry_points.insert("websecure".into(), websecure);
    // A router without a tls section of its own, on both entrypoints.
    let config = route("PathPrefix(`/`)", &[backend.url()]);
    let gw = TestGateway::start_with(static_config, config).await;
    let secure = gw.gateway.local_addr("websecure").unwrap();

    let (status, headers, _) = get(&client(), &gw.url("/path?q=1"), Some("site.test")).await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        headers["location"],
        format!("https://site.test:{}/path?q=1", secure.port()).as_str()
    );
    let answer = request(secure, &Dial::to("site.test"), "site.test", "/").await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "app"));
}

#[tokio::test]
async fn routers_disagreeing_on_options_for_a_host_get_the_default_ones_and_a_warning() {
    let backend = Backend::start("app").await;
    let ca = Ca::new("test CA");
    let mut config = DynamicConfig::default();
    tls_router(
        &mut config,
        "api",
        "Host(`shared.test`) && PathPrefix(`/api`)",
        "modern",
        &backend,
    );
    tls_router(&mut config, "web", "Host(`shared.test`)", "", &backend);
    config.tls.certificates = vec![entry(&ca.issue(&["shared.test"]))];
    config.tls.options.insert(
        "modern".into(),
        TlsOptions {
            min_version: "VersionTLS13".into(),
            ..TlsOptions::default()
        },
    );
    let gw = TestGateway::start(config).await;
    let snapshot = gw.gateway.snapshot();
    for router in ["api@test", "web@test"] {
        let report = &snapshot.report().routers[router];
        assert_eq!(
            report.status,
            switchyard_config::Status::Warning,
            "{router}: {report:?}"
        );
        assert!(
            report.errors[0].to_string().contains("other TLS options"),
            "{:?}",
            report.errors
        );
    }
    // The default options apply to the host: TLS 1.2 is accepted, and both routers serve on it.
    let mut tls12 = Dial::to("shared.test");
    tls12.versions = TLS12_ONLY;
    let answer = request(gw.addr, &tls12, "shared.test", "/api/x").await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let answer = request(gw.addr, &tls12, "shared.test", "/").await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_handshakes_close_the_connection_and_the_gateway_keeps_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = Backend::start("app").await;
    let mut config = route("PathPrefix(`/`)", &[backend.url()]);
    tls_router(&mut config, "secure", "PathPrefix(`/`)", "", &backend);
    let gw = TestGateway::start(config).await;
    let garbage: [&[u8]; 3] = [
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00],
        &[0x16, 0x03, 0x03, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00],
        &[0x16; 64],
    ];
    for bytes in garbage {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the connection is closed rather than left hanging");
        assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));
    }
    let answer = request(gw.addr, &Dial::to("any.test"), "any.test", "/").await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let (status, _, _) = get(&client(), &gw.url("/"), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn options_without_a_host_are_reported_once_whatever_the_entrypoints() {
    let backend = Backend::start("app").await;
    let mut static_config = static_config_with(|_| {});
    static_config
        .entry_points
        .insert("websecure".into(), switchyard_config::EntryPoint::new("127.0.0.1:0"));
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "any", "PathPrefix(`/`)", "modern", &backend);
    config.tls.options.insert("modern".into(), TlsOptions::default());
    let gw = TestGateway::start_with(static_config, config).await;
    let snapshot = gw.gateway.snapshot();
    let errors = &snapshot.report().routers["any@test"].errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].to_string().contains("no Host in the rule"), "{errors:?}");
    assert_eq!(
        snapshot.route_count("web").tls + snapshot.route_count("websecure").tls,
        2
    );
}
