//! `metrics.otlp`: the series pushed to a real OTLP/HTTP receiver on 127.0.0.1, decoded with
//! `opentelemetry-proto` and checked against the requests observed.
#![cfg(feature = "metrics")]

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Metric, number_data_point};
use prost::Message as _;
use switchyard_config::{Format, StaticConfig, load_str};
use switchyard_middleware::{ClientInfo, RequestBody, ResponseBody};
use switchyard_observe::{ObserveError, Observer};
use tokio::net::TcpListener;

/// The paths and bodies posted to the receiver.
type Posts = Arc<Mutex<Vec<(String, Bytes)>>>;

async fn receiver() -> (std::net::SocketAddr, Posts) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a local port");
    let addr = listener.local_addr().expect("its address");
    let posts = Posts::default();
    let kept = Arc::clone(&posts);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let kept = Arc::clone(&kept);
                async move {
                    let path = req.uri().path().to_owned();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    kept.lock().expect("posts").push((path, body));
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    (addr, posts)
}

fn config(yaml: &str) -> StaticConfig {
    load_str(yaml, Format::Yaml, "traefik.yml")
        .expect("a valid static configuration")
        .value
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    match value {
        Value::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    }
}

fn metric<'m>(metrics: &'m [Metric], name: &str) -> &'m Metric {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name} in {metrics:#?}"))
}

fn double(point: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        other => panic!("a double, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_metrics_count_the_requests_with_traefiks_names() {
    let (addr, posts) = receiver().await;
    let yaml = format!(
        "metrics:\n  otlp:\n    pushInterval: 1h\n    explicitBoundaries: [0.01, 1]\n    serviceName: edge\n    http:\n      endpoint: http://{addr}\n"
    );
    let observer = Observer::from_static(&config(&yaml))
        .expect("valid")
        .expect("an observer");
    observer.on_metrics_push(|metrics| metrics.server_up("whoami@file", "http://10.0.0.1:80", true));
    let web = observer.entry_point("web");
    for _ in 0..3 {
        let mut req = http::Request::new(RequestBody::empty());
        let observation = web.begin(&mut req, ClientInfo::new("192.0.2.1".parse().expect("ip"), false));
        drop(observation.answered(http::Response::new(ResponseBody::empty())));
    }
    let flushing = Arc::clone(&observer);
    tokio::task::spawn_blocking(move || flushing.flush())
        .await
        .expect("the flush");
    let posts = posts.lock().expect("posts").clone();
    assert_eq!(posts.len(), 1, "one push on flush, none before the interval");
    assert_eq!(posts[0].0, "/v1/metrics");
    let request = ExportMetricsServiceRequest::decode(posts[0].1.clone()).expect("an OTLP metrics request");
    let resource = request.resource_metrics[0].resource.as_ref().expect("a resource");
    assert_eq!(text(&resource.attributes, "service.name").as_deref(), Some("edge"));
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;

    let Some(Data::Sum(requests)) = &metric(metrics, "traefik_entrypoint_requests_total").data else {
        panic!("requests as a sum");
    };
    assert!(requests.is_monotonic);
    assert_eq!(requests.aggregation_temporality, 2, "cumulative");
    let point = &requests.data_points[0];
    for (key, value) in [
        ("code", "200"),
        ("method", "GET"),
        ("protocol", "http"),
        ("entrypoint", "web"),
    ] {
        assert_eq!(text(&point.attributes, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(double(point), 3.0);

    let Some(Data::Histogram(durations)) = &metric(metrics, "traefik_entrypoint_request_duration_seconds").data else {
        panic!("durations as a histogram");
    };
    let point = &durations.data_points[0];
    assert_eq!(point.explicit_bounds, [0.01, 1.0]);
    assert_eq!(point.count, 3);
    assert_eq!(point.bucket_counts.len(), 3);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), 3);

    let Some(Data::Gauge(up)) = &metric(metrics, "traefik_service_server_up").data else {
        panic!("server health as a gauge");
    };
    assert_eq!(double(&up.data_points[0]), 1.0, "the refresh ran before the push");
}

#[test]
fn otlp_and_prometheus_export_one_set_of_series() {
    let both = "metrics:\n  prometheus: {}\n  otlp:\n    http:\n      endpoint: http://127.0.0.1:9\n";
    let observer = Observer::from_static(&config(both))
        .expect("valid")
        .expect("an observer");
    assert!(observer.metrics().is_some());
    let conflicting = "metrics:\n  prometheus:\n    buckets: [0.1]\n  otlp:\n    explicitBoundaries: [0.5]\n    http:\n      endpoint: http://127.0.0.1:9\n";
    let error = Observer::from_static(&config(conflicting)).expect_err("two sets of buckets");
    assert!(
        matches!(&error, ObserveError::Invalid { key, .. } if key == "metrics.otlp.explicitBoundaries"),
        "{error}"
    );
    let bad = "metrics:\n  otlp:\n    pushInterval: 0s\n";
    let error = Observer::from_static(&config(bad)).expect_err("a zero interval");
    assert!(
        matches!(&error, ObserveError::Invalid { key, .. } if key == "metrics.otlp.pushInterval"),
        "{error}"
    );
    let unknown = "metrics:\n  otlp:\n    pushEvery: 1s\n";
    let error = Observer::from_static(&config(unknown)).expect_err("an unknown option");
    assert!(
        matches!(&error, ObserveError::Invalid { key, .. } if key == "metrics.otlp"),
        "{error}"
    );
}
