//! Bodies and connections that are more than one small exchange: WebSocket, h2c with trailers, and
//! clients that leave mid-body.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{Backend, TestGateway, client, get, route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn websocket_echo_through_the_proxy() {
    let backend = Backend::start("ws").await;
    let gateway = TestGateway::start(route("PathPrefix(`/ws`)", &[backend.url()])).await;
    let stream = TcpStream::connect(gateway.addr).await.unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(format!("ws://{}/ws", gateway.addr), stream)
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    for text in ["hello", "through", "switchyard"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    ws.close(None).await.unwrap();
    let seen = backend.last().headers;
    assert_eq!(seen["upgrade"], "websocket");
    assert_eq!(seen["x-forwarded-proto"], "ws");
}

#[tokio::test]
async fn h2c_clients_and_backends_keep_trailers() {
    let backend = Backend::start("grpc").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[format!("h2c://{}", backend.addr)])).await;
    let stream = TcpStream::connect(gateway.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::post(format!("http://{}/trailers", gateway.addr))
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("trailers reach the client");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "done");
    assert_eq!(collected.to_bytes(), "payload");
    let seen = backend.last();
    assert_eq!(seen.version, http::Version::HTTP_2);
    assert_eq!(seen.headers["te"], "trailers");
}

#[tokio::test]
async fn clients_leaving_mid_body_do_not_hurt_the_next_requests() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;

    // Leaves while the response streams.
    let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
    stream
        .write_all(b"GET /bytes/104857600 HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0; 65536];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(stream);

    // Leaves while the request body is uploading.
    let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\npartial")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(stream);

    let client = client();
    for _ in 0..5 {
        let (status, _, body) = get(&client, &gateway.url("/"), None).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
    }
}

#[tokio::test]
async fn malformed_requests_get_400_and_the_server_keeps_going() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
        stream.write_all(raw).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        let answer = support::parse_raw(&answer);
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (400, &b""[..]),
            "{raw:?}: {answer:?}"
        );
        assert_eq!(answer.header("connection"), Some("close"));
    }
    let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
    let huge = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(2 << 20));
    let _ = stream.write_all(huge.as_bytes()).await;
    let mut answer = vec![0; 64];
    let n = stream.read(&mut answer).await.unwrap_or(0);
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 431"),
        "headers over maxHeaderBytes"
    );
    assert!(backend.seen().is_empty());
    let (status, _, _) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!(status, 200);
}

/// A backend answering every request with a chunked body and a checksum trailer it announces.
async fn chunked_with_trailer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0; 4096];
                let _ = stream.read(&mut buf).await;
                let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n\
                              5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 5eb63bbb\r\n\r\n";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn chunked_trailers_of_an_http1_backend_reach_http1_and_h2_clients() {
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[chunked_with_trailer().await])).await;

    let request = "GET / HTTP/1.1\r\nHost: a.example\r\nTE: trailers\r\nConnection: close\r\n\r\n";
    let response = support::raw_exchange(gateway.addr, request.as_bytes()).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("trailer").map(str::to_ascii_lowercase).as_deref(),
        Some("x-checksum")
    );
    let body = String::from_utf8_lossy(&response.body).to_ascii_lowercase();
    assert!(body.contains("hello") && body.contains(" world"), "{body:?}");
    assert!(
        body.ends_with("0\r\nx-checksum: 5eb63bbb\r\n\r\n"),
        "the trailer follows the last chunk: {body:?}"
    );

    let h2 = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Empty<Bytes>>();
    let response = h2
        .request(Request::get(gateway.url("/")).body(Empty::new()).unwrap())
        .await
        .unwrap();
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-checksum"], "5eb63bbb");
    assert_eq!(collected.to_bytes(), "hello world");
}
