//! `leasttime`: the lowest `latency × (1 + in flight) / weight`. Traefik averages the last response
//! times; switchyard uses a peak-sensitive moving average (peak EWMA, as Finagle and linkerd do), which
//! reacts to a server slowing down at once and forgets it gradually. Ties rotate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use smallvec::SmallVec;

use super::ServerSet;
use super::stats::since_epoch;

/// `leasttime` over the servers with a positive weight.
#[derive(Debug)]
pub(super) struct LeastTime {
    eligible: Vec<usize>,
    tie: AtomicUsize,
}

impl LeastTime {
    pub(super) fn new(eligible: Vec<usize>) -> Self {
        Self {
            eligible,
            tie: AtomicUsize::new(0),
        }
    }

    pub(super) fn pick(&self, servers: &dyn ServerSet) -> Option<usize> {
        let now = since_epoch(Instant::now());
        let mut best = f64::MAX;
        let mut candidates: SmallVec<[usize; 8]> = SmallVec::new();
        for &i in self.eligible.iter().filter(|&&i| servers.stats(i).is_up()) {
            let stats = servers.stats(i);
            let score = stats.latency_nanos(now) * (1.0 + stats.in_flight() as f64) / f64::from(servers.weight(i));
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
        let turn = self.tie.fetch_add(1, Ordering::Relaxed);
        candidates.get(turn % candidates.len()).copied()
    }
}
