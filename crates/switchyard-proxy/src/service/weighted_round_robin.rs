//! Traefik's weighted round robin: an earliest-deadline-first schedule over the servers' weights.

/// Each server has a virtual deadline; the earliest is picked and moves `1 / weight` further. Over a
/// cycle every server is picked in proportion to its weight, spread out rather than in bursts.
#[derive(Debug)]
pub(crate) struct EarliestDeadline {
    current: f64,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    deadline: f64,
    step: f64,
    index: usize,
}

impl EarliestDeadline {
    /// Schedules `(index, weight)` pairs; weights must be positive.
    pub(crate) fn new(weights: impl IntoIterator<Item = (usize, u32)>) -> Self {
        let entries = weights
            .into_iter()
            .map(|(index, weight)| {
                let step = 1.0 / f64::from(weight.max(1));
                Entry {
                    deadline: step,
                    step,
                    index,
                }
            })
            .collect();
        Self { current: 0.0, entries }
    }

    /// How many servers are scheduled.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The next server's index, or `None` without servers. Ties go to the server listed first.
    pub(crate) fn next(&mut self) -> Option<usize> {
        let entry = self
            .entries
            .iter_mut()
            .min_by(|a, b| a.deadline.total_cmp(&b.deadline))?;
        self.current = entry.deadline;
        entry.deadline += entry.step;
        Some(entry.index)
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
}
