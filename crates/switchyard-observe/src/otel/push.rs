//! `metrics.otlp`: the gateway's series pushed to an OpenTelemetry collector every `pushInterval`,
//! with Traefik's instrument names (`traefik_entrypoint_requests_total`…), as cumulative monotonic
//! sums, gauges and explicit-bucket histograms.
//!
//! The series are the same [`Metrics`] registry `/metrics` serves: each push reads its Prometheus text
//! exposition and writes it as an `ExportMetricsServiceRequest`, so that both exports always agree.
//! Pushing runs on a thread and Tokio runtime of its own; a collector that is down costs a warning
//! (at most once a minute), never a request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use switchyard_config::Prometheus;
use tokio::sync::mpsc;

use super::config::{Collector, Signal, collector, invalid};
use super::export::{Sender, TIMEOUT, Thread, WARN_EVERY};
use super::proto;
use crate::{Metrics, ObserveError};

/// The gRPC method of OTLP metrics export.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// The instrumentation scope of the pushed metrics, Traefik's meter name.
const SCOPE: &str = "github.com/traefik/traefik";

/// `metrics.otlp`'s options besides the collector, with Traefik's defaults.
#[derive(Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Section {
    add_entry_points_labels: Option<bool>,
    add_routers_labels: Option<bool>,
    add_services_labels: Option<bool>,
    explicit_boundaries: Option<Vec<f64>>,
    push_interval: switchyard_config::Duration,
    service_name: String,
    resource_attributes: BTreeMap<String, String>,
    #[serde(rename = "grpc")]
    _grpc: Option<Value>,
    #[serde(rename = "http")]
    _http: Option<Value>,
}

impl Default for Section {
    fn default() -> Self {
        Self {
            add_entry_points_labels: None,
            add_routers_labels: None,
            add_services_labels: None,
            explicit_boundaries: None,
            push_interval: switchyard_config::Duration::from_secs(10),
            service_name: "traefik".into(),
            resource_attributes: BTreeMap::new(),
            _grpc: None,
            _http: None,
        }
    }
}

/// Traefik's `metrics.otlp.explicitBoundaries` default, in seconds.
const BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// What `metrics.otlp` asks for.
#[derive(Debug)]
pub(crate) struct PushConfig {
    collector: Collector,
    interval: Duration,
    resource: Vec<(String, String)>,
    /// The series' options, when `metrics.otlp` alone configures them.
    series: Prometheus,
    /// The options written in `metrics.otlp`, by key, which must agree with `metrics.prometheus`
    /// when both are on.
    written: Vec<(&'static str, String)>,
}

impl PushConfig {
    /// Reads `metrics.otlp`.
    ///
    /// # Errors
    ///
    /// An unknown option, a bad collector, a push interval that is not positive.
    pub(crate) fn new(otlp: &Value) -> Result<Self, ObserveError> {
        let collector = collector(Some(otlp), Signal::Metrics)?;
        let section = if otlp.is_null() {
            Section::default()
        } else {
            Section::deserialize(otlp).map_err(|e| invalid("metrics.otlp", e.to_string()))?
        };
        let interval = (section.push_interval.to_std())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| invalid("metrics.otlp.pushInterval", "must be a positive duration"))?;
        let resource = super::resource_of(&section.service_name, &section.resource_attributes);
        let series = Prometheus {
            buckets: section
                .explicit_boundaries
                .clone()
                .unwrap_or_else(|| BOUNDARIES.to_vec()),
            add_entry_points_labels: section.add_entry_points_labels.unwrap_or(true),
            add_routers_labels: section.add_routers_labels.unwrap_or(false),
            add_services_labels: section.add_services_labels.unwrap_or(true),
            ..Prometheus::default()
        };
        let written = written(&section);
        Ok(Self {
            collector,
            interval,
            resource,
            series,
            written,
        })
    }

    /// The series' options when `metrics.otlp` is the only export.
    pub(crate) fn series(&self) -> &Prometheus {
        &self.series
    }

    /// Checks that what `metrics.otlp` sets agrees with `prometheus`, whose series both export.
    ///
    /// # Errors
    ///
    /// The first option of `metrics.otlp` that differs, named by its key path.
    pub(crate) fn check_against(&self, prometheus: &Prometheus) -> Result<(), ObserveError> {
        let theirs = written(&Section {
            add_entry_points_labels: Some(prometheus.add_entry_points_labels),
            add_routers_labels: Some(prometheus.add_routers_labels),
            add_services_labels: Some(prometheus.add_services_labels),
            explicit_boundaries: Some(prometheus.buckets.clone()),
            ..Section::default()
        });
        for (key, value) in &self.written {
            let other = theirs.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            if other != Some(value) {
                return Err(invalid(
                    &format!("metrics.otlp.{key}"),
                    format!(
                        "{value} differs from metrics.prometheus ({}): both export the same series; \
                         set the same value or leave it out",
                        other.map_or("unset", String::as_str)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The series options `section` writes, as text, by key.
fn written(section: &Section) -> Vec<(&'static str, String)> {
    let mut written = Vec::new();
    let flags = [
        ("addEntryPointsLabels", section.add_entry_points_labels),
        ("addRoutersLabels", section.add_routers_labels),
        ("addServicesLabels", section.add_services_labels),
    ];
    written.extend(flags.into_iter().filter_map(|(k, v)| Some((k, v?.to_string()))));
    if let Some(bounds) = &section.explicit_boundaries {
        written.push(("explicitBoundaries", format!("{bounds:?}")));
    }
    written
}

/// Refreshes the series that are read from the running gateway rather than counted (servers' health,
/// certificates) before each push.
pub(crate) type Refresh = Box<dyn Fn(&Metrics) + Send + Sync>;

/// The pushing of a gateway's metrics; it stops when this is dropped.
pub(crate) struct Pusher {
    control: mpsc::UnboundedSender<std::sync::mpsc::Sender<()>>,
    refresh: Arc<OnceLock<Refresh>>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let refresh = self.refresh.get().is_some();
        f.debug_struct("Pusher")
            .field("refresh", &refresh)
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// Starts pushing `metrics` as `config` says.
    pub(crate) fn start(config: PushConfig, metrics: Arc<Metrics>) -> Result<Self, ObserveError> {
        let refresh = Arc::new(OnceLock::new());
        let shared = Arc::clone(&refresh);
        let (control, requests) = mpsc::unbounded_channel();
        let thread = Thread {
            name: "switchyard-otlp-metrics",
            key: "metrics.otlp",
        };
        thread.spawn(&config.collector, GRPC_EXPORT, move |sender| {
            let push = Push {
                metrics,
                sender,
                interval: config.interval,
                resource: proto::resource(&config.resource),
                scope: proto::scope(SCOPE, super::VERSION),
                start: unix_nanos(SystemTime::now()),
                refresh: shared,
                warned: Mutex::new(None),
            };
            push.run(requests)
        })?;
        Ok(Self { control, refresh })
    }

    /// Sets what refreshes the gateway's read series before each push; the first call wins.
    pub(crate) fn set_refresh(&self, refresh: Refresh) {
        let _ = self.refresh.set(refresh);
    }

    /// Pushes now; waits `timeout` at most.
    pub(crate) fn flush(&self, timeout: Duration) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.control.send(done).is_ok() && wait.recv_timeout(timeout).is_err() {
            tracing::warn!("metrics.otlp: the metrics were still being pushed after {timeout:?}");
        }
    }
}

/// The push thread's state.
struct Push {
    metrics: Arc<Metrics>,
    sender: Sender,
    interval: Duration,
    resource: Vec<u8>,
    scope: Vec<u8>,
    /// When the cumulative series started, in Unix nanoseconds.
    start: u64,
    refresh: Arc<OnceLock<Refresh>>,
    warned: Mutex<Option<Instant>>,
}

impl Push {
    async fn run(self, mut flushes: mpsc::UnboundedReceiver<std::sync::mpsc::Sender<()>>) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + self.interval, self.interval);
        loop {
            let flush = tokio::select! {
                _ = tick.tick() => None,
                done = flushes.recv() => match done {
                    Some(done) => Some(done),
                    None => break,
                },
            };
            self.push().await;
            if let Some(done) = flush {
                let _ = done.send(());
            }
        }
    }

    async fn push(&self) {
        if let Some(refresh) = self.refresh.get() {
            refresh(&self.metrics);
        }
        let text = self.metrics.encode();
        let now = unix_nanos(SystemTime::now());
        let body = export_request(&self.resource, &self.scope, &text, (self.start, now));
        let sent = tokio::time::timeout(TIMEOUT, self.sender.send(body)).await;
        let failure = match sent {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => format!("no answer from the collector within {TIMEOUT:?}"),
        };
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *warned = Some(Instant::now());
            tracing::warn!("metrics.otlp: metrics not pushed ({failure})");
        }
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// An `ExportMetricsServiceRequest` of one resource and scope with every family of `text`, the
/// Prometheus text exposition; `times` are the cumulative series' start and now. Its nesting and field
/// numbers are those of a traces request, with metrics in the place of spans.
fn export_request(resource: &[u8], scope: &[u8], text: &str, times: (u64, u64)) -> Bytes {
    let room = proto::export_room(resource, scope);
    let mut metrics = vec![0; room];
    for family in super::exposition::parse(text) {
        proto::bytes(&mut metrics, 2, &family.encode(times));
    }
    proto::export_request(resource, scope, metrics, room)
}
