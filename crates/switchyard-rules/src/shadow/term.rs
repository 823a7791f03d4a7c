//! Rules as sets of requests: a rule in disjunctive normal form, and whether one conjunction of
//! literals takes every request of another.
//!
//! A *term* is a conjunction of literals (matcher calls and negations, as written). A later term is
//! covered by an earlier one when every literal of the earlier term holds for every request of the
//! later one. Only what can be decided exactly counts as [`Cover::Certain`]: hosts (the finite set of
//! spellings a `Host` accepts is checked with the matcher itself), paths and path prefixes, methods,
//! their negations, and any literal the later term also has, word for word. A regexp or path template
//! of the earlier term that can only be compared through its literal prefix gives
//! [`Cover::Possible`]; anything else (headers, queries, client IPs the later term does not share)
//! gives [`Cover::None`].

use crate::expr::Expr;
use crate::matcher::{Matcher, host_matches};

/// More terms than this in a rule's normal form and the rule is left out of the analysis (its
/// `&&` of `||`s multiply out).
const MAX_TERMS: usize = 64;

/// A conjunction of literals: [`Expr::Matcher`] or [`Expr::Not`] nodes of the rule.
pub(super) type Term<'a> = Vec<&'a Expr>;

/// How far an earlier term covers a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Cover {
    /// Some request of the later term escapes the earlier one, or the analysis cannot tell.
    None,
    /// Only a regexp or template stands between "covered" and "not covered".
    Possible,
    /// Every request of the later term matches the earlier one.
    Certain,
}

/// The rule's terms, or `None` when it has too many.
pub(super) fn terms(expr: &Expr) -> Option<Vec<Term<'_>>> {
    match expr {
        Expr::Matcher(_) | Expr::Not(_) => Some(vec![vec![expr]]),
        Expr::Or(any) => {
            let mut out = Vec::new();
            for e in any {
                out.extend(terms(e)?);
                if out.len() > MAX_TERMS {
                    return None;
                }
            }
            Some(out)
        }
        Expr::And(all) => {
            let mut out: Vec<Term<'_>> = vec![Vec::new()];
            for e in all {
                let right = terms(e)?;
                if out.len() * right.len() > MAX_TERMS {
                    return None;
                }
                out = out
                    .iter()
                    .flat_map(|left| right.iter().map(move |r| left.iter().chain(r).copied().collect()))
                    .collect();
            }
            Some(out)
        }
    }
}

/// The matcher of a literal that is a plain matcher call.
pub(super) fn matcher(literal: &Expr) -> Option<&Matcher> {
    match literal {
        Expr::Matcher(m) => Some(m),
        _ => None,
    }
}

/// How far `earlier` covers `later`: the weakest of its literals' verdicts.
pub(super) fn covers(earlier: &Term<'_>, later: &Term<'_>) -> Cover {
    let mut cover = Cover::Certain;
    for literal in earlier {
        cover = cover.min(implied(literal, later));
        if cover == Cover::None {
            break;
        }
    }
    cover
}

/// Whether every request of `term` satisfies `literal`.
fn implied(literal: &Expr, term: &Term<'_>) -> Cover {
    if term.contains(&literal) {
        return Cover::Certain;
    }
    let found = |holds: &dyn Fn(&Matcher) -> Cover| {
        term.iter()
            .filter_map(|l| matcher(l))
            .map(holds)
            .max()
            .unwrap_or(Cover::None)
    };
    let certain = |b: bool| if b { Cover::Certain } else { Cover::None };
    match literal {
        Expr::Matcher(Matcher::Host(host)) if host == "*" => Cover::Certain,
        Expr::Matcher(Matcher::Host(host)) => found(&|m| match m {
            Matcher::Host(own) => certain(host_subset(own, host)),
            _ => Cover::None,
        }),
        Expr::Matcher(Matcher::HostRegexp(re)) => found(&|m| match m {
            Matcher::Host(own) => certain(exact_spellings(own).is_some_and(|s| s.iter().all(|h| re.is_match(h)))),
            _ => Cover::None,
        }),
        Expr::Matcher(Matcher::Path(path)) => found(&|m| certain(matches!(m, Matcher::Path(own) if own == path))),
        Expr::Matcher(Matcher::PathPrefix(prefix)) => found(&|m| match path_set(m) {
            Some(PathSet::Exact(own)) => certain(own.starts_with(prefix.as_bytes())),
            Some(PathSet::Prefixes(own)) => certain(own.iter().all(|p| p.starts_with(prefix.as_bytes()))),
            None => Cover::None,
        }),
        Expr::Matcher(m @ (Matcher::PathRegexp(_) | Matcher::PathTemplate(_))) => found(&|own| match path_set(own) {
            Some(PathSet::Exact(path)) => certain(m.path_matches(path)),
            Some(PathSet::Prefixes(own)) => match m.path_prefixes() {
                Some(required) if own.iter().all(|p| required.iter().any(|r| p.starts_with(r))) => Cover::Possible,
                _ => Cover::None,
            },
            None => Cover::None,
        }),
        Expr::Matcher(Matcher::Method(method)) => {
            found(&|m| certain(matches!(m, Matcher::Method(own) if own == method)))
        }
        Expr::Not(inner) => match &**inner {
            Expr::Matcher(excluded) => found(&|m| certain(disjoint(m, excluded))),
            _ => Cover::None,
        },
        _ => Cover::None,
    }
}

/// What a path matcher of the later term promises about the path: one exact path, or that it starts
/// with one of some prefixes.
enum PathSet<'a> {
    Exact(&'a [u8]),
    Prefixes(Vec<Vec<u8>>),
}

fn path_set(m: &Matcher) -> Option<PathSet<'_>> {
    match m {
        Matcher::Path(p) => Some(PathSet::Exact(p.as_bytes())),
        Matcher::PathPrefix(p) => Some(PathSet::Prefixes(vec![p.as_bytes().to_vec()])),
        Matcher::PathRegexp(_) | Matcher::PathTemplate(_) => m.path_prefixes().map(PathSet::Prefixes),
        _ => None,
    }
}

/// Whether no request satisfies both `own` (a literal of the later term) and `excluded`.
fn disjoint(own: &Matcher, excluded: &Matcher) -> bool {
    match (own, excluded) {
        (Matcher::Host(own), Matcher::Host(other)) => {
            exact_spellings(own).is_some_and(|s| s.iter().all(|h| !host_matches(h, other.as_bytes())))
        }
        (Matcher::Method(own), Matcher::Method(other)) => own != other,
        (own, Matcher::Path(other)) => match path_set(own) {
            Some(PathSet::Exact(path)) => path != other.as_bytes(),
            Some(PathSet::Prefixes(prefixes)) => prefixes.iter().all(|p| !other.as_bytes().starts_with(p)),
            None => false,
        },
        (own, Matcher::PathPrefix(other)) => {
            let other = other.as_bytes();
            match path_set(own) {
                Some(PathSet::Exact(path)) => !path.starts_with(other),
                Some(PathSet::Prefixes(prefixes)) => {
                    prefixes.iter().all(|p| !p.starts_with(other) && !other.starts_with(p))
                }
                None => false,
            }
        }
        _ => false,
    }
}

/// Whether every host `Host(own)` accepts is accepted by `Host(other)`.
fn host_subset(own: &str, other: &str) -> bool {
    match exact_spellings(own) {
        Some(spellings) => spellings.iter().all(|h| host_matches(h, other.as_bytes())),
        // A wildcard (or `*`) accepts infinitely many hosts: only the same expression covers it.
        None => own == other,
    }
}

/// Every host a non-wildcard `Host` expression accepts (it tolerates one trailing dot on either side);
/// `None` for a wildcard.
pub(super) fn exact_spellings(expr: &str) -> Option<Vec<Vec<u8>>> {
    if expr.starts_with('*') {
        return None;
    }
    let mut spellings = vec![expr.as_bytes().to_vec(), format!("{expr}.").into_bytes()];
    if let Some(stripped) = expr.strip_suffix('.') {
        spellings.push(stripped.as_bytes().to_vec());
    }
    debug_assert!(spellings.iter().all(|h| host_matches(h, expr.as_bytes())));
    Some(spellings)
}

/// The index key of a host expression: its exact host or its wildcard suffix, without one trailing dot.
pub(super) fn host_key(expr: &str) -> HostKey<'_> {
    let stripped = expr.strip_suffix('.').unwrap_or(expr);
    match stripped.strip_prefix('*') {
        Some(suffix) => HostKey::Wildcard(suffix.as_bytes()),
        None => HostKey::Exact(stripped.as_bytes()),
    }
}

/// Where a host expression is filed: see [`host_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum HostKey<'a> {
    Exact(&'a [u8]),
    Wildcard(&'a [u8]),
}

/// The wildcard key under which an exact host's covering wildcards are filed.
pub(super) fn wildcard_suffix_of(host: &[u8]) -> &[u8] {
    let stripped = host.strip_suffix(b".").unwrap_or(host);
    crate::matcher::after_first_label(stripped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Rule;

    fn cover(earlier: &str, later: &str) -> Cover {
        let (e, l) = (Rule::parse(earlier).unwrap(), Rule::parse(later).unwrap());
        let (e, l) = (terms(e.expr()).unwrap(), terms(l.expr()).unwrap());
        assert_eq!((e.len(), l.len()), (1, 1));
        covers(&e[0], &l[0])
    }

    #[test]
    fn hosts_paths_and_methods_are_decided() {
        use Cover::*;
        assert_eq!(cover("Host(`a.com`)", "Host(`a.com`) && Path(`/x`)"), Certain);
        assert_eq!(cover("Host(`a.com.`)", "Host(`a.com`)"), Certain);
        assert_eq!(cover("Host(`a.com`)", "Host(`a.com.`)"), None);
        assert_eq!(cover("Host(`*.a.com`)", "Host(`x.a.com`)"), Certain);
        assert_eq!(cover("Host(`*.a.com`)", "Host(`a.com`)"), None);
        assert_eq!(cover("Host(`x.a.com`)", "Host(`*.a.com`)"), None);
        assert_eq!(cover("PathPrefix(`/a`)", "PathPrefix(`/ab`) && Method(`GET`)"), Certain);
        assert_eq!(cover("PathPrefix(`/ab`)", "PathPrefix(`/a`)"), None);
        assert_eq!(cover("Path(`/a`)", "PathPrefix(`/a`)"), None);
        assert_eq!(cover("Method(`GET`)", "Method(`GET`) && Host(`a`)"), Certain);
        assert_eq!(cover("Method(`GET`)", "Host(`a`)"), None);
        assert_eq!(
            cover("Host(`a`) && !Path(`/h`)", "Host(`a`) && PathPrefix(`/x`)"),
            Certain
        );
        assert_eq!(
            cover("Host(`a`) && !PathPrefix(`/x`)", "Host(`a`) && PathPrefix(`/xy`)"),
            None
        );
        assert_eq!(cover("Header(`X`, `1`)", "Header(`X`, `1`) && Path(`/`)"), Certain);
        assert_eq!(cover("Header(`X`, `1`)", "Path(`/`)"), None);
        assert_eq!(cover("PathRegexp(`^/a/[0-9]+$`)", "Path(`/a/12`)"), Certain);
        assert_eq!(cover("PathRegexp(`^/a/[0-9]+$`)", "Path(`/a/x`)"), None);
        assert_eq!(cover("PathRegexp(`^/a/`)", "PathPrefix(`/a/b`)"), Possible);
        // `Host` also accepts `ab.com.`, which this regexp refuses.
        assert_eq!(cover("HostRegexp(`^[a-z]+\\.com$`)", "Host(`ab.com`)"), None);
        assert_eq!(cover("HostRegexp(`^[a-z]+\\.com\\.?$`)", "Host(`ab.com`)"), Certain);
        assert_eq!(cover("Host(`*`)", "Method(`GET`)"), Certain);
    }

    #[test]
    fn normal_form_multiplies_out() {
        let rule = Rule::parse("(Host(`a`) || Host(`b`)) && (Path(`/x`) || Path(`/y`))").unwrap();
        assert_eq!(terms(rule.expr()).unwrap().len(), 4);
        let wide = (0..8)
            .map(|i| format!("(Path(`/{i}`) || Path(`/{i}x`))"))
            .collect::<Vec<_>>()
            .join(" && ");
        assert!(terms(Rule::parse(&wide).unwrap().expr()).is_none());
    }
}
