//! How a load balancer picks a server: Traefik's `strategy` values.
//!
//! - `wrr`: weighted round robin. Equal weights rotate lock-free; unequal ones follow an
//!   earliest-deadline-first schedule, so each server gets exactly its share over a cycle.
//! - `p2c`: power of two choices — two servers drawn at random, the one with fewer requests in flight
//!   wins (as Traefik; weights do not count).
//! - `hrw`: highest random weight (rendezvous hashing) of the client IP: each server scores
//!   `weight / -ln(h)` with `h` a hash of the client and the server, the highest wins, and only the
//!   clients of a removed server move. Traefik hashes the concatenated client address and URL for each
//!   server at each pick; switchyard hashes each URL once per configuration and mixes it with the
//!   client's hash, which costs a few nanoseconds per server instead of a string hash (clients
//!   therefore land on other servers than under Traefik, with the same stability).
//! - `leasttime`: the lowest `latency × (1 + in flight) / weight`. Traefik averages the last response
//!   times; switchyard uses a peak-sensitive moving average (peak EWMA, as Finagle and linkerd do), which
//!   reacts to a server slowing down at once and forgets it gradually. Ties rotate.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::weighted_round_robin::EarliestDeadline;

/// How long a latency peak takes to fade to 1/e of itself.
const DECAY: Duration = Duration::from_secs(10);

/// What a load balancer keeps per server for picking: load, latency and health. It outlives a reload
/// for a server that stays.
#[derive(Debug)]
pub struct ServerStats {
    in_flight: AtomicU64,
    latency: PeakEwma,
    up: AtomicBool,
    /// Passive health: recent failures, and whether the server is already benched for them.
    failures: Mutex<Vec<Instant>>,
    benched: AtomicBool,
}

impl Default for ServerStats {
    fn default() -> Self {
        Self {
            in_flight: AtomicU64::new(0),
            latency: PeakEwma::default(),
            up: AtomicBool::new(true),
            failures: Mutex::new(Vec::new()),
            benched: AtomicBool::new(false),
        }
    }
}

impl ServerStats {
    /// Whether the server is in rotation.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Sets the server in or out of rotation; returns whether that changed anything.
    pub fn set_up(&self, up: bool) -> bool {
        self.up.swap(up, Ordering::Relaxed) != up
    }

    pub(crate) fn clear_failures(&self) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.clear();
        }
    }

    /// Records a failure at `now` and returns how many fall within `window`.
    pub(crate) fn add_failure(&self, now: Instant, window: Duration) -> usize {
        let Ok(mut failures) = self.failures.lock() else {
            return 0;
        };
        failures.retain(|t| now.saturating_duration_since(*t) < window);
        failures.push(now);
        failures.len()
    }

    /// Marks the server benched by passive health; `false` when it already was.
    pub(crate) fn bench(&self) -> bool {
        !self.benched.swap(true, Ordering::Relaxed)
    }

    pub(crate) fn unbench(&self) {
        self.benched.store(false, Ordering::Relaxed);
        self.clear_failures();
    }

    /// Requests in flight on the server (counted by [`start`](Self::start)).
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Records a time to first byte.
    pub fn observe(&self, latency: Duration) {
        self.latency.observe(latency, Instant::now());
    }

    fn latency_nanos(&self, since: u64) -> f64 {
        self.latency.get(since)
    }
}

/// A request counted in flight on a server, until dropped (with the response body, for a response).
#[derive(Debug)]
pub struct InFlight(Arc<ServerStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A moving average of latency that jumps to a new peak at once and decays over [`DECAY`]. Kept in
/// atomics: picks read every server's value, and a lost update between two racing observations only
/// drops one sample.
#[derive(Debug, Default)]
struct PeakEwma {
    /// Nanoseconds, as `f64` bits; 0 before the first sample.
    cost: AtomicU64,
    /// When `cost` was last set, in nanoseconds since [`epoch`].
    stamp: AtomicU64,
}

/// The instant latency stamps count from.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// How much of a value measured `elapsed` ago remains: `e^(-elapsed / DECAY)`, with the exponential
/// spared for the common case of a recent value.
fn decay(elapsed_nanos: u64) -> f64 {
    let ratio = elapsed_nanos as f64 / DECAY.as_nanos() as f64;
    if ratio < 1e-3 {
        1.0 - ratio
    } else if ratio < 1.0 {
        // The Taylor series to the fourth power: within 0.4% of e^-ratio here, at a fraction of the cost.
        1.0 / (1.0 + ratio * (1.0 + ratio * (0.5 + ratio * (1.0 / 6.0 + ratio / 24.0))))
    } else {
        (-ratio).exp()
    }
}

/// Nanoseconds from [`epoch`] to `now`.
fn since_epoch(now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

impl PeakEwma {
    fn observe(&self, latency: Duration, now: Instant) {
        let sample = latency.as_nanos() as f64;
        let since = since_epoch(now);
        let cost = f64::from_bits(self.cost.load(Ordering::Relaxed));
        let next = if cost == 0.0 || sample > cost {
            sample
        } else {
            let weight = decay(since.saturating_sub(self.stamp.load(Ordering::Relaxed)));
            cost * weight + sample * (1.0 - weight)
        };
        self.cost.store(next.to_bits(), Ordering::Relaxed);
        self.stamp.store(since, Ordering::Relaxed);
    }

    /// The decayed cost at `since` nanoseconds from [`epoch`].
    fn get(&self, since: u64) -> f64 {
        let cost = f64::from_bits(self.cost.load(Ordering::Relaxed));
        if cost == 0.0 {
            return 0.0;
        }
        cost * decay(since.saturating_sub(self.stamp.load(Ordering::Relaxed)))
    }
}

/// A server as strategies see it.
pub trait Candidate {
    /// Its weight; 0 takes it out of rotation.
    fn weight(&self) -> u32;
    /// Its URL, which `hrw` hashes.
    fn url(&self) -> &str;
    /// What the balancer knows of its load, latency and health.
    fn stats(&self) -> &Arc<ServerStats>;
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
/// let picker = Picker::new(Strategy::P2c, &backends);
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
    /// `wrr` with equal weights: a lock-free rotation.
    RoundRobin { next: AtomicUsize, eligible: Vec<usize> },
    /// `wrr` with unequal weights: Traefik's earliest-deadline schedule.
    Weighted(Mutex<EarliestDeadline>),
    /// `p2c`.
    PowerOfTwo { eligible: Vec<usize> },
    /// `hrw`: the servers' URL hashes, and whether all weights are equal.
    Rendezvous {
        eligible: Vec<usize>,
        hashes: Vec<u64>,
        equal: bool,
    },
    /// `leasttime`.
    LeastTime { eligible: Vec<usize>, tie: AtomicUsize },
}

impl Picker {
    /// The picker of `strategy` over `servers` (their weights are read once, here).
    pub fn new<S: Candidate>(strategy: switchyard_config::Strategy, servers: &[S]) -> Self {
        use switchyard_config::Strategy;
        let eligible: Vec<usize> = (0..servers.len()).filter(|&i| servers[i].weight() > 0).collect();
        if eligible.is_empty() {
            return Self(Choice::Empty);
        }
        Self(match strategy {
            Strategy::Wrr => {
                let first = servers[eligible[0]].weight();
                if eligible.iter().all(|&i| servers[i].weight() == first) {
                    Choice::RoundRobin {
                        next: AtomicUsize::new(0),
                        eligible,
                    }
                } else {
                    Choice::Weighted(Mutex::new(EarliestDeadline::new(
                        eligible.iter().map(|&i| (i, servers[i].weight())),
                    )))
                }
            }
            Strategy::P2c => Choice::PowerOfTwo { eligible },
            Strategy::Hrw => {
                let first = servers[eligible[0]].weight();
                Choice::Rendezvous {
                    hashes: eligible
                        .iter()
                        .map(|&i| Fnv1a::new().write(servers[i].url().as_bytes()).0)
                        .collect(),
                    equal: eligible.iter().all(|&i| servers[i].weight() == first),
                    eligible,
                }
            }
            Strategy::LeastTime => Choice::LeastTime {
                eligible,
                tie: AtomicUsize::new(0),
            },
        })
    }

    /// Whether the strategy needs requests counted in flight ([`ServerStats::start`]) and latencies
    /// observed ([`ServerStats::observe`]).
    pub fn tracks_load(&self) -> bool {
        matches!(&self.0, Choice::PowerOfTwo { .. } | Choice::LeastTime { .. })
    }

    /// The index of the server for the next request from `client`, among servers in rotation.
    pub fn pick<S: Candidate>(&self, servers: &[S], client: IpAddr) -> Option<usize> {
        let up = |i: &usize| servers[*i].stats().is_up();
        match &self.0 {
            Choice::Empty => None,
            Choice::RoundRobin { next, eligible } => {
                // At most one turn around the ring to find a server in rotation.
                (0..eligible.len())
                    .map(|_| eligible[next.fetch_add(1, Ordering::Relaxed) % eligible.len()])
                    .find(up)
            }
            Choice::Weighted(schedule) => {
                let mut schedule = schedule.lock().ok()?;
                (0..schedule.len()).filter_map(|_| schedule.next()).find(up)
            }
            Choice::PowerOfTwo { eligible } => {
                let less_loaded = |a: usize, b: usize| {
                    if servers[b].stats().in_flight() < servers[a].stats().in_flight() {
                        b
                    } else {
                        a
                    }
                };
                // Draw from all servers first; only when a draw is out of rotation, from those in it.
                let (first, second) = two_of(eligible.len());
                let (a, b) = (eligible[first], eligible[second.unwrap_or(first)]);
                if up(&a) && up(&b) {
                    return Some(less_loaded(a, b));
                }
                let healthy: Vec<usize> = eligible.iter().copied().filter(up).collect();
                match two_of(healthy.len()) {
                    (_, _) if healthy.is_empty() => None,
                    (first, None) => Some(healthy[first]),
                    (first, Some(second)) => Some(less_loaded(healthy[first], healthy[second])),
                }
            }
            Choice::Rendezvous {
                eligible,
                hashes,
                equal,
            } => {
                let key = client_key(client);
                let mut best: Option<(usize, f64)> = None;
                for (&i, &hash) in eligible.iter().zip(hashes.iter()).filter(|(i, _)| up(i)) {
                    let unit = mix(key, hash);
                    // With equal weights the largest hash wins; otherwise Traefik's weighted score.
                    let score = if *equal {
                        unit
                    } else {
                        weighted_score(unit, servers[i].weight())
                    };
                    if best.is_none_or(|(_, top)| score > top) {
                        best = Some((i, score));
                    }
                }
                best.map(|(i, _)| i)
            }
            Choice::LeastTime { eligible, tie } => {
                let now = since_epoch(Instant::now());
                let mut best = f64::MAX;
                let mut candidates: smallvec::SmallVec<[usize; 8]> = smallvec::SmallVec::new();
                for &i in eligible.iter().filter(|i| up(i)) {
                    let server = &servers[i];
                    let stats = server.stats();
                    let score =
                        stats.latency_nanos(now) * (1.0 + stats.in_flight() as f64) / f64::from(server.weight());
                    if score < best {
                        best = score;
                        candidates.clear();
                        candidates.push(i);
                    } else if score == best {
                        candidates.push(i);
                    }
                }
                if candidates.is_empty() {
                    return None;
                }
                let turn = tie.fetch_add(1, Ordering::Relaxed);
                candidates.get(turn % candidates.len()).copied()
            }
        }
    }
}

/// Two distinct random positions below `n` (`n > 0`); the second is `None` when `n == 1`.
fn two_of(n: usize) -> (usize, Option<usize>) {
    if n <= 1 {
        return (0, None);
    }
    let first = fastrand::usize(..n);
    let mut second = fastrand::usize(..n);
    if second == first {
        second = (second + 1) % n;
    }
    (first, Some(second))
}

/// The rendezvous weight of a client and a target as a number in (0, 1]: their hashes mixed with a
/// finalizer that spreads every input bit over the output (SplitMix64's), so that each target's share
/// of clients is even and a target's removal moves only its own clients.
pub(crate) fn mix(client: u64, target: u64) -> f64 {
    let mut z = client ^ target.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // 53 random bits as a float in (0, 1].
    ((z >> 11) + 1) as f64 / 9_007_199_254_740_992.0
}

/// Weighted rendezvous: `weight / -ln(unit)`, the highest wins (so a server of weight 2 wins twice as
/// many clients as one of weight 1).
pub(crate) fn weighted_score(unit: f64, weight: u32) -> f64 {
    let log = -unit.ln();
    if log <= 0.0 { f64::MAX } else { f64::from(weight) / log }
}

/// The hash of a target's name (a server URL, a service name), to mix with a client's.
pub(crate) fn name_hash(name: &str) -> u64 {
    Fnv1a::new().write(name.as_bytes()).0
}

/// The hash of a client address, to mix with targets' hashes.
pub(crate) fn client_key(client: IpAddr) -> u64 {
    match client.to_canonical() {
        IpAddr::V4(v4) => u64::from(u32::from(v4)).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            ((bits >> 64) as u64 ^ (bits as u64).rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        }
    }
}

/// 64-bit FNV-1a, the hash Traefik's `hrw` uses.
#[derive(Debug, Clone, Copy)]
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::Strategy;

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
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(Fnv1a::new().write(b"").0, 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::new().write(b"a").0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv1a::new().write(b"foobar").0, 0x8594_4171_f739_67e8);
    }

    #[test]
    fn p2c_prefers_the_less_loaded_server_and_skips_weight_zero() {
        let servers = servers(&[1, 1, 0]);
        let picker = Picker::new(Strategy::P2c, &servers);
        let _busy: Vec<_> = (0..5).map(|_| servers[0].stats.start()).collect();
        for _ in 0..100 {
            assert_eq!(picker.pick(&servers, IpAddr::from([127, 0, 0, 1])), Some(1));
        }
    }

    #[test]
    fn hrw_is_stable_per_client_and_moves_only_the_removed_servers_clients() {
        let all = servers(&[1, 1, 1, 1]);
        let picker = Picker::new(Strategy::Hrw, &all);
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
        let picker = Picker::new(Strategy::Hrw, &fewer);
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
        let picker = Picker::new(Strategy::Hrw, &servers);
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
        let picker = Picker::new(Strategy::LeastTime, &servers);
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

    #[test]
    fn peak_ewma_jumps_up_and_decays() {
        let ewma = PeakEwma::default();
        let t0 = Instant::now();
        ewma.observe(Duration::from_millis(10), t0);
        ewma.observe(Duration::from_millis(100), t0);
        assert!((ewma.get(since_epoch(t0)) - 100e6).abs() < 1.0);
        let later = since_epoch(t0 + DECAY);
        assert!(ewma.get(later) < 40e6, "{}", ewma.get(later));
        let soon = since_epoch(t0 + DECAY / 2);
        assert!((ewma.get(soon) / 100e6 - (-0.5f64).exp()).abs() < 0.005);
    }
}
