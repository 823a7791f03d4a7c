//! `api`, `metrics`, `tracing`, `accessLog`, `log`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `api`: the read-only API of routers, services and middlewares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Api {
    /// Serve the API on the `traefik` entrypoint without a router.
    pub insecure: bool,
    /// Serve the dashboard's page at `/dashboard/` wherever `api@internal` is routed. Default: `true`.
    pub dashboard: bool,
    /// Also serve debug endpoints.
    pub debug: bool,
    /// The path the API is served under. Default: `/`.
    pub base_path: String,
}

impl Default for Api {
    fn default() -> Self {
        Self {
            insecure: false,
            dashboard: true,
            debug: false,
            base_path: "/".into(),
        }
    }
}

/// `metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Metrics {
    /// Also measure requests to the gateway's own services (`api@internal`, `prometheus@internal`…).
    pub add_internals: bool,
    /// Prometheus exposition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<Prometheus>,
    /// OpenTelemetry metrics export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Otlp>,
}

/// `metrics.prometheus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Prometheus {
    /// Histogram buckets in seconds. Default: 0.1, 0.3, 1.2, 5.0.
    pub buckets: Vec<f64>,
    /// Label metrics with entrypoints. Default: `true`.
    pub add_entry_points_labels: bool,
    /// Label metrics with routers.
    pub add_routers_labels: bool,
    /// Label metrics with services. Default: `true`.
    pub add_services_labels: bool,
    /// The entrypoint serving `/metrics`. Default: `traefik`.
    pub entry_point: String,
    /// Serve `/metrics` only through a router to `prometheus@internal`.
    pub manual_routing: bool,
    /// Request headers turned into labels (label → header).
    pub header_labels: BTreeMap<String, String>,
}

impl Default for Prometheus {
    fn default() -> Self {
        Self {
            buckets: vec![0.1, 0.3, 1.2, 5.0],
            add_entry_points_labels: true,
            add_routers_labels: false,
            add_services_labels: true,
            entry_point: "traefik".into(),
            manual_routing: false,
            header_labels: BTreeMap::new(),
        }
    }
}

/// An OTLP exporter (`http` or `grpc`), kept as written; the observability work reads it.
pub type Otlp = serde_json::Value;

/// `tracing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Tracing {
    /// The service name reported. Default: `traefik`.
    pub service_name: String,
    /// Resource attributes.
    pub resource_attributes: BTreeMap<String, String>,
    /// Request headers recorded on spans.
    pub captured_request_headers: Vec<String>,
    /// Response headers recorded on spans.
    pub captured_response_headers: Vec<String>,
    /// Query parameters recorded unredacted.
    pub safe_query_params: Vec<String>,
    /// The share of traces sampled. Default: 1.0.
    pub sample_rate: f64,
    /// Also trace internal routers.
    pub add_internals: bool,
    /// The OTLP exporter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Otlp>,
    /// Deprecated name of `resourceAttributes`.
    pub global_attributes: BTreeMap<String, String>,
}

impl Default for Tracing {
    fn default() -> Self {
        Self {
            service_name: "traefik".into(),
            resource_attributes: BTreeMap::new(),
            captured_request_headers: Vec::new(),
            captured_response_headers: Vec::new(),
            safe_query_params: Vec::new(),
            sample_rate: 1.0,
            add_internals: false,
            otlp: None,
            global_attributes: BTreeMap::new(),
        }
    }
}

/// `accessLog`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AccessLog {
    /// The file written; empty for standard output.
    pub file_path: String,
    /// `common` (default) or `json`.
    pub format: String,
    /// Lines buffered before writing.
    pub buffering_size: u64,
    /// Which requests are logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<AccessLogFilters>,
    /// Which fields are kept, dropped or redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<AccessLogFields>,
    /// Also log internal routers.
    pub add_internals: bool,
}

impl Default for AccessLog {
    fn default() -> Self {
        Self {
            file_path: String::new(),
            format: "common".into(),
            buffering_size: 0,
            filters: None,
            fields: None,
            add_internals: false,
        }
    }
}

/// `accessLog.filters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AccessLogFilters {
    /// Statuses and ranges logged (`"400-499"`).
    pub status_codes: Vec<String>,
    /// Log requests that were retried.
    pub retry_attempts: bool,
    /// Log requests slower than this.
    pub min_duration: crate::Duration,
}

/// `accessLog.fields`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AccessLogFields {
    /// `keep`, `drop` or `redact` for fields not named.
    pub default_mode: String,
    /// Per-field modes.
    pub names: BTreeMap<String, String>,
    /// Header modes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<AccessLogHeaders>,
}

/// `accessLog.fields.headers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AccessLogHeaders {
    /// `keep`, `drop` or `redact` for headers not named.
    pub default_mode: String,
    /// Per-header modes.
    pub names: BTreeMap<String, String>,
}

/// `log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Log {
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` (default), `FATAL`, `PANIC`.
    pub level: String,
    /// `common` or `json`.
    pub format: String,
    /// The file written; empty for standard error.
    pub file_path: String,
    /// Plain text without colours.
    pub no_color: bool,
    /// Rotate the file past this many megabytes.
    pub max_size: u64,
    /// Rotated files kept.
    pub max_backups: u64,
    /// Days rotated files are kept.
    pub max_age: u64,
    /// Compress rotated files.
    pub compress: bool,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: "ERROR".into(),
            format: "common".into(),
            file_path: String::new(),
            no_color: false,
            max_size: 0,
            max_backups: 0,
            max_age: 0,
            compress: false,
        }
    }
}
