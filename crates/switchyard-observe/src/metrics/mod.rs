//! Traefik's `metrics.prometheus`: the series of one running gateway, in its own registry, and their
//! exposition in the Prometheus text format.
//!
//! The names, labels and label values are Traefik's (`traefik_entrypoint_requests_total{code,method,
//! protocol,entrypoint}`…), so that its dashboards and alerts keep working. Each [`Metrics`] has its own
//! [`Registry`]: two gateways in one process do not share series.

mod families;
mod gateway;
mod labels;
mod options;
mod series;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use switchyard_config::Prometheus;
use switchyard_middleware::Progress;

pub use gateway::OpenConnection;

use crate::{Exchange, ObserveError};
use families::{Buckets, Level, Sample, ServiceLevel, TlsDetails};
use labels::{EntryPointScope, HeaderLabel, HeaderLabelValues, RouterScope};
use series::{Labels, Levels, Names, SeriesTable};

/// The Prometheus series of a running gateway, as `metrics.prometheus` configures them.
///
/// Per request ([`record`](Self::record)), by entrypoint (`addEntryPointsLabels`), router
/// (`addRoutersLabels`) and service (`addServicesLabels`): `traefik_{entrypoint,router,service}_`
/// `requests_total`, `requests_tls_total`, `request_duration_seconds` (a histogram with the configured
/// buckets), `requests_bytes_total` and `responses_bytes_total`, plus `traefik_service_retries_total`.
/// `headerLabels` add labels to the `requests_total` series. Requests to internal services
/// (`…@internal`) are not counted, as in Traefik without `metrics.addInternals`.
///
/// What the proxy reports as it happens: [`config_reloaded`](Self::config_reloaded),
/// [`open_connection`](Self::open_connection), [`server_up`](Self::server_up) and
/// [`certificate_expiry`](Self::certificate_expiry). [`encode`](Self::encode) is what `/metrics`
/// serves, with [`content_type`](Self::content_type).
///
/// One series of switchyard's own follows Traefik's: `switchyard_ratelimit_redis_errors_total{middleware}`,
/// the requests each `rateLimit.redis` middleware could not have Redis decide (counted for the whole
/// process, as [`switchyard_middleware::redis_errors_by_middleware`] says; absent until such a middleware
/// is built).
///
/// The `requests_tls_total` series are registered but stay empty until the proxy reports each
/// request's TLS version and cipher (an [`Exchange`] only says whether it came over TLS).
///
/// ```
/// use switchyard_observe::{Exchange, Metrics};
///
/// let metrics = Metrics::new(&Default::default()).unwrap();
/// metrics.record(&Exchange::example());
/// let text = metrics.encode();
/// assert!(text.contains(
///     r#"traefik_entrypoint_requests_total{code="200",method="GET",protocol="http",entrypoint="web"} 1"#
/// ));
/// assert!(text.contains(r#"traefik_service_responses_bytes_total{code="200",method="GET",protocol="http",service="whoami@file"} 42"#));
/// ```
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// switchyard's own series (`switchyard_…`), after Traefik's.
    own: Registry,
    entry_points: Option<Level<EntryPointScope>>,
    routers: Option<Level<RouterScope>>,
    services: Option<ServiceLevel>,
    gateway: gateway::Gateway,
    header_labels: Arc<[HeaderLabel]>,
    /// The series of every level for each label set seen.
    series: SeriesTable,
    /// `metrics.addInternals`: measure requests to `…@internal` services too.
    add_internals: bool,
}

impl Metrics {
    /// The registry and series `prometheus` configures.
    ///
    /// # Errors
    ///
    /// [`ObserveError::Invalid`] for buckets that are negative, not a number or not increasing
    /// (`metrics.prometheus.buckets`), and for a `headerLabels` entry whose label is not a Prometheus
    /// label name, is one of Traefik's own labels, or whose header is not a header name
    /// (`metrics.prometheus.headerLabels.<label>`).
    pub fn new(prometheus: &Prometheus) -> Result<Self, ObserveError> {
        let buckets = Buckets(options::buckets(&prometheus.buckets)?);
        let header_labels = options::header_labels(&prometheus.header_labels)?;
        let mut registry = Registry::with_prefix("traefik");
        let mut own = Registry::with_prefix("switchyard");
        own.register_collector(Box::new(gateway::RedisErrors));
        let gateway = gateway::Gateway::register(&mut registry);
        let entry_points = prometheus
            .add_entry_points_labels
            .then(|| Level::register(&mut registry, "entrypoint", "an entrypoint", &buckets));
        let routers = prometheus
            .add_routers_labels
            .then(|| Level::register(&mut registry, "router", "a router", &buckets));
        let services = prometheus
            .add_services_labels
            .then(|| ServiceLevel::register(&mut registry, &buckets));
        Ok(Self {
            registry,
            own,
            entry_points,
            routers,
            services,
            gateway,
            header_labels,
            series: SeriesTable::default(),
            add_internals: false,
        })
    }

    /// Measures requests to the gateway's own services (`api@internal`, `prometheus@internal`…) too,
    /// as Traefik's `metrics.addInternals` does; they are left out by default.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchyard_observe::{Exchange, Metrics};
    ///
    /// let mut exchange = Exchange::example();
    /// exchange.progress.service = Some(Arc::from("api@internal"));
    /// let metrics = Metrics::new(&Default::default()).unwrap();
    /// metrics.record(&exchange);
    /// assert!(!metrics.encode().contains("api@internal"));
    /// let metrics = Metrics::new(&Default::default()).unwrap().with_internals(true);
    /// metrics.record(&exchange);
    /// assert!(metrics.encode().contains(r#"service="api@internal""#));
    /// ```
    #[must_use]
    pub fn with_internals(mut self, add_internals: bool) -> Self {
        self.add_internals = add_internals;
        self
    }

    /// Whether [`record`](Self::record) reads the request's headers: when `headerLabels` take
    /// their values from them. (The `protocol` label comes from [`Exchange::protocol`], which the
    /// observing layer reads off the request as it arrives.)
    pub fn needs_request_headers(&self) -> bool {
        !self.header_labels.is_empty()
    }

    /// Adds a finished exchange to the series of its entrypoint, router and service.
    pub fn record(&self, exchange: &Exchange) {
        let progress = &exchange.progress;
        if !self.add_internals && is_internal(progress) {
            return;
        }
        let headers = (!self.header_labels.is_empty())
            .then(|| HeaderLabelValues::values_of(&self.header_labels, exchange.request_headers.as_ref()));
        let labels = labels_of(exchange, headers.as_deref().unwrap_or_default());
        let sample = Sample {
            seconds: exchange.duration.as_secs_f64(),
            request_bytes: exchange.request_size,
            response_bytes: exchange.response_size,
        };
        let names = || Names::of(exchange);
        self.series
            .add(&labels, &sample, names, || self.levels(exchange, &labels));
        if let (Some(services), Some(service)) = (&self.services, &progress.service) {
            if progress.retries > 0 {
                services.retried(service, progress.retries);
            }
        }
    }

    /// The series of each level `labels` (those of `exchange`) lead to, from the families.
    fn levels(&self, exchange: &Exchange, labels: &Labels<'_>) -> Levels {
        let progress = &exchange.progress;
        let headers = HeaderLabelValues::new(&self.header_labels, labels.headers);
        let entry_point = self.entry_points.as_ref().map(|level| {
            let entrypoint = Arc::clone(&exchange.entry_point);
            level.series(EntryPointScope { entrypoint }, labels, &headers)
        });
        let router = self
            .routers
            .as_ref()
            .zip(progress.router.as_ref())
            .map(|(level, router)| {
                let router = Arc::clone(router);
                let service = progress.service.clone().unwrap_or_else(|| Arc::from(""));
                level.series(RouterScope { router, service }, labels, &headers)
            });
        let service = self.services.as_ref().zip(progress.service.as_ref());
        let service = service.map(|(level, service)| level.series(service, labels, &headers));
        Levels {
            entry_point,
            router,
            service,
        }
    }

    /// The series in the Prometheus text format (version 0.0.4), what `/metrics` answers.
    ///
    /// Counters end in `_total`; histograms have `_bucket{le=…}` (with `+Inf`), `_sum` and `_count`.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry).expect("encoding into a String cannot fail");
        prometheus_text::encode(&mut text, &self.own).expect("encoding into a String cannot fail");
        text
    }

    /// The `Content-Type` of [`encode`](Self::encode)'s text:
    /// `text/plain; version=0.0.4; charset=utf-8`, the format every Prometheus server reads.
    pub fn content_type() -> &'static str {
        prometheus_text::CONTENT_TYPE
    }
}

/// Whether the request went to one of the gateway's own services (`api@internal`,
/// `prometheus@internal`…), which Traefik does not measure unless `metrics.addInternals` is on.
fn is_internal(progress: &Progress) -> bool {
    let internal = |name: &Option<Arc<str>>| name.as_deref().is_some_and(|n| n.ends_with("@internal"));
    internal(&progress.service) || internal(&progress.router)
}

/// The labels of `exchange`'s series, with the values `headers` of the `headerLabels`.
fn labels_of<'a>(exchange: &'a Exchange, headers: &'a [Option<http::HeaderValue>]) -> Labels<'a> {
    let protocol = exchange.protocol;
    let progress = &exchange.progress;
    Labels {
        code: labels::code(exchange, protocol),
        method: labels::method(&exchange.method),
        protocol,
        tls: tls_details(exchange),
        entry_point: &exchange.entry_point,
        router: progress.router.as_deref(),
        service: progress.service.as_deref(),
        headers,
    }
}

/// The TLS version and cipher of the exchange, for the `requests_tls_total` series; `None` for a
/// request that did not come over TLS the entrypoint terminated.
fn tls_details(exchange: &Exchange) -> Option<TlsDetails> {
    Some(TlsDetails {
        version: exchange.tls_version?,
        cipher: exchange.tls_cipher?,
    })
}
