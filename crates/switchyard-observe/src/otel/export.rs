//! Spans out: the SDK's batch processor, behind a gate that bounds its queue, in front of the OTLP
//! exporter (tonic gRPC or HTTP/protobuf through hyper) running on a thread and Tokio runtime of its
//! own.
//!
//! Requests never wait on the collector: a request ends its spans into a bounded queue and goes on.
//! A full queue drops spans; an export that fails (a collector down or unreachable) loses its batch
//! after the exporter's retries. Both are counted and reported with `tracing::warn!` at most once a
//! minute. The export runtime is the tracer's own, so the exporter works whether or not the tracer is
//! built inside the gateway's runtime, and a slow collector never takes the gateway's workers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry::Context;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::config::{Collector, Transport, invalid};
use crate::ObserveError;

/// Spans waiting for export at most; more are dropped (the SDK's and Traefik's default).
const MAX_QUEUE: usize = 2048;
/// How long one export (and a connection to the collector) may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Lost spans are reported at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// The name a server span is renamed to when its request turned out untraced (the router's tracing is
/// off): the gate drops it instead of exporting it.
pub(super) const ABANDONED: &str = "switchyard.abandoned";

/// The span processor of a tracer: the gate, the batch processor and the exporter behind them.
pub(super) fn processor(collector: &Collector) -> Result<Gate, ObserveError> {
    let runtime =
        ExportRuntime::start().map_err(|e| invalid("tracing", format!("cannot start the span export thread: {e}")))?;
    let exporter = {
        // tonic's lazy channel spawns its worker onto the runtime it is built in.
        let _entered = runtime.handle.enter();
        otlp_exporter(collector)?
    };
    let losses = Arc::new(Losses::default());
    let queued = Arc::new(AtomicUsize::new(0));
    let exporter = OnRuntime {
        inner: Arc::new(exporter),
        runtime,
        losses: Arc::clone(&losses),
        queued: Arc::clone(&queued),
    };
    let config = BatchConfigBuilder::default().with_max_queue_size(MAX_QUEUE).build();
    let batch = BatchSpanProcessor::builder(exporter).with_batch_config(config).build();
    Ok(Gate { batch, queued, losses })
}

fn otlp_exporter(collector: &Collector) -> Result<opentelemetry_otlp::SpanExporter, ObserveError> {
    let tls = tls_config(collector)?;
    let built = match collector.transport {
        Transport::Grpc => grpc_exporter(collector, tls)?,
        Transport::Http => http_exporter(collector, tls)?,
    };
    built.map_err(|e| invalid(collector.key, e.to_string()))
}

type Built = Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError>;

fn grpc_exporter(collector: &Collector, tls: Option<rustls::ClientConfig>) -> Result<Built, ObserveError> {
    let endpoint = tonic::transport::Endpoint::from_shared(collector.endpoint.clone())
        .map_err(|e| invalid(&format!("{}.endpoint", collector.key), e.to_string()))?
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT);
    let channel = match tls {
        Some(tls) => {
            let https = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
            endpoint.connect_with_connector_lazy(https.enable_http2().wrap_connector(tcp()))
        }
        None => endpoint.connect_with_connector_lazy(tcp()),
    };
    let metadata = tonic::metadata::MetadataMap::from_headers(headers(collector)?);
    Ok(opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_channel(channel)
        .with_metadata(metadata)
        .with_timeout(TIMEOUT)
        .build())
}

fn http_exporter(collector: &Collector, tls: Option<rustls::ClientConfig>) -> Result<Built, ObserveError> {
    headers(collector)?;
    let headers: HashMap<String, String> = collector.headers.clone().into_iter().collect();
    let builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(collector.endpoint.clone())
        .with_headers(headers)
        .with_timeout(TIMEOUT);
    Ok(match tls {
        Some(tls) => {
            let https = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
            let connector = https.enable_http1().wrap_connector(tcp());
            builder
                .with_http_client(HyperClient::new(connector, TIMEOUT, None))
                .build()
        }
        None => builder.with_http_client(HyperClient::new(tcp(), TIMEOUT, None)).build(),
    })
}

/// The TCP connector under both transports.
fn tcp() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(TIMEOUT));
    http
}

/// The client TLS of an `https` collector: its `tls` options, or the system's roots.
fn tls_config(collector: &Collector) -> Result<Option<rustls::ClientConfig>, ObserveError> {
    if !collector.endpoint.starts_with("https://") {
        return Ok(None);
    }
    let options = collector.tls.clone().unwrap_or_default();
    let config = switchyard_tls::auth_client_config(&options)
        .map_err(|e| invalid(&format!("{}.tls", collector.key), e.to_string()))?;
    let mut config = Arc::unwrap_or_clone(config);
    // The connector sets ALPN for the transport (h2 for gRPC, http/1.1 for HTTP).
    config.alpn_protocols.clear();
    Ok(Some(config))
}

/// The collector's `headers`, checked.
fn headers(collector: &Collector) -> Result<HeaderMap, ObserveError> {
    let mut map = HeaderMap::new();
    for (name, value) in &collector.headers {
        let key = || format!("{}.headers.{name}", collector.key);
        let name = HeaderName::try_from(name.as_str()).map_err(|e| invalid(&key(), e.to_string()))?;
        let value = HeaderValue::try_from(value.as_str()).map_err(|e| invalid(&key(), e.to_string()))?;
        map.append(name, value);
    }
    Ok(map)
}

/// A current-thread Tokio runtime on a thread of its own, for the exporter's I/O. It stops when this
/// is dropped (with the exporter, when the batch processor's thread ends).
#[derive(Debug)]
struct ExportRuntime {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl ExportRuntime {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("switchyard-otlp".into())
            .spawn(move || runtime.block_on(async move { drop(stopped.await) }))?;
        Ok(Self { handle, _stop: stop })
    }
}

/// The OTLP exporter, run on the export runtime; the batch processor's thread only waits for it.
#[derive(Debug)]
struct OnRuntime {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: ExportRuntime,
    losses: Arc<Losses>,
    queued: Arc<AtomicUsize>,
}

impl SpanExporter for OnRuntime {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let spans = batch.len();
        self.queued.fetch_sub(spans, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        let task = self.runtime.handle.spawn(async move { inner.export(batch).await });
        let losses = Arc::clone(&self.losses);
        async move {
            let result = task
                .await
                .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(e.to_string())));
            if let Err(error) = &result {
                losses.failed(spans, error);
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called once, when the provider is built, before any export holds the exporter.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// In front of the batch processor: drops abandoned server spans and spans beyond the queue's bound
/// (counting them, which the batch processor does not tell).
#[derive(Debug)]
pub(super) struct Gate {
    batch: BatchSpanProcessor,
    queued: Arc<AtomicUsize>,
    losses: Arc<Losses>,
}

impl SpanProcessor for Gate {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.name == ABANDONED {
            return;
        }
        if self.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUE {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.losses.dropped();
            return;
        }
        self.batch.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.batch.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.batch.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.batch.set_resource(resource);
    }
}

/// Spans lost since the last warning.
#[derive(Debug, Default)]
pub(super) struct Losses {
    state: Mutex<LossState>,
}

#[derive(Debug, Default)]
struct LossState {
    dropped: u64,
    failed: u64,
    error: Option<String>,
    warned: Option<Instant>,
}

impl Losses {
    fn dropped(&self) {
        self.record(|state| state.dropped += 1);
    }

    fn failed(&self, spans: usize, error: &OTelSdkError) {
        self.record(|state| {
            state.failed += spans as u64;
            state.error = Some(error.to_string());
        });
    }

    fn record(&self, count: impl FnOnce(&mut LossState)) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        count(&mut state);
        let due = state.due(Instant::now());
        drop(state);
        if let Some(message) = due {
            tracing::warn!("tracing: {message}");
        }
    }
}

impl LossState {
    /// The warning to give now, if the last one is a minute old; counting starts again.
    fn due(&mut self, now: Instant) -> Option<String> {
        if self.warned.is_some_and(|last| now.duration_since(last) < WARN_EVERY) {
            return None;
        }
        self.warned = Some(now);
        let mut parts = Vec::new();
        if self.dropped > 0 {
            parts.push(format!("{} spans dropped (export queue full)", self.dropped));
        }
        if self.failed > 0 {
            let error = self.error.take().unwrap_or_default();
            parts.push(format!("{} spans not exported ({error})", self.failed));
        }
        (self.dropped, self.failed) = (0, 0);
        Some(parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::ClientTls;

    #[test]
    fn losses_are_reported_at_most_once_a_minute_with_what_accumulated() {
        let start = Instant::now();
        let mut state = LossState {
            dropped: 3,
            ..LossState::default()
        };
        assert_eq!(state.due(start).as_deref(), Some("3 spans dropped (export queue full)"));
        state.failed = 10;
        state.error = Some("connection refused".into());
        assert_eq!(state.due(start + Duration::from_secs(30)), None);
        state.dropped = 1;
        assert_eq!(
            state.due(start + WARN_EVERY).as_deref(),
            Some("1 spans dropped (export queue full); 10 spans not exported (connection refused)")
        );
        assert_eq!((state.dropped, state.failed), (0, 0));
    }

    #[test]
    fn bad_headers_and_tls_name_their_option() {
        let mut collector = super::super::config::collector(None).expect("default collector");
        collector.headers.insert("bad header".into(), "x".into());
        assert!(matches!(
            headers(&collector),
            Err(ObserveError::Invalid { key, .. }) if key == "tracing.otlp.http.headers.bad header"
        ));
        collector.tls = Some(ClientTls {
            cert: "/nonexistent/cert.pem".into(),
            ..ClientTls::default()
        });
        assert!(matches!(
            tls_config(&collector),
            Err(ObserveError::Invalid { key, .. }) if key == "tracing.otlp.http.tls"
        ));
    }
}
