//! Entrypoint timeouts: idle keep-alive connections and slow request heads are closed.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use support::{Backend, PATIENCE, TestGateway, route, static_config_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = vec![0; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| {
        web.transport.responding_timeouts.idle_timeout = switchyard_config::Duration::from_millis(300);
    });
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;

    // Idle after a request: closed after about idleTimeout.
    let mut idle = TcpStream::connect(gateway.addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed = closed_within(&mut idle, PATIENCE)
        .await
        .expect("idle connection left open");
    assert!(closed >= Duration::from_millis(200), "closed too early: {closed:?}");

    // A request head that never ends (slowloris): closed too.
    let mut slow = TcpStream::connect(gateway.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    assert!(
        closed_within(&mut slow, PATIENCE).await.is_some(),
        "slow head left open"
    );
}

/// Writes `body` one byte at a time, `pause` apart, while reading what comes back; returns what the
/// gateway answered and how long after the head it closed, if it did.
async fn trickle(stream: &mut TcpStream, body: &[u8], pause: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = vec![0; 4096];
    for byte in body {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return (String::from_utf8_lossy(&answer).into_owned(), Some(started.elapsed())),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(pause) => {
                if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
                    break;
                }
            }
        }
    }
    let closed = closed_within_reading(stream, &mut answer, PATIENCE).await;
    (
        String::from_utf8_lossy(&answer).into_owned(),
        closed.map(|_| started.elapsed()),
    )
}

async fn closed_within_reading(stream: &mut TcpStream, answer: &mut Vec<u8>, limit: Duration) -> Option<()> {
    let mut buf = vec![0; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(()),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn read_timeout_cuts_a_trickled_body_with_408_and_spares_a_prompt_one() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| {
        web.transport.responding_timeouts.read_timeout = switchyard_config::Duration::from_millis(800);
    });
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;

    // 40 bytes, one every 100 ms: four seconds for a body the limit gives 0.8 s.
    let mut slow = TcpStream::connect(gateway.addr).await.unwrap();
    slow.write_all(b"POST /collect HTTP/1.1\r\nhost: x\r\ncontent-length: 40\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = trickle(&mut slow, &[b'a'; 40], Duration::from_millis(100)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let closed = closed.expect("the connection is closed");
    assert!(
        closed >= Duration::from_millis(700) && closed < Duration::from_secs(3),
        "closed after {closed:?}"
    );

    // The same body sent at once is served, on a connection kept open.
    let mut prompt = TcpStream::connect(gateway.addr).await.unwrap();
    let body = [b'a'; 40];
    let mut request = b"POST /collect HTTP/1.1\r\nhost: x\r\ncontent-length: 40\r\n\r\n".to_vec();
    request.extend_from_slice(&body);
    prompt.write_all(&request).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = prompt.read(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\n40"),
        "{text}"
    );
}

#[tokio::test]
async fn read_timeout_cuts_a_stalled_http2_request_body_with_408() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| {
        web.transport.responding_timeouts.read_timeout = switchyard_config::Duration::from_millis(500);
    });
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;
    let tcp = TcpStream::connect(gateway.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post("http://x/collect")
        .header("content-length", "10")
        .body(())
        .unwrap();
    let started = Instant::now();
    let (response, mut body) = client.send_request(request, false).unwrap();
    body.send_data(bytes::Bytes::from_static(b"a"), false).unwrap();
    // The other nine bytes never come.
    let response = tokio::time::timeout(PATIENCE, response).await.unwrap().unwrap();
    assert_eq!(response.status(), http::StatusCode::REQUEST_TIMEOUT);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}
