//! Request heads too big to hold: refused with 431 or 414 and the connection closed, before a backend
//! sees them, and without the gateway's memory growing with what the client sends.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use support::{Backend, PATIENCE, TestGateway, parse_raw, route, static_config_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `request` while reading the answer, as a client that does not stop sending when refused;
/// returns what came back before the gateway closed the connection.
async fn push(addr: SocketAddr, request: Arc<Vec<u8>>) -> Vec<u8> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The gateway closes mid-write: the error is the point.
        let _ = write.write_all(&request).await;
        write
    });
    let mut answer = Vec::new();
    let mut buf = vec![0; 4096];
    let reading = async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("the gateway did not close the connection");
    writer.abort();
    answer
}

async fn status(addr: SocketAddr, request: Vec<u8>) -> u16 {
    let answer = push(addr, Arc::new(request)).await;
    parse_raw(&answer).status
}

/// A request of `count` header lines in all (at least two: `Host` and `Connection`).
fn with_headers(count: usize) -> Vec<u8> {
    let mut head = String::from("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n");
    for i in 2..count {
        head.push_str(&format!("X-H{i}: v\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A head whose only header has a value of `len` bytes, never ended.
fn endless_header(len: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    head.resize(head.len() + len, b'a');
    head
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn more_than_a_hundred_header_lines_is_431() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    // hyper's default limit of 100 lines, which switchyard keeps: Go's server has none but
    // maxHeaderBytes. (The backend, hyper too, needs room for the forwarding headers the gateway adds.)
    assert_eq!(status(gateway.addr, with_headers(90)).await, 200);
    let answer = push(gateway.addr, Arc::new(with_headers(101))).await;
    let response = parse_raw(&answer);
    assert_eq!(response.status, 431, "{}", response.head);
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(
        response.body, b"431 Request Header Fields Too Large",
        "the gateway's answer, as Traefik's"
    );
    assert_eq!(status(gateway.addr, with_headers(10_000)).await, 431);
    assert_eq!(
        backend.seen().len(),
        1,
        "only the request within the limit was forwarded"
    );
}

#[tokio::test]
async fn a_uri_over_64_kib_is_414_and_a_request_line_over_max_header_bytes_is_431() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let line = |len: usize| {
        format!(
            "GET /{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            "a".repeat(len)
        )
        .into_bytes()
    };
    assert_eq!(status(gateway.addr, line(60_000)).await, 200);
    let answer = push(gateway.addr, Arc::new(line(70_000))).await;
    let response = parse_raw(&answer);
    assert_eq!(response.status, 414, "{}", response.head);
    assert_eq!(response.header("connection"), Some("close"));
    // A request line that never ends fills the head buffer (1 MiB maxHeaderBytes by default) first.
    let mut endless = b"GET /".to_vec();
    endless.resize(4 << 20, b'a');
    assert_eq!(status(gateway.addr, endless).await, 431);
    assert_eq!(backend.seen().len(), 1);
}

#[tokio::test]
async fn the_entrypoints_max_header_bytes_bounds_the_request_line_too() {
    let backend = Backend::start("b").await;
    let limited = static_config_with(|web| web.http.max_header_bytes = 16 << 10);
    let gateway = TestGateway::start_with(limited, route("PathPrefix(`/`)", &[backend.url()])).await;
    let line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(30_000));
    assert_eq!(status(gateway.addr, line.into_bytes()).await, 431);
    assert!(backend.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_heads_from_many_clients_leave_memory_bounded() {
    const CLIENTS: usize = 32;
    const SENT: usize = 16 << 20;
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let request = Arc::new(endless_header(SENT));
    // Warm up: one refused head, so that the runtime's own growth is not counted.
    assert_eq!(parse_raw(&push(gateway.addr, Arc::clone(&request)).await).status, 431);
    let before = vm_rss_kib();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(push(gateway.addr, Arc::clone(&request))))
        .collect();
    let mut peak = before;
    for client in clients {
        let answer = client.await.unwrap();
        assert_eq!(parse_raw(&answer).status, 431);
        peak = peak.max(vm_rss_kib());
    }
    let growth_mib = peak.saturating_sub(before) / 1024;
    println!("VmRSS before {before} KiB, peak {peak} KiB: {growth_mib} MiB for {CLIENTS} clients");
    // Each connection may hold one head buffer (maxHeaderBytes + 4 KiB); what clients send beyond it
    // (512 MiB in all here) must not be kept.
    assert!(growth_mib < 96, "memory grew {growth_mib} MiB");
    assert!(backend.seen().is_empty());
    // And the gateway still serves.
    assert_eq!(status(gateway.addr, with_headers(2)).await, 200);
}
