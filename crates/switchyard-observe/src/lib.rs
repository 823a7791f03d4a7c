//! Observability for switchyard, configured from Traefik's static `accessLog`, `metrics` and `tracing`
//! sections and the routers' `observability` switches.
//!
//! One layer in front of routing ([`Observer::layer`], installed first on each entrypoint) owns each
//! request's timing, its [`RequestRecord`] (which routing, the load balancer, `retry` and the upstream
//! call fill in) and its server span; when the response body ends, the access log, the metrics and the
//! span read the same [`Exchange`]. Nothing observes a request when nothing is configured: no layer,
//! no record, no cost.
//!
//! Each exporter is a cargo feature: `access-log`, `metrics` (Prometheus) and `otel` (OpenTelemetry
//! traces over OTLP). A section whose feature is not built, or which switchyard does not support yet,
//! is an error when the observer is built ([`ObserveError`]), never silently ignored.
//!
//! ```
//! use switchyard_config::{Format, StaticConfig, load_str};
//! use switchyard_observe::Observer;
//!
//! let config: StaticConfig = load_str("entryPoints:\n  web:\n    address: ':80'\n", Format::Yaml, "traefik.yml")
//!     .unwrap()
//!     .value;
//! // Nothing configured: nothing to install.
//! assert!(Observer::from_static(&config).unwrap().is_none());
//! ```

#[cfg(feature = "access-log")]
mod access_log;
mod exchange;
#[cfg(any(feature = "access-log", feature = "otel"))]
mod ip;
mod layer;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "otel")]
mod otel;

use std::sync::Arc;

use switchyard_config::StaticConfig;
use switchyard_middleware::MiddlewareLayer;
pub use switchyard_middleware::{Progress, RequestRecord, Signals};

pub use exchange::{Exchange, TraceIds};
pub use layer::{EntryObserver, Observation};
#[cfg(feature = "metrics")]
pub use metrics::{Metrics, OpenConnection};
#[cfg(feature = "otel")]
use otel::{ServerSpan, Tracer};

/// A static configuration's observability that cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// A section configured in a build without its cargo feature.
    #[error("{section} is configured, but switchyard was built without the `{feature}` feature")]
    MissingFeature {
        /// The section's key path (`metrics.prometheus`).
        section: &'static str,
        /// The cargo feature that provides it.
        feature: &'static str,
    },
    /// An option with a value that cannot be used.
    #[error("{key}: {reason}")]
    Invalid {
        /// The option's key path (`accessLog.filters.statusCodes[0]`).
        key: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A file that cannot be opened for writing.
    #[error("{key}: cannot open {path}: {source}")]
    File {
        /// The option's key path (`accessLog.filePath`).
        key: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What the exporters need kept of each request, beyond its head.
#[derive(Debug, Clone, Copy, Default)]
struct Needs {
    request_headers: bool,
    response_headers: bool,
    /// The trace and span ids as text, for the access log.
    trace_ids: bool,
    /// The request's `Host`, for JSON access-log lines.
    host: bool,
    /// When the request arrived by the wall clock, for the access log and the spans.
    wall_clock: bool,
    /// The request's target, for the access log.
    uri: bool,
}

/// The observability of a running gateway: its access log, metrics and tracer, as configured.
///
/// Built once from the static configuration ([`from_static`](Self::from_static)); its
/// [`layer`](Self::layer) goes first on every entrypoint.
#[derive(Debug)]
pub struct Observer {
    needs: Needs,
    /// The entrypoints' `observability` switches, for routers without their own.
    entry_points: std::collections::HashMap<String, Signals>,
    #[cfg(feature = "access-log")]
    access_log: Option<access_log::AccessLog>,
    #[cfg(feature = "metrics")]
    metrics: Option<Arc<Metrics>>,
    #[cfg(feature = "otel")]
    tracer: Option<Tracer>,
    /// `metrics.otlp`'s pushing of the metrics.
    #[cfg(all(feature = "otel", feature = "metrics"))]
    pusher: Option<otel::push::Pusher>,
}

impl Observer {
    /// The observer a static configuration asks for; `None` when it configures no access log, metrics
    /// or tracing.
    ///
    /// # Errors
    ///
    /// A section this build lacks the feature for, one switchyard does not support yet, or an option
    /// that cannot be used (an unwritable access-log file, a malformed status range…).
    pub fn from_static(config: &StaticConfig) -> Result<Option<Arc<Self>>, ObserveError> {
        check_built(config)?;
        if config.access_log.is_none() && config.metrics.is_none() && config.tracing.is_none() {
            return Ok(None);
        }
        #[allow(unused_mut, reason = "the exporters are added by feature")]
        let mut observer = Self {
            needs: Needs::default(),
            entry_points: entry_point_signals(config),
            #[cfg(feature = "access-log")]
            access_log: config.access_log.as_ref().map(access_log::AccessLog::new).transpose()?,
            #[cfg(feature = "metrics")]
            metrics: metrics_of(config)?,
            #[cfg(feature = "otel")]
            tracer: config.tracing.as_ref().map(Tracer::new).transpose()?,
            #[cfg(all(feature = "otel", feature = "metrics"))]
            pusher: None,
        };
        #[cfg(all(feature = "otel", feature = "metrics"))]
        {
            observer.pusher = pusher_of(config, observer.metrics.as_ref())?;
        }
        observer.needs = observer.needs();
        Ok(Some(Arc::new(observer)))
    }

    /// The layer that observes the requests of `entry_point`, to install before any other; it finds
    /// each request's client in its [`ClientInfo`](switchyard_middleware::ClientInfo) extension.
    pub fn layer(self: &Arc<Self>, entry_point: &str) -> MiddlewareLayer {
        MiddlewareLayer::new(layer::ObserveLayer(self.entry_point(entry_point)))
    }

    /// The observing of `entry_point`'s requests, for a server that calls it around each request
    /// itself (as the gateway's entrypoints do, without a tower stack in between).
    pub fn entry_point(self: &Arc<Self>, entry_point: &str) -> EntryObserver {
        let signals = self.entry_points.get(entry_point).copied().unwrap_or(Signals::ALL);
        EntryObserver::new(Arc::clone(self), Arc::from(entry_point), signals)
    }

    /// The Prometheus registry and instruments, when `metrics.prometheus` is configured.
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Flushes what the exporters buffer (spans, log lines); called when the gateway stops.
    pub fn flush(&self) {
        #[cfg(feature = "access-log")]
        if let Some(log) = &self.access_log {
            log.flush();
        }
        #[cfg(feature = "otel")]
        if let Some(tracer) = &self.tracer {
            tracer.flush();
        }
        #[cfg(all(feature = "otel", feature = "metrics"))]
        if let Some(pusher) = &self.pusher {
            pusher.flush(std::time::Duration::from_secs(5));
        }
    }

    /// Sets what refreshes the series read from the running gateway (servers' health, certificates)
    /// before each `metrics.otlp` push, as the gateway does before each Prometheus scrape. Nothing
    /// without `metrics.otlp`; the first call wins.
    ///
    /// ```
    /// use switchyard_config::{Format, load_str};
    /// use switchyard_observe::Observer;
    ///
    /// // With `metrics.otlp` (feature `otel`) the closure runs before each push; here, with
    /// // Prometheus alone, the call is accepted and does nothing.
    /// let yaml = "metrics:\n  prometheus: {}\n";
    /// let config = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
    /// let observer = Observer::from_static(&config).unwrap().unwrap();
    /// observer.on_metrics_push(|metrics| metrics.server_up("whoami@file", "http://10.0.0.1", true));
    /// ```
    #[cfg(feature = "metrics")]
    pub fn on_metrics_push(&self, refresh: impl Fn(&Metrics) + Send + Sync + 'static) {
        #[cfg(feature = "otel")]
        if let Some(pusher) = &self.pusher {
            pusher.set_refresh(Box::new(refresh));
        }
        #[cfg(not(feature = "otel"))]
        let _ = refresh;
    }

    fn needs(&self) -> Needs {
        #[allow(unused_mut, reason = "the exporters are added by feature")]
        let mut needs = Needs::default();
        #[cfg(feature = "access-log")]
        if let Some(log) = &self.access_log {
            needs.request_headers |= log.needs_request_headers();
            needs.response_headers |= log.needs_response_headers();
            needs.trace_ids = true;
            needs.host |= log.needs_host();
            needs.wall_clock = true;
            needs.uri = true;
        }
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            needs.request_headers |= metrics.needs_request_headers();
        }
        #[cfg(feature = "otel")]
        if let Some(tracer) = &self.tracer {
            // The server span reads the request itself when it arrives.
            needs.response_headers |= tracer.needs_response_headers();
            needs.wall_clock = true;
        }
        needs
    }

    /// Starts the server span of a request, when it is traced.
    #[cfg_attr(not(feature = "otel"), allow(clippy::unused_self))]
    fn start_span(
        &self,
        req: &http::Request<switchyard_middleware::RequestBody>,
        arrived: &Exchange,
        entry: Signals,
        started: std::time::Instant,
    ) -> Option<ServerSpan> {
        #[cfg(feature = "otel")]
        return (self.tracer.as_ref()).map(|tracer| tracer.start(req, arrived, entry, started));
        #[cfg(not(feature = "otel"))]
        {
            let _ = (req, arrived, entry, started);
            None
        }
    }

    /// Hands a finished exchange to the exporters its router (or, without a router's own switches, its
    /// entrypoint: `entry`) leaves on.
    fn finish(&self, exchange: &Exchange, span: Option<ServerSpan>, entry: Signals) {
        let signals = exchange.progress.signals.unwrap_or(entry);
        #[cfg(feature = "access-log")]
        if let (Some(log), true) = (&self.access_log, signals.access_logs) {
            log.log(exchange);
        }
        #[cfg(feature = "metrics")]
        if let (Some(metrics), true) = (&self.metrics, signals.metrics) {
            metrics.record(exchange);
        }
        if let (Some(span), true) = (span, signals.tracing) {
            span.end(exchange);
        }
    }
}

/// A request's server span; without the `otel` feature there is none.
#[cfg(not(feature = "otel"))]
#[derive(Debug)]
enum ServerSpan {}

#[cfg(not(feature = "otel"))]
impl ServerSpan {
    fn attempts(&self) -> Arc<dyn switchyard_middleware::AttemptObserver> {
        match *self {}
    }

    fn ids(&self) -> TraceIds {
        match *self {}
    }

    fn end(self, _exchange: &Exchange) {
        match self {}
    }
}

/// The `observability` switches of the entrypoints that have the section.
fn entry_point_signals(config: &StaticConfig) -> std::collections::HashMap<String, Signals> {
    let switches = |o: &switchyard_config::RouterObservability| Signals::new(o.access_logs, o.metrics, o.tracing);
    (config.entry_points.iter())
        .filter_map(|(name, entry)| Some((name.clone(), switches(entry.observability.as_ref()?))))
        .collect()
}

/// The series `metrics.prometheus` configures, or `metrics.otlp` when it is the only export.
#[cfg(feature = "metrics")]
fn metrics_of(config: &StaticConfig) -> Result<Option<Arc<Metrics>>, ObserveError> {
    let Some(metrics) = &config.metrics else {
        return Ok(None);
    };
    let internals = metrics.add_internals;
    if let Some(prometheus) = &metrics.prometheus {
        return Ok(Some(Arc::new(Metrics::new(prometheus)?.with_internals(internals))));
    }
    #[cfg(feature = "otel")]
    if let Some(otlp) = &metrics.otlp {
        let push = otel::push::PushConfig::new(otlp)?;
        return Ok(Some(Arc::new(Metrics::new(push.series())?.with_internals(internals))));
    }
    Ok(None)
}

/// `metrics.otlp`'s pushing of `metrics`, which `metrics.prometheus` may have configured (then
/// `metrics.otlp` must not ask for other labels or boundaries).
#[cfg(all(feature = "otel", feature = "metrics"))]
fn pusher_of(
    config: &StaticConfig,
    metrics: Option<&Arc<Metrics>>,
) -> Result<Option<otel::push::Pusher>, ObserveError> {
    let section = config.metrics.as_ref();
    let (Some(otlp), Some(metrics)) = (section.and_then(|m| m.otlp.as_ref()), metrics) else {
        return Ok(None);
    };
    let push = otel::push::PushConfig::new(otlp)?;
    if let Some(prometheus) = section.and_then(|m| m.prometheus.as_ref()) {
        push.check_against(prometheus)?;
    }
    otel::push::Pusher::start(push, Arc::clone(metrics)).map(Some)
}

/// The level of Traefik's `log.level` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`, `PANIC`, in
/// any case; `FATAL` and `PANIC` log errors), for the `tracing` subscriber an application installs.
///
/// ```
/// use switchyard_config::Log;
///
/// let log = Log { level: "warn".into(), ..Log::default() };
/// assert_eq!(switchyard_observe::log_level(&log).unwrap(), tracing::Level::WARN);
/// assert!(switchyard_observe::log_level(&Log { level: "loud".into(), ..Log::default() }).is_err());
/// ```
///
/// # Errors
///
/// [`ObserveError::Invalid`] naming `log.level` for another value.
pub fn log_level(log: &switchyard_config::Log) -> Result<tracing::Level, ObserveError> {
    match log.level.to_ascii_uppercase().as_str() {
        "TRACE" => Ok(tracing::Level::TRACE),
        "DEBUG" => Ok(tracing::Level::DEBUG),
        "INFO" => Ok(tracing::Level::INFO),
        "WARN" | "WARNING" => Ok(tracing::Level::WARN),
        "" | "ERROR" | "FATAL" | "PANIC" => Ok(tracing::Level::ERROR),
        other => Err(ObserveError::Invalid {
            key: "log.level".into(),
            reason: format!("`{other}` is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC"),
        }),
    }
}

/// The first configured section this build cannot serve.
fn check_built(config: &StaticConfig) -> Result<(), ObserveError> {
    let metrics = config.metrics.as_ref();
    let sections = [
        (
            "accessLog",
            "access-log",
            config.access_log.is_some(),
            cfg!(feature = "access-log"),
        ),
        (
            "metrics.prometheus",
            "metrics",
            metrics.is_some_and(|m| m.prometheus.is_some()),
            cfg!(feature = "metrics"),
        ),
        ("tracing", "otel", config.tracing.is_some(), cfg!(feature = "otel")),
    ];
    if let Some((section, feature, _, _)) = sections.into_iter().find(|&(_, _, on, built)| on && !built) {
        return Err(ObserveError::MissingFeature { section, feature });
    }
    let otlp = metrics.is_some_and(|m| m.otlp.is_some());
    if otlp && !cfg!(all(feature = "otel", feature = "metrics")) {
        return Err(ObserveError::MissingFeature {
            section: "metrics.otlp",
            feature: "otel` and `metrics",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::{Format, load_str};

    fn config(yaml: &str) -> StaticConfig {
        load_str(yaml, Format::Yaml, "traefik.yml")
            .expect("a valid static configuration")
            .value
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn metrics_add_internals_counts_the_gateways_own_services() {
        let mut exchange = Exchange::example();
        exchange.progress.service = Some(Arc::from("api@internal"));
        for (yaml, counted) in [
            ("metrics:\n  prometheus: {}\n", false),
            ("metrics:\n  addInternals: true\n  prometheus: {}\n", true),
        ] {
            let observer = Observer::from_static(&config(yaml))
                .expect("valid")
                .expect("an observer");
            let metrics = observer.metrics().expect("metrics");
            metrics.record(&exchange);
            assert_eq!(metrics.encode().contains("api@internal"), counted, "{yaml}");
        }
    }

    #[test]
    fn sections_this_build_lacks_are_errors_that_name_the_feature() {
        let otlp = config("metrics:\n  otlp:\n    http: {}\n");
        if !cfg!(all(feature = "otel", feature = "metrics")) {
            assert_eq!(
                Observer::from_static(&otlp).err().map(|e| e.to_string()).as_deref(),
                Some("metrics.otlp is configured, but switchyard was built without the `otel` and `metrics` feature")
            );
        }
        if !cfg!(feature = "otel") {
            let tracing = config("tracing:\n  otlp:\n    grpc: {}\n");
            assert_eq!(
                Observer::from_static(&tracing).err().map(|e| e.to_string()).as_deref(),
                Some("tracing is configured, but switchyard was built without the `otel` feature")
            );
        }
        if !cfg!(feature = "access-log") {
            let log = config("accessLog: {}\n");
            assert!(matches!(
                Observer::from_static(&log),
                Err(ObserveError::MissingFeature {
                    feature: "access-log",
                    ..
                })
            ));
        }
    }
}
