//! Configuration changes go live without dropping or disturbing requests.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::{Backend, TestGateway, client, get, route};
use switchyard_config::{LoadBalancer, Router, Service, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_swaps_under_load_fail_no_request() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let mut config = route("PathPrefix(`/`)", &[a.url()]);
    config
        .http
        .services
        .insert("b".into(), Service::from(LoadBalancer::with_urls([b.url()])));
    let gateway = Arc::new(TestGateway::start(config).await);

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (gateway, stop, served) = (Arc::clone(&gateway), Arc::clone(&stop), Arc::clone(&served));
        loops.push(tokio::spawn(async move {
            let client = client();
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (status, _, body) = get(&client, &gateway.url("/"), None).await;
                if status != 200 || !(body == "a" || body == "b") {
                    failures.push(format!("{status} {body}"));
                }
                served.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }
    for swap in 0..100 {
        let service = if swap % 2 == 0 { "b" } else { "s" };
        gateway
            .reconfigure(|c| c.http.routers.get_mut("r").unwrap().service = service.into())
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for handle in loops {
        failures.extend(handle.await.unwrap());
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(served.load(Ordering::Relaxed) > 200);
    assert!(
        !a.seen().is_empty() && !b.seen().is_empty(),
        "both routes were live in turn"
    );
    // The services did not change, so their pools survived every swap: four client loops never need
    // more than four connections to a backend.
    for backend in [&a, &b] {
        let peers: BTreeSet<_> = backend.seen().iter().map(|s| s.peer).collect();
        assert!(peers.len() <= 4, "{} saw {} connections", backend.name, peers.len());
    }
}

#[tokio::test]
async fn requests_in_flight_finish_on_the_snapshot_they_started_with() {
    let backend = Backend::start("old").await;
    let gateway = Arc::new(TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await);
    let held = {
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move { get(&client(), &gateway.url("/held"), None).await })
    };
    backend.wait_for_requests(1).await;
    gateway
        .reconfigure(|c| {
            c.http.routers.clear();
            c.http.services.clear();
        })
        .await;
    let (status, _, _) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!(status, 404, "the new configuration is live");
    backend.release(1);
    let (status, _, body) = held.await.unwrap();
    assert_eq!((status.as_u16(), body.as_str()), (200, "old"));
}

#[tokio::test]
async fn a_broken_router_is_reported_and_the_rest_keeps_serving() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    gateway
        .reconfigure(|c| {
            c.http
                .routers
                .insert("broken".into(), Router::new("Host(`a.example`", "s"));
            c.http
                .routers
                .insert("orphan".into(), Router::new("Path(`/x`)", "missing"));
        })
        .await;
    let snapshot = gateway.gateway.snapshot();
    let report = snapshot.report();
    let broken = &report.routers["broken@test"];
    assert_eq!(broken.status, Status::Disabled);
    assert!(
        broken.errors[0].key_path.ends_with("broken@test.rule"),
        "{:?}",
        broken.errors
    );
    assert_eq!(report.routers["orphan@test"].status, Status::Disabled);
    let (status, _, body) = get(&client(), &gateway.url("/x"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
}

#[tokio::test]
async fn what_the_proxy_cannot_run_yet_is_reported_not_served() {
    let backend = Backend::start("b").await;
    let mut config = route("PathPrefix(`/`)", &[backend.url()]);
    config
        .http
        .routers
        .insert("secure".into(), Router::new("PathPrefix(`/secure`)", "tls-backend"));
    config.http.services.insert(
        "tls-backend".into(),
        Service::from(LoadBalancer::with_urls(["https://127.0.0.1:1"])),
    );
    let gateway = TestGateway::start(config).await;
    let snapshot = gateway.gateway.snapshot();
    let service = &snapshot.report().services["tls-backend@test"];
    if cfg!(feature = "tls") {
        // With TLS built in, the HTTPS backend is served; nothing listens on its port.
        assert_eq!(service.status, Status::Enabled, "{service:?}");
        assert_eq!(get(&client(), &gateway.url("/secure"), None).await.0, 502);
        return;
    }
    assert_eq!(service.status, Status::Disabled);
    assert!(
        service.errors[0].to_string().contains("loadBalancer.servers[0].url"),
        "{}",
        service.errors[0]
    );
    assert_eq!(snapshot.report().routers["secure@test"].status, Status::Disabled);
    let (_, _, body) = get(&client(), &gateway.url("/secure"), None).await;
    assert_eq!(
        body, "b",
        "the disabled router is out of the table; the catch-all serves"
    );
}
