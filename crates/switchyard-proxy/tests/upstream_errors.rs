//! Backends that are down, reset, slow or close pooled connections: each maps to Traefik's status.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use support::{Backend, Logs, TestGateway, client, get, route};
use switchyard_config::{ForwardingTimeouts, ServersTransport, ServiceKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_refused_connection_is_502_and_logged_with_router_service_server_and_cause() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let logs = Logs::capture();
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[format!("http://{addr}")])).await;
    let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (502, "Bad Gateway"));
    let line = logs.last_refusal();
    for part in [
        "router=\"r@test\"",
        "service=\"s@test\"",
        &format!("server=\"http://{addr}\""),
        "status=502",
        "cause=cannot connect to",
    ] {
        assert!(line.contains(part), "{part} missing from {line:?}");
    }
}

#[tokio::test]
async fn a_reset_connection_is_502() {
    let logs = Logs::capture();
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
    let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (502, "Bad Gateway"));
    assert_eq!(
        logs.last_cause(),
        "backend request failed: connection closed before message completed"
    );
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
    // The backend never answers this one: only the timeout ends the request.
    let (status, _, body) = get(&client, &gateway.url("/held"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (504, "Gateway Timeout"));
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "not before the timeout: {:?}",
        started.elapsed()
    );
    let (status, _, _) = get(&client, &gateway.url("/slow/10"), None).await;
    assert_eq!(status, 200, "fast answers still pass");
}

#[tokio::test]
async fn a_service_without_servers_is_503_with_traefiks_text() {
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[])).await;
    let (status, headers, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (503, "no available server\n"));
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
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

/// A backend that answers the first request of each connection with keep-alive, then reads the next
/// request and closes without answering: the race of an idle timeout firing just as the proxy reuses the
/// connection, made deterministic. Returns its address and the requests it read, in order.
async fn closes_after_first_answer() -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = std::sync::Arc::clone(&record);
            tokio::spawn(async move {
                for answer in [true, false] {
                    let mut buf = vec![0; 8192];
                    let Ok(n) = stream.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    let head = String::from_utf8_lossy(&buf[..n]);
                    record
                        .lock()
                        .unwrap()
                        .push(head.lines().next().unwrap_or_default().to_owned());
                    if !answer {
                        return; // closes with the request unanswered
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_replayable_request_on_a_connection_closed_under_it_is_sent_again_on_a_new_one() {
    let (addr, seen) = closes_after_first_answer().await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[format!("http://{addr}")])).await;
    let client = client();
    for path in ["/first", "/second", "/third"] {
        let (status, _, body) = get(&client, &gateway.url(path), None).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "ok"), "{path}");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "GET /first HTTP/1.1",
            "GET /second HTTP/1.1", // on the reused connection, which closes
            "GET /second HTTP/1.1", // again, on a new connection
            "GET /third HTTP/1.1",  // the reused connection closes again...
            "GET /third HTTP/1.1",  // ...and the replay succeeds
        ]
    );
}

#[tokio::test]
async fn a_request_with_a_body_is_not_sent_twice() {
    let logs = Logs::capture();
    let (addr, seen) = closes_after_first_answer().await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[format!("http://{addr}")])).await;
    let client = client();
    let (status, _, _) = get(&client, &gateway.url("/first"), None).await;
    assert_eq!(status, 200);
    let post = http::Request::post(gateway.url("/order"))
        .body(support::full("one order"))
        .unwrap();
    let (status, _, body) = support::send(&client, post).await;
    assert_eq!((status.as_u16(), body.as_str()), (502, "Bad Gateway"));
    assert_eq!(
        logs.last_cause(),
        "backend request failed: connection closed before message completed"
    );
    let orders = seen.lock().unwrap().iter().filter(|l| l.starts_with("POST")).count();
    assert_eq!(orders, 1, "a POST whose body went out is never replayed");
}
