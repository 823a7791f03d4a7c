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

#[tokio::test]
async fn an_embedded_entrypoint_routes_without_listening_and_reads_the_peer_from_extensions() {
    let backend = Backend::start("b").await;
    let (provider, _handle) =
        switchyard_config::MemoryProvider::new("test", route("PathPrefix(`/`)", &[backend.url()]));
    let gateway = switchyard_proxy::Gateway::new(&switchyard_config::StaticConfig::default())
        .embedded("app")
        .provider(provider)
        .throttle(std::time::Duration::ZERO)
        .start()
        .await
        .unwrap();
    gateway.wait_for(|s| s.generation() > 0).await;
    assert_eq!(gateway.local_addr("app"), None, "nothing listens");
    assert_eq!(
        gateway.snapshot().route_count("app").plain,
        1,
        "routers attach to it by default"
    );
    assert_eq!(gateway.local_addr("http"), None, "no default :80 entrypoint either");

    #[derive(Clone, Copy)]
    struct ServerPeer(std::net::SocketAddr);
    let mut service = gateway
        .service("app")
        .unwrap()
        .peer_from(|extensions| extensions.get::<ServerPeer>().map(|p| p.0));
    let mut request = http::Request::get("/x").body(Full::new(Bytes::new())).unwrap();
    request
        .extensions_mut()
        .insert(ServerPeer("198.51.100.7:1234".parse().unwrap()));
    let response = service.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(backend.last().headers["x-forwarded-for"], "198.51.100.7");

    gateway.shutdown().await;
    let after = service
        .call(http::Request::get("/x").body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(after.status(), 503, "a router kept after shutdown says so");
    assert_eq!(
        after.into_body().collect().await.unwrap().to_bytes(),
        "the gateway is shut down\n"
    );
}

#[tokio::test]
async fn layers_wrap_every_request_of_their_entrypoints_refusals_included() {
    use switchyard_middleware::{HttpService, MiddlewareLayer};
    use tower::ServiceExt;

    let backend = Backend::start("b").await;
    let stamp = |value: &'static str| {
        MiddlewareLayer::new(tower::layer::layer_fn(move |inner: HttpService| {
            HttpService::new(inner.map_response(move |mut response: http::Response<_>| {
                response
                    .headers_mut()
                    .append("x-layer", http::HeaderValue::from_static(value));
                response
            }))
        }))
    };
    let mut config = switchyard_config::StaticConfig::default();
    for name in ["web", "other"] {
        config
            .entry_points
            .insert(name.into(), switchyard_config::EntryPoint::new("127.0.0.1:0"));
    }
    let (provider, _handle) =
        switchyard_config::MemoryProvider::new("test", route("PathPrefix(`/ok`)", &[backend.url()]));
    let gateway = switchyard_proxy::Gateway::new(&config)
        .layer(stamp("outer"))
        .layer_on("web", stamp("web-only"))
        .provider(provider)
        .throttle(std::time::Duration::ZERO)
        .start()
        .await
        .unwrap();
    gateway.wait_for(|s| s.generation() > 0).await;
    let client = support::client();
    let stamps = |headers: &http::HeaderMap| -> Vec<String> {
        headers
            .get_all("x-layer")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let web = gateway.local_addr("web").unwrap();
    let (status, headers, _) = support::get(&client, &format!("http://{web}/ok"), None).await;
    assert_eq!(
        (status.as_u16(), stamps(&headers)),
        (200, vec!["web-only".into(), "outer".into()])
    );
    let (status, headers, _) = support::get(&client, &format!("http://{web}/missing"), None).await;
    assert_eq!(
        (status.as_u16(), stamps(&headers).len()),
        (404, 2),
        "refusals pass through the layers too"
    );
    let other = gateway.local_addr("other").unwrap();
    let (_, headers, _) = support::get(&client, &format!("http://{other}/ok"), None).await;
    assert_eq!(stamps(&headers), ["outer"]);
}
