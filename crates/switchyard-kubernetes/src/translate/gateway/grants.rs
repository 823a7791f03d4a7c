//! ReferenceGrants: which references across namespaces are allowed.

use super::GROUP;
use super::spec::ReferenceGrantSpec;

/// Every readable ReferenceGrant, with its namespace.
#[derive(Debug, Default)]
pub(crate) struct Grants(pub(crate) Vec<(String, ReferenceGrantSpec)>);

impl Grants {
    /// Whether an object of kind `from.0` (of the Gateway API group) in namespace `from.1` may refer to
    /// the object `(group, kind, namespace, name)`: a ReferenceGrant in the target's namespace names
    /// both.
    pub(crate) fn permits(&self, from: (&str, &str), to: (&str, &str, &str, &str)) -> bool {
        let (from_kind, from_namespace) = from;
        let (group, kind, namespace, name) = to;
        self.0.iter().filter(|(ns, _)| ns == namespace).any(|(_, spec)| {
            let from_ok = spec
                .from
                .iter()
                .any(|f| f.group == GROUP && f.kind == from_kind && f.namespace == from_namespace);
            let to_ok = spec
                .to
                .iter()
                .any(|t| t.group == group && t.kind == kind && t.name.as_deref().is_none_or(|n| n == name));
            from_ok && to_ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_names_both_sides() {
        let spec: ReferenceGrantSpec = serde_json::from_value(serde_json::json!({
            "from": [{"group": GROUP, "kind": "HTTPRoute", "namespace": "shop"}],
            "to": [{"group": "", "kind": "Service", "name": "db"}, {"group": "", "kind": "Secret"}],
        }))
        .unwrap();
        let grants = Grants(vec![("data".into(), spec)]);
        assert!(grants.permits(("HTTPRoute", "shop"), ("", "Service", "data", "db")));
        assert!(!grants.permits(("HTTPRoute", "shop"), ("", "Service", "data", "cache")));
        assert!(grants.permits(("HTTPRoute", "shop"), ("", "Secret", "data", "any")));
        assert!(!grants.permits(("HTTPRoute", "web"), ("", "Service", "data", "db")));
        assert!(!grants.permits(("Gateway", "shop"), ("", "Service", "data", "db")));
        assert!(!grants.permits(("HTTPRoute", "shop"), ("", "Service", "other", "db")));
    }
}
