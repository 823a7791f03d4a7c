//! UDP routing through the real gateway: sessions keyed by client address, weighted services, the
//! session timeout, and reloads that leave open sessions on their server. Real sockets on loopback.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{PATIENCE, TestGateway, static_config};
use switchyard_config::{
    Duration as ConfigDuration, DynamicConfig, EntryPoint, EntryPointUdp, StaticConfig, UdpRouter, UdpService,
    UdpWeighted, WeightedService,
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
    config
        .udp
        .services
        .insert("dns".into(), UdpService::with_addresses([old.to_string()]));
    config.udp.routers.insert("dns".into(), UdpRouter::new("dns"));
    let (gateway, addr) = start(config, ConfigDuration::from_secs(10)).await;
    let established = client().await;
    assert_eq!(ask(&established, addr, "x").await, "old:x");
    gateway
        .reconfigure(|config| {
            config
                .udp
                .services
                .insert("dns".into(), UdpService::with_addresses([new.to_string()]));
        })
        .await;
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
