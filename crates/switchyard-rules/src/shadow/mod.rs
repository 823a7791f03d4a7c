//! Routes that can never be chosen: every request they match is taken by a route tried before them.

mod candidates;
mod term;

use crate::table::RouteTable;
use candidates::Candidates;
use term::{Cover, Term};

/// At most this many earlier terms are compared with one term of a later route; past it the route
/// is not reported (so a table of thousands of routes with no host or path keeps its analysis bounded).
const MAX_COMPARISONS: usize = 1024;

/// A route of a [`RouteTable`] that every request it matches would reach through earlier routes
/// instead ([`RouteTable::shadowed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    route: usize,
    by: Vec<usize>,
    certain: bool,
}

impl Shadowed {
    /// The shadowed route's position in [`RouteTable::routes`].
    pub fn route(&self) -> usize {
        self.route
    }

    /// The positions in [`RouteTable::routes`] of the earlier routes that take its requests,
    /// ascending (a route of several `||` alternatives may be shadowed by several routes).
    pub fn by(&self) -> &[usize] {
        &self.by
    }

    /// `true` when the route is unreachable for certain; `false` when it *may* be shadowed: a regexp
    /// or path template of an earlier route could be compared only by its literal prefix.
    pub fn is_certain(&self) -> bool {
        self.certain
    }
}

impl<T> RouteTable<T> {
    /// The routes that no request can reach, because routes tried before them take every request they
    /// match; and, marked as not [certain](Shadowed::is_certain), those that regexps of earlier routes
    /// may shadow.
    ///
    /// A route is reported unreachable only when that is proven: each `||` alternative of its rule is
    /// taken whole by one earlier alternative, comparing hosts (with their spellings, wildcards and
    /// trailing dots), paths and path prefixes, methods and their negations exactly, and any other
    /// literal (`Header`, `Query`, `ClientIP`, a regexp) only when the later route has the same one
    /// word for word. A route left out is not thereby reachable: alternatives covered only by several
    /// earlier routes together, rules whose normal form has more than 64 alternatives, and terms that
    /// would need more than 1,024 comparisons (the most specific candidates are compared first) are not analysed.
    ///
    /// Earlier routes are found by the host and then the path they require, so the analysis of a
    /// table of thousands of routes over distinct hosts or paths stays close to linear.
    ///
    /// ```
    /// use switchyard_rules::{Route, RouteTable, Rule};
    ///
    /// let table = RouteTable::new([
    ///     Route::new("api", Rule::parse("Host(`example.com`) && PathPrefix(`/api`)").unwrap(), ()).with_priority(10),
    ///     Route::new("v1", Rule::parse("Host(`example.com`) && PathPrefix(`/api/v1`) && Method(`GET`)").unwrap(), ()).with_priority(5),
    ///     Route::new("site", Rule::parse("Host(`example.com`)").unwrap(), ()).with_priority(1),
    /// ]);
    /// let shadowed = table.shadowed();
    /// assert_eq!(shadowed.len(), 1);
    /// assert_eq!(table.routes()[shadowed[0].route()].name(), "v1");
    /// assert_eq!(table.routes()[shadowed[0].by()[0]].name(), "api");
    /// assert!(shadowed[0].is_certain());
    /// ```
    pub fn shadowed(&self) -> Vec<Shadowed> {
        let mut earlier = Candidates::default();
        let mut found = Vec::new();
        for (route, r) in self.routes().iter().enumerate() {
            let Some(terms) = term::terms(r.rule().expr()) else {
                continue;
            };
            if route > 0
                && let Some(shadowed) = shadowing(route, &terms, &earlier)
            {
                found.push(shadowed);
            }
            for t in terms {
                earlier.insert(route, t);
            }
        }
        found
    }
}

/// Whether the earlier terms cover every term of `route`.
fn shadowing<'a>(route: usize, terms: &[Term<'a>], earlier: &Candidates<'a>) -> Option<Shadowed> {
    let mut by = Vec::new();
    let mut certain = true;
    for later in terms {
        let (cover, owner) = best_cover(later, earlier)?;
        certain &= cover == Cover::Certain;
        by.push(owner);
    }
    by.sort_unstable();
    by.dedup();
    Some(Shadowed { route, by, certain })
}

/// The earliest term covering `later` for certain, else the earliest that may cover it.
fn best_cover(later: &Term<'_>, earlier: &Candidates<'_>) -> Option<(Cover, usize)> {
    let mut best: Option<(Cover, usize)> = None;
    let mut compared = 0;
    earlier.for_each(later, &mut |owner, term| {
        compared += 1;
        if compared > MAX_COMPARISONS {
            return false;
        }
        let cover = term::covers(term, later);
        let better = match best {
            _ if cover == Cover::None => false,
            None => true,
            Some((c, o)) => cover > c || (cover == c && owner < o),
        };
        if better {
            best = Some((cover, owner));
        }
        true
    });
    // What was found before the bound is still proven (or possible) as found.
    best
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::{Route, RouteTable, Rule};

    fn table(rules: &[(&str, i64)]) -> RouteTable<()> {
        RouteTable::new(rules.iter().enumerate().map(|(i, (rule, priority))| {
            Route::new(format!("r{i}"), Rule::parse(rule).unwrap(), ()).with_priority(*priority)
        }))
    }

    fn names(table: &RouteTable<()>) -> Vec<(String, Vec<String>, bool)> {
        let name = |i: usize| table.routes()[i].name().to_owned();
        table
            .shadowed()
            .iter()
            .map(|s| {
                (
                    name(s.route()),
                    s.by().iter().map(|&i| name(i)).collect(),
                    s.is_certain(),
                )
            })
            .collect()
    }

    #[test]
    fn alternatives_are_covered_one_by_one() {
        let t = table(&[
            ("Host(`a`)", 9),
            ("Host(`b`) && Method(`GET`)", 8),
            (
                "(Host(`a`) && Path(`/x`)) || (Host(`b`) && Method(`GET`) && PathPrefix(`/y`))",
                1,
            ),
            ("Host(`a`) || Host(`c`)", 1),
        ]);
        assert_eq!(
            names(&t),
            [("r2".to_owned(), vec!["r0".to_owned(), "r1".to_owned()], true)]
        );
    }

    #[test]
    fn lower_priority_only() {
        let t = table(&[("Host(`a`) && Path(`/x`)", 9), ("Host(`a`)", 1)]);
        assert!(names(&t).is_empty());
    }

    #[test]
    fn regexps_make_it_possible_only() {
        let t = table(&[
            ("PathRegexp(`^/api/`)", 9),
            ("PathPrefix(`/api/v1`)", 1),
            ("Path(`/api/x`)", 1),
        ]);
        assert_eq!(
            names(&t),
            [
                ("r1".to_owned(), vec!["r0".to_owned()], false),
                ("r2".to_owned(), vec!["r0".to_owned()], true)
            ]
        );
    }

    #[test]
    fn other_matchers_say_nothing() {
        let t = table(&[("Host(`a`) && Header(`X-Canary`, `1`)", 9), ("Host(`a`)", 1)]);
        assert!(names(&t).is_empty());
    }
}
