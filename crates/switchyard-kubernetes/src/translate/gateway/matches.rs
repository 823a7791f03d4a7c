//! An HTTPRoute match as a rule condition, with what the specification's precedence reads from it.

use super::spec::{HttpRouteMatch, ValueMatch};
use crate::translate::rules::{PathType, path_rule, quote};

/// What precedence reads from a match, greater first once compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct MatchRank {
    /// An `Exact` path.
    pub(crate) exact: bool,
    /// The characters of a `PathPrefix` path (a trailing `/` does not count).
    pub(crate) prefix_length: usize,
    /// A regular expression path, whose precedence the specification leaves to implementations: below
    /// every prefix but `/`, above that catch-all.
    pub(crate) regex: bool,
    /// A method condition.
    pub(crate) method: bool,
    /// Header conditions.
    pub(crate) headers: usize,
    /// Query parameter conditions.
    pub(crate) query_params: usize,
}

/// A match that cannot be applied: the value the specification says to report as `UnsupportedValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsupported(pub(crate) String);

/// The condition of one match (`None`: every request) and its rank.
pub(crate) fn condition(m: &HttpRouteMatch) -> Result<(Option<String>, MatchRank), Unsupported> {
    let mut parts = Vec::new();
    let mut rank = MatchRank::default();
    let (path_type, value) = match &m.path {
        Some(path) => (
            path.type_.as_deref().unwrap_or("PathPrefix"),
            path.value.as_deref().unwrap_or("/"),
        ),
        None => ("PathPrefix", "/"),
    };
    match path_type {
        "Exact" => {
            absolute(value)?;
            rank.exact = true;
            parts.extend(path_rule(PathType::Exact, value, None));
        }
        "PathPrefix" => {
            absolute(value)?;
            rank.prefix_length = value.trim_end_matches('/').len();
            if value != "/" {
                parts.extend(path_rule(PathType::Prefix, value, None));
            }
        }
        "RegularExpression" => {
            rank.regex = true;
            parts.push(format!("PathRegexp({})", quote(&anchored(value))));
        }
        other => return Err(Unsupported(format!("path match type {other}"))),
    }
    if let Some(method) = &m.method {
        rank.method = true;
        parts.push(format!("Method({})", quote(method)));
    }
    let headers = first_of_each_name(&m.headers, true);
    rank.headers = headers.len();
    for header in headers {
        parts.push(value_condition("Header", header)?);
    }
    let params = first_of_each_name(&m.query_params, false);
    rank.query_params = params.len();
    for param in params {
        parts.push(value_condition("Query", param)?);
    }
    let text = (!parts.is_empty()).then(|| parts.join(" && "));
    Ok((text, rank))
}

fn absolute(path: &str) -> Result<(), Unsupported> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(Unsupported(format!("path `{path}` (not absolute)")))
    }
}

/// A regular expression that must match the whole path, as the conformance tests expect.
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// The first match of each name, as the specification says when a name repeats (header names
/// compared without case, query parameter names exactly).
pub(crate) fn first_of_each_name(matches: &[ValueMatch], fold_case: bool) -> Vec<&ValueMatch> {
    let mut kept: Vec<&ValueMatch> = Vec::new();
    for m in matches {
        let seen = kept.iter().any(|k| {
            if fold_case {
                k.name.eq_ignore_ascii_case(&m.name)
            } else {
                k.name == m.name
            }
        });
        if !seen {
            kept.push(m);
        }
    }
    kept
}

/// `Header(...)`/`HeaderRegexp(...)` or `Query(...)`/`QueryRegexp(...)`.
pub(crate) fn value_condition(matcher: &str, m: &ValueMatch) -> Result<String, Unsupported> {
    match m.type_.as_deref().unwrap_or("Exact") {
        "Exact" => Ok(format!("{matcher}({}, {})", quote(&m.name), quote(&m.value))),
        "RegularExpression" => Ok(format!(
            "{matcher}Regexp({}, {})",
            quote(&m.name),
            quote(&anchored(&m.value))
        )),
        other => Err(Unsupported(format!("{matcher} match type {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: serde_json::Value) -> HttpRouteMatch {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn matches_become_conditions() {
        let m = read(serde_json::json!({
            "path": {"type": "PathPrefix", "value": "/api/"},
            "method": "POST",
            "headers": [{"name": "X-A", "value": "1"}, {"name": "x-a", "value": "2"},
                        {"type": "RegularExpression", "name": "X-B", "value": "v[0-9]+"}],
            "queryParams": [{"name": "q", "value": "x"}],
        }));
        let (text, rank) = condition(&m).unwrap();
        assert_eq!(
            text.unwrap(),
            "(Path(`/api`) || PathPrefix(`/api/`)) && Method(`POST`) && Header(`X-A`, `1`) \
             && HeaderRegexp(`X-B`, `^(?:v[0-9]+)$`) && Query(`q`, `x`)"
        );
        assert_eq!(
            (rank.prefix_length, rank.method, rank.headers, rank.query_params),
            (4, true, 2, 1)
        );
        let (every, rank) = condition(&HttpRouteMatch::default()).unwrap();
        assert_eq!((every, rank.prefix_length, rank.regex), (None, 0, false));
        let bad = read(serde_json::json!({"path": {"type": "Glob", "value": "/a*"}}));
        assert_eq!(condition(&bad).unwrap_err(), Unsupported("path match type Glob".into()));
    }

    #[test]
    fn ranks_follow_the_specification() {
        let rank = |v| condition(&read(v)).unwrap().1;
        let exact = rank(serde_json::json!({"path": {"type": "Exact", "value": "/a"}}));
        let long_prefix = rank(serde_json::json!({"path": {"value": "/a/b/c/d"}}));
        let prefix = rank(serde_json::json!({"path": {"value": "/a"}}));
        let prefix_method = rank(serde_json::json!({"path": {"value": "/a"}, "method": "GET"}));
        let regex = rank(serde_json::json!({"path": {"type": "RegularExpression", "value": "/a/.*"}}));
        assert!(exact > long_prefix && long_prefix > prefix_method && prefix_method > prefix);
        assert!(regex > rank(serde_json::json!({"path": {"value": "/"}})));
        assert!(prefix > regex);
    }
}
