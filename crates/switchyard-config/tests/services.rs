//! Services, servers transports and TLS: every type and option from YAML and TOML, Traefik's defaults,
//! and the errors a wrong service produces.

mod support;

use switchyard_config::{
    Duration, DynamicConfig, Format, HealthCheckMode, LoadBalancer, ParseError, Server, ServerHealthCheck, Service,
    ServiceKind, Strategy, load_str,
};

fn fixture(name: &str) -> DynamicConfig {
    support::fixture(name)
}

fn load_yaml(text: &str) -> Result<DynamicConfig, ParseError> {
    load_str::<DynamicConfig>(text, Format::Yaml, "test.yml").map(|l| l.value)
}

#[test]
fn every_service_option_loads_and_yaml_equals_toml() {
    let config = fixture("services.yml");
    assert_eq!(config, fixture("services.toml"));
    let services = &config.http.services;

    let app = &services["app"];
    assert_eq!(app.middlewares, ["compress"]);
    let ServiceKind::LoadBalancer(lb) = &app.kind else {
        panic!("app is a load balancer")
    };
    assert_eq!(lb.strategy, Strategy::P2c);
    assert_eq!(
        lb.servers[0],
        Server {
            url: "http://10.0.0.1:8080".into(),
            weight: Some(3),
            preserve_path: false
        }
    );
    assert_eq!(lb.servers[1].weight, Some(0));
    assert!(lb.servers[1].preserve_path);
    let cookie = lb.sticky.as_ref().unwrap().cookie.as_ref().unwrap();
    assert_eq!(
        (
            cookie.name.as_str(),
            cookie.secure,
            cookie.http_only,
            cookie.same_site.as_str()
        ),
        ("app_affinity", true, true, "strict")
    );
    assert_eq!(
        (cookie.max_age, cookie.path.as_str(), cookie.domain.as_str()),
        (3600, "/app", "example.com")
    );
    let health = lb.health_check.as_ref().unwrap();
    assert_eq!(health.mode, HealthCheckMode::Grpc);
    assert_eq!(
        (health.scheme.as_str(), health.path.as_str(), health.method.as_str()),
        ("https", "/healthz", "HEAD")
    );
    assert_eq!((health.status, health.port), (204, 9090));
    assert_eq!(health.interval, Duration::from_secs(10));
    assert_eq!(health.unhealthy_interval, Some(Duration::from_secs(2)));
    assert_eq!(health.timeout, Duration::from_millis(1500));
    assert_eq!(health.hostname, "health.internal");
    assert!(!health.follow_redirects);
    assert_eq!(health.headers["X-Probe"], "switchyard");
    let passive = lb.passive_health_check.unwrap();
    assert_eq!(
        (passive.failure_window, passive.max_failed_attempts),
        (Duration::from_secs(30), 3)
    );
    assert!(!lb.pass_host_header);
    assert!(lb.response_forwarding.flush_interval.is_negative());
    assert_eq!(lb.servers_transport, "internal-tls");

    let ServiceKind::Weighted(canary) = &services["canary"].kind else {
        panic!("weighted")
    };
    assert_eq!(canary.services[1].name, "app-next@kubernetes");
    assert_eq!((canary.services[0].weight, canary.services[1].weight), (9, 1));
    assert_eq!(canary.sticky.as_ref().unwrap().cookie.as_ref().unwrap().name, "canary");
    assert!(canary.health_check.is_some());

    let ServiceKind::Mirroring(shadow) = &services["shadow"].kind else {
        panic!("mirroring")
    };
    assert!(!shadow.mirror_body);
    assert_eq!(shadow.max_body_size, 65536);
    assert_eq!(
        (shadow.mirrors[0].name.as_str(), shadow.mirrors[0].percent),
        ("recorder", 10)
    );

    let ServiceKind::Failover(failover) = &services["resilient"].kind else {
        panic!("failover")
    };
    assert_eq!(
        (failover.service.as_str(), failover.fallback.as_str()),
        ("app", "static-site")
    );
    let errors = failover.errors.as_ref().unwrap();
    assert_eq!(errors.status, ["500-599", "429"]);
    assert_eq!(errors.max_request_body_bytes, 1_048_576);

    let ServiceKind::HighestRandomWeight(hrw) = &services["by-client"].kind else {
        panic!("hrw")
    };
    assert_eq!((hrw.services[0].weight, hrw.services[1].weight), (2, 1));

    let transport = &config.http.servers_transports["internal-tls"];
    assert_eq!(transport.server_name, "backend.internal");
    assert!(transport.insecure_skip_verify && transport.disable_http2);
    assert_eq!(transport.root_cas, ["/certs/ca.pem"]);
    assert_eq!(transport.certificates[0].key_file, "/certs/client.key");
    assert_eq!(transport.cipher_suites, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
    assert_eq!(
        (transport.min_version.as_str(), transport.max_version.as_str()),
        ("VersionTLS12", "VersionTLS13")
    );
    assert_eq!(transport.max_idle_conns_per_host, 50);
    let timeouts = transport.forwarding_timeouts.unwrap();
    assert_eq!(timeouts.dial_timeout, Duration::from_secs(5));
    assert_eq!(timeouts.response_header_timeout, Duration::from_secs(20));
    assert_eq!(timeouts.idle_conn_timeout, Duration::from_secs(60));
    assert_eq!(timeouts.read_idle_timeout, Duration::from_secs(10));
    assert_eq!(timeouts.ping_timeout, Duration::from_secs(3));
    assert_eq!(transport.peer_cert_uri, "spiffe://example.org/backend");
    assert_eq!(transport.spiffe.as_ref().unwrap().trust_domain, "example.org");
}

#[test]
fn every_tls_option_loads_and_yaml_equals_toml() {
    let config = fixture("tls.yml");
    assert_eq!(config, fixture("tls.toml"));
    let tls = &config.tls;
    assert_eq!(tls.certificates[0].stores, ["default", "internal"]);
    assert!(tls.certificates[1].cert_file.starts_with("-----BEGIN CERTIFICATE-----"));
    let modern = &tls.options["modern"];
    assert_eq!(
        (modern.min_version.as_str(), modern.max_version.as_str()),
        ("VersionTLS13", "VersionTLS13")
    );
    assert_eq!(modern.curve_preferences, ["X25519", "CurveP256"]);
    assert_eq!(modern.client_auth.client_auth_type, "RequireAndVerifyClientCert");
    assert_eq!(modern.client_auth.ca_files, ["/certs/clients-ca.pem"]);
    assert!(modern.sni_strict && modern.disable_session_tickets);
    assert_eq!(modern.alpn_protocols, ["h2"]);
    assert_eq!(modern.prefer_server_cipher_suites, Some(true));
    // Options not given keep Traefik's defaults.
    assert_eq!(tls.options["default"].alpn_protocols, ["h2", "http/1.1", "acme-tls/1"]);
    assert_eq!(
        tls.stores["default"].default_certificate.as_ref().unwrap().cert_file,
        "/certs/fallback.pem"
    );
    let generated = tls.stores["acme"].default_generated_cert.as_ref().unwrap();
    assert_eq!(generated.resolver, "letsencrypt");
    assert_eq!(generated.domain.as_ref().unwrap().sans, ["www.example.com"]);
}

#[test]
fn defaults_are_traefiks() {
    let config = load_yaml(
        "http:\n  services:\n    s:\n      loadBalancer:\n        servers: [{url: 'http://a'}]\n        healthCheck: {path: /health}\n        passiveHealthCheck: {}\n        sticky: {cookie: {}}\n    m:\n      mirroring: {service: s}\n    f:\n      failover: {service: s, fallback: t, errors: {status: ['502']}}\n  serversTransports:\n    t:\n      forwardingTimeouts: {}\n",
    )
    .unwrap();
    let ServiceKind::LoadBalancer(lb) = &config.http.services["s"].kind else {
        panic!()
    };
    assert!(lb.pass_host_header);
    assert_eq!(lb.strategy, Strategy::Wrr);
    assert_eq!(lb.response_forwarding.flush_interval, Duration::from_millis(100));
    assert_eq!(lb.servers[0].weight, None);
    let health = lb.health_check.as_ref().unwrap();
    assert_eq!(
        health,
        &ServerHealthCheck {
            path: "/health".into(),
            ..ServerHealthCheck::default()
        }
    );
    assert_eq!(
        (health.interval, health.timeout),
        (Duration::from_secs(30), Duration::from_secs(5))
    );
    assert!(health.follow_redirects);
    assert_eq!(health.mode, HealthCheckMode::Http);
    let passive = lb.passive_health_check.unwrap();
    assert_eq!(
        (passive.failure_window, passive.max_failed_attempts),
        (Duration::from_secs(10), 1)
    );
    assert_eq!(lb.sticky.as_ref().unwrap().cookie.as_ref().unwrap().path, "/");
    let ServiceKind::Mirroring(m) = &config.http.services["m"].kind else {
        panic!()
    };
    assert!(m.mirror_body);
    assert_eq!(m.max_body_size, -1);
    let ServiceKind::Failover(f) = &config.http.services["f"].kind else {
        panic!()
    };
    assert_eq!(f.errors.as_ref().unwrap().max_request_body_bytes, -1);
    let timeouts = config.http.servers_transports["t"].forwarding_timeouts.unwrap();
    assert_eq!(timeouts.dial_timeout, Duration::from_secs(30));
    assert_eq!(timeouts.idle_conn_timeout, Duration::from_secs(90));
    assert_eq!(timeouts.ping_timeout, Duration::from_secs(15));
}

#[test]
fn a_strategy_of_another_name_is_a_custom_one() {
    let custom = load_yaml("http:\n  services:\n    s:\n      loadBalancer:\n        strategy: first-up\n").unwrap();
    let ServiceKind::LoadBalancer(lb) = &custom.http.services["s"].kind else {
        panic!()
    };
    assert_eq!(
        lb.strategy,
        Strategy::Custom("first-up".into()),
        "checked against the gateway's balancers"
    );
}

#[test]
fn a_wrong_service_is_an_error_at_its_key_path() {
    let cases = [
        (
            "http:\n  services:\n    s:\n      loadBalancer:\n        strategy: [wrr]\n",
            "http.services.s.loadBalancer.strategy",
            (5, 19),
            "expected string scalar",
        ),
        (
            "http:\n  services:\n    s:\n      loadBalancer: {}\n      weighted: {}\n",
            "http.services.s",
            (4, 7),
            "a service has exactly one type, found both `loadBalancer` and `weighted`",
        ),
        (
            "http:\n  services:\n    s:\n      middlewares: [a]\n",
            "http.services.s",
            (4, 7),
            "a service needs a type: loadBalancer, weighted, mirroring, failover or highestRandomWeight",
        ),
        (
            "http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://a\n            weight: heavy\n",
            "http.services.s.loadBalancer.servers[0].weight",
            (7, 21),
            "invalid u32",
        ),
    ];
    for (yaml, key_path, position, message) in cases {
        let err = load_yaml(yaml).unwrap_err();
        assert_eq!(err.key_path.as_deref(), Some(key_path), "{err}");
        assert_eq!(err.position, Some(position), "{err}");
        assert_eq!(err.message, message, "{err}");
    }
}

#[test]
fn unknown_keys_inside_a_service_are_reported() {
    let loaded = load_str::<DynamicConfig>(
        "http:\n  services:\n    s:\n      loadBalancer:\n        servers: []\n        stickyness: true\n      lables: {}\n",
        Format::Yaml,
        "t.yml",
    )
    .unwrap();
    let keys: Vec<_> = loaded.unknown_keys.iter().map(|k| k.key_path.as_str()).collect();
    assert_eq!(
        keys,
        ["http.services.s.loadBalancer.stickyness", "http.services.s.lables"]
    );
}

#[test]
fn referenced_services_and_round_trip_through_serde() {
    let config = fixture("services.yml");
    let services = &config.http.services;
    assert_eq!(services["canary"].referenced_services(), ["app", "app-next@kubernetes"]);
    assert_eq!(services["shadow"].referenced_services(), ["app", "recorder"]);
    assert_eq!(services["resilient"].referenced_services(), ["app", "static-site"]);
    assert_eq!(services["by-client"].referenced_services(), ["shard-a", "shard-b"]);
    assert!(services["app"].referenced_services().is_empty());
    assert_eq!(services["app"].servers_transport(), Some("internal-tls"));

    // What the admin API will print loads back to the same configuration.
    let json = serde_json::to_string(&config).unwrap();
    let back = load_str::<DynamicConfig>(&json, Format::Json, "round-trip").unwrap();
    assert!(back.unknown_keys.is_empty(), "{:?}", back.unknown_keys);
    assert_eq!(back.value, config);
}

#[test]
fn building_in_code_matches_loading() {
    let loaded =
        load_yaml("http:\n  services:\n    s:\n      loadBalancer:\n        servers: [{url: 'http://10.0.0.1'}]\n")
            .unwrap();
    let built = Service::from(LoadBalancer::with_urls(["http://10.0.0.1"]));
    assert_eq!(loaded.http.services["s"], built);
}

#[test]
fn the_internal_fixed_answer_cannot_be_declared_in_a_file() {
    // The key it is printed under is not read: alone it leaves the service without a type, and next
    // to a type it is an unknown key.
    let alone = "http:\n  services:\n    s:\n      internalFixedAnswer:\n        http: 500\n";
    let err = load_yaml(alone).unwrap_err();
    assert_eq!(err.key_path.as_deref(), Some("http.services.s"), "{err}");
    assert!(err.message.starts_with("a service needs a type"), "{err}");
    let beside = "http:\n  services:\n    s:\n      loadBalancer: {}\n      internalFixedAnswer:\n        http: 500\n";
    let loaded = load_str::<DynamicConfig>(beside, Format::Yaml, "t.yml").unwrap();
    let keys: Vec<_> = loaded.unknown_keys.iter().map(|k| k.key_path.as_str()).collect();
    assert_eq!(keys, ["http.services.s.internalFixedAnswer"]);
    assert!(matches!(
        loaded.value.http.services["s"].kind,
        ServiceKind::LoadBalancer(_)
    ));
    // It is printed, for the API, under that key.
    let fixed = Service::from(ServiceKind::Fixed(switchyard_config::FixedAnswer::Http(500)));
    assert_eq!(
        serde_json::to_value(&fixed).unwrap(),
        serde_json::json!({"internalFixedAnswer": {"http": 500}})
    );
}
