//! `tracing.otlp` and `metrics.otlp`, kept raw by the configuration crate, read as Traefik reads them:
//! `grpc` (which wins when both are set) or `http`, each with its endpoint, headers and client TLS.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use switchyard_config::ClientTls;

use crate::ObserveError;

/// Traefik's collector when `tracing.otlp` is absent: OTLP over HTTP, with TLS, on localhost. The Go
/// exporter adds `/v1/traces` to an endpoint without a path.
const DEFAULT_HTTP_ENDPOINT: &str = "https://localhost:4318";
/// The gRPC collector of `tracing.otlp.grpc` without an endpoint.
const DEFAULT_GRPC_ENDPOINT: &str = "localhost:4317";

/// What a collector receives: spans (`tracing.otlp`) or metrics (`metrics.otlp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    #[cfg_attr(
        not(feature = "metrics"),
        allow(dead_code, reason = "metrics.otlp needs the `metrics` feature; the tests use it")
    )]
    Metrics,
}

impl Signal {
    /// The section's key path.
    fn section(self) -> &'static str {
        match self {
            Self::Traces => "tracing.otlp",
            Self::Metrics => "metrics.otlp",
        }
    }

    fn grpc_key(self) -> &'static str {
        match self {
            Self::Traces => "tracing.otlp.grpc",
            Self::Metrics => "metrics.otlp.grpc",
        }
    }

    fn http_key(self) -> &'static str {
        match self {
            Self::Traces => "tracing.otlp.http",
            Self::Metrics => "metrics.otlp.http",
        }
    }

    /// The path an HTTP endpoint without one posts to.
    fn path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Metrics => "/v1/metrics",
        }
    }

    /// The options of the section besides `grpc` and `http`.
    fn options(self) -> &'static [&'static str] {
        match self {
            Self::Traces => &[],
            Self::Metrics => &[
                "addEntryPointsLabels",
                "addRoutersLabels",
                "addServicesLabels",
                "explicitBoundaries",
                "pushInterval",
                "serviceName",
                "resourceAttributes",
            ],
        }
    }
}

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Collector {
    /// gRPC or HTTP/protobuf.
    pub(super) transport: Transport,
    /// The URI the exporter connects to: `http(s)://host:port` for gRPC, the full URL for HTTP.
    pub(super) endpoint: String,
    /// Headers sent with every export.
    pub(super) headers: BTreeMap<String, String>,
    /// Client TLS; `None` for the system's roots (or no TLS for a plain endpoint).
    pub(super) tls: Option<ClientTls>,
    /// The option path errors name (`tracing.otlp.grpc`).
    pub(super) key: &'static str,
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    /// OTLP/gRPC (tonic).
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    Http,
}

/// `tracing.otlp.grpc`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct GrpcSection {
    endpoint: Option<String>,
    insecure: bool,
    headers: BTreeMap<String, String>,
    tls: Option<ClientTls>,
}

/// `tracing.otlp.http`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct HttpSection {
    endpoint: Option<String>,
    headers: BTreeMap<String, String>,
    tls: Option<ClientTls>,
}

/// The collector `tracing.otlp` (or `metrics.otlp`, by `signal`) names, Traefik's default one
/// without it.
pub(crate) fn collector(otlp: Option<&Value>, signal: Signal) -> Result<Collector, ObserveError> {
    let Some(otlp) = otlp.filter(|v| !v.is_null()) else {
        return http_collector(HttpSection::default(), signal);
    };
    let Value::Object(map) = otlp else {
        return Err(invalid(signal.section(), "expected a `grpc` or `http` section"));
    };
    let known = |k: &str| matches!(k, "grpc" | "http") || signal.options().contains(&k);
    if let Some(unknown) = map.keys().find(|k| !known(k)) {
        return Err(invalid(signal.section(), format!("unknown option `{unknown}`")));
    }
    if let Some(grpc) = section::<GrpcSection>(map.get("grpc"), signal.grpc_key())? {
        return grpc_collector(grpc, signal);
    }
    let http = section::<HttpSection>(map.get("http"), signal.http_key())?;
    http_collector(http.unwrap_or_default(), signal)
}

/// A section that may be written empty (`grpc: {}`, `grpc:`, `--tracing.otlp.grpc=true`).
fn section<T: Default + for<'de> Deserialize<'de>>(
    value: Option<&Value>,
    key: &'static str,
) -> Result<Option<T>, ObserveError> {
    match value {
        None | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Null | Value::Bool(true)) => Ok(Some(T::default())),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(T::default())),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(|e| invalid(key, e.to_string())),
    }
}

fn grpc_collector(grpc: GrpcSection, signal: Signal) -> Result<Collector, ObserveError> {
    let key = signal.grpc_key();
    let endpoint = grpc.endpoint.filter(|e| !e.is_empty());
    let address = endpoint.as_deref().unwrap_or(DEFAULT_GRPC_ENDPOINT);
    check_host_port(address).map_err(|reason| invalid(&format!("{key}.endpoint"), reason))?;
    // As in Traefik, TLS settings win over `insecure`; without either the connection is TLS.
    let plain = grpc.insecure && grpc.tls.is_none();
    let scheme = if plain { "http" } else { "https" };
    Ok(Collector {
        transport: Transport::Grpc,
        endpoint: format!("{scheme}://{address}"),
        headers: grpc.headers,
        tls: grpc.tls,
        key,
    })
}

fn http_collector(http: HttpSection, signal: Signal) -> Result<Collector, ObserveError> {
    let key = signal.http_key();
    let endpoint = http.endpoint.filter(|e| !e.is_empty());
    let url = endpoint.as_deref().unwrap_or(DEFAULT_HTTP_ENDPOINT);
    let endpoint = http_url(url, signal.path()).map_err(|reason| invalid(&format!("{key}.endpoint"), reason))?;
    Ok(Collector {
        transport: Transport::Http,
        endpoint,
        headers: http.headers,
        tls: http.tls,
        key,
    })
}

/// A gRPC endpoint is `host:port`, as Go's `net.SplitHostPort` reads it.
fn check_host_port(address: &str) -> Result<(), String> {
    let bad = || format!("expected host:port, got {address:?}");
    let (host, port) = match address.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").ok_or_else(bad)?,
        None => address.rsplit_once(':').ok_or_else(bad)?,
    };
    if host.contains(['/', '[', ']']) || (!address.starts_with('[') && host.contains(':')) {
        return Err(bad());
    }
    port.parse::<u16>().map(drop).map_err(|_| bad())
}

/// An HTTP endpoint `scheme://host:port[/path]`; without a path, the exporter posts to
/// `default_path` (`/v1/traces`, `/v1/metrics`).
fn http_url(url: &str, default_path: &str) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("expected scheme://host:port/path, got {url:?}"))?;
    if !matches!(scheme, "http" | "https") {
        return Err(format!("the scheme must be http or https, got {scheme:?}"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    let path = tail.split(['?', '#']).next().unwrap_or_default();
    let path = if path.is_empty() { default_path } else { path };
    let full = format!("{scheme}://{authority}{path}");
    full.parse::<http::Uri>().map_err(|e| format!("{url:?}: {e}"))?;
    Ok(full)
}

/// An [`ObserveError::Invalid`] for `key`.
pub(super) fn invalid(key: &str, reason: impl Into<String>) -> ObserveError {
    ObserveError::Invalid {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Collector, ObserveError> {
        let value: Value = serde_json::from_str(json).expect("test JSON");
        collector(Some(&value), Signal::Traces)
    }

    fn error_key(json: &str) -> String {
        match read(json) {
            Err(ObserveError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid option, got {other:?}"),
        }
    }

    #[test]
    fn without_otlp_spans_go_to_traefiks_default_http_collector() {
        let default = collector(None, Signal::Traces).expect("the default collector");
        assert_eq!(default.transport, Transport::Http);
        assert_eq!(default.endpoint, "https://localhost:4318/v1/traces");
        assert_eq!(read(r#"{"http": {}}"#).expect("http").endpoint, default.endpoint);
    }

    #[test]
    fn grpc_wins_over_http_and_insecure_means_plain_text() {
        let both = read(r#"{"grpc": {"endpoint": "collector:4317", "insecure": true}, "http": {}}"#).expect("grpc");
        assert_eq!(both.transport, Transport::Grpc);
        assert_eq!(both.endpoint, "http://collector:4317");
        let empty = read(r#"{"grpc": null}"#).expect("grpc defaults");
        assert_eq!(empty.endpoint, "https://localhost:4317");
        let tls =
            read(r#"{"grpc": {"endpoint": "[::1]:4317", "insecure": true, "tls": {"insecureSkipVerify": true}}}"#)
                .expect("grpc with TLS");
        assert_eq!(tls.endpoint, "https://[::1]:4317");
        assert!(tls.tls.is_some_and(|t| t.insecure_skip_verify));
    }

    #[test]
    fn http_endpoints_keep_their_path_or_get_the_traces_one() {
        let with_path = read(r#"{"http": {"endpoint": "http://c:4318/custom/traces", "headers": {"a": "b"}}}"#)
            .expect("http with a path");
        assert_eq!(with_path.endpoint, "http://c:4318/custom/traces");
        assert_eq!(with_path.headers["a"], "b");
        let bare = read(r#"{"http": {"endpoint": "http://c:4318"}}"#).expect("bare http");
        assert_eq!(bare.endpoint, "http://c:4318/v1/traces");
    }

    #[test]
    fn bad_values_name_their_option() {
        assert_eq!(
            error_key(r#"{"grpc": {"endpoint": "http://c:4317"}}"#),
            "tracing.otlp.grpc.endpoint"
        );
        assert_eq!(
            error_key(r#"{"grpc": {"endpoint": "c"}}"#),
            "tracing.otlp.grpc.endpoint"
        );
        assert_eq!(
            error_key(r#"{"http": {"endpoint": "ftp://c"}}"#),
            "tracing.otlp.http.endpoint"
        );
        assert_eq!(
            error_key(r#"{"http": {"endpoint": "c:4318"}}"#),
            "tracing.otlp.http.endpoint"
        );
        assert_eq!(error_key(r#"{"grpc": {"endpoit": "c:1"}}"#), "tracing.otlp.grpc");
        assert_eq!(error_key(r#"{"zipkin": {}}"#), "tracing.otlp");
        assert_eq!(error_key(r#"{"grpc": {"insecure": "yes"}}"#), "tracing.otlp.grpc");
        assert_eq!(
            error_key(r#"{"pushInterval": "10s"}"#),
            "tracing.otlp",
            "a metrics option"
        );
    }

    #[test]
    fn metrics_collectors_post_to_the_metrics_path_and_name_their_section() {
        let value: Value = serde_json::from_str(r#"{"http": {"endpoint": "http://c:4318"}, "pushInterval": "1s"}"#)
            .expect("test JSON");
        let metrics = collector(Some(&value), Signal::Metrics).expect("metrics collector");
        assert_eq!(metrics.endpoint, "http://c:4318/v1/metrics");
        assert_eq!(metrics.key, "metrics.otlp.http");
        let bad: Value = serde_json::from_str(r#"{"grpc": {"endpoint": "c"}}"#).expect("test JSON");
        assert!(matches!(
            collector(Some(&bad), Signal::Metrics),
            Err(ObserveError::Invalid { key, .. }) if key == "metrics.otlp.grpc.endpoint"
        ));
    }
}
