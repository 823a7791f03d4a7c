//! The examples of extension points, run: each example's logic is its `run` function, which its
//! `main` prints and these tests check.

// Each example file is included whole; its `main` is for `cargo run --example` and unused here.
#[allow(dead_code)]
#[path = "../middleware_layers.rs"]
mod middleware_layers;

#[allow(dead_code)]
#[path = "../plugin_middleware.rs"]
mod plugin_middleware;

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
