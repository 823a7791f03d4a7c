//! The internal API shows routers, services and middlewares with their status and errors.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use serde_json::Value;
use support::{Backend, TestGateway, client, get, route, static_config};
use switchyard_config::{Api, EntryPoint, Router};

async fn json(client: &support::Client, url: &str) -> (u16, http::HeaderMap, Value) {
    let (status, headers, body) = get(client, url, None).await;
    (
        status.as_u16(),
        headers,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn insecure_api_serves_traefik_shaped_json_on_its_own_entrypoint() {
    let backend = Backend::start("b").await;
    let mut config = static_config();
    config
        .entry_points
        .insert("traefik".into(), EntryPoint::new("127.0.0.1:0"));
    config.api = Some(Api {
        insecure: true,
        ..Api::default()
    });
    let mut dynamic = route("PathPrefix(`/`)", &[backend.url()]);
    dynamic.http.routers.get_mut("r").unwrap().entry_points = vec!["web".into()];
    dynamic
        .http
        .routers
        .insert("broken".into(), Router::new("Path(`/x`", "s"));
    let gateway = TestGateway::start_with(config, dynamic).await;
    let api = gateway.gateway.local_addr("traefik").unwrap();
    let client = client();

    let (status, headers, routers) = json(&client, &format!("http://{api}/api/http/routers")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-next-page"], "1");
    let names: Vec<&str> = routers
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api@internal", "broken@test", "r@test"]);

    let (_, _, router) = json(&client, &format!("http://{api}/api/http/routers/r@test")).await;
    assert_eq!(router["status"], "enabled");
    assert_eq!(router["service"], "s@test");
    assert_eq!(router["provider"], "test");
    assert_eq!(router["using"], serde_json::json!(["web"]));

    let (_, _, broken) = json(&client, &format!("http://{api}/api/http/routers/broken%40test")).await;
    assert_eq!(broken["status"], "disabled");
    assert_eq!(
        broken["error"],
        serde_json::json!(["http.routers.broken@test.rule: expected ',' or ')' at column 10, found end of rule"])
    );

    let (_, _, disabled) = json(&client, &format!("http://{api}/api/http/routers?status=disabled")).await;
    assert_eq!(disabled.as_array().unwrap().len(), 1);

    let (_, _, service) = json(&client, &format!("http://{api}/api/http/services/s@test")).await;
    assert_eq!(service["type"], "loadbalancer");
    assert_eq!(service["usedBy"], serde_json::json!(["broken@test", "r@test"]));
    assert_eq!(service["serverStatus"][backend.url()], "UP");

    let (_, _, overview) = json(&client, &format!("http://{api}/api/overview")).await;
    assert_eq!(overview["http"]["routers"]["total"], 3);
    assert_eq!(overview["http"]["routers"]["errors"], 1);

    let (_, headers, page) = json(&client, &format!("http://{api}/api/http/routers?per_page=2")).await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(headers["x-next-page"], "2");

    let (status, _, _) = json(&client, &format!("http://{api}/api/http/routers/nope")).await;
    assert_eq!(status, 404);
    // The API is not reachable from the web entrypoint.
    let (_, _, body) = get(&client, &gateway.url("/api/http/routers"), None).await;
    assert_eq!(body, "b");
}
