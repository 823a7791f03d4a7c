use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use switchyard_config::Prometheus;

use super::Metrics;
use crate::{Exchange, ObserveError};

/// One sample line of the exposition: `name{labels} value`.
#[derive(Debug)]
struct Line {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an exposition, parsed line by line (comments skipped).
struct Scrape(Vec<Line>);

impl Scrape {
    fn of(metrics: &Metrics) -> Self {
        let text = metrics.encode();
        Self(text.lines().filter(|l| !l.starts_with('#')).map(parse_line).collect())
    }

    /// The value of the sample with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let mut found = self.0.iter().filter(|l| l.name == name && l.labels == wanted);
        let line = found.next()?;
        assert!(found.next().is_none(), "{name} {wanted:?} appears twice");
        Some(line.value)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in {:#?}", self.0))
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.0.iter().any(|l| l.name.starts_with(prefix))
    }

    fn label_names(&self, name: &str) -> Vec<Vec<String>> {
        let lines = self.0.iter().filter(|l| l.name == name);
        lines.map(|l| l.labels.keys().cloned().collect()).collect()
    }
}

fn parse_line(line: &str) -> Line {
    let (series, value) = line.rsplit_once(' ').expect("a sample line ends with its value");
    let value = value.parse().expect("a sample value is a number");
    let Some((name, labels)) = series.split_once('{') else {
        return Line {
            name: series.into(),
            labels: BTreeMap::new(),
            value,
        };
    };
    let labels = labels.strip_suffix('}').expect("labels end with `}`");
    Line {
        name: name.into(),
        labels: parse_labels(labels),
        value,
    }
}

/// `k="v",k2="v2"`, with `\"` and `\\` escapes in values.
fn parse_labels(mut rest: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a label value ends with `\"`") {
                (_, '\\') => value.push(chars.next().expect("an escaped character").1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        rest = &after[end + 1..];
    }
    labels
}

fn metrics(configure: impl FnOnce(&mut Prometheus)) -> Metrics {
    let mut prometheus = Prometheus::default();
    configure(&mut prometheus);
    Metrics::new(&prometheus).expect("a valid metrics.prometheus")
}

fn exchange(method: Method, status: u16, service: &str, millis: u64) -> Exchange {
    let mut exchange = Exchange::example();
    exchange.method = method;
    exchange.status = StatusCode::from_u16(status).expect("a valid status");
    exchange.duration = Duration::from_millis(millis);
    exchange.progress.router = Some(format!("{}-router", service.split('@').next().unwrap_or(service)).into());
    exchange.progress.service = Some(service.into());
    exchange
}

fn with_headers(mut exchange: Exchange, headers: &[(&'static str, &'static str)]) -> Exchange {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(*name, HeaderValue::from_static(value));
    }
    exchange.protocol = crate::exchange::protocol_of(&map);
    exchange.request_headers = Some(map);
    exchange
}

fn invalid_key(result: Result<Metrics, ObserveError>) -> String {
    match result {
        Err(ObserveError::Invalid { key, .. }) => key,
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

/// The labels of a request series of entrypoint `web`.
fn on_web<'a>(code: &'a str, method: &'a str, protocol: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("code", code),
        ("method", method),
        ("protocol", protocol),
        ("entrypoint", "web"),
    ]
}

/// The labels of a request series of `service`, over HTTP.
fn on_service<'a>(code: &'a str, method: &'a str, service: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("code", code),
        ("method", method),
        ("protocol", "http"),
        ("service", service),
    ]
}

/// `labels` and then `more`.
fn and<'a>(mut labels: Vec<(&'a str, &'a str)>, more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    labels.extend_from_slice(more);
    labels
}

const EP: &str = "traefik_entrypoint_requests_total";
const SVC: &str = "traefik_service_requests_total";

#[test]
fn requests_are_counted_by_entrypoint_and_service_with_traefiks_labels() {
    let metrics = metrics(|_| {});
    metrics.record(&exchange(Method::GET, 200, "whoami@file", 3));
    metrics.record(&exchange(Method::GET, 200, "whoami@file", 5));
    metrics.record(&exchange(Method::POST, 502, "api@docker", 30));
    let purge = Method::from_bytes(b"PURGE").expect("a token");
    metrics.record(&exchange(purge, 404, "whoami@file", 1));
    let scrape = Scrape::of(&metrics);
    assert_eq!(scrape.get(EP, &on_web("200", "GET", "http")), 2.0);
    assert_eq!(scrape.get(EP, &on_web("502", "POST", "http")), 1.0);
    assert_eq!(scrape.get(EP, &on_web("404", "EXTENSION_METHOD", "http")), 1.0);
    assert_eq!(scrape.get(SVC, &on_service("200", "GET", "whoami@file")), 2.0);
    assert_eq!(scrape.get(SVC, &on_service("502", "POST", "api@docker")), 1.0);
    assert!(
        !scrape.has_prefix("traefik_router_"),
        "addRoutersLabels is off by default"
    );
    assert!(!scrape.has_prefix("traefik_entrypoint_requests_tls_total"));
}

#[test]
fn bytes_are_counted_from_the_request_and_response_sizes() {
    let metrics = metrics(|_| {});
    let mut post = exchange(Method::POST, 201, "api@docker", 30);
    post.request_size = 120;
    post.response_size = 11;
    metrics.record(&post);
    metrics.record(&post);
    let scrape = Scrape::of(&metrics);
    let service = on_service("201", "POST", "api@docker");
    assert_eq!(scrape.get("traefik_service_requests_bytes_total", &service), 240.0);
    assert_eq!(scrape.get("traefik_service_responses_bytes_total", &service), 22.0);
    let web = on_web("201", "POST", "http");
    assert_eq!(scrape.get("traefik_entrypoint_requests_bytes_total", &web), 240.0);
    assert_eq!(scrape.get("traefik_entrypoint_responses_bytes_total", &web), 22.0);
}

#[test]
fn durations_fill_the_configured_buckets() {
    let metrics = metrics(|p| p.buckets = vec![0.1, 0.3, 1.2, 5.0]);
    for millis in [50, 200, 2000] {
        metrics.record(&exchange(Method::GET, 200, "whoami@file", millis));
    }
    let scrape = Scrape::of(&metrics);
    let name = "traefik_entrypoint_request_duration_seconds";
    let web = on_web("200", "GET", "http");
    let bucket = |le| scrape.get(&format!("{name}_bucket"), &and(web.clone(), &[("le", le)]));
    let counts: Vec<f64> = ["0.1", "0.3", "1.2", "5", "+Inf"].into_iter().map(bucket).collect();
    assert_eq!(counts, [1.0, 2.0, 2.0, 3.0, 3.0]);
    assert_eq!(scrape.get(&format!("{name}_count"), &web), 3.0);
    assert!((scrape.get(&format!("{name}_sum"), &web) - 2.25).abs() < 1e-9);
    let service = on_service("200", "GET", "whoami@file");
    assert_eq!(
        scrape.get("traefik_service_request_duration_seconds_count", &service),
        3.0
    );
}

#[test]
fn router_series_follow_add_routers_labels() {
    let metrics = metrics(|p| p.add_routers_labels = true);
    metrics.record(&exchange(Method::GET, 200, "whoami@file", 3));
    let scrape = Scrape::of(&metrics);
    let labels = on_service("200", "GET", "whoami@file");
    let labels = and(
        labels[..3].to_vec(),
        &[("router", "whoami-router"), ("service", "whoami@file")],
    );
    assert_eq!(scrape.get("traefik_router_requests_total", &labels), 1.0);
    assert_eq!(
        scrape.get("traefik_router_request_duration_seconds_count", &labels),
        1.0
    );
    assert_eq!(scrape.get("traefik_router_responses_bytes_total", &labels), 42.0);
}

#[test]
fn levels_switched_off_have_no_series() {
    let metrics = metrics(|p| {
        p.add_entry_points_labels = false;
        p.add_services_labels = false;
    });
    metrics.record(&exchange(Method::GET, 200, "whoami@file", 3));
    metrics.server_up("whoami@file", "http://10.0.0.1:80", true);
    let scrape = Scrape::of(&metrics);
    assert!(!scrape.has_prefix("traefik_entrypoint_"));
    assert!(!scrape.has_prefix("traefik_service_"));
    assert!(!scrape.has_prefix("traefik_router_"));
    assert!(!metrics.encode().contains("# TYPE traefik_service_"));
    assert_eq!(scrape.get("traefik_config_reloads_total", &[]), 0.0);
}

#[test]
fn an_unrouted_request_counts_on_its_entrypoint_only() {
    let metrics = metrics(|p| p.add_routers_labels = true);
    let mut unrouted = Exchange::example();
    unrouted.status = StatusCode::NOT_FOUND;
    unrouted.progress = Default::default();
    metrics.record(&unrouted);
    let scrape = Scrape::of(&metrics);
    assert_eq!(scrape.get(EP, &on_web("404", "GET", "http")), 1.0);
    assert!(!scrape.has_prefix("traefik_router_"));
    assert!(!scrape.has_prefix("traefik_service_"));
}

#[test]
fn retries_are_counted_per_service() {
    let metrics = metrics(|_| {});
    let mut retried = exchange(Method::GET, 200, "api@docker", 10);
    retried.progress.retries = 2;
    metrics.record(&retried);
    metrics.record(&retried);
    metrics.record(&exchange(Method::GET, 200, "whoami@file", 1));
    let scrape = Scrape::of(&metrics);
    assert_eq!(
        scrape.get("traefik_service_retries_total", &[("service", "api@docker")]),
        4.0
    );
    assert_eq!(
        scrape.value("traefik_service_retries_total", &[("service", "whoami@file")]),
        None
    );
}

/// Metrics with `headerLabels` `useragent: User-Agent` and `tenant: x-tenant`.
fn with_header_labels() -> Metrics {
    metrics(|p| {
        p.header_labels.insert("useragent".into(), "User-Agent".into());
        p.header_labels.insert("tenant".into(), "x-tenant".into());
    })
}

#[test]
fn header_labels_label_the_requests_total_series() {
    let metrics = with_header_labels();
    assert!(metrics.needs_request_headers());
    let base = exchange(Method::GET, 200, "whoami@file", 3);
    let (agent, tenant) = (("user-agent", "foobar"), ("x-tenant", "a"));
    metrics.record(&with_headers(base.clone(), &[agent, tenant]));
    metrics.record(&with_headers(base, &[agent]));
    let scrape = Scrape::of(&metrics);
    let extra = |tenant| [("tenant", tenant), ("useragent", "foobar")];
    let web = on_web("200", "GET", "http");
    assert_eq!(scrape.get(EP, &and(web.clone(), &extra("a"))), 1.0);
    assert_eq!(
        scrape.get(EP, &and(web, &extra(""))),
        1.0,
        "a missing header is an empty value"
    );
    let service = on_service("200", "GET", "whoami@file");
    assert_eq!(scrape.get(SVC, &and(service, &extra(""))), 1.0);
}

#[test]
fn header_labels_stay_off_the_other_series() {
    let metrics = with_header_labels();
    let base = exchange(Method::GET, 200, "whoami@file", 3);
    metrics.record(&with_headers(base, &[("user-agent", "foobar")]));
    let scrape = Scrape::of(&metrics);
    let durations = scrape.label_names("traefik_entrypoint_request_duration_seconds_count");
    assert_eq!(durations, [["code", "entrypoint", "method", "protocol"]]);
    let bytes = scrape.label_names("traefik_service_responses_bytes_total");
    assert_eq!(bytes, [["code", "method", "protocol", "service"]]);
}

#[test]
fn the_protocol_label_follows_the_request_headers() {
    let metrics = metrics(|_| {});
    let base = exchange(Method::GET, 200, "whoami@file", 3);
    let websocket = [("connection", "keep-alive, Upgrade"), ("upgrade", "websocket")];
    metrics.record(&with_headers(base.clone(), &websocket));
    metrics.record(&with_headers(base.clone(), &[("accept", "text/event-stream")]));
    let grpc_web = ("content-type", "application/grpc-web+proto");
    metrics.record(&with_headers(base.clone(), &[grpc_web]));
    metrics.record(&with_headers(base, &[("content-type", "text/plain")]));
    let scrape = Scrape::of(&metrics);
    for protocol in ["websocket", "sse", "grpc-web", "http"] {
        assert_eq!(scrape.get(EP, &on_web("200", "GET", protocol)), 1.0, "{protocol}");
    }
}

#[test]
fn grpc_answers_are_counted_by_their_grpc_status() {
    let metrics = metrics(|_| {});
    let base = exchange(Method::POST, 200, "grpc@file", 3);
    for status in ["5", "nonsense"] {
        let mut grpc = with_headers(base.clone(), &[("content-type", "application/grpc")]);
        let mut answer = HeaderMap::new();
        answer.insert("grpc-status", HeaderValue::from_static(status));
        grpc.response_headers = Some(answer);
        metrics.record(&grpc);
    }
    let scrape = Scrape::of(&metrics);
    assert_eq!(scrape.get(EP, &on_web("5", "POST", "grpc")), 1.0);
    assert_eq!(
        scrape.get(EP, &on_web("2", "POST", "grpc")),
        1.0,
        "an unreadable status is UNKNOWN"
    );
}

#[test]
fn internal_services_are_not_counted() {
    let metrics = metrics(|p| p.add_routers_labels = true);
    let mut api = exchange(Method::GET, 200, "api@internal", 3);
    api.progress.router = Some("api@file".into());
    metrics.record(&api);
    let scrape = Scrape::of(&metrics);
    assert!(!scrape.has_prefix("traefik_entrypoint_"));
    assert!(!scrape.has_prefix("traefik_router_"));
    assert!(!scrape.has_prefix("traefik_service_"));
}

#[test]
fn config_reloads_count_successes_and_stamp_the_last_one() {
    let metrics = metrics(|_| {});
    let scrape = Scrape::of(&metrics);
    assert_eq!(scrape.get("traefik_config_reloads_total", &[]), 0.0);
    assert_eq!(scrape.get("traefik_config_last_reload_success", &[]), 0.0);
    let at = UNIX_EPOCH + Duration::from_secs(1_765_100_000);
    metrics.gateway.config_reloaded_at(true, at);
    metrics.config_reloaded(false);
    let scrape = Scrape::of(&metrics);
    assert_eq!(scrape.get("traefik_config_reloads_total", &[]), 1.0);
    assert_eq!(scrape.get("traefik_config_last_reload_success", &[]), 1_765_100_000.0);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    metrics.config_reloaded(true);
    let stamped = Scrape::of(&metrics).get("traefik_config_last_reload_success", &[]);
    assert!(stamped >= before.floor() && stamped <= before + 60.0);
}

#[test]
fn open_connections_are_counted_while_their_guard_lives() {
    let metrics = metrics(|_| {});
    let labels = [("entrypoint", "web"), ("protocol", "TCP")];
    let open = |metrics: &Metrics| Scrape::of(metrics).get("traefik_open_connections", &labels);
    let first = metrics.open_connection("web", "TCP");
    let second = metrics.open_connection("web", "TCP");
    let _other = metrics.open_connection("websecure", "TCP");
    assert_eq!(open(&metrics), 2.0);
    drop(first);
    assert_eq!(open(&metrics), 1.0);
    drop(second);
    assert_eq!(open(&metrics), 0.0);
    let other = [("entrypoint", "websecure"), ("protocol", "TCP")];
    assert_eq!(Scrape::of(&metrics).get("traefik_open_connections", &other), 1.0);
}

#[test]
fn server_up_reports_one_or_zero() {
    let metrics = metrics(|_| {});
    metrics.server_up("whoami@file", "http://10.0.0.1:80", true);
    metrics.server_up("whoami@file", "http://10.0.0.2:80", true);
    metrics.server_up("whoami@file", "http://10.0.0.2:80", false);
    let scrape = Scrape::of(&metrics);
    let server = |url| [("service", "whoami@file"), ("url", url)];
    assert_eq!(
        scrape.get("traefik_service_server_up", &server("http://10.0.0.1:80")),
        1.0
    );
    assert_eq!(
        scrape.get("traefik_service_server_up", &server("http://10.0.0.2:80")),
        0.0
    );
}

#[test]
fn certificate_expiry_is_labelled_and_cleared() {
    let metrics = metrics(|_| {});
    let sans = ["b.example.com".to_owned(), "a.example.com".to_owned()];
    metrics.certificate_expiry("a.example.com", "123456789", &sans, 1_800_000_000);
    let labels = [
        ("cn", "a.example.com"),
        ("serial", "123456789"),
        ("sans", "a.example.com,b.example.com"),
    ];
    assert_eq!(
        Scrape::of(&metrics).get("traefik_tls_certs_not_after", &labels),
        1_800_000_000.0
    );
    metrics.clear_certificates();
    assert!(!Scrape::of(&metrics).has_prefix("traefik_tls_certs_not_after"));
}

#[test]
fn exposition_is_the_prometheus_text_format_with_traefiks_names() {
    assert_eq!(Metrics::content_type(), "text/plain; version=0.0.4; charset=utf-8");
    let metrics = metrics(|_| {});
    metrics.record(&Exchange::example());
    let text = metrics.encode();
    for type_line in [
        "# TYPE traefik_config_reloads_total counter",
        "# TYPE traefik_config_last_reload_success gauge",
        "# TYPE traefik_entrypoint_requests_total counter",
        "# TYPE traefik_entrypoint_request_duration_seconds histogram",
        "# TYPE traefik_service_responses_bytes_total counter",
    ] {
        assert!(text.lines().any(|l| l == type_line), "no `{type_line}` in\n{text}");
    }
    assert!(!text.contains("_total_total"));
    assert!(
        !text.contains("# EOF"),
        "OpenMetrics' end marker is not part of this format"
    );
}

#[test]
fn label_values_are_escaped() {
    let metrics = metrics(|_| {});
    metrics.certificate_expiry("quote\"and\\slash", "1", &[], 1);
    let labels = [("cn", "quote\"and\\slash"), ("serial", "1"), ("sans", "")];
    assert_eq!(Scrape::of(&metrics).get("traefik_tls_certs_not_after", &labels), 1.0);
}

#[test]
fn invalid_buckets_name_their_key() {
    for buckets in [vec![0.3, 0.1], vec![-1.0, 0.5], vec![0.1, f64::NAN], vec![0.1, 0.1]] {
        let key = invalid_key(Metrics::new(&Prometheus {
            buckets: buckets.clone(),
            ..Prometheus::default()
        }));
        assert_eq!(key, "metrics.prometheus.buckets", "{buckets:?}");
    }
    let infinite = metrics(|p| p.buckets = vec![1.0, f64::INFINITY]);
    infinite.record(&Exchange::example());
    let text = infinite.encode();
    assert_eq!(
        text.matches("traefik_entrypoint_request_duration_seconds_bucket")
            .count(),
        2
    );
    let empty = metrics(|p| p.buckets = Vec::new());
    empty.record(&Exchange::example());
    assert!(empty.encode().contains(r#"le="0.005""#), "Prometheus' default buckets");
}

#[test]
fn invalid_header_labels_name_their_key() {
    for (label, header) in [
        ("user-agent", "User-Agent"),
        ("code", "X-Code"),
        ("__x", "X"),
        ("tenant", "Bad Header"),
    ] {
        let mut prometheus = Prometheus::default();
        prometheus.header_labels.insert(label.into(), header.into());
        let key = invalid_key(Metrics::new(&prometheus));
        assert_eq!(key, format!("metrics.prometheus.headerLabels.{label}"));
    }
}

#[test]
fn metrics_can_be_shared_between_threads() {
    fn shared<T: std::fmt::Debug + Send + Sync + 'static>() {}
    shared::<Metrics>();
    shared::<super::OpenConnection>();
    let metrics = Arc::new(metrics(|_| {}));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let metrics = Arc::clone(&metrics);
            std::thread::spawn(move || (0..250).for_each(|_| metrics.record(&Exchange::example())))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().expect("a recording thread"));
    assert_eq!(Scrape::of(&metrics).get(EP, &on_web("200", "GET", "http")), 1000.0);
}

#[test]
fn each_method_has_its_series() {
    let metrics = metrics(|_| {});
    let pri = Method::from_bytes(b"PRI").expect("a method");
    for method in [Method::PUT, pri, Method::GET, Method::PUT] {
        metrics.record(&exchange(method, 200, "whoami@file", 3));
    }
    let scrape = Scrape::of(&metrics);
    assert_eq!(scrape.get(SVC, &on_service("200", "PUT", "whoami@file")), 2.0);
    assert_eq!(scrape.get(SVC, &on_service("200", "PRI", "whoami@file")), 1.0);
    assert_eq!(scrape.get(SVC, &on_service("200", "GET", "whoami@file")), 1.0);
}

#[test]
fn names_allocated_apart_share_their_series() {
    let metrics = metrics(|p| p.add_routers_labels = true);
    for _ in 0..3 {
        // Each exchange has its own allocations of the same names.
        metrics.record(&exchange(Method::GET, 200, "whoami@file", 3));
    }
    let scrape = Scrape::of(&metrics);
    assert_eq!(scrape.get(SVC, &on_service("200", "GET", "whoami@file")), 3.0);
    assert_eq!(scrape.get(EP, &on_web("200", "GET", "http")), 3.0);
    let router = [
        ("code", "200"),
        ("method", "GET"),
        ("protocol", "http"),
        ("router", "whoami-router"),
        ("service", "whoami@file"),
    ];
    assert_eq!(scrape.get("traefik_router_requests_total", &router), 3.0);
}

#[test]
fn tls_requests_are_counted_by_version_and_cipher() {
    let metrics = metrics(|_| {});
    let mut tls = exchange(Method::GET, 200, "whoami@file", 3);
    tls.tls = true;
    tls.tls_version = Some("1.3");
    tls.tls_cipher = Some("TLS_AES_128_GCM_SHA256");
    metrics.record(&tls);
    metrics.record(&tls);
    metrics.record(&exchange(Method::GET, 200, "whoami@file", 3));
    let scrape = Scrape::of(&metrics);
    let labels = [
        ("tls_version", "1.3"),
        ("tls_cipher", "TLS_AES_128_GCM_SHA256"),
        ("entrypoint", "web"),
    ];
    assert_eq!(scrape.get("traefik_entrypoint_requests_tls_total", &labels), 2.0);
    let service = [
        ("tls_version", "1.3"),
        ("tls_cipher", "TLS_AES_128_GCM_SHA256"),
        ("service", "whoami@file"),
    ];
    assert_eq!(scrape.get("traefik_service_requests_tls_total", &service), 2.0);
}
