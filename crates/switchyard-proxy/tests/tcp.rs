//! TCP routing through the real gateway: TLS passthrough and termination chosen by SNI on a port that
//! also serves HTTP, server-first protocols, half-close, PROXY protocol towards backends, TCP
//! middlewares and services, and reloads under established connections. Real sockets on loopback,
//! certificates made here (rcgen), rustls clients.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ServerConfig};
use support::any_server::AnyServer;
use support::{Backend, PATIENCE, TestGateway, static_config, static_config_with};
use switchyard_config::{
    CertificateAndStores, DynamicConfig, EntryPoint, LoadBalancer, ProxyProtocol, Router, RouterTls, Service,
    TcpMiddleware, TcpProxyProtocol, TcpRouter, TcpRouterTls, TcpServer, TcpServersTransport, TcpService,
    TcpTransportTls, TcpWeighted, WeightedService,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A self-signed certificate for `name`: PEM chain, PEM key, and the DER to recognise it on the wire.
struct Cert {
    pem: String,
    key: String,
    der: Vec<u8>,
}

fn cert(name: &str) -> Cert {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    Cert {
        pem: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

fn server_config(cert: &Cert) -> Arc<ServerConfig> {
    let chain = vec![CertificateDer::from_pem_slice(cert.pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(cert.key.as_bytes()).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// Answers every chunk it reads with `NAME:chunk`, until the client ends its side.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, name: &'static str) {
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut answer = format!("{name}:").into_bytes();
        answer.extend_from_slice(&buf[..n]);
        if stream.write_all(&answer).await.is_err() {
            break;
        }
    }
    let _ = stream.shutdown().await;
}

/// A plain TCP echo backend.
async fn echo_backend(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(echo(stream, name));
        }
    });
    addr
}

/// A TLS echo backend with its own certificate for `name`.
async fn tls_echo_backend(name: &'static str, cert: &Cert) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_config(cert));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(stream).await {
                    echo(stream, name).await;
                }
            });
        }
    });
    addr
}

/// A TLS connection to `addr` greeting `server_name`, offering `alpn`.
async fn tls_connect(addr: SocketAddr, server_name: &str, alpn: &[&str]) -> tokio_rustls::client::TlsStream<TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    tokio::time::timeout(PATIENCE, TlsConnector::from(Arc::new(config)).connect(name, tcp))
        .await
        .expect("the handshake ends")
        .unwrap()
}

/// The DER of the certificate a TLS client was served.
fn served_cert(stream: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].as_ref().to_vec()
}

/// Writes `message` and reads the answer (one chunk).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, message: &str) -> String {
    stream.write_all(message.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
        .await
        .expect("an answer comes")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Whether the gateway closes `stream` without a byte.
async fn closed_without_answer(stream: &mut TcpStream) -> bool {
    let _ = stream.write_all(b"hello").await;
    let mut buf = [0u8; 16];
    match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("the gateway neither answered nor closed"),
    }
}

fn tcp_router(config: &mut DynamicConfig, name: &str, rule: &str, tls: Option<TcpRouterTls>, addresses: &[SocketAddr]) {
    let mut router = TcpRouter::new(rule, name);
    router.tls = tls;
    config.tcp.routers.insert(name.to_owned(), router);
    let addresses = addresses.iter().map(ToString::to_string);
    config
        .tcp
        .services
        .insert(name.to_owned(), TcpService::with_addresses(addresses));
}

/// Adds the HTTP `router` named `name`, to a service of the same name at `url`.
fn http_router(config: &mut DynamicConfig, name: &str, router: Router, url: String) {
    config.http.routers.insert(name.to_owned(), router);
    config
        .http
        .services
        .insert(name.to_owned(), Service::from(LoadBalancer::with_urls([url])));
}

async fn wait_for_tcp_routes(gateway: &TestGateway, plain: usize, tls: usize) {
    let ready = gateway
        .gateway
        .wait_for(|s| s.tcp_route_count("web").plain == plain && s.tcp_route_count("web").tls == tls);
    tokio::time::timeout(PATIENCE, ready)
        .await
        .expect("the TCP routes go live");
}

#[tokio::test]
async fn sni_routes_passthrough_to_three_backends_whose_certificates_reach_the_client() {
    let mut config = DynamicConfig::default();
    let mut certs = Vec::new();
    for name in ["a", "b", "c"] {
        let host = format!("{name}.example");
        let cert = cert(&host);
        let backend = tls_echo_backend(name, &cert).await;
        let rule = format!("HostSNI(`{host}`)");
        tcp_router(&mut config, name, &rule, Some(TcpRouterTls::passthrough()), &[backend]);
        certs.push((name, host, cert));
    }
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 0, 3).await;
    for (name, host, cert) in &certs {
        let mut stream = tls_connect(gateway.addr, host, &[]).await;
        assert_eq!(
            served_cert(&stream),
            cert.der,
            "{host} gets its backend's own certificate"
        );
        assert_eq!(exchange(&mut stream, "ping").await, format!("{name}:ping"));
    }
}

#[tokio::test]
async fn termination_and_passthrough_share_a_port_with_http_routers() {
    let gateway_cert = cert("term.example");
    let web_cert = cert("web.example");
    let pass_cert = cert("pass.example");
    let plain_echo = echo_backend("term").await;
    let pass = tls_echo_backend("pass", &pass_cert).await;
    let web = Backend::start("web").await;
    let site = Backend::start("site").await;

    let mut config = DynamicConfig::default();
    for c in [&gateway_cert, &web_cert] {
        config.tls.certificates.push(CertificateAndStores {
            cert_file: c.pem.clone(),
            key_file: c.key.clone(),
            stores: Vec::new(),
        });
    }
    tcp_router(
        &mut config,
        "term",
        "HostSNI(`term.example`)",
        Some(TcpRouterTls::default()),
        &[plain_echo],
    );
    tcp_router(
        &mut config,
        "pass",
        "HostSNI(`pass.example`)",
        Some(TcpRouterTls::passthrough()),
        &[pass],
    );
    let mut https = Router::new("Host(`web.example`)", "web");
    https.tls = Some(RouterTls::default());
    http_router(&mut config, "web", https, web.url());
    http_router(&mut config, "site", Router::new("PathPrefix(`/`)", "site"), site.url());
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 0, 2).await;

    let mut terminated = tls_connect(gateway.addr, "term.example", &[]).await;
    assert_eq!(served_cert(&terminated), gateway_cert.der, "the gateway terminates");
    assert_eq!(
        exchange(&mut terminated, "hello").await,
        "term:hello",
        "the backend gets plaintext"
    );

    let mut passed = tls_connect(gateway.addr, "pass.example", &[]).await;
    assert_eq!(served_cert(&passed), pass_cert.der, "the backend terminates");
    assert_eq!(exchange(&mut passed, "hello").await, "pass:hello");

    let mut https = tls_connect(gateway.addr, "web.example", &["http/1.1"]).await;
    assert_eq!(served_cert(&https), web_cert.der);
    let answer = exchange(
        &mut https,
        "GET / HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let mut body = String::new();
    let _ = tokio::time::timeout(PATIENCE, https.read_to_string(&mut body)).await;
    assert!(format!("{answer}{body}").ends_with("web"), "{answer}{body}");

    let (status, _, body) = support::get(&support::client(), &gateway.url("/"), Some("site.example")).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "site"));
}

/// A backend that speaks first: a greeting on connect, then echoes.
async fn greeting_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                stream.write_all(b"220 greetings\r\n").await.unwrap();
                echo(stream, "db").await;
            });
        }
    });
    addr
}

async fn read_greeting(addr: SocketAddr) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
        .await
        .expect("the server speaks first")
        .unwrap();
    (stream, String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn server_first_protocols_reach_a_catch_all_router_at_once() {
    let db = greeting_backend().await;
    let site = Backend::start("site").await;
    let mut config = DynamicConfig::default();
    tcp_router(&mut config, "db", "HostSNI(`*`)", None, &[db]);
    // Plain HTTP routers stay behind a plain catch-all TCP router, as in Traefik.
    http_router(&mut config, "site", Router::new("PathPrefix(`/`)", "site"), site.url());
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 1, 0).await;
    let started = std::time::Instant::now();
    let (mut stream, greeting) = read_greeting(gateway.addr).await;
    assert_eq!(greeting, "220 greetings\r\n");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "no wait for a first byte: {:?}",
        started.elapsed()
    );
    assert_eq!(exchange(&mut stream, "QUIT").await, "db:QUIT");
}

#[tokio::test]
async fn server_first_protocols_are_recognised_beside_tls_routers_after_a_short_wait() {
    let db = greeting_backend().await;
    let pass_cert = cert("pass.example");
    let pass = tls_echo_backend("pass", &pass_cert).await;
    let mut config = DynamicConfig::default();
    tcp_router(&mut config, "db", "HostSNI(`*`)", None, &[db]);
    tcp_router(
        &mut config,
        "pass",
        "HostSNI(`pass.example`)",
        Some(TcpRouterTls::passthrough()),
        &[pass],
    );
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 1, 1).await;
    let (mut stream, greeting) = read_greeting(gateway.addr).await;
    assert_eq!(greeting, "220 greetings\r\n");
    assert_eq!(exchange(&mut stream, "QUIT").await, "db:QUIT");
    let mut passed = tls_connect(gateway.addr, "pass.example", &[]).await;
    assert_eq!(exchange(&mut passed, "x").await, "pass:x");
    // A client that speaks first without TLS reaches the plain router too.
    let mut client_first = TcpStream::connect(gateway.addr).await.unwrap();
    client_first.write_all(b"HELLO").await.unwrap();
    let mut buf = vec![0u8; 64];
    let mut seen = String::new();
    while !seen.contains("db:HELLO") {
        let n = tokio::time::timeout(PATIENCE, client_first.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed after {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[tokio::test]
async fn half_close_reaches_each_side() {
    // The backend answers once the client has ended its side.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let counting = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                stream.read_to_end(&mut all).await.unwrap();
                stream
                    .write_all(format!("got {} bytes", all.len()).as_bytes())
                    .await
                    .unwrap();
            });
        }
    });
    // The backend ends its side first, then still reads what the client sends.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closing = listener.local_addr().unwrap();
    let (late_tx, late_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"bye").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut late = String::new();
        stream.read_to_string(&mut late).await.unwrap();
        let _ = late_tx.send(late);
    });
    let mut config = DynamicConfig::default();
    tcp_router(
        &mut config,
        "count",
        "HostSNI(`*`) && ClientIP(`127.0.0.1`)",
        None,
        &[counting],
    );
    tcp_router(
        &mut config,
        "close",
        "HostSNI(`*`) && ClientIP(`127.0.0.2`)",
        None,
        &[closing],
    );
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 2, 0).await;

    let mut client = TcpStream::connect(gateway.addr).await.unwrap();
    client.write_all(&[7u8; 100_000]).await.unwrap();
    client.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PATIENCE, client.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, "got 100000 bytes");

    let mut client = connect_from("127.0.0.2", gateway.addr).await;
    let mut first = String::new();
    tokio::time::timeout(PATIENCE, client.read_to_string(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, "bye", "the backend's end of stream reaches the client");
    client.write_all(b"late words").await.unwrap();
    client.shutdown().await.unwrap();
    let late = tokio::time::timeout(PATIENCE, late_rx).await.unwrap().unwrap();
    assert_eq!(
        late, "late words",
        "the client may still talk after the backend ended its side"
    );
}

/// A connection to `to` from the loopback address `from` (127.0.0.0/8 all reach this host).
/// On entrypoint `tcp`: connections from 127.0.0.2 go to `server` with a PROXY v1 header, those from
/// 127.0.0.3 with a v2 one.
fn proxy_protocol_routes(config: &mut DynamicConfig, server: &str) {
    for (name, version, source) in [("v1", 1, "127.0.0.2"), ("v2", 2, "127.0.0.3")] {
        let rule = format!("ClientIP(`{source}`)");
        let router = TcpRouter::new(rule, name).with_entry_points(["tcp"]);
        config.tcp.routers.insert(name.into(), router);
        let mut service = TcpService::with_addresses([server.to_owned()]);
        service.load_balancer.as_mut().unwrap().servers_transport = name.into();
        config.tcp.services.insert(name.into(), service);
        let transport = TcpServersTransport {
            proxy_protocol: Some(TcpProxyProtocol { version }),
            ..TcpServersTransport::default()
        };
        config.tcp.servers_transports.insert(name.into(), transport);
    }
}

async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn proxy_protocol_headers_are_read_by_the_backend_entrypoint() {
    // The backend is the gateway's own `web` entrypoint, which reads PROXY headers: the HTTP backend
    // behind it then sees the TCP client's address, not the gateway's.
    let mut static_config = static_config_with(|web| {
        web.proxy_protocol = Some(ProxyProtocol {
            insecure: true,
            trusted_ips: Vec::new(),
        });
    });
    static_config
        .entry_points
        .insert("tcp".into(), EntryPoint::new("127.0.0.1:0"));
    let http = Backend::start("http").await;
    let mut config = DynamicConfig::default();
    let router = Router::new("PathPrefix(`/`)", "s").with_entry_points(["web"]);
    http_router(&mut config, "s", router, http.url());
    let gateway = TestGateway::start_with(static_config, config).await;
    let tcp_addr = gateway.gateway.local_addr("tcp").unwrap();
    let web = gateway.addr.to_string();
    gateway.reconfigure(|config| proxy_protocol_routes(config, &web)).await;
    for source in ["127.0.0.2", "127.0.0.3"] {
        let mut client = connect_from(source, tcp_addr).await;
        let answer = exchange(&mut client, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let seen = http.last();
        assert_eq!(
            seen.headers["x-forwarded-for"], source,
            "the PROXY header named the client"
        );
    }
}

/// A backend that reads a PROXY header with the `ppp` crate (an implementation independent of the
/// gateway's) and answers `client=ADDR local=ADDR then=BYTES` for what followed it.
async fn proxy_protocol_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 512];
                let answer = loop {
                    let n = stream.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let parsed = match ppp::HeaderResult::parse(&buf) {
                        ppp::HeaderResult::V1(Ok(header)) => match header.addresses {
                            ppp::v1::Addresses::Tcp4(a) => Some((
                                header.header.len(),
                                SocketAddr::from((a.source_address, a.source_port)),
                                SocketAddr::from((a.destination_address, a.destination_port)),
                                1,
                            )),
                            other => panic!("unexpected v1 addresses {other:?}"),
                        },
                        ppp::HeaderResult::V2(Ok(header)) => match header.addresses {
                            ppp::v2::Addresses::IPv4(a) => Some((
                                header.len(),
                                SocketAddr::from((a.source_address, a.source_port)),
                                SocketAddr::from((a.destination_address, a.destination_port)),
                                2,
                            )),
                            other => panic!("unexpected v2 addresses {other:?}"),
                        },
                        result if !ppp::PartialResult::is_complete(&result) => None,
                        result => panic!("not a PROXY header: {result:?}"),
                    };
                    let Some((len, client, local, version)) = parsed else {
                        continue;
                    };
                    if buf.len() > len {
                        let rest = String::from_utf8_lossy(&buf[len..]).into_owned();
                        break format!("v{version} client={client} local={local} then={rest}");
                    }
                };
                stream.write_all(answer.as_bytes()).await.unwrap();
            });
        }
    });
    addr
}

#[tokio::test]
async fn proxy_protocol_headers_are_read_by_an_independent_parser() {
    let mut static_config = static_config();
    static_config
        .entry_points
        .insert("tcp".into(), EntryPoint::new("127.0.0.1:0"));
    let backend = proxy_protocol_backend().await;
    let gateway = TestGateway::start_with(static_config, DynamicConfig::default()).await;
    let tcp_addr = gateway.gateway.local_addr("tcp").unwrap();
    gateway
        .reconfigure(|config| proxy_protocol_routes(config, &backend.to_string()))
        .await;
    for (version, source) in [(1, "127.0.0.2"), (2, "127.0.0.3")] {
        let mut client = connect_from(source, tcp_addr).await;
        let from = client.local_addr().unwrap();
        let answer = exchange(&mut client, "hello").await;
        assert_eq!(answer, format!("v{version} client={from} local={tcp_addr} then=hello"));
    }
}

#[tokio::test]
async fn ip_allow_list_refuses_and_in_flight_conn_limits() {
    let backend = echo_backend("db").await;
    let mut config = DynamicConfig::default();
    tcp_router(&mut config, "db", "HostSNI(`*`)", None, &[backend]);
    let router = config.tcp.routers.get_mut("db").unwrap();
    router.middlewares = vec!["lan".into(), "one".into()];
    config.tcp.middlewares.insert(
        "lan".into(),
        TcpMiddleware::ip_allow_list(["127.0.0.2/32", "10.0.0.0/8"]),
    );
    let one = TcpMiddleware {
        in_flight_conn: Some(switchyard_config::TcpInFlightConn { amount: 1 }),
        ..TcpMiddleware::default()
    };
    config.tcp.middlewares.insert("one".into(), one);
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 1, 0).await;

    let mut outsider = TcpStream::connect(gateway.addr).await.unwrap();
    assert!(closed_without_answer(&mut outsider).await, "127.0.0.1 is not allowed");
    let mut allowed = connect_from("127.0.0.2", gateway.addr).await;
    assert_eq!(exchange(&mut allowed, "hi").await, "db:hi");
    let mut second = connect_from("127.0.0.2", gateway.addr).await;
    assert!(closed_without_answer(&mut second).await, "one connection at a time");
    drop(allowed);
    support::eventually("the slot is released", async || {
        let mut again = connect_from("127.0.0.2", gateway.addr).await;
        again.write_all(b"x").await.is_ok() && {
            let mut buf = [0u8; 8];
            matches!(tokio::time::timeout(Duration::from_secs(1), again.read(&mut buf)).await, Ok(Ok(n)) if n > 0)
        }
    })
    .await;
}

#[tokio::test]
async fn weighted_services_split_connections_as_traefik_does() {
    let a = echo_backend("a").await;
    let b = echo_backend("b").await;
    let mut config = DynamicConfig::default();
    tcp_router(&mut config, "a", "HostSNI(`*`)", None, &[a]);
    config.tcp.routers.remove("a");
    config
        .tcp
        .services
        .insert("b".into(), TcpService::with_addresses([b.to_string()]));
    let weighted = TcpWeighted {
        services: vec![
            WeightedService {
                name: "a".into(),
                weight: 2,
            },
            WeightedService {
                name: "b".into(),
                weight: 1,
            },
        ],
        health_check: None,
    };
    config.tcp.services.insert(
        "split".into(),
        TcpService {
            weighted: Some(weighted),
            ..TcpService::default()
        },
    );
    config
        .tcp
        .routers
        .insert("split".into(), TcpRouter::new("HostSNI(`*`)", "split"));
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 1, 0).await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
        seen.push(exchange(&mut stream, "x").await);
    }
    assert_eq!(seen, ["a:x", "a:x", "b:x", "a:x", "a:x", "b:x"]);
}

#[tokio::test]
async fn servers_with_tls_are_reached_over_tls_with_the_transport_settings() {
    let backend_cert = cert("backend.internal");
    let backend = tls_echo_backend("secure", &backend_cert).await;
    let mut config = DynamicConfig::default();
    let mut service = TcpService::with_addresses([backend.to_string()]);
    let lb = service.load_balancer.as_mut().unwrap();
    lb.servers = vec![TcpServer {
        address: backend.to_string(),
        tls: true,
    }];
    lb.servers_transport = "internal".into();
    config.tcp.services.insert("secure".into(), service);
    config
        .tcp
        .routers
        .insert("secure".into(), TcpRouter::new("HostSNI(`*`)", "secure"));
    let transport = TcpServersTransport {
        tls: Some(TcpTransportTls {
            server_name: "backend.internal".into(),
            root_cas: vec![backend_cert.pem.clone()],
            ..TcpTransportTls::default()
        }),
        ..TcpServersTransport::default()
    };
    config.tcp.servers_transports.insert("internal".into(), transport);
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 1, 0).await;
    let mut client = TcpStream::connect(gateway.addr).await.unwrap();
    assert_eq!(exchange(&mut client, "secret").await, "secure:secret");
}

#[tokio::test]
async fn a_reload_moves_new_connections_and_keeps_established_ones() {
    let old = echo_backend("old").await;
    let new = echo_backend("new").await;
    let mut config = DynamicConfig::default();
    tcp_router(&mut config, "db", "HostSNI(`*`)", None, &[old]);
    let gateway = TestGateway::start_with(static_config(), config).await;
    wait_for_tcp_routes(&gateway, 1, 0).await;
    let mut established = Vec::new();
    for i in 0..20 {
        let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
        assert_eq!(exchange(&mut stream, &format!("{i}")).await, format!("old:{i}"));
        established.push(stream);
    }
    gateway
        .reconfigure(|config| {
            config
                .tcp
                .services
                .insert("db".into(), TcpService::with_addresses([new.to_string()]));
        })
        .await;
    let mut fresh = TcpStream::connect(gateway.addr).await.unwrap();
    assert_eq!(exchange(&mut fresh, "hi").await, "new:hi");
    for (i, stream) in established.iter_mut().enumerate() {
        assert_eq!(
            exchange(stream, &format!("again{i}")).await,
            format!("old:again{i}"),
            "connection {i} kept"
        );
    }
}

#[tokio::test]
async fn the_api_lists_tcp_routers_with_their_status_and_errors() {
    let backend = echo_backend("db").await;
    let mut config = DynamicConfig::default();
    support::with_api(&mut config);
    // Not the loopback: the API's HTTP requests stay HTTP's.
    tcp_router(
        &mut config,
        "db",
        "HostSNI(`*`) && ClientIP(`10.0.0.0/8`)",
        None,
        &[backend],
    );
    config
        .tcp
        .routers
        .insert("broken".into(), TcpRouter::new("HostSNI(`a.example`)", "db"));
    let gateway = TestGateway::start(config).await;
    let client = support::client();
    let (status, _, body) = support::get(&client, &gateway.url("/api/tcp/routers/broken@test"), None).await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let broken: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(broken["status"], "disabled");
    assert!(
        broken["error"][0]
            .as_str()
            .unwrap()
            .contains("needs the router's `tls` section"),
        "{body}"
    );
    let (_, _, body) = support::get(&client, &gateway.url("/api/tcp/services"), None).await;
    let services: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(services[0]["name"], "db@test");
    assert_eq!(
        services[0]["loadBalancer"]["servers"][0]["address"],
        backend.to_string()
    );
    let (_, _, body) = support::get(&client, &gateway.url("/api/overview"), None).await;
    let overview: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(overview["tcp"]["routers"]["total"], 2);
    assert_eq!(overview["tcp"]["routers"]["errors"], 1);
}

#[tokio::test]
async fn shutdown_lets_open_tcp_connections_finish_within_the_grace_period() {
    let backend = echo_backend("db").await;
    let static_config = static_config_with(|web| {
        web.transport.life_cycle.grace_time_out = switchyard_config::Duration::from_secs(20);
    });
    let mut config = DynamicConfig::default();
    tcp_router(&mut config, "db", "HostSNI(`*`)", None, &[backend]);
    let gateway = TestGateway::start_with(static_config, config).await;
    wait_for_tcp_routes(&gateway, 1, 0).await;
    let addr = gateway.addr;
    let mut open = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut open, "before").await, "db:before");
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(gateway.gateway.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        exchange(&mut open, "during").await,
        "db:during",
        "the open connection still works"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connections while draining"
    );
    assert!(!stopping.is_finished(), "shutdown waits for the open connection");
    drop(open);
    tokio::time::timeout(PATIENCE, stopping).await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "it ends when the connection does, before the grace period"
    );
}

/// A free port on loopback: bound, then released.
async fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn health_checks_take_servers_out_and_back() {
    let a = echo_backend("a").await;
    let b = free_port().await;
    let fussy = echo_backend("fussy").await;
    let mut config = DynamicConfig::default();
    tcp_router(
        &mut config,
        "pair",
        "HostSNI(`*`) && ClientIP(`127.0.0.1`)",
        None,
        &[a, b],
    );
    tcp_router(
        &mut config,
        "fussy",
        "HostSNI(`*`) && ClientIP(`127.0.0.2`)",
        None,
        &[fussy],
    );
    let quick = |send: &str, expect: &str| switchyard_config::TcpServerHealthCheck {
        send: send.into(),
        expect: expect.into(),
        interval: switchyard_config::Duration::from_millis(100),
        timeout: switchyard_config::Duration::from_millis(500),
        ..switchyard_config::TcpServerHealthCheck::default()
    };
    for (name, check) in [("pair", quick("", "")), ("fussy", quick("PING", "PONG"))] {
        let service = config.tcp.services.get_mut(name).unwrap();
        service.load_balancer.as_mut().unwrap().health_check = Some(check);
    }
    let gateway = TestGateway::start(config).await;
    wait_for_tcp_routes(&gateway, 2, 0).await;
    let ask = async |from: &str| {
        let mut stream = connect_from(from, gateway.addr).await;
        let _ = stream.write_all(b"x").await;
        let mut buf = [0u8; 32];
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            _ => String::new(),
        }
    };
    support::eventually("the dead server is taken out", async || {
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(ask("127.0.0.1").await);
        }
        answers.iter().all(|a| a == "a:x")
    })
    .await;
    // The server comes to life on its port: the next check of unhealthy servers takes it back.
    let listener = TcpListener::bind(b).await.unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(echo(stream, "b"));
        }
    });
    support::eventually("the revived server takes connections again", async || {
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(ask("127.0.0.1").await);
        }
        answers.iter().any(|a| a == "b:x") && answers.iter().any(|a| a == "a:x")
    })
    .await;
    // A server that does not answer PONG to PING is down, and with no server up a connection closes.
    support::eventually("the wrong answer takes the server out", async || {
        ask("127.0.0.2").await.is_empty()
    })
    .await;
}
