//! References between objects: names as Traefik makes them, and the namespace rules
//! (`allowCrossNamespace`, `crossProviderNamespaces`).

use super::spec::Reference;
use super::{Crd, Object};
use crate::error::TranslateError;
use crate::options::CrdOptions;
use crate::translate::normalize;

/// This provider's name in `name@provider` references.
pub(crate) const PROVIDER: &str = "kubernetescrd";

/// Traefik's object ID: `namespace-name`, normalized.
pub(crate) fn id(namespace: &str, name: &str) -> String {
    normalize(&format!("{namespace}-{name}"))
}

/// Resolves a reference to a Middleware or TLSOption (`name` in `namespace`, or `name@provider`)
/// made by an object in `parent`, found at `path`.
pub(crate) fn resolve(
    options: &CrdOptions,
    parent: &str,
    namespace: &str,
    name: &str,
    path: &str,
) -> Result<String, TranslateError> {
    if name.contains('@') {
        cross_provider(options, parent, name, path)?;
        return Ok(name.to_owned());
    }
    let namespace = if namespace.is_empty() { parent } else { namespace };
    same_provider(options, parent, namespace, path)?;
    Ok(id(namespace, name))
}

/// Refuses a reference to another namespace unless `allowCrossNamespace`.
pub(crate) fn same_provider(
    options: &CrdOptions,
    parent: &str,
    namespace: &str,
    path: &str,
) -> Result<(), TranslateError> {
    if options.allow_cross_namespace || parent == namespace {
        return Ok(());
    }
    Err(TranslateError::NotAllowed {
        path: path.to_owned(),
        reason: format!(
            "a reference from namespace `{parent}` to namespace `{namespace}`, which allowCrossNamespace does not allow"
        ),
    })
}

/// Refuses `name@provider` from a namespace outside `crossProviderNamespaces`, and
/// `…@kubernetescrd`, which could name any namespace, unless `allowCrossNamespace`.
pub(crate) fn cross_provider(options: &CrdOptions, parent: &str, name: &str, path: &str) -> Result<(), TranslateError> {
    let refuse = |reason: String| {
        Err(TranslateError::NotAllowed {
            path: path.to_owned(),
            reason,
        })
    };
    if !options.allow_cross_namespace && name.ends_with(&format!("@{PROVIDER}")) {
        return refuse(format!(
            "`{name}` may name any namespace, which allowCrossNamespace does not allow"
        ));
    }
    if let Some(allowed) = &options.cross_provider_namespaces
        && !allowed.iter().any(|ns| ns == parent)
    {
        return refuse(format!(
            "`{name}` refers to another provider, and namespace `{parent}` is not in crossProviderNamespaces"
        ));
    }
    Ok(())
}

impl Crd<'_> {
    /// Resolves the Middleware references at `path` (`spec.routes[0].middlewares`).
    pub(crate) fn middleware_references(
        &self,
        object: Object<'_>,
        references: &[Reference],
        path: &str,
    ) -> Result<Vec<String>, TranslateError> {
        references
            .iter()
            .enumerate()
            .map(|(i, r)| {
                resolve(
                    self.options,
                    object.namespace,
                    &r.namespace,
                    &r.name,
                    &format!("{path}[{i}]"),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_as_traefik_names_them() {
        let strict = CrdOptions::default();
        assert_eq!(resolve(&strict, "shop", "", "auth", "m").unwrap(), "shop-auth");
        assert!(resolve(&strict, "shop", "blog", "auth", "m").is_err());
        assert!(resolve(&strict, "shop", "", "shop-auth@kubernetescrd", "m").is_err());
        assert_eq!(resolve(&strict, "shop", "", "auth@file", "m").unwrap(), "auth@file");
        let open = CrdOptions {
            allow_cross_namespace: true,
            cross_provider_namespaces: Some(vec!["blog".into()]),
            ..CrdOptions::default()
        };
        assert_eq!(resolve(&open, "shop", "blog", "a.b", "m").unwrap(), "blog-a-b");
        let error = resolve(&open, "shop", "", "auth@file", "spec.routes[0].middlewares[0]").unwrap_err();
        assert!(error.to_string().contains("crossProviderNamespaces"), "{error}");
    }
}
