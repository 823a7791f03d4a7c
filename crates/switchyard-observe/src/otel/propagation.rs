//! Trace context in and out of requests: the propagators `OTEL_PROPAGATORS` names (W3C
//! `tracecontext` and `baggage`, Zipkin `b3` and `b3multi`, `jaeger`, SkyWalking `sw8`), composed in
//! the order given, as OpenTelemetry's composite propagator composes them: every propagator reads the
//! request, the last that finds a parent wins, and every one writes the upstream request.
//!
//! Each format is a few header fields, read and written here with static header names and values
//! built on the stack: a propagated request costs one small allocation per header written.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::ids::{SpanId, TraceId};
use super::sw8::{self, Sw8Exit, Sw8Identity, Sw8Origin};

/// The environment variable naming the propagators, as in every OpenTelemetry SDK.
pub(super) const ENV: &str = "OTEL_PROPAGATORS";
/// The propagators without `OTEL_PROPAGATORS`.
pub(super) const DEFAULT: &str = "tracecontext,baggage";

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");
const B3: HeaderName = HeaderName::from_static("b3");
const B3_TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
const B3_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
const B3_PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
const B3_SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
const B3_FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");
const JAEGER: HeaderName = HeaderName::from_static("uber-trace-id");
const SW8: HeaderName = HeaderName::from_static("sw8");

/// A span's place in a trace, as it travels between processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) sampled: bool,
}

/// What a request's headers say about its trace.
#[derive(Debug, Clone, Default)]
pub(crate) struct Incoming {
    /// The caller's span, when a propagator found a valid one.
    pub(crate) parent: Option<SpanContext>,
    /// The W3C `tracestate` that came with a valid `traceparent`.
    pub(crate) trace_state: Option<HeaderValue>,
    /// The W3C `baggage`, passed on as it came.
    pub(crate) baggage: Option<HeaderValue>,
    /// The SkyWalking trace the request belongs to, when it came with an `sw8`.
    pub(crate) sw8: Option<Sw8Origin>,
}

/// What an upstream request is told: the span calling it (the proxy's client span), what came in,
/// and, for SkyWalking, the proxy's endpoint and the upstream's address.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub(crate) span: SpanContext,
    pub(crate) incoming: &'a Incoming,
    pub(crate) exit: Option<&'a Sw8Exit>,
}

/// A header format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Propagator {
    TraceContext,
    Baggage,
    /// B3, one `b3` header (`true`) or the `X-B3-*` ones. Both encodings are read (the single header
    /// first, as Zipkin's libraries do) and both are owned.
    B3 {
        single: bool,
    },
    Jaeger,
    Sw8(Sw8Identity),
}

impl Propagator {
    fn named(name: &str, sw8: &Sw8Identity) -> Result<Option<Self>, String> {
        Ok(Some(match name {
            "tracecontext" => Self::TraceContext,
            "baggage" => Self::Baggage,
            "b3" => Self::B3 { single: true },
            "b3multi" => Self::B3 { single: false },
            "jaeger" => Self::Jaeger,
            "sw8" => Self::Sw8(sw8.clone()),
            "none" => return Ok(None),
            other => {
                return Err(format!(
                    "unknown propagator {other:?} (known: tracecontext, baggage, b3, b3multi, jaeger, sw8, none)"
                ));
            }
        }))
    }

    /// The headers the format reads and writes.
    fn fields(&self) -> &'static [HeaderName] {
        static TRACE_CONTEXT: [HeaderName; 2] = [TRACEPARENT, TRACESTATE];
        static BAGGAGE_FIELDS: [HeaderName; 1] = [BAGGAGE];
        static B3_FIELDS: [HeaderName; 6] = [B3, B3_TRACE_ID, B3_SPAN_ID, B3_PARENT_SPAN_ID, B3_SAMPLED, B3_FLAGS];
        static JAEGER_FIELDS: [HeaderName; 1] = [JAEGER];
        static SW8_FIELDS: [HeaderName; 1] = [SW8];
        match self {
            Self::TraceContext => &TRACE_CONTEXT,
            Self::Baggage => &BAGGAGE_FIELDS,
            Self::B3 { .. } => &B3_FIELDS,
            Self::Jaeger => &JAEGER_FIELDS,
            Self::Sw8(_) => &SW8_FIELDS,
        }
    }

    /// The headers [`inject`](Self::inject) always sets, replacing whatever the request had: those need
    /// no removing first.
    fn always_written(&self) -> &'static [HeaderName] {
        static TRACE_CONTEXT: [HeaderName; 1] = [TRACEPARENT];
        static B3_SINGLE: [HeaderName; 1] = [B3];
        static B3_MULTI: [HeaderName; 3] = [B3_TRACE_ID, B3_SPAN_ID, B3_SAMPLED];
        static JAEGER_FIELDS: [HeaderName; 1] = [JAEGER];
        match self {
            Self::TraceContext => &TRACE_CONTEXT,
            Self::B3 { single: true } => &B3_SINGLE,
            Self::B3 { single: false } => &B3_MULTI,
            Self::Jaeger => &JAEGER_FIELDS,
            // `sw8` is written only when its value is valid header text.
            Self::Baggage | Self::Sw8(_) => &[],
        }
    }

    fn extract(&self, headers: &HeaderMap, into: &mut Incoming) {
        let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let parent = match self {
            Self::TraceContext => {
                let parent = text(&TRACEPARENT).and_then(traceparent);
                if parent.is_some() {
                    into.trace_state = headers.get(TRACESTATE).filter(|v| !v.is_empty()).cloned();
                }
                parent
            }
            Self::Baggage => {
                into.baggage = headers.get(BAGGAGE).filter(|v| !v.is_empty()).cloned();
                None
            }
            Self::B3 { .. } => text(&B3).map_or_else(|| b3_multiple(&text), b3_single),
            Self::Jaeger => text(&JAEGER).and_then(jaeger),
            Self::Sw8(_) => text(&SW8).and_then(sw8::extract).map(|(parent, origin)| {
                into.sw8 = Some(origin);
                parent
            }),
        };
        if parent.is_some() {
            into.parent = parent;
        }
    }

    fn inject(&self, out: &Outgoing<'_>, headers: &mut HeaderMap) {
        let span = out.span;
        let (trace, id) = (&span.trace_id.hex()[..], &span.span_id.hex()[..]);
        let flag: &[u8] = if span.sampled { b"1" } else { b"0" };
        match self {
            Self::TraceContext => {
                insert(headers, TRACEPARENT, &[b"00-", trace, b"-", id, b"-0", flag]);
                if let Some(state) = &out.incoming.trace_state {
                    headers.insert(TRACESTATE, state.clone());
                }
            }
            Self::Baggage => {
                if let Some(baggage) = &out.incoming.baggage {
                    headers.insert(BAGGAGE, baggage.clone());
                }
            }
            Self::B3 { single: true } => insert(headers, B3, &[trace, b"-", id, b"-", flag]),
            Self::B3 { single: false } => {
                insert(headers, B3_TRACE_ID, &[trace]);
                insert(headers, B3_SPAN_ID, &[id]);
                insert(headers, B3_SAMPLED, &[flag]);
            }
            Self::Jaeger => insert(headers, JAEGER, &[trace, b":", id, b":0:", flag]),
            Self::Sw8(identity) => {
                let value = sw8::header(identity, span, out.incoming.sw8.as_ref(), out.exit);
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.insert(SW8, value);
                }
            }
        }
    }
}

/// Sets `name` to the concatenation of `parts` (hex digits and separators, always a valid value of at
/// most 64 bytes).
fn insert(headers: &mut HeaderMap, name: HeaderName, parts: &[&[u8]]) {
    let mut value = [0u8; 64];
    let mut len = 0;
    for part in parts {
        value[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    if let Ok(value) = HeaderValue::from_bytes(&value[..len]) {
        headers.insert(name, value);
    }
}

/// The propagators of a tracer and the headers they own.
#[derive(Debug)]
pub(super) struct Propagation {
    propagators: Vec<Propagator>,
    /// Every header a propagator reads or writes but does not always set: removed from an upstream
    /// request before injecting, so that no client's span id reaches the upstream as if it were the
    /// proxy's. (The headers always set replace the client's.)
    stale: Vec<HeaderName>,
}

impl Propagation {
    /// The propagators `names` lists (comma-separated, as `OTEL_PROPAGATORS`); `none` adds nothing.
    pub(super) fn parse(names: &str, sw8: &Sw8Identity) -> Result<Self, String> {
        let mut propagators = Vec::new();
        for name in names.split(',').map(|n| n.trim().to_ascii_lowercase()) {
            if name.is_empty() {
                continue;
            }
            if let Some(propagator) = Propagator::named(&name, sw8)? {
                if !propagators.contains(&propagator) {
                    propagators.push(propagator);
                }
            }
        }
        let written: Vec<&HeaderName> = propagators.iter().flat_map(|p| p.always_written()).collect();
        let mut stale: Vec<HeaderName> = (propagators.iter().flat_map(|p| p.fields().iter()))
            .filter(|field| !written.contains(field))
            .cloned()
            .collect();
        stale.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        stale.dedup();
        Ok(Self { propagators, stale })
    }

    /// The propagators of `OTEL_PROPAGATORS`, the default ones when it is unset or unusable (with a
    /// warning, as Traefik's autoprop does).
    pub(super) fn from_env(sw8: &Sw8Identity) -> Self {
        let names = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty());
        let names = names.as_deref().unwrap_or(DEFAULT);
        Self::parse(names, sw8).unwrap_or_else(|reason| {
            tracing::warn!("{ENV}: {reason}; propagating {DEFAULT} instead");
            Self::parse(DEFAULT, sw8).unwrap_or_else(|_| Self {
                propagators: Vec::new(),
                stale: Vec::new(),
            })
        })
    }

    /// Whether `sw8` is among the propagators (its header names the proxy's endpoint).
    pub(super) fn has_sw8(&self) -> bool {
        self.propagators.iter().any(|p| matches!(p, Propagator::Sw8(_)))
    }

    /// What the request's headers carry.
    pub(super) fn extract(&self, headers: &HeaderMap) -> Incoming {
        let mut incoming = Incoming::default();
        for propagator in &self.propagators {
            propagator.extract(headers, &mut incoming);
        }
        incoming
    }

    /// Replaces the propagation headers of an upstream request with those of `out`.
    pub(super) fn inject(&self, out: &Outgoing<'_>, headers: &mut HeaderMap) {
        for field in &self.stale {
            headers.remove(field);
        }
        for propagator in &self.propagators {
            propagator.inject(out, headers);
        }
    }
}

/// A remote parent, when both ids are valid.
fn parent(trace: &str, span: &str, sampled: bool) -> Option<SpanContext> {
    Some(SpanContext {
        trace_id: TraceId::from_hex(trace)?,
        span_id: SpanId::from_hex(span)?,
        sampled,
    })
}

/// W3C `traceparent`: `{version}-{trace}-{span}-{flags}`, lower-case hex; a later version may add
/// fields, version `ff` is invalid.
fn traceparent(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let version = parts.next().filter(|v| v.len() == 2 && *v != "ff")?;
    let trace = parts.next().filter(|t| t.len() == 32)?;
    let span = parts.next().filter(|s| s.len() == 16)?;
    let flags = parts.next().filter(|f| f.len() == 2)?;
    if [version, trace, span, flags]
        .iter()
        .any(|p| p.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    u8::from_str_radix(version, 16).ok()?;
    parent(trace, span, flags & 1 == 1)
}

/// B3 single: `{trace}-{span}[-{sampled}[-{parent}]]`; a lone sampling state carries no ids. A
/// deferred decision (no sampled state) reads as not sampled, as in OpenTelemetry Go.
fn b3_single(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let trace = parts.next().filter(|t| matches!(t.len(), 16 | 32))?;
    let span = parts.next().filter(|s| s.len() == 16)?;
    let sampled = match parts.next() {
        None => false,
        Some("1" | "d") => true,
        Some("0") => false,
        Some(_) => return None,
    };
    if let Some(parent) = parts.next() {
        SpanId::from_hex(parent).filter(|_| parent.len() == 16)?;
    }
    if parts.next().is_some() {
        return None;
    }
    parent(trace, span, sampled)
}

/// B3 multiple: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` and the debug `X-B3-Flags`.
fn b3_multiple<'h>(text: &impl Fn(&HeaderName) -> Option<&'h str>) -> Option<SpanContext> {
    let trace = text(&B3_TRACE_ID)?.trim();
    let span = text(&B3_SPAN_ID)?.trim();
    if !matches!(trace.len(), 16 | 32) || span.len() != 16 {
        return None;
    }
    let debug = text(&B3_FLAGS).is_some_and(|f| f.trim() == "1");
    let sampled = match text(&B3_SAMPLED).map(str::trim) {
        None => false,
        Some("1" | "true" | "d") => true,
        Some("0" | "false") => false,
        Some(_) => return None,
    };
    parent(trace, span, sampled || debug)
}

/// Jaeger's `uber-trace-id: {trace}:{span}:{parent}:{flags}` (flags bit 1 sampled, bit 2 debug),
/// plain or URL-encoded (`%3A` for the colons).
fn jaeger(value: &str) -> Option<SpanContext> {
    let decoded = value.trim().replace("%3A", ":").replace("%3a", ":");
    let mut parts = decoded.split(':');
    let (trace, span, _parent) = (parts.next()?, parts.next()?, parts.next()?);
    let flags = u8::from_str_radix(parts.next()?, 16).ok()?;
    if parts.next().is_some() {
        return None;
    }
    parent(trace, span, flags & 0b11 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn parent(propagators: &str, pairs: &[(&'static str, &str)]) -> Option<SpanContext> {
        let propagation = Propagation::parse(propagators, &identity()).expect("known propagators");
        propagation.extract(&headers(pairs)).parent
    }

    fn inject(propagators: &str, sampled: bool, headers: &mut HeaderMap) {
        let span = SpanContext {
            trace_id: TraceId::from_hex(TRACE).expect("trace id"),
            span_id: SpanId(0x1111_1111_1111_1111),
            sampled,
        };
        let incoming = Incoming::default();
        let out = Outgoing {
            span,
            incoming: &incoming,
            exit: None,
        };
        Propagation::parse(propagators, &identity())
            .expect("known")
            .inject(&out, headers);
    }

    #[test]
    fn traceparent_is_read_as_w3c_writes_it() {
        let sampled = parent("tracecontext", &[("traceparent", &format!("00-{TRACE}-{SPAN}-01"))]).expect("valid");
        assert_eq!(
            (sampled.trace_id.to_string(), sampled.span_id.to_string()),
            (TRACE.into(), SPAN.into())
        );
        assert!(sampled.sampled);
        let later = format!("01-{TRACE}-{SPAN}-00-more");
        assert!(parent("tracecontext", &[("traceparent", &later)]).is_some_and(|p| !p.sampled));
        for bad in [
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{TRACE}-0000000000000000-01"),
            format!("00-{TRACE}-{SPAN}-1"),
        ] {
            assert_eq!(parent("tracecontext", &[("traceparent", &bad)]), None, "{bad}");
        }
    }

    #[test]
    fn b3_single_and_multiple_headers_give_the_remote_parent() {
        let single = parent("b3", &[("b3", &format!("{TRACE}-{SPAN}-1"))]).expect("valid");
        assert_eq!(
            (single.trace_id.to_string(), single.span_id.to_string()),
            (TRACE.into(), SPAN.into())
        );
        assert!(single.sampled);
        let short = parent(
            "b3multi",
            &[
                ("x-b3-traceid", "a3ce929d0e0e4736"),
                ("x-b3-spanid", SPAN),
                ("x-b3-sampled", "0"),
            ],
        )
        .expect("valid");
        assert_eq!(short.trace_id.to_string(), "0000000000000000a3ce929d0e0e4736");
        assert!(!short.sampled);
        let debug = parent(
            "b3multi",
            &[("x-b3-traceid", TRACE), ("x-b3-spanid", SPAN), ("x-b3-flags", "1")],
        );
        assert!(debug.expect("valid").sampled);
        assert_eq!(parent("b3", &[("b3", "1")]), None);
        assert_eq!(parent("b3", &[("b3", &format!("{TRACE}-{SPAN}-x"))]), None);
    }

    #[test]
    fn b3_writes_its_encoding_and_owns_both() {
        let mut single = headers(&[("x-b3-spanid", "2222222222222222"), ("x-b3-parentspanid", SPAN)]);
        inject("b3", true, &mut single);
        assert_eq!(single["b3"], format!("{TRACE}-1111111111111111-1").as_str());
        assert_eq!(single.len(), 1, "the client's X-B3 headers are gone: {single:?}");
        let mut multi = headers(&[("b3", "0")]);
        inject("b3multi", false, &mut multi);
        assert_eq!(multi["x-b3-traceid"], TRACE);
        assert_eq!(multi["x-b3-spanid"], "1111111111111111");
        assert_eq!(multi["x-b3-sampled"], "0");
        assert!(!multi.contains_key("b3"));
    }

    #[test]
    fn jaeger_reads_short_and_encoded_ids_and_writes_full_ones() {
        let plain = parent("jaeger", &[("uber-trace-id", &format!("{TRACE}:{SPAN}:0:1"))]).expect("valid");
        assert_eq!(plain.span_id.to_string(), SPAN);
        assert!(plain.sampled);
        let encoded = parent("jaeger", &[("uber-trace-id", "abc%3A2a%3A0%3A0")]).expect("valid");
        assert_eq!(encoded.trace_id.to_string(), "00000000000000000000000000000abc");
        assert_eq!(encoded.span_id.to_string(), "000000000000002a");
        assert!(!encoded.sampled);
        assert_eq!(parent("jaeger", &[("uber-trace-id", "0:2a:0:1")]), None);
        let mut out = HeaderMap::new();
        inject("jaeger", true, &mut out);
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
        assert_eq!(both.expect("valid").span_id.to_string(), "2222222222222222");
        assert!(Propagation::parse("tracecontext,xray", &identity()).is_err());
        let mut untouched = headers(&[("traceparent", "x")]);
        inject("none", true, &mut untouched);
        assert_eq!(untouched["traceparent"], "x");
        assert!(Propagation::parse("sw8", &identity()).expect("sw8").has_sw8());
        assert!(!Propagation::parse(DEFAULT, &identity()).expect("default").has_sw8());
    }

    #[test]
    fn tracecontext_and_baggage_replace_the_clients_headers() {
        let propagation = Propagation::parse(DEFAULT, &identity()).expect("default");
        let incoming = headers(&[
            ("traceparent", &format!("00-{TRACE}-{SPAN}-01")),
            ("tracestate", "vendor=x"),
            ("baggage", "user=alice"),
        ]);
        let extracted = propagation.extract(&incoming);
        assert_eq!(
            extracted.baggage.as_ref().map(HeaderValue::as_bytes),
            Some(&b"user=alice"[..])
        );
        let mut out = incoming.clone();
        let span = SpanContext {
            span_id: SpanId(0x1111_1111_1111_1111),
            ..extracted.parent.expect("parent")
        };
        let outgoing = Outgoing {
            span,
            incoming: &extracted,
            exit: None,
        };
        propagation.inject(&outgoing, &mut out);
        assert_eq!(out["traceparent"], format!("00-{TRACE}-1111111111111111-01").as_str());
        assert_eq!(out["tracestate"], "vendor=x");
        assert_eq!(out["baggage"], "user=alice");
        let mut bare = HeaderMap::new();
        let nothing = Incoming::default();
        propagation.inject(
            &Outgoing {
                incoming: &nothing,
                ..outgoing
            },
            &mut bare,
        );
        assert_eq!(
            bare.len(),
            1,
            "no tracestate or baggage without incoming ones: {bare:?}"
        );
    }
}
