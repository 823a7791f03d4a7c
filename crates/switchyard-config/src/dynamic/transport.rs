//! `http.serversTransports`: how switchyard connects to backends.

use serde::{Deserialize, Serialize};

use super::tls::{Certificate, FileOrContent};
use crate::Duration;

/// A servers transport: TLS towards backends, connection pooling and timeouts.
///
/// ```
/// use switchyard_config::{Duration, ServersTransport};
///
/// let transport = ServersTransport { server_name: "backend.internal".into(), ..ServersTransport::default() };
/// let timeouts = transport.forwarding_timeouts.unwrap_or_default();
/// assert_eq!(timeouts.dial_timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServersTransport {
    /// The TLS server name (SNI) sent to backends, and checked in their certificates.
    pub server_name: String,
    /// Skips verification of the backends' certificates.
    pub insecure_skip_verify: bool,
    /// Certificate authorities trusted for backends, as paths or inline PEM.
    #[serde(rename = "rootCAs")]
    pub root_cas: Vec<FileOrContent>,
    /// Client certificates presented to backends (mutual TLS).
    pub certificates: Vec<Certificate>,
    /// TLS cipher suites offered to backends (Go names); empty for the defaults.
    pub cipher_suites: Vec<String>,
    /// The lowest TLS version used (`VersionTLS12`, `VersionTLS13`).
    pub min_version: String,
    /// The highest TLS version used.
    pub max_version: String,
    /// Idle connections kept per backend; 0 means 200 (Traefik's default), negative disables reuse.
    #[serde(rename = "maxIdleConnsPerHost")]
    pub max_idle_conns_per_host: i32,
    /// Timeouts for forwarded requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarding_timeouts: Option<ForwardingTimeouts>,
    /// Speak HTTP/1.1 only to backends, even over TLS with ALPN.
    #[serde(rename = "disableHTTP2")]
    pub disable_http2: bool,
    /// A URI that must appear among the backend certificate's SANs.
    #[serde(rename = "peerCertURI")]
    pub peer_cert_uri: String,
    /// SPIFFE verification of backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<Spiffe>,
}

/// `forwardingTimeouts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ForwardingTimeouts {
    /// Time allowed to establish a connection; 0 for none. Default: 30 s.
    pub dial_timeout: Duration,
    /// Time allowed for the response headers after the request is written; 0 for none.
    pub response_header_timeout: Duration,
    /// How long an idle pooled connection is kept. Default: 90 s.
    pub idle_conn_timeout: Duration,
    /// With HTTP/2, a ping is sent after this long without frames; 0 disables.
    pub read_idle_timeout: Duration,
    /// With HTTP/2, the connection closes when a ping is not answered within this. Default: 15 s.
    pub ping_timeout: Duration,
}

impl Default for ForwardingTimeouts {
    fn default() -> Self {
        Self {
            dial_timeout: Duration::from_secs(30),
            response_header_timeout: Duration::ZERO,
            idle_conn_timeout: Duration::from_secs(90),
            read_idle_timeout: Duration::ZERO,
            ping_timeout: Duration::from_secs(15),
        }
    }
}

/// `spiffe`: accept backends by SPIFFE identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Spiffe {
    /// Accepted SPIFFE IDs (take precedence over the trust domain).
    pub ids: Vec<String>,
    /// The accepted trust domain.
    pub trust_domain: String,
}
