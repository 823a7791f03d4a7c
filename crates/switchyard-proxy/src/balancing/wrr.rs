//! `wrr`: weighted round robin, Traefik's default. Equal weights rotate lock-free; unequal ones follow
//! Traefik's earliest-deadline-first schedule, so that each server gets exactly its share over a cycle,
//! spread out rather than in bursts.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ServerSet;

/// `wrr` with equal weights: a lock-free rotation.
#[derive(Debug)]
pub(super) struct RoundRobin {
    next: AtomicUsize,
    eligible: Vec<usize>,
}

impl RoundRobin {
    pub(super) fn new(eligible: Vec<usize>) -> Self {
        Self {
            next: AtomicUsize::new(0),
            eligible,
        }
    }

    pub(super) fn pick(&self, servers: &dyn ServerSet) -> Option<usize> {
        // At most one turn around the ring to find a server in rotation.
        (0..self.eligible.len())
            .map(|_| self.eligible[self.next.fetch_add(1, Ordering::Relaxed) % self.eligible.len()])
            .find(|&i| servers.stats(i).is_up())
    }
}

/// `wrr` with unequal weights.
#[derive(Debug)]
pub(super) struct Weighted(Mutex<EarliestDeadline>);

impl Weighted {
    pub(super) fn new(servers: &dyn ServerSet, eligible: &[usize]) -> Self {
        Self(Mutex::new(EarliestDeadline::new(
            eligible.iter().map(|&i| (i, servers.weight(i))),
        )))
    }

    pub(super) fn pick(&self, servers: &dyn ServerSet) -> Option<usize> {
        let mut schedule = self.0.lock().ok()?;
        (0..schedule.len())
            .filter_map(|_| schedule.next())
            .find(|&i| servers.stats(i).is_up())
    }
}

/// Each server has a virtual deadline; the earliest is picked and moves `1 / weight` further. Over a
/// cycle every server is picked in proportion to its weight, spread out rather than in bursts. The
/// deadlines sit in a binary heap, so a pick costs O(log n) for n servers.
#[derive(Debug)]
pub(crate) struct EarliestDeadline {
    heap: BinaryHeap<Reverse<Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    deadline: f64,
    step: f64,
    index: usize,
}

// Earliest deadline first; between equal deadlines, the server listed first.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.deadline
            .total_cmp(&other.deadline)
            .then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for Entry {}

impl EarliestDeadline {
    /// Schedules `(index, weight)` pairs; weights must be positive.
    pub(crate) fn new(weights: impl IntoIterator<Item = (usize, u32)>) -> Self {
        let heap = weights
            .into_iter()
            .map(|(index, weight)| {
                let step = 1.0 / f64::from(weight.max(1));
                Reverse(Entry {
                    deadline: step,
                    step,
                    index,
                })
            })
            .collect();
        Self { heap }
    }

    /// How many servers are scheduled.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The next server's index, or `None` without servers.
    pub(crate) fn next(&mut self) -> Option<usize> {
        let mut top = self.heap.peek_mut()?;
        let index = top.0.index;
        top.0.deadline += top.0.step;
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_honoured_exactly_over_a_cycle() {
        let mut edf = EarliestDeadline::new([(0, 3), (1, 1)]);
        let picks: Vec<_> = (0..8).filter_map(|_| edf.next()).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6);
        assert_eq!(picks.iter().filter(|&&i| i == 1).count(), 2);
        // Spread out: the light server is not starved until the end of the cycle.
        assert!(picks[..4].contains(&1));
    }

    #[test]
    fn many_servers_share_exactly() {
        let weights: Vec<(usize, u32)> = (0..100).map(|i| (i, 1 + (i as u32 % 7))).collect();
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        let mut edf = EarliestDeadline::new(weights.clone());
        let mut counts = vec![0u32; 100];
        for _ in 0..total * 10 {
            counts[edf.next().unwrap()] += 1;
        }
        for (i, w) in weights {
            assert_eq!(counts[i], w * 10, "server {i}");
        }
    }
}
