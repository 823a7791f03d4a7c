//! A Traefik static file with `accessLog` and `metrics.prometheus`: after a known set of requests the
//! access log has one line per logged request with Traefik's fields, and `/metrics` on the `traefik`
//! entrypoint counts them under Traefik's metric names.
#![cfg(all(feature = "file", feature = "access-log", feature = "metrics"))]
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use support::{backend, start};

/// An address nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let headers = [("host", "app.example"), ("user-agent", "observability-test")];
    support::get(addr, path, &headers).await
}

fn write_files(dir: &Path, app: SocketAddr, dead: SocketAddr) -> std::path::PathBuf {
    let dynamic = dir.join("dynamic.yml");
    std::fs::write(
        &dynamic,
        format!(
            "http:
  routers:
    app:
      rule: PathPrefix(`/app`)
      service: app
    broken:
      rule: PathPrefix(`/broken`)
      service: broken
    quiet:
      rule: PathPrefix(`/quiet`)
      service: app
      observability:
        accessLogs: false
  services:
    app:
      loadBalancer:
        servers:
          - url: http://{app}
    broken:
      loadBalancer:
        servers:
          - url: http://{dead}
"
        ),
    )
    .unwrap();
    let static_file = dir.join("traefik.yml");
    std::fs::write(
        &static_file,
        format!(
            "entryPoints:
  web:
    address: 127.0.0.1:0
  traefik:
    address: 127.0.0.1:0
accessLog:
  filePath: {log}
  format: json
  fields:
    headers:
      names:
        User-Agent: keep
metrics:
  prometheus:
    addRoutersLabels: true
providers:
  providersThrottleDuration: 0s
  file:
    filename: {dynamic}
",
            log = dir.join("access.log").display(),
            dynamic = dynamic.display()
        ),
    )
    .unwrap();
    static_file
}

/// The samples of a Prometheus exposition: `name{labels}` → value.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let labels = labels
                .trim_end_matches('}')
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap();
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels, value.parse().unwrap())
        })
        .collect()
}

/// The value of the sample `name` whose labels include `with`; 0 when there is none.
fn value(samples: &[(String, BTreeMap<String, String>, f64)], name: &str, with: &[(&str, &str)]) -> f64 {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|(n, labels, _)| n == name && with.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| *v)
        .collect();
    assert!(
        matching.len() <= 1,
        "{name} {with:?} matches {} samples",
        matching.len()
    );
    matching.first().copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_lines_and_prometheus_counts_follow_the_requests() {
    let dir = tempfile::tempdir().unwrap();
    let static_file = write_files(dir.path(), backend("hello").await, closed_port().await);
    let gateway = start(&static_file, 3).await;
    let web = gateway.local_addr("web").unwrap();
    for _ in 0..5 {
        assert_eq!(get(web, "/app").await, (200, "hello".into()));
    }
    for _ in 0..2 {
        assert_eq!(get(web, "/broken").await.0, 502);
    }
    assert_eq!(get(web, "/quiet").await.0, 200);
    assert_eq!(get(web, "/nowhere").await.0, 404);

    let (status, text) = get(gateway.local_addr("traefik").unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    let samples = samples(&text);
    let requests = "traefik_entrypoint_requests_total";
    let web_get = [("entrypoint", "web"), ("method", "GET"), ("protocol", "http")];
    assert_eq!(
        value(&samples, requests, &[web_get.as_slice(), &[("code", "200")]].concat()),
        6.0
    );
    assert_eq!(
        value(&samples, requests, &[web_get.as_slice(), &[("code", "502")]].concat()),
        2.0
    );
    assert_eq!(
        value(&samples, requests, &[web_get.as_slice(), &[("code", "404")]].concat()),
        1.0
    );
    let router = [("router", "app@file"), ("code", "200")];
    assert_eq!(value(&samples, "traefik_router_requests_total", &router), 5.0);
    let service = [("service", "app@file"), ("code", "200")];
    assert_eq!(value(&samples, "traefik_service_requests_total", &service), 6.0);
    let broken = [("service", "broken@file"), ("code", "502")];
    assert_eq!(value(&samples, "traefik_service_requests_total", &broken), 2.0);
    let duration = "traefik_entrypoint_request_duration_seconds_count";
    assert_eq!(
        value(&samples, duration, &[web_get.as_slice(), &[("code", "200")]].concat()),
        6.0
    );
    assert!(value(&samples, "traefik_config_reloads_total", &[]) >= 1.0);
    let up = [("service", "app@file")];
    assert_eq!(value(&samples, "traefik_service_server_up", &up), 1.0);

    gateway.shutdown().await;
    let log = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines.len(),
        8,
        "5 to app, 2 to broken, 1 not found; quiet logs nothing:\n{log}"
    );
    let app = &lines[0];
    assert_eq!(app["RouterName"], "app@file");
    assert_eq!(app["ServiceName"], "app@file");
    assert_eq!(app["DownstreamStatus"], 200);
    assert_eq!(app["OriginStatus"], 200);
    assert_eq!(app["DownstreamContentSize"], 5);
    assert_eq!(app["RequestPath"], "/app");
    assert_eq!(app["RequestMethod"], "GET");
    assert_eq!(app["entryPointName"], "web");
    assert_eq!(app["request_User-Agent"], "observability-test");
    let broken = &lines[5];
    assert_eq!(broken["RouterName"], "broken@file");
    assert_eq!(broken["DownstreamStatus"], 502);
    assert!(broken["ServiceURL"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    assert_eq!(lines[7]["DownstreamStatus"], 404);
}
