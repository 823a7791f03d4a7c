//! Middleware stacks through the proxy: order, chains, service middlewares, plugins, bad options, and
//! state kept across reloads.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderValue;
use serde::Deserialize;
use support::{Backend, TestGateway, client, get, middleware_route, static_config};
use switchyard_config::{Chain, Middleware, ReplacePathRegex, Router, Status, StripPrefix};
use switchyard_middleware::{HttpService, MiddlewareLayer, Plugins};
use tower::ServiceExt;
use tower::layer::layer_fn;

#[derive(Deserialize)]
struct Tag {
    value: String,
}

/// A plugin that appends its value to the request's `x-order` header, and counts how often it is built.
fn tagging(builds: Arc<AtomicUsize>) -> Plugins {
    Plugins::new().with_typed("tag", move |tag: Tag| {
        builds.fetch_add(1, Ordering::SeqCst);
        let value = HeaderValue::from_str(&tag.value)?;
        Ok(MiddlewareLayer::new(layer_fn(move |inner: HttpService| {
            let value = value.clone();
            HttpService::new(inner.map_request(move |mut req: http::Request<_>| {
                req.headers_mut().append("x-order", value.clone());
                req
            }))
        })))
    })
}

fn tag(value: &str) -> Middleware {
    let mut plugin = std::collections::BTreeMap::new();
    plugin.insert("tag".to_owned(), serde_json::json!({ "value": value }));
    Middleware::Plugin(plugin)
}

fn chain(members: &[&str]) -> Middleware {
    Middleware::Chain(Chain {
        middlewares: members.iter().map(|m| format!("{m}@test")).collect(),
    })
}

async fn start(config: switchyard_config::DynamicConfig, builds: &Arc<AtomicUsize>) -> TestGateway {
    let plugins = tagging(Arc::clone(builds));
    TestGateway::start_built(static_config(), config, |gateway| gateway.plugins(plugins)).await
}

fn order(backend: &Backend) -> Vec<String> {
    let seen = backend.last();
    seen.headers
        .get_all("x-order")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn router_middlewares_then_chains_then_service_middlewares_apply_in_order() {
    let backend = Backend::start("b").await;
    let mut config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("one", tag("1")), ("outer", chain(&["two", "inner"]))],
    );
    let middlewares = &mut config.http.middlewares;
    middlewares.insert("two".into(), tag("2"));
    middlewares.insert("inner".into(), chain(&["three", "four"]));
    middlewares.insert("three".into(), tag("3"));
    middlewares.insert("four".into(), tag("4"));
    middlewares.insert("five".into(), tag("5"));
    config.http.services.get_mut("s").unwrap().middlewares = vec!["five".into()];
    let builds = Arc::new(AtomicUsize::new(0));
    let gateway = start(config, &builds).await;

    let (status, _, _) = get(&client(), &gateway.url("/"), None).await;
    assert_eq!(status, 200, "{:#?}", gateway.gateway.snapshot().report());
    assert_eq!(order(&backend), ["1", "2", "3", "4", "5"]);
}

#[tokio::test]
async fn a_middleware_with_bad_options_is_reported_and_the_rest_keeps_serving() {
    let backend = Backend::start("b").await;
    let broken = Middleware::ReplacePathRegex(ReplacePathRegex {
        regex: "(unclosed".into(),
        replacement: "/".into(),
    });
    let mut config = middleware_route("PathPrefix(`/broken`)", &[backend.url()], vec![("broken", broken)]);
    config
        .http
        .routers
        .insert("ok".into(), Router::new("PathPrefix(`/ok`)", "s"));
    config.http.middlewares.insert("ghost".into(), tag("x"));
    let mut with_ghost = Router::new("PathPrefix(`/ghost`)", "s");
    with_ghost.middlewares = vec!["ghost".into()];
    config.http.routers.insert("ghost".into(), with_ghost);
    // No plugins registered: `ghost` names an unknown plugin.
    let gateway = TestGateway::start(config).await;

    let client = client();
    assert_eq!(get(&client, &gateway.url("/ok"), None).await.0, 200);
    assert_eq!(get(&client, &gateway.url("/broken"), None).await.0, 404);
    assert_eq!(get(&client, &gateway.url("/ghost"), None).await.0, 404);

    let snapshot = gateway.gateway.snapshot();
    let report = snapshot.report();
    let broken = &report.middlewares["broken@test"];
    assert_eq!(broken.status, Status::Disabled);
    assert_eq!(
        broken.errors[0].key_path,
        "http.middlewares.broken@test.replacePathRegex.regex"
    );
    assert_eq!(
        broken.errors[0].to_string(),
        "http.middlewares.broken@test.replacePathRegex.regex: invalid regular expression: regex parse error:\n    (unclosed\n    ^\nerror: unclosed group"
    );
    let ghost = &report.middlewares["ghost@test"];
    assert_eq!(
        ghost.errors[0].to_string(),
        "http.middlewares.ghost@test.plugin: no middleware plugin named `tag` is registered"
    );
    let router = &report.routers["r@test"];
    assert_eq!(router.status, Status::Disabled);
    assert_eq!(router.errors[0].key_path, "http.routers.r@test.middlewares[0]");
}

#[tokio::test]
async fn unchanged_middlewares_are_not_rebuilt_on_reload() {
    let backend = Backend::start("b").await;
    let config = middleware_route("PathPrefix(`/`)", &[backend.url()], vec![("t", tag("1"))]);
    let builds = Arc::new(AtomicUsize::new(0));
    let gateway = start(config, &builds).await;
    assert_eq!(builds.load(Ordering::SeqCst), 1);

    gateway
        .reconfigure(|c| {
            c.http
                .routers
                .insert("other".into(), Router::new("Path(`/other`)", "s"));
        })
        .await;
    assert_eq!(
        builds.load(Ordering::SeqCst),
        1,
        "an unrelated change keeps the built layer"
    );

    gateway
        .reconfigure(|c| {
            c.http.middlewares.insert("t".into(), tag("2"));
        })
        .await;
    assert_eq!(builds.load(Ordering::SeqCst), 2);
    get(&client(), &gateway.url("/"), None).await;
    assert_eq!(order(&backend), ["2"]);
}

#[tokio::test]
async fn the_internal_api_can_sit_behind_middlewares() {
    let mut config = switchyard_config::DynamicConfig::default();
    let mut router = Router::new("PathPrefix(`/admin`)", switchyard_proxy::API_SERVICE);
    router.middlewares = vec!["strip".into()];
    config.http.routers.insert("admin".into(), router);
    config.http.middlewares.insert(
        "strip".into(),
        Middleware::StripPrefix(StripPrefix {
            prefixes: vec!["/admin".into()],
            ..StripPrefix::default()
        }),
    );
    let gateway = TestGateway::start(config).await;
    let (status, _, body) = get(&client(), &gateway.url("/admin/api/http/routers/admin@test"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"middlewares\":[\"strip@test\"]"), "{body}");
}

#[tokio::test]
async fn entrypoint_middlewares_come_first_on_that_entrypoint() {
    let backend = Backend::start("b").await;
    let mut config = middleware_route("PathPrefix(`/`)", &[backend.url()], vec![("router-tag", tag("router"))]);
    config.http.middlewares.insert("ep-tag".into(), tag("entrypoint"));
    let static_config = support::static_config_with(|web| web.http.middlewares = vec!["ep-tag".into()]);
    let builds = Arc::new(AtomicUsize::new(0));
    let plugins = tagging(Arc::clone(&builds));
    let gateway = TestGateway::start_built(static_config, config, |g| g.plugins(plugins)).await;
    get(&client(), &gateway.url("/"), None).await;
    assert_eq!(order(&backend), ["entrypoint", "router"]);

    // A missing entrypoint middleware takes the router down, with a report that says why.
    gateway.reconfigure(|c| drop(c.http.middlewares.remove("ep-tag"))).await;
    assert_eq!(get(&client(), &gateway.url("/"), None).await.0, 404);
    let snapshot = gateway.gateway.snapshot();
    let router = &snapshot.report().routers["r@test"];
    assert_eq!(router.status, Status::Disabled);
    assert_eq!(
        router.errors[0].to_string(),
        "http.routers.r@test.entryPoints: middleware `ep-tag@test` from the entrypoint's http.middlewares[0] does not exist or is disabled"
    );
}
