//! Routing through Gateways and HTTPRoutes: matches, the specification's precedence (within a
//! route and across routes), hostname intersection and weights, with real requests through the
//! gateway to pods on loopback.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::gateway::{backend, gateway, http_listener, http_route, send, start};
use support::{Cluster, Pods, ready, service, slice};

/// Pods named `name` behind a Service `name` (port 80) in `namespace`.
async fn app(cluster: &Cluster, namespace: &str, name: &str, count: usize) -> Pods {
    let pods = Pods::start(name, count).await;
    cluster.server.apply(service(namespace, name, &[("http", 80)]));
    let endpoints = ready(&pods.first(count));
    cluster.server.apply(slice(
        namespace,
        name,
        &format!("{name}-x"),
        "http",
        pods.port,
        &endpoints,
    ));
    pods
}

/// A request (method, path, headers) and the Service expected to answer it.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

/// A rule sending `matches` to Service `to`.
fn rule(matches: Value, to: &str) -> Value {
    json!({"matches": matches, "backendRefs": [backend(to, 80, 1)]})
}

/// What answers `method host path` with `headers`: the pod name without its index, or the status.
async fn who(cluster: &Cluster, method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let (status, body, _) = send(&cluster.client, cluster.addr, method, host, path, headers).await;
    if status == StatusCode::OK {
        body.rsplit_once('-').map_or(body.clone(), |(name, _)| name.to_owned())
    } else {
        status.as_u16().to_string()
    }
}

async fn routes_to(cluster: &Cluster, host: &str, path: &str, name: &str) {
    cluster.routes_to(host, path, &format!("{name}-")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_follow_the_specification_precedence() {
    let cluster = start(|p| p).await;
    let names = ["root", "api", "exact", "v2", "post", "canary", "query", "regex"];
    let mut pods = Vec::new();
    for name in names {
        pods.push(app(&cluster, "default", name, 1).await);
    }
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let prefix = |p: &str| json!({"path": {"type": "PathPrefix", "value": p}});
    cluster.server.apply(http_route(
        "default",
        "matches",
        json!({
            "parentRefs": [{"name": "edge"}],
            "hostnames": ["match.test"],
            "rules": [
                rule(json!([prefix("/")]), "root"),
                rule(json!([prefix("/api")]), "api"),
                rule(json!([{"path": {"type": "Exact", "value": "/api/exact"}}]), "exact"),
                rule(json!([prefix("/api/v2/")]), "v2"),
                rule(json!([{"path": {"value": "/api"}, "method": "POST"}]), "post"),
                rule(json!([{"path": {"value": "/api"}, "headers": [{"name": "x-env", "value": "canary"}]}]), "canary"),
                rule(json!([{"path": {"value": "/api"}, "queryParams": [{"name": "q", "value": "1"}]}]), "query"),
                rule(json!([{"path": {"type": "RegularExpression", "value": "/files/[0-9]+"}}]), "regex"),
            ],
        }),
    ));
    routes_to(&cluster, "match.test", "/api/exact", "exact").await;
    let canary = [("x-env", "canary")];
    let table: &[Case] = &[
        ("GET", "/x", &[], "root"),
        ("GET", "/api", &[], "api"),
        ("GET", "/api/", &[], "api"),
        ("GET", "/apix", &[], "root"),
        ("GET", "/api/exact", &[], "exact"),
        ("GET", "/api/exact/more", &[], "api"),
        ("GET", "/api/v2", &[], "v2"),
        ("GET", "/api/v2/x", &[], "v2"),
        ("POST", "/api/x", &[], "post"),
        ("GET", "/api/x", &canary, "canary"),
        // A method outranks header matches, header matches outrank query matches.
        ("POST", "/api/x", &canary, "post"),
        ("GET", "/api/x?q=1", &[], "query"),
        ("GET", "/api/x?q=1", &canary, "canary"),
        // The longest prefix outranks a method.
        ("POST", "/api/v2/x", &[], "v2"),
        ("GET", "/files/12", &[], "regex"),
        ("GET", "/files/12/x", &[], "root"),
        ("GET", "/files/ab", &[], "root"),
    ];
    for (method, path, headers, expected) in table {
        assert_eq!(
            who(&cluster, method, "match.test", path, headers).await,
            *expected,
            "{method} {path} {headers:?}"
        );
    }
    assert_eq!(who(&cluster, "GET", "other.test", "/x", &[]).await, "404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_routes_hostname_then_age_then_name_decide() {
    let cluster = start(|p| p).await;
    let mut pods = Vec::new();
    for name in ["wild", "precise", "older", "newer", "alpha", "beta"] {
        pods.push(app(&cluster, "default", name, 1).await);
    }
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let route = |name: &str, hosts: Value, path: &str, to: &str| {
        http_route(
            "default",
            name,
            json!({"parentRefs": [{"name": "edge"}], "hostnames": hosts,
                   "rules": [rule(json!([{"path": {"value": path}}]), to)]}),
        )
    };
    // A longer path on a wildcard loses to any path on a precise hostname.
    cluster
        .server
        .apply(route("wild", json!(["*.wild.test"]), "/long/path", "wild"));
    cluster
        .server
        .apply(route("precise", json!(["a.wild.test"]), "/", "precise"));
    // Same match: the older route wins, whatever the names.
    cluster
        .server
        .apply(route("z-older", json!(["age.test"]), "/", "older"));
    cluster
        .server
        .apply(route("a-newer", json!(["age.test"]), "/", "newer"));
    // Same match and age: `{namespace}/{name}` decides.
    for (name, to) in [("tie-b", "beta"), ("tie-a", "alpha")] {
        let mut object = route(name, json!(["tie.test"]), "/", to);
        object["metadata"]["creationTimestamp"] = json!("2025-06-01T00:00:00Z");
        cluster.server.apply(object);
    }
    routes_to(&cluster, "tie.test", "/", "alpha").await;
    assert_eq!(who(&cluster, "GET", "a.wild.test", "/long/path", &[]).await, "precise");
    assert_eq!(who(&cluster, "GET", "b.wild.test", "/long/path", &[]).await, "wild");
    assert_eq!(who(&cluster, "GET", "b.wild.test", "/other", &[]).await, "404");
    assert_eq!(who(&cluster, "GET", "age.test", "/", &[]).await, "older");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_hostnames_are_intersected_with_the_listener_hostname() {
    let cluster = start(|p| p).await;
    let _named = app(&cluster, "default", "named", 1).await;
    let _any = app(&cluster, "default", "any", 1).await;
    cluster.server.apply(gateway(
        "default",
        "edge",
        json!([http_listener("wild", "*.example.com")]),
    ));
    cluster.server.apply(http_route(
        "default",
        "named",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["a.example.com", "example.com", "x.other.net"],
               "rules": [{"backendRefs": [backend("named", 80, 1)]}]}),
    ));
    cluster.server.apply(http_route(
        "default",
        "any",
        json!({"parentRefs": [{"name": "edge"}], "rules": [{"backendRefs": [backend("any", 80, 1)]}]}),
    ));
    routes_to(&cluster, "a.example.com", "/", "named").await;
    routes_to(&cluster, "deep.b.example.com", "/", "any").await;
    for host in ["example.com", "x.other.net"] {
        assert_eq!(who(&cluster, "GET", host, "/", &[]).await, "404", "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_weights_share_the_requests() {
    let cluster = start(|p| p).await;
    let one = app(&cluster, "default", "one", 1).await;
    let three = app(&cluster, "default", "three", 2).await;
    let none = app(&cluster, "default", "none", 1).await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    cluster.server.apply(http_route(
        "default",
        "split",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["split.test"],
               "rules": [{"backendRefs": [backend("one", 80, 1), backend("three", 80, 3), backend("none", 80, 0)]}]}),
    ));
    within_routes(&cluster).await;
    let (before_one, before_three) = (one.hits.load(ORDER), three.hits.load(ORDER));
    let total = 2_000;
    for _ in 0..total {
        let (status, _) = cluster.get("split.test", "/").await;
        assert_eq!(status, StatusCode::OK);
    }
    let share = |hits: usize| hits as f64 / f64::from(total);
    let one_share = share(one.hits.load(ORDER) - before_one);
    let three_share = share(three.hits.load(ORDER) - before_three);
    assert!((one_share - 0.25).abs() <= 0.05, "weight 1 of 4 got {one_share}");
    assert!((three_share - 0.75).abs() <= 0.05, "weight 3 of 4 got {three_share}");
    assert_eq!(none.hits.load(ORDER), 0, "a backend of weight 0 gets nothing");
}

const ORDER: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;

async fn within_routes(cluster: &Cluster) {
    support::within(support::LIVE_TIMEOUT, || async {
        cluster.get("split.test", "/").await.0 == StatusCode::OK
    })
    .await
    .unwrap_or_else(|_| panic!("split.test never answered: {:?}", cluster.warnings()));
}
