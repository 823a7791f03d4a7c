//! `/api/explain` and `Snapshot::explain` tell, from the live configuration and without sending
//! anything, which router takes a request and why, which routers lose, the middlewares, the service
//! and the server; routers no request can reach are warned about in the report and the API.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestGateway, client, get, static_config};
use switchyard_config::{
    Api, DynamicConfig, EntryPoint, LoadBalancer, Middleware, Router, Service, Status, StripPrefix,
};
use switchyard_proxy::ExplainRequest;

/// `web` and the API's `traefik` entrypoint; an API router, a site, a shadowed router and a regexp.
async fn gateway(backend: &Backend) -> TestGateway {
    let mut config = static_config();
    config
        .entry_points
        .insert("traefik".into(), EntryPoint::new("127.0.0.1:0"));
    config.api = Some(Api {
        insecure: true,
        ..Api::default()
    });
    let mut dynamic = DynamicConfig::default();
    let mut api = Router::new("Host(`example.com`) && PathPrefix(`/api`)", "s");
    api.priority = 100;
    api.middlewares = vec!["strip".into()];
    api.entry_points = vec!["web".into()];
    let mut shadowed = Router::new("Host(`example.com`) && PathPrefix(`/api/v1`) && Method(`GET`)", "s");
    shadowed.priority = 10;
    let mut regexp = Router::new("PathRegexp(`^/static/`)", "s");
    regexp.priority = 50;
    let mut images = Router::new("PathPrefix(`/static/img`)", "s");
    images.priority = 5;
    for (name, router) in [
        ("api", api),
        ("site", Router::new("Host(`example.com`)", "s")),
        ("shadowed", shadowed),
        ("regexp", regexp),
        ("images", images),
    ] {
        dynamic.http.routers.insert(name.into(), router);
    }
    dynamic
        .http
        .services
        .insert("s".into(), Service::from(LoadBalancer::with_urls([backend.url()])));
    let strip = StripPrefix {
        prefixes: vec!["/api".into()],
        ..StripPrefix::default()
    };
    dynamic
        .http
        .middlewares
        .insert("strip".into(), Middleware::StripPrefix(strip));
    TestGateway::start_with(config, dynamic).await
}

async fn explain(gateway: &TestGateway, query: &str) -> (u16, Value) {
    let api = gateway.gateway.local_addr("traefik").unwrap();
    let (status, _, body) = get(&client(), &format!("http://{api}/api/explain?{query}"), None).await;
    (status.as_u16(), serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The names of the routers an explanation lists as matching too and losing.
fn loser_names(answer: &Value) -> Vec<&str> {
    answer["losers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn explains_the_winner_the_losers_the_chain_and_the_server_without_sending() {
    let backend = Backend::start("b").await;
    let gateway = gateway(&backend).await;

    let (status, answer) = explain(
        &gateway,
        "entryPoint=web&url=http://example.com/a/../api/users%3Fpage%3D2&method=GET",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entryPoint"], "web");
    // The entrypoint's cleaning happened first: routers matched the sanitized path.
    assert_eq!(answer["path"], "/api/users?page=2");
    assert_eq!(answer["router"]["name"], "api@test");
    assert_eq!(answer["router"]["priority"], 100);
    assert_eq!(
        answer["router"]["matched"],
        json!(["Host(`example.com`)", "PathPrefix(`/api`)"])
    );
    let losers = loser_names(&answer);
    assert_eq!(losers, ["site@test"]);
    assert_eq!(answer["middlewares"], json!(["strip@test"]));
    assert_eq!(answer["service"]["name"], "s@test");
    assert_eq!(answer["service"]["kind"], "loadBalancer");
    assert_eq!(
        answer["service"]["servers"],
        json!([{ "url": backend.url(), "up": true }])
    );
    assert_eq!(answer["server"], backend.url());
    assert_eq!(answer["refused"], Value::Null);
    assert!(backend.seen().is_empty(), "explaining sends nothing");

    // The same request, sent for real, goes where the explanation said (stripped by the middleware).
    let (status, _, body) = get(&client(), &gateway.url("/api/users"), Some("example.com")).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
    assert_eq!(backend.last().uri.path(), "/users");

    // The library call gives the same answer.
    let request = ExplainRequest::new("GET", "http://example.com/a/../api/users?page=2")
        .unwrap()
        .entry_point("web");
    let explanation = gateway.gateway.snapshot().explain(&request).unwrap();
    assert_eq!(serde_json::to_value(&explanation).unwrap(), answer);
}

#[tokio::test]
async fn explains_refusals_and_bad_descriptions() {
    let backend = Backend::start("b").await;
    let gateway = gateway(&backend).await;

    let (status, answer) = explain(&gateway, "entryPoint=web&host=other.org&path=/nothing").await;
    assert_eq!(status, 200);
    assert_eq!(answer["router"], Value::Null);
    assert_eq!(
        answer["refused"],
        json!({ "status": 404, "reason": "no router matches" })
    );

    // Routers limited to a method lose on the others: `shadowed` matches a GET, never a POST.
    let (_, answer) = explain(&gateway, "entryPoint=web&method=POST&url=http://example.com/api/v1").await;
    let losers = loser_names(&answer);
    assert_eq!(losers, ["site@test"]);
    let (_, answer) = explain(
        &gateway,
        "entryPoint=web&url=http://example.com/api/v1&header=X-Env:%20prod",
    )
    .await;
    let losers = loser_names(&answer);
    assert_eq!(losers, ["site@test", "shadowed@test"]);

    // Refused before routing: no router is named.
    let (_, answer) = explain(&gateway, "entryPoint=web&url=http://example.com/..%3B/api/x").await;
    assert_eq!(answer["refused"]["status"], 400, "{answer}");
    assert_eq!(answer["router"], Value::Null);
    assert_eq!(answer["losers"], json!([]));

    let (status, answer) = explain(&gateway, "entryPoint=nope&path=/").await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "no HTTP entrypoint is named `nope`");
    let (status, answer) = explain(&gateway, "path=/").await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "name the entrypoint: one of `traefik`, `web`");
    let (status, _) = explain(&gateway, "entryPoint=web&clientIP=nowhere").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unreachable_routers_are_warned_about_in_the_report_and_the_api() {
    let backend = Backend::start("b").await;
    let gateway = gateway(&backend).await;

    let snapshot = gateway.gateway.snapshot();
    let report = &snapshot.report().routers;
    assert_eq!(report["shadowed@test"].status, Status::Warning);
    assert_eq!(
        report["shadowed@test"].errors[0].to_string(),
        "http.routers.shadowed@test.rule: unreachable on entrypoint `web`: every request the rule matches goes first to `api@test` (priority 100)"
    );
    assert_eq!(report["images@test"].status, Status::Warning);
    assert!(
        report["images@test"].errors[0]
            .to_string()
            .contains("may be shadowed on entrypoint `web`: `regexp@test` (priority 50)"),
        "{}",
        report["images@test"].errors[0]
    );
    for live in ["api@test", "site@test", "regexp@test"] {
        assert_eq!(report[live].status, Status::Enabled, "{live}");
    }

    let api = gateway.gateway.local_addr("traefik").unwrap();
    let (_, _, body) = get(&client(), &format!("http://{api}/api/http/routers/shadowed@test"), None).await;
    let router: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(router["status"], "warning");
    assert!(
        router["error"][0]
            .as_str()
            .unwrap()
            .contains("unreachable on entrypoint `web`")
    );
    // A warning only: the router is still live (its requests go to the router before it).
    assert_eq!(gateway.gateway.snapshot().route_count("web").plain, 5);
}

#[tokio::test]
async fn routers_behind_an_entrypoint_redirection_are_not_warned_about() {
    let backend = Backend::start("b").await;
    let mut config = support::static_config_with(|web| {
        web.http.redirections = Some(switchyard_config::Redirections {
            entry_point: Some(switchyard_config::RedirectEntryPoint {
                to: "websecure".into(),
                ..switchyard_config::RedirectEntryPoint::default()
            }),
        });
    });
    config
        .entry_points
        .insert("websecure".into(), EntryPoint::new("127.0.0.1:0"));
    // On both entrypoints: on `web` the redirection takes all its requests, as asked.
    let gateway = TestGateway::start_with(config, support::route("Host(`site.test`)", &[backend.url()])).await;
    let snapshot = gateway.gateway.snapshot();
    let router = &snapshot.report().routers["r@test"];
    assert_eq!(router.status, Status::Enabled, "{router:?}");
    let explanation = snapshot
        .explain(
            &ExplainRequest::new("GET", "http://site.test/")
                .unwrap()
                .entry_point("web"),
        )
        .unwrap();
    assert_eq!(explanation.router.unwrap().name, "web-to-websecure@internal");
    assert_eq!(explanation.losers[0].name, "r@test");
    assert_eq!(explanation.middlewares, ["redirect-web-to-websecure@internal"]);
}

#[tokio::test]
async fn tls_requests_are_explained_against_the_tls_routers() {
    let backend = Backend::start("b").await;
    let mut dynamic = support::route("Host(`secure.test`)", &[backend.url()]);
    dynamic.http.routers.get_mut("r").unwrap().tls = Some(switchyard_config::RouterTls::default());
    let gateway = TestGateway::start(dynamic).await;
    let snapshot = gateway.gateway.snapshot();

    let over_tls = snapshot
        .explain(&ExplainRequest::new("GET", "https://secure.test/").unwrap())
        .unwrap();
    assert!(over_tls.tls);
    assert_eq!(over_tls.router.unwrap().name, "r@test");
    assert_eq!(over_tls.refused, None);
    // The same request in plain HTTP: the router serves TLS connections only.
    let plain = snapshot
        .explain(&ExplainRequest::new("GET", "http://secure.test/").unwrap())
        .unwrap();
    assert!(plain.router.is_none());
    assert_eq!(plain.refused.unwrap().status, 404);
}
