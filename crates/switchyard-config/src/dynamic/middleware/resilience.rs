//! Failure handling: `buffering`, `circuitBreaker`, `retry`, `errors`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Duration;

/// `buffering`: reads whole bodies before passing them on, with limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Buffering {
    /// The largest request body accepted, in bytes (413 beyond); 0 for no limit.
    pub max_request_body_bytes: i64,
    /// Request bytes kept in memory before spilling to disk; 0 for the default (1 MiB).
    pub mem_request_body_bytes: i64,
    /// The largest response body accepted, in bytes (500 beyond); 0 for no limit.
    pub max_response_body_bytes: i64,
    /// Response bytes kept in memory before spilling to disk; 0 for the default (1 MiB).
    pub mem_response_body_bytes: i64,
    /// When to replay the buffered request (`IsNetworkError() && Attempts() < 2`).
    pub retry_expression: String,
}

/// `circuitBreaker`: while `expression` holds, requests get `responseCode` instead of the service.
///
/// ```
/// use switchyard_config::{CircuitBreaker, Duration};
///
/// let breaker = CircuitBreaker { expression: "NetworkErrorRatio() > 0.30".into(), ..CircuitBreaker::default() };
/// assert_eq!(breaker.check_period, Duration::from_millis(100));
/// assert_eq!(breaker.response_code, 503);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CircuitBreaker {
    /// The tripping condition: `NetworkErrorRatio()`, `ResponseCodeRatio(a, b, c, d)`,
    /// `LatencyAtQuantileMS(q)` compared and combined with `&&`, `||`.
    pub expression: String,
    /// How often the expression is evaluated. Default: 100 ms.
    pub check_period: Duration,
    /// How long the breaker stays open. Default: 10 s.
    pub fallback_duration: Duration,
    /// How long traffic ramps back up. Default: 10 s.
    pub recovery_duration: Duration,
    /// The status answered while open. Default: 503.
    pub response_code: u16,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            expression: String::new(),
            check_period: Duration::from_millis(100),
            fallback_duration: Duration::from_secs(10),
            recovery_duration: Duration::from_secs(10),
            response_code: 503,
        }
    }
}

/// `retry`: tries again on network errors (and configured statuses) when the request can be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// A deadline for all attempts together; 0 for none.
    pub timeout: Duration,
    /// The first wait between attempts, doubling each time; 0 retries at once.
    pub initial_interval: Duration,
    /// The largest request body kept for replay, in bytes; -1 for no limit. Default: 2 MiB.
    pub max_request_body_bytes: i64,
    /// Statuses (`"503"`, `"500-504"`) that also cause a retry.
    pub status: Vec<String>,
    /// Do not retry on network errors.
    pub disable_retry_on_network_error: bool,
    /// Also retry methods that are not idempotent (POST, PATCH).
    pub retry_non_idempotent_method: bool,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 0,
            timeout: Duration::ZERO,
            initial_interval: Duration::ZERO,
            max_request_body_bytes: 2 * 1024 * 1024,
            status: Vec::new(),
            disable_retry_on_network_error: false,
            retry_non_idempotent_method: false,
        }
    }
}

/// `errors`: answers with a page from another service when the response status is in a range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ErrorPage {
    /// Statuses and ranges (`"500-599"`, `"404"`).
    pub status: Vec<String>,
    /// Status rewrites: `"500-503": 500` answers 500 for any of them.
    pub status_rewrites: BTreeMap<String, u16>,
    /// The service serving the pages.
    pub service: String,
    /// The path asked of it, with `{status}`, `{originalStatus}` and `{url}` placeholders.
    pub query: String,
    /// Request headers passed on to the error page service: all when unset, none when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_request_headers: Option<Vec<String>>,
}
