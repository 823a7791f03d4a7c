//! The static configuration: every modelled option from YAML and TOML, Traefik's defaults and its
//! effective entrypoints, entrypoint addresses, and unknown providers reported rather than fatal.

mod support;

use std::net::SocketAddr;

use switchyard_config::{
    Aggregator, Api, Duration, EntryPoint, EntryPointAddress, Format, Metrics, Prometheus, StaticConfig, load_str,
};

fn fixture(name: &str) -> StaticConfig {
    support::fixture(name)
}

fn yaml(text: &str) -> StaticConfig {
    load_str::<StaticConfig>(text, Format::Yaml, "static.yml")
        .expect("loads")
        .value
}

#[test]
fn every_static_option_loads_and_yaml_equals_toml() {
    let config = fixture("static.yml");
    assert_eq!(config, fixture("static.toml"));

    let web = &config.entry_points["web"];
    assert!(web.allow_acme_bypass && web.reuse_port && web.as_default);
    assert_eq!(web.transport.life_cycle.grace_time_out, Duration::from_secs(42));
    assert_eq!(web.transport.responding_timeouts.write_timeout, Duration::from_secs(6));
    assert_eq!(web.transport.keep_alive_max_requests, 1000);
    assert_eq!(web.proxy_protocol.as_ref().unwrap().trusted_ips, ["10.0.0.0/8"]);
    assert!(web.forwarded_headers.not_append_x_forwarded_for && web.forwarded_headers.add_x_forwarded_scheme_headers);
    let redirect = web.http.redirections.as_ref().unwrap().entry_point.as_ref().unwrap();
    assert_eq!(
        (redirect.to.as_str(), redirect.permanent, redirect.priority),
        ("websecure", false, 10)
    );
    assert_eq!(web.http.tls.as_ref().unwrap().domains[0].sans, ["www.example.com"]);
    assert!(web.http.encoded_characters.unwrap().allow_encoded_slash);
    assert!(!web.http.sanitize_path && web.http.encode_query_semicolons);
    assert_eq!(web.http.max_header_bytes, 65536);
    assert_eq!(web.http2.max_concurrent_streams, 100);
    assert!(web.http3.is_some());
    assert_eq!(web.udp.unwrap().timeout, switchyard_config::Duration::from_secs(10));

    let providers = &config.providers;
    assert_eq!(providers.providers_throttle_duration, Duration::from_millis(500));
    let file = providers.file.as_ref().unwrap();
    assert_eq!(file.directory.as_deref(), Some("/etc/switchyard/conf.d".as_ref()));
    assert!(!file.watch);
    let ingress = providers.kubernetes_ingress.as_ref().unwrap();
    assert_eq!(
        ingress.ingress_endpoint.as_ref().unwrap().published_service,
        "kube-system/switchyard"
    );
    assert!(ingress.native_lb_by_default && ingress.strict_prefix_matching && ingress.report_node_internal_ips);
    assert!(providers.kubernetes_crd.as_ref().unwrap().allow_cross_namespace);
    let gateway = providers.kubernetes_gateway.as_ref().unwrap();
    assert_eq!((gateway.qps, gateway.burst), (50, 100));
    assert_eq!(
        gateway
            .status_address
            .as_ref()
            .unwrap()
            .service
            .as_ref()
            .unwrap()
            .namespace,
        "kube-system"
    );

    assert_eq!(config.api.as_ref().unwrap().base_path, "/admin");
    let prometheus = config.metrics.as_ref().unwrap().prometheus.as_ref().unwrap();
    assert_eq!(prometheus.buckets, [0.05, 0.5, 2.5]);
    assert_eq!(prometheus.header_labels["tenant"], "X-Tenant");
    let tracing = config.tracing.as_ref().unwrap();
    assert_eq!((tracing.service_name.as_str(), tracing.sample_rate), ("edge", 0.25));
    assert_eq!(tracing.otlp.as_ref().unwrap()["grpc"]["endpoint"], "collector:4317");
    let access = config.access_log.as_ref().unwrap();
    assert_eq!(access.filters.as_ref().unwrap().min_duration, Duration::from_millis(10));
    assert_eq!(
        access.fields.as_ref().unwrap().headers.as_ref().unwrap().names["User-Agent"],
        "redact"
    );
    assert_eq!(config.log.as_ref().unwrap().level, "DEBUG");
    assert!(config.global.as_ref().unwrap().check_new_version);
    assert_eq!(config.servers_transport.as_ref().unwrap().max_idle_conns_per_host, 7);
}

#[test]
fn defaults_are_traefiks() {
    let config =
        yaml("entryPoints:\n  web:\n    address: ':80'\napi: {}\nmetrics:\n  prometheus: {}\ntracing: {}\nlog: {}\n");
    let web = &config.entry_points["web"];
    assert_eq!(web, &EntryPoint::new(":80"));
    let timeouts = web.transport.responding_timeouts;
    assert_eq!(
        (timeouts.read_timeout, timeouts.write_timeout, timeouts.idle_timeout),
        (Duration::from_secs(60), Duration::ZERO, Duration::from_secs(180))
    );
    assert_eq!(web.transport.life_cycle.grace_time_out, Duration::from_secs(10));
    assert!(web.http.sanitize_path);
    assert_eq!(web.http.max_header_bytes, 1 << 20);
    assert_eq!(web.http2.max_concurrent_streams, 250);
    assert_eq!(config.providers.providers_throttle_duration, Duration::from_secs(2));
    assert_eq!(config.api, Some(Api::default()));
    assert!(config.api.as_ref().unwrap().dashboard);
    let prometheus = config.metrics.as_ref().unwrap().prometheus.as_ref().unwrap();
    assert_eq!(prometheus, &Prometheus::default());
    assert_eq!(prometheus.buckets, [0.1, 0.3, 1.2, 5.0]);
    assert!(prometheus.add_entry_points_labels && prometheus.add_services_labels && !prometheus.add_routers_labels);
    let tracing = config.tracing.as_ref().unwrap();
    assert_eq!((tracing.service_name.as_str(), tracing.sample_rate), ("traefik", 1.0));
    assert_eq!(config.log.as_ref().unwrap().level, "ERROR");
    // Absent sections stay absent: Traefik enables them only when present.
    let bare = yaml("entryPoints:\n  web:\n    address: ':80'\n");
    assert!(bare.api.is_none() && bare.metrics.is_none() && bare.tracing.is_none() && bare.access_log.is_none());
    let redirect = yaml(
        "entryPoints:\n  web:\n    address: ':80'\n    http:\n      redirections:\n        entryPoint: {to: websecure}\n",
    );
    let to = redirect.entry_points["web"]
        .http
        .redirections
        .clone()
        .unwrap()
        .entry_point
        .unwrap();
    assert_eq!(
        (to.scheme.as_str(), to.permanent, to.priority),
        ("https", true, i64::MAX - 1)
    );
}

#[test]
fn unknown_providers_and_sections_are_reported_and_the_rest_loads() {
    let text = "providers:\n  docker: {exposedByDefault: false}\n  file: {filename: dynamic.yml}\nexperimental:\n  plugins: {}\n";
    let loaded = load_str::<StaticConfig>(text, Format::Yaml, "traefik.yml").unwrap();
    let keys: Vec<_> = loaded.unknown_keys.iter().map(|k| k.key_path.as_str()).collect();
    assert_eq!(keys, ["providers.docker", "experimental"]);
    assert_eq!(
        loaded.value.providers.file.unwrap().filename.unwrap().to_str(),
        Some("dynamic.yml")
    );
}

#[test]
fn entry_point_addresses() {
    let parse = |text: &str| text.parse::<EntryPointAddress>();
    let addr = |text: &str| parse(text).unwrap().socket_addr();
    assert_eq!(addr(":80"), "[::]:80".parse::<SocketAddr>().unwrap());
    assert_eq!(addr("0.0.0.0:443"), "0.0.0.0:443".parse::<SocketAddr>().unwrap());
    assert_eq!(addr("[::1]:8443"), "[::1]:8443".parse::<SocketAddr>().unwrap());
    assert_eq!(addr(":8080/tcp"), "[::]:8080".parse::<SocketAddr>().unwrap());
    assert!(!parse(":8080/TCP").unwrap().is_udp());
    assert!(parse(":53/udp").unwrap().is_udp());
    for (bad, reason) in [
        ("nonsense", "expected [host]:port"),
        (":http", "port must be a number"),
        (":99999", "port must be a number"),
        ("localhost:80", "host names are not resolved"),
        ("[::1:80", "IP address"),
        (":80/sctp", "tcp or udp"),
    ] {
        let err = parse(bad).unwrap_err().to_string();
        assert!(err.contains(bad) && err.contains(reason), "{bad}: {err}");
    }
}

#[test]
fn effective_and_default_entry_points_follow_traefik() {
    let none = StaticConfig::default();
    assert_eq!(none.effective_entry_points().keys().collect::<Vec<_>>(), ["http"]);
    assert_eq!(none.default_entry_points(), ["http"]);

    let with_api = yaml("entryPoints:\n  web: {address: ':80'}\n  dns: {address: ':53/udp'}\napi: {}\n");
    let effective = with_api.effective_entry_points();
    assert_eq!(effective["traefik"].address, ":8080");
    assert_eq!(
        with_api.default_entry_points(),
        ["web"],
        "neither the internal nor a UDP entrypoint"
    );

    let marked = yaml("entryPoints:\n  web: {address: ':80'}\n  websecure: {address: ':443', asDefault: true}\n");
    assert_eq!(marked.default_entry_points(), ["websecure"]);

    let manual = StaticConfig {
        metrics: Some(Metrics {
            prometheus: Some(Prometheus {
                manual_routing: true,
                ..Prometheus::default()
            }),
            ..Metrics::default()
        }),
        ..StaticConfig::default()
    };
    assert!(!manual.effective_entry_points().contains_key("traefik"));
}

#[tokio::test]
async fn the_aggregator_takes_entry_points_and_throttle_from_the_static_configuration() {
    let config = yaml(
        "entryPoints:\n  web: {address: ':80'}\n  websecure: {address: ':443', asDefault: true}\nproviders:\n  providersThrottleDuration: 1ms\n",
    );
    let mut dynamic = switchyard_config::DynamicConfig::default();
    dynamic
        .http
        .routers
        .insert("r".into(), switchyard_config::Router::new("Path(`/`)", "s"));
    let mut typo = switchyard_config::Router::new("Path(`/t`)", "s");
    typo.entry_points = vec!["webscure".into()];
    dynamic.http.routers.insert("typo".into(), typo);
    dynamic.http.services.insert(
        "s".into(),
        switchyard_config::LoadBalancer::with_urls(["http://127.0.0.1:9"]).into(),
    );
    let (provider, _handle) = switchyard_config::MemoryProvider::new("p", dynamic);
    let running = Aggregator::for_static(&config).provider(provider).start().unwrap();
    let mut updates = running.subscribe();
    let published = updates.wait_for(|p| p.generation > 0).await.unwrap().clone();
    assert_eq!(published.runtime.config.http.routers["r@p"].entry_points, ["websecure"]);
    assert!(!published.runtime.rules.contains_key("typo@p"));
    running.shutdown().await;
}

#[test]
fn a_wrong_value_names_its_key_path_and_position() {
    let err = load_str::<StaticConfig>(
        "entryPoints:\n  web:\n    address: ':80'\n    transport:\n      respondingTimeouts:\n        readTimeout: forever\n",
        Format::Yaml,
        "static.yml",
    )
    .unwrap_err();
    assert_eq!(
        err.key_path.as_deref(),
        Some("entryPoints.web.transport.respondingTimeouts.readTimeout")
    );
    assert_eq!(err.position, Some((6, 22)));
}

#[test]
fn acme_resolvers_load_with_traefik_option_names_and_misspellings_are_reported() {
    let text = r#"
certificatesResolvers:
  le:
    acme:
      email: ops@example.com
      caServer: https://127.0.0.1:14000/dir
      storage: /var/lib/acme.json
      keyType: EC384
      certificatesDuration: 72
      preferredChain: ISRG Root X1
      profile: shortlived
      eab: {kid: k1, hmacEncoded: aGVsbG8}
      httpChallenge: {entryPoint: web}
      tlsChallenge: {}
      dnsChallenge:
        provider: httpreq
        resolvers: ["1.1.1.1:53"]
        propagation: {delayBeforeChecks: 2s, disableChecks: true}
      emial: typo@example.com
"#;
    let loaded = load_str::<StaticConfig>(text, Format::Yaml, "traefik.yml").unwrap();
    let keys: Vec<_> = loaded.unknown_keys.iter().map(|k| k.key_path.as_str()).collect();
    assert_eq!(keys, ["certificatesResolvers.le.acme.emial"]);
    let resolver = &loaded.value.certificates_resolvers["le"];
    let acme = resolver.acme.as_ref().unwrap();
    assert_eq!((acme.key_type.as_str(), acme.certificates_duration), ("EC384", 72));
    assert_eq!(acme.eab.as_ref().unwrap().kid, "k1");
    let dns = acme.dns_challenge.as_ref().unwrap();
    assert_eq!(
        dns.propagation.as_ref().unwrap().delay_before_checks,
        switchyard_config::Duration::from_secs(2)
    );
    assert!(acme.tls_challenge.is_some());
    let unsupported: Vec<_> = resolver.unsupported("le").into_iter().map(|u| u.key_path).collect();
    assert_eq!(unsupported, ["certificatesResolvers.le.acme.profile"]);
}
