//! What a rule promises about the host and path of every request it matches: the index keys.
//!
//! The keys are a sound over-approximation. A rule may sit under more keys than it can match, never
//! fewer, so a request finds every rule that could match it by looking up its own host and path.

use crate::expr::Expr;
use crate::matcher::Matcher;

/// A host constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKey {
    /// The canonical host (or the host without one trailing dot) equals this.
    Exact(Vec<u8>),
    /// The host after its first label (`.example.com` for `*.example.com`) equals this.
    Wildcard(Vec<u8>),
    /// The host ends with this (from an end-anchored `HostRegexp`).
    Suffix(Vec<u8>),
}

/// A path constraint on the routing path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathKey {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
}

/// `None` means "no constraint": the rule can match whatever the host (or path) is.
pub(crate) fn host_keys(expr: &Expr) -> Option<Vec<HostKey>> {
    keys(expr, &host_keys_of)
}

pub(crate) fn path_keys(expr: &Expr) -> Option<Vec<PathKey>> {
    keys(expr, &path_keys_of)
}

fn keys<K>(expr: &Expr, leaf: &dyn Fn(&Matcher) -> Option<Vec<K>>) -> Option<Vec<K>> {
    match expr {
        Expr::Matcher(m) => leaf(m),
        Expr::Not(_) => None,
        // Every operand must hold, so any one operand's keys are sound: take the fewest.
        Expr::And(all) => all.iter().filter_map(|e| keys(e, leaf)).min_by_key(Vec::len),
        // Any operand may hold: the union, unconstrained if one operand is.
        Expr::Or(any) => any.iter().map(|e| keys(e, leaf)).try_fold(Vec::new(), |mut union, k| {
            union.extend(k?);
            Some(union)
        }),
    }
}

fn host_keys_of(m: &Matcher) -> Option<Vec<HostKey>> {
    match m {
        Matcher::Host(expr) if expr == "*" => None,
        Matcher::Host(expr) => {
            let variants = with_and_without_trailing_dot(expr.as_bytes());
            Some(match expr.strip_prefix('*') {
                Some(_) => variants.map(|v| HostKey::Wildcard(v[1..].to_vec())).collect(),
                None => variants.map(|v| HostKey::Exact(v.to_vec())).collect(),
            })
        }
        Matcher::HostRegexp(re) => Some(
            re.required_suffixes()?
                .into_iter()
                .map(|s| HostKey::Suffix(s.to_ascii_lowercase()))
                .collect(),
        ),
        _ => None,
    }
}

fn path_keys_of(m: &Matcher) -> Option<Vec<PathKey>> {
    match m {
        Matcher::Path(p) => Some(vec![PathKey::Exact(p.as_bytes().to_vec())]),
        Matcher::PathPrefix(p) => Some(vec![PathKey::Prefix(p.as_bytes().to_vec())]),
        Matcher::PathRegexp(re) => Some(re.required_prefixes()?.into_iter().map(PathKey::Prefix).collect()),
        Matcher::PathTemplate(t) => Some(vec![PathKey::Prefix(t.literal_prefix().as_bytes().to_vec())]),
        _ => None,
    }
}

fn with_and_without_trailing_dot(host: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::once(host).chain(host.strip_suffix(b"."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rule;

    fn hosts(rule: &str) -> Option<Vec<HostKey>> {
        host_keys(Rule::parse(rule).unwrap().expr())
    }

    fn paths(rule: &str) -> Option<Vec<PathKey>> {
        path_keys(Rule::parse(rule).unwrap().expr())
    }

    #[test]
    fn host_keys_follow_the_operators() {
        use HostKey::*;
        assert_eq!(hosts("Host(`A.com`)"), Some(vec![Exact(b"a.com".to_vec())]));
        assert_eq!(
            hosts("Host(`a.com.`)"),
            Some(vec![Exact(b"a.com.".to_vec()), Exact(b"a.com".to_vec())])
        );
        assert_eq!(hosts("Host(`*.a.com`)"), Some(vec![Wildcard(b".a.com".to_vec())]));
        assert_eq!(hosts("Host(`*`)"), None);
        assert_eq!(
            hosts("Host(`a`) || Host(`b`)"),
            Some(vec![Exact(b"a".to_vec()), Exact(b"b".to_vec())])
        );
        assert_eq!(hosts("Host(`a`) || Path(`/`)"), None);
        assert_eq!(hosts("Path(`/`) && Host(`a`)"), Some(vec![Exact(b"a".to_vec())]));
        assert_eq!(hosts("!Host(`a`)"), None);
        assert_eq!(
            hosts(r"HostRegexp(`^[a-z]+\.Example\.com$`)"),
            Some(vec![Suffix(b".example.com".to_vec())])
        );
        assert_eq!(hosts(r"HostRegexp(`example\.com`)"), None);
    }

    #[test]
    fn path_keys_follow_the_operators() {
        use PathKey::*;
        assert_eq!(
            paths("Path(`/a`) || PathPrefix(`/b`)"),
            Some(vec![Exact(b"/a".to_vec()), Prefix(b"/b".to_vec())])
        );
        assert_eq!(
            paths("PathRegexp(`^/v1/`) && Method(`GET`)"),
            Some(vec![Prefix(b"/v1/".to_vec())])
        );
        assert_eq!(paths("PathRegexp(`/v1/`)"), None);
        assert_eq!(paths("PathTemplate(`/u/{id}`)"), Some(vec![Prefix(b"/u/".to_vec())]));
        assert_eq!(paths("Method(`GET`)"), None);
    }
}
