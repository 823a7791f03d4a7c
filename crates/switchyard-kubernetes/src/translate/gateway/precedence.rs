//! The specification's precedence among HTTPRoute matches, encoded as router priorities over the
//! whole set: hostname specificity, then an `Exact` path, the longest prefix, a method, the most
//! header matches, the most query parameter matches, then the oldest route, then `{namespace}/{name}`,
//! then rule order (and match order within a rule).

use std::cmp::Ordering;

use super::grpc_matches::GrpcRank;
use super::matches::MatchRank;

/// What precedence reads from a match: HTTPRoutes and GRPCRoutes each have their own order, and are
/// never ranked against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    Http(MatchRank),
    Grpc(GrpcRank),
}

/// What orders one router among all those of the provider's HTTPRoutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Precedence {
    /// [`hostname::specificity`](super::hostname::specificity) of the router's hostname.
    pub(crate) hostname: (usize, usize),
    pub(crate) rank: Rank,
    /// The route's `creationTimestamp` (RFC 3339 in UTC sorts as text).
    pub(crate) created: String,
    /// `{namespace}/{name}` of the route.
    pub(crate) route: String,
    pub(crate) rule: usize,
    pub(crate) matched: usize,
}

impl Precedence {
    /// `Less` when `self` goes first.
    fn order(&self, other: &Self) -> Ordering {
        other
            .hostname
            .cmp(&self.hostname)
            .then_with(|| other.rank.cmp(&self.rank))
            .then_with(|| self.created.cmp(&other.created))
            .then_with(|| self.route.cmp(&other.route))
            .then_with(|| self.rule.cmp(&other.rule))
            .then_with(|| self.matched.cmp(&other.matched))
    }
}

/// The priority of each element of `all`, in its order: the first in precedence gets the highest,
/// counting from `base`.
pub(crate) fn priorities(all: &[Precedence], base: i64) -> Vec<i64> {
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| all[a].order(&all[b]));
    let mut priorities = vec![0; all.len()];
    let n = i64::try_from(all.len()).unwrap_or(i64::MAX);
    for (place, index) in order.into_iter().enumerate() {
        priorities[index] = base + n - i64::try_from(place).unwrap_or(n);
    }
    priorities
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hostname: &str, rank: MatchRank, created: &str, route: &str, rule: usize) -> Precedence {
        Precedence {
            hostname: super::super::hostname::specificity(hostname),
            rank: Rank::Http(rank),
            created: created.into(),
            route: route.into(),
            rule,
            matched: 0,
        }
    }

    fn prefix(length: usize) -> MatchRank {
        MatchRank {
            prefix_length: length,
            ..MatchRank::default()
        }
    }

    /// Each row outranks the next, for the reason in its comment.
    #[test]
    fn the_precedence_table() {
        let old = "2026-01-01T00:00:00Z";
        let new = "2026-01-01T00:00:05Z";
        let rows = [
            // A precise hostname, whatever the match.
            at("a.example.com", prefix(0), new, "z/z", 9),
            // A longer wildcard before a shorter one.
            at("*.a.example.com", prefix(0), new, "z/z", 9),
            // An Exact path before any prefix.
            at(
                "*.example.com",
                MatchRank {
                    exact: true,
                    ..prefix(0)
                },
                new,
                "z/z",
                9,
            ),
            // The longest prefix.
            at("*.example.com", prefix(8), new, "z/z", 9),
            // A method.
            at(
                "*.example.com",
                MatchRank {
                    method: true,
                    ..prefix(4)
                },
                new,
                "z/z",
                9,
            ),
            // More header matches.
            at(
                "*.example.com",
                MatchRank {
                    headers: 2,
                    ..prefix(4)
                },
                new,
                "z/z",
                9,
            ),
            at(
                "*.example.com",
                MatchRank {
                    headers: 1,
                    query_params: 0,
                    ..prefix(4)
                },
                new,
                "z/z",
                9,
            ),
            // More query matches.
            at(
                "*.example.com",
                MatchRank {
                    query_params: 1,
                    ..prefix(4)
                },
                new,
                "z/z",
                9,
            ),
            // The oldest route.
            at("*.example.com", prefix(4), old, "z/z", 9),
            // Then `{namespace}/{name}`.
            at("*.example.com", prefix(4), new, "a/b", 9),
            at("*.example.com", prefix(4), new, "b/a", 0),
            // Then rule order.
            at("*.example.com", prefix(4), new, "b/b", 0),
            at("*.example.com", prefix(4), new, "b/b", 1),
            // No hostname last.
            at(
                "",
                MatchRank {
                    exact: true,
                    ..prefix(0)
                },
                old,
                "a/a",
                0,
            ),
        ];
        // Shuffled, so that the input order cannot produce the expectation.
        let mut shuffled: Vec<Precedence> = rows.iter().rev().cloned().collect();
        shuffled.rotate_left(5);
        let priorities = priorities(&shuffled, 0);
        let mut ranked: Vec<(i64, &Precedence)> = priorities.into_iter().zip(&shuffled).collect();
        ranked.sort_by_key(|b| std::cmp::Reverse(b.0));
        let order: Vec<&Precedence> = ranked.into_iter().map(|(_, p)| p).collect();
        assert_eq!(order, rows.iter().collect::<Vec<_>>());
    }

    #[test]
    fn priorities_are_distinct_and_positive() {
        let all: Vec<Precedence> = (0..50).map(|i| at("", prefix(i % 3), "t", "n/n", i)).collect();
        let mut p = priorities(&all, 0);
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), 50);
        assert!(p[0] > 0);
    }
}
