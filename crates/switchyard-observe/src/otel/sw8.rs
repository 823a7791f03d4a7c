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

use super::ids::{SpanId, TraceId, ascii};
use super::propagation::SpanContext;

/// Standard base64; padding optional when reading, written when sending.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Who the proxy is to SkyWalking: the parent service and instance of the upstream calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sw8Identity {
    service: String,
    instance: String,
}

impl Sw8Identity {
    /// The identity of `service` (the tracer's `serviceName`) running as `instance`.
    pub(crate) fn new(service: &str, instance: &str) -> Self {
        Self {
            service: service.to_owned(),
            instance: instance.to_owned(),
        }
    }
}

/// The SkyWalking trace id a request came with, and the OpenTelemetry trace id it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sw8Origin {
    trace: String,
    trace_id: TraceId,
}

/// What SkyWalking calls the proxy's side of an upstream call: the endpoint (operation) it serves,
/// `GET:/path`, and the address of the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sw8Exit {
    /// The entry endpoint, `{method}:{path}`.
    pub(crate) endpoint: String,
    /// The upstream's `host:port`.
    pub(crate) target: String,
}

/// The parent an `sw8` header names, and the SkyWalking trace it belongs to.
pub(super) fn extract(value: &str) -> Option<(SpanContext, Sw8Origin)> {
    let parsed = parse(value)?;
    let parent = SpanContext {
        trace_id: parsed.trace_id,
        span_id: parsed.parent,
        sampled: parsed.sampled,
    };
    let origin = Sw8Origin {
        trace: parsed.trace,
        trace_id: parsed.trace_id,
    };
    Some((parent, origin))
}

/// The `sw8` header of an upstream call made from `span`: the incoming SkyWalking trace id when the
/// span continues it (`origin`), else the OpenTelemetry one; the span as the parent segment (span 0).
pub(super) fn header(
    identity: &Sw8Identity,
    span: SpanContext,
    origin: Option<&Sw8Origin>,
    exit: Option<&Sw8Exit>,
) -> String {
    let hex = span.trace_id.hex();
    let trace = origin
        .filter(|o| o.trace_id == span.trace_id)
        .map_or(ascii(&hex), |o| o.trace.as_str());
    let endpoint = exit.map_or("/", |e| e.endpoint.as_str());
    let target = exit.map_or("", |e| e.target.as_str());
    let sample = if span.sampled { "1" } else { "0" };
    let segment = span.span_id.hex();
    let encoded = [
        trace,
        ascii(&segment),
        &identity.service,
        &identity.instance,
        endpoint,
        target,
    ]
    .map(|field| BASE64.encode(field));
    let [trace, segment, service, instance, endpoint, target] = encoded;
    [sample, &trace, &segment, "0", &service, &instance, &endpoint, &target].join("-")
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
    let direct = (trace.len() == 32).then(|| TraceId::from_hex(trace)).flatten();
    direct.unwrap_or_else(|| TraceId(fnv1a_128(trace.as_bytes()).max(1)))
}

/// The span a SkyWalking parent (segment, span) stands for: a segment of 16 hex digits with span 0 is
/// an OpenTelemetry span id (what the proxy sends), any other pair is hashed.
fn parent_span_id(segment: &str, span: i64) -> SpanId {
    let direct = (segment.len() == 16 && span == 0)
        .then(|| SpanId::from_hex(segment))
        .flatten();
    direct.unwrap_or_else(|| {
        let key = format!("{segment}.{span}");
        SpanId(fnv1a_64(key.as_bytes()).max(1))
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

    fn identity() -> Sw8Identity {
        Sw8Identity::new("traefik", "gw")
    }

    #[test]
    fn an_agents_trace_id_is_hashed_and_sent_back_unchanged() {
        let trace = "3e5b5c4f0a1d4c0f9a8b7c6d5e4f3a2b.62.17000000000000002";
        let (parent, origin) = extract(&agent_header(trace)).expect("a valid header");
        assert!(parent.sampled);
        assert_eq!(parent.trace_id, otel_trace_id(trace));
        assert_eq!(parent.span_id, parent_span_id("a2b4c6d8e0f2.56.17000000000000001", 3));
        let child = SpanContext {
            span_id: SpanId(7),
            ..parent
        };
        let exit = Sw8Exit {
            endpoint: "GET:/checkout".into(),
            target: "10.0.0.9:8080".into(),
        };
        let sent = parse(&header(&identity(), child, Some(&origin), Some(&exit))).expect("a valid sw8 header");
        assert_eq!(sent.trace, trace);
        assert_eq!(sent.parent, SpanId(7), "the proxy's span is the parent segment, span 0");
    }

    #[test]
    fn hex_trace_ids_map_directly_and_bad_headers_are_ignored() {
        let hex = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            extract(&agent_header(hex))
                .map(|(p, _)| p.trace_id.to_string())
                .as_deref(),
            Some(hex)
        );
        for bad in [
            "",
            "1-x",
            "2-YQ==-YQ==-0-YQ==-YQ==-YQ==-YQ==",
            "1--YQ==-0-YQ==-YQ==-YQ==-YQ==",
            "1-YQ==-YQ==-x-YQ==-YQ==-YQ==-YQ==",
        ] {
            assert!(extract(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn without_an_origin_the_open_telemetry_trace_id_is_sent() {
        let span = SpanContext {
            trace_id: TraceId(0xabc),
            span_id: SpanId(9),
            sampled: false,
        };
        let sent = parse(&header(&identity(), span, None, None)).expect("a valid sw8 header");
        assert_eq!(sent.trace, "00000000000000000000000000000abc");
        assert!(!sent.sampled);
        assert_eq!(sent.trace_id, TraceId(0xabc));
    }
}
