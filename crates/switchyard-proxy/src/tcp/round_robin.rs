//! Traefik's weighted round robin for TCP: an interleaved scheduler over integer weights (each pass
//! lowers a threshold by the weights' greatest common divisor, and a member is picked while its weight
//! reaches the threshold), so connection sequences match Traefik's. With equal weights it is plain
//! round robin.

use std::sync::Mutex;

/// The scheduler's position.
#[derive(Debug)]
struct Position {
    index: usize,
    threshold: u32,
}

/// Picks members by weight, in Traefik's order.
#[derive(Debug)]
pub(crate) struct WeightedTurns {
    weights: Vec<u32>,
    max: u32,
    gcd: u32,
    position: Mutex<Position>,
}

impl WeightedTurns {
    /// A scheduler over members of these weights (members of weight 0 are never picked).
    pub(crate) fn new(weights: Vec<u32>) -> Self {
        let max = weights.iter().copied().max().unwrap_or(0);
        let gcd = weights.iter().copied().filter(|w| *w > 0).fold(0, gcd);
        Self {
            weights,
            max,
            gcd,
            position: Mutex::new(Position {
                index: usize::MAX,
                threshold: 0,
            }),
        }
    }

    /// The index of the next member; `None` without members or when every weight is 0.
    pub(crate) fn next(&self) -> Option<usize> {
        self.next_where(|_| true)
    }

    /// The index of the next member that `usable` accepts (an unhealthy one is passed over, as
    /// Traefik does); `None` when none is.
    pub(crate) fn next_where(&self, usable: impl Fn(usize) -> bool) -> Option<usize> {
        if self.max == 0 {
            return None;
        }
        // One full cycle visits every member with a weight at least once.
        let cycle = self.weights.len() * usize::try_from(self.max / self.gcd.max(1)).unwrap_or(usize::MAX).max(1);
        let mut at = self.position.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for _ in 0..=cycle {
            at.index = at.index.wrapping_add(1) % self.weights.len();
            if at.index == 0 {
                at.threshold = at.threshold.saturating_sub(self.gcd);
                if at.threshold == 0 {
                    at.threshold = self.max;
                }
            }
            if self.weights[at.index] >= at.threshold && usable(at.index) {
                return Some(at.index);
            }
        }
        None
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(weights: &[u32], n: usize) -> Vec<usize> {
        let turns = WeightedTurns::new(weights.to_vec());
        (0..n).map(|_| turns.next().unwrap()).collect()
    }

    #[test]
    fn equal_weights_take_turns() {
        assert_eq!(sequence(&[1, 1, 1], 7), [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn weights_interleave_as_traefik_does() {
        // Traefik's TCP weighted round robin over weights 3 and 1: the heavier first, interleaved.
        assert_eq!(sequence(&[3, 1], 8), [0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(sequence(&[2, 4], 6), [1, 0, 1, 1, 0, 1]);
        assert_eq!(sequence(&[0, 2], 3), [1, 1, 1]);
    }

    #[test]
    fn unusable_members_are_passed_over() {
        let turns = WeightedTurns::new(vec![3, 1, 1]);
        let picked: Vec<_> = (0..6).map(|_| turns.next_where(|i| i != 0).unwrap()).collect();
        assert_eq!(picked, [1, 2, 1, 2, 1, 2]);
        assert_eq!(turns.next_where(|_| false), None);
    }

    #[test]
    fn nothing_to_pick() {
        assert_eq!(WeightedTurns::new(vec![]).next(), None);
        assert_eq!(WeightedTurns::new(vec![0, 0]).next(), None);
    }
}
