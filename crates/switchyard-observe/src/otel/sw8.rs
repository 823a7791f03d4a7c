//! SkyWalking's cross-process header, `sw8` (protocol v3): eight `-`-separated fields, the sample flag,
//! the base64 trace id, the base64 parent segment id, the parent span id, and the base64 parent
//! service, service instance, endpoint and target address.
//!
//! SkyWalking trace ids are free-form strings; OpenTelemetry's are 128 bits. An id of 32 hex digits is
//! read as such, any other is hashed (FNV-1a, so every gateway maps it alike), and the original string
//! is kept in the context: the `sw8` sent upstream carries the client's trace id unchanged, so that a
//! request from a SkyWalking agent goes on in the same trace. The proxy's client span is the parent
//! segment of the upstream call (its id, as 16 hex digits, with span 0), which maps back to that span
//! when the upstream calls in again.

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};

use super::propagation::{span_id, trace_id, with_remote_parent};

const SW8: &str = "sw8";

/// Standard base64; padding optional when reading, written when sending.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Who the proxy is to SkyWalking: the parent service and instance of the upstream calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sw8Identity {
    service: String,
    instance: String,
}

impl Sw8Identity {
    /// The identity of `service` (the tracer's `serviceName`) running as `instance`.
    pub(super) fn new(service: &str, instance: &str) -> Self {
        Self {
            service: service.to_owned(),
            instance: instance.to_owned(),
        }
    }
}

/// The SkyWalking trace id a request came with, and the OpenTelemetry trace id it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sw8Origin {
    trace: String,
    trace_id: TraceId,
}

/// What SkyWalking calls the proxy's side of an upstream call: the endpoint (operation) it serves,
/// `GET:/path`, and the address of the upstream. Put in the context of each attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sw8Exit {
    /// The entry endpoint, `{method}:{path}`.
    pub(super) endpoint: String,
    /// The upstream's `host:port`.
    pub(super) target: String,
}

/// The `sw8` propagator.
#[derive(Debug)]
pub(super) struct Sw8Propagator {
    identity: Sw8Identity,
    fields: Vec<String>,
}

impl Sw8Propagator {
    pub(super) fn new(identity: Sw8Identity) -> Self {
        Self {
            identity,
            fields: vec![SW8.to_owned()],
        }
    }

    fn header(&self, cx: &Context) -> Option<String> {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return None;
        }
        let origin = cx.get::<Sw8Origin>().filter(|o| o.trace_id == sc.trace_id());
        let trace = origin.map_or_else(|| sc.trace_id().to_string(), |o| o.trace.clone());
        let exit = cx.get::<Sw8Exit>();
        let endpoint = exit.map_or("/", |e| e.endpoint.as_str());
        let target = exit.map_or("", |e| e.target.as_str());
        let sample = if sc.is_sampled() { "1" } else { "0" };
        let segment = sc.span_id().to_string();
        let encoded = [
            trace.as_str(),
            &segment,
            &self.identity.service,
            &self.identity.instance,
            endpoint,
            target,
        ]
        .map(|field| BASE64.encode(field));
        let [trace, segment, service, instance, endpoint, target] = encoded;
        Some([sample, &trace, &segment, "0", &service, &instance, &endpoint, &target].join("-"))
    }
}

impl TextMapPropagator for Sw8Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if let Some(header) = self.header(cx) {
            injector.set(SW8, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(parsed) = extractor.get(SW8).and_then(parse) else {
            return cx.clone();
        };
        let origin = Sw8Origin {
            trace: parsed.trace,
            trace_id: parsed.trace_id,
        };
        with_remote_parent(cx, parsed.trace_id, parsed.parent, parsed.sampled).with_value(origin)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// An `sw8` header, read.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    sampled: bool,
    trace: String,
    trace_id: TraceId,
    parent: SpanId,
}

fn parse(value: &str) -> Option<Parsed> {
    let fields: Vec<&str> = value.trim().split('-').collect();
    let [sample, trace, segment, span, service, instance, endpoint, target] = fields.as_slice() else {
        return None;
    };
    let sampled = match *sample {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let span: i64 = span.parse().ok()?;
    for field in [service, instance, endpoint, target] {
        decode(field)?;
    }
    let trace = decode(trace).filter(|t| !t.is_empty())?;
    let segment = decode(segment).filter(|s| !s.is_empty())?;
    Some(Parsed {
        sampled,
        trace_id: otel_trace_id(&trace),
        parent: parent_span_id(&segment, span),
        trace,
    })
}

fn decode(field: &str) -> Option<String> {
    String::from_utf8(BASE64.decode(field).ok()?).ok()
}

/// A SkyWalking trace id as an OpenTelemetry one: itself when it is 32 hex digits, else its hash.
fn otel_trace_id(trace: &str) -> TraceId {
    let direct = (trace.len() == 32).then(|| trace_id(trace)).flatten();
    direct
        .filter(|id| *id != TraceId::INVALID)
        .unwrap_or_else(|| TraceId::from(fnv1a_128(trace.as_bytes()).max(1)))
}

/// The span a SkyWalking parent (segment, span) stands for: a segment of 16 hex digits with span 0 is
/// an OpenTelemetry span id (what the proxy sends), any other pair is hashed.
fn parent_span_id(segment: &str, span: i64) -> SpanId {
    let direct = (segment.len() == 16 && span == 0).then(|| span_id(segment)).flatten();
    direct.filter(|id| *id != SpanId::INVALID).unwrap_or_else(|| {
        let key = format!("{segment}.{span}");
        SpanId::from(fnv1a_64(key.as_bytes()).max(1))
    })
}

fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes
        .iter()
        .fold(OFFSET, |hash, b| (hash ^ u128::from(*b)).wrapping_mul(PRIME))
}

fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};

    /// A header as a SkyWalking Java agent sends it.
    fn agent_header(trace: &str) -> String {
        let b = |s: &str| BASE64.encode(s);
        let fields = [
            "1".to_owned(),
            b(trace),
            b("a2b4c6d8e0f2.56.17000000000000001"),
            "3".to_owned(),
            b("frontend"),
            b("frontend-7d9f@10.0.0.3"),
            b("/checkout"),
            b("gateway:80"),
        ];
        fields.join("-")
    }

    fn extract(header: &str) -> Context {
        struct One<'a>(&'a str);
        impl Extractor for One<'_> {
            fn get(&self, key: &str) -> Option<&str> {
                (key == SW8).then_some(self.0)
            }
            fn keys(&self) -> Vec<&str> {
                vec![SW8]
            }
        }
        Sw8Propagator::new(Sw8Identity::new("traefik", "gw")).extract_with_context(&Context::new(), &One(header))
    }

    fn inject(cx: &Context) -> Parsed {
        let mut out = std::collections::HashMap::new();
        Sw8Propagator::new(Sw8Identity::new("traefik", "gw")).inject_context(cx, &mut out);
        parse(&out[SW8]).expect("a valid sw8 header")
    }

    #[test]
    fn an_agents_trace_id_is_hashed_and_sent_back_unchanged() {
        let trace = "3e5b5c4f0a1d4c0f9a8b7c6d5e4f3a2b.62.17000000000000002";
        let cx = extract(&agent_header(trace));
        let parent = cx.span().span_context().clone();
        assert!(parent.is_valid() && parent.is_sampled() && parent.is_remote());
        assert_eq!(parent.trace_id(), otel_trace_id(trace));
        assert_eq!(parent.span_id(), parent_span_id("a2b4c6d8e0f2.56.17000000000000001", 3));
        let flags = TraceFlags::SAMPLED;
        let child = SpanContext::new(parent.trace_id(), SpanId::from(7), flags, false, TraceState::default());
        let exit = Sw8Exit {
            endpoint: "GET:/checkout".into(),
            target: "10.0.0.9:8080".into(),
        };
        let sent = inject(&cx.with_remote_span_context(child).with_value(exit));
        assert_eq!(sent.trace, trace);
        assert_eq!(
            sent.parent,
            SpanId::from(7),
            "the proxy's span is the parent segment, span 0"
        );
    }

    #[test]
    fn hex_trace_ids_map_directly_and_bad_headers_are_ignored() {
        let hex = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            extract(&agent_header(hex)).span().span_context().trace_id().to_string(),
            hex
        );
        for bad in [
            "",
            "1-x",
            "2-YQ==-YQ==-0-YQ==-YQ==-YQ==-YQ==",
            "1--YQ==-0-YQ==-YQ==-YQ==-YQ==",
            "1-YQ==-YQ==-x-YQ==-YQ==-YQ==-YQ==",
        ] {
            assert!(!extract(bad).span().span_context().is_valid(), "{bad:?}");
        }
    }

    #[test]
    fn without_an_origin_the_open_telemetry_trace_id_is_sent() {
        let sc = SpanContext::new(
            TraceId::from(0xabc_u128),
            SpanId::from(9),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        let sent = inject(&Context::new().with_remote_span_context(sc));
        assert_eq!(sent.trace, "00000000000000000000000000000abc");
        assert!(!sent.sampled);
        assert_eq!(sent.trace_id, TraceId::from(0xabc_u128));
    }
}
