//! Informational answers (`103 Early Hints`) of an HTTP/1.1 backend reach HTTP/1.1 and HTTP/2 clients
//! before the final answer, which the backend holds back until the test has seen them.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use support::{TestGateway, route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

const HINTS: &str = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n";

/// A backend that answers each request with a `100 Continue` (never passed on), a `103`, then waits
/// for a permit before its final answer.
async fn hinting_backend(release: Arc<Semaphore>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let release = Arc::clone(&release);
            tokio::spawn(async move {
                let mut buf = vec![0; 8192];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                    let informational = format!("HTTP/1.1 100 Continue\r\n\r\n{HINTS}");
                    if stream.write_all(informational.as_bytes()).await.is_err() {
                        return;
                    }
                    release.acquire().await.unwrap().forget();
                    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nlink: </style.css>; rel=preload\r\n\r\nfinal";
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Reads from `stream` until `text` has arrived, and returns all that was read.
async fn read_until(stream: &mut TcpStream, read: &mut Vec<u8>, text: &str) {
    let found = async {
        while !String::from_utf8_lossy(read).contains(text) {
            let mut buf = [0; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before {text:?}; read {:?}",
                String::from_utf8_lossy(read)
            );
            read.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), found)
        .await
        .unwrap_or_else(|_| panic!("no {text:?} in {:?}", String::from_utf8_lossy(read)));
}

#[tokio::test]
async fn early_hints_reach_an_http11_client_before_the_final_answer() {
    let release = Arc::new(Semaphore::new(0));
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[hinting_backend(Arc::clone(&release)).await])).await;
    let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
    let mut read = Vec::new();
    for round in 0..2 {
        // Twice on one connection: the second request gets its own hints.
        stream
            .write_all(b"GET /page HTTP/1.1\r\nHost: a.example\r\n\r\n")
            .await
            .unwrap();
        read_until(&mut stream, &mut read, "\r\n\r\n").await;
        let text = String::from_utf8_lossy(&read).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 103 Early Hints\r\n"),
            "round {round}: {text:?}"
        );
        assert!(
            text.to_ascii_lowercase()
                .contains("link: </style.css>; rel=preload; as=style\r\n")
        );
        assert!(!text.contains("200 OK"), "the final answer is still held back");
        release.add_permits(1);
        read_until(&mut stream, &mut read, "final").await;
        let text = String::from_utf8_lossy(&read).into_owned();
        assert_eq!(
            text.matches("103 Early Hints").count(),
            1,
            "one hint per request: {text:?}"
        );
        assert!(
            !text.contains("100 Continue"),
            "100 Continue is answered per hop: {text:?}"
        );
        assert!(text.contains("\r\n\r\nHTTP/1.1 200 OK\r\n"), "{text:?}");
        read.clear();
    }
}

#[tokio::test]
async fn an_http10_client_gets_no_informational_answer() {
    let release = Arc::new(Semaphore::new(1));
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[hinting_backend(release).await])).await;
    let response = support::raw_exchange(gateway.addr, b"GET /page HTTP/1.0\r\nHost: a.example\r\n\r\n").await;
    assert_eq!(response.status, 200);
    assert!(response.head.starts_with("HTTP/1.0 200 OK\r\n"), "{:?}", response.head);
}

#[tokio::test]
async fn early_hints_reach_an_h2_client_before_the_final_answer() {
    let release = Arc::new(Semaphore::new(0));
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[hinting_backend(Arc::clone(&release)).await])).await;
    let tcp = TcpStream::connect(gateway.addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(gateway.url("/page")).body(()).unwrap();
    let (mut response, _) = client.send_request(request, true).unwrap();
    let hints = tokio::time::timeout(
        Duration::from_secs(10),
        std::future::poll_fn(|cx| response.poll_informational(cx)),
    )
    .await
    .expect("no informational answer")
    .expect("the stream ended")
    .unwrap();
    assert_eq!(hints.status(), 103);
    assert_eq!(hints.headers()["link"], "</style.css>; rel=preload; as=style");
    release.add_permits(1);
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk: Bytes = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received, b"final");
}
