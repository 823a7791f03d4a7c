//! The request families of one measured level (entrypoints, routers or services) and how a finished
//! exchange is added to them.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::labels::{Code, HeaderLabelValues, RequestLabels, ServiceScope, TlsLabels};

/// What is measured at a level: an entrypoint, a router or a service, as labels.
pub(super) trait Scope: EncodeLabelSet + Clone + Hash + Eq + Debug + Send + Sync + 'static {}

impl<T: EncodeLabelSet + Clone + Hash + Eq + Debug + Send + Sync + 'static> Scope for T {}

/// Makes the duration histograms of a registry, all with the configured buckets.
#[derive(Debug, Clone)]
pub(super) struct Buckets(pub(super) Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// The TLS version and cipher of a request, as Traefik names them (`1.3`, `TLS_AES_128_GCM_SHA256`).
#[derive(Debug, Clone)]
pub(super) struct TlsDetails {
    pub(super) version: &'static str,
    pub(super) cipher: &'static str,
}

/// What one finished exchange adds to each level.
#[derive(Debug)]
pub(super) struct Sample {
    pub(super) code: Code,
    pub(super) method: &'static str,
    pub(super) protocol: &'static str,
    pub(super) seconds: f64,
    pub(super) request_bytes: u64,
    pub(super) response_bytes: u64,
    pub(super) tls: Option<TlsDetails>,
    pub(super) headers: HeaderLabelValues,
}

/// The five request families of a level: `requests_total` (with the header labels),
/// `requests_tls_total`, `request_duration_seconds`, `requests_bytes_total` and
/// `responses_bytes_total`.
#[derive(Debug)]
pub(super) struct Level<S> {
    requests: Family<(RequestLabels<S>, HeaderLabelValues), Counter>,
    tls: Family<TlsLabels<S>, Counter>,
    durations: Family<RequestLabels<S>, Histogram, Buckets>,
    request_bytes: Family<RequestLabels<S>, Counter>,
    response_bytes: Family<RequestLabels<S>, Counter>,
    /// The series of each label set seen, found in the families once: a request then costs one
    /// lookup with a fast hash instead of four with the families' SipHash.
    series: RwLock<HashMap<SeriesKey<S>, Series, foldhash::fast::RandomState>>,
}

type SeriesKey<S> = (RequestLabels<S>, HeaderLabelValues);

/// The metrics of one label set (they share their values with the families' entries).
#[derive(Debug, Clone)]
struct Series {
    requests: Counter,
    duration: Histogram,
    request_bytes: Counter,
    response_bytes: Counter,
}

impl Series {
    fn add(&self, sample: &Sample) {
        self.duration.observe(sample.seconds);
        self.request_bytes.inc_by(sample.request_bytes);
        self.response_bytes.inc_by(sample.response_bytes);
        self.requests.inc();
    }
}

impl<S: Scope> Level<S> {
    /// Registers the families of `level` (`entrypoint`, `router`, `service`); `what` names it in the
    /// help texts (`an entrypoint`).
    pub(super) fn register(registry: &mut Registry, level: &str, what: &str, buckets: &Buckets) -> Self {
        let this = Self {
            requests: Family::default(),
            tls: Family::default(),
            durations: Family::new_with_constructor(buckets.clone()),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            series: RwLock::default(),
        };
        // The encoder adds the help texts' final period and the counters' `_total`.
        let by = "by status code, method and protocol";
        let name = |suffix: &str| format!("{level}_{suffix}");
        let help = format!("HTTP requests {what} handled, {by}");
        registry.register(name("requests"), help, this.requests.clone());
        let help = format!("HTTPS requests {what} handled, by TLS version and cipher");
        registry.register(name("requests_tls"), help, this.tls.clone());
        let help = format!("Seconds {what} took to answer requests, {by}");
        registry.register(name("request_duration_seconds"), help, this.durations.clone());
        let help = format!("Bytes of request bodies {what} received, {by}");
        registry.register(name("requests_bytes"), help, this.request_bytes.clone());
        let help = format!("Bytes of response bodies {what} sent, {by}");
        registry.register(name("responses_bytes"), help, this.response_bytes.clone());
        this
    }

    /// Adds a finished exchange to the series of `scope`.
    pub(super) fn record(&self, scope: S, sample: &Sample) {
        if let Some(tls) = &sample.tls {
            let labels = TlsLabels {
                version: tls.version,
                cipher: tls.cipher,
                scope: scope.clone(),
            };
            self.tls.get_or_create(&labels).inc();
        }
        let labels = RequestLabels {
            code: sample.code,
            method: sample.method,
            protocol: sample.protocol,
            scope,
        };
        let key = (labels, sample.headers.clone());
        if let Some(series) = self.series.read().unwrap_or_else(PoisonError::into_inner).get(&key) {
            series.add(sample);
            return;
        }
        self.series_of(key).add(sample);
    }

    /// The series of a label set not seen before, from the families (which create them).
    fn series_of(&self, key: SeriesKey<S>) -> Series {
        let series = Series {
            requests: self.requests.get_or_create(&key).clone(),
            duration: self.durations.get_or_create(&key.0).clone(),
            request_bytes: self.request_bytes.get_or_create(&key.0).clone(),
            response_bytes: self.response_bytes.get_or_create(&key.0).clone(),
        };
        let mut known = self.series.write().unwrap_or_else(PoisonError::into_inner);
        known.entry(key).or_insert(series).clone()
    }
}

/// A server's `traefik_service_server_up` labels: `service` and `url`.
type ServerLabels = [(&'static str, String); 2];

/// The service level: its request families, `retries_total` and `server_up`.
#[derive(Debug)]
pub(super) struct ServiceLevel {
    requests: Level<ServiceScope>,
    retries: Family<ServiceScope, Counter>,
    servers: Family<ServerLabels, Gauge>,
}

impl ServiceLevel {
    pub(super) fn register(registry: &mut Registry, buckets: &Buckets) -> Self {
        let this = Self {
            requests: Level::register(registry, "service", "a service", buckets),
            retries: Family::default(),
            servers: Family::default(),
        };
        let retries = "Requests a service sent again to its servers (retry middleware)";
        registry.register("service_retries", retries, this.retries.clone());
        let servers = "Whether a service's server passes its health check: 1 when up, 0 when down";
        registry.register("service_server_up", servers, this.servers.clone());
        this
    }

    /// Adds a finished exchange to `service`'s series, with the times it was retried.
    pub(super) fn record(&self, service: &Arc<str>, sample: &Sample, retries: u32) {
        let scope = ServiceScope {
            service: Arc::clone(service),
        };
        if retries > 0 {
            self.retries.get_or_create(&scope).inc_by(u64::from(retries));
        }
        self.requests.record(scope, sample);
    }

    /// Sets whether `url`, a server of `service`, is up.
    pub(super) fn server_up(&self, service: &str, url: &str, up: bool) {
        let labels = [("service", service.to_owned()), ("url", url.to_owned())];
        self.servers.get_or_create(&labels).set(i64::from(up));
    }
}
