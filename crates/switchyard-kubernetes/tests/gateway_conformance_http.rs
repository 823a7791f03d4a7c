//! Ports of core GATEWAY-HTTP conformance tests (kubernetes-sigs/gateway-api `conformance/tests`),
//! in switchyard's own code: the same objects and requests against the test API server, real
//! requests through the gateway to echo backends that report what they received.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::conformance::EchoBackend;
use support::gateway::{gateway, http_listener, http_route, start};

/// The suite's infrastructure namespace.
const NS: &str = "gateway-conformance-infra";

/// A rule on path prefix `path` with `filters`, to `infra-backend-v1`.
fn filtered(path: &str, filters: Value) -> Value {
    json!({"matches": [{"path": {"type": "PathPrefix", "value": path}}], "filters": filters,
           "backendRefs": [{"name": "infra-backend-v1", "port": 8080}]})
}

fn request_modifier(modifier: Value) -> Value {
    json!([{"type": "RequestHeaderModifier", "requestHeaderModifier": modifier}])
}

/// HTTPRouteRequestHeaderModifier: `set` overwrites, `add` appends to the client's value, `remove`
/// removes, whatever the case of the names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_request_header_modifier() {
    let cluster = start(|p| p).await;
    let _v1 = EchoBackend::start(&cluster, NS, "infra-backend-v1").await;
    cluster
        .server
        .apply(gateway(NS, "same-namespace", json!([http_listener("http", "")])));
    cluster.server.apply(http_route(
        NS,
        "request-header-modifier",
        json!({"parentRefs": [{"name": "same-namespace"}], "rules": [
            filtered("/set", request_modifier(json!({"set": [{"name": "X-Header-Set", "value": "set-overwrites-values"}]}))),
            filtered("/add", request_modifier(json!({"add": [{"name": "X-Header-Add", "value": "add-appends-values"}]}))),
            filtered("/remove", request_modifier(json!({"remove": ["X-Header-Remove"]}))),
            filtered("/multiple", request_modifier(json!({
                "set": [{"name": "X-Header-Set-1", "value": "header-set-1"}, {"name": "X-Header-Set-2", "value": "header-set-2"}],
                "add": [{"name": "X-Header-Add-1", "value": "header-add-1"}, {"name": "X-Header-Add-2", "value": "header-add-2"},
                        {"name": "X-Header-Add-3", "value": "header-add-3"}],
                "remove": ["X-Header-Remove-1", "X-Header-Remove-2"],
            }))),
            filtered("/case-insensitivity", request_modifier(json!({
                "set": [{"name": "X-Header-Set", "value": "header-set"}],
                "add": [{"name": "X-Header-Add", "value": "header-add"}],
                "remove": ["X-Header-Remove"],
            }))),
        ]}),
    ));
    cluster.echoes_from("any.test", "/set", "infra-backend-v1-0").await;
    // (path, request headers, expected header values, absent headers)
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a [&'a str])],
        &'a [&'a str],
    );
    let cases: &[Case] = &[
        (
            "/set",
            &[("some-other-header", "val")],
            &[
                ("some-other-header", &["val"]),
                ("x-header-set", &["set-overwrites-values"]),
            ],
            &[],
        ),
        (
            "/set",
            &[("some-other-header", "val"), ("x-header-set", "some-other-value")],
            &[("x-header-set", &["set-overwrites-values"])],
            &[],
        ),
        (
            "/add",
            &[("some-other-header", "val")],
            &[("x-header-add", &["add-appends-values"])],
            &[],
        ),
        (
            "/add",
            &[("some-other-header", "val"), ("x-header-add", "some-other-value")],
            &[("x-header-add", &["some-other-value", "add-appends-values"])],
            &[],
        ),
        ("/remove", &[("x-header-remove", "val")], &[], &["x-header-remove"]),
        (
            "/multiple",
            &[
                ("x-header-set-2", "set-val-2"),
                ("x-header-add-2", "add-val-2"),
                ("x-header-remove-2", "remove-val-2"),
                ("another-header", "another-header-val"),
            ],
            &[
                ("x-header-set-1", &["header-set-1"]),
                ("x-header-set-2", &["header-set-2"]),
                ("x-header-add-1", &["header-add-1"]),
                ("x-header-add-2", &["add-val-2", "header-add-2"]),
                ("x-header-add-3", &["header-add-3"]),
                ("another-header", &["another-header-val"]),
            ],
            &["x-header-remove-1", "x-header-remove-2"],
        ),
        (
            "/case-insensitivity",
            &[
                ("x-header-set", "original-val-set"),
                ("x-header-add", "original-val-add"),
                ("x-header-remove", "original-val-remove"),
                ("another-header", "another-header-val"),
            ],
            &[
                ("x-header-set", &["header-set"]),
                ("x-header-add", &["original-val-add", "header-add"]),
                ("another-header", &["another-header-val"]),
            ],
            &["x-header-remove"],
        ),
    ];
    for (path, sent, expected, absent) in cases {
        let answer = cluster.request("GET", "any.test", path, sent).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        let echoed = answer.echoed.unwrap();
        assert_eq!(echoed.path, *path);
        for (name, values) in *expected {
            assert_eq!(echoed.header(name), *values, "{path} {sent:?}: {name}");
        }
        for name in *absent {
            assert!(echoed.header(name).is_empty(), "{path}: {name} is still there");
        }
    }
}

fn response_modifier(modifier: Value) -> Value {
    json!([{"type": "ResponseHeaderModifier", "responseHeaderModifier": modifier}])
}

/// HTTPRouteResponseHeaderModifier (extended): the same on the backend's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_response_header_modifier() {
    let cluster = start(|p| p).await;
    let _v1 = EchoBackend::start(&cluster, NS, "infra-backend-v1").await;
    cluster
        .server
        .apply(gateway(NS, "same-namespace", json!([http_listener("http", "")])));
    cluster.server.apply(http_route(
        NS,
        "response-header-modifier",
        json!({"parentRefs": [{"name": "same-namespace"}], "rules": [
            filtered("/set", response_modifier(json!({"set": [{"name": "X-Header-Set", "value": "set-overwrites-values"}]}))),
            filtered("/add", response_modifier(json!({"add": [{"name": "X-Header-Add", "value": "add-appends-values"}]}))),
            filtered("/remove", response_modifier(json!({"remove": ["X-Header-Remove"]}))),
        ]}),
    ));
    cluster.echoes_from("any.test", "/set", "infra-backend-v1-0").await;
    let values = |answer: &support::conformance::Answer, name: &str| {
        answer
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let set = cluster
        .request(
            "GET",
            "any.test",
            "/set",
            &[("x-echo-set-header", "X-Header-Set:some-other-value")],
        )
        .await;
    assert_eq!(values(&set, "x-header-set"), ["set-overwrites-values"]);
    let add = cluster
        .request(
            "GET",
            "any.test",
            "/add",
            &[("x-echo-set-header", "X-Header-Add:some-other-value")],
        )
        .await;
    assert_eq!(values(&add, "x-header-add"), ["some-other-value", "add-appends-values"]);
    let remove = cluster
        .request(
            "GET",
            "any.test",
            "/remove",
            &[("x-echo-set-header", "X-Header-Remove:val")],
        )
        .await;
    assert!(values(&remove, "x-header-remove").is_empty());
}

/// HTTPRouteRedirectHostAndStatus, with every method: the status given is the one answered (the
/// `redirectRegex` middleware would turn 301 and 302 into 308 and 307 for a `POST`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_redirect_keeps_its_status_for_every_method() {
    let cluster = start(|p| p).await;
    let _v1 = EchoBackend::start(&cluster, NS, "infra-backend-v1").await;
    cluster
        .server
        .apply(gateway(NS, "same-namespace", json!([http_listener("http", "")])));
    let redirect = |status: u16| json!([{"type": "RequestRedirect", "requestRedirect": {"hostname": "example.org", "statusCode": status}}]);
    cluster.server.apply(http_route(
        NS,
        "redirect-host-and-status",
        json!({"parentRefs": [{"name": "same-namespace"}], "rules": [
            filtered("/hostname-redirect", json!([{"type": "RequestRedirect", "requestRedirect": {"hostname": "example.org"}}])),
            filtered("/host-and-status", redirect(301)),
            filtered("/see-other", redirect(303)),
            filtered("/temporary", redirect(307)),
            filtered("/permanent", redirect(308)),
            filtered("/echo", json!([])),
        ]}),
    ));
    cluster.echoes_from("any.test", "/echo", "infra-backend-v1-0").await;
    for (path, status) in [
        ("/hostname-redirect", 302),
        ("/host-and-status", 301),
        ("/see-other", 303),
        ("/temporary", 307),
        ("/permanent", 308),
    ] {
        for method in ["GET", "POST", "PUT", "HEAD"] {
            let answer = cluster.request(method, "any.test", path, &[]).await;
            assert_eq!(answer.status.as_u16(), status, "{method} {path}");
            assert_eq!(
                answer.headers["location"].to_str().unwrap(),
                format!("http://example.org{path}"),
                "{method} {path}"
            );
        }
    }
}

fn listener(name: &str, port: u16, hostname: &str, from: &str) -> Value {
    let mut listener =
        json!({"name": name, "port": port, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": from}}});
    if !hostname.is_empty() {
        listener["hostname"] = json!(hostname);
    }
    listener
}

fn to(backend: &str) -> Value {
    json!([{"backendRefs": [{"name": backend, "port": 8080}]}])
}

/// Waits until `route` in `namespace` is accepted by its first parent.
async fn accepted(cluster: &support::Cluster, namespace: &str, route: &str) {
    support::gateway::eventually(&cluster.server, "HTTPRoute", namespace, route, |s| {
        support::gateway::parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
            && support::gateway::parent_condition(s, "ResolvedRefs") == ("True".into(), "ResolvedRefs".into())
    })
    .await;
}

/// HTTPRouteListenerHostnameMatching: listeners on one port told apart by hostname, each route on
/// the listeners its `sectionName` names; a host no listener serves gets 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_listener_hostname_matching() {
    let cluster = start(|p| p).await;
    let _v1 = EchoBackend::start(&cluster, NS, "infra-backend-v1").await;
    let _v2 = EchoBackend::start(&cluster, NS, "infra-backend-v2").await;
    let _v3 = EchoBackend::start(&cluster, NS, "infra-backend-v3").await;
    let name = "httproute-listener-hostname-matching";
    cluster.server.apply(gateway(
        NS,
        name,
        json!([
            listener("listener-1", 80, "bar.com", "Same"),
            listener("listener-2", 80, "foo.bar.com", "Same"),
            listener("listener-3", 80, "*.bar.com", "Same"),
            listener("listener-4", 80, "*.foo.com", "Same"),
        ]),
    ));
    let parent = |section: &str| json!({"name": name, "namespace": NS, "sectionName": section});
    let route = |route: &str, parents: Value, backend: &str| {
        http_route(NS, route, json!({"parentRefs": parents, "rules": to(backend)}))
    };
    cluster
        .server
        .apply(route("backend-v1", json!([parent("listener-1")]), "infra-backend-v1"));
    cluster
        .server
        .apply(route("backend-v2", json!([parent("listener-2")]), "infra-backend-v2"));
    cluster.server.apply(route(
        "backend-v3",
        json!([parent("listener-3"), parent("listener-4")]),
        "infra-backend-v3",
    ));
    for route in ["backend-v1", "backend-v2", "backend-v3"] {
        accepted(&cluster, NS, route).await;
    }
    cluster
        .echoes_from("multiple.prefixes.foo.com", "/", "infra-backend-v3-0")
        .await;
    for (host, pod) in [
        ("bar.com", Some("infra-backend-v1-0")),
        ("foo.bar.com", Some("infra-backend-v2-0")),
        ("baz.bar.com", Some("infra-backend-v3-0")),
        ("boo.bar.com", Some("infra-backend-v3-0")),
        ("multiple.prefixes.bar.com", Some("infra-backend-v3-0")),
        ("multiple.prefixes.foo.com", Some("infra-backend-v3-0")),
        ("foo.com", None),
        ("no.matching.host", None),
    ] {
        let answer = cluster.request("GET", host, "/", &[]).await;
        match pod {
            Some(pod) => {
                assert_eq!(answer.status, StatusCode::OK, "{host}");
                assert_eq!(answer.echoed.unwrap().pod, pod, "{host}");
            }
            None => assert_eq!(answer.status, StatusCode::NOT_FOUND, "{host}"),
        }
    }
}

/// HTTPRouteCrossNamespace: a route in the backends' namespace attaches to a Gateway of another
/// namespace that allows routes from all namespaces, and reaches its own namespace's Service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_cross_namespace() {
    let cluster = start(|p| p).await;
    let web_ns = "gateway-conformance-web-backend";
    let _web = EchoBackend::start(&cluster, web_ns, "web-backend").await;
    cluster.server.apply(gateway(
        NS,
        "backend-namespaces",
        json!([listener("http", 80, "", "All")]),
    ));
    cluster.server.apply(http_route(
        web_ns,
        "cross-namespace",
        json!({"parentRefs": [{"name": "backend-namespaces", "namespace": NS}], "rules": to("web-backend")}),
    ));
    accepted(&cluster, web_ns, "cross-namespace").await;
    cluster.echoes_from("any.test", "/", "web-backend-0").await;
    let echoed = cluster.request("GET", "any.test", "/", &[]).await.echoed.unwrap();
    assert_eq!(
        (echoed.pod.as_str(), echoed.namespace.as_str()),
        ("web-backend-0", web_ns)
    );
}

/// HTTPRouteMultipleGateways: one route attached to two Gateways (here on two ports, as two
/// Gateways have two addresses upstream), beside a route of its own on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_multiple_gateways() {
    let server = switchyard_test_apiserver::ApiServer::start().await;
    support::gateway::register_gateway_kinds(&server);
    server.apply(support::gateway::gateway_class(
        "switchyard",
        support::gateway::CONTROLLER,
    ));
    let provider = switchyard_kubernetes::GatewayProvider::endpoint(server.url(), "", None)
        .entry_point("web", 80)
        .entry_point("other", 8080);
    let cluster = support::Cluster::start_provider_on(server, provider, &[("other", "127.0.0.1:0")]).await;
    let other = cluster.gateway.local_addr("other").unwrap();
    let _v1 = EchoBackend::start(&cluster, NS, "infra-backend-v1").await;
    let _v2 = EchoBackend::start(&cluster, NS, "infra-backend-v2").await;
    let _v3 = EchoBackend::start(&cluster, NS, "infra-backend-v3").await;
    cluster
        .server
        .apply(gateway(NS, "same-namespace", json!([listener("http", 80, "", "Same")])));
    cluster.server.apply(gateway(
        NS,
        "all-namespaces",
        json!([listener("http", 8080, "", "All")]),
    ));
    let prefixed = |path: &str, backend: &str| {
        json!([{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                "backendRefs": [{"name": backend, "port": 8080}]}])
    };
    cluster.server.apply(http_route(
        NS,
        "multiple-gateways-shared-route",
        json!({"parentRefs": [{"name": "same-namespace"}, {"name": "all-namespaces"}],
               "rules": prefixed("/shared", "infra-backend-v1")}),
    ));
    cluster.server.apply(http_route(
        NS,
        "same-namespace-dedicated-route",
        json!({"parentRefs": [{"name": "same-namespace"}], "rules": prefixed("/", "infra-backend-v2")}),
    ));
    cluster.server.apply(http_route(
        NS,
        "all-namespaces-dedicated-route",
        json!({"parentRefs": [{"name": "all-namespaces"}], "rules": prefixed("/", "infra-backend-v3")}),
    ));
    for route in [
        "multiple-gateways-shared-route",
        "same-namespace-dedicated-route",
        "all-namespaces-dedicated-route",
    ] {
        accepted(&cluster, NS, route).await;
    }
    support::gateway::eventually(
        &cluster.server,
        "HTTPRoute",
        NS,
        "multiple-gateways-shared-route",
        |s| {
            s["parents"].as_array().is_some_and(|p| p.len() == 2)
                && s["parents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| support::gateway::condition(&p["conditions"], "Accepted")["status"] == "True")
        },
    )
    .await;
    cluster.echoes_from("any.test", "/", "infra-backend-v2-0").await;
    for (addr, path, pod) in [
        (cluster.addr, "/shared", "infra-backend-v1-0"),
        (cluster.addr, "/", "infra-backend-v2-0"),
        (other, "/shared", "infra-backend-v1-0"),
        (other, "/", "infra-backend-v3-0"),
    ] {
        let answer = support::conformance::request(&cluster.client, addr, "GET", "any.test", path, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{addr}{path}");
        assert_eq!(answer.echoed.unwrap().pod, pod, "{addr}{path}");
    }
}

/// HTTPRouteServiceTypes: a Service whose EndpointSlices were written by hand (its port 8080 to the
/// pods' own port), a headless Service, and a headless one with hand-written EndpointSlices, each
/// reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_service_types() {
    let cluster = start(|p| p).await;
    cluster
        .server
        .apply(gateway(NS, "same-namespace", json!([listener("http", 80, "", "Same")])));
    let mut pods = Vec::new();
    for (name, headless) in [
        ("manual-endpointslices", false),
        ("headless", true),
        ("headless-manual-endpointslices", true),
    ] {
        let (pod, port) = EchoBackend::listen(NS, &format!("{name}-0")).await;
        pods.push(pod);
        let mut service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": NS, "name": name},
            "spec": {"ports": [{"name": "first-port", "protocol": "TCP", "port": 8080, "targetPort": port}]}});
        if headless {
            service["spec"]["clusterIP"] = json!("None");
        }
        cluster.server.apply(service);
        let slice = |suffix: &str, family: &str, endpoints: Value| {
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"namespace": NS, "name": format!("{name}-{suffix}"), "labels": {"kubernetes.io/service-name": name}},
                   "addressType": family, "endpoints": endpoints,
                   "ports": [{"name": "first-port", "port": port, "protocol": "TCP"}]})
        };
        let ready = json!([{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}]);
        cluster.server.apply(slice("ip4", "IPv4", ready));
        // An IPv6 slice with no endpoint, as on a cluster without IPv6 pods.
        cluster.server.apply(slice("ip6", "IPv6", json!([])));
    }
    let exact = |path: &str, backend: &str| json!({"matches": [{"path": {"type": "Exact", "value": path}}], "backendRefs": [{"name": backend, "port": 8080}]});
    cluster.server.apply(http_route(
        NS,
        "service-types",
        json!({"parentRefs": [{"name": "same-namespace"}], "rules": [
            exact("/manual-endpointslices", "manual-endpointslices"),
            exact("/headless", "headless"),
            exact("/headless-manual-endpointslices", "headless-manual-endpointslices"),
        ]}),
    ));
    accepted(&cluster, NS, "service-types").await;
    cluster
        .echoes_from(
            "any.test",
            "/headless-manual-endpointslices",
            "headless-manual-endpointslices-0",
        )
        .await;
    for name in ["manual-endpointslices", "headless", "headless-manual-endpointslices"] {
        let answer = cluster.request("GET", "any.test", &format!("/{name}"), &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}");
        assert_eq!(answer.echoed.unwrap().pod, format!("{name}-0"));
    }
}
