//! The canary of a change (static `canary`): recent requests routed through the live and the new
//! configuration before the swap, differences reported in the API and the log, and `hold`, which
//! keeps a configuration that moves requests out until it is confirmed or discarded through the API.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::sync::Arc;

use http::{Method, Request};
use support::{Backend, Client, PATIENCE, TestGateway, client, full, get, send, static_config, with_api};
use switchyard_config::{Canary, DynamicConfig, LoadBalancer, Router, Service, StaticConfig};
use switchyard_proxy::{CanaryReport, CanaryState};

fn canary_config(hold: bool) -> StaticConfig {
    let mut config = static_config();
    config.canary = Some(Canary { requests: 64, hold });
    config
}

/// Routers `a` (Host a.example) and `b` (Host b.example) to their backends, and the API under `/api`.
fn two_hosts(a: &Backend, b: &Backend) -> DynamicConfig {
    let mut config = DynamicConfig::default();
    for (name, backend) in [("a", a), ("b", b)] {
        config
            .http
            .routers
            .insert(name.into(), Router::new(format!("Host(`{name}.example`)"), name));
        config
            .http
            .services
            .insert(name.into(), Service::from(LoadBalancer::with_urls([backend.url()])));
    }
    with_api(&mut config);
    config
}

/// Waits for a canary report on a configuration newer than `after` in the given state.
async fn report_after(gateway: &TestGateway, after: u64, state: CanaryState) -> Arc<CanaryReport> {
    let mut reports = gateway.gateway.canary().unwrap().subscribe();
    let wait = reports.wait_for(|r| {
        r.as_ref()
            .is_some_and(|r| r.candidate_generation > after && r.state == state)
    });
    let report = tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("no {state:?} report after generation {after}"))
        .unwrap();
    Arc::clone(report.as_ref().unwrap())
}

async fn post(client: &Client, url: &str) -> (http::StatusCode, String) {
    let request = Request::builder().method(Method::POST).uri(url).body(full("")).unwrap();
    let (status, _, body) = send(client, request).await;
    (status, body)
}

#[tokio::test]
async fn requests_a_change_moves_are_reported_and_the_change_goes_live() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let gateway = TestGateway::start_with(canary_config(false), two_hosts(&a, &b)).await;
    let client = client();
    for _ in 0..3 {
        assert_eq!(get(&client, &gateway.url("/x?q=1"), Some("a.example")).await.2, "a");
    }
    for _ in 0..2 {
        assert_eq!(get(&client, &gateway.url("/y"), Some("b.example")).await.2, "b");
    }
    assert_eq!(get(&client, &gateway.url("/"), Some("c.example")).await.0, 404);
    let before = gateway.gateway.snapshot().generation();
    // `a` now takes only /other, and a router appears for c.example: 3 + 1 requests move, b's do not.
    gateway
        .reconfigure(|config| {
            config.http.routers.get_mut("a").unwrap().rule = "Host(`a.example`) && PathPrefix(`/other`)".into();
            config
                .http
                .routers
                .insert("c".into(), Router::new("Host(`c.example`)", "b"));
        })
        .await;
    let report = report_after(&gateway, before, CanaryState::Applied).await;
    assert_eq!(report.live_generation, before);
    assert_eq!(report.replayed, 6);
    assert_eq!((report.moved, report.distinct_moved), (4, 2), "{report:#?}");
    let first = &report.differences[0];
    assert_eq!(
        (first.times, first.request.host.as_str(), first.request.path.as_str()),
        (3, "a.example", "/x?q=1")
    );
    assert_eq!(first.before.router.as_deref(), Some("a@test"));
    assert_eq!(first.before.service.as_deref(), Some("a@test"));
    assert_eq!((first.after.router.as_deref(), first.after.status), (None, Some(404)));
    let second = &report.differences[1];
    assert_eq!(
        (second.before.status, second.after.router.as_deref()),
        (Some(404), Some("c@test"))
    );
    // Without `hold` the change went live.
    assert_eq!(get(&client, &gateway.url("/x?q=1"), Some("a.example")).await.0, 404);
    // The API shows the same report.
    let (status, _, body) = get(&client, &gateway.url("/api/canary"), None).await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["hold"], false);
    assert_eq!(answer["report"]["moved"], 4);
    assert_eq!(answer["report"]["state"], "applied");
    assert_eq!(answer["report"]["differences"][0]["before"]["router"], "a@test");
    assert!(answer["recorded"].as_u64().unwrap() >= 6);
}

#[tokio::test]
async fn a_held_change_waits_for_confirmation_and_a_discarded_one_stays_out() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let gateway = TestGateway::start_with(canary_config(true), two_hosts(&a, &b)).await;
    let client = client();
    assert_eq!(get(&client, &gateway.url("/x"), Some("a.example")).await.2, "a");
    let live = gateway.gateway.snapshot().generation();

    // A change that moves a.example's requests to b is held: a keeps serving them.
    gateway.handle.update(|config| {
        config.http.routers.get_mut("a").unwrap().service = "b".into();
    });
    let held = report_after(&gateway, live, CanaryState::Held).await;
    assert_eq!(held.differences[0].after.service.as_deref(), Some("b@test"));
    assert_eq!(get(&client, &gateway.url("/x"), Some("a.example")).await.2, "a");
    assert_eq!(gateway.gateway.snapshot().generation(), live);
    // Confirming another generation, or with GET, is refused.
    let wrong = format!("/api/canary/confirm?generation={}", held.candidate_generation + 7);
    let (status, body) = post(&client, &gateway.url(&wrong)).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("held configuration is generation"), "{body}");
    assert_eq!(get(&client, &gateway.url("/api/canary/confirm"), None).await.0, 405);
    // Confirmed, it goes live.
    let right = format!("/api/canary/confirm?generation={}", held.candidate_generation);
    assert_eq!(post(&client, &gateway.url(&right)).await.0, 200);
    let confirmed = gateway
        .gateway
        .wait_for(|s| s.generation() == held.candidate_generation);
    tokio::time::timeout(PATIENCE, confirmed).await.unwrap();
    assert_eq!(get(&client, &gateway.url("/x"), Some("a.example")).await.2, "b");
    assert_eq!(
        gateway.gateway.canary().unwrap().report().unwrap().state,
        CanaryState::Confirmed
    );
    assert_eq!(
        post(&client, &gateway.url("/api/canary/confirm")).await.0,
        409,
        "nothing is held now"
    );

    // A change that moves none of the recorded requests goes live at once.
    let live = gateway.gateway.snapshot().generation();
    gateway
        .reconfigure(|config| {
            config
                .http
                .routers
                .insert("d".into(), Router::new("Host(`d.example`)", "a"));
        })
        .await;
    let quiet = report_after(&gateway, live, CanaryState::Applied).await;
    assert_eq!(quiet.moved, 0);
    assert!(quiet.replayed >= 1);

    // A held change that is discarded stays out; the live configuration keeps serving.
    assert_eq!(get(&client, &gateway.url("/x"), Some("a.example")).await.2, "b");
    let live = gateway.gateway.snapshot().generation();
    gateway.handle.update(|config| {
        config.http.routers.remove("a");
    });
    let held = report_after(&gateway, live, CanaryState::Held).await;
    assert_eq!(held.differences[0].after.status, Some(404));
    assert_eq!(post(&client, &gateway.url("/api/canary/discard")).await.0, 200);
    report_after(&gateway, live, CanaryState::Discarded).await;
    assert_eq!(gateway.gateway.snapshot().generation(), live);
    assert_eq!(get(&client, &gateway.url("/x"), Some("a.example")).await.2, "b");

    // A newer configuration is checked on its own: moving the same requests again, it is held again,
    // and a still newer one supersedes it while it waits.
    gateway.handle.update(|config| {
        config
            .http
            .routers
            .insert("e".into(), Router::new("Host(`e.example`)", "a"));
    });
    let again = report_after(&gateway, held.candidate_generation, CanaryState::Held).await;
    gateway.handle.update(|config| {
        config
            .http
            .routers
            .insert("f".into(), Router::new("Host(`f.example`)", "a"));
    });
    let newest = report_after(&gateway, again.candidate_generation, CanaryState::Held).await;
    assert!(newest.candidate_generation > again.candidate_generation);
    assert_eq!(newest.live_generation, live, "held configurations never went live");
    assert_eq!(get(&client, &gateway.url("/x"), Some("a.example")).await.2, "b");
}

#[tokio::test]
async fn without_a_canary_section_the_endpoint_says_it_is_off() {
    let backend = Backend::start("a").await;
    let mut dynamic = support::route("PathPrefix(`/`)", &[backend.url()]);
    with_api(&mut dynamic);
    let gateway = TestGateway::start(dynamic).await;
    assert!(gateway.gateway.canary().is_none());
    let (status, _, body) = get(&client(), &gateway.url("/api/canary"), None).await;
    assert_eq!(status, 404);
    assert!(body.contains("no `canary` section"), "{body}");
}
