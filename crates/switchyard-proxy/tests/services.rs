//! Services over services — weighted, highestRandomWeight, mirroring, failover — with real backends.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{Backend, TestGateway, client, full, get, send, with_api};
use switchyard_config::{
    Duration as ConfigDuration, DynamicConfig, Failover, FailoverErrors, HighestRandomWeight, LoadBalancer,
    MirrorService, Mirroring, ParentHealthCheck, Router, ServerHealthCheck, Service, ServiceKind, Status, Weighted,
    WeightedService,
};
use tokio::net::TcpListener;

/// A backend answering every request with `status` and `name`.
async fn fixed(status: u16, name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(move |_req: http::Request<Incoming>| async move {
                let mut response = http::Response::new(full(name));
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A port nothing listens on.
async fn gone() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn lb(url: String) -> Service {
    Service::from(LoadBalancer::with_urls([url]))
}

fn config_with(top: ServiceKind, leaves: Vec<(&str, Service)>) -> DynamicConfig {
    let mut config = DynamicConfig::default();
    config
        .http
        .routers
        .insert("r".into(), Router::new("PathPrefix(`/`)", "top"));
    config.http.services.insert("top".into(), Service::from(top));
    for (name, service) in leaves {
        config.http.services.insert(name.into(), service);
    }
    config
}

fn child(name: &str, weight: u32) -> WeightedService {
    WeightedService {
        name: name.into(),
        weight,
    }
}

async fn counts(gateway: &TestGateway, n: usize) -> BTreeMap<String, usize> {
    let client = client();
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let (status, _, body) = get(&client, &gateway.url("/"), None).await;
        *counts.entry(format!("{status} {body}")).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn weighted_splits_exactly_by_weight() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let top = ServiceKind::Weighted(Weighted {
        services: vec![child("a", 3), child("b", 1)],
        ..Weighted::default()
    });
    let gateway = TestGateway::start(config_with(top, vec![("a", lb(a.url())), ("b", lb(b.url()))])).await;
    let counts = counts(&gateway, 400).await;
    assert_eq!(counts["200 OK a"], 300, "{counts:?}");
    assert_eq!(counts["200 OK b"], 100, "{counts:?}");
}

#[tokio::test]
async fn weighted_with_health_check_skips_a_child_without_healthy_servers() {
    let a = Backend::start("a").await;
    let gone = gone().await;
    let mut down = LoadBalancer::with_urls([gone.clone()]);
    down.health_check = Some(ServerHealthCheck {
        interval: ConfigDuration::from(Duration::from_millis(50)),
        ..ServerHealthCheck::default()
    });
    let top = ServiceKind::Weighted(Weighted {
        services: vec![child("a", 1), child("down", 1)],
        health_check: Some(ParentHealthCheck {}),
        ..Weighted::default()
    });
    let mut config = config_with(top, vec![("a", lb(a.url())), ("down", Service::from(down))]);
    with_api(&mut config);
    let gateway = TestGateway::start(config).await;
    gateway.wait_for_server_status("down@test", &gone, "DOWN").await;
    let counts = counts(&gateway, 20).await;
    assert_eq!(counts.get("200 OK a"), Some(&20), "{counts:?}");
}

#[tokio::test]
async fn highest_random_weight_keeps_a_client_on_one_child() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let top = ServiceKind::HighestRandomWeight(HighestRandomWeight {
        services: vec![child("a", 1), child("b", 1)],
        ..HighestRandomWeight::default()
    });
    let gateway = TestGateway::start(config_with(top, vec![("a", lb(a.url())), ("b", lb(b.url()))])).await;
    assert_eq!(counts(&gateway, 20).await.len(), 1);
}

#[tokio::test]
async fn mirrors_get_their_share_and_never_affect_the_client() {
    let (main, mirror) = (Backend::start("main").await, Backend::start("mirror").await);
    let top = ServiceKind::Mirroring(Mirroring {
        service: "main".into(),
        mirrors: vec![
            MirrorService {
                name: "mirror".into(),
                percent: 50,
            },
            MirrorService {
                name: "broken".into(),
                percent: 100,
            },
        ],
        ..Mirroring::default()
    });
    let leaves = vec![
        ("main", lb(main.url())),
        ("mirror", lb(mirror.url())),
        ("broken", lb(gone().await)),
    ];
    let gateway = TestGateway::start(config_with(top, leaves)).await;
    let client = client();
    for i in 0..100 {
        let request = http::Request::post(gateway.url("/echo"))
            .body(full(if i % 2 == 0 { "even" } else { "odd" }))
            .unwrap();
        let (status, _, body) = send(&client, request).await;
        let sent = if i % 2 == 0 { "even" } else { "odd" };
        assert_eq!(
            (status.as_u16(), body.as_str()),
            (200, sent),
            "the main service's answer"
        );
    }
    mirror.wait_for_requests(50).await;
    assert_eq!(main.seen().len(), 100);
    assert_eq!(mirror.seen().len(), 50, "exactly half the requests are mirrored");
    assert_eq!(mirror.last().method, "POST");
}

#[tokio::test]
async fn failover_on_a_down_main_and_on_listed_statuses() {
    let fallback = Backend::start("fallback").await;
    let failing = fixed(503, "main").await;
    let top = ServiceKind::Failover(Failover {
        service: "main".into(),
        fallback: "fallback".into(),
        errors: Some(FailoverErrors {
            status: vec!["500-599".into()],
            max_request_body_bytes: 16,
        }),
        ..Failover::default()
    });
    let leaves = vec![
        ("main", lb(format!("http://{failing}"))),
        ("fallback", lb(fallback.url())),
    ];
    let gateway = TestGateway::start(config_with(top, leaves)).await;
    let client = client();
    let request = http::Request::post(gateway.url("/echo"))
        .body(full("replayed"))
        .unwrap();
    let (status, _, body) = send(&client, request).await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "replayed"),
        "the fallback got the same body"
    );
    let request = http::Request::post(gateway.url("/echo"))
        .body(full("a body longer than sixteen bytes"))
        .unwrap();
    assert_eq!(send(&client, request).await.0, 413);

    // A main service whose servers are all down sends everything to the fallback.
    let gone = gone().await;
    let mut down = LoadBalancer::with_urls([gone.clone()]);
    down.health_check = Some(ServerHealthCheck {
        interval: ConfigDuration::from(Duration::from_millis(50)),
        ..ServerHealthCheck::default()
    });
    gateway
        .reconfigure(|c| {
            c.http.services.insert("main".into(), Service::from(down));
            if let ServiceKind::Failover(f) = &mut c.http.services.get_mut("top").unwrap().kind {
                f.errors = None;
            }
            with_api(c);
        })
        .await;
    gateway.wait_for_server_status("main@test", &gone, "DOWN").await;
    let counts = counts(&gateway, 10).await;
    assert_eq!(counts.get("200 OK fallback"), Some(&10), "{counts:?}");
}

#[tokio::test]
async fn a_parent_with_a_missing_child_is_reported() {
    let a = Backend::start("a").await;
    let top = ServiceKind::Weighted(Weighted {
        services: vec![child("a", 1), child("ghost", 1)],
        ..Weighted::default()
    });
    let gateway = TestGateway::start(config_with(top, vec![("a", lb(a.url()))])).await;
    assert_eq!(get(&client(), &gateway.url("/"), None).await.0, 404);
    let snapshot = gateway.gateway.snapshot();
    let report = &snapshot.report().services["top@test"];
    assert_eq!(report.status, Status::Disabled, "{report:?}");
}

#[tokio::test]
async fn mirrors_without_the_body_get_the_head_alone() {
    let (main, mirror) = (Backend::start("main").await, Backend::start("mirror").await);
    let top = ServiceKind::Mirroring(Mirroring {
        service: "main".into(),
        mirrors: vec![MirrorService {
            name: "mirror".into(),
            percent: 100,
        }],
        mirror_body: false,
        ..Mirroring::default()
    });
    let gateway = TestGateway::start(config_with(
        top,
        vec![("main", lb(main.url())), ("mirror", lb(mirror.url()))],
    ))
    .await;
    let request = http::Request::post(gateway.url("/echo"))
        .body(full("the body"))
        .unwrap();
    let (status, _, body) = send(&client(), request).await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "the body"),
        "the main service gets the body"
    );
    mirror.wait_for_requests(1).await;
    let seen = mirror.last();
    assert_eq!((seen.method.as_str(), seen.uri.path()), ("POST", "/echo"));
    // No length and no chunking: a request without a body (Go's transport would send a length of 0).
    assert!(
        !seen.headers.contains_key("content-length") && !seen.headers.contains_key("transfer-encoding"),
        "no header announces a body the mirror does not get: {:?}",
        seen.headers
    );
}

#[tokio::test]
async fn a_failover_whose_main_service_reports_no_health_is_refused_as_traefik_refuses_it() {
    let (main, fallback) = (Backend::start("main").await, Backend::start("fallback").await);
    let top = ServiceKind::Failover(Failover {
        service: "main".into(),
        fallback: "fallback".into(),
        ..Failover::default()
    });
    let gateway = TestGateway::start(config_with(
        top,
        vec![("main", lb(main.url())), ("fallback", lb(fallback.url()))],
    ))
    .await;
    assert_eq!(
        get(&client(), &gateway.url("/"), None).await.0,
        404,
        "its router is down"
    );
    let snapshot = gateway.gateway.snapshot();
    let report = &snapshot.report().services["top@test"];
    assert_eq!(report.status, Status::Disabled, "{report:?}");
    assert_eq!(
        report.errors[0].to_string(),
        "http.services.top@test.failover.service: cannot register main@test as updater for top@test: \
         healthCheck not enabled in config for main@test, so top@test could never fail over (give main@test \
         a healthCheck, or failover.errors)"
    );

    // With health checks on the main service it serves; a failover with `healthCheck` also needs them on
    // its fallback.
    let mut checked = LoadBalancer::with_urls([main.url()]);
    checked.health_check = Some(ServerHealthCheck::default());
    gateway
        .reconfigure(|c| {
            c.http.services.insert("main".into(), Service::from(checked));
        })
        .await;
    let (status, _, body) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "main"));
    gateway
        .reconfigure(|c| {
            if let ServiceKind::Failover(f) = &mut c.http.services.get_mut("top").unwrap().kind {
                f.health_check = Some(ParentHealthCheck {});
            }
        })
        .await;
    let snapshot = gateway.gateway.snapshot();
    assert_eq!(
        snapshot.report().services["top@test"].errors[0].to_string(),
        "http.services.top@test.failover.fallback: cannot register fallback@test as updater for top@test: \
         healthCheck not enabled in config for fallback@test, so top@test could never fail over (give \
         fallback@test a healthCheck)"
    );
}
