//! Middlewares: every type and option from YAML and TOML, Traefik's defaults, and errors.

mod support;

use switchyard_config::{
    CircuitBreaker, Compress, Duration, DynamicConfig, Format, Middleware, RateLimit, Retry, load_str,
};

fn fixture(name: &str) -> DynamicConfig {
    support::fixture(name)
}

fn middleware(yaml: &str) -> Middleware {
    let text = format!("http:\n  middlewares:\n    m:\n{yaml}");
    let loaded = load_str::<DynamicConfig>(&text, Format::Yaml, "t.yml").expect("middleware loads");
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    loaded.value.http.middlewares["m"].clone()
}

#[test]
fn every_middleware_type_loads_from_yaml_and_toml_alike() {
    let config = fixture("middlewares.yml");
    assert_eq!(config, fixture("middlewares.toml"));
    let kinds: std::collections::BTreeSet<_> = config.http.middlewares.values().map(Middleware::kind).collect();
    // Every type Traefik's file provider accepts.
    for kind in [
        "addPrefix",
        "stripPrefix",
        "stripPrefixRegex",
        "replacePath",
        "replacePathRegex",
        "chain",
        "ipWhiteList",
        "ipAllowList",
        "headers",
        "encodedCharacters",
        "errors",
        "rateLimit",
        "redirectRegex",
        "redirectScheme",
        "basicAuth",
        "digestAuth",
        "forwardAuth",
        "inFlightReq",
        "buffering",
        "circuitBreaker",
        "compress",
        "contentType",
        "passTLSClientCert",
        "retry",
        "grpcWeb",
        "plugin",
    ] {
        assert!(kinds.contains(kind), "fixture lacks {kind}");
    }
    assert_eq!(kinds.len(), 26);
}

#[test]
fn kind_names_the_key_each_middleware_was_loaded_from() {
    let text =
        std::fs::read_to_string(format!("{}/tests/fixtures/middlewares.yml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let config = fixture("middlewares.yml");
    for (name, middleware) in &config.http.middlewares {
        let declared = format!("    {name}:\n      {}:", middleware.kind());
        assert!(
            text.contains(&declared),
            "{name} was not declared as {}",
            middleware.kind()
        );
    }
}

#[test]
fn option_values_arrive_where_they_belong() {
    let config = fixture("middlewares.yml");
    let m = &config.http.middlewares;
    let Middleware::Headers(h) = &m["security"] else {
        panic!()
    };
    assert_eq!(h.custom_request_headers["X-Remove"], "");
    assert_eq!(h.access_control_max_age, Some(100));
    assert_eq!(h.ssl_proxy_headers["X-Forwarded-Proto"], "https");
    assert_eq!(h.sts_seconds, Some(31_536_000));
    assert!(h.sts_include_subdomains && h.sts_preload && h.force_sts_header && h.browser_xss_filter);
    assert_eq!(h.custom_browser_xss_value, "0");
    assert_eq!(h.ssl_host.as_deref(), Some("secure.example.org"));
    assert_eq!(h.feature_policy.as_deref(), Some("vibrate 'none'"));

    let Middleware::IpAllowList(allow) = &m["allow"] else {
        panic!()
    };
    assert_eq!(allow.reject_status_code, 404);
    let strategy = allow.ip_strategy.as_ref().unwrap();
    assert_eq!((strategy.depth, strategy.ipv6_subnet), (2, Some(64)));
    assert_eq!(strategy.excluded_ips, ["127.0.0.1/32"]);
    assert!(matches!(&m["legacy-allow"], Middleware::IpWhiteList(_)));

    let Middleware::RateLimit(limit) = &m["limit"] else {
        panic!()
    };
    assert_eq!(
        (limit.average, limit.burst, limit.period),
        (100, 50, Duration::from_secs(60))
    );
    let criterion = limit.source_criterion.as_ref().unwrap();
    assert_eq!(criterion.request_header_name, "X-Tenant");
    let redis = limit.redis.as_ref().unwrap();
    assert_eq!(redis.endpoints, ["redis-0:6379", "redis-1:6379"]);
    assert_eq!((redis.db, redis.pool_size, redis.max_active_conns), (2, 20, 50));
    assert_eq!(redis.dial_timeout, Duration::from_secs(4));

    let Middleware::ForwardAuth(sso) = &m["sso"] else {
        panic!()
    };
    assert!(sso.trust_forward_header == Some(true) && sso.forward_body && sso.preserve_request_method);
    assert_eq!(sso.auth_signin_url, "https://login.example.com/");
    assert_eq!(sso.max_body_size, 1024);
    assert_eq!(sso.max_response_body_size, Some(4096));
    assert_eq!(sso.tls.as_ref().unwrap().ca_optional, Some(true));

    let Middleware::Errors(errors) = &m["error-pages"] else {
        panic!()
    };
    assert_eq!(errors.status_rewrites["500-503"], 500);
    assert_eq!(errors.query, "/{status}.html");
    assert_eq!(
        errors.error_request_headers.as_deref(),
        Some(&["Accept-Language".to_owned()][..])
    );

    let Middleware::PassTlsClientCert(cert) = &m["client-cert"] else {
        panic!()
    };
    let info = cert.info.as_ref().unwrap();
    assert!(info.subject.unwrap().organizational_unit && info.issuer.unwrap().domain_component);

    let Middleware::Plugin(plugin) = &m["plugin-demo"] else {
        panic!()
    };
    assert_eq!(plugin["tenant-check"]["header"], "X-Tenant");

    let Middleware::Retry(retry) = &m["again"] else {
        panic!()
    };
    assert_eq!(retry.initial_interval, Duration::from_millis(100));
    assert_eq!(retry.status, ["503", "500-502"]);
}

#[test]
fn defaults_are_traefiks() {
    let Middleware::RateLimit(limit) = middleware("      rateLimit: {average: 5}\n") else {
        panic!()
    };
    assert_eq!(
        limit,
        RateLimit {
            average: 5,
            ..RateLimit::default()
        }
    );
    assert_eq!((limit.period, limit.burst), (Duration::from_secs(1), 1));

    let Middleware::CircuitBreaker(breaker) =
        middleware("      circuitBreaker: {expression: 'NetworkErrorRatio() > 0.5'}\n")
    else {
        panic!()
    };
    assert_eq!(breaker.check_period, Duration::from_millis(100));
    assert_eq!(breaker.fallback_duration, Duration::from_secs(10));
    assert_eq!(breaker.recovery_duration, Duration::from_secs(10));
    assert_eq!(breaker.response_code, 503);
    assert_eq!(
        breaker,
        CircuitBreaker {
            expression: "NetworkErrorRatio() > 0.5".into(),
            ..CircuitBreaker::default()
        }
    );

    let Middleware::Compress(compress) = middleware("      compress: {}\n") else {
        panic!()
    };
    assert_eq!(compress, Compress::default());
    assert_eq!(compress.encodings, ["gzip", "br", "zstd"]);

    let Middleware::Retry(retry) = middleware("      retry: {attempts: 3}\n") else {
        panic!()
    };
    assert_eq!(retry.max_request_body_bytes, 2 * 1024 * 1024);
    assert_eq!(
        retry,
        Retry {
            attempts: 3,
            ..Retry::default()
        }
    );

    let Middleware::BasicAuth(basic) = middleware("      basicAuth: {users: ['a:b']}\n") else {
        panic!()
    };
    assert_eq!(basic.realm, "traefik");
    let Middleware::ForwardAuth(forward) = middleware("      forwardAuth: {address: 'http://auth'}\n") else {
        panic!()
    };
    assert_eq!(forward.max_body_size, -1);
    assert_eq!(forward.trust_forward_header, None);
    let Middleware::RateLimit(limit) = middleware("      rateLimit: {redis: {}}\n") else {
        panic!()
    };
    let redis = limit.redis.unwrap();
    assert_eq!(redis.endpoints, ["localhost:6379"]);
    assert_eq!(
        (redis.read_timeout, redis.write_timeout),
        (Duration::from_secs(3), Duration::from_secs(3))
    );
}

#[test]
fn wrong_middlewares_are_errors_at_their_key_path() {
    let load = |yaml: &str| {
        load_str::<DynamicConfig>(&format!("http:\n  middlewares:\n    m:\n{yaml}"), Format::Yaml, "t.yml").unwrap_err()
    };
    // Two types in one middleware.
    let err = load("      stripPrefix: {prefixes: [/a]}\n      addPrefix: {prefix: /b}\n");
    assert_eq!(err.key_path.as_deref(), Some("http.middlewares.m"), "{err}");
    assert_eq!(err.position, Some((4, 7)), "{err}");
    assert_eq!(
        err.message,
        "a middleware has exactly one type, found both `stripPrefix` and `addPrefix`"
    );

    let err = load("      stripprefix: {prefixes: [/a]}\n");
    assert_eq!(err.key_path.as_deref(), Some("http.middlewares.m"), "{err}");
    assert_eq!(err.position, Some((4, 7)), "{err}");
    assert_eq!(
        err.message,
        "unknown middleware type `stripprefix` (did you mean `stripPrefix`?)"
    );

    let err = load("      {}\n");
    assert_eq!(
        err.message,
        "a middleware needs a type, such as `stripPrefix` or `basicAuth`"
    );

    let err = load("      rateLimit: {average: lots}\n");
    assert_eq!(
        err.key_path.as_deref(),
        Some("http.middlewares.m.rateLimit.average"),
        "{err}"
    );
    assert_eq!((err.position, err.message.as_str()), (Some((4, 28)), "invalid i64"));

    let err = load("      retry: {initialInterval: soon}\n");
    assert_eq!(
        err.key_path.as_deref(),
        Some("http.middlewares.m.retry.initialInterval"),
        "{err}"
    );
    assert_eq!(err.position, Some((4, 32)), "{err}");
    assert_eq!(
        err.message,
        "invalid duration `soon`: expected a number before each unit"
    );
}

#[test]
fn chains_and_error_pages_expose_their_references() {
    let config = fixture("middlewares.yml");
    assert_eq!(
        config.http.middlewares["stack"].referenced_middlewares(),
        ["strip", "auth@kubernetes"]
    );
    assert_eq!(
        config.http.middlewares["error-pages"].referenced_services(),
        ["error-service"]
    );
    assert!(config.http.middlewares["strip"].referenced_middlewares().is_empty());
}

#[test]
fn options_traefik_reads_in_more_than_one_shape() {
    // A port as a number or a string.
    for yaml in [
        "      redirectScheme: {scheme: https, port: 8443}\n",
        "      redirectScheme: {scheme: https, port: '8443'}\n",
    ] {
        let Middleware::RedirectScheme(redirect) = middleware(yaml) else {
            panic!()
        };
        assert_eq!(redirect.port, "8443");
    }
    // Unset error request headers means all of them; an empty list means none.
    let Middleware::Errors(all) = middleware("      errors: {status: ['500'], service: s}\n") else {
        panic!()
    };
    assert_eq!(all.error_request_headers, None);
    let Middleware::Errors(none) = middleware("      errors: {status: ['500'], service: s, errorRequestHeaders: []}\n")
    else {
        panic!()
    };
    assert_eq!(none.error_request_headers, Some(Vec::new()));
}

#[test]
fn middlewares_round_trip_through_json() {
    let config = fixture("middlewares.yml");
    let json = serde_json::to_string(&config).expect("serializes");
    let back = load_str::<DynamicConfig>(&json, Format::Json, "round-trip").expect("loads back");
    assert!(back.unknown_keys.is_empty(), "{:?}", back.unknown_keys);
    assert_eq!(back.value, config);
}

#[test]
fn internal_middlewares_cannot_be_declared_in_a_file() {
    // The Gateway API provider's own middlewares have a name for the API's raw data, never read.
    for key in [
        "internalHeaderModifier",
        "internalStatusRedirect",
        "internalRequestTimeout",
    ] {
        let text = format!("http:\n  middlewares:\n    m:\n      {key}: {{}}\n");
        let err = load_str::<DynamicConfig>(&text, Format::Yaml, "t.yml").unwrap_err();
        assert_eq!(err.message, format!("unknown middleware type `{key}`"), "{err}");
        assert!(!switchyard_config::MIDDLEWARE_TYPES.contains(&key));
    }
    let redirect = Middleware::StatusRedirect(switchyard_config::StatusRedirect {
        regex: "^(.*)$".into(),
        replacement: "https://x${1}".into(),
        status: 303,
    });
    assert_eq!(
        serde_json::to_value(&redirect).unwrap(),
        serde_json::json!({"internalStatusRedirect": {"regex": "^(.*)$", "replacement": "https://x${1}", "status": 303}})
    );
}
