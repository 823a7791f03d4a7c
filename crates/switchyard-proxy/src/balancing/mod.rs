//! How a load balancer picks a server: Traefik's `strategy` values, one module each, and strategies of
//! your own behind the [`Balancer`] trait.
//!
//! - `wrr`: weighted round robin (Traefik's default); exact shares over a cycle.
//! - `p2c`: power of two choices on requests in flight.
//! - `hrw`: highest random weight (rendezvous hashing) of the client address.
//! - `leasttime`: the lowest latency (a peak-sensitive moving average) times requests in flight.
//!
//! A strategy picks among the servers in rotation ([`ServerStats::is_up`], which health checks set)
//! with a positive weight. [`Picker`] runs a strategy over any servers that are [`Candidate`]s, so
//! services of your own can use the built-in strategies; a [`Balancer`] registered on a gateway
//! (`Gateway::balancer`) serves load balancers whose configuration names it as their `strategy`.

mod hrw;
mod leasttime;
mod p2c;
mod stats;
mod wrr;

use std::net::IpAddr;
use std::sync::Arc;

use switchyard_config::Strategy;

pub(crate) use hrw::{client_key, mix, name_hash, weighted_score};
pub use stats::{InFlight, ServerStats};
pub(crate) use wrr::EarliestDeadline;

/// A server as strategies see it.
pub trait Candidate {
    /// Its weight; 0 takes it out of rotation.
    fn weight(&self) -> u32;
    /// Its URL, which `hrw` hashes.
    fn url(&self) -> &str;
    /// What the balancer knows of its load, latency and health.
    fn stats(&self) -> &Arc<ServerStats>;
}

/// A load balancer's servers, by position, as a [`Balancer`] sees them.
pub trait ServerSet {
    /// How many servers there are.
    fn len(&self) -> usize;
    /// Whether there is none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The weight of server `index`; 0 takes it out of rotation.
    fn weight(&self, index: usize) -> u32;
    /// The URL of server `index`.
    fn url(&self, index: usize) -> &str;
    /// What the balancer knows of server `index`: load, latency, and whether it is in rotation.
    fn stats(&self, index: usize) -> &ServerStats;
}

impl<C: Candidate> ServerSet for &[C] {
    fn len(&self) -> usize {
        <[C]>::len(self)
    }

    fn weight(&self, index: usize) -> u32 {
        self[index].weight()
    }

    fn url(&self, index: usize) -> &str {
        self[index].url()
    }

    fn stats(&self, index: usize) -> &ServerStats {
        self[index].stats()
    }
}

/// A load-balancing strategy of your own, for the load balancers whose `strategy` names it.
///
/// It picks the index of the server for the next request among those in rotation
/// (`servers.stats(i).is_up()`) with a positive weight, or `None` when there is none (the service
/// then answers 503). With [`tracks_load`](Self::tracks_load), the gateway counts each request in
/// flight on its server until its answer ends, and records its time to first byte, for the strategy
/// to read from [`ServerStats`].
///
/// ```
/// use std::net::IpAddr;
/// use switchyard_proxy::balancing::{Balancer, ServerSet};
///
/// /// Always the first server in rotation, as a primary with standbys.
/// #[derive(Debug, Default)]
/// struct FirstUp;
///
/// impl Balancer for FirstUp {
///     fn pick(&self, servers: &dyn ServerSet, _client: IpAddr) -> Option<usize> {
///         (0..servers.len()).find(|&i| servers.weight(i) > 0 && servers.stats(i).is_up())
///     }
/// }
/// ```
pub trait Balancer: Send + Sync + std::fmt::Debug {
    /// The server for the next request from `client`.
    fn pick(&self, servers: &dyn ServerSet, client: IpAddr) -> Option<usize>;

    /// Whether requests are to be counted in flight and their latency observed. Default: no.
    fn tracks_load(&self) -> bool {
        false
    }
}

/// Makes a [`Balancer`] for a load balancer's servers (read their weights and URLs there, once per
/// configuration), when a configuration names its strategy.
#[derive(Clone)]
pub struct BalancerFactory(Arc<MakeBalancer>);

type MakeBalancer = dyn Fn(&dyn ServerSet) -> Box<dyn Balancer> + Send + Sync;

impl BalancerFactory {
    /// A factory from a function of the servers.
    pub fn new<F>(factory: F) -> Self
    where
        F: Fn(&dyn ServerSet) -> Box<dyn Balancer> + Send + Sync + 'static,
    {
        Self(Arc::new(factory))
    }

    /// The balancer of `servers`.
    pub fn build(&self, servers: &dyn ServerSet) -> Box<dyn Balancer> {
        (self.0)(servers)
    }
}

impl std::fmt::Debug for BalancerFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BalancerFactory")
    }
}

/// A load balancer's choice of server, by strategy, over servers with a positive weight.
///
/// ```
/// use std::sync::Arc;
/// use switchyard_config::Strategy;
/// use switchyard_proxy::balancing::{Candidate, Picker, ServerStats};
///
/// struct Backend { url: String, stats: Arc<ServerStats> }
///
/// impl Candidate for Backend {
///     fn weight(&self) -> u32 { 1 }
///     fn url(&self) -> &str { &self.url }
///     fn stats(&self) -> &Arc<ServerStats> { &self.stats }
/// }
///
/// let backends: Vec<Backend> = (0..3)
///     .map(|i| Backend { url: format!("http://10.0.0.{i}"), stats: Arc::default() })
///     .collect();
/// let picker = Picker::new(&Strategy::P2c, &backends);
/// let client = "192.0.2.1".parse().unwrap();
/// let index = picker.pick(&backends, client).unwrap();
/// let _in_flight = backends[index].stats.start(); // counted until dropped
/// ```
#[derive(Debug)]
pub struct Picker(Choice);

#[derive(Debug)]
enum Choice {
    /// No server can take requests (none configured, or every weight is 0).
    Empty,
    RoundRobin(wrr::RoundRobin),
    Weighted(wrr::Weighted),
    PowerOfTwo(p2c::PowerOfTwo),
    Rendezvous(hrw::Rendezvous),
    LeastTime(leasttime::LeastTime),
    Custom(Box<dyn Balancer>),
}

impl Picker {
    /// The picker of a built-in `strategy` over `servers` (their weights are read once, here). A
    /// strategy of your own ([`Strategy::Custom`]) picks as `wrr` here: build it with
    /// [`custom`](Self::custom).
    pub fn new<S: Candidate>(strategy: &Strategy, servers: &[S]) -> Self {
        Self::builtin(strategy, &servers)
    }

    /// A picker running a [`Balancer`] of your own.
    pub fn custom(balancer: Box<dyn Balancer>) -> Self {
        Self(Choice::Custom(balancer))
    }

    fn builtin(strategy: &Strategy, servers: &dyn ServerSet) -> Self {
        let eligible: Vec<usize> = (0..servers.len()).filter(|&i| servers.weight(i) > 0).collect();
        if eligible.is_empty() {
            return Self(Choice::Empty);
        }
        Self(match strategy {
            Strategy::P2c => Choice::PowerOfTwo(p2c::PowerOfTwo::new(eligible)),
            Strategy::Hrw => Choice::Rendezvous(hrw::Rendezvous::new(servers, eligible)),
            Strategy::LeastTime => Choice::LeastTime(leasttime::LeastTime::new(eligible)),
            _ => {
                let first = servers.weight(eligible[0]);
                if eligible.iter().all(|&i| servers.weight(i) == first) {
                    Choice::RoundRobin(wrr::RoundRobin::new(eligible))
                } else {
                    Choice::Weighted(wrr::Weighted::new(servers, &eligible))
                }
            }
        })
    }

    /// Whether the strategy needs requests counted in flight ([`ServerStats::start`]) and latencies
    /// observed ([`ServerStats::observe`]).
    pub fn tracks_load(&self) -> bool {
        match &self.0 {
            Choice::PowerOfTwo(_) | Choice::LeastTime(_) => true,
            Choice::Custom(balancer) => balancer.tracks_load(),
            _ => false,
        }
    }

    /// The index of the server for the next request from `client`, among servers in rotation.
    pub fn pick<S: Candidate>(&self, servers: &[S], client: IpAddr) -> Option<usize> {
        self.pick_from(&servers, client)
    }

    fn pick_from(&self, servers: &dyn ServerSet, client: IpAddr) -> Option<usize> {
        match &self.0 {
            Choice::Empty => None,
            Choice::RoundRobin(round) => round.pick(servers),
            Choice::Weighted(schedule) => schedule.pick(servers),
            Choice::PowerOfTwo(two) => two.pick(servers),
            Choice::Rendezvous(rendezvous) => rendezvous.pick(servers, client),
            Choice::LeastTime(least) => least.pick(servers),
            Choice::Custom(balancer) => balancer.pick(servers, client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Fake {
        weight: u32,
        url: String,
        stats: Arc<ServerStats>,
    }

    impl Candidate for Fake {
        fn weight(&self) -> u32 {
            self.weight
        }
        fn url(&self) -> &str {
            &self.url
        }
        fn stats(&self) -> &Arc<ServerStats> {
            &self.stats
        }
    }

    fn servers(weights: &[u32]) -> Vec<Fake> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Fake {
                weight,
                url: format!("http://10.0.0.{i}:80"),
                stats: Arc::default(),
            })
            .collect()
    }

    #[test]
    fn p2c_prefers_the_less_loaded_server_and_skips_weight_zero() {
        let servers = servers(&[1, 1, 0]);
        let picker = Picker::new(&Strategy::P2c, &servers);
        let _busy: Vec<_> = (0..5).map(|_| servers[0].stats.start()).collect();
        for _ in 0..100 {
            assert_eq!(picker.pick(&servers, IpAddr::from([127, 0, 0, 1])), Some(1));
        }
    }

    #[test]
    fn hrw_is_stable_per_client_and_moves_only_the_removed_servers_clients() {
        let all = servers(&[1, 1, 1, 1]);
        let picker = Picker::new(&Strategy::Hrw, &all);
        let clients: Vec<IpAddr> = (0..200u8).map(|i| IpAddr::from([192, 0, 2, i])).collect();
        let before: Vec<_> = clients.iter().map(|&c| picker.pick(&all, c).unwrap()).collect();
        let again: Vec<_> = clients.iter().map(|&c| picker.pick(&all, c).unwrap()).collect();
        assert_eq!(before, again);
        for server in 0..4 {
            assert!(before.contains(&server), "every server gets clients");
        }
        // Server 3 leaves (weight 0): only its clients move.
        let mut fewer = servers(&[1, 1, 1, 0]);
        fewer.iter_mut().zip(&all).for_each(|(f, a)| f.url = a.url.clone());
        let picker = Picker::new(&Strategy::Hrw, &fewer);
        for (client, &was) in clients.iter().zip(&before) {
            let now = picker.pick(&fewer, *client).unwrap();
            if was != 3 {
                assert_eq!(now, was);
            }
        }
    }

    #[test]
    fn hrw_shares_clients_by_weight() {
        let servers = servers(&[2, 1]);
        let picker = Picker::new(&Strategy::Hrw, &servers);
        let heavy = (0..6000u32)
            .map(|i| IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]))
            .filter(|&c| picker.pick(&servers, c) == Some(0))
            .count();
        let share = heavy as f64 / 6000.0;
        assert!((share - 2.0 / 3.0).abs() < 0.03, "{share}");
    }

    #[test]
    fn leasttime_avoids_the_slow_server_and_rotates_ties() {
        let servers = servers(&[1, 1, 1]);
        let picker = Picker::new(&Strategy::LeastTime, &servers);
        let client = IpAddr::from([127, 0, 0, 1]);
        let first: Vec<_> = (0..3).map(|_| picker.pick(&servers, client).unwrap()).collect();
        assert_eq!(first, [0, 1, 2], "no samples yet: ties rotate");
        servers[0].stats.observe(Duration::from_millis(200));
        servers[1].stats.observe(Duration::from_millis(5));
        servers[2].stats.observe(Duration::from_millis(20));
        assert_eq!(picker.pick(&servers, client), Some(1));
        let _busy: Vec<_> = (0..9).map(|_| servers[1].stats.start()).collect();
        assert_eq!(
            picker.pick(&servers, client),
            Some(2),
            "in-flight requests raise the cost"
        );
    }
}
