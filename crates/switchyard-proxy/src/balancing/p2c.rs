//! `p2c`: power of two choices. Two servers drawn at random; the one with fewer requests in flight wins
//! (as in Traefik, weights do not count).

use super::ServerSet;

/// `p2c` over the servers with a positive weight.
#[derive(Debug)]
pub(super) struct PowerOfTwo {
    eligible: Vec<usize>,
}

impl PowerOfTwo {
    pub(super) fn new(eligible: Vec<usize>) -> Self {
        Self { eligible }
    }

    pub(super) fn pick(&self, servers: &dyn ServerSet) -> Option<usize> {
        let up = |i: &usize| servers.stats(*i).is_up();
        let less_loaded = |a: usize, b: usize| {
            if servers.stats(b).in_flight() < servers.stats(a).in_flight() {
                b
            } else {
                a
            }
        };
        // Draw from all servers first; only when a draw is out of rotation, from those in it.
        let (first, second) = two_of(self.eligible.len());
        let (a, b) = (self.eligible[first], self.eligible[second.unwrap_or(first)]);
        if up(&a) && up(&b) {
            return Some(less_loaded(a, b));
        }
        let healthy: Vec<usize> = self.eligible.iter().copied().filter(up).collect();
        match two_of(healthy.len()) {
            (_, _) if healthy.is_empty() => None,
            (first, None) => Some(healthy[first]),
            (first, Some(second)) => Some(less_loaded(healthy[first], healthy[second])),
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
