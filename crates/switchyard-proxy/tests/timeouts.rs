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
