//! TLS termination through the real proxy: certificates generated here (rcgen), real handshakes with
//! rustls clients on 127.0.0.1, real backends behind.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, ClientConfig, SupportedProtocolVersion};
use support::any_server::AnyServer;
use support::{Backend, TestGateway, client, get, route, static_config_with};
use switchyard_config::{
    CertificateAndStores, CertificateIssuerInfo, CertificateSubjectInfo, ClientAuth, ClientCertificateInfo,
    DynamicConfig, Middleware, PassTlsClientCert, RouterTls, TlsOptions,
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
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        Self::self_signed(params)
    }

    /// A root authority with `params`.
    fn self_signed(mut params: rcgen::CertificateParams) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// An intermediate authority with `params`, issued by this one, and its certificate.
    fn intermediate(&self, mut params: rcgen::CertificateParams) -> (Self, Issued) {
        let key = rcgen::KeyPair::generate().unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let issued = Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        };
        let ca = Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        };
        (ca, issued)
    }

    fn issue(&self, names: &[&str]) -> Issued {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
        self.sign(params)
    }

    /// A leaf certificate with `params`.
    fn sign(&self, params: rcgen::CertificateParams) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
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

/// How a test client connects, and the extra headers it sends.
#[derive(Clone)]
struct Dial {
    server_name: String,
    alpn: Vec<&'static str>,
    versions: &'static [&'static SupportedProtocolVersion],
    /// The client's certificate chain (leaf first) and the leaf's key.
    client_cert: Option<(Vec<Issued>, String)>,
    headers: Vec<(&'static str, &'static str)>,
}

impl Dial {
    fn to(server_name: &str) -> Self {
        Self {
            server_name: server_name.to_owned(),
            alpn: vec!["http/1.1"],
            versions: rustls::ALL_VERSIONS,
            client_cert: None,
            headers: Vec::new(),
        }
    }

    /// Presents `leaf` alone.
    fn with_cert(mut self, leaf: &Issued) -> Self {
        self.client_cert = Some((vec![leaf.clone()], leaf.key.clone()));
        self
    }
}

/// Why an exchange over TLS failed: during the handshake or after it, with the TLS error found in the
/// error's sources (an alert the gateway sent, say).
#[derive(Debug)]
struct Failure {
    handshake: bool,
    tls: Option<rustls::Error>,
    text: String,
}

impl Failure {
    fn new(handshake: bool, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut tls = None;
        let mut source = Some(error);
        while let Some(error) = source {
            let io = error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            if let Some(found) = error.downcast_ref::<rustls::Error>().or(io) {
                tls = Some(found.clone());
                break;
            }
            source = error.source();
        }
        Self {
            handshake,
            tls,
            text: error.to_string(),
        }
    }

    /// The alert the gateway sent, if that is how the exchange ended.
    fn alert(&self) -> Option<AlertDescription> {
        match &self.tls {
            Some(rustls::Error::AlertReceived(alert)) => Some(*alert),
            _ => None,
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
async fn request(addr: SocketAddr, dial: &Dial, host: &str, path: &str) -> Result<Answer, Failure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(dial.versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let mut config = match &dial.client_cert {
        Some((chain, key)) => {
            let chain = chain.iter().map(|c| CertificateDer::from(c.der.clone())).collect();
            let key: PrivateKeyDer<'static> = PemObject::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = dial.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(dial.server_name.clone()).unwrap();
    let stream = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| Failure::new(true, &e))?;
    let (_, session) = stream.get_ref();
    let served = session.peer_certificates().unwrap()[0].to_vec();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let version = session.protocol_version().unwrap();
    let io = TokioIo::new(stream);
    let mut req = Request::get(path).header("host", host);
    for (name, value) in &dial.headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    let after = |e: hyper::Error| Failure::new(false, &e);
    let response = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(after)?;
        tokio::spawn(conn);
        let (mut parts, body) = req.into_parts();
        parts.uri = format!("https://{host}{path}").parse().unwrap();
        sender.send_request(Request::from_parts(parts, body)).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(after)?;
        tokio::spawn(conn);
        sender.send_request(req).await
    }
    .map_err(after)?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(after)?.to_bytes();
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
    assert!(refused.handshake, "{refused:?}");
    assert_eq!(refused.alert(), Some(AlertDescription::ProtocolVersion), "{refused:?}");
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

/// A gateway serving `secure.test` with client certificates checked as `client_auth_type` says against
/// `client_cas`, and `passTLSClientCert` set to `pass`.
async fn mutual_tls_gateway(
    backend: &Backend,
    client_cas: &str,
    client_auth_type: &str,
    pass: PassTlsClientCert,
) -> (TestGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("clients.pem");
    std::fs::write(&ca_file, client_cas).unwrap();
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "secure", "Host(`secure.test`)", "mtls", backend);
    config.http.routers.get_mut("secure").unwrap().middlewares = vec!["cert".into()];
    config
        .http
        .middlewares
        .insert("cert".into(), Middleware::PassTlsClientCert(pass));
    config.tls.certificates = vec![entry(&Ca::new("server CA").issue(&["secure.test"]))];
    config.tls.options.insert(
        "mtls".into(),
        TlsOptions {
            client_auth: ClientAuth {
                ca_files: vec![ca_file.to_string_lossy().into_owned()],
                client_auth_type: client_auth_type.into(),
            },
            ..TlsOptions::default()
        },
    );
    (TestGateway::start(config).await, dir)
}

/// What Traefik puts in `X-Forwarded-Tls-Client-Cert` for one certificate: its PEM without the
/// BEGIN and END lines and without line breaks.
fn pem_header(issued: &Issued) -> String {
    issued.cert.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[tokio::test]
async fn client_certificates_required_verified_and_passed_on() {
    let backend = Backend::start("app").await;
    let clients = Ca::new("client CA");
    let strangers = Ca::new("other CA");
    let pem = PassTlsClientCert { pem: true, info: None };
    let (gw, _dir) = mutual_tls_gateway(&backend, &clients.pem, "RequireAndVerifyClientCert", pem).await;

    let without = request(gw.addr, &Dial::to("secure.test"), "secure.test", "/")
        .await
        .unwrap_err();
    assert_eq!(
        without.alert(),
        Some(AlertDescription::CertificateRequired),
        "no client certificate: {without:?}"
    );
    let stranger = Dial::to("secure.test").with_cert(&strangers.issue(&["mallory"]));
    let refused = request(gw.addr, &stranger, "secure.test", "/").await.unwrap_err();
    assert_eq!(
        refused.alert(),
        Some(AlertDescription::UnknownCA),
        "a certificate from another CA: {refused:?}"
    );
    assert!(backend.seen().is_empty());

    let alice = clients.issue(&["alice"]);
    let answer = request(gw.addr, &Dial::to("secure.test").with_cert(&alice), "secure.test", "/")
        .await
        .unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "app"));
    let seen = backend.last().headers;
    assert_eq!(seen["x-forwarded-tls-client-cert"], pem_header(&alice).as_str());
    assert!(!seen.contains_key("x-forwarded-tls-client-cert-info"), "info is off");
}

/// A client certificate with every field `passTLSClientCert` can pass on, issued by an intermediate
/// authority under a root the gateway trusts; the intermediate's own certificate comes with it.
fn alice_under_an_intermediate() -> (Ca, Issued, Issued) {
    let epoch = |params: &mut rcgen::CertificateParams, serial: &[u8]| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 1, 1);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
    };
    let organisation = |params: &mut rcgen::CertificateParams, name: &str| {
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CountryName, "FR");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Switchyard");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
    };
    let mut params = rcgen::CertificateParams::default();
    organisation(&mut params, "Switchyard root");
    let root = Ca::self_signed(params);
    let mut params = rcgen::CertificateParams::default();
    organisation(&mut params, "Switchyard clients");
    epoch(&mut params, &[7]);
    let (clients, intermediate) = root.intermediate(params);

    let mut params = rcgen::CertificateParams::default();
    epoch(&mut params, &[0x12, 0x34, 0x56]);
    let name = &mut params.distinguished_name;
    *name = rcgen::DistinguishedName::new();
    name.push(
        rcgen::DnType::CustomDnType(vec![0, 9, 2342, 19_200_300, 100, 1, 25]),
        "example",
    );
    name.push(rcgen::DnType::CountryName, "FR");
    name.push(rcgen::DnType::StateOrProvinceName, "Occitanie");
    name.push(rcgen::DnType::LocalityName, "Toulouse");
    name.push(rcgen::DnType::OrganizationName, "Switchyard");
    name.push(rcgen::DnType::OrganizationalUnitName, "Edge");
    name.push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), "A-4242");
    name.push(rcgen::DnType::CommonName, "alice");
    // Out of Go's order (DNS names, e-mail addresses, IPs, URIs), which the header follows.
    params.subject_alt_names = vec![
        rcgen::SanType::URI("spiffe://example.org/alice".try_into().unwrap()),
        rcgen::SanType::IpAddress("10.0.0.7".parse().unwrap()),
        rcgen::SanType::Rfc822Name("alice@example.org".try_into().unwrap()),
        rcgen::SanType::DnsName("alice.example".try_into().unwrap()),
    ];
    let alice = clients.sign(params);
    (root, intermediate, alice)
}

#[tokio::test]
async fn pass_tls_client_cert_passes_the_presented_chain_as_traefik_formats_it() {
    let backend = Backend::start("app").await;
    let (root, intermediate, alice) = alice_under_an_intermediate();
    let subject = CertificateSubjectInfo {
        country: true,
        province: true,
        locality: true,
        organization: true,
        organizational_unit: true,
        common_name: true,
        serial_number: true,
        domain_component: true,
    };
    let issuer = CertificateIssuerInfo {
        country: true,
        province: true,
        locality: true,
        organization: true,
        common_name: true,
        serial_number: true,
        domain_component: true,
    };
    let pass = PassTlsClientCert {
        pem: true,
        info: Some(ClientCertificateInfo {
            not_after: true,
            not_before: true,
            sans: true,
            serial_number: true,
            subject: Some(subject),
            issuer: Some(issuer),
        }),
    };
    let (gw, _dir) = mutual_tls_gateway(&backend, &root.pem, "VerifyClientCertIfGiven", pass).await;
    let forging = |dial: Dial| Dial {
        headers: vec![
            ("x-forwarded-tls-client-cert", "forged"),
            ("x-forwarded-tls-client-cert-info", "Subject%3D%22CN%3Dadmin%22"),
        ],
        ..dial
    };

    let mut chain = forging(Dial::to("secure.test"));
    chain.client_cert = Some((vec![alice.clone(), intermediate.clone()], alice.key.clone()));
    let answer = request(gw.addr, &chain, "secure.test", "/").await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "app"));
    let seen = backend.last().headers;
    let pem = format!("{},{}", pem_header(&alice), pem_header(&intermediate));
    assert_eq!(
        seen["x-forwarded-tls-client-cert"],
        pem.as_str(),
        "leaf first, then the chain"
    );
    // Subject="DC=example,C=FR,ST=Occitanie,L=Toulouse,O=Switchyard,OU=Edge,SN=A-4242,CN=alice";
    // Issuer="C=FR,O=Switchyard,CN=Switchyard clients";SerialNumber="1193046";NB="1577836800";
    // NA="2493072000";SAN="alice.example,alice@example.org,10.0.0.7,spiffe://example.org/alice",
    // then the intermediate's fields (no SAN), all through Go's url.QueryEscape.
    assert_eq!(
        seen["x-forwarded-tls-client-cert-info"],
        "Subject%3D%22DC%3Dexample%2CC%3DFR%2CST%3DOccitanie%2CL%3DToulouse%2CO%3DSwitchyard%2COU%3DEdge\
         %2CSN%3DA-4242%2CCN%3Dalice%22%3BIssuer%3D%22C%3DFR%2CO%3DSwitchyard%2CCN%3DSwitchyard+clients%22\
         %3BSerialNumber%3D%221193046%22%3BNB%3D%221577836800%22%3BNA%3D%222493072000%22%3BSAN%3D%22\
         alice.example%2Calice%40example.org%2C10.0.0.7%2Cspiffe%3A%2F%2Fexample.org%2Falice%22\
         %2CSubject%3D%22C%3DFR%2CO%3DSwitchyard%2CCN%3DSwitchyard+clients%22%3BIssuer%3D%22C%3DFR\
         %2CO%3DSwitchyard%2CCN%3DSwitchyard+root%22%3BSerialNumber%3D%227%22%3BNB%3D%221577836800%22\
         %3BNA%3D%222493072000%22"
    );

    // Without a certificate (allowed by VerifyClientCertIfGiven), the forged headers do not pass.
    let answer = request(gw.addr, &forging(Dial::to("secure.test")), "secure.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let seen = backend.last().headers;
    assert!(!seen.contains_key("x-forwarded-tls-client-cert"), "{seen:?}");
    assert!(!seen.contains_key("x-forwarded-tls-client-cert-info"), "{seen:?}");
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
    let answer = request(gw.addr, &Dial::to("known.test"), "known.test", "/")
        .await
        .unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "app"));
    let refused = request(gw.addr, &Dial::to("unknown.test"), "unknown.test", "/")
        .await
        .unwrap_err();
    assert!(refused.handshake, "{refused:?}");
    assert_eq!(refused.alert(), Some(AlertDescription::AccessDenied), "{refused:?}");
    let no_sni = request(gw.addr, &Dial::to("127.0.0.1"), "known.test", "/")
        .await
        .unwrap_err();
    assert!(no_sni.handshake, "{no_sni:?}");
    assert_eq!(
        no_sni.alert(),
        Some(AlertDescription::AccessDenied),
        "no SNI: {no_sni:?}"
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
    let [certificate, cipher] = general.as_slice() else {
        panic!("two problems: {general:?}")
    };
    assert_eq!(
        certificate,
        &format!(
            "tls.certificates[0]: cannot read `/nonexistent/site.pem`: {}",
            std::io::Error::from_raw_os_error(2)
        )
    );
    let (cipher, supported) = cipher.split_once("; supported: ").unwrap();
    assert_eq!(
        cipher,
        "tls.options.weak@test.cipherSuites[0]: `TLS_RSA_WITH_RC4_128_SHA` is not a cipher suite rustls offers"
    );
    assert!(supported.starts_with("TLS_AES_128_GCM_SHA256, "), "{supported}");
    let weak = &report.routers["weak@test"];
    assert_eq!(weak.status, switchyard_config::Status::Disabled);
    assert_eq!(
        weak.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "http.routers.weak@test.tls.options: TLS options `weak@test` are invalid (see tls.options.weak@test); \
             the router is off and handshakes for its hosts are refused"
        ]
    );

    let answer = request(gw.addr, &Dial::to("good.test"), "good.test", "/")
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let refused = request(gw.addr, &Dial::to("weak.test"), "weak.test", "/")
        .await
        .unwrap_err();
    // Closed without an alert: there are no options to answer with.
    assert!(
        refused.handshake && refused.tls.is_none() && refused.text == "tls handshake eof",
        "handshakes for the broken options' host are refused: {refused:?}"
    );
}

/// A certificate and its key as files on disk, to be rewritten under a running gateway.
struct CertificateFiles {
    _dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl CertificateFiles {
    fn new(issued: &Issued) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("site.pem"), dir.path().join("site.key"));
        std::fs::write(&cert, &issued.cert).unwrap();
        std::fs::write(&key, &issued.key).unwrap();
        Self { _dir: dir, cert, key }
    }

    /// The `tls.certificates` entry naming the files.
    fn entry(&self) -> CertificateAndStores {
        CertificateAndStores {
            cert_file: self.cert.to_string_lossy().into_owned(),
            key_file: self.key.to_string_lossy().into_owned(),
            stores: Vec::new(),
        }
    }
}

/// Two certificates for `rotate.test` from one authority: the one served first, and its successor.
fn rotated_certificates() -> (Issued, Issued) {
    let ca = Ca::new("test CA");
    (ca.issue(&["rotate.test"]), ca.issue(&["rotate.test"]))
}

/// A TLS router for `rotate.test` to the backend, its certificate read from `files`.
fn rotate_test_route(files: &CertificateFiles, backend: &Backend) -> DynamicConfig {
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "app", "Host(`rotate.test`)", "", backend);
    config.tls.certificates = vec![files.entry()];
    config
}

#[tokio::test]
async fn rewritten_certificate_files_serve_on_the_next_handshake_without_failures() {
    let backend = Backend::start("app").await;
    let (first, second) = rotated_certificates();
    let files = CertificateFiles::new(&first);
    let config = rotate_test_route(&files, &backend);
    let gw = Arc::new(TestGateway::start(config).await);
    let addr = gw.addr;

    // Load: four clients making fresh connections while the files are rewritten, counting the
    // handshakes that served each certificate.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (stop, served) = (Arc::clone(&stop), Arc::clone(&served));
        let (first, second) = (first.clone(), second.clone());
        loops.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match request(addr, &Dial::to("rotate.test"), "rotate.test", "/").await {
                    Ok(a) if a.status == StatusCode::OK && a.served == first.der => {
                        served[0].fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(a) if a.status == StatusCode::OK && a.served == second.der => {
                        served[1].fetch_add(1, Ordering::Relaxed);
                    }
                    other => failed.push(format!("{other:?}")),
                }
            }
            failed
        }));
    }
    let count = |i: usize| served[i].load(Ordering::Relaxed);
    support::eventually("handshakes with the first certificate", async || count(0) >= 4).await;
    // Write the key first, then the certificate, with a reload in between: the mismatched pair is
    // refused and the previous certificate keeps serving (never the default one).
    std::fs::write(&files.key, &second.key).unwrap();
    let mismatch = gw.gateway.wait_for(|s| {
        s.report()
            .general
            .iter()
            .any(|e| e.to_string().contains("still serving"))
    });
    tokio::time::timeout(support::PATIENCE, mismatch)
        .await
        .expect("the mismatched pair is reported");
    std::fs::write(&files.cert, &second.cert).unwrap();
    support::eventually("handshakes with the new certificate", async || count(1) >= 4).await;
    stop.store(true, Ordering::Relaxed);
    for task in loops {
        let failed = task.await.unwrap();
        assert!(failed.is_empty(), "failed requests during rotation: {failed:?}");
    }
}

/// With the canary holding changes (static `canary.hold`), a change an operator discarded stays out,
/// but certificate files rewritten meanwhile still reload: the live configuration is compiled again.
#[tokio::test]
async fn certificate_files_reload_while_a_discarded_change_stays_out() {
    let backend = Backend::start("app").await;
    let (first, second) = rotated_certificates();
    let files = CertificateFiles::new(&first);
    let config = rotate_test_route(&files, &backend);
    let mut static_config = support::static_config();
    static_config.canary = Some(switchyard_config::Canary {
        requests: 16,
        hold: true,
    });
    let gw = TestGateway::start_with(static_config, config).await;
    let answer = request(gw.addr, &Dial::to("rotate.test"), "rotate.test", "/")
        .await
        .unwrap();
    assert_eq!((answer.status, &answer.served), (StatusCode::OK, &first.der));
    // A change that takes the recorded request away is held, then discarded.
    let canary = Arc::clone(gw.gateway.canary().unwrap());
    let mut reports = canary.subscribe();
    gw.handle.update(|config| {
        config.http.routers.get_mut("app").unwrap().rule = "Host(`elsewhere.test`)".into();
    });
    let held = reports.wait_for(|r| {
        r.as_ref()
            .is_some_and(|r| r.state == switchyard_proxy::CanaryState::Held)
    });
    tokio::time::timeout(support::PATIENCE, held).await.unwrap().unwrap();
    canary.discard(None).unwrap();
    // The files change: the next handshakes serve the new certificate, and the route is still there.
    std::fs::write(&files.key, &second.key).unwrap();
    std::fs::write(&files.cert, &second.cert).unwrap();
    support::eventually("handshakes with the new certificate", async || {
        request(gw.addr, &Dial::to("rotate.test"), "rotate.test", "/")
            .await
            .is_ok_and(|a| a.status == StatusCode::OK && a.served == second.der)
    })
    .await;
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
        assert_eq!(
            report.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [format!(
                "http.routers.{router}.tls.options: other routers on entrypoint `web` name other TLS options \
                 for the same host; the default options apply"
            )]
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
    // A TLS alert record: fatal (2), decode_error (50).
    const DECODE_ERROR: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 50];
    let garbage: [(&[u8], &[u8]); 3] = [
        (&[0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00], DECODE_ERROR),
        // A record that holds no ClientHello: closed without a word.
        (&[0x16, 0x03, 0x03, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00], b""),
        (&[0x16; 64], DECODE_ERROR),
    ];
    for (bytes, answer) in garbage {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(support::PATIENCE, stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the connection is closed rather than left hanging");
        assert_eq!(buf, answer, "{bytes:?}");
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
    assert_eq!(
        errors[0].to_string(),
        "http.routers.any@test.tls.options: no Host in the rule: TLS options `modern@test` cannot be chosen \
         by server name; the default options apply"
    );
    assert_eq!(
        snapshot.route_count("web").tls + snapshot.route_count("websecure").tls,
        2
    );
}

/// The process's CPU time so far, from `/proc/self/stat` (user + system ticks of 10 ms).
fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat is readable");
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    std::time::Duration::from_millis(ticks * 10)
}

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_handshakes_end_at_the_read_timeout_and_a_handshake_flood_stays_bounded() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = Backend::start("app").await;
    let mut config = route("PathPrefix(`/`)", &[backend.url()]);
    tls_router(&mut config, "secure", "PathPrefix(`/`)", "", &backend);
    let static_config = static_config_with(|web| {
        web.transport.responding_timeouts.read_timeout = switchyard_config::Duration::from_secs(1);
    });
    let gw = TestGateway::start_with(static_config, config).await;

    // 400 connections that begin a handshake and stop: half say nothing after connecting, half send a
    // record header announcing a ClientHello that never comes whole.
    let started = Instant::now();
    let mut stalled = Vec::new();
    for i in 0..400 {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        if i % 2 == 1 {
            stream
                .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
                .await
                .unwrap();
        }
        stalled.push(stream);
    }
    // A real client is served meanwhile.
    let answer = request(gw.addr, &Dial::to("any.test"), "any.test", "/").await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    for mut stream in stalled {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(support::PATIENCE, stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a half-open handshake was left open");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "closed before the read timeout: {took:?}"
    );
    println!("400 half-open handshakes closed {took:?} after the first opened (readTimeout 1 s)");

    // 300 full handshakes, 30 at a time: CPU per handshake and memory.
    let (cpu_before, rss_before, flood_started) = (cpu_time(), rss_mib(), Instant::now());
    for _ in 0..10 {
        let handshakes = (0..30).map(|_| {
            let addr = gw.addr;
            tokio::spawn(async move { request(addr, &Dial::to("any.test"), "any.test", "/").await.is_ok() })
        });
        for handshake in handshakes.collect::<Vec<_>>() {
            assert!(handshake.await.unwrap());
        }
    }
    let cpu = cpu_time() - cpu_before;
    let rss_after = rss_mib();
    println!(
        "300 TLS handshakes and requests: {:.1} ms of CPU each (client and gateway together), {:?} in all, RSS {rss_before} -> {rss_after} MiB",
        cpu.as_secs_f64() * 1000.0 / 300.0,
        flood_started.elapsed()
    );
    assert!(
        rss_after < rss_before + 64,
        "RSS grew from {rss_before} to {rss_after} MiB"
    );
}

/// TLS 1.2 renegotiation (the client asks for a new handshake inside the session) is refused:
/// `openssl s_client`'s `R` command sends a new ClientHello, and the gateway never answers it with a
/// second ServerHello. rustls has no renegotiation; this shows it from the outside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renegotiation_is_refused() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let backend = Backend::start("app").await;
    let mut config = DynamicConfig::default();
    tls_router(&mut config, "app", "PathPrefix(`/`)", "", &backend);
    let gw = TestGateway::start(config).await;
    let addr = gw.addr.to_string();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &addr,
                "-servername",
                "any.test",
                "-tls1_2",
                "-msg",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl is installed (.ci/run installs it)");
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        stdin.write_all(b"R\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1000));
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let client_hellos = text
        .lines()
        .filter(|l| l.starts_with(">>>") && l.ends_with(", ClientHello"))
        .count();
    let server_hellos = text
        .lines()
        .filter(|l| l.starts_with("<<<") && l.ends_with(", ServerHello"))
        .count();
    assert!(text.contains("RENEGOTIATING"), "openssl asked to renegotiate: {text}");
    assert_eq!(client_hellos, 2, "a second ClientHello was sent: {text}");
    assert_eq!(server_hellos, 1, "the gateway answered a renegotiation: {text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("<<<") && l.ends_with("no_renegotiation")),
        "the gateway said no: {text}"
    );
    let answer = request(gw.addr, &Dial::to("any.test"), "any.test", "/").await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}
