//! Trace context in and out of requests: the propagators `OTEL_PROPAGATORS` names (W3C
//! `tracecontext` and `baggage`, Zipkin `b3` and `b3multi`, `jaeger`, SkyWalking `sw8`), composed in
//! the order given.
//!
//! W3C propagation is opentelemetry's own; B3 and Jaeger are small header formats written here (the
//! crates that carry them, `opentelemetry-zipkin` and `opentelemetry-jaeger-propagator`, either bring a
//! whole exporter or lag the `opentelemetry` release), and `sw8` lives in [`super::sw8`].

use http::{HeaderMap, HeaderName};
use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use super::sw8::{Sw8Identity, Sw8Propagator};

/// The environment variable naming the propagators, as in every OpenTelemetry SDK.
pub(super) const ENV: &str = "OTEL_PROPAGATORS";
/// The propagators without `OTEL_PROPAGATORS`.
pub(super) const DEFAULT: &str = "tracecontext,baggage";

/// The propagators of a tracer and the headers they own.
#[derive(Debug)]
pub(super) struct Propagation {
    composite: TextMapCompositePropagator,
    /// Every header a propagator reads or writes: removed from an upstream request before injecting,
    /// so that no client's span id reaches the upstream as if it were the proxy's.
    fields: Vec<HeaderName>,
}

impl Propagation {
    /// The propagators `names` lists (comma-separated, as `OTEL_PROPAGATORS`); `none` adds nothing.
    pub(super) fn parse(names: &str, sw8: &Sw8Identity) -> Result<Self, String> {
        let mut seen = Vec::new();
        let mut propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
        for name in names.split(',').map(|n| n.trim().to_ascii_lowercase()) {
            if name.is_empty() || seen.contains(&name) {
                continue;
            }
            if let Some(propagator) = propagator(&name, sw8)? {
                propagators.push(propagator);
            }
            seen.push(name);
        }
        Ok(Self::of(propagators))
    }

    /// The propagators of `OTEL_PROPAGATORS`, the default ones when it is unset or unusable (with a
    /// warning, as Traefik's autoprop does).
    pub(super) fn from_env(sw8: &Sw8Identity) -> Self {
        let names = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty());
        let names = names.as_deref().unwrap_or(DEFAULT);
        Self::parse(names, sw8).unwrap_or_else(|reason| {
            tracing::warn!("{ENV}: {reason}; propagating {DEFAULT} instead");
            Self::parse(DEFAULT, sw8).unwrap_or_else(|_| Self::of(Vec::new()))
        })
    }

    fn of(propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>>) -> Self {
        let composite = TextMapCompositePropagator::new(propagators);
        let mut fields: Vec<HeaderName> = composite
            .fields()
            .filter_map(|f| HeaderName::try_from(f).ok())
            .collect();
        fields.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Self { composite, fields }
    }

    /// The context the request's headers carry (an empty one without any).
    pub(super) fn extract(&self, headers: &HeaderMap) -> Context {
        self.composite
            .extract_with_context(&Context::new(), &HeaderExtractor(headers))
    }

    /// Replaces the propagation headers of an upstream request with those of `cx`.
    pub(super) fn inject(&self, cx: &Context, headers: &mut HeaderMap) {
        for field in &self.fields {
            headers.remove(field);
        }
        self.composite.inject_context(cx, &mut HeaderInjector(headers));
    }
}

fn propagator(name: &str, sw8: &Sw8Identity) -> Result<Option<Box<dyn TextMapPropagator + Send + Sync>>, String> {
    Ok(Some(match name {
        "tracecontext" => Box::new(TraceContextPropagator::new()),
        "baggage" => Box::new(BaggagePropagator::new()),
        "b3" => Box::new(B3Propagator::new(B3Encoding::Single)),
        "b3multi" => Box::new(B3Propagator::new(B3Encoding::Multiple)),
        "jaeger" => Box::new(JaegerPropagator::new()),
        "sw8" => Box::new(Sw8Propagator::new(sw8.clone())),
        "none" => return Ok(None),
        other => {
            return Err(format!(
                "unknown propagator {other:?} (known: tracecontext, baggage, b3, b3multi, jaeger, sw8, none)"
            ));
        }
    }))
}

/// The context `cx` with a remote parent, when the ids are valid.
pub(super) fn with_remote_parent(cx: &Context, trace_id: TraceId, span_id: SpanId, sampled: bool) -> Context {
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return cx.clone();
    }
    let flags = TraceFlags::default().with_sampled(sampled);
    let parent = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    cx.with_remote_span_context(parent)
}

/// A trace id of 1 to 32 hex digits, zero-padded on the left (Zipkin's and Jaeger's 64-bit ids).
pub(super) fn trace_id(hex: &str) -> Option<TraceId> {
    is_hex(hex, 32).then(|| TraceId::from_hex(hex).ok()).flatten()
}

/// A span id of 1 to 16 hex digits.
pub(super) fn span_id(hex: &str) -> Option<SpanId> {
    is_hex(hex, 16).then(|| SpanId::from_hex(hex).ok()).flatten()
}

fn is_hex(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How a B3 propagator writes: one `b3` header or the `X-B3-*` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum B3Encoding {
    /// `b3: {trace}-{span}-{sampled}`.
    Single,
    /// `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`.
    Multiple,
}

const B3: &str = "b3";
const B3_TRACE_ID: &str = "x-b3-traceid";
const B3_SPAN_ID: &str = "x-b3-spanid";
const B3_PARENT_SPAN_ID: &str = "x-b3-parentspanid";
const B3_SAMPLED: &str = "x-b3-sampled";
const B3_FLAGS: &str = "x-b3-flags";

/// Zipkin's B3 propagation. Both encodings are read (the single header first, as Zipkin's libraries
/// do) and both are owned, so that a client's B3 headers never reach the upstream next to the proxy's.
/// A deferred sampling decision (no sampled state) reads as not sampled, as in OpenTelemetry Go.
#[derive(Debug)]
pub(super) struct B3Propagator {
    encoding: B3Encoding,
    fields: Vec<String>,
}

impl B3Propagator {
    pub(super) fn new(encoding: B3Encoding) -> Self {
        let fields = [B3, B3_TRACE_ID, B3_SPAN_ID, B3_PARENT_SPAN_ID, B3_SAMPLED, B3_FLAGS];
        Self {
            encoding,
            fields: fields.map(str::to_owned).to_vec(),
        }
    }
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        let sampled = if sc.is_sampled() { "1" } else { "0" };
        match self.encoding {
            B3Encoding::Single => {
                injector.set(B3, format!("{}-{}-{sampled}", sc.trace_id(), sc.span_id()));
            }
            B3Encoding::Multiple => {
                injector.set(B3_TRACE_ID, sc.trace_id().to_string());
                injector.set(B3_SPAN_ID, sc.span_id().to_string());
                injector.set(B3_SAMPLED, sampled.to_owned());
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let ids = match extractor.get(B3) {
            Some(single) => b3_single(single),
            None => b3_multiple(extractor),
        };
        ids.map_or_else(|| cx.clone(), |(t, s, sampled)| with_remote_parent(cx, t, s, sampled))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// `{trace}-{span}[-{sampled}[-{parent}]]`; a lone sampling state carries no ids.
fn b3_single(value: &str) -> Option<(TraceId, SpanId, bool)> {
    let mut parts = value.trim().split('-');
    let trace = b3_trace_id(parts.next()?)?;
    let span = b3_span_id(parts.next()?)?;
    let sampled = match parts.next() {
        None => false,
        Some(state) => b3_sampled(state)?,
    };
    if let Some(parent) = parts.next() {
        b3_span_id(parent)?;
    }
    parts.next().is_none().then_some((trace, span, sampled))
}

fn b3_multiple(extractor: &dyn Extractor) -> Option<(TraceId, SpanId, bool)> {
    let trace = b3_trace_id(extractor.get(B3_TRACE_ID)?.trim())?;
    let span = b3_span_id(extractor.get(B3_SPAN_ID)?.trim())?;
    let debug = extractor.get(B3_FLAGS).is_some_and(|f| f.trim() == "1");
    let sampled = match extractor.get(B3_SAMPLED).map(str::trim) {
        None => false,
        Some("1" | "true" | "d") => true,
        Some("0" | "false") => false,
        Some(_) => return None,
    };
    Some((trace, span, sampled || debug))
}

/// B3 trace ids are 16 or 32 hex digits.
fn b3_trace_id(hex: &str) -> Option<TraceId> {
    matches!(hex.len(), 16 | 32).then(|| trace_id(hex)).flatten()
}

fn b3_span_id(hex: &str) -> Option<SpanId> {
    (hex.len() == 16).then(|| span_id(hex)).flatten()
}

fn b3_sampled(state: &str) -> Option<bool> {
    match state {
        "1" | "d" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

const JAEGER: &str = "uber-trace-id";

/// Jaeger's `uber-trace-id: {trace}:{span}:{parent}:{flags}` (flags bit 1 sampled, bit 2 debug).
#[derive(Debug)]
pub(super) struct JaegerPropagator {
    fields: Vec<String>,
}

impl JaegerPropagator {
    pub(super) fn new() -> Self {
        Self {
            fields: vec![JAEGER.to_owned()],
        }
    }
}

impl TextMapPropagator for JaegerPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            let flags = u8::from(sc.is_sampled());
            injector.set(JAEGER, format!("{}:{}:0:{flags}", sc.trace_id(), sc.span_id()));
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let ids = extractor.get(JAEGER).and_then(jaeger_ids);
        ids.map_or_else(|| cx.clone(), |(t, s, sampled)| with_remote_parent(cx, t, s, sampled))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// The ids of an `uber-trace-id`, plain or URL-encoded (`%3A` for the colons).
fn jaeger_ids(value: &str) -> Option<(TraceId, SpanId, bool)> {
    let decoded = value.trim().replace("%3A", ":").replace("%3a", ":");
    let mut parts = decoded.split(':');
    let trace = trace_id(parts.next()?)?;
    let span = span_id(parts.next()?)?;
    let _parent = parts.next()?;
    let flags = u8::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().is_none().then_some((trace, span, flags & 0b11 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use opentelemetry::baggage::BaggageExt;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn identity() -> Sw8Identity {
        Sw8Identity::new("traefik", "gw-1")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("test header"));
        }
        map
    }

    fn parent(propagators: &str, pairs: &[(&'static str, &str)]) -> SpanContext {
        let propagation = Propagation::parse(propagators, &identity()).expect("known propagators");
        propagation.extract(&headers(pairs)).span().span_context().clone()
    }

    fn child(sampled: bool) -> Context {
        let flags = TraceFlags::default().with_sampled(sampled);
        let trace = TraceId::from_hex(TRACE).expect("trace id");
        let span = SpanId::from_hex("1111111111111111").expect("span id");
        Context::new().with_remote_span_context(SpanContext::new(trace, span, flags, false, TraceState::default()))
    }

    #[test]
    fn b3_single_and_multiple_headers_give_the_remote_parent() {
        let single = parent("b3", &[("b3", &format!("{TRACE}-{SPAN}-1"))]);
        assert_eq!(
            (single.trace_id().to_string(), single.span_id().to_string()),
            (TRACE.into(), SPAN.into())
        );
        assert!(single.is_sampled() && single.is_remote());
        let short = parent(
            "b3multi",
            &[
                ("x-b3-traceid", "a3ce929d0e0e4736"),
                ("x-b3-spanid", SPAN),
                ("x-b3-sampled", "0"),
            ],
        );
        assert_eq!(short.trace_id().to_string(), "0000000000000000a3ce929d0e0e4736");
        assert!(!short.is_sampled());
        let debug = parent(
            "b3multi",
            &[("x-b3-traceid", TRACE), ("x-b3-spanid", SPAN), ("x-b3-flags", "1")],
        );
        assert!(debug.is_sampled());
        assert!(!parent("b3", &[("b3", "1")]).is_valid());
        assert!(!parent("b3", &[("b3", &format!("{TRACE}-{SPAN}-x"))]).is_valid());
    }

    #[test]
    fn b3_writes_its_encoding_and_owns_both() {
        let mut single = headers(&[("x-b3-spanid", "2222222222222222"), ("x-b3-parentspanid", SPAN)]);
        Propagation::parse("b3", &identity())
            .expect("b3")
            .inject(&child(true), &mut single);
        assert_eq!(single["b3"], format!("{TRACE}-1111111111111111-1").as_str());
        assert_eq!(single.len(), 1, "the client's X-B3 headers are gone: {single:?}");
        let mut multi = headers(&[("b3", "0")]);
        Propagation::parse("b3multi", &identity())
            .expect("b3multi")
            .inject(&child(false), &mut multi);
        assert_eq!(multi["x-b3-traceid"], TRACE);
        assert_eq!(multi["x-b3-spanid"], "1111111111111111");
        assert_eq!(multi["x-b3-sampled"], "0");
        assert!(!multi.contains_key("b3"));
    }

    #[test]
    fn jaeger_reads_short_and_encoded_ids_and_writes_full_ones() {
        let plain = parent("jaeger", &[("uber-trace-id", &format!("{TRACE}:{SPAN}:0:1"))]);
        assert_eq!(plain.span_id().to_string(), SPAN);
        assert!(plain.is_sampled());
        let encoded = parent("jaeger", &[("uber-trace-id", "abc%3A2a%3A0%3A0")]);
        assert_eq!(encoded.trace_id().to_string(), "00000000000000000000000000000abc");
        assert_eq!(encoded.span_id().to_string(), "000000000000002a");
        assert!(!encoded.is_sampled());
        assert!(!parent("jaeger", &[("uber-trace-id", "0:2a:0:1")]).is_valid());
        let mut out = HeaderMap::new();
        Propagation::parse("jaeger", &identity())
            .expect("jaeger")
            .inject(&child(true), &mut out);
        assert_eq!(out["uber-trace-id"], format!("{TRACE}:1111111111111111:0:1").as_str());
    }

    #[test]
    fn the_last_propagator_with_a_context_wins_and_names_are_checked() {
        let both = parent(
            "tracecontext, b3",
            &[
                ("traceparent", &format!("00-{TRACE}-{SPAN}-01")),
                ("b3", &format!("{TRACE}-2222222222222222-1")),
            ],
        );
        assert_eq!(both.span_id().to_string(), "2222222222222222");
        assert!(Propagation::parse("tracecontext,xray", &identity()).is_err());
        let none = Propagation::parse("none", &identity()).expect("none");
        let mut untouched = headers(&[("traceparent", "x")]);
        none.inject(&child(true), &mut untouched);
        assert_eq!(untouched["traceparent"], "x");
    }

    #[test]
    fn tracecontext_and_baggage_replace_the_clients_headers() {
        let propagation = Propagation::parse(DEFAULT, &identity()).expect("default");
        let incoming = headers(&[
            ("traceparent", &format!("00-{TRACE}-{SPAN}-01")),
            ("baggage", "user=alice"),
        ]);
        let cx = propagation.extract(&incoming);
        assert_eq!(
            cx.baggage().get("user").map(ToString::to_string).as_deref(),
            Some("alice")
        );
        let mut out = incoming.clone();
        let span = child(true).span().span_context().clone();
        propagation.inject(&cx.with_remote_span_context(span), &mut out);
        assert_eq!(out["traceparent"], format!("00-{TRACE}-1111111111111111-01").as_str());
        assert_eq!(out["baggage"], "user=alice");
    }
}
