//! Hostnames of listeners and routes: which requests a wildcard covers, what a route's hostnames
//! leave on a listener, how specific a hostname is for precedence, and the rule that matches it.

use crate::translate::rules::quote;

/// Whether `pattern` covers `host` (each may be a `*.` wildcard): equal, or `pattern` is a wildcard
/// and `host` (its wildcard label taken off) ends in `pattern`'s suffix with at least one more label.
/// `*.example.com` covers `a.example.com`, `a.b.example.com` and `*.a.example.com`, not `example.com`.
pub(crate) fn covers(pattern: &str, host: &str) -> bool {
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(suffix) = pattern.strip_prefix('*') else {
        return false;
    };
    let host = host.strip_prefix('*').unwrap_or(host);
    host.len() > suffix.len() && host.to_ascii_lowercase().ends_with(&suffix.to_ascii_lowercase())
}

/// The hostnames a route serves on a listener: `None` when none of the route's hostnames intersects
/// the listener's (the route does not attach), else the intersection, each hostname the more specific
/// of the two that cover each other; empty for any host.
pub(crate) fn intersect(listener: Option<&str>, route: &[String]) -> Option<Vec<String>> {
    let Some(listener) = listener.filter(|l| !l.is_empty()) else {
        return Some(route.to_vec());
    };
    if route.is_empty() {
        return Some(vec![listener.to_owned()]);
    }
    let mut kept: Vec<String> = Vec::new();
    for host in route {
        let narrower = if covers(listener, host) {
            host.as_str()
        } else if covers(host, listener) {
            listener
        } else {
            continue;
        };
        if !kept.iter().any(|k| k == narrower) {
            kept.push(narrower.to_owned());
        }
    }
    (!kept.is_empty()).then_some(kept)
}

/// How specific a hostname is, greater first: the characters of a precise hostname, then the
/// characters of any hostname, as the specification orders routes with intersecting hostnames; no
/// hostname is the least specific.
pub(crate) fn specificity(host: &str) -> (usize, usize) {
    if host.starts_with("*.") {
        (0, host.len())
    } else {
        (host.len(), host.len())
    }
}

/// The rule condition for a hostname; `None` for any host. A wildcard covers one or more labels.
pub(crate) fn rule(host: &str) -> Option<String> {
    if host.is_empty() {
        return None;
    }
    Some(match host.strip_prefix("*.") {
        Some(suffix) => {
            let escaped = suffix.replace('.', "\\.");
            format!("HostRegexp({})", quote(&format!("^.+\\.{escaped}$")))
        }
        None => format!("Host({})", quote(host)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_covers_one_or_more_labels_but_not_the_bare_domain() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.example.com", "a.b.example.com"));
        assert!(covers("*.example.com", "*.a.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.example.net"));
        assert!(!covers("a.example.com", "*.example.com"));
        assert!(covers("A.Example.com", "a.example.COM"));
    }

    #[test]
    fn route_hostnames_are_intersected_with_the_listener_hostname() {
        let hosts = |h: &[&str]| h.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // The table of the HTTPRoute `hostnames` documentation.
        assert_eq!(intersect(None, &hosts(&["a.test"])), Some(hosts(&["a.test"])));
        assert_eq!(intersect(None, &[]), Some(vec![]));
        assert_eq!(
            intersect(Some("test.example.com"), &[]),
            Some(hosts(&["test.example.com"]))
        );
        assert_eq!(
            intersect(Some("test.example.com"), &hosts(&["*.example.com"])),
            Some(hosts(&["test.example.com"]))
        );
        assert_eq!(
            intersect(
                Some("*.example.com"),
                &hosts(&[
                    "*.example.com",
                    "test.example.com",
                    "foo.test.example.com",
                    "example.com",
                    "test.example.net"
                ])
            ),
            Some(hosts(&["*.example.com", "test.example.com", "foo.test.example.com"]))
        );
        assert_eq!(
            intersect(Some("*.example.com"), &hosts(&["example.com", "test.example.net"])),
            None
        );
        assert_eq!(
            intersect(Some("*.example.com"), &hosts(&["*.com"])),
            Some(hosts(&["*.example.com"]))
        );
    }

    #[test]
    fn precise_hostnames_outrank_wildcards_and_longer_wildcards_shorter_ones() {
        assert!(specificity("a.example.com") > specificity("*.a.example.com"));
        assert!(specificity("*.a.example.com") > specificity("*.example.com"));
        assert!(specificity("*.example.com") > specificity(""));
    }

    #[test]
    fn hostname_rules() {
        assert_eq!(rule("a.test").unwrap(), "Host(`a.test`)");
        assert_eq!(rule("*.example.com").unwrap(), "HostRegexp(`^.+\\.example\\.com$`)");
        assert_eq!(rule(""), None);
    }
}
