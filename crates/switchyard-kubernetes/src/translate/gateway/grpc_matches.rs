//! A GRPCRoute match as a rule condition, with what the specification's precedence reads from it.
//!
//! A gRPC method is the path `/<service>/<method>`. Every gRPC router also requires an
//! `application/grpc` content type, so that a GRPCRoute never takes an HTTP request of a hostname it
//! shares with an HTTPRoute.

use super::matches::{Unsupported, anchored, first_of_each_name, value_condition};
use super::spec::GrpcRouteMatch;
use crate::translate::rules::quote;

/// What precedence reads from a gRPC match, greater first once compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct GrpcRank {
    /// The characters of a matching service.
    pub(crate) service: usize,
    /// The characters of a matching method.
    pub(crate) method: usize,
    /// Header conditions.
    pub(crate) headers: usize,
}

/// The condition every gRPC router has: a gRPC content type.
pub(crate) const GRPC_CONTENT_TYPE: &str = "HeaderRegexp(`Content-Type`, `^application/grpc`)";

/// The condition of one match (`None`: every gRPC request) and its rank.
pub(crate) fn condition(m: &GrpcRouteMatch) -> Result<(Option<String>, GrpcRank), Unsupported> {
    let mut parts = Vec::new();
    let mut rank = GrpcRank::default();
    if let Some(method) = &m.method {
        let service = method.service.as_deref().filter(|s| !s.is_empty());
        let name = method.method.as_deref().filter(|s| !s.is_empty());
        rank.service = service.map_or(0, str::len);
        rank.method = name.map_or(0, str::len);
        match method.type_.as_deref().unwrap_or("Exact") {
            "Exact" => parts.push(match (service, name) {
                (Some(service), Some(name)) => format!("Path({})", quote(&format!("/{service}/{name}"))),
                (Some(service), None) => format!("PathPrefix({})", quote(&format!("/{service}/"))),
                (None, Some(name)) => {
                    format!("PathRegexp({})", quote(&format!("^/[^/]+/{}$", regex_literal(name))))
                }
                (None, None) => return Err(Unsupported("a method match without service or method".into())),
            }),
            "RegularExpression" => {
                let service = service.unwrap_or("[^/]+");
                let name = name.unwrap_or("[^/]+");
                parts.push(format!(
                    "PathRegexp({})",
                    quote(&anchored(&format!("/(?:{service})/(?:{name})")))
                ));
            }
            other => return Err(Unsupported(format!("method match type {other}"))),
        }
    }
    let headers = first_of_each_name(&m.headers, true);
    rank.headers = headers.len();
    for header in headers {
        parts.push(value_condition("Header", header)?);
    }
    Ok(((!parts.is_empty()).then(|| parts.join(" && ")), rank))
}

/// A method or service name as a literal in a regular expression.
fn regex_literal(text: &str) -> String {
    text.replace('.', "\\.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: serde_json::Value) -> GrpcRouteMatch {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn methods_become_paths() {
        let both = read(serde_json::json!({"method": {"service": "pkg.Echo", "method": "Say"}}));
        assert_eq!(condition(&both).unwrap().0.unwrap(), "Path(`/pkg.Echo/Say`)");
        let service = read(serde_json::json!({"method": {"service": "pkg.Echo"}}));
        assert_eq!(condition(&service).unwrap().0.unwrap(), "PathPrefix(`/pkg.Echo/`)");
        let method = read(serde_json::json!({"method": {"method": "Say"}}));
        assert_eq!(condition(&method).unwrap().0.unwrap(), "PathRegexp(`^/[^/]+/Say$`)");
        let regex = read(serde_json::json!({"method": {"type": "RegularExpression", "service": "pkg\\..*"}}));
        assert_eq!(
            condition(&regex).unwrap().0.unwrap(),
            "PathRegexp(`^(?:/(?:pkg\\..*)/(?:[^/]+))$`)"
        );
        assert_eq!(condition(&GrpcRouteMatch::default()).unwrap().0, None);
    }

    #[test]
    fn ranks_follow_the_specification() {
        let rank = |v| condition(&read(v)).unwrap().1;
        let both = rank(serde_json::json!({"method": {"service": "a.B", "method": "C"}}));
        let service = rank(serde_json::json!({"method": {"service": "a.B"}}));
        let long_method = rank(serde_json::json!({"method": {"method": "LongMethodName"}}));
        let headers = rank(serde_json::json!({"headers": [{"name": "x", "value": "1"}]}));
        assert!(both > service && service > long_method && long_method > headers);
    }
}
