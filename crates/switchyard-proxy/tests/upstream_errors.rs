//! Backends that are down, reset, slow or close pooled connections: each maps to Traefik's status.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use support::{Backend, TestGateway, client, get, route};
use switchyard_config::{ForwardingTimeouts, ServersTransport, ServiceKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_refused_connection_is_502() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[format!("http://{addr}")])).await;
    let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (502, "Bad Gateway"));
}

#[tokio::test]
async fn a_reset_connection_is_502() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0; 1024];
            let _ = stream.read(&mut buf).await;
            drop(stream);
        }
    });
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[format!("http://{addr}")])).await;
    let (status, _, _) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn a_slow_backend_is_504_after_response_header_timeout() {
    let backend = Backend::start("slow").await;
    let mut config = route("PathPrefix(`/`)", &[backend.url()]);
    let transport = ServersTransport {
        forwarding_timeouts: Some(ForwardingTimeouts {
            response_header_timeout: switchyard_config::Duration::from_millis(200),
            ..ForwardingTimeouts::default()
        }),
        ..ServersTransport::default()
    };
    config.http.servers_transports.insert("quick".into(), transport);
    if let ServiceKind::LoadBalancer(lb) = &mut config.http.services.get_mut("s").unwrap().kind {
        lb.servers_transport = "quick".into();
    }
    let gateway = TestGateway::start(config).await;
    let client = client();
    let started = std::time::Instant::now();
    let (status, _, body) = get(&client, &gateway.url("/slow/3000"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (504, "Gateway Timeout"));
    assert!(started.elapsed() < Duration::from_secs(2));
    let (status, _, _) = get(&client, &gateway.url("/slow/10"), None).await;
    assert_eq!(status, 200, "fast answers still pass");
}

#[tokio::test]
async fn a_service_without_servers_is_503() {
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[])).await;
    let (status, _, _) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!(status, 503);
}

/// A backend that answers each connection's first request with keep-alive and then closes it, as
/// backends with short keep-alive timeouts do: the proxy must not fail the next request.
#[tokio::test]
async fn pooled_connections_closed_by_the_backend_are_replaced() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok")
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            });
        }
    });
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[format!("http://{addr}")])).await;
    let client = client();
    for _ in 0..10 {
        let (status, _, body) = get(&client, &gateway.url("/"), None).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "ok"));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}
