//! Routes that constrain neither host nor path but require a regexp on one of them
//! (`PathRegexp(`\.php$`)`, `HostRegexp(`internal`) && Method(`POST`)`): one `RegexSet` pass over
//! the host or path tells which of them can match, so the rest are never evaluated.

use std::cell::RefCell;

use regex::bytes::{RegexSet, RegexSetBuilder};

use super::Rank;
use crate::expr::Expr;
use crate::go_regex::GoRegex;
use crate::matcher::Matcher;

/// Large sets are allowed more room than single patterns; past it the routes are scanned instead.
const SET_SIZE_LIMIT: usize = 64 << 20;

/// What a gate's regexps run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Host,
    Path,
}

/// The regexp the expression requires to match on the host or the path, if it requires one.
pub(super) fn required_regex(expr: &Expr) -> Option<(Field, &GoRegex)> {
    match expr {
        Expr::Matcher(Matcher::HostRegexp(re)) => Some((Field::Host, re)),
        Expr::Matcher(Matcher::PathRegexp(re)) => Some((Field::Path, re)),
        Expr::And(all) => all.iter().find_map(required_regex),
        _ => None,
    }
}

/// Gated routes in match order, with the set of their gating regexps in the same order.
#[derive(Debug, Default)]
pub(super) struct RegexGate {
    ranks: Vec<Rank>,
    /// `None` when there are no routes, or the set would be too large (then every route is tried).
    set: Option<RegexSet>,
}

thread_local! {
    /// Which patterns of a set matched; reused so that matching does not allocate.
    static HITS: RefCell<Vec<bool>> = const { RefCell::new(Vec::new()) };
}

impl RegexGate {
    pub(super) fn new(gated: Vec<(Rank, &GoRegex)>) -> Self {
        let set = (!gated.is_empty())
            .then(|| {
                RegexSetBuilder::new(gated.iter().map(|(_, re)| re.translated()))
                    .size_limit(SET_SIZE_LIMIT)
                    .build()
                    .ok()
            })
            .flatten();
        Self {
            ranks: gated.into_iter().map(|(rank, _)| rank).collect(),
            set,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ranks.len()
    }

    /// Tries, in order, the gated routes whose regexp matches `haystack` and that could beat `best`.
    #[inline]
    pub(super) fn find(&self, haystack: &[u8], best: &mut Rank, matches: &impl Fn(Rank) -> bool) {
        if self.ranks.first().is_none_or(|&first| first >= *best) {
            return;
        }
        let Some(set) = &self.set else {
            super::index::scan(&self.ranks, best, matches);
            return;
        };
        HITS.with_borrow_mut(|hits| {
            hits.clear();
            hits.resize(self.ranks.len(), false);
            if !set.matches_read_at(hits, haystack, 0) {
                return;
            }
            for (&rank, &hit) in self.ranks.iter().zip(hits.iter()) {
                if rank >= *best {
                    return;
                }
                if hit && matches(rank) {
                    *best = rank;
                    return;
                }
            }
        });
    }
}
