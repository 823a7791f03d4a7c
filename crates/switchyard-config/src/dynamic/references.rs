//! The names one element refers to, and qualifying them with the referring element's provider.

use super::{Middleware, Service};
use crate::names::qualify;

impl Service {
    /// Qualifies the names this service refers to (child services, servers transport) with `provider`.
    pub(crate) fn qualify_references(&mut self, provider: &str) {
        match self {
            Service::LoadBalancer(_) => {}
        }
        let _ = provider;
        let _ = qualify;
    }
}

impl Middleware {
    /// The middlewares this middleware refers to (a chain's members).
    pub fn referenced_middlewares(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The services this middleware refers to (the `errors` middleware's error page service).
    pub fn referenced_services(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Qualifies the names this middleware refers to with `provider`.
    pub(crate) fn qualify_references(&mut self, provider: &str) {
        let _ = provider;
    }
}

impl Service {
    /// The servers transport a load balancer uses, if it names one.
    pub fn servers_transport(&self) -> Option<&str> {
        None
    }

    /// The URLs of a load balancer's servers (none for other service types).
    pub fn server_urls(&self) -> impl Iterator<Item = &str> {
        match self {
            Service::LoadBalancer(lb) => lb.servers.iter().map(|s| s.url.as_str()),
        }
    }

    /// Placeholder until the service model lands.
    pub fn referenced_services(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The Traefik key of this service type.
    pub fn kind(&self) -> &'static str {
        "loadBalancer"
    }
}
