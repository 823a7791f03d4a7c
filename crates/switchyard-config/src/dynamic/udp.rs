//! The `udp` section: one router per UDP entrypoint (no rules: UDP carries nothing to route by) and
//! services that spread sessions over servers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::WeightedService;
use crate::names::qualify;

/// The `udp` section of a dynamic configuration.
///
/// ```
/// use switchyard_config::{UdpConfig, UdpRouter, UdpService};
///
/// let mut udp = UdpConfig::default();
/// udp.routers.insert("dns".into(), UdpRouter::new("dns").with_entry_points(["dns"]));
/// udp.services.insert("dns".into(), UdpService::with_addresses(["10.0.0.53:53"]));
/// assert_eq!(udp.routers["dns"].service, "dns");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UdpConfig {
    /// UDP routers by name.
    pub routers: BTreeMap<String, UdpRouter>,
    /// UDP services by name.
    pub services: BTreeMap<String, UdpService>,
}

impl UdpConfig {
    /// Whether the section defines nothing.
    pub fn is_empty(&self) -> bool {
        self.routers.is_empty() && self.services.is_empty()
    }
}

/// A UDP router: the service an entrypoint's datagrams go to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UdpRouter {
    /// The UDP entrypoints it serves; empty means every UDP entrypoint.
    pub entry_points: Vec<String>,
    /// The service, `name` or `name@provider`.
    pub service: String,
}

impl UdpRouter {
    /// A router to `service` on every UDP entrypoint.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            entry_points: Vec::new(),
            service: service.into(),
        }
    }

    /// The router on `entry_points` only.
    ///
    /// ```
    /// let router = switchyard_config::UdpRouter::new("dns").with_entry_points(["dns"]);
    /// assert_eq!(router.entry_points, ["dns"]);
    /// ```
    #[must_use]
    pub fn with_entry_points<I>(mut self, entry_points: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.entry_points = entry_points.into_iter().map(Into::into).collect();
        self
    }

    pub(crate) fn qualify_references(&mut self, provider: &str) {
        if !self.service.is_empty() {
            self.service = qualify(&self.service, provider);
        }
    }
}

/// A UDP service: exactly one of `loadBalancer` and `weighted`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UdpService {
    /// Sessions spread over servers in turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<UdpLoadBalancer>,
    /// Sessions spread over other UDP services by weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted: Option<UdpWeighted>,
}

impl UdpService {
    /// A load balancer over servers at `addresses` (`host:port`).
    ///
    /// ```
    /// let service = switchyard_config::UdpService::with_addresses(["127.0.0.1:5353"]);
    /// assert_eq!(service.load_balancer.unwrap().servers[0].address, "127.0.0.1:5353");
    /// ```
    pub fn with_addresses<I>(addresses: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let servers = addresses
            .into_iter()
            .map(|address| UdpServer {
                address: address.into(),
            })
            .collect();
        Self {
            load_balancer: Some(UdpLoadBalancer { servers }),
            weighted: None,
        }
    }

    /// The services a weighted service refers to, in order.
    pub fn referenced_services(&self) -> impl Iterator<Item = &str> {
        self.weighted
            .iter()
            .flat_map(|w| w.services.iter().map(|s| s.name.as_str()))
    }

    pub(crate) fn qualify_references(&mut self, provider: &str) {
        if let Some(weighted) = &mut self.weighted {
            for service in &mut weighted.services {
                service.name = qualify(&service.name, provider);
            }
        }
    }
}

/// `loadBalancer` of a UDP service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UdpLoadBalancer {
    /// The servers, each given new sessions in turn.
    pub servers: Vec<UdpServer>,
}

/// A UDP server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UdpServer {
    /// `host:port`.
    pub address: String,
}

/// `weighted` of a UDP service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UdpWeighted {
    /// The services and their weights.
    pub services: Vec<WeightedService>,
}
