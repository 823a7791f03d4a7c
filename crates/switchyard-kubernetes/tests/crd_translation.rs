//! What the published configuration holds for each field of Traefik's custom resources, how broken
//! objects are reported (by namespace/name and key path) while the rest goes live, and the namespace
//! rules (`allowCrossNamespace`, `crossProviderNamespaces`).
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, Pods, ready, secret, service, slice, traefik, within};
use switchyard_config::{LoadBalancer, Middleware, Router, Service, ServiceKind, Strategy};

const Q: &str = "@kubernetescrd";

fn hash(rule: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(rule.as_bytes())
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The router of the route `rule` of IngressRoute `namespace/name`, live or disabled.
fn router(cluster: &Cluster, namespace: &str, name: &str, rule: &str) -> Option<Router> {
    let key = format!("{namespace}-{name}-{}{Q}", hash(rule));
    let snapshot = cluster.gateway.snapshot();
    let runtime = &snapshot.published().runtime;
    runtime
        .config
        .http
        .routers
        .get(&key)
        .or_else(|| runtime.disabled.routers.get(&key))
        .cloned()
}

fn service_of(cluster: &Cluster, name: &str) -> Option<Service> {
    let key = format!("{name}{Q}");
    let snapshot = cluster.gateway.snapshot();
    let runtime = &snapshot.published().runtime;
    runtime
        .config
        .http
        .services
        .get(&key)
        .or_else(|| runtime.disabled.services.get(&key))
        .cloned()
}

fn load_balancer(cluster: &Cluster, name: &str) -> LoadBalancer {
    match service_of(cluster, name).map(|s| s.kind) {
        Some(ServiceKind::LoadBalancer(lb)) => lb,
        other => panic!("{name}: {other:?}"),
    }
}

fn middleware_of(cluster: &Cluster, name: &str) -> Option<Middleware> {
    let key = format!("{name}{Q}");
    let snapshot = cluster.gateway.snapshot();
    let runtime = &snapshot.published().runtime;
    runtime
        .config
        .http
        .middlewares
        .get(&key)
        .or_else(|| runtime.disabled.middlewares.get(&key))
        .cloned()
}

async fn eventually(what: &str, cluster: &Cluster, check: impl Fn() -> bool) {
    within(Duration::from_secs(10), || async { check() })
        .await
        .unwrap_or_else(|_| panic!("{what}; warnings: {:#?}", cluster.warnings()));
}

/// Waits for every expected warning (they follow the snapshot they are about).
async fn warned(cluster: &Cluster, expected: &[&str]) {
    let _ = within(Duration::from_secs(10), || async {
        let warnings = cluster.warnings().join("\n");
        expected.iter().all(|e| warnings.contains(e))
    })
    .await;
    let warnings = cluster.warnings().join("\n");
    for expected in expected {
        assert!(warnings.contains(expected), "missing {expected:?} in:\n{warnings}");
    }
}

fn deploy(cluster: &Cluster, namespace: &str, name: &str, port: u16) {
    cluster.apply(service(namespace, name, &[("http", 80)]));
    cluster.apply(slice(
        namespace,
        name,
        &format!("{name}-abc"),
        "http",
        port,
        &ready(&["127.0.0.1"]),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_and_service_fields_reach_the_configuration() {
    let cluster = Cluster::start_crd(|p| p.allow_external_name_services(true)).await;
    deploy(&cluster, "default", "app", 8080);
    cluster.apply(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": "default", "name": "external"},
        "spec": {"type": "ExternalName", "externalName": "api.example.com"},
    }));
    let mut node_port = service("default", "nodes", &[("http", 80)]);
    node_port["spec"]["type"] = json!("NodePort");
    node_port["spec"]["ports"][0]["nodePort"] = json!(30080);
    cluster.apply(node_port);
    cluster.apply(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}]},
    }));
    cluster.apply(traefik(
        "Middleware",
        "default",
        "tag",
        json!({"headers": {"customRequestHeaders": {"X-A": "b"}}}),
    ));
    let rule = "Host(`fields.test`) && PathPrefix(`/api`)";
    cluster.apply(traefik(
        "IngressRoute",
        "default",
        "fields",
        json!({
            "entryPoints": ["web", "websecure"],
            "routes": [
                {
                    "match": rule, "kind": "Rule", "priority": 42, "syntax": "v3",
                    "observability": {"accessLogs": false, "traceVerbosity": "detailed"},
                    "middlewares": [{"name": "tag"}, {"name": "auth@file"}],
                    "services": [{
                        "name": "app", "port": 80, "strategy": "p2c", "passHostHeader": false,
                        "sticky": {"cookie": {"name": "sid", "secure": true, "sameSite": "lax"}},
                        "responseForwarding": {"flushInterval": "1s"},
                        "serversTransport": "tr", "scheme": "h2c", "nativeLB": true,
                        "passiveHealthCheck": {"failureWindow": "30s", "maxFailedAttempts": 3},
                        "middlewares": [{"name": "tag"}],
                    }],
                },
                {"match": "Host(`external.test`)", "services": [{
                    "name": "external", "port": 8443, "scheme": "https",
                    "healthCheck": {"path": "/health", "interval": "5s"},
                }]},
                {"match": "Host(`nodes.test`)", "services": [{"name": "nodes", "port": 80, "nodePortLB": true}]},
            ],
            "tls": {"certResolver": "le", "domains": [{"main": "fields.test", "sans": ["www.fields.test"]}], "options": {"name": "modern"}},
        }),
    ));
    eventually("the routers are published", &cluster, || {
        router(&cluster, "default", "fields", "Host(`nodes.test`)").is_some()
    })
    .await;
    let r = router(&cluster, "default", "fields", rule).unwrap();
    let service = format!("default-app-80{Q}");
    assert_eq!(
        (r.priority, r.rule_syntax.as_deref(), r.service.as_str()),
        (42, Some("v3"), service.as_str())
    );
    assert_eq!(r.entry_points, ["web", "websecure"]);
    assert_eq!(r.middlewares, [format!("default-tag{Q}"), "auth@file".to_owned()]);
    let observability = r.observability.unwrap();
    assert_eq!(
        (
            observability.access_logs,
            observability.metrics,
            observability.trace_verbosity.as_str()
        ),
        (false, true, "detailed")
    );
    let tls = r.tls.unwrap();
    assert_eq!(
        (tls.cert_resolver.as_str(), tls.options.as_str()),
        ("le", "default-modern@kubernetescrd")
    );
    assert_eq!(tls.domains[0].sans, ["www.fields.test"]);

    let lb = load_balancer(&cluster, "default-app-80");
    assert_eq!(lb.servers[0].url, "h2c://10.96.0.10:80", "nativeLB: the ClusterIP");
    assert_eq!(lb.strategy, Strategy::P2c);
    assert!(!lb.pass_host_header);
    assert_eq!(lb.sticky.unwrap().cookie.unwrap().same_site, "lax");
    assert_eq!(
        lb.response_forwarding.flush_interval,
        switchyard_config::Duration::from_secs(1)
    );
    assert_eq!(lb.servers_transport, format!("default-tr{Q}"));
    assert_eq!(lb.passive_health_check.unwrap().max_failed_attempts, 3);
    assert_eq!(
        service_of(&cluster, "default-app-80").unwrap().middlewares,
        [format!("default-tag{Q}")]
    );
    let external = load_balancer(&cluster, "default-external-8443");
    assert_eq!(external.servers[0].url, "https://api.example.com:8443");
    assert_eq!(external.health_check.unwrap().path, "/health");
    let nodes = load_balancer(&cluster, "default-nodes-80");
    assert_eq!(nodes.servers[0].url, "http://10.0.0.7:30080");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_services_middlewares_transports_and_tls_objects_reach_the_configuration() {
    let cluster = Cluster::start_crd(|p| p).await;
    deploy(&cluster, "default", "a", 8081);
    deploy(&cluster, "default", "b", 8082);
    let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let key = "-----BEGIN PRIVATE KEY-----\nKKKK\n-----END PRIVATE KEY-----\n";
    cluster.apply(secret(
        "default",
        "digest",
        "Opaque",
        &[("users", "test:traefik:a2688e031edb4be6a3797f3882655c05\n")],
    ));
    cluster.apply(secret("default", "ca", "Opaque", &[("ca.crt", pem)]));
    cluster.apply(secret(
        "default",
        "cert",
        "kubernetes.io/tls",
        &[("tls.crt", pem), ("tls.key", key)],
    ));
    cluster.apply(secret("default", "plugin-secret", "Opaque", &[("token", "s3cret")]));
    let m = |name: &str, spec: Value| cluster.apply(traefik("Middleware", "default", name, spec));
    m(
        "digest",
        json!({"digestAuth": {"secret": "digest", "removeHeader": true}}),
    );
    m(
        "forward",
        json!({"forwardAuth": {"address": "https://auth.example.com/check", "authResponseHeaders": ["X-User"],
        "tls": {"caSecret": "ca", "certSecret": "cert", "insecureSkipVerify": false}}}),
    );
    m(
        "plugged",
        json!({"plugin": {"demo": {"token": "urn:k8s:secret:plugin-secret:token", "plain": "x"}}}),
    );
    m(
        "limit",
        json!({"rateLimit": {"average": 10, "burst": 20, "period": "1m"}}),
    );
    let t = |name: &str, spec: Value| cluster.apply(traefik("TraefikService", "default", name, spec));
    t(
        "hrw",
        json!({"highestRandomWeight": {"services": [{"name": "a", "port": 80, "weight": 2}, {"name": "b", "port": 80}]}}),
    );
    t(
        "fail",
        json!({"failover": {"service": {"name": "a", "port": 80}, "fallback": {"name": "b", "port": 80},
        "errors": {"status": ["500-599"], "maxRequestBodyBytes": 1024}}}),
    );
    t(
        "mirror",
        json!({"mirroring": {"name": "a", "port": 80, "mirrorBody": false, "maxBodySize": 64,
        "mirrors": [{"name": "b", "port": 80, "percent": 10}]}}),
    );
    cluster.apply(traefik(
        "ServersTransport",
        "default",
        "tr",
        json!({"serverName": "x.internal", "rootCAs": [{"secret": "ca"}],
        "maxIdleConnsPerHost": 7, "disableHTTP2": true, "insecureSkipVerify": true}),
    ));
    cluster.apply(traefik(
        "TLSOption",
        "default",
        "modern",
        json!({"minVersion": "VersionTLS13", "sniStrict": true,
        "alpnProtocols": ["h2"], "clientAuth": {"secretNames": ["ca"], "clientAuthType": "VerifyClientCertIfGiven"}}),
    ));
    cluster.apply(traefik(
        "TLSStore",
        "default",
        "extra",
        json!({"certificates": [{"secretName": "cert"}]}),
    ));
    eventually("the TLS store is published", &cluster, || {
        cluster
            .gateway
            .snapshot()
            .published()
            .runtime
            .config
            .tls
            .stores
            .contains_key("default-extra@kubernetescrd")
    })
    .await;
    let Some(Middleware::DigestAuth(digest)) = middleware_of(&cluster, "default-digest") else {
        panic!("digestAuth")
    };
    assert_eq!(
        (digest.users.len(), digest.remove_header, digest.realm.as_str()),
        (1, true, "traefik")
    );
    let Some(Middleware::ForwardAuth(forward)) = middleware_of(&cluster, "default-forward") else {
        panic!("forwardAuth")
    };
    let tls = forward.tls.unwrap();
    assert_eq!((tls.ca.as_str(), tls.cert.as_str(), tls.key.as_str()), (pem, pem, key));
    let Some(Middleware::Plugin(plugin)) = middleware_of(&cluster, "default-plugged") else {
        panic!("plugin")
    };
    assert_eq!(plugin["demo"], json!({"token": "s3cret", "plain": "x"}));
    assert!(
        matches!(middleware_of(&cluster, "default-limit"), Some(Middleware::RateLimit(limit)) if limit.burst == 20)
    );
    let kind = |name: &str| service_of(&cluster, name).map(|s| s.kind);
    assert!(matches!(kind("default-hrw"), Some(ServiceKind::HighestRandomWeight(h)) if h.services[0].weight == 2));
    assert!(
        matches!(kind("default-fail"), Some(ServiceKind::Failover(f)) if f.fallback == format!("default-b-80{Q}") && f.errors.as_ref().is_some_and(|e| e.max_request_body_bytes == 1024))
    );
    let Some(ServiceKind::Mirroring(mirror)) = kind("default-mirror") else {
        panic!("mirroring")
    };
    assert_eq!(
        (mirror.mirror_body, mirror.max_body_size, mirror.mirrors[0].percent),
        (false, 64, 10)
    );
    let snapshot = cluster.gateway.snapshot();
    let config = &snapshot.published().runtime.config;
    let transport = &config.http.servers_transports[&format!("default-tr{Q}")];
    assert_eq!(
        (
            transport.root_cas.as_slice(),
            transport.max_idle_conns_per_host,
            transport.disable_http2
        ),
        ([pem.to_owned()].as_slice(), 7, true)
    );
    let options = &config.tls.options[&format!("default-modern{Q}")];
    assert_eq!(
        (
            options.min_version.as_str(),
            options.sni_strict,
            options.client_auth.ca_files.len()
        ),
        ("VersionTLS13", true, 1)
    );
    assert_eq!(options.alpn_protocols, ["h2"]);
    let stored = config
        .tls
        .certificates
        .iter()
        .find(|c| c.stores == [format!("default-extra{Q}")]);
    assert!(
        stored.is_some(),
        "the store's certificate: {:?}",
        config.tls.certificates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_objects_are_reported_by_name_and_key_while_the_rest_serves() {
    let cluster = Cluster::start_crd(|p| p).await;
    let pods = Pods::start("good", 1).await;
    deploy(&cluster, "default", "good", pods.port);
    let route = |name: &str, rule: &str, extra: Value| {
        let mut spec = json!({"routes": [{"match": rule, "services": [{"name": "good", "port": 80}]}]});
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                spec["routes"][0][k] = v;
            }
        }
        traefik("IngressRoute", "default", name, spec)
    };
    cluster.apply(route("good", "Host(`good.test`)", json!({})));
    cluster.apply(route("bad-rule", "Host(`bad.test`) && Pathh(`/x`)", json!({})));
    cluster.apply(route(
        "unknown-middleware",
        "Host(`unknown.test`)",
        json!({"middlewares": [{"name": "nowhere"}]}),
    ));
    cluster.apply(route(
        "missing-service",
        "Host(`missing.test`)",
        json!({"services": [{"name": "absent", "port": 80}]}),
    ));
    cluster.apply(route(
        "bad-port",
        "Host(`port.test`)",
        json!({"services": [{"name": "good", "port": "grpc"}]}),
    ));
    cluster.apply(route(
        "secretless",
        "Host(`secretless.test`)",
        json!({"middlewares": [{"name": "auth"}]}),
    ));
    cluster.apply(traefik(
        "Middleware",
        "default",
        "auth",
        json!({"basicAuth": {"secret": "not-there"}}),
    ));
    cluster.apply(traefik(
        "Middleware",
        "default",
        "typo",
        json!({"headers": {"customRequestHeaderz": {"a": "b"}}}),
    ));
    cluster.apply(traefik(
        "Middleware",
        "default",
        "two",
        json!({"stripPrefix": {"prefixes": ["/a"]}, "addPrefix": {"prefix": "/b"}}),
    ));
    cluster.apply(traefik(
        "IngressRouteTCP",
        "default",
        "db",
        json!({"routes": [{"match": "HostSNI(`*`)"}]}),
    ));
    cluster.routes_to("good.test", "/", "good-0").await;
    warned(&cluster, &[
        "Middleware default/auth: `spec.basicAuth.secret`: Secret `default/not-there` not found",
        "IngressRoute default/missing-service: `spec.routes[0].services[0]`: Service `absent`: Service `default/absent` not found",
        "IngressRoute default/bad-port: `spec.routes[0].services[0]`: Service `good`: has no port grpc",
        "Middleware default/typo: unknown key `spec.headers.customRequestHeaderz` ignored",
        "Middleware default/two: `spec`: a Middleware has exactly one type",
        "IngressRouteTCP default/db: `spec.routes[0].services`: a route needs at least one service",
    ])
    .await;
    for host in [
        "bad.test",
        "unknown.test",
        "missing.test",
        "port.test",
        "secretless.test",
    ] {
        assert_eq!(cluster.get(host, "/").await.0, 404, "{host} is left out");
    }
    // Problems the aggregator finds name the router, with the IngressRoute and route as origin.
    let snapshot = cluster.gateway.snapshot();
    let report = &snapshot.published().runtime.report;
    let bad = &report.routers[&format!("default-bad-rule-{}{Q}", hash("Host(`bad.test`) && Pathh(`/x`)"))];
    assert_eq!(
        bad.origin.as_deref(),
        Some("IngressRoute default/bad-rule spec.routes[0]")
    );
    assert!(bad.errors[0].to_string().contains("Pathh"), "{:?}", bad.errors);
    let unknown = &report.routers[&format!("default-unknown-middleware-{}{Q}", hash("Host(`unknown.test`)"))];
    assert!(
        unknown.errors[0]
            .to_string()
            .contains("middleware `default-nowhere@kubernetescrd` does not exist"),
        "{:?}",
        unknown.errors
    );

    // Fixing the Secret brings the route that needs it in.
    cluster.apply(secret(
        "default",
        "not-there",
        "Opaque",
        &[("users", "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/")],
    ));
    eventually("the fixed middleware's route is live", &cluster, || {
        cluster
            .gateway
            .snapshot()
            .published()
            .runtime
            .config
            .http
            .middlewares
            .contains_key(&format!("default-auth{Q}"))
    })
    .await;
    within(Duration::from_secs(10), || async {
        cluster.get("secretless.test", "/").await.0 == 401
    })
    .await
    .unwrap();
}

/// Applies a Service in `blog` and, in `shop`, an IngressRoute using it, a Middleware of `blog`, and a
/// middleware of another provider.
fn cross_namespace_objects(cluster: &Cluster, port: u16) {
    deploy(cluster, "blog", "posts", port);
    cluster.apply(traefik(
        "Middleware",
        "blog",
        "tag",
        json!({"headers": {"customRequestHeaders": {"X-Test": "blog"}}}),
    ));
    cluster.apply(traefik(
        "IngressRoute",
        "shop",
        "cross",
        json!({"routes": [
            {"match": "Host(`service.test`)", "services": [{"name": "posts", "namespace": "blog", "port": 80}]},
            {"match": "Host(`middleware.test`)", "middlewares": [{"name": "tag", "namespace": "blog"}],
             "services": [{"name": "shop-local@file"}]},
        ]}),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_namespace_references_are_refused_unless_allowed() {
    let pods = Pods::start("posts", 1).await;
    let strict = Cluster::start_crd(|p| p).await;
    cross_namespace_objects(&strict, pods.port);
    warned(&strict, &[
        "IngressRoute shop/cross: `spec.routes[0].services[0].namespace`: a reference from namespace `shop` to namespace `blog`, which allowCrossNamespace does not allow",
        "IngressRoute shop/cross: `spec.routes[1].middlewares[0]`: a reference from namespace `shop` to namespace `blog`",
    ])
    .await;
    assert_eq!(strict.get("service.test", "/").await.0, 404);
    assert!(router(&strict, "shop", "cross", "Host(`service.test`)").is_none());

    let open = Cluster::start_crd(|p| p.allow_cross_namespace(true).cross_provider_namespaces(["blog"])).await;
    cross_namespace_objects(&open, pods.port);
    open.routes_to("service.test", "/", "posts-0").await;
    // The service of another provider is refused: `shop` is not in crossProviderNamespaces.
    warned(&open, &["IngressRoute shop/cross: `spec.routes[1].services[0].name`: `shop-local@file` refers to another provider, and namespace `shop` is not in crossProviderNamespaces"]).await;
    assert!(router(&open, "shop", "cross", "Host(`middleware.test`)").is_none());
}
