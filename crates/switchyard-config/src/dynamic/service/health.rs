//! Active and passive health checks of a load balancer's servers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Duration;

/// `healthCheck` on a load balancer: probe each server periodically.
///
/// ```
/// use switchyard_config::{Duration, ServerHealthCheck};
///
/// let check = ServerHealthCheck { path: "/health".into(), ..ServerHealthCheck::default() };
/// assert_eq!(check.interval, Duration::from_secs(30));
/// assert_eq!(check.timeout, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerHealthCheck {
    /// Replaces the server URL's scheme for the probe.
    pub scheme: String,
    /// `http` (default) or `grpc` (the gRPC health-checking protocol).
    pub mode: HealthCheckMode,
    /// The path probed.
    pub path: String,
    /// The method used. Default: `GET`.
    pub method: String,
    /// The expected status; 0 accepts any 2xx or 3xx.
    pub status: u16,
    /// Replaces the server URL's port for the probe; 0 keeps it.
    pub port: u16,
    /// Time between probes of a healthy server. Default: 30 s.
    pub interval: Duration,
    /// Time between probes of an unhealthy server; `None` means `interval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy_interval: Option<Duration>,
    /// How long a probe may take. Default: 5 s.
    pub timeout: Duration,
    /// The `Host` header sent with the probe.
    pub hostname: String,
    /// Whether redirects are followed. Default: `true`.
    pub follow_redirects: bool,
    /// Extra headers sent with the probe.
    pub headers: BTreeMap<String, String>,
}

impl Default for ServerHealthCheck {
    fn default() -> Self {
        Self {
            scheme: String::new(),
            mode: HealthCheckMode::Http,
            path: String::new(),
            method: String::new(),
            status: 0,
            port: 0,
            interval: Duration::from_secs(30),
            unhealthy_interval: None,
            timeout: Duration::from_secs(5),
            hostname: String::new(),
            follow_redirects: true,
            headers: BTreeMap::new(),
        }
    }
}

/// How a health probe is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheckMode {
    /// An HTTP request.
    #[default]
    Http,
    /// A gRPC `grpc.health.v1.Health/Check` call.
    Grpc,
}

/// `passiveHealthCheck`: servers whose requests fail leave rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PassiveHealthCheck {
    /// The window in which failures are counted, and how long a failed server stays out. Default: 10 s.
    pub failure_window: Duration,
    /// Failures within the window that take a server out. Default: 1.
    pub max_failed_attempts: u32,
}

impl Default for PassiveHealthCheck {
    fn default() -> Self {
        Self {
            failure_window: Duration::from_secs(10),
            max_failed_attempts: 1,
        }
    }
}
