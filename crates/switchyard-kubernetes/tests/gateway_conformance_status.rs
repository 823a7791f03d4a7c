//! Ports of core conformance tests about statuses (kubernetes-sigs/gateway-api
//! `conformance/tests`), in switchyard's own code: listeners' route kinds, `observedGeneration`
//! bumps, listeners added and removed, and ReferenceGrants that do not cover a backend.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::conformance::EchoBackend;
use support::gateway::{condition, eventually, gateway, gateway_class, http_route, parent_condition, start};
use support::secret;
use support::tls::Ca;

/// The suite's infrastructure namespace.
const NS: &str = "gateway-conformance-infra";

fn listener<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["listeners"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["name"] == name))
        .unwrap_or(&Value::Null)
}

fn has(condition: &Value, status: &str, reason: &str) -> bool {
    condition["status"] == status && condition["reason"] == reason
}

/// GatewayInvalidRouteKind: a listener allowing only an unknown route kind has `ResolvedRefs`
/// false (`InvalidRouteKinds`) and no supported kind; with HTTPRoute beside it, HTTPRoute alone is
/// supported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_invalid_route_kind() {
    let cluster = start(|p| p).await;
    let http = |kinds: Value| {
        json!([{"name": "http", "port": 80, "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "All"}, "kinds": kinds}}])
    };
    cluster.server.apply(gateway(
        NS,
        "gateway-only-invalid-route-kind",
        http(json!([{"kind": "InvalidRoute"}])),
    ));
    cluster.server.apply(gateway(
        NS,
        "gateway-supported-and-invalid-route-kind",
        http(json!([{"kind": "InvalidRoute"}, {"kind": "HTTPRoute"}])),
    ));
    eventually(&cluster.server, "Gateway", NS, "gateway-only-invalid-route-kind", |s| {
        let l = listener(s, "http");
        has(
            condition(&l["conditions"], "ResolvedRefs"),
            "False",
            "InvalidRouteKinds",
        ) && l["supportedKinds"].as_array().is_some_and(Vec::is_empty)
            && l["attachedRoutes"] == 0
    })
    .await;
    eventually(
        &cluster.server,
        "Gateway",
        NS,
        "gateway-supported-and-invalid-route-kind",
        |s| {
            let l = listener(s, "http");
            has(
                condition(&l["conditions"], "ResolvedRefs"),
                "False",
                "InvalidRouteKinds",
            ) && l["supportedKinds"] == json!([{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}])
                && l["attachedRoutes"] == 0
        },
    )
    .await;
}

/// GatewayObservedGenerationBump and GatewayClassObservedGenerationBump: a change of the spec
/// bumps `observedGeneration` in every condition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observed_generations_follow_spec_changes() {
    let cluster = start(|p| p).await;
    let one = json!({"name": "http", "port": 80, "protocol": "HTTP"});
    let two = json!({"name": "http-2", "port": 8080, "protocol": "HTTP"});
    cluster
        .server
        .apply(gateway(NS, "gateway-observed-generation-bump", json!([one.clone()])));
    let all_at = |s: &Value, generation: i64| {
        let gateway = s["conditions"]
            .as_array()
            .is_some_and(|c| !c.is_empty() && c.iter().all(|c| c["observedGeneration"] == generation));
        let listeners = s["listeners"].as_array().is_some_and(|l| {
            l.iter().all(|l| {
                l["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().all(|c| c["observedGeneration"] == generation))
            })
        });
        gateway && listeners
    };
    eventually(
        &cluster.server,
        "Gateway",
        NS,
        "gateway-observed-generation-bump",
        |s| all_at(s, 1),
    )
    .await;
    cluster
        .server
        .apply(gateway(NS, "gateway-observed-generation-bump", json!([one, two])));
    eventually(
        &cluster.server,
        "Gateway",
        NS,
        "gateway-observed-generation-bump",
        |s| all_at(s, 2) && s["listeners"].as_array().is_some_and(|l| l.len() == 2),
    )
    .await;

    eventually(&cluster.server, "GatewayClass", "", "switchyard", |s| {
        has(condition(&s["conditions"], "Accepted"), "True", "Accepted")
            && condition(&s["conditions"], "Accepted")["observedGeneration"] == 1
    })
    .await;
    let mut class = gateway_class("switchyard", support::gateway::CONTROLLER);
    class["spec"]["description"] = json!("the observed generation follows");
    cluster.server.apply(class);
    eventually(&cluster.server, "GatewayClass", "", "switchyard", |s| {
        has(condition(&s["conditions"], "Accepted"), "True", "Accepted")
            && condition(&s["conditions"], "Accepted")["observedGeneration"] == 2
    })
    .await;
}

/// GatewayModifyListeners: a listener added to a Gateway appears in its status with the route
/// attached; a listener removed disappears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_modify_listeners() {
    let cluster = start(|p| p).await;
    let _v1 = EchoBackend::start(&cluster, NS, "infra-backend-v1").await;
    let issued = Ca::new().issue(&["secure.test.com"]);
    cluster.server.apply(secret(
        NS,
        "tls-validity-checks-certificate",
        "kubernetes.io/tls",
        &[("tls.crt", &issued.cert), ("tls.key", &issued.key)],
    ));
    let https = json!({"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "secure.test.com",
        "allowedRoutes": {"namespaces": {"from": "All"}},
        "tls": {"certificateRefs": [{"group": "", "kind": "Secret", "name": "tls-validity-checks-certificate", "namespace": NS}]}});
    let http = json!({"name": "http", "port": 80, "protocol": "HTTP", "hostname": "data.test.com",
        "allowedRoutes": {"namespaces": {"from": "All"}}});
    let route = |gateway: &str| {
        http_route(
            NS,
            &format!("route-{gateway}"),
            json!({"parentRefs": [{"kind": "Gateway", "name": gateway, "namespace": NS}],
                   "rules": [{"backendRefs": [{"name": "infra-backend-v1", "port": 8080}]}]}),
        )
    };
    let ready = |l: &Value| {
        ["Accepted", "ResolvedRefs", "Programmed"]
            .iter()
            .all(|t| condition(&l["conditions"], t)["status"] == "True")
            && l["attachedRoutes"] == 1
    };

    cluster
        .server
        .apply(gateway(NS, "gateway-add-listener", json!([https.clone()])));
    cluster.server.apply(route("gateway-add-listener"));
    eventually(&cluster.server, "Gateway", NS, "gateway-add-listener", |s| {
        ready(listener(s, "https"))
    })
    .await;
    cluster.server.apply(gateway(
        NS,
        "gateway-add-listener",
        json!([https.clone(), http.clone()]),
    ));
    eventually(&cluster.server, "Gateway", NS, "gateway-add-listener", |s| {
        ready(listener(s, "https")) && ready(listener(s, "http"))
    })
    .await;
    cluster.echoes_from("data.test.com", "/", "infra-backend-v1-0").await;

    cluster
        .server
        .apply(gateway(NS, "gateway-remove-listener", json!([https, http.clone()])));
    cluster.server.apply(route("gateway-remove-listener"));
    eventually(&cluster.server, "Gateway", NS, "gateway-remove-listener", |s| {
        s["listeners"].as_array().is_some_and(|l| l.len() == 2) && ready(listener(s, "http"))
    })
    .await;
    cluster
        .server
        .apply(gateway(NS, "gateway-remove-listener", json!([http])));
    eventually(&cluster.server, "Gateway", NS, "gateway-remove-listener", |s| {
        s["listeners"].as_array().is_some_and(|l| l.len() == 1) && ready(listener(s, "http"))
    })
    .await;
}

/// HTTPRouteInvalidReferenceGrant: ReferenceGrants that each miss the route by one field leave
/// the cross-namespace backend `RefNotPermitted`, and its requests get 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_invalid_reference_grant() {
    let cluster = start(|p| p).await;
    let web_ns = "gateway-conformance-web-backend";
    let _web = EchoBackend::start(&cluster, web_ns, "web-backend").await;
    cluster.server.apply(gateway(
        NS,
        "same-namespace",
        json!([{"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}]),
    ));
    let grant = |namespace: &str, name: &str, from: Value, to: Value| {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant",
               "metadata": {"namespace": namespace, "name": name}, "spec": {"from": [from], "to": [to]}})
    };
    let from = |group: &str, kind: &str, namespace: &str| json!({"group": group, "kind": kind, "namespace": namespace});
    let to = |group: &str, kind: &str, name: &str| json!({"group": group, "kind": kind, "name": name});
    let group = "gateway.networking.k8s.io";
    for (namespace, name, from, to) in [
        (
            NS,
            "wrong-namespace",
            from(group, "HTTPRoute", NS),
            to("", "Service", "web-backend"),
        ),
        (
            web_ns,
            "wrong-from-group",
            from("not-the-group", "HTTPRoute", NS),
            to("", "Service", "web-backend"),
        ),
        (
            web_ns,
            "wrong-from-kind",
            from(group, "Gateway", NS),
            to("", "Service", "web-backend"),
        ),
        (
            web_ns,
            "wrong-from-namespace",
            from(group, "HTTPRoute", "elsewhere"),
            to("", "Service", "web-backend"),
        ),
        (
            web_ns,
            "wrong-to-group",
            from(group, "HTTPRoute", NS),
            to("not-the-group", "Service", "web-backend"),
        ),
        (
            web_ns,
            "wrong-to-kind",
            from(group, "HTTPRoute", NS),
            to("", "Secret", "web-backend"),
        ),
        (
            web_ns,
            "wrong-to-name",
            from(group, "HTTPRoute", NS),
            to("", "Service", "not-the-service"),
        ),
    ] {
        cluster.server.apply(grant(namespace, name, from, to));
    }
    cluster.server.apply(http_route(
        NS,
        "reference-grant",
        json!({"parentRefs": [{"name": "same-namespace"}],
               "rules": [{"backendRefs": [{"name": "web-backend", "namespace": web_ns, "port": 8080}]}]}),
    ));
    eventually(&cluster.server, "HTTPRoute", NS, "reference-grant", |s| {
        parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
            && parent_condition(s, "ResolvedRefs") == ("False".into(), "RefNotPermitted".into())
    })
    .await;
    support::within(support::LIVE_TIMEOUT, || async {
        cluster.request("GET", "any.test", "/", &[]).await.status == StatusCode::INTERNAL_SERVER_ERROR
    })
    .await
    .expect("requests for the backend no grant covers get 500");
}

fn https(certificate: Value) -> Value {
    json!([{"name": "https", "port": 443, "protocol": "HTTPS",
            "allowedRoutes": {"namespaces": {"from": "All"}},
            "tls": {"certificateRefs": [certificate]}}])
}

/// GatewayInvalidTLSConfiguration: a certificate Secret that does not exist, of another group or
/// kind, or malformed leaves the listener `ResolvedRefs` false (`InvalidCertificateRef`) with no
/// route attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_invalid_tls_configuration() {
    let cluster = start(|p| p).await;
    let issued = Ca::new().issue(&["secure.test.com"]);
    cluster.server.apply(secret(
        NS,
        "tls-validity-checks-certificate",
        "kubernetes.io/tls",
        &[("tls.crt", &issued.cert), ("tls.key", &issued.key)],
    ));
    // Not PEM, and the same for the certificate and the key.
    cluster.server.apply(secret(
        NS,
        "malformed-certificate",
        "kubernetes.io/tls",
        &[("tls.crt", "Hello world\n"), ("tls.key", "Hello world\n")],
    ));
    let cases = [
        (
            "gateway-certificate-nonexistent-secret",
            json!({"group": "", "kind": "Secret", "name": "nonexistent-certificate"}),
        ),
        (
            "gateway-certificate-unsupported-group",
            json!({"group": "wrong.group.company.io", "kind": "Secret", "name": "tls-validity-checks-certificate"}),
        ),
        (
            "gateway-certificate-unsupported-kind",
            json!({"group": "", "kind": "WrongKind", "name": "tls-validity-checks-certificate"}),
        ),
        (
            "gateway-certificate-malformed-secret",
            json!({"group": "", "kind": "Secret", "name": "malformed-certificate"}),
        ),
    ];
    for (name, certificate) in &cases {
        cluster.server.apply(gateway(NS, name, https(certificate.clone())));
    }
    for (name, _) in &cases {
        eventually(&cluster.server, "Gateway", NS, name, |s| {
            let l = listener(s, "https");
            has(
                condition(&l["conditions"], "ResolvedRefs"),
                "False",
                "InvalidCertificateRef",
            ) && l["attachedRoutes"] == 0
                && l["supportedKinds"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k["kind"] == "HTTPRoute"))
        })
        .await;
    }
}

/// GatewaySecretInvalidReferenceGrant and GatewaySecretReferenceGrantAllInNamespace: a
/// certificate of another namespace needs a ReferenceGrant that covers it; one for another Secret
/// leaves the listener `RefNotPermitted`, one for every Secret of the namespace lets it serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_secret_reference_grants() {
    let cluster = start(|p| p).await;
    let web_ns = "gateway-conformance-web-backend";
    let issued = Ca::new().issue(&["secure.test.com"]);
    cluster.server.apply(secret(
        web_ns,
        "certificate",
        "kubernetes.io/tls",
        &[("tls.crt", &issued.cert), ("tls.key", &issued.key)],
    ));
    let grant = |name: &str, to: Value| {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant",
               "metadata": {"namespace": web_ns, "name": name},
               "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": NS}], "to": [to]}})
    };
    cluster.server.apply(grant(
        "reference-grant-wrong-to-name",
        json!({"group": "", "kind": "Secret", "name": "not-the-certificate-youre-looking-for"}),
    ));
    let gateway_name = "gateway-secret-reference-grant";
    let certificate = json!({"group": "", "kind": "Secret", "name": "certificate", "namespace": web_ns});
    cluster.server.apply(gateway(NS, gateway_name, https(certificate)));
    eventually(&cluster.server, "Gateway", NS, gateway_name, |s| {
        let l = listener(s, "https");
        has(condition(&l["conditions"], "ResolvedRefs"), "False", "RefNotPermitted")
            && condition(&l["conditions"], "Programmed")["status"] == "False"
    })
    .await;
    cluster.server.apply(grant(
        "reference-grant-all-in-namespace",
        json!({"group": "", "kind": "Secret"}),
    ));
    eventually(&cluster.server, "Gateway", NS, gateway_name, |s| {
        let l = listener(s, "https");
        has(condition(&l["conditions"], "ResolvedRefs"), "True", "ResolvedRefs")
            && has(condition(&l["conditions"], "Programmed"), "True", "Programmed")
            && has(condition(&l["conditions"], "Accepted"), "True", "Accepted")
    })
    .await;
}

/// GatewayInvalidParametersRef: switchyard has no kind of Gateway parameters, so a Gateway that
/// names some is `Accepted: False` (`InvalidParameters`) and not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_invalid_parameters_ref() {
    let cluster = start(|p| p).await;
    let _v1 = EchoBackend::start(&cluster, NS, "infra-backend-v1").await;
    let mut object = gateway(
        NS,
        "gateway-invalid-parameters-ref",
        json!([{"name": "http", "port": 80, "protocol": "HTTP"}]),
    );
    object["spec"]["infrastructure"] =
        json!({"parametersRef": {"group": "invalid.io", "kind": "InvalidParameters", "name": "invalid"}});
    cluster.server.apply(object);
    cluster.server.apply(http_route(
        NS,
        "route",
        json!({"parentRefs": [{"name": "gateway-invalid-parameters-ref"}],
               "rules": [{"backendRefs": [{"name": "infra-backend-v1", "port": 8080}]}]}),
    ));
    eventually(&cluster.server, "Gateway", NS, "gateway-invalid-parameters-ref", |s| {
        let accepted = condition(&s["conditions"], "Accepted");
        has(accepted, "False", "InvalidParameters")
            && accepted["observedGeneration"] == 1
            && condition(&s["conditions"], "Programmed")["status"] == "False"
            && condition(&listener(s, "http")["conditions"], "Programmed")["status"] == "False"
    })
    .await;
    eventually(&cluster.server, "HTTPRoute", NS, "route", |s| {
        parent_condition(s, "Accepted").0 == "False"
    })
    .await;
    assert_eq!(
        cluster.request("GET", "any.test", "/", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        cluster.warnings().iter().all(|w| !w.contains("infrastructure")),
        "{:?}",
        cluster.warnings()
    );
}
