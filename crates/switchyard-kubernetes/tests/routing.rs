//! Ingresses in the test API server route real requests through the proxy, with the Ingress
//! specification's matching and precedence.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use http::StatusCode;
use serde_json::json;
use support::{Cluster, Pods, ingress, ready, rule, service, slice};

/// Creates a Service `name` with port `http` whose one slice holds the given pods.
fn deploy(cluster: &Cluster, name: &str, pods: &Pods, count: usize) {
    cluster.server.apply(service("default", name, &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        name,
        &format!("{name}-abc"),
        "http",
        pods.port,
        &ready(&pods.first(count)),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingress_routes_to_the_ready_endpoints_of_its_service() {
    let cluster = Cluster::start(|p| p).await;
    let pods = Pods::start("whoami", 3).await;
    deploy(&cluster, "whoami", &pods, 3);
    cluster.server.apply(ingress(
        "default",
        "whoami",
        json!({"rules": [rule("whoami.test", &[("Prefix", "/", "whoami", "http")])]}),
    ));
    cluster.routes_to("whoami.test", "/", "whoami-").await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let (status, body) = cluster.get("whoami.test", "/anything").await;
        assert_eq!(status, StatusCode::OK);
        seen.insert(body);
    }
    assert_eq!(seen.len(), 3, "round robin over the three pods: {seen:?}");
    assert_eq!(cluster.get("other.test", "/").await.0, StatusCode::NOT_FOUND);
    let published = cluster.gateway.snapshot();
    let config = &published.published().runtime.config;
    assert!(
        config
            .http
            .routers
            .contains_key("default-whoami-whoami-test@kubernetes"),
        "{:?}",
        config.http.routers.keys()
    );
    assert!(config.http.services.contains_key("default-whoami-http@kubernetes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_and_terminating_endpoints_get_no_requests_and_slices_add_up() {
    let cluster = Cluster::start(|p| p).await;
    let pods = Pods::start("web", 3).await;
    cluster.server.apply(service("default", "web", &[("http", 80)]));
    let a = &pods.addresses;
    cluster.server.apply(slice(
        "default",
        "web",
        "web-1",
        "http",
        pods.port,
        &[(a[0].clone(), true, false), (a[1].clone(), false, false)],
    ));
    // A second slice of the same Service, with a terminating endpoint.
    cluster.server.apply(slice(
        "default",
        "web",
        "web-2",
        "http",
        pods.port,
        &[(a[2].clone(), true, true)],
    ));
    cluster.server.apply(ingress(
        "default",
        "web",
        json!({"rules": [rule("", &[("Prefix", "/", "web", "http")])]}),
    ));
    cluster.routes_to("any.test", "/", "web-0").await;
    for _ in 0..6 {
        assert_eq!(cluster.get("any.test", "/").await.1, "web-0");
    }
    // The terminating pod becomes ready in a new slice: both slices count.
    cluster.server.apply(slice(
        "default",
        "web",
        "web-2",
        "http",
        pods.port,
        &[(a[2].clone(), true, false)],
    ));
    cluster.routes_to("any.test", "/", "web-2").await;
}

/// One row of the documentation's table: the paths (type, path), and requests with the backend that
/// must answer.
type Example = (
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_example_of_the_ingress_documentation_matches_as_documented() {
    let cluster = Cluster::start(|p| p).await;
    let a = Pods::start("a", 1).await;
    let b = Pods::start("b", 1).await;
    let c = Pods::start("c", 1).await;
    let fallback = Pods::start("default", 1).await;
    for (name, pods) in [("a", &a), ("b", &b), ("c", &c), ("fallback", &fallback)] {
        deploy(&cluster, name, pods, 1);
    }
    // https://kubernetes.io/docs/concepts/services-networking/ingress/#examples, one host per row;
    // the first path goes to `a`, the second to `b`, the third to `c`; no match goes to the
    // defaultBackend.
    let rows: &[Example] = &[
        (&[("Prefix", "/")], &[("/", "a"), ("/anything", "a")]),
        (
            &[("Exact", "/foo")],
            &[("/foo", "a"), ("/bar", "default"), ("/foo/", "default")],
        ),
        (&[("Exact", "/foo/")], &[("/foo", "default")]),
        (&[("Prefix", "/foo")], &[("/foo", "a"), ("/foo/", "a")]),
        (&[("Prefix", "/foo/")], &[("/foo", "a"), ("/foo/", "a")]),
        (&[("Prefix", "/aaa/bb")], &[("/aaa/bbb", "default")]),
        (
            &[("Prefix", "/aaa/bbb")],
            &[
                ("/aaa/bbb", "a"),
                ("/aaa/bbb/", "a"),
                ("/aaa/bbb/ccc", "a"),
                ("/aaa/bbbxyz", "default"),
            ],
        ),
        (&[("Prefix", "/aaa/bbb/")], &[("/aaa/bbb", "a")]),
        (&[("Prefix", "/"), ("Prefix", "/aaa")], &[("/aaa/ccc", "b")]),
        (
            &[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")],
            &[("/aaa/bbb", "c"), ("/ccc", "a")],
        ),
        (&[("Prefix", "/aaa")], &[("/ccc", "default")]),
        (
            &[("Prefix", "/foo"), ("Exact", "/foo")],
            &[("/foo", "b"), ("/foo/x", "a")],
        ),
    ];
    let backends = ["a", "b", "c"];
    let mut rules = Vec::new();
    for (i, (paths, _)) in rows.iter().enumerate() {
        let paths: Vec<(&str, &str, &str, &str)> = paths
            .iter()
            .zip(backends)
            .map(|((path_type, path), backend)| (*path_type, *path, backend, "http"))
            .collect();
        rules.push(rule(&format!("row{i}.test"), &paths));
    }
    cluster
        .server
        .apply(ingress("default", "examples", json!({"rules": rules})));
    cluster.server.apply(ingress(
        "default",
        "fallback",
        json!({"defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}}}),
    ));
    cluster.routes_to("row0.test", "/", "a").await;
    cluster.routes_to("unknown.test", "/", "default").await;
    let mut wrong = Vec::new();
    for (i, (paths, requests)) in rows.iter().enumerate() {
        for (path, expected) in *requests {
            let (status, body) = cluster.get(&format!("row{i}.test"), path).await;
            if status != StatusCode::OK || !body.starts_with(expected) {
                wrong.push(format!("{paths:?} {path}: expected {expected}, got {status} {body}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_match_precisely_then_by_wildcard_then_hostless() {
    let cluster = Cluster::start(|p| p).await;
    let a = Pods::start("precise", 1).await;
    let b = Pods::start("wildcard", 1).await;
    let c = Pods::start("hostless", 1).await;
    for (name, pods) in [("precise", &a), ("wildcard", &b), ("hostless", &c)] {
        deploy(&cluster, name, pods, 1);
    }
    cluster.server.apply(ingress(
        "default",
        "hosts",
        json!({"rules": [
            rule("*.foo.com", &[("Prefix", "/", "wildcard", "http")]),
            rule("bar.foo.com", &[("Prefix", "/", "precise", "http")]),
            rule("", &[("Prefix", "/longer/path/than/the/others", "hostless", "http"), ("Prefix", "/", "hostless", "http")]),
        ]}),
    ));
    cluster.routes_to("bar.foo.com", "/", "precise").await;
    let cases = [
        ("bar.foo.com", "/longer/path/than/the/others", "precise"),
        ("baz.foo.com", "/", "wildcard"),
        ("BAZ.foo.com:8080", "/", "wildcard"),
        ("baz.bar.foo.com", "/", "hostless"),
        ("foo.com", "/", "hostless"),
    ];
    for (host, path, expected) in cases {
        let (status, body) = cluster.get(host, path).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, format!("{expected}-0")),
            "{host}{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implementation_specific_paths_match_as_traefik_does_and_the_default_backend_takes_the_rest() {
    let cluster = Cluster::start(|p| p).await;
    let prefix = Pods::start("prefix", 1).await;
    let exact = Pods::start("exact", 1).await;
    let fallback = Pods::start("fallback", 1).await;
    for (name, pods) in [("prefix", &prefix), ("exact", &exact), ("fallback", &fallback)] {
        deploy(&cluster, name, pods, 1);
    }
    // ImplementationSpecific is Traefik's PathPrefix: a byte prefix (`/api` matches `/apix`).
    cluster.server.apply(ingress(
        "default",
        "implementation-specific",
        json!({
            "defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
            "rules": [rule("impl.test", &[("ImplementationSpecific", "/api", "prefix", "http")])],
        }),
    ));
    // ... unless router.pathmatcher names another matcher.
    let mut exact_ingress = ingress(
        "default",
        "path-matcher",
        json!({"rules": [rule("matcher.test", &[("ImplementationSpecific", "/api", "exact", "http")])]}),
    );
    exact_ingress["metadata"]["annotations"] = json!({"traefik.ingress.kubernetes.io/router.pathmatcher": "Path"});
    cluster.server.apply(exact_ingress);
    cluster.routes_to("impl.test", "/api", "prefix").await;
    cluster.routes_to("matcher.test", "/api", "exact").await;
    let cases = [
        ("impl.test", "/apix", "prefix-0"),
        ("impl.test", "/api/v1", "prefix-0"),
        ("impl.test", "/other", "fallback-0"),
        ("matcher.test", "/api/v1", "fallback-0"),
        ("unknown.test", "/api", "fallback-0"),
    ];
    for (host, path, expected) in cases {
        let (status, body) = cluster.get(host, path).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, expected), "{host}{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_annotated_priority_outranks_the_specification_order() {
    let cluster = Cluster::start(|p| p).await;
    let chosen = Pods::start("chosen", 1).await;
    let longer = Pods::start("longer", 1).await;
    let fallback = Pods::start("fallback", 1).await;
    for (name, pods) in [("chosen", &chosen), ("longer", &longer), ("fallback", &fallback)] {
        deploy(&cluster, name, pods, 1);
    }
    let annotated = |mut object: serde_json::Value, priority: &str| {
        object["metadata"]["annotations"] = json!({"traefik.ingress.kubernetes.io/router.priority": priority});
        object
    };
    // By the specification the longer Exact path would win; the annotation says otherwise.
    cluster.server.apply(annotated(
        ingress(
            "default",
            "chosen",
            json!({"rules": [rule("app.test", &[("Prefix", "/", "chosen", "http")])]}),
        ),
        "10",
    ));
    cluster.server.apply(ingress(
        "default",
        "longer",
        json!({"rules": [rule("app.test", &[("Exact", "/a/much/longer/path", "longer", "http")])]}),
    ));
    // Two defaultBackends: the annotated one outranks the other (and still loses to priority 10).
    cluster.server.apply(ingress(
        "default",
        "fallback",
        json!({"defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}}}),
    ));
    cluster.server.apply(annotated(
        ingress(
            "default",
            "preferred",
            json!({"defaultBackend": {"service": {"name": "longer", "port": {"name": "http"}}}}),
        ),
        "5",
    ));
    cluster.routes_to("app.test", "/", "chosen-0").await;
    assert_eq!(cluster.get("app.test", "/a/much/longer/path").await.1, "chosen-0");
    cluster.routes_to("other.test", "/x", "longer-0").await;
}
