//! Who may come in and how much: `ipAllowList`, `inFlightReq`, `rateLimit`, and how a client is told
//! apart (`ipStrategy`, `sourceCriterion`).

use serde::{Deserialize, Serialize};

use super::auth::ClientTls;
use crate::Duration;

/// `ipAllowList` (and the deprecated `ipWhiteList`): only clients from the listed networks get through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IpAllowList {
    /// Allowed addresses and CIDRs.
    pub source_range: Vec<String>,
    /// How the client address is found; absent means the connection's peer address.
    #[serde(rename = "ipStrategy", skip_serializing_if = "Option::is_none")]
    pub ip_strategy: Option<IpStrategy>,
    /// The status for refused clients; 0 means 403.
    pub reject_status_code: u16,
}

/// `ipStrategy`: which address counts as the client's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IpStrategy {
    /// Take the address this many entries from the right of `X-Forwarded-For`; 0 ignores the header.
    pub depth: u32,
    /// Take the rightmost `X-Forwarded-For` address not in these networks.
    #[serde(rename = "excludedIPs")]
    pub excluded_ips: Vec<String>,
    /// Treat every IPv6 address of a subnet of this prefix length as one client.
    #[serde(rename = "ipv6Subnet", skip_serializing_if = "Option::is_none")]
    pub ipv6_subnet: Option<u8>,
}

/// `sourceCriterion`: what groups requests into one client for limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SourceCriterion {
    /// By client address.
    #[serde(rename = "ipStrategy", skip_serializing_if = "Option::is_none")]
    pub ip_strategy: Option<IpStrategy>,
    /// By the value of a request header.
    pub request_header_name: String,
    /// By the requested host.
    pub request_host: bool,
}

/// `inFlightReq`: at most `amount` simultaneous requests per source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InFlightReq {
    /// The limit.
    pub amount: i64,
    /// What a source is; absent means the requested host (unlike `rateLimit`, whose default is the
    /// client address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_criterion: Option<SourceCriterion>,
}

/// `rateLimit`: a token bucket per source, `average` requests per `period` with bursts of `burst`.
///
/// ```
/// use switchyard_config::{Duration, RateLimit};
///
/// let limit = RateLimit { average: 100, ..RateLimit::default() };
/// assert_eq!((limit.period, limit.burst), (Duration::from_secs(1), 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RateLimit {
    /// Requests allowed per period on average; 0 means no limit.
    pub average: i64,
    /// The period. Default: 1 s.
    pub period: Duration,
    /// The bucket size. Default: 1.
    pub burst: i64,
    /// What a source is; absent means the client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_criterion: Option<SourceCriterion>,
    /// Keep the buckets in Redis, shared between instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<Redis>,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            average: 0,
            period: Duration::from_secs(1),
            burst: 1,
            source_criterion: None,
            redis: None,
        }
    }
}

/// `rateLimit.redis`: shared buckets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Redis {
    /// Redis endpoints. Default: `localhost:6379`.
    pub endpoints: Vec<String>,
    /// TLS towards Redis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Database number.
    pub db: i64,
    /// Connection pool size; 0 for the client's default.
    pub pool_size: u32,
    /// Idle connections kept.
    pub min_idle_conns: u32,
    /// Connections open at most; 0 for no limit.
    pub max_active_conns: u32,
    /// Read timeout. Default: 3 s.
    pub read_timeout: Duration,
    /// Write timeout. Default: 3 s.
    pub write_timeout: Duration,
    /// Dial timeout. Default: 5 s.
    pub dial_timeout: Duration,
    /// Forward requests unlimited while Redis cannot answer, instead of answering `500` to every request
    /// of the router (Traefik's behaviour, the default). A switchyard extension, not in Traefik.
    pub allow_on_error: bool,
}

impl Default for Redis {
    fn default() -> Self {
        Self {
            endpoints: vec!["localhost:6379".into()],
            tls: None,
            username: String::new(),
            password: String::new(),
            db: 0,
            pool_size: 0,
            min_idle_conns: 0,
            max_active_conns: 0,
            read_timeout: Duration::from_secs(3),
            write_timeout: Duration::from_secs(3),
            dial_timeout: Duration::from_secs(5),
            allow_on_error: false,
        }
    }
}
