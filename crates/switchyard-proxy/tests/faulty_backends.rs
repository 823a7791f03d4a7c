//! Backends that break HTTP, as a raw TCP listener: each fault gives the client an error status or a
//! response it can tell is cut short — never a complete-looking 200 with a truncated body — and the
//! next request through the same gateway is served.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::{PATIENCE, TestGateway, route};
use switchyard_config::{ForwardingTimeouts, ServersTransport, ServiceKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The backend's answer timeout in these tests.
const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// The size of `/slow-large`'s answer.
const SLOW_LARGE: usize = 64 << 20;

/// How many requests for `/posted-then-reset` the backend received.
static POSTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A backend that reads a request head and misbehaves as its path says; `/ok` answers properly and
/// keeps the connection.
async fn faulty_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    addr
}

async fn serve(mut stream: TcpStream) {
    loop {
        let mut head = Vec::new();
        let mut buf = [0; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
        match path.as_str() {
            "/ok" => {
                if stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            "/reset" => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                    .await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                // Linger zero: the close is a reset.
                let _ = stream.set_zero_linger();
            }
            "/reset-chunked" => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n")
                    .await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = stream.set_zero_linger();
            }
            "/truncated" => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                    .await;
            }
            "/garbage" => {
                let _ = stream.write_all(b"this is not HTTP at all\r\n\r\n").await;
            }
            "/garbage-status" => {
                let _ = stream.write_all(b"HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n").await;
            }
            "/silent" => {
                // Holds the connection open, answering nothing, until the proxy gives up.
                let _ = stream.read(&mut buf).await;
            }
            "/early-answer" => {
                // Refuses the upload from its head alone, without reading the body, and closes.
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntoo much",
                    )
                    .await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            "/posted-then-reset" => {
                POSTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Reads the body that follows the head, then resets without answering.
                let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
                let _ = stream.set_zero_linger();
            }
            "/slow-large" => {
                // 64 MiB in 256 KiB writes with a pause after each MiB: a long, slow, complete answer.
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {SLOW_LARGE}\r\n\r\n");
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 256 << 10];
                for i in 0..SLOW_LARGE / chunk.len() {
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                    if i % 4 == 3 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                continue;
            }
            "/length-and-chunked" => {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                    )
                    .await;
            }
            _ => {}
        }
        return;
    }
}

/// A gateway routing everything to `backend` with [`HEADER_TIMEOUT`] as `responseHeaderTimeout`.
async fn gateway(backend: SocketAddr) -> TestGateway {
    let mut config = route("PathPrefix(`/`)", &[format!("http://{backend}")]);
    let transport = ServersTransport {
        forwarding_timeouts: Some(ForwardingTimeouts {
            response_header_timeout: switchyard_config::Duration::from(HEADER_TIMEOUT),
            ..ForwardingTimeouts::default()
        }),
        ..ServersTransport::default()
    };
    config.http.servers_transports.insert("quick".into(), transport);
    if let ServiceKind::LoadBalancer(lb) = &mut config.http.services.get_mut("s").unwrap().kind {
        lb.servers_transport = "quick".into();
    }
    TestGateway::start(config).await
}

/// What a client read for one request: the status, the head, the body bytes as they came on the wire,
/// and whether the body was complete by its own framing.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    complete: bool,
    body: Vec<u8>,
}

/// Sends `GET path` on its own connection and reads until the gateway closes it.
async fn fetch(addr: SocketAddr, path: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let reading = async {
        let mut buf = [0; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .unwrap_or_else(|_| panic!("{path}: the gateway neither answered nor closed"));
    let response = support::parse_raw(&bytes);
    let length = response.header("content-length").map(|l| l.parse::<usize>().unwrap());
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    assert!(
        !(chunked && length.is_some()),
        "{path}: the client got both framings: {}",
        response.head
    );
    let complete = match (length, chunked) {
        (Some(length), _) => response.body.len() == length,
        (None, true) => response.body.ends_with(b"0\r\n\r\n"),
        // Framed by the close: the client cannot tell a truncation, so none may happen here.
        (None, false) => true,
    };
    Answer {
        status: response.status,
        head: response.head,
        complete,
        body: response.body,
    }
}

/// The body of a chunked response, decoded (for short test bodies).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 4 + size..];
    }
    out
}

async fn next_request_is_served(addr: SocketAddr, after: &str) {
    let answer = fetch(addr, "/ok").await;
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &b"ok"[..]),
        "after {after}"
    );
}

#[tokio::test]
async fn a_body_cut_short_by_the_backend_is_cut_short_for_the_client() {
    let gateway = gateway(faulty_backend().await).await;
    next_request_is_served(gateway.addr, "start").await;
    for path in ["/reset", "/reset-chunked", "/truncated"] {
        let answer = fetch(gateway.addr, path).await;
        // The head went out before the fault, so the status stands; what came is passed on, and the
        // connection closes short of the body's framing, which the client can tell.
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        assert!(!answer.complete, "{path}: {answer:?}");
        let received = String::from_utf8_lossy(&answer.body).into_owned();
        assert!(received.contains("0123456789"), "{path}: {received:?}");
        next_request_is_served(gateway.addr, path).await;
    }
}

#[tokio::test]
async fn a_backend_that_does_not_speak_http_is_502() {
    let gateway = gateway(faulty_backend().await).await;
    for path in ["/garbage", "/garbage-status"] {
        let answer = fetch(gateway.addr, path).await;
        assert_eq!(answer.status, 502, "{path}: {answer:?}");
        assert!(answer.complete, "{path}: {answer:?}");
        next_request_is_served(gateway.addr, path).await;
    }
}

#[tokio::test]
async fn a_backend_that_never_answers_is_504_after_the_response_header_timeout() {
    let gateway = gateway(faulty_backend().await).await;
    let started = Instant::now();
    let answer = fetch(gateway.addr, "/silent").await;
    let waited = started.elapsed();
    assert_eq!(answer.status, 504, "{answer:?}");
    assert_eq!(answer.body, b"Gateway Timeout");
    assert!(waited >= HEADER_TIMEOUT, "answered before the timeout: {waited:?}");
    assert!(
        waited < HEADER_TIMEOUT * 10,
        "answered long after the timeout: {waited:?}"
    );
    next_request_is_served(gateway.addr, "/silent").await;
}

#[tokio::test]
async fn a_response_with_length_and_chunked_is_read_as_chunked_and_sent_with_one_framing() {
    let gateway = gateway(faulty_backend().await).await;
    let answer = fetch(gateway.addr, "/length-and-chunked").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.complete, "{answer:?}");
    let body = if answer.head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(&answer.body)
    } else {
        answer.body.clone()
    };
    assert_eq!(body, b"hello", "{answer:?}");
    next_request_is_served(gateway.addr, "/length-and-chunked").await;
}

/// Sends `POST path` with a body of `size` bytes on its own connection (the body written while the
/// answer is read, as a client does), and returns the status.
async fn post(addr: SocketAddr, path: &str, size: usize) -> u16 {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!("POST {path} HTTP/1.1\r\nHost: a\r\ncontent-length: {size}\r\nConnection: close\r\n\r\n");
    // The writing half is handed back, not dropped, when the body is written: dropping it would
    // half-close the connection, which the gateway (as Go's server) takes for a client gone.
    let writing = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        let chunk = vec![b'u'; 64 << 10];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len());
            if write.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            left -= n;
        }
        write
    });
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, read.read_to_end(&mut bytes))
        .await
        .unwrap_or_else(|_| panic!("{path}: the gateway neither answered nor closed"));
    writing.abort();
    support::parse_raw(&bytes).status
}

#[tokio::test]
async fn a_backend_answering_before_reading_the_body_is_passed_on() {
    let gateway = gateway(faulty_backend().await).await;
    // 8 MiB: more than the socket buffers hold, so the backend's close comes mid-upload.
    let status = post(gateway.addr, "/early-answer", 8 << 20).await;
    assert!(
        status == 413 || status == 502,
        "the backend's refusal, or a clean 502 when the upload broke first: {status}"
    );
    next_request_is_served(gateway.addr, "/early-answer").await;
}

#[tokio::test]
async fn a_posted_request_whose_body_was_sent_is_never_replayed_by_retry() {
    let backend = faulty_backend().await;
    let retry = switchyard_config::Retry {
        attempts: 4,
        initial_interval: switchyard_config::Duration::from_millis(10),
        ..switchyard_config::Retry::default()
    };
    let config = support::middleware_route(
        "PathPrefix(`/`)",
        &[format!("http://{backend}")],
        vec![("retry", switchyard_config::Middleware::Retry(retry))],
    );
    let gateway = TestGateway::start(config).await;
    let before = POSTED.load(std::sync::atomic::Ordering::SeqCst);
    let status = post(gateway.addr, "/posted-then-reset", 1024).await;
    assert_eq!(status, 502);
    let received = POSTED.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert_eq!(received, 1, "the POST reached the backend {received} times");
    next_request_is_served(gateway.addr, "/posted-then-reset").await;
}

#[tokio::test]
async fn a_slow_large_answer_streams_whole_to_a_slow_client_in_bounded_memory() {
    let gateway = gateway(faulty_backend().await).await;
    let rss = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    let before = rss();
    let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
    stream
        .write_all(b"GET /slow-large HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut received = 0usize;
    let mut peak = before;
    let mut buf = vec![0u8; 64 << 10];
    let started = Instant::now();
    loop {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        received += n;
        if received % (4 << 20) < n {
            // A slow reader: the gateway must wait for it rather than buffer the backend's answer.
            tokio::time::sleep(Duration::from_millis(20)).await;
            peak = peak.max(rss());
        }
    }
    let grown = (peak.saturating_sub(before)) / 1024;
    println!(
        "64 MiB slow answer to a slow reader: {:?}, RSS grew by {grown} MiB at most",
        started.elapsed()
    );
    assert!(received > SLOW_LARGE, "the whole body arrived: {received} bytes");
    assert!(grown < 32, "RSS grew by {grown} MiB");
}
