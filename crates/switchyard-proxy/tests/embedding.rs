//! An entrypoint's router used as a tower `Service` by another server, and per-connection limits.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use support::{Backend, TestGateway, route, static_config_with};
use switchyard_proxy::PeerAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_service::Service;

#[tokio::test]
async fn the_router_serves_requests_handed_to_it_and_follows_reloads() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/app`)", &[backend.url()])).await;
    let mut service = gateway.gateway.service("web").unwrap();
    assert!(gateway.gateway.service("nope").is_none());

    let mut request = http::Request::post("/app/x?y=1")
        .body(Full::new(Bytes::from_static(b"hi")))
        .unwrap();
    request
        .extensions_mut()
        .insert(PeerAddr("192.0.2.4:4000".parse().unwrap()));
    let response = service.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "b");
    let seen = backend.last();
    assert_eq!(seen.uri, "/app/x?y=1");
    assert_eq!(seen.headers["x-forwarded-for"], "192.0.2.4");

    gateway
        .reconfigure(|c| c.http.routers.get_mut("r").unwrap().rule = "PathPrefix(`/other`)".into())
        .await;
    let response = service
        .call(http::Request::get("/app").body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn keep_alive_max_requests_closes_the_connection_after_the_limit() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| web.transport.keep_alive_max_requests = 2);
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;
    let mut stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"));
}

#[tokio::test]
async fn keep_alive_max_requests_ends_an_h2_connection_with_goaway() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| web.transport.keep_alive_max_requests = 2);
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;
    let tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let closed = tokio::spawn(connection);
    for _ in 0..2 {
        let mut ready = client.clone().ready().await.unwrap();
        let (response, _) = ready
            .send_request(http::Request::get(gateway.url("/")).body(()).unwrap(), true)
            .unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            !response.headers().contains_key("connection"),
            "HTTP/2 has no Connection header"
        );
    }
    // The second answer said the connection is done: the server sends GOAWAY and closes it.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), closed).await;
    assert!(matches!(ended, Ok(Ok(_))), "the connection ends: {ended:?}");
}
