//! The examples of extension points, run: each example's logic is its `run` function, which its
//! `main` prints and these tests check.

// Each example file is included whole; its `main` is for `cargo run --example` and unused here.
#[allow(dead_code)]
#[path = "../middleware_layers.rs"]
mod middleware_layers;

#[allow(dead_code)]
#[path = "../plugin_middleware.rs"]
mod plugin_middleware;

#[allow(dead_code)]
#[path = "../extend_gateway.rs"]
mod extend_gateway;

#[allow(dead_code)]
#[path = "../embed_axum.rs"]
mod embed_axum;

#[allow(dead_code)]
#[path = "../explain_rule.rs"]
mod explain_rule;

#[tokio::test]
async fn explain_rule_tells_winners_losers_servers_and_shadowed_routers() {
    let demo = explain_rule::run().await.unwrap();
    assert_eq!(demo.warnings.len(), 2, "{:?}", demo.warnings);
    assert_eq!(
        demo.warnings[0],
        "http.routers.images@demo.rule: may be shadowed on entrypoint `web`: `assets@demo` (priority 40) may take every request the rule matches (its regexp or path template could only be compared by its literal prefix)"
    );
    assert_eq!(
        demo.warnings[1],
        "http.routers.orders@demo.rule: unreachable on entrypoint `web`: every request the rule matches goes first to `api@demo` (priority 100)"
    );

    let [orders, cart, logo, other] = &demo.explanations[..] else {
        panic!("four explanations, got {:?}", demo.explanations);
    };
    let router = orders.router.as_ref().unwrap();
    assert_eq!((router.name.as_str(), router.priority), ("api@demo", 100));
    assert_eq!(router.matched, ["Host(`shop.example`)", "PathPrefix(`/api`)"]);
    let losers: Vec<&str> = orders.losers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(losers, ["orders@demo", "site@demo"]);
    assert_eq!(orders.middlewares, ["strip-api@demo"]);
    assert_eq!(orders.server.as_deref(), Some("http://10.0.0.1:8080"));

    assert_eq!(cart.router.as_ref().unwrap().name, "site@demo");
    assert_eq!(cart.service.as_ref().unwrap().servers.len(), 2);
    assert_eq!(cart.server, None);

    assert_eq!(logo.router.as_ref().unwrap().name, "assets@demo");
    assert_eq!(logo.losers[0].name, "images@demo");
    assert_eq!(logo.server.as_deref(), Some("http://10.0.0.9:80"));

    assert!(other.router.is_none());
    assert_eq!(other.refused.as_ref().unwrap().status, 404);
}

#[tokio::test]
async fn middleware_layers_shape_and_refuse_requests_as_their_configuration_says() {
    let exchanges = middleware_layers::run().await.unwrap();
    let answers: Vec<_> = exchanges.iter().map(|e| (e.status.as_u16(), e.body.as_str())).collect();
    assert_eq!(
        answers,
        [
            (
                200,
                "orders got /orders?page=2; x-forwarded-prefix: /api; x-user: alice; x-tenant: acme"
            ),
            (401, "401 Unauthorized"),
            (403, "Forbidden"),
            (400, "Bad Request"),
        ]
    );
}

#[tokio::test]
async fn plugin_middleware_runs_registered_plugins_and_reports_the_missing_one() {
    let outcome = plugin_middleware::run().await.unwrap();
    assert_eq!(
        outcome.reported,
        [
            "http.routers.broken@file.middlewares[0]: middleware `missing@file` is disabled by its own errors",
            "http.middlewares.missing@file.plugin: no middleware plugin named `rateShaper` is registered",
        ]
    );

    let [acme, initech, broken] = &outcome.exchanges[..] else {
        panic!("three exchanges, got {:?}", outcome.exchanges);
    };
    assert_eq!(acme.status, "HTTP/1.1 200 OK");
    assert!(acme.body.contains("x-request-id: req-00000001"), "{}", acme.body);
    assert!(acme.body.contains("x-tenant: acme"), "{}", acme.body);
    assert_eq!(initech.status, "HTTP/1.1 403 Forbidden");
    assert!(
        !initech.body.contains("answered"),
        "the backend was reached: {}",
        initech.body
    );
    // The broken router is left out; its path is served by the other router, with its plugins (the
    // refused request took the second id: `ids` comes before `tenants`).
    assert_eq!(broken.status, "HTTP/1.1 200 OK");
    assert!(broken.body.contains("app answered GET /broken"), "{}", broken.body);
    assert!(broken.body.contains("x-request-id: req-00000003"), "{}", broken.body);
}

#[tokio::test]
async fn extend_gateway_balances_with_its_own_strategy_and_numbers_every_answer() {
    let answers = extend_gateway::run().await.unwrap();
    let seen: Vec<(&str, &str)> = answers
        .iter()
        .map(|a| (a.backend.as_str(), a.request_id.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("primary", "1"),
            ("primary", "2"),
            ("primary", "3"),
            ("standby", "4"),
            ("standby", "5"),
            ("standby", "6"),
        ],
        "first-up keeps to the primary until it leaves; the layer stamps every answer"
    );
}

#[tokio::test]
async fn embed_axum_serves_axums_routes_and_switchyards_behind_one_socket() {
    let embedded = embed_axum::start().await.unwrap();
    assert_eq!(embedded.gateway.local_addr("app"), None, "switchyard binds nothing");
    let (status, body) = embed_axum::fetch(embedded.addr, "/health").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = embed_axum::fetch(embedded.addr, "/app/hello").await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("demo answered GET /app/hello"), "{body}");
    assert!(
        body.contains("x-forwarded-for: 127.0.0.1"),
        "the client address came through: {body}"
    );
    let (status, _) = embed_axum::fetch(embedded.addr, "/nowhere").await.unwrap();
    assert_eq!(status, 404);
    embedded.stop().await;
}
