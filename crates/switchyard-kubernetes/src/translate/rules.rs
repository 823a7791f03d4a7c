//! Ingress hosts and paths as Traefik rules, and router priorities that follow the Ingress
//! specification's precedence.
//!
//! Among the rules that match a request, the specification picks: a precise host over a wildcard host
//! over no host; then the longest path; at equal length `Exact` over `Prefix`. A `defaultBackend`
//! serves what nothing else matches. Priorities encode exactly that order, instead of Traefik's rule
//! length.

use crate::error::TranslateError;

/// The priority of a `defaultBackend` router: below every path.
pub(crate) const DEFAULT_BACKEND_PRIORITY: i64 = 1;

/// Priority steps: a host tier outweighs any path length.
const HOST_TIER: i64 = 1_000_000;
/// Where explicit priorities start: above every priority the precedence computes.
pub(crate) const EXPLICIT_BASE: i64 = 3 * HOST_TIER;
const LONGEST_PATH: i64 = HOST_TIER / 2 - 1;

/// How a path matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathType {
    Exact,
    Prefix,
    ImplementationSpecific,
}

impl PathType {
    pub(crate) fn parse(path_type: &str, path: &str) -> Result<Self, TranslateError> {
        let invalid = || TranslateError::InvalidPath {
            path: path.to_owned(),
            path_type: path_type.to_owned(),
        };
        let parsed = match path_type {
            "Exact" => PathType::Exact,
            "Prefix" => PathType::Prefix,
            "ImplementationSpecific" | "" => PathType::ImplementationSpecific,
            _ => return Err(invalid()),
        };
        // Exact and Prefix paths must be absolute; ImplementationSpecific ones may be empty.
        if parsed != PathType::ImplementationSpecific && !path.starts_with('/') {
            return Err(invalid());
        }
        Ok(parsed)
    }
}

/// A string as a rule argument, quoted so that any character is safe.
pub(crate) fn quote(text: &str) -> String {
    if text.contains('`') {
        serde_json::Value::from(text).to_string()
    } else {
        format!("`{text}`")
    }
}

/// The host part of a rule: `Host` matches `*.example.com` as exactly one extra label, as the
/// specification's wildcard does.
pub(crate) fn host_rule(host: &str) -> Option<String> {
    (!host.is_empty()).then(|| format!("Host({})", quote(host)))
}

/// The path part of a rule. `Prefix` matches whole path elements (`/foo` matches `/foo` and `/foo/bar`,
/// not `/foobar`; a trailing `/` is ignored); `ImplementationSpecific` is Traefik's `PathPrefix`, or the
/// matcher the `router.pathmatcher` annotation names.
pub(crate) fn path_rule(path_type: PathType, path: &str, matcher: Option<&str>) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    Some(match path_type {
        PathType::Exact => format!("Path({})", quote(path)),
        PathType::Prefix => {
            let trimmed = path.trim_end_matches('/');
            if trimmed.is_empty() {
                "PathPrefix(`/`)".to_owned()
            } else {
                format!(
                    "(Path({}) || PathPrefix({}))",
                    quote(trimmed),
                    quote(&format!("{trimmed}/"))
                )
            }
        }
        PathType::ImplementationSpecific => format!("{}({})", matcher.unwrap_or("PathPrefix"), quote(path)),
    })
}

/// The priority of a router whose Ingress sets `router.priority`: a positive value outranks every
/// priority the precedence computes (and other explicit values in its own order), as an explicit
/// priority outranks the default in Traefik; 0 means unset; a negative value stays below them all.
pub(crate) fn explicit_priority(given: i64) -> Option<i64> {
    match given {
        0 => None,
        positive if positive > 0 => Some(EXPLICIT_BASE.saturating_add(positive)),
        negative => Some(negative),
    }
}

/// A router's priority under the specification's precedence.
pub(crate) fn priority(host: &str, path_type: PathType, path: &str) -> i64 {
    let host_tier = if host.is_empty() {
        0
    } else if host.starts_with("*.") {
        1
    } else {
        2
    };
    // A Prefix path's trailing slash does not lengthen it: `/foo/` and `/foo` match the same requests.
    let length = match path_type {
        PathType::Prefix => path.trim_end_matches('/').len(),
        _ => path.len(),
    };
    let length = i64::try_from(length).unwrap_or(LONGEST_PATH).min(LONGEST_PATH);
    let exact = i64::from(path_type == PathType::Exact);
    DEFAULT_BACKEND_PRIORITY + 1 + host_tier * HOST_TIER + length * 2 + exact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_paths_match_whole_elements() {
        assert_eq!(path_rule(PathType::Prefix, "/", None).unwrap(), "PathPrefix(`/`)");
        assert_eq!(
            path_rule(PathType::Prefix, "/foo/", None).unwrap(),
            "(Path(`/foo`) || PathPrefix(`/foo/`))"
        );
        assert_eq!(path_rule(PathType::Exact, "/foo", None).unwrap(), "Path(`/foo`)");
        assert_eq!(
            path_rule(PathType::ImplementationSpecific, "/foo", Some("PathRegexp")).unwrap(),
            "PathRegexp(`/foo`)"
        );
        assert_eq!(quote("a`b"), "\"a`b\"");
    }

    #[test]
    fn precedence_is_host_then_length_then_exact() {
        let exact = priority("", PathType::Exact, "/foo");
        let prefix = priority("", PathType::Prefix, "/foo");
        let longer = priority("", PathType::Prefix, "/foo/b");
        assert!(exact > prefix && longer > exact);
        assert_eq!(priority("", PathType::Prefix, "/foo/"), prefix);
        assert!(priority("*.example.com", PathType::Prefix, "/") > longer);
        assert!(priority("a.example.com", PathType::Prefix, "/") > priority("*.example.com", PathType::Exact, "/x"));
        assert!(priority("", PathType::Prefix, "/") > DEFAULT_BACKEND_PRIORITY);
    }

    #[test]
    fn explicit_priorities_outrank_the_precedence() {
        let highest = priority("a.example.com", PathType::Exact, &"/x".repeat(1000));
        assert!(explicit_priority(1).unwrap() > highest);
        assert!(explicit_priority(2).unwrap() > explicit_priority(1).unwrap());
        assert_eq!(explicit_priority(0), None);
        assert!(explicit_priority(-1).unwrap() < DEFAULT_BACKEND_PRIORITY);
    }

    #[test]
    fn path_types_are_checked() {
        assert!(PathType::parse("Exact", "foo").is_err());
        assert!(PathType::parse("Regex", "/foo").is_err());
        assert_eq!(PathType::parse("", "").unwrap(), PathType::ImplementationSpecific);
    }
}
