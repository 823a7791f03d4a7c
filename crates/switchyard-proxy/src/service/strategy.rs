//! How a load balancer picks a server: Traefik's `strategy` values.
//!
//! - `wrr`: weighted round robin. Equal weights rotate lock-free; unequal ones follow an
//!   earliest-deadline-first schedule, so each server gets exactly its share over a cycle.
//! - `p2c`: power of two choices — two servers drawn at random, the one with fewer requests in flight
//!   wins (as Traefik; weights do not count).
//! - `hrw`: highest random weight (rendezvous hashing) of the client IP, with Traefik's score
//!   (`weight / -ln(fnv1a64(ip + url) / 2^64)`), so a client lands on the server Traefik would pick, and
//!   only the clients of a removed server move.
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
pub(crate) struct ServerStats {
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
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Sets the server in or out of rotation; returns whether that changed anything.
    pub(crate) fn set_up(&self, up: bool) -> bool {
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

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Records a time to first byte.
    pub(crate) fn observe(&self, latency: Duration) {
        self.latency.observe(latency, Instant::now());
    }

    fn latency_nanos(&self, now: Instant) -> f64 {
        self.latency.get(now)
    }
}

/// A request counted in flight on a server, until dropped (with the response body, for a response).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ServerStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A moving average of latency that jumps to a new peak at once and decays over [`DECAY`].
#[derive(Debug, Default)]
struct PeakEwma(Mutex<Option<(f64, Instant)>>);

impl PeakEwma {
    fn observe(&self, latency: Duration, now: Instant) {
        let sample = latency.as_nanos() as f64;
        let Ok(mut state) = self.0.lock() else { return };
        let cost = match *state {
            None => sample,
            Some((cost, _)) if sample > cost => sample,
            Some((cost, stamp)) => {
                let weight = (-(now.saturating_duration_since(stamp).as_secs_f64()) / DECAY.as_secs_f64()).exp();
                cost * weight + sample * (1.0 - weight)
            }
        };
        *state = Some((cost, now));
    }

    fn get(&self, now: Instant) -> f64 {
        let Ok(state) = self.0.lock() else { return 0.0 };
        state.map_or(0.0, |(cost, stamp)| {
            cost * (-(now.saturating_duration_since(stamp).as_secs_f64()) / DECAY.as_secs_f64()).exp()
        })
    }
}

/// A server as strategies see it.
pub(crate) trait Candidate {
    fn weight(&self) -> u32;
    fn url(&self) -> &str;
    fn stats(&self) -> &Arc<ServerStats>;
}

/// A load balancer's picker over its servers with a positive weight (`eligible` indexes).
#[derive(Debug)]
pub(crate) enum Picker {
    /// No server can take requests (none configured, or every weight is 0).
    Empty,
    /// `wrr` with equal weights: a lock-free rotation.
    RoundRobin { next: AtomicUsize, eligible: Vec<usize> },
    /// `wrr` with unequal weights: Traefik's earliest-deadline schedule.
    Weighted(Mutex<EarliestDeadline>),
    /// `p2c`.
    PowerOfTwo { eligible: Vec<usize> },
    /// `hrw`.
    Rendezvous { eligible: Vec<usize> },
    /// `leasttime`.
    LeastTime { eligible: Vec<usize>, tie: AtomicUsize },
}

impl Picker {
    pub(crate) fn new<S: Candidate>(strategy: switchyard_config::Strategy, servers: &[S]) -> Self {
        use switchyard_config::Strategy;
        let eligible: Vec<usize> = (0..servers.len()).filter(|&i| servers[i].weight() > 0).collect();
        if eligible.is_empty() {
            return Self::Empty;
        }
        match strategy {
            Strategy::Wrr => {
                let first = servers[eligible[0]].weight();
                if eligible.iter().all(|&i| servers[i].weight() == first) {
                    Self::RoundRobin {
                        next: AtomicUsize::new(0),
                        eligible,
                    }
                } else {
                    Self::Weighted(Mutex::new(EarliestDeadline::new(
                        eligible.iter().map(|&i| (i, servers[i].weight())),
                    )))
                }
            }
            Strategy::P2c => Self::PowerOfTwo { eligible },
            Strategy::Hrw => Self::Rendezvous { eligible },
            Strategy::LeastTime => Self::LeastTime {
                eligible,
                tie: AtomicUsize::new(0),
            },
        }
    }

    /// Whether the strategy needs requests counted in flight and latencies observed.
    pub(crate) fn tracks_load(&self) -> bool {
        matches!(self, Self::PowerOfTwo { .. } | Self::LeastTime { .. })
    }

    /// The index of the server for the next request from `client`, among servers in rotation.
    pub(crate) fn pick<S: Candidate>(&self, servers: &[S], client: IpAddr) -> Option<usize> {
        let up = |i: &usize| servers[*i].stats().is_up();
        match self {
            Self::Empty => None,
            Self::RoundRobin { next, eligible } => {
                // At most one turn around the ring to find a server in rotation.
                (0..eligible.len())
                    .map(|_| eligible[next.fetch_add(1, Ordering::Relaxed) % eligible.len()])
                    .find(up)
            }
            Self::Weighted(schedule) => {
                let mut schedule = schedule.lock().ok()?;
                (0..schedule.len()).filter_map(|_| schedule.next()).find(up)
            }
            Self::PowerOfTwo { eligible } => {
                let healthy: smallvec::SmallVec<[usize; 16]> = eligible.iter().copied().filter(up).collect();
                match healthy.len() {
                    0 => None,
                    1 => Some(healthy[0]),
                    n => {
                        let first = fastrand::usize(..n);
                        let mut second = fastrand::usize(..n);
                        if second == first {
                            second = (second + 1) % n;
                        }
                        let (a, b) = (healthy[first], healthy[second]);
                        Some(if servers[b].stats().in_flight() < servers[a].stats().in_flight() {
                            b
                        } else {
                            a
                        })
                    }
                }
            }
            Self::Rendezvous { eligible } => {
                let key = client_key(client);
                eligible
                    .iter()
                    .filter(|i| up(i))
                    .map(|&i| (i, rendezvous_score(key, &servers[i])))
                    .fold(None, |best: Option<(usize, f64)>, (i, score)| match best {
                        Some((_, top)) if top >= score => best,
                        _ => Some((i, score)),
                    })
                    .map(|(i, _)| i)
            }
            Self::LeastTime { eligible, tie } => {
                let now = Instant::now();
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

/// Traefik's rendezvous score of a client key and a server.
fn rendezvous_score<S: Candidate>(key: Fnv1a, server: &S) -> f64 {
    rendezvous(key, server.url(), server.weight())
}

/// The rendezvous score of a client key (see [`client_key`]) and a target's name and weight.
pub(crate) fn rendezvous(key: Fnv1a, name: &str, weight: u32) -> f64 {
    let hash = key.write(name.as_bytes()).0;
    // Traefik divides by 2^64 in floating point; a hash of 0 scores 0, the lowest.
    let unit = hash as f64 / 18_446_744_073_709_551_616.0;
    if unit <= 0.0 {
        return 0.0;
    }
    f64::from(weight) / -unit.ln()
}

/// The hashing state of a client address, to score targets with [`rendezvous`].
pub(crate) fn client_key(client: IpAddr) -> Fnv1a {
    Fnv1a::new().write(client.to_string().as_bytes())
}

/// 64-bit FNV-1a, the hash Traefik's `hrw` uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv1a(u64);

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
        assert!((ewma.get(t0) - 100e6).abs() < 1.0);
        let later = t0 + DECAY;
        assert!(ewma.get(later) < 40e6, "{}", ewma.get(later));
    }
}
