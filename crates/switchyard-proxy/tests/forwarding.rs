//! What a backend receives: forwarding headers as Traefik sets them, no hop-by-hop headers, the host
//! and path it is configured for.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use http::Request;
use support::{Backend, TestGateway, client, full, get, route, send, static_config_with};
use switchyard_config::ServiceKind;

fn load_balancer(config: &mut switchyard_config::DynamicConfig) -> &mut switchyard_config::LoadBalancer {
    match &mut config.http.services.get_mut("s").unwrap().kind {
        ServiceKind::LoadBalancer(lb) => lb,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn untrusted_clients_cannot_forge_forwarded_headers() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let request = Request::get(gateway.url("/x"))
        .header("host", "app.example:8443")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-real-ip", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x_forwarded_host", "evil.example")
        .header("x-forwarded-server", "evil")
        .body(full(""))
        .unwrap();
    let (status, _, _) = send(&client(), request).await;
    assert_eq!(status, 200);
    let seen = backend.last().headers;
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-real-ip"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"], "app.example:8443");
    assert_eq!(seen["x-forwarded-port"], "8443");
    assert!(!seen.contains_key("x_forwarded_host"));
    // The gateway's host name, as Go's os.Hostname reads it on Linux.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(seen["x-forwarded-server"], hostname.trim());
    assert_eq!(seen["host"], "app.example:8443", "passHostHeader is on by default");
}

#[tokio::test]
async fn trusted_peers_extend_the_forwarded_chain() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| web.forwarded_headers.trusted_ips = vec!["127.0.0.0/8".into()]);
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;
    let request = Request::get(gateway.url("/"))
        .header("host", "app.example")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .body(full(""))
        .unwrap();
    send(&client(), request).await;
    let seen = backend.last().headers;
    assert_eq!(seen["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "https");
    assert_eq!(
        seen["x-forwarded-port"], "443",
        "no port in Host: the trusted protocol's default"
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let request = Request::get(gateway.url("/"))
        .header("connection", "x-private, X-Forwarded-For")
        .header("x-private", "secret")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("te", "trailers")
        .body(full(""))
        .unwrap();
    let (_, headers, _) = send(&client(), request).await;
    let seen = backend.last().headers;
    assert!(!seen.contains_key("x-private"));
    assert!(!seen.contains_key("proxy-authorization"));
    assert_eq!(seen["te"], "trailers");
    assert_eq!(
        seen["x-forwarded-for"], "127.0.0.1",
        "naming it in Connection must not strip it"
    );
    // The backend's own hop-by-hop headers stop at the proxy.
    assert!(!headers.contains_key("x-hop"));
    assert!(!headers.contains_key("keep-alive"));
    assert_eq!(headers["x-backend"], "b");
}

#[tokio::test]
async fn pass_host_header_off_sends_the_server_host() {
    let backend = Backend::start("b").await;
    let mut config = route("PathPrefix(`/`)", &[backend.url()]);
    load_balancer(&mut config).pass_host_header = false;
    let gateway = TestGateway::start(config).await;
    get(&client(), &gateway.url("/"), Some("public.example")).await;
    let seen = backend.last().headers;
    assert_eq!(seen["host"], backend.addr.to_string().as_str());
    assert_eq!(seen["x-forwarded-host"], "public.example");
}

#[tokio::test]
async fn preserve_path_prefixes_the_server_path_and_queries_survive() {
    let backend = Backend::start("b").await;
    let mut config = route("PathPrefix(`/`)", &[format!("{}/base/", backend.url())]);
    load_balancer(&mut config).servers[0].preserve_path = true;
    config.http.routers.insert(
        "plain".into(),
        switchyard_config::Router::new("PathPrefix(`/plain`)", "plain"),
    );
    config.http.services.insert(
        "plain".into(),
        switchyard_config::Service::from(switchyard_config::LoadBalancer::with_urls([format!(
            "{}/ignored",
            backend.url()
        )])),
    );
    let gateway = TestGateway::start(config).await;
    let client = client();
    get(&client, &gateway.url("/x/y?a=1;b=2"), None).await;
    assert_eq!(backend.last().uri, "/base/x/y?a=1&b=2");
    get(&client, &gateway.url("/plain/%3Akeep?q=%20"), None).await;
    assert_eq!(
        backend.last().uri,
        "/plain/%3Akeep?q=%20",
        "without preservePath the server path is ignored"
    );
}

#[tokio::test]
async fn backend_connections_are_reused() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let client = client();
    for _ in 0..20 {
        get(&client, &gateway.url("/"), None).await;
    }
    let peers: std::collections::BTreeSet<_> = backend.seen().iter().map(|s| s.peer).collect();
    assert_eq!(peers.len(), 1, "sequential requests share one pooled connection");
}
