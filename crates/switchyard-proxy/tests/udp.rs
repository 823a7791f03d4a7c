//! UDP routing through the real gateway: sessions keyed by client address, weighted services, the
//! session timeout, and reloads that leave open sessions on their server. Real sockets on loopback.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{PATIENCE, TestGateway, client as http_client, get, static_config, with_api};
use switchyard_config::{
    Duration as ConfigDuration, DynamicConfig, EntryPoint, EntryPointUdp, LoadBalancer, Router, Service, StaticConfig,
    Status, TcpRouter, TcpService, UdpRouter, UdpService, UdpWeighted, WeightedService,
};
use tokio::net::UdpSocket;

/// A UDP backend answering each datagram with `NAME:datagram`.
async fn echo(name: &'static str) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut answer = format!("{name}:").into_bytes();
            answer.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&answer, from).await;
        }
    });
    addr
}

/// `web` plus a UDP entrypoint `dns` with a session timeout.
fn with_udp(timeout: ConfigDuration) -> StaticConfig {
    let mut config = static_config();
    let mut dns = EntryPoint::new("127.0.0.1:0/udp");
    dns.udp = Some(EntryPointUdp { timeout });
    config.entry_points.insert("dns".into(), dns);
    config
}

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// Sends `message` to `to` and waits for one answer.
async fn ask(socket: &UdpSocket, to: SocketAddr, message: &str) -> String {
    socket.send_to(message.as_bytes(), to).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buf))
        .await
        .expect("an answer comes")
        .unwrap();
    assert_eq!(from, to, "answers come from the entrypoint's address");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn weighted(services: &[(&str, u32)]) -> UdpService {
    let services = services
        .iter()
        .map(|(name, weight)| WeightedService {
            name: (*name).into(),
            weight: *weight,
        })
        .collect();
    UdpService {
        weighted: Some(UdpWeighted { services }),
        ..UdpService::default()
    }
}

/// Router `dns` to service `dns`, whose one server is `server`.
fn serve_dns(config: &mut DynamicConfig, server: SocketAddr) {
    config
        .udp
        .services
        .insert("dns".into(), UdpService::with_addresses([server.to_string()]));
    config.udp.routers.insert("dns".into(), UdpRouter::new("dns"));
}

async fn start(config: DynamicConfig, timeout: ConfigDuration) -> (TestGateway, SocketAddr) {
    let gateway = TestGateway::start_with(with_udp(timeout), config).await;
    let ready = gateway.gateway.wait_for(|s| s.has_udp_route("dns"));
    tokio::time::timeout(PATIENCE, ready)
        .await
        .expect("the UDP router goes live");
    let addr = gateway.gateway.local_addr("dns").unwrap();
    (gateway, addr)
}

#[tokio::test]
async fn sessions_follow_weighted_services_and_stay_on_their_server() {
    let a = echo("a").await;
    let b = echo("b").await;
    let mut config = DynamicConfig::default();
    config
        .udp
        .services
        .insert("a".into(), UdpService::with_addresses([a.to_string()]));
    config
        .udp
        .services
        .insert("b".into(), UdpService::with_addresses([b.to_string()]));
    config
        .udp
        .services
        .insert("split".into(), weighted(&[("a", 2), ("b", 1)]));
    config.udp.routers.insert("dns".into(), UdpRouter::new("split"));
    let (_gateway, addr) = start(config, ConfigDuration::from_secs(3)).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(client().await);
    }
    let mut first = Vec::new();
    for socket in &clients {
        first.push(ask(socket, addr, "q").await);
    }
    assert_eq!(first, ["a:q", "a:q", "b:q"], "new sessions follow the weights");
    for (socket, expected) in clients.iter().zip(["a", "a", "b"]) {
        for i in 0..3 {
            assert_eq!(
                ask(socket, addr, &format!("{i}")).await,
                format!("{expected}:{i}"),
                "a session keeps its server"
            );
        }
    }
}

#[tokio::test]
async fn a_session_ends_after_the_timeout_without_datagrams() {
    let a = echo("a").await;
    let b = echo("b").await;
    let mut config = DynamicConfig::default();
    config.udp.services.insert(
        "pair".into(),
        UdpService::with_addresses([a.to_string(), b.to_string()]),
    );
    config
        .udp
        .routers
        .insert("dns".into(), UdpRouter::new("pair").with_entry_points(["dns"]));
    let (_gateway, addr) = start(config, ConfigDuration::from_millis(300)).await;
    let socket = client().await;
    assert_eq!(ask(&socket, addr, "1").await, "a:1");
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            ask(&socket, addr, &format!("kept{i}")).await,
            format!("a:kept{i}"),
            "traffic keeps the session"
        );
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        ask(&socket, addr, "2").await,
        "b:2",
        "an idle session closed; the next one takes the next server"
    );
}

#[tokio::test]
async fn a_reload_moves_new_sessions_and_keeps_open_ones() {
    let old = echo("old").await;
    let new = echo("new").await;
    let mut config = DynamicConfig::default();
    serve_dns(&mut config, old);
    let (gateway, addr) = start(config, ConfigDuration::from_secs(10)).await;
    let established = client().await;
    assert_eq!(ask(&established, addr, "x").await, "old:x");
    gateway.reconfigure(|config| serve_dns(config, new)).await;
    let fresh = client().await;
    assert_eq!(ask(&fresh, addr, "y").await, "new:y");
    assert_eq!(ask(&established, addr, "z").await, "old:z");
}

#[tokio::test]
async fn one_router_per_entrypoint_the_others_are_reported() {
    let a = echo("a").await;
    let mut config = DynamicConfig::default();
    config
        .udp
        .services
        .insert("a".into(), UdpService::with_addresses([a.to_string()]));
    config.udp.routers.insert("first".into(), UdpRouter::new("a"));
    config.udp.routers.insert("second".into(), UdpRouter::new("a"));
    let (gateway, addr) = start(config, ConfigDuration::from_secs(3)).await;
    assert_eq!(ask(&client().await, addr, "q").await, "a:q");
    let snapshot = gateway.gateway.snapshot();
    let report = &snapshot.report().udp.routers;
    assert!(
        report["second@test"].errors.is_empty(),
        "the router whose name sorts last serves"
    );
    let conflict = &report["first@test"].errors[0];
    assert_eq!(conflict.key_path, "udp.routers.first@test.entryPoints");
    assert!(
        conflict
            .to_string()
            .contains("`second@test` already serves entryPoint `dns`"),
        "{conflict}"
    );
}

#[tokio::test]
async fn reloads_under_many_clients_lose_no_datagram_and_move_no_session() {
    const CLIENTS: usize = 32;
    const ROUNDS: usize = 20;
    let old = echo("old").await;
    let new = echo("new").await;
    let mut config = DynamicConfig::default();
    serve_dns(&mut config, old);
    let (gateway, addr) = start(config, ConfigDuration::from_secs(30)).await;
    // Every client opens its session on `old` before the reloads start.
    let mut clients = Vec::with_capacity(CLIENTS);
    for index in 0..CLIENTS {
        let socket = client().await;
        assert_eq!(ask(&socket, addr, &format!("{index}")).await, format!("old:{index}"));
        clients.push(socket);
    }
    let talking: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, socket)| {
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let message = format!("{index}.{round}");
                    assert_eq!(ask(&socket, addr, &message).await, format!("old:{message}"));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    // Reloads alternate the service's server while the sessions talk.
    for reload in 0..6 {
        let server = if reload % 2 == 0 { new } else { old };
        gateway.reconfigure(|config| serve_dns(config, server)).await;
    }
    for client in talking {
        client
            .await
            .expect("every datagram of every session is answered by its first server");
    }
    // The last reload pointed the service back at `old`; one before it at `new`: a fresh session
    // follows the live configuration.
    gateway.reconfigure(|config| serve_dns(config, new)).await;
    assert_eq!(ask(&client().await, addr, "fresh").await, "new:fresh");
}

#[tokio::test]
async fn http_and_tcp_routers_on_a_udp_entrypoint_are_reported_and_the_api_says_udp() {
    let a = echo("a").await;
    let mut config = DynamicConfig::default();
    with_api(&mut config);
    config
        .udp
        .services
        .insert("a".into(), UdpService::with_addresses([a.to_string()]));
    config.udp.routers.insert("dns".into(), UdpRouter::new("a"));
    config.http.services.insert(
        "site".into(),
        Service::from(LoadBalancer::with_urls(["http://127.0.0.1:9"])),
    );
    // Only the UDP entrypoint: the router cannot serve anywhere.
    config.http.routers.insert(
        "only-udp".into(),
        Router::new("PathPrefix(`/`)", "site").with_entry_points(["dns"]),
    );
    // The UDP entrypoint beside a TCP one: it serves on `web`, and the UDP one is reported.
    config.http.routers.insert(
        "both".into(),
        Router::new("PathPrefix(`/both`)", "site").with_entry_points(["web", "dns"]),
    );
    config
        .tcp
        .services
        .insert("db".into(), TcpService::with_addresses(["127.0.0.1:9"]));
    config.tcp.routers.insert(
        "db".into(),
        TcpRouter::new("HostSNI(`*`)", "db").with_entry_points(["dns"]),
    );
    let (gateway, _) = start(config, ConfigDuration::from_secs(3)).await;
    let snapshot = gateway.gateway.snapshot();
    let report = snapshot.report();
    let only = &report.routers["only-udp@test"];
    assert_eq!(only.status, Status::Disabled, "{only:?}");
    assert_eq!(only.errors[0].key_path, "http.routers.only-udp@test.entryPoints");
    assert!(
        only.errors[0].to_string().contains("entryPoint `dns` listens for UDP"),
        "{}",
        only.errors[0]
    );
    let both = &report.routers["both@test"];
    assert_eq!(both.status, Status::Warning, "{both:?}");
    assert_eq!(both.errors.len(), 1, "{both:?}");
    let tcp = &report.tcp.routers["db@test"];
    assert_eq!(tcp.status, Status::Disabled, "{tcp:?}");
    assert!(
        tcp.errors[0].to_string().contains("listens for UDP"),
        "{}",
        tcp.errors[0]
    );

    let (_, _, body) = get(&http_client(), &gateway.url("/api/entrypoints/dns"), None).await;
    let dns: serde_json::Value = serde_json::from_str(&body).unwrap();
    let address = dns["address"].as_str().unwrap();
    assert!(address.starts_with("127.0.0.1:") && address.ends_with("/udp"), "{dns}");
    let (_, _, body) = get(&http_client(), &gateway.url("/api/entrypoints/web"), None).await;
    let web: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(!web["address"].as_str().unwrap().ends_with("/udp"), "{web}");
}
