//! Traefik's `tracing`: a server span per request and a client span per attempt at an upstream,
//! exported over OTLP (gRPC or HTTP/protobuf), with the trace context read from and written to
//! requests by the propagators `OTEL_PROPAGATORS` names.
//!
//! Each [`Tracer`] owns its pipeline (nothing global): a parent-based ratio sampler at `sampleRate`
//! (a request follows its caller's decision; a new trace is sampled by its id, as OpenTelemetry's
//! `ParentBased(TraceIdRatioBased)`), a resource with `service.name` and the `resourceAttributes`, and
//! the exporter of [`export`].
//!
//! Spans are not built as objects: what a span says is written as OTLP protobuf ([`proto`]) straight
//! from the request's [`Exchange`] when its response ends, and from the upstream request when an
//! attempt starts and ends. OpenTelemetry's SDK spent about 90,000 instructions per traced request
//! on span objects, attribute vectors and their conversion to protobuf; this costs a small fraction
//! of that, and the collector receives the same messages.
//!
//! The server span's ids exist from the request's arrival, so that the client spans of the attempts
//! are its children and the upstream sees them as parents; it is written only when the router that
//! matched traces requests. Attempts read the same switch from the request's record: a router without
//! tracing gets no client spans and no propagation headers (the client's pass through, as in
//! Traefik).

mod config;
mod export;
#[cfg(feature = "metrics")]
mod exposition;
mod ids;
mod propagation;
mod proto;
#[cfg(feature = "metrics")]
pub(crate) mod push;
mod span;
mod sw8;
mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Extensions, HeaderValue, Request, StatusCode};
use switchyard_config::Tracing;
use switchyard_middleware::{AttemptEnd, AttemptObserver, RequestBody, RequestRecord};

use self::config::invalid;
use self::export::{Envelope, Exporter, Queue};
use self::ids::{SpanId, TraceId};
use self::propagation::{Incoming, Outgoing, Propagation, SpanContext};
use self::span::{Capture, Head};
use self::sw8::{Sw8Exit, Sw8Identity};
use self::upstream::Upstream;
use crate::{Exchange, ObserveError, Observer, Signals, TraceIds};

/// The instrumentation scope of switchyard's spans, and the `telemetry.sdk.name` of its resource.
const SCOPE: &str = "switchyard";
/// The version reported as `service.version` and as the scope's.
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long [`Tracer::flush`] waits for the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracer of a gateway: see the [module](self).
#[derive(Debug)]
pub(crate) struct Tracer {
    exporter: Exporter,
    shared: Arc<Shared>,
}

/// What the spans of every request share.
#[derive(Debug, Clone)]
struct Shared {
    queue: Arc<Queue>,
    sampler: Sampler,
    propagation: Arc<Propagation>,
    capture: Capture,
    sw8: Sw8Identity,
    /// `addInternals`: trace requests to the gateway's own services (`api@internal`…).
    add_internals: bool,
}

impl Tracer {
    /// The tracer `tracing` configures, its propagators from `OTEL_PROPAGATORS`.
    pub(crate) fn new(tracing: &Tracing) -> Result<Self, ObserveError> {
        let sampler = Sampler::new(tracing.sample_rate)?;
        let capture = Capture::new(tracing)?;
        let collector = config::collector(tracing.otlp.as_ref(), config::Signal::Traces)?;
        let resource = resource(tracing);
        let sw8 = Sw8Identity::new(&tracing.service_name, &instance(&resource));
        let queue = Arc::new(Queue::new(Envelope {
            resource: proto::resource(&resource),
            scope: proto::scope(SCOPE, VERSION),
        }));
        let exporter = Exporter::start(&collector, Arc::clone(&queue))?;
        let shared = Shared {
            queue,
            sampler,
            propagation: Arc::new(Propagation::from_env(&sw8)),
            capture,
            sw8,
            add_internals: tracing.add_internals,
        };
        Ok(Self {
            exporter,
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

    /// Whether spans record response headers (`capturedResponseHeaders`).
    pub(crate) fn needs_response_headers(&self) -> bool {
        self.shared.capture.has_response_headers()
    }

    /// Exports the spans waiting in the queue (the gateway stops); waits a few seconds at most.
    pub(crate) fn flush(&self) {
        self.exporter.flush(FLUSH_TIMEOUT);
    }

    /// The server span of a request that just arrived, child of the context its headers carry. Every
    /// request gets one, sampled or not, so that the sampling decision travels upstream.
    ///
    /// `started` is when the request arrived by the monotonic clock, as `arrived.start` says by the
    /// wall clock: the client spans' times are read from the monotonic clock from there.
    pub(crate) fn start(
        &self,
        req: &Request<RequestBody>,
        arrived: &Exchange,
        entry: Signals,
        started: Instant,
    ) -> ServerSpan {
        let shared = &self.shared;
        let incoming = shared.propagation.extract(req.headers());
        let trace_id = incoming.parent.map_or_else(TraceId::random, |p| p.trace_id);
        let sampled = incoming
            .parent
            .map_or_else(|| shared.sampler.samples(trace_id), |p| p.sampled);
        let span = SpanContext {
            trace_id,
            span_id: SpanId::random(),
            sampled,
        };
        let endpoint = shared
            .propagation
            .has_sw8()
            .then(|| format!("{}:{}", arrived.method, req.uri().path()));
        let mut request_attributes = Vec::new();
        if sampled {
            request_attributes = export::buffer();
            span::server_request_attributes(
                &mut request_attributes,
                req.uri(),
                req.headers(),
                arrived,
                &shared.capture,
            );
        }
        let attempts = Attempts {
            shared: Arc::clone(shared),
            server: span,
            incoming,
            endpoint,
            entry_tracing: entry.tracing,
            arrival: (span::unix_nanos(arrived.start), started),
        };
        ServerSpan {
            request_attributes,
            attempts: Arc::new(attempts),
        }
    }
}

/// `sampleRate` as Traefik samples: the parent's decision when there is one (see [`Tracer::start`]),
/// else the trace id's ratio, as OpenTelemetry's `TraceIdRatioBased` decides it.
#[derive(Debug, Clone, Copy)]
struct Sampler {
    /// Trace ids whose low 63 bits are below this are sampled.
    bound: u64,
    always: bool,
}

impl Sampler {
    fn new(rate: f64) -> Result<Self, ObserveError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(invalid(
                "tracing.sampleRate",
                format!("{rate} is not between 0.0 and 1.0"),
            ));
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "the rate is in [0, 1], so the bound is in [0, 2^63]"
        )]
        let bound = (rate * (1u64 << 63) as f64) as u64;
        Ok(Self {
            bound,
            always: rate >= 1.0,
        })
    }

    fn samples(self, trace_id: TraceId) -> bool {
        #[expect(clippy::cast_possible_truncation, reason = "the trace id's low 64 bits")]
        let low = trace_id.0 as u64;
        self.always || (low >> 1) < self.bound
    }
}

/// The resource of the spans: `telemetry.sdk.*`, `service.name`, `service.version`, `globalAttributes`
/// (the deprecated name) then `resourceAttributes`, then `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_SERVICE_NAME` over them, in Traefik's order. A later key replaces an earlier one.
fn resource(tracing: &Tracing) -> Vec<(String, String)> {
    let attributes = tracing.global_attributes.iter().chain(&tracing.resource_attributes);
    resource_of(&tracing.service_name, attributes)
}

/// The resource of `service` with `attributes`, as [`resource`] orders them.
fn resource_of<'a>(
    service: &str,
    attributes: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Vec<(String, String)> {
    let mut resource = Vec::new();
    let mut set = |key: &str, value: &str| match resource.iter_mut().find(|(k, _): &&mut (String, String)| k == key) {
        Some((_, old)) => *old = value.to_owned(),
        None => resource.push((key.to_owned(), value.to_owned())),
    };
    set("telemetry.sdk.name", SCOPE);
    set("telemetry.sdk.language", "rust");
    set("telemetry.sdk.version", VERSION);
    set("service.name", service);
    set("service.version", VERSION);
    for (key, value) in attributes {
        set(key, value);
    }
    let env = std::env::var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    for (key, value) in env_attributes(&env) {
        set(&key, &value);
    }
    if let Ok(name) = std::env::var("OTEL_SERVICE_NAME").map(|n| n.trim().to_owned()) {
        if !name.is_empty() {
            set("service.name", &name);
        }
    }
    resource
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values percent-encoded; pairs
/// without `=` or with an empty key are skipped.
fn env_attributes(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let hex = tail
            .get(..2)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                bytes.push(decoded);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The instance SkyWalking is told about: `service.instance.id`, else the host's name.
fn instance(resource: &[(String, String)]) -> String {
    let configured = resource
        .iter()
        .find(|(k, _)| k == "service.instance.id")
        .map(|(_, v)| v.clone());
    configured
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| SCOPE.to_owned())
}

/// A request's server span; see the [module](self) for when it is exported.
#[derive(Debug)]
pub(crate) struct ServerSpan {
    /// The request's attributes, written when it arrived (when the span is sampled).
    request_attributes: Vec<u8>,
    attempts: Arc<Attempts>,
}

impl ServerSpan {
    /// What starts the client span of each attempt and propagates it upstream.
    pub(crate) fn attempts(&self) -> Arc<dyn AttemptObserver> {
        Arc::clone(&self.attempts) as Arc<dyn AttemptObserver>
    }

    /// The trace and span ids, for the access log.
    pub(crate) fn ids(&self) -> TraceIds {
        let span = self.attempts.server;
        TraceIds {
            trace_id: span.trace_id.to_string(),
            span_id: span.span_id.to_string(),
        }
    }

    /// Writes the span, when it is sampled, now that the response has ended.
    pub(crate) fn end(self, exchange: &Exchange) {
        let attempts = &*self.attempts;
        let span = attempts.server;
        let shared = &attempts.shared;
        if !span.sampled || (!shared.add_internals && is_internal(&exchange.progress)) {
            export::recycle(self.request_attributes);
            return;
        }
        let name = exchange.method.as_str();
        let head = Head {
            trace_id: span.trace_id,
            span_id: span.span_id,
            parent: attempts.incoming.parent.map(|p| (p.span_id, true)),
            sampled: true,
            trace_state: attempts.incoming.trace_state.as_ref(),
            name,
            kind: proto::KIND_SERVER,
            start: attempts.arrival.0,
            end: attempts.arrival.0.saturating_add(span::nanos(exchange.duration)),
        };
        shared.queue.submit(|buf| {
            span::head(buf, &head);
            buf.extend_from_slice(&self.request_attributes);
            span::server_response_attributes(buf, exchange, &shared.capture);
            span::server_status(buf, exchange);
        });
        export::recycle(self.request_attributes);
    }
}

/// Whether the request went to one of the gateway's own services (`api@internal`,
/// `prometheus@internal`…), which Traefik traces only with `tracing.addInternals`.
fn is_internal(progress: &switchyard_middleware::Progress) -> bool {
    let internal = |name: &Option<Arc<str>>| name.as_deref().is_some_and(|n| n.ends_with("@internal"));
    internal(&progress.router) || internal(&progress.service)
}

/// The attempts of one request: each gets a client span, child of the server span.
#[derive(Debug)]
struct Attempts {
    shared: Arc<Shared>,
    /// The server span.
    server: SpanContext,
    /// What the request's headers carried (trace state, baggage, SkyWalking origin).
    incoming: Incoming,
    /// The server side's SkyWalking endpoint, `GET:/path`, when `sw8` propagates.
    endpoint: Option<String>,
    /// Whether the entrypoint traces requests whose router says nothing.
    entry_tracing: bool,
    /// When the request arrived, by the wall clock (in nanoseconds since the Unix epoch) and by the
    /// monotonic clock: the spans' times are worked out from there, with no other wall-clock reading.
    arrival: (u64, Instant),
}

impl Attempts {
    /// The wall-clock time of `at`, a reading of the monotonic clock during the request, in
    /// nanoseconds since the Unix epoch.
    fn wall_clock(&self, at: Instant) -> u64 {
        let (wall, monotonic) = self.arrival;
        wall.saturating_add(span::nanos(at.saturating_duration_since(monotonic)))
    }
}

impl AttemptObserver for Attempts {
    fn attempt(&self, parts: &mut http::request::Parts, server: &str, at: Instant) -> Box<dyn AttemptEnd> {
        if !traced(&parts.extensions, self.entry_tracing) {
            return Box::new(Untraced);
        }
        let shared = &self.shared;
        let client = SpanContext {
            span_id: SpanId::random(),
            ..self.server
        };
        let mut attributes = if client.sampled { export::buffer() } else { Vec::new() };
        let exit = Upstream::with(server, &parts.uri, |upstream| {
            if client.sampled {
                span::client_attributes(&mut attributes, parts, upstream, &shared.capture);
            }
            (self.endpoint.as_ref()).map(|endpoint| Sw8Exit {
                endpoint: endpoint.clone(),
                target: upstream.address(),
            })
        });
        let out = Outgoing {
            span: client,
            incoming: &self.incoming,
            exit: exit.as_ref(),
        };
        shared.propagation.inject(&out, &mut parts.headers);
        if !client.sampled {
            return Box::new(Untraced);
        }
        Box::new(ClientSpan {
            shared: Arc::clone(shared),
            span: client.span_id,
            server: self.server,
            trace_state: self.incoming.trace_state.clone(),
            start: self.wall_clock(at),
            started: at,
            attributes,
        })
    }
}

/// Whether the router that matched the request traces it (as its entrypoint, `entry`, does when the
/// router has no `observability` section, or before routing, or without a record).
fn traced(extensions: &Extensions, entry: bool) -> bool {
    let signals = RequestRecord::of(extensions).and_then(|record| record.signals());
    signals.map_or(entry, |s| s.tracing)
}

/// An attempt of a request its router does not trace, or that is not sampled.
struct Untraced;

impl AttemptEnd for Untraced {
    fn answered(self: Box<Self>, _status: StatusCode, _at: Instant) {}
    fn failed(self: Box<Self>, _cause: &str, _at: Instant) {}
}

/// The client span of an attempt, written when the attempt ends.
struct ClientSpan {
    shared: Arc<Shared>,
    span: SpanId,
    /// The server span: the parent.
    server: SpanContext,
    trace_state: Option<HeaderValue>,
    /// When the attempt started, by the wall clock (in nanoseconds since the Unix epoch) and by the
    /// monotonic clock.
    start: u64,
    started: Instant,
    /// The attributes known when the attempt started, encoded.
    attributes: Vec<u8>,
}

impl ClientSpan {
    fn end(self, answer: Result<u16, &str>, at: Instant) {
        let head = Head {
            trace_id: self.server.trace_id,
            span_id: self.span,
            parent: Some((self.server.span_id, false)),
            sampled: true,
            trace_state: self.trace_state.as_ref(),
            name: span::CLIENT_SPAN,
            kind: proto::KIND_CLIENT,
            start: self.start,
            end: (self.start).saturating_add(span::nanos(at.saturating_duration_since(self.started))),
        };
        self.shared.queue.submit(|buf| {
            span::head(buf, &head);
            buf.extend_from_slice(&self.attributes);
            match answer {
                Ok(code) => {
                    span::client_answer(buf, code);
                    span::client_status(buf, code);
                }
                Err(cause) => proto::error_status(buf, cause),
            }
        });
        export::recycle(self.attributes);
    }
}

impl AttemptEnd for ClientSpan {
    fn answered(self: Box<Self>, status: StatusCode, at: Instant) {
        self.end(Ok(status.as_u16()), at);
    }

    fn failed(self: Box<Self>, cause: &str, at: Instant) {
        self.end(Err(cause), at);
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
mod tests;
