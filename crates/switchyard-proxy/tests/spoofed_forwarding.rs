//! Forwarding headers a client outside `forwardedHeaders.trustedIPs` writes itself: none reaches the
//! backend as sent, whatever its spelling or however many lines carry it, and `ipAllowList` believes
//! none of them.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use support::{Backend, TestGateway, middleware_route, raw_exchange, route, static_config_with};
use switchyard_config::{InFlightReq, IpAllowList, IpStrategy, Middleware, RateLimit, SourceCriterion};

/// Every header that would tell a backend who the client is or how it came, as a liar sends them: in
/// odd case, with `_` for `-`, repeated.
const LIES: &str = "X-Forwarded-For: 10.0.0.1\r\n\
    x-forwarded-for: 10.0.0.2\r\n\
    X_Forwarded_For: 10.0.0.3\r\n\
    X-Real-Ip: 10.0.0.4\r\n\
    X-Real_IP: 10.0.0.5\r\n\
    X-Forwarded-Host: evil.example\r\n\
    X-Forwarded-Proto: https\r\n\
    X-Forwarded-Port: 443\r\n\
    X-Forwarded-Server: evil\r\n\
    X-Forwarded-Prefix: /admin\r\n\
    X-Forwarded-Uri: /admin\r\n\
    X-Forwarded-Method: DELETE\r\n\
    X-Forwarded-Tls-Client-Cert: MIIB\r\n\
    X-Forwarded-Tls-Client-Cert-Info: Subject%3D%22CN%3Dadmin%22\r\n\
    Forwarded: for=10.0.0.6;proto=https;host=evil.example\r\n\
    forwarded: for=10.0.0.7\r\n";

fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: app.example\r\n{LIES}Connection: close\r\n\r\n")
}

#[tokio::test]
async fn an_untrusted_clients_forwarding_headers_never_reach_the_backend() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let response = raw_exchange(gateway.addr, request("/").as_bytes()).await;
    assert_eq!(response.status, 200, "{}", response.head);
    let seen = backend.last().headers;
    let values = |name: &str| -> Vec<_> { seen.get_all(name).iter().map(|v| v.to_str().unwrap()).collect() };
    assert_eq!(values("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(values("x-real-ip"), ["127.0.0.1"]);
    assert_eq!(values("x-forwarded-host"), ["app.example"]);
    assert_eq!(values("x-forwarded-proto"), ["http"]);
    assert_eq!(values("x-forwarded-port"), ["80"]);
    for gone in [
        "x_forwarded_for",
        "x-real_ip",
        "x-forwarded-prefix",
        "x-forwarded-uri",
        "x-forwarded-method",
        "x-forwarded-tls-client-cert",
        "x-forwarded-tls-client-cert-info",
        "forwarded",
    ] {
        assert_eq!(values(gone), Vec::<&str>::new(), "{gone} reached the backend");
    }
    let server = values("x-forwarded-server");
    assert!(!server.contains(&"evil"), "{server:?}");
}

#[tokio::test]
async fn a_trusted_peers_forwarded_header_is_kept() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| web.forwarded_headers.trusted_ips = vec!["127.0.0.1/32".into()]);
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;
    let sent = "GET / HTTP/1.1\r\nHost: a\r\nForwarded: for=192.0.2.1;proto=https\r\nConnection: close\r\n\r\n";
    let response = raw_exchange(gateway.addr, sent.as_bytes()).await;
    assert_eq!(response.status, 200);
    assert_eq!(backend.last().headers["forwarded"], "for=192.0.2.1;proto=https");
}

#[tokio::test]
async fn ip_allow_list_keeps_a_denied_client_out_whatever_it_claims() {
    let backend = Backend::start("b").await;
    let strategies = [
        ("peer", None),
        (
            "depth",
            Some(IpStrategy {
                depth: 1,
                ..IpStrategy::default()
            }),
        ),
        (
            "excluded",
            Some(IpStrategy {
                excluded_ips: vec!["192.0.2.0/24".into()],
                ..IpStrategy::default()
            }),
        ),
    ];
    for (name, ip_strategy) in strategies {
        let allow = IpAllowList {
            source_range: vec!["10.0.0.0/8".into()],
            ip_strategy,
            ..IpAllowList::default()
        };
        let config = middleware_route(
            "PathPrefix(`/`)",
            &[backend.url()],
            vec![("allow", Middleware::IpAllowList(allow))],
        );
        let gateway = TestGateway::start(config).await;
        let response = raw_exchange(gateway.addr, request("/").as_bytes()).await;
        assert_eq!(response.status, 403, "{name}: {}", response.head);
        gateway.gateway.shutdown().await;
    }
    assert!(backend.seen().is_empty(), "a denied client reached the backend");
}

/// A request claiming, in every forwarding header, to come from `claimed`.
fn claiming(path: &str, claimed: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: app.example\r\nX-Forwarded-For: {claimed}\r\nX-Real-Ip: {claimed}\r\n\
         Forwarded: for={claimed}\r\nConnection: close\r\n\r\n"
    )
}

/// The client-address criteria a limit may be configured with: the peer, or `X-Forwarded-For` by
/// depth or by excluded networks, which an untrusted client must not be able to feed.
fn by_address() -> Vec<(&'static str, SourceCriterion)> {
    let strategy = |ip_strategy| SourceCriterion {
        ip_strategy: Some(ip_strategy),
        ..SourceCriterion::default()
    };
    vec![
        ("peer", strategy(IpStrategy::default())),
        (
            "depth",
            strategy(IpStrategy {
                depth: 1,
                ..IpStrategy::default()
            }),
        ),
        (
            "excluded",
            strategy(IpStrategy {
                excluded_ips: vec!["192.0.2.0/24".into()],
                ..IpStrategy::default()
            }),
        ),
    ]
}

#[tokio::test]
async fn rate_limit_counts_an_untrusted_client_as_one_source_whatever_it_claims() {
    let backend = Backend::start("b").await;
    for (name, criterion) in by_address() {
        let limit = RateLimit {
            average: 1,
            period: switchyard_config::Duration::from_secs(60),
            burst: 2,
            source_criterion: Some(criterion),
            ..RateLimit::default()
        };
        let config = middleware_route(
            "PathPrefix(`/`)",
            &[backend.url()],
            vec![("limit", Middleware::RateLimit(limit))],
        );
        let gateway = TestGateway::start(config).await;
        let mut statuses = Vec::new();
        for i in 0..5 {
            let response = raw_exchange(gateway.addr, claiming("/", &format!("10.0.0.{}", i + 1)).as_bytes()).await;
            statuses.push(response.status);
        }
        assert_eq!(
            statuses,
            [200, 200, 429, 429, 429],
            "{name}: a new claimed address is not a new bucket"
        );
        gateway.gateway.shutdown().await;
    }
}

#[tokio::test]
async fn in_flight_requests_count_an_untrusted_client_as_one_source_whatever_it_claims() {
    let backend = Backend::start("b").await;
    for (name, criterion) in by_address() {
        let limit = InFlightReq {
            amount: 1,
            source_criterion: Some(criterion),
        };
        let config = middleware_route(
            "PathPrefix(`/`)",
            &[backend.url()],
            vec![("flight", Middleware::InFlightReq(limit))],
        );
        let gateway = TestGateway::start(config).await;
        let before = backend.seen().len();
        let addr = gateway.addr;
        let held = tokio::spawn(async move { raw_exchange(addr, claiming("/held", "10.0.0.1").as_bytes()).await });
        backend.wait_for_requests(before + 1).await;
        let second = raw_exchange(gateway.addr, claiming("/", "10.0.0.2").as_bytes()).await;
        assert_eq!(
            second.status, 429,
            "{name}: another claimed address is not another source"
        );
        backend.release(1);
        assert_eq!(held.await.unwrap().status, 200);
        gateway.gateway.shutdown().await;
    }
}
