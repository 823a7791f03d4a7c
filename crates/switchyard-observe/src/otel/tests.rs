//! The tracer's sampling and resource, and the spans it writes, decoded with `opentelemetry-proto`.

use http::header::USER_AGENT;
use http::{HeaderMap, HeaderName, Uri};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

use super::*;

#[test]
fn sample_rates_outside_zero_to_one_are_errors() {
    assert!(Sampler::new(0.0).is_ok() && Sampler::new(1.0).is_ok());
    for bad in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(Sampler::new(bad), Err(ObserveError::Invalid { key, .. }) if key == "tracing.sampleRate"));
    }
}

#[test]
fn new_traces_are_sampled_at_the_rate_by_their_id() {
    let count = |rate: f64| {
        let sampler = Sampler::new(rate).expect("valid rate");
        (0..10_000).filter(|_| sampler.samples(TraceId::random())).count()
    };
    assert_eq!(count(0.0), 0);
    assert_eq!(count(1.0), 10_000);
    let half = count(0.5);
    assert!((4_500..=5_500).contains(&half), "{half} of 10,000 at 0.5");
    let sampler = Sampler::new(0.25).expect("valid rate");
    let id = TraceId(0x1234_5678_9abc_def0_0fed_cba9_8765_4321);
    assert!(
        (0..10).all(|_| sampler.samples(id) == sampler.samples(id)),
        "the id decides"
    );
}

#[test]
fn the_resource_names_the_service_and_resource_attributes_win_over_global_ones() {
    let tracing = Tracing {
        service_name: "edge".into(),
        global_attributes: [
            ("deployment.environment".into(), "old".into()),
            ("team".into(), "a".into()),
        ]
        .into(),
        resource_attributes: [("deployment.environment".into(), "prod".into())].into(),
        ..Tracing::default()
    };
    let resource = resource(&tracing);
    let get = |key: &str| resource.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(get("service.name"), Some("edge"));
    assert_eq!(get("deployment.environment"), Some("prod"));
    assert_eq!(get("team"), Some("a"));
    assert_eq!(get("telemetry.sdk.name"), Some("switchyard"));
    assert_eq!(
        resource.iter().filter(|(k, _)| k == "deployment.environment").count(),
        1
    );
    assert_eq!(
        env_attributes("a=1, b = x%20y ,=skip,novalue,c=%zz"),
        [
            ("a".into(), "1".into()),
            ("b".into(), "x y".into()),
            ("c".into(), "%zz".into())
        ]
    );
}

/// Decodes the spans `write` queues, through a whole export request as the collector gets it.
fn written(write: impl FnOnce(&mut Vec<u8>)) -> Span {
    let queue = queue();
    queue.submit(write);
    let request = queue.request_for_tests();
    let decoded = ExportTraceServiceRequest::decode(request).expect("a valid OTLP request");
    let resource_spans = &decoded.resource_spans[0];
    let resource = resource_spans.resource.as_ref().expect("a resource");
    assert_eq!(resource.attributes[0].key, "service.name");
    let scope_spans = &resource_spans.scope_spans[0];
    assert_eq!(scope_spans.scope.as_ref().map(|s| s.name.as_str()), Some(SCOPE));
    assert_eq!(scope_spans.spans.len(), 1);
    scope_spans.spans[0].clone()
}

/// A queue for export requests of the resource `service.name: edge`.
fn queue() -> Queue {
    Queue::new(Envelope {
        resource: proto::resource(&[("service.name".into(), "edge".into())]),
        scope: proto::scope(SCOPE, VERSION),
    })
}

fn attr<'s>(span: &'s Span, key: &str) -> Option<&'s any_value::Value> {
    let found = span.attributes.iter().find(|kv| kv.key == key)?;
    found.value.as_ref().and_then(|v: &AnyValue| v.value.as_ref())
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attr(span, key)? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

#[test]
fn a_server_span_says_what_the_exchange_says() {
    let exchange = Exchange::example();
    let uri = Uri::from_static("/whoami?name=x&id=7");
    let mut headers = HeaderMap::new();
    headers.append("x-tenant", "a".parse().expect("value"));
    headers.append("x-tenant", "b".parse().expect("value"));
    headers.insert(USER_AGENT, "curl/8.5".parse().expect("value"));
    headers.insert(http::header::HOST, "example.com".parse().expect("value"));
    let capture = Capture::new(&Tracing {
        captured_request_headers: vec!["X-Tenant".into()],
        safe_query_params: vec!["id".into()],
        ..Tracing::default()
    })
    .expect("valid capture");
    let parent = SpanId(0xaa);
    let head = Head {
        trace_id: TraceId(0x0102),
        span_id: SpanId(0x0304),
        parent: Some((parent, true)),
        sampled: true,
        trace_state: None,
        name: "GET",
        kind: proto::KIND_SERVER,
        start: span::unix_nanos(exchange.start),
        end: span::unix_nanos(exchange.start + exchange.duration),
    };
    let span = written(|buf| {
        span::head(buf, &head);
        span::server_request_attributes(buf, &uri, &headers, &exchange, &capture);
        span::server_response_attributes(buf, &exchange, &capture);
        span::server_status(buf, &exchange);
    });
    assert_eq!(span.trace_id, TraceId(0x0102).to_bytes());
    assert_eq!(span.span_id, SpanId(0x0304).to_bytes());
    assert_eq!(span.parent_span_id, parent.to_bytes());
    assert_eq!((span.name.as_str(), span.kind), ("GET", 2));
    assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 3_000_000);
    assert_eq!(span.flags, 0x301);
    assert_eq!(span.status, None);
    let expected = [
        ("entry_point", "web"),
        ("http.request.method", "GET"),
        ("url.path", "/whoami"),
        ("url.query", "id=7&name=REDACTED"),
        ("server.address", "example.com"),
        ("server.port", "80"),
        ("client.address", "192.0.2.10"),
        ("network.peer.port", "51000"),
        ("user_agent.original", "curl/8.5"),
        ("http.request.body.size", "0"),
        ("http.response.status_code", "200"),
        ("traefik.router.name", "whoami@file"),
    ];
    for (key, value) in expected {
        assert_eq!(text(&span, key).as_deref(), Some(value), "{key}");
    }
    let Some(any_value::Value::ArrayValue(tenants)) = attr(&span, "http.request.header.x-tenant") else {
        panic!("captured header as an array: {span:?}");
    };
    assert_eq!(tenants.values.len(), 2);
}

#[test]
fn a_failed_exchange_is_an_error_with_the_proxys_cause() {
    let mut exchange = Exchange::example();
    exchange.status = StatusCode::BAD_GATEWAY;
    exchange.progress.failure = Some("connection refused".into());
    let span = written(|buf| span::server_status(buf, &exchange));
    let status = span.status.expect("a status");
    assert_eq!((status.code, status.message.as_str()), (2, "connection refused"));
    exchange.status = StatusCode::NOT_FOUND;
    assert_eq!(written(|buf| span::server_status(buf, &exchange)).status, None);
    let client = written(|buf| span::client_status(buf, 404)).status.expect("an error");
    assert_eq!((client.code, client.message.as_str()), (2, ""));
    assert_eq!(written(|buf| span::client_status(buf, 204)).status, None);
}

fn upstream_request() -> http::request::Parts {
    let req = http::Request::get("/api/items?id=7&key=k")
        .header(USER_AGENT, "curl/8")
        .header("x-tenant", "a")
        .body(())
        .expect("request");
    req.into_parts().0
}

#[test]
fn client_spans_name_the_upstream_and_hide_secrets() {
    let parts = upstream_request();
    let capture = Capture::new(&Tracing {
        captured_request_headers: vec!["x-tenant".into()],
        safe_query_params: vec!["id".into()],
        ..Tracing::default()
    })
    .expect("valid capture");
    let span = written(|buf| {
        Upstream::with("http://user:pw@10.0.0.5:8080/base/", &parts.uri, |upstream| {
            span::client_attributes(buf, &parts, upstream, &capture);
        });
        span::client_answer(buf, 200);
    });
    assert_eq!(
        text(&span, "url.full").as_deref(),
        Some("http://REDACTED:REDACTED@10.0.0.5:8080/base/api/items?id=7&key=REDACTED")
    );
    assert_eq!(text(&span, "server.address").as_deref(), Some("10.0.0.5"));
    assert_eq!(text(&span, "network.peer.port").as_deref(), Some("8080"));
    assert_eq!(text(&span, "user_agent.original").as_deref(), Some("curl/8"));
    assert_eq!(text(&span, "http.response.status_code").as_deref(), Some("200"));
    assert!(attr(&span, "http.request.header.x-tenant").is_some());
    assert_eq!(text(&span, "url.scheme").as_deref(), Some("http"));
    let https = Upstream::with("https://api.internal", &parts.uri, Upstream::address);
    assert_eq!(https, "api.internal:443");
    let v6 = Upstream::with("http://[::1]:9000", &parts.uri, Upstream::address);
    assert_eq!(v6, "[::1]:9000");
    let v6_span = written(|buf| {
        Upstream::with("http://[::1]:9000", &parts.uri, |upstream| {
            span::client_attributes(buf, &parts, upstream, &capture);
        });
    });
    assert_eq!(text(&v6_span, "server.address").as_deref(), Some("::1"));
    let absolute: Uri = "https://other.example/x".parse().expect("uri");
    assert_eq!(
        Upstream::with("http://10.0.0.5", &absolute, Upstream::address),
        "other.example:443"
    );
}

#[test]
fn user_agent_is_not_captured_twice_and_bad_names_are_errors() {
    let tracing = Tracing {
        captured_request_headers: vec!["User-Agent".into(), "X-Request-Id".into()],
        ..Tracing::default()
    };
    let capture = Capture::new(&tracing).expect("valid names");
    assert_eq!(capture.request_names(), [HeaderName::from_static("x-request-id")]);
    let bad = Tracing {
        captured_response_headers: vec!["ok".into(), "bad header".into()],
        ..Tracing::default()
    };
    assert!(matches!(
        Capture::new(&bad),
        Err(ObserveError::Invalid { key, .. }) if key == "tracing.capturedResponseHeaders[1]"
    ));
}

#[test]
fn query_parameters_are_redacted_unless_safe_as_in_traefik() {
    let safe = vec!["page".to_owned()];
    assert_eq!(
        span::safe_query("token=s3cr%65t&page=2&page=3&q=a+b", &safe),
        "page=2&page=3&q=REDACTED&token=REDACTED"
    );
    assert_eq!(span::safe_query("a=%zz&b;c=1&page=x y", &safe), "page=x+y");
    assert_eq!(span::safe_query("", &safe), "");
}

#[test]
fn a_full_queue_drops_spans_and_counts_them() {
    let queue = queue();
    for _ in 0..export::MAX_QUEUE + 3 {
        queue.submit(|buf| buf.push(0));
    }
    assert_eq!(queue.count_for_tests(), export::MAX_QUEUE);
    // The first loss is reported at once; the next two wait for the next report, a minute later.
    assert_eq!(queue.dropped_for_tests(), 2);
}
