//! Clients that hold connections without using them: thousands of idle and half-sent connections do
//! not keep a normal client from being served promptly, and `transport.maxConnections` (a switchyard
//! extension) closes connections past the limit as soon as they are accepted.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use support::{Backend, TestGateway, client, eventually, get, route, static_config_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The median time of `n` GETs on fresh connections.
async fn median_latency(url: &str, n: usize) -> Duration {
    let mut took = Vec::new();
    for _ in 0..n {
        let client = client();
        let started = Instant::now();
        let (status, _, _) = get(&client, url, None).await;
        took.push(started.elapsed());
        assert_eq!(status, 200);
    }
    took.sort();
    took[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_idle_and_half_sent_connections_do_not_slow_a_normal_client() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let url = gateway.url("/");
    let unloaded = median_latency(&url, 41).await;

    let mut held = Vec::new();
    for i in 0..5_000 {
        let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
        if i % 2 == 1 {
            // A request head begun and never finished (slowloris).
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
                .await
                .unwrap();
        }
        held.push(stream);
    }
    let loaded = median_latency(&url, 41).await;
    println!("median latency: {unloaded:?} unloaded, {loaded:?} beside 5,000 idle or half-sent connections");
    // Twice the unloaded figure, with a millisecond's allowance for a shared two-core machine.
    assert!(
        loaded <= unloaded * 2 + Duration::from_millis(1),
        "{loaded:?} against {unloaded:?} unloaded"
    );
    // The held connections are all still open (none was served or dropped in the meantime).
    let mut probe = [0u8; 1];
    for stream in held.iter_mut().take(50) {
        let read = tokio::time::timeout(Duration::from_millis(2), stream.read(&mut probe)).await;
        assert!(read.is_err(), "a held connection was closed or answered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_closes_connections_past_the_limit_at_once() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| web.transport.max_connections = 3);
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;

    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(TcpStream::connect(gateway.addr).await.unwrap());
    }
    // The fourth is accepted by the system, then closed before any byte.
    let mut fourth = TcpStream::connect(gateway.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the connection past the limit is closed: {read:?}"
    );

    // One of the three is used and closed: a new connection is served again.
    let mut first = open.remove(0);
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    first.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(first);
    eventually("a connection is served once one of the three has closed", async || {
        let Ok(mut stream) = TcpStream::connect(gateway.addr).await else {
            return false;
        };
        let request = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        if stream.write_all(request).await.is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer)).await;
        answer.starts_with(b"HTTP/1.1 200")
    })
    .await;
}
