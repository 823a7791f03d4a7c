//! `proxyProtocol`: trusted load balancers pass on the client address; others cannot.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use support::{Backend, TestGateway, route, static_config_with};
use switchyard_config::ProxyProtocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

async fn gateway(trusted: &str, backend: &Backend) -> TestGateway {
    let config = static_config_with(|web| {
        web.proxy_protocol = Some(ProxyProtocol {
            insecure: false,
            trusted_ips: vec![trusted.into()],
        });
    });
    TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await
}

#[tokio::test]
async fn trusted_peers_name_the_client_in_version_1_or_2_or_not_at_all() {
    let backend = Backend::start("b").await;
    let gateway = gateway("127.0.0.1/32", &backend).await;
    let request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

    let v1 = [&b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\n"[..], request].concat();
    assert!(exchange(gateway.addr, &v1).await.starts_with("HTTP/1.1 200"));
    assert_eq!(backend.last().headers["x-forwarded-for"], "203.0.113.7");

    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0, 80]);
    v2.extend_from_slice(request);
    assert!(exchange(gateway.addr, &v2).await.starts_with("HTTP/1.1 200"));
    assert_eq!(backend.last().headers["x-real-ip"], "198.51.100.9");

    assert!(exchange(gateway.addr, request).await.starts_with("HTTP/1.1 200"));
    assert_eq!(backend.last().headers["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn untrusted_peers_cannot_claim_another_address() {
    let backend = Backend::start("b").await;
    let gateway = gateway("10.0.0.0/8", &backend).await;
    let forged = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n";
    assert!(exchange(gateway.addr, forged).await.starts_with("HTTP/1.1 400"));
    assert!(backend.seen().is_empty());
}
