//! UDP services: a load balancer giving new sessions to its servers in turn, or a weighted split over
//! other UDP services, with Traefik's interleaved weighted round robin.

use std::sync::Arc;

use crate::tcp::WeightedTurns;

/// A compiled UDP service.
#[derive(Debug, Clone)]
pub(crate) enum UdpService {
    /// `loadBalancer`: server addresses (`host:port`) in turn.
    Balancer(Arc<(Vec<String>, WeightedTurns)>),
    /// `weighted`: services by weight.
    Weighted(Arc<(Vec<UdpService>, WeightedTurns)>),
}

impl UdpService {
    /// A load balancer over `servers`.
    pub(crate) fn balancer(servers: Vec<String>) -> Self {
        let turns = WeightedTurns::new(vec![1; servers.len()]);
        UdpService::Balancer(Arc::new((servers, turns)))
    }

    /// A weighted split over `services`.
    pub(crate) fn weighted(services: Vec<UdpService>, weights: Vec<u32>) -> Self {
        UdpService::Weighted(Arc::new((services, WeightedTurns::new(weights))))
    }

    /// The server a new session goes to.
    pub(crate) fn pick(&self) -> Option<&str> {
        match self {
            UdpService::Balancer(lb) => lb.0.get(lb.1.next()?).map(String::as_str),
            UdpService::Weighted(w) => w.0.get(w.1.next()?)?.pick(),
        }
    }
}
