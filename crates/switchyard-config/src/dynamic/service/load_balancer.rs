//! `loadBalancer`: servers and how to pick among them.

use serde::{Deserialize, Serialize};

use super::health::{PassiveHealthCheck, ServerHealthCheck};
use crate::Duration;

/// `loadBalancer`.
///
/// ```
/// use switchyard_config::{LoadBalancer, Strategy};
///
/// let mut lb = LoadBalancer::with_urls(["http://10.0.0.1:8080"]);
/// assert!(lb.pass_host_header);                 // Traefik's default
/// assert_eq!(lb.strategy, Strategy::Wrr);
/// lb.strategy = Strategy::P2c;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadBalancer {
    /// The servers.
    pub servers: Vec<Server>,
    /// How a server is picked. Default: `wrr`.
    pub strategy: Strategy,
    /// Sticky sessions by cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    /// Active health checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ServerHealthCheck>,
    /// Passive health checks: servers that fail requests leave rotation for a while.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passive_health_check: Option<PassiveHealthCheck>,
    /// Whether the client's `Host` header is forwarded (rather than the server's). Default: `true`.
    pub pass_host_header: bool,
    /// How responses are streamed back.
    pub response_forwarding: ResponseForwarding,
    /// The servers transport to use, by name; empty for the default one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub servers_transport: String,
}

impl Default for LoadBalancer {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            strategy: Strategy::default(),
            sticky: None,
            health_check: None,
            passive_health_check: None,
            pass_host_header: true,
            response_forwarding: ResponseForwarding::default(),
            servers_transport: String::new(),
        }
    }
}

impl LoadBalancer {
    /// A load balancer over servers given by URL, every other option at Traefik's default.
    pub fn with_urls<I: IntoIterator<Item = S>, S: Into<String>>(urls: I) -> Self {
        Self {
            servers: urls.into_iter().map(|url| Server::new(url)).collect(),
            ..Self::default()
        }
    }
}

/// One backend server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Server {
    /// The server's URL (`http://10.0.0.1:8080`, `https://...`, `h2c://...`).
    pub url: String,
    /// Its weight; `None` means 1, and 0 means it receives nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Whether the path of the server's URL is kept in front of the request path.
    pub preserve_path: bool,
}

impl Server {
    /// A server at `url` with the default weight.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}

/// How a load balancer picks a server: one of Traefik's strategies, or one of your own registered on
/// the gateway (`Gateway::balancer`), by name.
///
/// ```
/// use switchyard_config::Strategy;
///
/// assert_eq!(Strategy::from("p2c"), Strategy::P2c);
/// assert_eq!(Strategy::from("first-up"), Strategy::Custom("first-up".into()));
/// assert_eq!(Strategy::LeastTime.name(), "leasttime");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Smooth weighted round robin (Traefik's default).
    #[default]
    Wrr,
    /// Power of two random choices, on in-flight requests.
    P2c,
    /// Highest random weight (rendezvous hashing) on the client address.
    Hrw,
    /// Least response time (peak EWMA).
    LeastTime,
    /// A strategy of your own, by the name it was registered under.
    Custom(String),
}

impl Strategy {
    /// The name configuration files use.
    pub fn name(&self) -> &str {
        match self {
            Self::Wrr => "wrr",
            Self::P2c => "p2c",
            Self::Hrw => "hrw",
            Self::LeastTime => "leasttime",
            Self::Custom(name) => name,
        }
    }
}

impl From<&str> for Strategy {
    fn from(name: &str) -> Self {
        match name {
            "wrr" => Self::Wrr,
            "p2c" => Self::P2c,
            "hrw" => Self::Hrw,
            "leasttime" => Self::LeastTime,
            other => Self::Custom(other.to_owned()),
        }
    }
}

impl Serialize for Strategy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Strategy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name.is_empty() {
            return Err(serde::de::Error::custom(
                "the strategy is empty; use wrr, p2c, hrw, leasttime or a registered name",
            ));
        }
        Ok(Self::from(name.as_str()))
    }
}

/// `sticky`: keep a client on the server it first reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Sticky {
    /// The cookie that records the choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<Cookie>,
}

/// The sticky-session cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cookie {
    /// The cookie name; empty means a name derived from the service.
    pub name: String,
    /// The `Secure` attribute.
    pub secure: bool,
    /// The `HttpOnly` attribute.
    pub http_only: bool,
    /// The `SameSite` attribute: `none`, `lax`, `strict`, or empty for none set.
    pub same_site: String,
    /// `Max-Age` in seconds; 0 sets none, a negative value expires the cookie.
    pub max_age: i64,
    /// The `Path` attribute. Default: `/`.
    pub path: String,
    /// The `Domain` attribute.
    pub domain: String,
    /// Seconds until the cookie expires (the `Expires` attribute); 0 sets none.
    pub expires: i64,
}

impl Default for Cookie {
    fn default() -> Self {
        Self {
            name: String::new(),
            secure: false,
            http_only: false,
            same_site: String::new(),
            max_age: 0,
            path: "/".into(),
            domain: String::new(),
            expires: 0,
        }
    }
}

/// `responseForwarding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResponseForwarding {
    /// How often buffered response bytes are flushed to the client; negative flushes after every
    /// write. Streaming responses (`text/event-stream`, unknown length) are flushed at once regardless.
    /// Default: 100 ms.
    pub flush_interval: Duration,
}

impl Default for ResponseForwarding {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_millis(100),
        }
    }
}
