//! A Traefik dynamic file's `tcp` section, unchanged, runs through the facade: TCP routers beside an
//! HTTP router on one entrypoint, and a value replaced by its default reported with file and key path.
#![cfg(feature = "file")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;

use support::{PATIENCE, backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that greets first, then answers each chunk with `echo:chunk`.
async fn greeting_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                stream.write_all(b"hello\n").await.unwrap();
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    let mut answer = b"echo:".to_vec();
                    answer.extend_from_slice(&buf[..n]);
                    stream.write_all(&answer).await.unwrap();
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_file_tcp_section_routes_connections() {
    let echo = greeting_echo().await;
    let web = backend("web").await;
    let dir = tempfile::tempdir().unwrap();
    let dynamic = dir.path().join("dynamic.yml");
    std::fs::write(
        &dynamic,
        format!(
            r#"
http:
  routers:
    site: {{rule: "PathPrefix(`/`)", service: site, entryPoints: [web]}}
  services:
    site: {{loadBalancer: {{servers: [{{url: "http://{web}"}}]}}}}
tcp:
  routers:
    db:
      rule: "HostSNI(`*`) && ClientIP(`127.0.0.0/8`)"
      service: db
      entryPoints: [db]
      middlewares: [lan]
  services:
    db:
      loadBalancer:
        servers: [{{address: "{echo}"}}]
        serversTransport: quick
        healthCheck: {{interval: 10s, timeout: 0s}}
  middlewares:
    lan: {{ipAllowList: {{sourceRange: ["127.0.0.1/32"]}}}}
  serversTransports:
    quick: {{dialTimeout: 2s}}
"#
        ),
    )
    .unwrap();
    let static_file = dir.path().join("traefik.yml");
    std::fs::write(
        &static_file,
        format!(
            "entryPoints:\n  web:\n    address: 127.0.0.1:0\n  db:\n    address: 127.0.0.1:0\nproviders:\n  providersThrottleDuration: 0s\n  file:\n    filename: {}\n",
            dynamic.display()
        ),
    )
    .unwrap();
    let gateway = support::start_when(&static_file, |s| s.tcp_route_count("db").plain == 1).await;

    let mut stream = TcpStream::connect(gateway.local_addr("db").unwrap()).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"hello\n");
    stream.write_all(b"ping").await.unwrap();
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"echo:ping");

    let web_addr = gateway.local_addr("web").unwrap();
    assert_eq!(support::get(web_addr, "/", &[]).await, (200, "web".into()));

    let snapshot = gateway.snapshot();
    let service = &snapshot.report().tcp.services["db@file"];
    let invalid = &service.errors[0];
    assert_eq!(
        invalid.key_path,
        "tcp.services.db@file.loadBalancer.healthCheck.timeout"
    );
    assert_eq!(invalid.origin.as_deref(), Some(dynamic.display().to_string().as_str()));
}
