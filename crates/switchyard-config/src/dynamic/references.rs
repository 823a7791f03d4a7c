//! The names one element refers to, and qualifying them with the referring element's provider.

use super::{Middleware, Service, ServiceKind};
use crate::names::qualify;

impl Service {
    /// The services this service sends requests to (children of weighted, mirroring, failover and
    /// highest-random-weight services), in configuration order.
    pub fn referenced_services(&self) -> Vec<&str> {
        match &self.kind {
            ServiceKind::LoadBalancer(_) | ServiceKind::Fixed(_) => Vec::new(),
            ServiceKind::Weighted(w) => w.services.iter().map(|s| s.name.as_str()).collect(),
            ServiceKind::HighestRandomWeight(h) => h.services.iter().map(|s| s.name.as_str()).collect(),
            ServiceKind::Mirroring(m) => std::iter::once(m.service.as_str())
                .chain(m.mirrors.iter().map(|s| s.name.as_str()))
                .collect(),
            ServiceKind::Failover(f) => vec![f.service.as_str(), f.fallback.as_str()],
        }
    }

    /// The servers transport a load balancer names, if any.
    pub fn servers_transport(&self) -> Option<&str> {
        match &self.kind {
            ServiceKind::LoadBalancer(lb) if !lb.servers_transport.is_empty() => Some(&lb.servers_transport),
            _ => None,
        }
    }

    /// The URLs of a load balancer's servers (none for other service types).
    pub fn server_urls(&self) -> impl Iterator<Item = &str> {
        let servers = match &self.kind {
            ServiceKind::LoadBalancer(lb) => lb.servers.as_slice(),
            _ => &[],
        };
        servers.iter().map(|s| s.url.as_str())
    }

    /// Qualifies every name this service refers to with `provider`.
    pub(crate) fn qualify_references(&mut self, provider: &str) {
        let q = |name: &mut String| *name = qualify(name, provider);
        self.middlewares.iter_mut().for_each(q);
        match &mut self.kind {
            ServiceKind::LoadBalancer(lb) => {
                if !lb.servers_transport.is_empty() {
                    q(&mut lb.servers_transport);
                }
            }
            ServiceKind::Weighted(w) => w.services.iter_mut().for_each(|s| q(&mut s.name)),
            ServiceKind::HighestRandomWeight(h) => h.services.iter_mut().for_each(|s| q(&mut s.name)),
            ServiceKind::Mirroring(m) => {
                q(&mut m.service);
                m.mirrors.iter_mut().for_each(|s| q(&mut s.name));
            }
            ServiceKind::Failover(f) => {
                q(&mut f.service);
                q(&mut f.fallback);
            }
            ServiceKind::Fixed(_) => {}
        }
    }
}

impl Middleware {
    /// The middlewares this middleware refers to (a chain's members).
    pub fn referenced_middlewares(&self) -> Vec<&str> {
        match self {
            Middleware::Chain(chain) => chain.middlewares.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The services this middleware refers to (the `errors` middleware's error page service).
    pub fn referenced_services(&self) -> Vec<&str> {
        match self {
            Middleware::Errors(errors) if !errors.service.is_empty() => vec![errors.service.as_str()],
            _ => Vec::new(),
        }
    }

    /// Qualifies the names this middleware refers to with `provider`.
    pub(crate) fn qualify_references(&mut self, provider: &str) {
        match self {
            Middleware::Chain(chain) => {
                for name in &mut chain.middlewares {
                    *name = qualify(name, provider);
                }
            }
            Middleware::Errors(errors) if !errors.service.is_empty() => {
                errors.service = qualify(&errors.service, provider);
            }
            _ => {}
        }
    }
}
