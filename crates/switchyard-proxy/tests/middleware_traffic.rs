//! Traffic middlewares through the proxy: `headers`, `ipAllowList`, `inFlightReq` and `rateLimit`, with a
//! real backend and real clients.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use support::{Backend, TestGateway, client, full, get, middleware_route, send, static_config_with};
use switchyard_config::{
    DynamicConfig, Headers, InFlightReq, IpAllowList, IpStrategy, Middleware, RateLimit, Router, Status,
};

/// Routers by path prefix, each with its own middlewares, all to `backend`.
fn paths(backend: &Backend, routes: Vec<(&str, Vec<(&str, Middleware)>)>) -> DynamicConfig {
    let mut config = middleware_route("PathPrefix(`/`)", &[backend.url()], vec![]);
    config.http.routers.clear();
    for (prefix, middlewares) in routes {
        let mut router = Router::new(format!("PathPrefix(`{prefix}`)"), "s");
        router.middlewares = middlewares.iter().map(|(name, _)| (*name).to_owned()).collect();
        for (name, middleware) in middlewares {
            config.http.middlewares.insert(name.to_owned(), middleware);
        }
        config.http.routers.insert(prefix.to_owned(), router);
    }
    config
}

fn allow(ranges: &[&str]) -> IpAllowList {
    IpAllowList {
        source_range: ranges.iter().map(|r| (*r).to_owned()).collect(),
        ..IpAllowList::default()
    }
}

fn depth(depth: u32) -> Option<IpStrategy> {
    Some(IpStrategy {
        depth,
        ..IpStrategy::default()
    })
}

#[tokio::test]
async fn custom_headers_are_set_and_removed_both_ways() {
    let backend = Backend::start("b").await;
    let mut headers = Headers::default();
    headers
        .custom_request_headers
        .insert("X-Script-Name".into(), "test".into());
    headers
        .custom_request_headers
        .insert("X-Remove-Me".into(), String::new());
    headers
        .custom_response_headers
        .insert("X-Backend".into(), String::new());
    headers.custom_response_headers.insert("X-Added".into(), "yes".into());
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("h", Middleware::Headers(headers))],
    );
    let gateway = TestGateway::start(config).await;

    let request = Request::get(gateway.url("/"))
        .header("x-script-name", "client")
        .header("x-remove-me", "1")
        .body(full(""))
        .unwrap();
    let (status, response, _) = send(&client(), request).await;
    assert_eq!(status, 200);
    let seen = backend.last().headers;
    assert_eq!(seen.get_all("x-script-name").iter().collect::<Vec<_>>(), ["test"]);
    assert!(!seen.contains_key("x-remove-me"));
    assert!(!response.contains_key("x-backend"), "the backend's header is removed");
    assert_eq!(response["x-added"], "yes");
    assert_eq!(
        seen["x-forwarded-for"], "127.0.0.1",
        "the proxy still adds X-Forwarded-For"
    );
}

#[tokio::test]
async fn an_empty_x_forwarded_for_sends_none() {
    let backend = Backend::start("b").await;
    let mut headers = Headers::default();
    headers
        .custom_request_headers
        .insert("X-Forwarded-For".into(), String::new());
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("h", Middleware::Headers(headers))],
    );
    let gateway = TestGateway::start(config).await;
    let (status, _, _) = send(&client(), Request::get(gateway.url("/")).body(full("")).unwrap()).await;
    assert_eq!(status, 200);
    let seen = backend.last().headers;
    assert!(!seen.contains_key("x-forwarded-for"), "{seen:?}");
    assert_eq!(seen["x-real-ip"], "127.0.0.1");
}

#[tokio::test]
async fn cors_preflights_are_answered_and_simple_requests_get_cors_headers() {
    let backend = Backend::start("b").await;
    let cors = Headers {
        access_control_allow_methods: vec!["GET".into(), "PUT".into()],
        access_control_allow_headers: vec!["X-Token".into()],
        access_control_allow_origin_list: vec!["https://app.example".into()],
        access_control_max_age: Some(600),
        add_vary_header: true,
        ..Headers::default()
    };
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("cors", Middleware::Headers(cors))],
    );
    let gateway = TestGateway::start(config).await;
    let client = client();

    let preflight = Request::options(gateway.url("/api"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "PUT")
        .body(full(""))
        .unwrap();
    let (status, headers, body) = send(&client, preflight).await;
    assert_eq!(status, 200);
    assert_eq!(body, "");
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert_eq!(headers["access-control-allow-methods"], "GET,PUT");
    assert_eq!(headers["access-control-allow-headers"], "X-Token");
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(headers["content-length"], "0");
    assert!(backend.seen().is_empty(), "the proxy answered the preflight itself");

    let simple = Request::get(gateway.url("/api"))
        .header("origin", "https://app.example")
        .body(full(""))
        .unwrap();
    let (status, headers, body) = send(&client, simple).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert_eq!(headers["vary"], "Origin");

    let foreign = Request::get(gateway.url("/api"))
        .header("origin", "https://evil.example")
        .body(full(""))
        .unwrap();
    let (_, headers, _) = send(&client, foreign).await;
    assert!(!headers.contains_key("access-control-allow-origin"));
    assert_eq!(backend.seen().len(), 2);
}

#[tokio::test]
async fn security_headers_and_allowed_hosts() {
    let backend = Backend::start("b").await;
    let secure = Headers {
        frame_deny: true,
        content_type_nosniff: true,
        referrer_policy: "no-referrer".into(),
        content_security_policy: "default-src 'self'".into(),
        sts_seconds: Some(3600),
        sts_include_subdomains: true,
        allowed_hosts: vec!["app.example".into()],
        ..Headers::default()
    };
    let forced = Headers {
        sts_seconds: Some(60),
        force_sts_header: true,
        ..Headers::default()
    };
    let config = paths(
        &backend,
        vec![
            ("/secure", vec![("secure", Middleware::Headers(secure))]),
            ("/forced", vec![("forced", Middleware::Headers(forced))]),
        ],
    );
    let gateway = TestGateway::start(config).await;
    let client = client();

    let (status, headers, _) = get(&client, &gateway.url("/secure"), Some("app.example")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["content-security-policy"], "default-src 'self'");
    assert!(
        !headers.contains_key("strict-transport-security"),
        "no HSTS over plain HTTP"
    );

    let before = backend.seen().len();
    let (status, _, body) = get(&client, &gateway.url("/secure"), Some("evil.example")).await;
    assert_eq!((status.as_u16(), body.as_str()), (500, "Bad Host\n"));
    assert_eq!(
        backend.seen().len(),
        before,
        "a host not allowed never reaches the backend"
    );

    let (_, headers, _) = get(&client, &gateway.url("/forced"), None).await;
    assert_eq!(headers["strict-transport-security"], "max-age=60");
}

#[tokio::test]
async fn ip_allow_list_accepts_and_rejects_the_connections_address() {
    let backend = Backend::start("b").await;
    let reject_404 = IpAllowList {
        reject_status_code: 404,
        ..allow(&["192.0.2.0/24"])
    };
    let config = paths(
        &backend,
        vec![
            (
                "/local",
                vec![("local", Middleware::IpAllowList(allow(&["127.0.0.1"])))],
            ),
            (
                "/remote",
                vec![("remote", Middleware::IpAllowList(allow(&["10.0.0.0/8"])))],
            ),
            ("/custom", vec![("custom", Middleware::IpAllowList(reject_404))]),
            (
                "/legacy",
                vec![("legacy", Middleware::IpWhiteList(allow(&["10.0.0.0/8"])))],
            ),
        ],
    );
    let gateway = TestGateway::start(config).await;
    let client = client();

    let (status, _, body) = get(&client, &gateway.url("/local"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
    let before = backend.seen().len();
    let spoofed = Request::get(gateway.url("/remote"))
        .header("x-forwarded-for", "10.1.1.1")
        .body(full(""))
        .unwrap();
    let (status, headers, body) = send(&client, spoofed).await;
    assert_eq!((status.as_u16(), body.as_str()), (403, "Forbidden"));
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    let (status, _, body) = get(&client, &gateway.url("/custom"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (404, "Not Found"));
    let (status, _, _) = get(&client, &gateway.url("/legacy"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(backend.seen().len(), before);
}

#[tokio::test]
async fn depth_reads_x_forwarded_for_only_from_trusted_peers() {
    let backend = Backend::start("b").await;
    let by_depth = IpAllowList {
        ip_strategy: depth(1),
        ..allow(&["192.0.2.0/24"])
    };
    let request = |gateway: &TestGateway, xff: &str| {
        Request::get(gateway.url("/"))
            .header("x-forwarded-for", xff)
            .body(full(""))
            .unwrap()
    };
    let route = || {
        middleware_route(
            "PathPrefix(`/`)",
            &[backend.url()],
            vec![("d", Middleware::IpAllowList(by_depth.clone()))],
        )
    };

    let trusting = static_config_with(|web| web.forwarded_headers.trusted_ips = vec!["127.0.0.0/8".into()]);
    let gateway = TestGateway::start_with(trusting, route()).await;
    let (status, _, _) = send(&client(), request(&gateway, "10.0.0.1, 192.0.2.9")).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(&client(), request(&gateway, "192.0.2.9, 10.0.0.1")).await;
    assert_eq!(status, 403);

    // Untrusted peer: its X-Forwarded-For is gone before the middleware looks, so nothing is allowed.
    let untrusting = TestGateway::start(route()).await;
    let (status, _, _) = send(&client(), request(&untrusting, "192.0.2.9")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn invalid_options_disable_the_middleware_with_their_key_path() {
    let backend = Backend::start("b").await;
    let negative = RateLimit {
        average: 10,
        burst: -1,
        ..RateLimit::default()
    };
    let config = paths(
        &backend,
        vec![
            (
                "/allow",
                vec![("allow", Middleware::IpAllowList(allow(&["127.0.0.1", "10.0.0.0/99"])))],
            ),
            ("/limit", vec![("limit", Middleware::RateLimit(negative))]),
            (
                "/flight",
                vec![("flight", Middleware::InFlightReq(InFlightReq::default()))],
            ),
            ("/empty", vec![("empty", Middleware::Headers(Headers::default()))]),
        ],
    );
    let gateway = TestGateway::start(config).await;
    let snapshot = gateway.gateway.snapshot();
    let report = snapshot.report();
    for (name, path) in [
        ("allow@test", "http.middlewares.allow@test.ipAllowList.sourceRange[1]"),
        ("limit@test", "http.middlewares.limit@test.rateLimit.burst"),
        ("flight@test", "http.middlewares.flight@test.inFlightReq.amount"),
        ("empty@test", "http.middlewares.empty@test.headers"),
    ] {
        let element = &report.middlewares[name];
        assert_eq!(element.status, Status::Disabled, "{name}");
        let paths: Vec<_> = element.errors.iter().map(|e| e.key_path.as_str()).collect();
        assert_eq!(paths, [path], "{name}");
    }
    let (status, _, _) = get(&client(), &gateway.url("/allow"), None).await;
    assert_eq!(status, 404, "its router is disabled");
}

#[tokio::test]
async fn in_flight_requests_are_limited_per_host_until_the_body_is_sent() {
    let backend = Backend::start("b").await;
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![(
            "flight",
            Middleware::InFlightReq(InFlightReq {
                amount: 1,
                ..InFlightReq::default()
            }),
        )],
    );
    let gateway = TestGateway::start(config).await;
    let client = client();

    let held = tokio::spawn({
        let client = client.clone();
        let url = gateway.url("/held");
        async move { get(&client, &url, Some("a.example")).await }
    });
    backend.wait_for_requests(1).await;
    let (status, headers, body) = get(&client, &gateway.url("/"), Some("a.example")).await;
    assert_eq!((status.as_u16(), body.as_str()), (429, "max connections reached: 1"));
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    let (status, _, _) = get(&client, &gateway.url("/"), Some("b.example")).await;
    assert_eq!(status, 200, "another host is another source");
    backend.release(1);
    assert_eq!(held.await.unwrap().0, 200);
    let (status, _, _) = get(&client, &gateway.url("/"), Some("a.example")).await;
    assert_eq!(status, 200, "the slot is free again");

    // A response whose body is still being sent holds its slot.
    let request = Request::get(gateway.url("/bytes/33554432"))
        .header("host", "a.example")
        .body(full(""))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let (status, _, _) = get(&client, &gateway.url("/"), Some("a.example")).await;
    assert_eq!(status, 429, "the big body is not sent yet");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 33_554_432);
    let (status, _, _) = get(&client, &gateway.url("/"), Some("a.example")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rate_limit_refuses_a_burst_delays_a_near_miss_and_recovers() {
    // One token a second: a request may wait up to half a second (1 / (2 × rate)) for its token, so a
    // burst is refused when it comes within half a second, which three requests do even on a loaded
    // machine.
    let backend = Backend::start("b").await;
    let limit = |burst| {
        Middleware::RateLimit(RateLimit {
            average: 1,
            burst,
            ..RateLimit::default()
        })
    };
    let config = paths(
        &backend,
        vec![
            ("/burst", vec![("burst", limit(2))]),
            ("/delay", vec![("delay", limit(1))]),
        ],
    );
    let gateway = TestGateway::start(config).await;
    let client = client();

    for _ in 0..2 {
        assert_eq!(get(&client, &gateway.url("/burst"), None).await.0, 200);
    }
    let (status, headers, body) = get(&client, &gateway.url("/burst"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (429, "Too Many Requests"));
    assert_eq!(headers["retry-after"], "1");
    // The next token is due a second after the burst began: more than the half-second a request may
    // wait, at most a second.
    let retry_in = headers["x-retry-in"].to_str().unwrap();
    let millis: f64 = retry_in.strip_suffix("ms").unwrap().parse().unwrap();
    assert!(millis > 500.0 && millis <= 1000.0, "{retry_in}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        get(&client, &gateway.url("/burst"), None).await.0,
        200,
        "a token came back"
    );

    // A burst of 1: a request 700 ms after the first waits for its token (due at one second) rather than
    // being refused.
    let start = Instant::now();
    assert_eq!(get(&client, &gateway.url("/delay"), None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get(&client, &gateway.url("/delay"), None).await.0, 200);
    assert!(start.elapsed() >= Duration::from_secs(1), "{:?}", start.elapsed());
}

#[tokio::test]
async fn limits_survive_a_reload_of_an_unchanged_definition() {
    let backend = Backend::start("b").await;
    let limit = |burst| {
        Middleware::RateLimit(RateLimit {
            average: 1,
            period: switchyard_config::Duration::from_secs(60),
            burst,
            ..RateLimit::default()
        })
    };
    let config = middleware_route("PathPrefix(`/`)", &[backend.url()], vec![("limit", limit(1))]);
    let gateway = TestGateway::start(config).await;
    let client = client();
    assert_eq!(get(&client, &gateway.url("/"), None).await.0, 200);
    assert_eq!(get(&client, &gateway.url("/"), None).await.0, 429);

    gateway
        .reconfigure(|c| {
            c.http
                .routers
                .insert("other".into(), Router::new("Host(`other.example`)", "s"));
        })
        .await;
    assert_eq!(
        get(&client, &gateway.url("/"), None).await.0,
        429,
        "the bucket is still empty"
    );

    gateway
        .reconfigure(|c| {
            c.http.middlewares.insert("limit".into(), limit(2));
        })
        .await;
    assert_eq!(
        get(&client, &gateway.url("/"), None).await.0,
        200,
        "a new definition starts over"
    );
}
