//! Traefik's `tracing`: a server span per request and a client span per attempt at an upstream,
//! exported over OTLP (gRPC or HTTP/protobuf), with the trace context read from and written to
//! requests by the propagators `OTEL_PROPAGATORS` names.
//!
//! Each [`Tracer`] owns its `SdkTracerProvider` (nothing global): a `ParentBased(TraceIdRatioBased)`
//! sampler at `sampleRate`, a resource with `service.name` and the `resourceAttributes`, and the
//! export pipeline of [`export`].
//!
//! The server span starts when the request arrives, so that the client spans of the attempts are its
//! children and the upstream sees it as their parent. Whether it is exported is known only once the
//! router matched: the layer ends it ([`ServerSpan::end`]) when the router's tracing is on; otherwise
//! it is dropped, renamed [`export::ABANDONED`], and the gate in front of the batch processor throws
//! it away. Attempts read the same switch from the request's record: a router without tracing gets no
//! client spans and no propagation headers (the client's pass through, as in Traefik).

mod config;
mod export;
mod propagation;
mod span;
mod sw8;

use std::sync::Arc;

use http::{Extensions, Request, StatusCode};
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use switchyard_config::Tracing;
use switchyard_middleware::{AttemptEnd, AttemptObserver, RequestBody, RequestRecord};

use self::config::invalid;
use self::propagation::Propagation;
use self::span::Capture;
use self::sw8::{Sw8Exit, Sw8Identity};
use crate::layer::RequestHead;
use crate::{Exchange, ObserveError, Observer, TraceIds};

/// The instrumentation scope of switchyard's spans.
const SCOPE: &str = "switchyard";
/// The version reported as `service.version` and as the scope's.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The tracer of a gateway: see the [module](self).
#[derive(Debug)]
pub(crate) struct Tracer {
    provider: SdkTracerProvider,
    shared: Arc<Shared>,
}

/// What the spans of every request share.
#[derive(Debug, Clone)]
struct Shared {
    tracer: SdkTracer,
    propagation: Arc<Propagation>,
    capture: Capture,
    sw8: Sw8Identity,
}

impl Tracer {
    /// The tracer `tracing` configures, its propagators from `OTEL_PROPAGATORS`.
    pub(crate) fn new(tracing: &Tracing) -> Result<Self, ObserveError> {
        let sampler = sampler(tracing.sample_rate)?;
        let capture = Capture::new(tracing)?;
        let collector = config::collector(tracing.otlp.as_ref())?;
        let resource = resource(tracing);
        let sw8 = Sw8Identity::new(&tracing.service_name, &instance(&resource));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(export::processor(&collector)?)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        let scope = InstrumentationScope::builder(SCOPE).with_version(VERSION).build();
        let shared = Shared {
            tracer: provider.tracer_with_scope(scope),
            propagation: Arc::new(Propagation::from_env(&sw8)),
            capture,
            sw8,
        };
        Ok(Self {
            provider,
            shared: Arc::new(shared),
        })
    }

    /// Replaces the propagators with those `names` lists (comma-separated, as `OTEL_PROPAGATORS`).
    pub(crate) fn set_propagators(&mut self, names: &str) -> Result<(), ObserveError> {
        let propagation = Propagation::parse(names, &self.shared.sw8).map_err(|e| invalid(propagation::ENV, e))?;
        let mut shared = Shared::clone(&self.shared);
        shared.propagation = Arc::new(propagation);
        self.shared = Arc::new(shared);
        Ok(())
    }

    /// Whether spans record request headers (`capturedRequestHeaders`).
    pub(crate) fn needs_request_headers(&self) -> bool {
        self.shared.capture.has_request_headers()
    }

    /// Whether spans record response headers (`capturedResponseHeaders`).
    pub(crate) fn needs_response_headers(&self) -> bool {
        self.shared.capture.has_response_headers()
    }

    /// Exports the spans waiting in the queue (the gateway stops); waits a few seconds at most.
    pub(crate) fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            tracing::warn!("tracing: flushing spans: {error}");
        }
    }

    /// The server span of a request that just arrived, child of the context its headers carry. Every
    /// request gets one, sampled or not, so that the sampling decision travels upstream.
    pub(crate) fn start(&self, req: &Request<RequestBody>, head: &RequestHead) -> Option<ServerSpan> {
        let shared = &self.shared;
        let parent = shared.propagation.extract(req.headers());
        let builder = SpanBuilder::from_name(head.method.to_string())
            .with_kind(SpanKind::Server)
            .with_start_time(head.start);
        let mut span = shared.tracer.build_with_context(builder, &parent);
        if span.is_recording() {
            span.set_attributes(span::server_request(head, req.headers(), &shared.capture));
        }
        let server = span.span_context().clone();
        let attempts = Attempts {
            shared: Arc::clone(shared),
            cx: parent.with_remote_span_context(server.clone()),
            endpoint: format!("{}:{}", head.method, head.uri.path()),
            entry_tracing: head.signals.tracing,
        };
        Some(ServerSpan {
            span: Some(span),
            server,
            attempts: Arc::new(attempts),
            capture: shared.capture.clone(),
        })
    }
}

/// `sampleRate` as Traefik samples: the parent's decision when there is one, else the trace id's ratio.
fn sampler(rate: f64) -> Result<Sampler, ObserveError> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(invalid(
            "tracing.sampleRate",
            format!("{rate} is not between 0.0 and 1.0"),
        ));
    }
    Ok(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(rate))))
}

/// The resource of the spans: the SDK's, `service.name`, `service.version`, `globalAttributes` (the
/// deprecated name) then `resourceAttributes`, then `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`
/// over them, in Traefik's order.
fn resource(tracing: &Tracing) -> Resource {
    let attributes = (tracing.global_attributes.iter())
        .chain(&tracing.resource_attributes)
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()));
    let builder = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_service_name(tracing.service_name.clone())
        .with_attribute(KeyValue::new("service.version", VERSION))
        .with_attributes(attributes)
        .with_detector(Box::new(EnvResourceDetector::new()));
    match std::env::var("OTEL_SERVICE_NAME") {
        Ok(name) if !name.is_empty() => builder.with_service_name(name),
        _ => builder,
    }
    .build()
}

/// The instance SkyWalking is told about: `service.instance.id`, else the host's name.
fn instance(resource: &Resource) -> String {
    let configured = resource.get(&"service.instance.id".into()).map(|v| v.to_string());
    configured
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| SCOPE.to_owned())
}

/// A request's server span; see the [module](self) for when it is exported.
#[derive(Debug)]
pub(crate) struct ServerSpan {
    span: Option<opentelemetry_sdk::trace::Span>,
    server: SpanContext,
    attempts: Arc<Attempts>,
    capture: Capture,
}

impl ServerSpan {
    /// What starts the client span of each attempt and propagates it upstream.
    pub(crate) fn attempts(&self) -> Arc<dyn AttemptObserver> {
        Arc::clone(&self.attempts) as Arc<dyn AttemptObserver>
    }

    /// The trace and span ids, for the access log.
    pub(crate) fn ids(&self) -> TraceIds {
        TraceIds {
            trace_id: self.server.trace_id().to_string(),
            span_id: self.server.span_id().to_string(),
        }
    }

    /// Ends the span when the response has ended, with the response's attributes and status.
    pub(crate) fn end(mut self, exchange: &Exchange) {
        let Some(mut span) = self.span.take() else {
            return;
        };
        if span.is_recording() {
            span.set_attributes(span::server_response(exchange, &self.capture));
            span.set_status(span::server_status(exchange));
        }
        span.end_with_timestamp(exchange.start + exchange.duration);
    }
}

impl Drop for ServerSpan {
    fn drop(&mut self) {
        // Not ended: the router's tracing is off. The gate drops what the SDK ends here.
        if let Some(mut span) = self.span.take() {
            span.update_name(export::ABANDONED);
        }
    }
}

/// The attempts of one request: each gets a client span, child of the server span.
#[derive(Debug)]
struct Attempts {
    shared: Arc<Shared>,
    /// The request's extracted context (baggage, SkyWalking origin) with the server span as parent.
    cx: Context,
    /// The server side's SkyWalking endpoint, `GET:/path`.
    endpoint: String,
    /// Whether the entrypoint traces requests whose router says nothing.
    entry_tracing: bool,
}

impl AttemptObserver for Attempts {
    fn attempt(&self, parts: &mut http::request::Parts, server: &str) -> Box<dyn AttemptEnd> {
        if !traced(&parts.extensions, self.entry_tracing) {
            return Box::new(Untraced);
        }
        let shared = &self.shared;
        let builder = SpanBuilder::from_name(span::CLIENT_SPAN).with_kind(SpanKind::Client);
        let mut client = shared.tracer.build_with_context(builder, &self.cx);
        let target = span::Target::of(server, &parts.uri);
        if client.is_recording() {
            client.set_attributes(span::client_request(parts, &target, &shared.capture));
        }
        let exit = Sw8Exit {
            endpoint: self.endpoint.clone(),
            target: span::target_address(&target),
        };
        let cx = self
            .cx
            .with_remote_span_context(client.span_context().clone())
            .with_value(exit);
        shared.propagation.inject(&cx, &mut parts.headers);
        Box::new(ClientSpan(client))
    }
}

/// Whether the router that matched the request traces it (as its entrypoint, `entry`, does when the
/// router has no `observability` section, or before routing, or without a record).
fn traced(extensions: &Extensions, entry: bool) -> bool {
    let signals = RequestRecord::of(extensions).and_then(|record| record.progress().signals);
    signals.map_or(entry, |s| s.tracing)
}

/// An attempt of a request its router does not trace.
struct Untraced;

impl AttemptEnd for Untraced {
    fn answered(self: Box<Self>, _status: StatusCode) {}
    fn failed(self: Box<Self>, _cause: &str) {}
}

/// The client span of an attempt.
struct ClientSpan(opentelemetry_sdk::trace::Span);

impl AttemptEnd for ClientSpan {
    fn answered(mut self: Box<Self>, status: StatusCode) {
        let code = status.as_u16();
        self.0
            .set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
        self.0.set_status(span::client_status(code));
        self.0.end();
    }

    fn failed(mut self: Box<Self>, cause: &str) {
        self.0.set_status(Status::error(cause.to_owned()));
        self.0.end();
    }
}

impl Observer {
    /// Sets the trace propagators by name, as `OTEL_PROPAGATORS` names them (comma-separated:
    /// `tracecontext`, `baggage`, `b3`, `b3multi`, `jaeger`, `sw8`, `none`), instead of the
    /// environment's; for embedders and tests that do not want a process-wide variable. Call it on the
    /// observer [`from_static`](Self::from_static) returns, before [`layer`](Self::layer) shares it. An
    /// observer without tracing is returned unchanged.
    ///
    /// ```
    /// use switchyard_config::{Format, load_str};
    /// use switchyard_observe::Observer;
    ///
    /// let yaml = "tracing:\n  otlp:\n    http:\n      endpoint: http://127.0.0.1:4318\n";
    /// let config = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
    /// let observer = Observer::from_static(&config).unwrap().unwrap();
    /// let observer = observer.with_trace_propagators("tracecontext,b3,sw8").unwrap();
    /// assert!(observer.with_trace_propagators("xray").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// An unknown propagator name, or an observer already shared.
    pub fn with_trace_propagators(mut self: Arc<Self>, names: &str) -> Result<Arc<Self>, ObserveError> {
        let observer = Arc::get_mut(&mut self).ok_or_else(|| {
            invalid(
                propagation::ENV,
                "the observer is in use: set the propagators before installing its layer",
            )
        })?;
        if let Some(tracer) = observer.tracer.as_mut() {
            tracer.set_propagators(names)?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_rates_outside_zero_to_one_are_errors() {
        assert!(sampler(0.0).is_ok() && sampler(1.0).is_ok());
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(sampler(bad), Err(ObserveError::Invalid { key, .. }) if key == "tracing.sampleRate"));
        }
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
        let get = |key: &'static str| resource.get(&key.into()).map(|v| v.to_string());
        assert_eq!(get("service.name").as_deref(), Some("edge"));
        assert_eq!(get("deployment.environment").as_deref(), Some("prod"));
        assert_eq!(get("team").as_deref(), Some("a"));
        assert_eq!(get("telemetry.sdk.name").as_deref(), Some("opentelemetry"));
    }
}
