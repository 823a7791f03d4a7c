//! The label sets of the request series, and how an exchange gives their values.
//!
//! Label values on the hot path are borrowed or shared: methods and protocols are `&'static str`,
//! codes are numbers formatted only when scraped, entrypoint, router and service names are the
//! exchange's `Arc<str>`s. Labels are written in the order Traefik documents them (`code`, `method`,
//! `protocol`, then what is measured, then the header labels); Prometheus gives the order no meaning.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder};

use crate::Exchange;

/// The methods Traefik keeps as they are; any other is `EXTENSION_METHOD`.
const KNOWN_METHODS: [&str; 10] = [
    "HEAD", "GET", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI",
];

/// gRPC's `UNKNOWN`, Traefik's code for a gRPC answer whose `grpc-status` cannot be read.
const GRPC_UNKNOWN: u16 = 2;

/// The highest gRPC status code (`UNAUTHENTICATED`).
const GRPC_MAX: u16 = 16;

/// Writes one `key="value"` label.
pub(super) fn label(encoder: &mut LabelSetEncoder<'_>, key: &str, value: impl EncodeLabelValue) -> fmt::Result {
    (key, value).encode(encoder.encode_label())
}

/// A status code as a label value (`code="200"`), formatted only when scraped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Code(pub(super) u16);

impl EncodeLabelValue for Code {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        write!(encoder, "{}", self.0)
    }
}

/// The `method` label: the method when it is a common one, `EXTENSION_METHOD` otherwise, so that
/// clients cannot grow the series without bound.
pub(super) fn method(method: &Method) -> &'static str {
    if *method == Method::GET {
        return "GET";
    }
    KNOWN_METHODS
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("EXTENSION_METHOD")
}

/// The `code` label: the HTTP status, or for gRPC the `grpc-status` of the response's head when it
/// was kept and carries one (an unreadable one is `2`, `UNKNOWN`).
pub(super) fn code(exchange: &Exchange, protocol: &str) -> Code {
    let http = Code(exchange.status.as_u16());
    if !matches!(protocol, "grpc" | "grpc-web") {
        return http;
    }
    let status = exchange.response_headers.as_ref().and_then(|h| h.get("grpc-status"));
    status.map_or(http, |value| Code(grpc_code(value)))
}

fn grpc_code(value: &HeaderValue) -> u16 {
    value
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|code| *code <= GRPC_MAX)
        .unwrap_or(GRPC_UNKNOWN)
}

/// The labels of a request series: `code`, `method`, `protocol`, then what is measured (`S`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RequestLabels<S> {
    pub(super) code: Code,
    pub(super) method: &'static str,
    pub(super) protocol: &'static str,
    pub(super) scope: S,
}

impl<S: EncodeLabelSet> EncodeLabelSet for RequestLabels<S> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        label(encoder, "code", self.code)?;
        label(encoder, "method", self.method)?;
        label(encoder, "protocol", self.protocol)?;
        self.scope.encode(encoder)
    }
}

/// The labels of a TLS series: `tls_version`, `tls_cipher`, then what is measured (`S`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TlsLabels<S> {
    pub(super) version: &'static str,
    pub(super) cipher: &'static str,
    pub(super) scope: S,
}

impl<S: EncodeLabelSet> EncodeLabelSet for TlsLabels<S> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        label(encoder, "tls_version", self.version)?;
        label(encoder, "tls_cipher", self.cipher)?;
        self.scope.encode(encoder)
    }
}

/// An entrypoint's series: `entrypoint`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct EntryPointScope {
    pub(super) entrypoint: Arc<str>,
}

impl EncodeLabelSet for EntryPointScope {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        label(encoder, "entrypoint", &*self.entrypoint)
    }
}

/// A router's series: `router` and the `service` it leads to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RouterScope {
    pub(super) router: Arc<str>,
    pub(super) service: Arc<str>,
}

impl EncodeLabelSet for RouterScope {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        label(encoder, "router", &*self.router)?;
        label(encoder, "service", &*self.service)
    }
}

/// A service's series: `service`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ServiceScope {
    pub(super) service: Arc<str>,
}

impl EncodeLabelSet for ServiceScope {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        label(encoder, "service", &*self.service)
    }
}

/// One `headerLabels` entry: the label and the request header that gives its value.
#[derive(Debug, Clone)]
pub(super) struct HeaderLabel {
    pub(super) label: String,
    pub(super) header: HeaderName,
}

/// The `headerLabels` values of one label set, in the configuration's order; a missing header is an
/// empty value, as in Traefik. Without `headerLabels` it is empty and costs no allocation.
#[derive(Debug, Clone)]
pub(super) struct HeaderLabelValues {
    labels: Arc<[HeaderLabel]>,
    values: Box<[Option<HeaderValue>]>,
}

impl HeaderLabelValues {
    /// The `values` of the `labels`.
    pub(super) fn new(labels: &Arc<[HeaderLabel]>, values: &[Option<HeaderValue>]) -> Self {
        Self {
            labels: Arc::clone(labels),
            values: values.into(),
        }
    }

    /// The values `headers` give the `labels`.
    pub(super) fn values_of(labels: &[HeaderLabel], headers: Option<&HeaderMap>) -> Box<[Option<HeaderValue>]> {
        labels
            .iter()
            .map(|l| headers.and_then(|h| h.get(&l.header)).cloned())
            .collect()
    }
}

// The labels are the same for every value set of one registry: only the values tell sets apart.
impl PartialEq for HeaderLabelValues {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}

impl Eq for HeaderLabelValues {}

impl Hash for HeaderLabelValues {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.values.hash(state);
    }
}

impl EncodeLabelSet for HeaderLabelValues {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        for (header_label, value) in self.labels.iter().zip(self.values.iter()) {
            let text = value.as_ref().map(|v| String::from_utf8_lossy(v.as_bytes()));
            label(encoder, &header_label.label, text.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}
