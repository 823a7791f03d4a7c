//! Gateway API statuses written back: acceptance of classes, Gateways, listeners and routes with the
//! reasons the specification names, `observedGeneration`, no write when nothing changed, and only the
//! leader writing when leader election is configured.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::gateway::{
    backend, condition, eventually, gateway, grant, http_listener, http_route, parent_condition, start, status,
};
use support::{Cluster, Pods, ready, service, slice};
use switchyard_kubernetes::{GatewayProvider, LeaderElection};

async fn app(cluster: &Cluster, namespace: &str, name: &str) -> Pods {
    let pods = Pods::start(name, 1).await;
    cluster.server.apply(service(namespace, name, &[("http", 80)]));
    let endpoints = ready(&pods.first(1));
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

fn is(condition: &Value, status: &str, reason: &str) -> bool {
    condition["status"] == status && condition["reason"] == reason
}

fn listener<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["listeners"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["name"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_report_acceptance_and_follow_the_generation() {
    let cluster = start(|p| p.status_address("192.0.2.7", "")).await;
    let _app = app(&cluster, "default", "app").await;
    let listeners = json!([
        http_listener("web", ""),
        {"name": "elsewhere", "port": 8080, "protocol": "HTTP"},
        {"name": "datagram", "port": 53, "protocol": "UDP"},
        {"name": "twin-a", "port": 80, "protocol": "HTTP", "hostname": "twin.test"},
        {"name": "twin-b", "port": 80, "protocol": "HTTP", "hostname": "twin.test"},
    ]);
    cluster.server.apply(gateway("default", "edge", listeners));
    let route = |path: &str| {
        http_route(
            "default",
            "app",
            json!({"parentRefs": [{"name": "edge"}], "rules": [{
                "matches": [{"path": {"value": path}}], "backendRefs": [backend("app", 80, 1)]}]}),
        )
    };
    cluster.server.apply(route("/"));
    eventually(&cluster.server, "GatewayClass", "", "switchyard", |s| {
        let accepted = condition(&s["conditions"], "Accepted");
        is(accepted, "True", "Accepted") && accepted["observedGeneration"] == 1
    })
    .await;
    eventually(&cluster.server, "Gateway", "default", "edge", |s| {
        listener(s, "web")["attachedRoutes"] == 1
    })
    .await;
    let gw = status(&cluster.server, "Gateway", "default", "edge");
    assert!(
        is(condition(&gw["conditions"], "Accepted"), "True", "ListenersNotValid"),
        "{gw:#}"
    );
    assert!(
        is(condition(&gw["conditions"], "Programmed"), "True", "Programmed"),
        "{gw:#}"
    );
    assert_eq!(gw["addresses"], json!([{"type": "IPAddress", "value": "192.0.2.7"}]));
    let web = listener(&gw, "web");
    for (type_, reason) in [
        ("Accepted", "Accepted"),
        ("ResolvedRefs", "ResolvedRefs"),
        ("Programmed", "Programmed"),
    ] {
        assert!(is(condition(&web["conditions"], type_), "True", reason), "{web:#}");
    }
    assert!(
        is(condition(&web["conditions"], "Conflicted"), "False", "NoConflicts"),
        "{web:#}"
    );
    assert_eq!(
        web["supportedKinds"],
        json!([
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
            {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"},
        ])
    );
    let elsewhere = listener(&gw, "elsewhere");
    assert!(
        is(
            condition(&elsewhere["conditions"], "Accepted"),
            "False",
            "PortUnavailable"
        ),
        "{gw:#}"
    );
    assert!(
        is(condition(&elsewhere["conditions"], "Programmed"), "False", "Invalid"),
        "{gw:#}"
    );
    let datagram = listener(&gw, "datagram");
    assert!(
        is(
            condition(&datagram["conditions"], "Accepted"),
            "False",
            "UnsupportedProtocol"
        ),
        "{gw:#}"
    );
    for twin in ["twin-a", "twin-b"] {
        let twin = listener(&gw, twin);
        assert!(
            is(condition(&twin["conditions"], "Conflicted"), "True", "HostnameConflict"),
            "{gw:#}"
        );
        assert!(
            is(condition(&twin["conditions"], "Programmed"), "False", "Invalid"),
            "{gw:#}"
        );
    }
    assert_eq!(elsewhere["attachedRoutes"], 0);

    eventually(&cluster.server, "HTTPRoute", "default", "app", |s| {
        parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
            && parent_condition(s, "ResolvedRefs") == ("True".into(), "ResolvedRefs".into())
    })
    .await;
    let route_status = status(&cluster.server, "HTTPRoute", "default", "app");
    assert_eq!(
        route_status["parents"][0]["controllerName"],
        support::gateway::CONTROLLER
    );
    assert_eq!(route_status["parents"][0]["parentRef"], json!({"name": "edge"}));
    assert_eq!(
        condition(&route_status["parents"][0]["conditions"], "Accepted")["observedGeneration"],
        1
    );

    // A spec change bumps the generation; the status follows it.
    cluster.server.apply(route("/v2"));
    eventually(&cluster.server, "HTTPRoute", "default", "app", |s| {
        condition(&s["parents"][0]["conditions"], "Accepted")["observedGeneration"] == 2
    })
    .await;

    // Nothing changed: nothing is written, however often the provider translates.
    let writes = |kind: &str, ns: &str, name: &str| cluster.server.writes(kind, ns, name);
    let before = (
        writes("HTTPRoute", "default", "app"),
        writes("Gateway", "default", "edge"),
        writes("GatewayClass", "", "switchyard"),
    );
    for i in 0..5 {
        cluster
            .server
            .apply(service("default", &format!("unrelated-{i}"), &[("http", 80)]));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = (
        writes("HTTPRoute", "default", "app"),
        writes("Gateway", "default", "edge"),
        writes("GatewayClass", "", "switchyard"),
    );
    assert_eq!(before, after, "no status write when nothing changed");
    assert_eq!(before.2, 1, "the GatewayClass status was written once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_routes_carry_the_reasons_the_specification_names() {
    let cluster = start(|p| p).await;
    let _app = app(&cluster, "default", "app").await;
    let same = json!({"name": "same", "port": 80, "protocol": "HTTP", "hostname": "a.test"});
    cluster.server.apply(gateway("default", "edge", json!([same])));
    let spec = |parent: Value, hosts: Value, backend_ref: Value| json!({"parentRefs": [parent], "hostnames": hosts, "rules": [{"backendRefs": [backend_ref]}]});
    let app_backend = backend("app", 80, 1);
    let cases = [
        (
            "default",
            "no-gateway",
            spec(json!({"name": "nope"}), json!([]), app_backend.clone()),
            "Accepted",
            "False",
            "NoMatchingParent",
        ),
        (
            "default",
            "no-listener",
            spec(
                json!({"name": "edge", "sectionName": "other"}),
                json!([]),
                app_backend.clone(),
            ),
            "Accepted",
            "False",
            "NoMatchingParent",
        ),
        (
            "default",
            "no-port",
            spec(json!({"name": "edge", "port": 8080}), json!([]), app_backend.clone()),
            "Accepted",
            "False",
            "NoMatchingParent",
        ),
        (
            "default",
            "by-port",
            spec(
                json!({"name": "edge", "sectionName": "same", "port": 80}),
                json!([]),
                app_backend.clone(),
            ),
            "Accepted",
            "True",
            "Accepted",
        ),
        (
            "shop",
            "other-namespace",
            spec(
                json!({"name": "edge", "namespace": "default"}),
                json!([]),
                app_backend.clone(),
            ),
            "Accepted",
            "False",
            "NotAllowedByListeners",
        ),
        (
            "default",
            "other-host",
            spec(json!({"name": "edge"}), json!(["b.test"]), app_backend.clone()),
            "Accepted",
            "False",
            "NoMatchingListenerHostname",
        ),
        (
            "default",
            "ghost",
            spec(json!({"name": "edge"}), json!([]), backend("ghost", 80, 1)),
            "ResolvedRefs",
            "False",
            "BackendNotFound",
        ),
        (
            "default",
            "bad-kind",
            spec(
                json!({"name": "edge"}),
                json!([]),
                json!({"kind": "ConfigMap", "name": "app"}),
            ),
            "ResolvedRefs",
            "False",
            "InvalidKind",
        ),
    ];
    for (namespace, name, spec, ..) in &cases {
        cluster.server.apply(http_route(namespace, name, spec.clone()));
    }
    for (namespace, name, _, type_, expected_status, reason) in cases {
        eventually(&cluster.server, "HTTPRoute", namespace, name, |s| {
            parent_condition(s, type_) == (expected_status.into(), reason.into())
        })
        .await;
    }
    let ghost = status(&cluster.server, "HTTPRoute", "default", "ghost");
    assert_eq!(parent_condition(&ghost, "Accepted"), ("True".into(), "Accepted".into()));

    // Those would answer every path of a.test: out of the way.
    for name in ["ghost", "bad-kind", "by-port"] {
        cluster.server.delete("HTTPRoute", "default", name);
    }

    // An unsupported filter fails its rule: the route stays accepted but partially invalid, and a route
    // with no other rule is not accepted.
    let bad_filter = json!({"type": "ExternalAuth", "externalAuth": {}});
    cluster.server.apply(http_route(
        "default",
        "partly",
        json!({"parentRefs": [{"name": "edge"}], "rules": [
            {"matches": [{"path": {"value": "/good"}}], "backendRefs": [app_backend.clone()]},
            {"matches": [{"path": {"value": "/bad"}}], "filters": [bad_filter.clone()], "backendRefs": [app_backend.clone()]},
        ]}),
    ));
    cluster.server.apply(http_route(
        "default",
        "wholly",
        json!({"parentRefs": [{"name": "edge"}], "rules": [
            {"matches": [{"path": {"value": "/worse"}}], "filters": [bad_filter], "backendRefs": [app_backend]},
        ]}),
    ));
    eventually(&cluster.server, "HTTPRoute", "default", "partly", |s| {
        parent_condition(s, "PartiallyInvalid") == ("True".into(), "UnsupportedValue".into())
            && parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
    })
    .await;
    eventually(&cluster.server, "HTTPRoute", "default", "wholly", |s| {
        parent_condition(s, "Accepted") == ("False".into(), "UnsupportedValue".into())
    })
    .await;
    cluster.routes_to("a.test", "/good", "app-").await;
    // The failed rules serve nothing (once the catch-all routes deleted above are gone too).
    for path in ["/bad", "/worse"] {
        support::within(support::LIVE_TIMEOUT, || async {
            cluster.get("a.test", path).await.0 == http::StatusCode::NOT_FOUND
        })
        .await
        .unwrap_or_else(|_| panic!("{path} is still served"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_grants_allow_and_deny_cross_namespace_backends_live() {
    let cluster = start(|p| p).await;
    let _db = app(&cluster, "data", "db").await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let route = http_route(
        "default",
        "cross",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["cross.test"],
               "rules": [{"backendRefs": [{"name": "db", "namespace": "data", "port": 80}]}]}),
    );
    cluster.server.apply(route);
    eventually(&cluster.server, "HTTPRoute", "default", "cross", |s| {
        parent_condition(s, "ResolvedRefs") == ("False".into(), "RefNotPermitted".into())
    })
    .await;
    assert_ne!(cluster.get("cross.test", "/").await.0, http::StatusCode::OK);

    // A grant for another namespace does not help; one for ours does.
    cluster.server.apply(grant("data", "for-shop", "shop"));
    cluster.server.apply(grant("data", "for-default", "default"));
    cluster.routes_to("cross.test", "/", "db-").await;
    eventually(&cluster.server, "HTTPRoute", "default", "cross", |s| {
        parent_condition(s, "ResolvedRefs") == ("True".into(), "ResolvedRefs".into())
    })
    .await;

    cluster.server.delete("ReferenceGrant", "data", "for-default");
    support::within(support::LIVE_TIMEOUT, || async {
        cluster.get("cross.test", "/").await.0 != http::StatusCode::OK
    })
    .await
    .expect("removing the grant stops the routing");
    eventually(&cluster.server, "HTTPRoute", "default", "cross", |s| {
        parent_condition(s, "ResolvedRefs") == ("False".into(), "RefNotPermitted".into())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_statuses() {
    let server = switchyard_test_apiserver::ApiServer::start().await;
    support::gateway::register_gateway_kinds(&server);
    server.apply(support::gateway::gateway_class(
        "switchyard",
        support::gateway::CONTROLLER,
    ));
    let renewed = k8s_openapi::jiff::Timestamp::now().to_string();
    server.apply(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"namespace": "default", "name": "gateway-status"},
        "spec": {"holderIdentity": "another-replica", "leaseDurationSeconds": 3600, "renewTime": renewed},
    }));
    let election = LeaderElection::new("default", "gateway-status")
        .identity("replica-0")
        .lease_duration(Duration::from_secs(2))
        .retry_period(Duration::from_millis(200));
    let provider = GatewayProvider::endpoint(server.url(), "", None)
        .entry_point("web", 80)
        .leader_election(election);
    let cluster = Cluster::start_provider(server, provider).await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    cluster.published().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        status(&cluster.server, "Gateway", "default", "edge"),
        Value::Null,
        "a follower writes nothing"
    );
    assert_eq!(cluster.server.writes("GatewayClass", "", "switchyard"), 0);

    // The other holder is gone: this replica takes the Lease and writes.
    cluster.server.delete("Lease", "default", "gateway-status");
    eventually(&cluster.server, "Gateway", "default", "edge", |s| {
        is(condition(&s["conditions"], "Programmed"), "True", "Programmed")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_grants_are_read_in_v1beta1_where_v1_is_not_served() {
    let server = switchyard_test_apiserver::ApiServer::start().await;
    for (api_version, kind) in switchyard_kubernetes::GATEWAY_KINDS {
        if *kind != "ReferenceGrant" {
            server.register(switchyard_test_apiserver::ResourceType::of(api_version, kind));
        }
    }
    server.register(switchyard_test_apiserver::ResourceType::of(
        "gateway.networking.k8s.io/v1beta1",
        "ReferenceGrant",
    ));
    server.apply(support::gateway::gateway_class(
        "switchyard",
        support::gateway::CONTROLLER,
    ));
    let provider = GatewayProvider::endpoint(server.url(), "", None).entry_point("web", 80);
    let cluster = Cluster::start_provider(server, provider).await;
    let _db = app(&cluster, "data", "db").await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    cluster.server.apply(http_route(
        "default",
        "cross",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["cross.test"],
               "rules": [{"backendRefs": [{"name": "db", "namespace": "data", "port": 80}]}]}),
    ));
    let mut older = grant("data", "for-default", "default");
    older["apiVersion"] = json!("gateway.networking.k8s.io/v1beta1");
    cluster.server.apply(older);
    cluster.routes_to("cross.test", "/", "db-").await;
}
