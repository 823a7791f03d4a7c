//! What the published configuration holds for annotations, backend kinds, classes and TLS, and how
//! objects that cannot be translated are reported and skipped.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::{Cluster, Pods, ingress, ready, rule, service, slice, tls_secret, within};
use switchyard_config::{LoadBalancer, Router, ServiceKind};

const CERT: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nKKKK\n-----END PRIVATE KEY-----\n";

/// A router as published, whether it went live or was disabled by validation (an unknown entrypoint).
fn router(cluster: &Cluster, name: &str) -> Option<Router> {
    let snapshot = cluster.gateway.snapshot();
    let runtime = &snapshot.published().runtime;
    let qualified = format!("{name}@kubernetes");
    runtime
        .config
        .http
        .routers
        .get(&qualified)
        .or_else(|| runtime.disabled.routers.get(&qualified))
        .cloned()
}

fn load_balancer(cluster: &Cluster, name: &str) -> Option<LoadBalancer> {
    let snapshot = cluster.gateway.snapshot();
    let runtime = &snapshot.published().runtime;
    let qualified = format!("{name}@kubernetes");
    let service = runtime
        .config
        .http
        .services
        .get(&qualified)
        .or_else(|| runtime.disabled.services.get(&qualified))?;
    match &service.kind {
        ServiceKind::LoadBalancer(lb) => Some(lb.clone()),
        _ => None,
    }
}

fn annotated(mut object: Value, annotations: Value) -> Value {
    object["metadata"]["annotations"] = annotations;
    object
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    within(std::time::Duration::from_secs(15), || async { check() })
        .await
        .unwrap_or_else(|_| panic!("{what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_and_service_annotations_reach_the_configuration() {
    let cluster = Cluster::start(|p| p).await;
    let pods = Pods::start("app", 1).await;
    cluster.server.apply(annotated(
        service("default", "app", &[("http", 80)]),
        json!({
            "traefik.ingress.kubernetes.io/service.sticky.cookie": "true",
            "traefik.ingress.kubernetes.io/service.sticky.cookie.name": "sid",
            "traefik.ingress.kubernetes.io/service.passhostheader": "false",
            "traefik.ingress.kubernetes.io/service.serverstransport": "default-tr@kubernetescrd",
            "traefik.ingress.kubernetes.io/service.serversscheme": "h2c",
        }),
    ));
    cluster.server.apply(slice(
        "default",
        "app",
        "app-abc",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    cluster.server.apply(annotated(
        ingress(
            "default",
            "app",
            json!({"rules": [rule("app.test", &[("Prefix", "/api", "app", "http")])]}),
        ),
        json!({
            "traefik.ingress.kubernetes.io/router.entrypoints": "web,websecure",
            "traefik.ingress.kubernetes.io/router.middlewares": "default-auth@kubernetescrd",
            "traefik.ingress.kubernetes.io/router.priority": "77",
            "traefik.ingress.kubernetes.io/router.tls": "true",
            "traefik.ingress.kubernetes.io/router.tls.certresolver": "le",
        }),
    ));
    eventually("the annotated router is published", || {
        router(&cluster, "default-app-app-test-api").is_some()
    })
    .await;
    let r = router(&cluster, "default-app-app-test-api").unwrap();
    assert_eq!(r.rule, "Host(`app.test`) && (Path(`/api`) || PathPrefix(`/api/`))");
    assert_eq!(r.entry_points, ["web", "websecure"]);
    assert_eq!(r.middlewares, ["default-auth@kubernetescrd"]);
    assert_eq!(
        r.priority, 3_000_077,
        "an annotated priority outranks the computed ones"
    );
    assert_eq!(r.tls.unwrap().cert_resolver, "le");
    let lb = load_balancer(&cluster, "default-app-http").unwrap();
    assert_eq!(lb.sticky.unwrap().cookie.unwrap().name, "sid");
    assert!(!lb.pass_host_header);
    assert_eq!(lb.servers_transport, "default-tr@kubernetescrd");
    assert_eq!(lb.servers[0].url, format!("h2c://127.0.0.1:{}", pods.port));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_lb_external_name_ports_by_number_and_dual_stack() {
    let cluster = Cluster::start(|p| p.allow_external_name_services(true)).await;
    cluster.server.apply(annotated(
        service("default", "native", &[("https", 443)]),
        json!({"traefik.ingress.kubernetes.io/service.nativelb": "true"}),
    ));
    cluster.server.apply(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": "default", "name": "external"},
        "spec": {"type": "ExternalName", "externalName": "api.example.com", "ports": [{"port": 8080}]},
    }));
    cluster.server.apply(service("default", "dual", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "dual",
        "dual-v4",
        "http",
        8080,
        &ready(&["10.0.0.1", "10.0.0.2"]),
    ));
    cluster
        .server
        .apply(slice("default", "dual", "dual-v6", "http", 8080, &ready(&["fd00::1"])));
    let backend = |service: &str, port: Value| json!({"service": {"name": service, "port": port}});
    cluster.server.apply(ingress(
        "default",
        "kinds",
        json!({"rules": [{"http": {"paths": [
            {"path": "/native", "pathType": "Prefix", "backend": backend("native", json!({"name": "https"}))},
            {"path": "/external", "pathType": "Prefix", "backend": backend("external", json!({"number": 8080}))},
            {"path": "/dual", "pathType": "Prefix", "backend": backend("dual", json!({"number": 80}))},
        ]}}]}),
    ));
    eventually("the services are published", || {
        load_balancer(&cluster, "default-dual-80").is_some()
    })
    .await;
    let urls = |name: &str| -> Vec<String> {
        load_balancer(&cluster, name)
            .unwrap()
            .servers
            .into_iter()
            .map(|s| s.url)
            .collect()
    };
    assert_eq!(urls("default-native-https"), ["https://10.96.0.10:443"]);
    assert_eq!(urls("default-external-8080"), ["http://api.example.com:8080"]);
    assert_eq!(
        urls("default-dual-80"),
        ["http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://[fd00::1]:8080"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_ingresses_of_our_class_are_handled() {
    let cluster = Cluster::start(|p| p.allow_empty_services(true)).await;
    cluster.server.apply(service("default", "app", &[("http", 80)]));
    let class = |name: &str, controller: &str| {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name}, "spec": {"controller": controller},
        })
    };
    cluster.server.apply(class("ours", "traefik.io/ingress-controller"));
    cluster.server.apply(class("nginx", "k8s.io/ingress-nginx"));
    let with_class = |name: &str, class: &str| {
        let mut object = ingress(
            "default",
            name,
            json!({"rules": [rule(&format!("{name}.test"), &[("Prefix", "/", "app", "http")])]}),
        );
        object["spec"]["ingressClassName"] = json!(class);
        object
    };
    let legacy = |name: &str, class: &str| {
        annotated(
            ingress(
                "default",
                name,
                json!({"rules": [rule(&format!("{name}.test"), &[("Prefix", "/", "app", "http")])]}),
            ),
            json!({"kubernetes.io/ingress.class": class}),
        )
    };
    cluster.server.apply(with_class("by-class", "ours"));
    cluster.server.apply(with_class("other-class", "nginx"));
    cluster.server.apply(legacy("legacy-traefik", "traefik"));
    cluster.server.apply(legacy("legacy-nginx", "nginx"));
    cluster.server.apply(ingress(
        "default",
        "unclassed",
        json!({"rules": [rule("unclassed.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    eventually("the unclassed Ingress is published", || {
        router(&cluster, "default-unclassed-unclassed-test").is_some()
    })
    .await;
    for (name, handled) in [
        ("by-class", true),
        ("other-class", false),
        ("legacy-traefik", true),
        ("legacy-nginx", false),
    ] {
        assert_eq!(
            router(&cluster, &format!("default-{name}-{name}-test")).is_some(),
            handled,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_objects_are_reported_and_skipped_while_the_rest_goes_live() {
    let cluster = Cluster::start(|p| p).await;
    let pods = Pods::start("good", 1).await;
    cluster.server.apply(service("default", "good", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "good",
        "good-abc",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    cluster.server.apply(ingress(
        "default",
        "missing-service",
        json!({"rules": [rule("missing.test", &[("Prefix", "/", "absent", "http")])]}),
    ));
    cluster.server.apply(annotated(
        ingress(
            "default",
            "bad-annotation",
            json!({"rules": [rule("bad.test", &[("Prefix", "/", "good", "http")])]}),
        ),
        json!({"traefik.ingress.kubernetes.io/router.priority": "first"}),
    ));
    let mut broken_secret = tls_secret("default", "broken", CERT, KEY);
    broken_secret["data"] = json!({"tls.crt": "bm90IGEgY2VydA=="});
    cluster.server.apply(broken_secret);
    cluster.server.apply(tls_secret("default", "fine", CERT, KEY));
    cluster.server.apply(ingress(
        "default",
        "good",
        json!({
            "tls": [{"secretName": "broken"}, {"secretName": "fine"}, {"secretName": "nowhere"}],
            "rules": [rule("good.test", &[("Prefix", "/", "good", "http"), ("Prefix", "/port", "good", "missing-port")])],
        }),
    ));
    cluster.routes_to("good.test", "/", "good-0").await;
    let expected = [
        "Ingress default/missing-service: Service `absent` not found",
        "Ingress default/bad-annotation: annotation `traefik.ingress.kubernetes.io/router.priority`: invalid value `first`",
        "Ingress default/good: TLS Secret `broken`: `tls.crt` holds no PEM block",
        "Ingress default/good: TLS Secret `nowhere` not found",
        "Ingress default/good: Service `good` has no port missing-port",
    ];
    // Warnings follow the snapshot they are about, so they may land just after its routes go live.
    let _ = within(std::time::Duration::from_secs(15), || async {
        let warnings = cluster.warnings().join("\n");
        expected.iter().all(|e| warnings.contains(e))
    })
    .await;
    let warnings = cluster.warnings().join("\n");
    for expected in expected {
        assert!(warnings.contains(expected), "missing {expected:?} in:\n{warnings}");
    }
    assert_eq!(cluster.get("missing.test", "/").await.0, 404);
    assert_eq!(cluster.get("bad.test", "/").await.0, 404);
    let snapshot = cluster.gateway.snapshot();
    let certificates = &snapshot.published().runtime.config.tls.certificates;
    assert_eq!(certificates.len(), 1, "only the good Secret's certificate");
    assert_eq!(certificates[0].cert_file, CERT);
    assert_eq!(certificates[0].key_file, KEY);

    // Fixing the Service brings the skipped Ingress in.
    cluster.server.apply(service("default", "absent", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "absent",
        "absent-abc",
        "http",
        pods.port,
        &ready(&pods.first(1)),
    ));
    cluster.routes_to("missing.test", "/", "good-0").await;
}
