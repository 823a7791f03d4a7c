//! Routes that constrain neither host nor path but require a regexp on one of them
//! (`PathRegexp(`\.php$`)`, `HostRegexp(`internal`) && Method(`POST`)`): one multi-pattern automaton pass over
//! the host or path tells which of them can match, so the rest are never evaluated.

use std::cell::RefCell;

use regex_automata::meta::{self, Regex as MultiRegex};
use regex_automata::{Input, MatchKind, PatternSet};

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
    /// One automaton for all the gating regexps, reporting every pattern that matches. `None` when
    /// there are no routes, or the set would be too large (then every route is tried).
    set: Option<MultiRegex>,
}

thread_local! {
    /// Which patterns of a set matched; reused so that matching does not allocate.
    static HITS: RefCell<PatternSet> = RefCell::new(PatternSet::new(0));
}

impl RegexGate {
    pub(super) fn new(gated: Vec<(Rank, &GoRegex)>) -> Self {
        let patterns: Vec<&str> = gated.iter().map(|(_, re)| re.translated()).collect();
        let set = (!patterns.is_empty())
            .then(|| {
                meta::Builder::new()
                    .configure(
                        meta::Config::new()
                            .match_kind(MatchKind::All)
                            .utf8_empty(false)
                            .nfa_size_limit(Some(SET_SIZE_LIMIT)),
                    )
                    .syntax(regex_automata::util::syntax::Config::new().utf8(false))
                    .build_many(&patterns)
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
            if hits.capacity() < self.ranks.len() {
                *hits = PatternSet::new(self.ranks.len());
            }
            hits.clear();
            set.which_overlapping_matches(&Input::new(haystack), hits);
            self.first_match(hits, best, matches);
        });
    }

    /// Tries the routes whose regexp matched, in order, while they could beat `best`; the first that
    /// matches is the best.
    #[inline]
    fn first_match(&self, hits: &PatternSet, best: &mut Rank, matches: &impl Fn(Rank) -> bool) {
        // Pattern IDs come out ascending, and so do the ranks they stand for.
        for pattern in hits.iter() {
            let rank = self.ranks[pattern.as_usize()];
            if rank >= *best {
                return;
            }
            if matches(rank) {
                *best = rank;
                return;
            }
        }
    }
}
