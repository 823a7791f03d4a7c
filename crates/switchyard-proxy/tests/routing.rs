//! Requests reach the backend their rule selects; what no rule selects gets Traefik's 404.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use support::{Backend, TestGateway, client, get, route};
use switchyard_config::{LoadBalancer, Router, Service};

#[tokio::test]
async fn routes_by_host_and_path_and_answers_404_otherwise() {
    let api = Backend::start("api").await;
    let web = Backend::start("web").await;
    let mut config = route("Host(`example.com`) && PathPrefix(`/api`)", &[api.url()]);
    config
        .http
        .routers
        .insert("web".into(), Router::new("Host(`example.com`)", "web"));
    config
        .http
        .services
        .insert("web".into(), Service::from(LoadBalancer::with_urls([web.url()])));
    let gateway = TestGateway::start(config).await;
    let client = client();

    let (status, _, body) = get(&client, &gateway.url("/api/users"), Some("example.com")).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "api"));
    let (status, _, body) = get(&client, &gateway.url("/index.html"), Some("EXAMPLE.com:80")).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "web"));
    let (status, headers, body) = get(&client, &gateway.url("/api"), Some("other.org")).await;
    assert_eq!((status.as_u16(), body.as_str()), (404, "404 page not found\n"));
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");

    assert_eq!(api.last().uri.path(), "/api/users");
    assert_eq!(web.seen().len(), 1);
}

#[tokio::test]
async fn explicit_priority_beats_rule_length() {
    let short = Backend::start("short").await;
    let long = Backend::start("long").await;
    let mut config = route("PathPrefix(`/`)", &[short.url()]);
    config.http.routers.get_mut("r").unwrap().priority = 1000;
    config
        .http
        .routers
        .insert("long".into(), Router::new("PathPrefix(`/a`) && Method(`GET`)", "long"));
    config
        .http
        .services
        .insert("long".into(), Service::from(LoadBalancer::with_urls([long.url()])));
    let gateway = TestGateway::start(config).await;
    let (_, _, body) = get(&client(), &gateway.url("/a"), None).await;
    assert_eq!(body, "short");
}

#[tokio::test]
async fn undecodable_paths_are_bad_requests() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let (status, _, body) = get(&client(), &gateway.url("/bad%zzpath"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (400, "Bad Request"));
    assert!(backend.seen().is_empty());
}

#[tokio::test]
async fn weighted_servers_share_requests_by_weight_and_weight_zero_gets_none() {
    let heavy = Backend::start("heavy").await;
    let light = Backend::start("light").await;
    let idle = Backend::start("idle").await;
    let mut config = route("PathPrefix(`/`)", &[heavy.url(), light.url(), idle.url()]);
    if let switchyard_config::ServiceKind::LoadBalancer(lb) = &mut config.http.services.get_mut("s").unwrap().kind {
        lb.servers[0].weight = Some(3);
        lb.servers[1].weight = Some(1);
        lb.servers[2].weight = Some(0);
    }
    let gateway = TestGateway::start(config).await;
    let client = client();
    for _ in 0..40 {
        get(&client, &gateway.url("/"), None).await;
    }
    assert_eq!((heavy.seen().len(), light.seen().len(), idle.seen().len()), (30, 10, 0));
}
