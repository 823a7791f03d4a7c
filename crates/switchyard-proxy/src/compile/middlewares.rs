//! Compiling middlewares into tower layers, chains after their members (validation hands over the
//! order). The layer of an unchanged middleware is kept, with its state (rate-limit buckets,
//! circuit-breaker windows); one that cannot be built is reported and left out.

use std::collections::HashMap;

use switchyard_config::{Middleware, Problem, Published};
use switchyard_middleware::{BuildContext, HttpService, MiddlewareLayer, Plugins, Resolve};

use super::findings::Findings;
use crate::endpoint::ServiceEndpoint;
use crate::service::Node;

/// A built middleware and the definition it was built from.
#[derive(Clone)]
pub(crate) struct Compiled {
    definition: Middleware,
    pub(crate) layer: MiddlewareLayer,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("kind", &self.definition.kind())
            .finish_non_exhaustive()
    }
}

/// The middlewares of the live snapshot, kept for the next compilation, and the plugins to build
/// `plugin` middlewares with.
#[derive(Debug, Default)]
pub(crate) struct Middlewares {
    built: HashMap<String, Compiled>,
    plugins: Plugins,
}

impl Middlewares {
    pub(crate) fn new(plugins: Plugins) -> Self {
        Self {
            built: HashMap::new(),
            plugins,
        }
    }

    /// Builds every live middleware in validation's order, reusing unchanged ones, and keeps the result
    /// for the next compilation.
    pub(crate) fn build(
        &mut self,
        published: &Published,
        services: &HashMap<String, Node>,
        findings: &mut Findings<'_>,
    ) {
        let definitions = &published.runtime.config.http.middlewares;
        let mut built = HashMap::with_capacity(definitions.len());
        for name in &published.runtime.middleware_order {
            let Some(definition) = definitions.get(name) else {
                continue;
            };
            if let Some(compiled) = self.one(name, definition, services, &built, findings) {
                built.insert(name.clone(), compiled);
            }
        }
        self.built = built;
    }

    /// The middlewares built by the last compilation.
    pub(crate) fn built(&self) -> &HashMap<String, Compiled> {
        &self.built
    }

    /// One middleware: the previous layer when the definition did not change (but for chains and
    /// error pages, whose layers hold other elements), else a new one.
    fn one(
        &self,
        name: &str,
        definition: &Middleware,
        services: &HashMap<String, Node>,
        built: &HashMap<String, Compiled>,
        findings: &mut Findings<'_>,
    ) -> Option<Compiled> {
        let reusable = !matches!(definition, Middleware::Chain(_) | Middleware::Errors(_));
        if let Some(previous) = self.built.get(name).filter(|p| reusable && p.definition == *definition) {
            return Some(previous.clone());
        }
        let resolver = Resolver {
            services,
            middlewares: built,
        };
        let context = BuildContext::new(name)
            .with_resolve(&resolver)
            .with_plugins(&self.plugins);
        match switchyard_middleware::build(definition, &context) {
            Ok(layer) => Some(Compiled {
                definition: definition.clone(),
                layer,
            }),
            Err(error) => {
                let field = match error.field() {
                    "" => definition.kind().to_owned(),
                    field => format!("{}.{field}", definition.kind()),
                };
                findings.middleware(name, &field, Problem::Invalid(error.to_string()));
                None
            }
        }
    }
}

/// What middlewares may refer to while they are built: compiled services, and middlewares built before.
struct Resolver<'a> {
    services: &'a HashMap<String, Node>,
    middlewares: &'a HashMap<String, Compiled>,
}

impl Resolve for Resolver<'_> {
    fn service(&self, name: &str) -> Option<HttpService> {
        self.services.get(name).map(|node| ServiceEndpoint::boxed(node.clone()))
    }

    fn middleware(&self, name: &str) -> Option<MiddlewareLayer> {
        self.middlewares.get(name).map(|m| m.layer.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use switchyard_config::{DynamicConfig, ProviderConfig, RuntimeConfig, ValidationOptions};

    fn published(middlewares: &[(&str, Middleware)]) -> Published {
        let mut config = DynamicConfig::default();
        for (name, middleware) in middlewares {
            config.http.middlewares.insert((*name).into(), middleware.clone());
        }
        let snapshots = BTreeMap::from([(Arc::from("test"), Arc::new(ProviderConfig::from(config)))]);
        Published {
            runtime: RuntimeConfig::resolve(&snapshots, &[], &ValidationOptions::default()),
            ..Published::default()
        }
    }

    /// A plugin middleware whose builds are counted; `fail` makes the build fail.
    fn counted(value: &str) -> Middleware {
        let mut plugin = BTreeMap::new();
        plugin.insert("counted".to_owned(), serde_json::json!({ "value": value }));
        Middleware::Plugin(plugin)
    }

    #[test]
    fn unchanged_middlewares_keep_their_layers_and_broken_ones_are_reported() {
        let builds = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&builds);
        let plugins = Plugins::new().with("counted", move |options| {
            counter.fetch_add(1, Ordering::SeqCst);
            match options.get("value").and_then(|v| v.as_str()) {
                Some("fail") => Err("this one does not build".into()),
                _ => Ok(MiddlewareLayer::new(tower::layer::layer_fn(|inner: HttpService| inner))),
            }
        });
        let mut middlewares = Middlewares::new(plugins);
        let build = |middlewares: &mut Middlewares, published: &Published| {
            let mut report = published.runtime.report.clone();
            let mut findings = Findings { report: &mut report };
            middlewares.build(published, &HashMap::new(), &mut findings);
            let names: Vec<String> = middlewares.built().keys().cloned().collect();
            (names, report)
        };
        build(
            &mut middlewares,
            &published(&[("a", counted("1")), ("b", counted("2"))]),
        );
        assert_eq!(builds.load(Ordering::SeqCst), 2);

        let (names, report) = build(
            &mut middlewares,
            &published(&[("a", counted("1")), ("b", counted("fail"))]),
        );
        assert_eq!(builds.load(Ordering::SeqCst), 3, "a kept, b rebuilt");
        assert_eq!(names, ["a@test"]);
        let error = report.middlewares["b@test"].errors[0].to_string();
        assert!(error.contains("plugin") && error.contains("does not build"), "{error}");
    }
}
