//! The request families of one measured level (entrypoints, routers or services) and how a finished
//! exchange is added to them.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::labels::{HeaderLabelValues, RequestLabels, ServiceScope, TlsLabels};
use super::series::{Labels, Series};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TlsDetails {
    pub(super) version: &'static str,
    pub(super) cipher: &'static str,
}

/// What one finished exchange adds to the series its labels lead to.
#[derive(Debug)]
pub(super) struct Sample {
    pub(super) seconds: f64,
    pub(super) request_bytes: u64,
    pub(super) response_bytes: u64,
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

    /// The series of `scope` for requests with `labels` and the header label values `headers`, from
    /// the families (which create them the first time).
    pub(super) fn series(&self, scope: S, labels: &Labels<'_>, headers: &HeaderLabelValues) -> Series {
        let tls = labels.tls.map(|tls| {
            let tls = TlsLabels {
                version: tls.version,
                cipher: tls.cipher,
                scope: scope.clone(),
            };
            self.tls.get_or_create(&tls).clone()
        });
        let key = RequestLabels {
            code: labels.code,
            method: labels.method,
            protocol: labels.protocol,
            scope,
        };
        let key = (key, headers.clone());
        Series {
            requests: self.requests.get_or_create(&key).clone(),
            duration: self.durations.get_or_create(&key.0).clone(),
            request_bytes: self.request_bytes.get_or_create(&key.0).clone(),
            response_bytes: self.response_bytes.get_or_create(&key.0).clone(),
            tls,
        }
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

    /// The series of `service` for requests with `labels` and the header label values `headers`.
    pub(super) fn series(&self, service: &Arc<str>, labels: &Labels<'_>, headers: &HeaderLabelValues) -> Series {
        let scope = ServiceScope {
            service: Arc::clone(service),
        };
        self.requests.series(scope, labels, headers)
    }

    /// Counts the times a request to `service` was retried.
    pub(super) fn retried(&self, service: &Arc<str>, retries: u32) {
        let scope = ServiceScope {
            service: Arc::clone(service),
        };
        self.retries.get_or_create(&scope).inc_by(u64::from(retries));
    }

    /// Sets whether `url`, a server of `service`, is up.
    pub(super) fn server_up(&self, service: &str, url: &str, up: bool) {
        let labels = [("service", service.to_owned()), ("url", url.to_owned())];
        self.servers.get_or_create(&labels).set(i64::from(up));
    }
}
