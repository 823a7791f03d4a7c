//! `http.services`: where requests go.

mod health;
mod load_balancer;

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use health::{HealthCheckMode, PassiveHealthCheck, ServerHealthCheck};
pub use load_balancer::{Cookie, LoadBalancer, ResponseForwarding, Server, Sticky, Strategy};

/// A service: one of Traefik's service types, and the middlewares applied in front of it.
///
/// In files a service is a map with exactly one type key (`loadBalancer`, `weighted`, `mirroring`,
/// `failover`, `highestRandomWeight`) and optionally `middlewares`.
///
/// ```
/// use switchyard_config::{LoadBalancer, Service, ServiceKind};
///
/// let service = Service::from(LoadBalancer::with_urls(["http://10.0.0.1:8080", "http://10.0.0.2:8080"]));
/// assert_eq!(service.kind.name(), "loadBalancer");
/// assert!(matches!(service.kind, ServiceKind::LoadBalancer(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// What the service is.
    pub kind: ServiceKind,
    /// Middlewares applied to every request the service receives, whichever router sent it, after the
    /// router's own middlewares.
    pub middlewares: Vec<String>,
}

/// The service types.
// Configuration is built once per reload, never per request: a flat enum that matches and constructs
// plainly is worth more here than the bytes a boxed `LoadBalancer` would save.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceKind {
    /// `loadBalancer`: balances requests across servers.
    LoadBalancer(LoadBalancer),
    /// `weighted`: splits requests between services by weight.
    Weighted(Weighted),
    /// `mirroring`: sends requests to a main service and copies of some of them to mirrors.
    Mirroring(Mirroring),
    /// `failover`: sends requests to a main service, or to a fallback while the main one is unhealthy.
    Failover(Failover),
    /// `highestRandomWeight`: picks a service by rendezvous hashing of the client address.
    HighestRandomWeight(HighestRandomWeight),
    /// Answers every request itself with a fixed status. Internal: providers emit it (the Gateway API
    /// answers requests for a backend that cannot be resolved with 500); files and labels cannot
    /// declare it, its key is not read.
    Fixed(FixedAnswer),
}

impl ServiceKind {
    /// The Traefik key of this type (`loadBalancer`, `weighted`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ServiceKind::LoadBalancer(_) => "loadBalancer",
            ServiceKind::Weighted(_) => "weighted",
            ServiceKind::Mirroring(_) => "mirroring",
            ServiceKind::Failover(_) => "failover",
            ServiceKind::HighestRandomWeight(_) => "highestRandomWeight",
            ServiceKind::Fixed(_) => FixedAnswer::KEY,
        }
    }
}

impl From<LoadBalancer> for Service {
    fn from(lb: LoadBalancer) -> Self {
        ServiceKind::LoadBalancer(lb).into()
    }
}

impl From<ServiceKind> for Service {
    fn from(kind: ServiceKind) -> Self {
        Self {
            kind,
            middlewares: Vec::new(),
        }
    }
}

/// The answer of a [`ServiceKind::Fixed`] service: an HTTP status, or a gRPC status (HTTP 200 with
/// `grpc-status` and `grpc-message`, no message). Internal: only providers build it.
///
/// ```
/// use switchyard_config::{FixedAnswer, Service, ServiceKind};
///
/// let service = Service::from(ServiceKind::Fixed(FixedAnswer::Http(500)));
/// assert_eq!(service.kind.name(), "internalFixedAnswer");
/// assert!(service.referenced_services().is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FixedAnswer {
    /// An HTTP status code (100–999), with an empty body.
    Http(u16),
    /// A gRPC status code (`14` is `UNAVAILABLE`).
    Grpc(u32),
}

impl FixedAnswer {
    /// The key the service is shown under when a configuration is written out (the API's raw
    /// data); never read back, so a file naming it gets an unknown key.
    pub const KEY: &'static str = "internalFixedAnswer";
}

/// `weighted`: weighted round robin over services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Weighted {
    /// The services and their weights.
    pub services: Vec<WeightedService>,
    /// Sticky sessions across the services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    /// When present, the service's health follows its children's and is reported to its parents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ParentHealthCheck>,
}

/// A service and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WeightedService {
    /// The service name (`name` or `name@provider`).
    pub name: String,
    /// Its weight. Default: 1.
    pub weight: u32,
}

impl Default for WeightedService {
    fn default() -> Self {
        Self {
            name: String::new(),
            weight: 1,
        }
    }
}

/// An empty `healthCheck: {}` on a parent service: propagate the children's health upwards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentHealthCheck {}

/// `mirroring`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Mirroring {
    /// The main service, whose answer the client gets.
    pub service: String,
    /// Whether mirrors receive the request body. Default: `true`.
    pub mirror_body: bool,
    /// The largest body mirrored, in bytes; -1 means no limit. Default: -1.
    pub max_body_size: i64,
    /// The mirrors and the share of requests each receives.
    pub mirrors: Vec<MirrorService>,
    /// Health propagation, as for [`Weighted::health_check`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ParentHealthCheck>,
}

impl Default for Mirroring {
    fn default() -> Self {
        Self {
            service: String::new(),
            mirror_body: true,
            max_body_size: -1,
            mirrors: Vec::new(),
            health_check: None,
        }
    }
}

/// A mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MirrorService {
    /// The service name.
    pub name: String,
    /// The percentage of requests copied to it (0–100).
    pub percent: u32,
}

/// `failover`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Failover {
    /// The main service.
    pub service: String,
    /// The service used while the main one is unhealthy.
    pub fallback: String,
    /// Health propagation, as for [`Weighted::health_check`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ParentHealthCheck>,
    /// Also fail over when the main service answers with one of these statuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FailoverErrors>,
}

/// `failover.errors`: status-based failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FailoverErrors {
    /// Status codes and ranges (`"500-599"`, `"429"`) that send the request to the fallback.
    pub status: Vec<String>,
    /// The largest request body kept for replaying to the fallback, in bytes; -1 means no limit.
    /// Default: -1.
    pub max_request_body_bytes: i64,
}

impl Default for FailoverErrors {
    fn default() -> Self {
        Self {
            status: Vec::new(),
            max_request_body_bytes: -1,
        }
    }
}

/// `highestRandomWeight`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HighestRandomWeight {
    /// The services and their weights.
    pub services: Vec<WeightedService>,
    /// Health propagation, as for [`Weighted::health_check`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ParentHealthCheck>,
}

impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ServiceVisitor)
    }
}

struct ServiceVisitor;

impl<'de> Visitor<'de> for ServiceVisitor {
    type Value = Service;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a service: one of loadBalancer, weighted, mirroring, failover, highestRandomWeight")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Service, A::Error> {
        let mut kind: Option<ServiceKind> = None;
        let mut middlewares = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "middlewares" {
                middlewares = map.next_value()?;
                continue;
            }
            let Some(next) = service_kind(&key, &mut map)? else {
                continue;
            };
            if let Some(first) = &kind {
                return Err(two_kinds(first, &next));
            }
            kind = Some(next);
        }
        let kind = kind.ok_or_else(|| {
            de::Error::custom(
                "a service needs a type: loadBalancer, weighted, mirroring, failover or highestRandomWeight",
            )
        })?;
        Ok(Service { kind, middlewares })
    }
}

/// The error for a service given two types.
fn two_kinds<E: de::Error>(first: &ServiceKind, next: &ServiceKind) -> E {
    E::custom(format!(
        "a service has exactly one type, found both `{}` and `{}`",
        first.name(),
        next.name()
    ))
}

/// Reads the value of `key` when it names a service type; skips it otherwise.
fn service_kind<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<ServiceKind>, A::Error> {
    let kind = match key {
        "loadBalancer" => ServiceKind::LoadBalancer(map.next_value()?),
        "weighted" => ServiceKind::Weighted(map.next_value()?),
        "mirroring" => ServiceKind::Mirroring(map.next_value()?),
        "failover" => ServiceKind::Failover(map.next_value()?),
        "highestRandomWeight" => ServiceKind::HighestRandomWeight(map.next_value()?),
        _ => {
            // Reported by the loader as an unknown key.
            map.next_value::<IgnoredAny>()?;
            return Ok(None);
        }
    };
    Ok(Some(kind))
}

impl Serialize for Service {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.kind {
            ServiceKind::LoadBalancer(v) => map.serialize_entry("loadBalancer", v)?,
            ServiceKind::Weighted(v) => map.serialize_entry("weighted", v)?,
            ServiceKind::Mirroring(v) => map.serialize_entry("mirroring", v)?,
            ServiceKind::Failover(v) => map.serialize_entry("failover", v)?,
            ServiceKind::HighestRandomWeight(v) => map.serialize_entry("highestRandomWeight", v)?,
            ServiceKind::Fixed(v) => map.serialize_entry(FixedAnswer::KEY, v)?,
        }
        if !self.middlewares.is_empty() {
            map.serialize_entry("middlewares", &self.middlewares)?;
        }
        map.end()
    }
}
