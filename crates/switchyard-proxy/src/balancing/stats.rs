//! What a load balancer knows of each server: requests in flight, a latency average, and whether it
//! is in rotation (health). It outlives a reload for a server that stays.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

    pub(super) fn latency_nanos(&self, since: u64) -> f64 {
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
pub(super) fn since_epoch(now: Instant) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
