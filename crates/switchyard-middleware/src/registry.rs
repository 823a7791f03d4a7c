//! Middlewares of your own, registered by name and configured like Traefik plugins.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::{BoxError, MiddlewareLayer};

/// Builds a registered middleware from its configuration value.
pub type PluginFactory = Arc<dyn Fn(&serde_json::Value) -> Result<MiddlewareLayer, BoxError> + Send + Sync>;

/// The middlewares registered from Rust code, by name. Configuration refers to one as Traefik refers to
/// a plugin, with its options below its name:
///
/// ```yaml
/// http:
///   middlewares:
///     tag-requests:
///       plugin:
///         requestId:
///           header: X-Request-Id
/// ```
///
/// A factory that rejects its options makes the middleware (and the routers using it) disabled with the
/// factory's error in the report, as a built-in middleware's bad options do.
///
/// ```
/// use http::HeaderValue;
/// use serde::Deserialize;
/// use switchyard_middleware::{HttpService, MiddlewareLayer, Plugins};
/// use tower::layer::layer_fn;
/// use tower::ServiceExt;
///
/// #[derive(Deserialize)]
/// struct Options { tenant: String }
///
/// let plugins = Plugins::new().with_typed("tenant", |options: Options| {
///     let value = HeaderValue::from_str(&options.tenant)?;
///     Ok(MiddlewareLayer::new(layer_fn(move |inner: HttpService| {
///         let value = value.clone();
///         HttpService::new(inner.map_request(move |mut req: http::Request<_>| {
///             req.headers_mut().insert("x-tenant", value.clone());
///             req
///         }))
///     })))
/// });
/// assert!(plugins.get("tenant").is_some());
/// ```
#[derive(Clone, Default)]
pub struct Plugins {
    factories: BTreeMap<String, PluginFactory>,
}

impl Plugins {
    /// No plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` under `name`, replacing an earlier one of the same name.
    #[must_use]
    pub fn with<F>(mut self, name: impl Into<String>, factory: F) -> Self
    where
        F: Fn(&serde_json::Value) -> Result<MiddlewareLayer, BoxError> + Send + Sync + 'static,
    {
        self.factories.insert(name.into(), Arc::new(factory));
        self
    }

    /// Registers a factory taking its options as a type of its own, read from the configuration with
    /// serde; a value that does not deserialize is reported as the plugin's error.
    #[must_use]
    pub fn with_typed<C, F>(self, name: impl Into<String>, factory: F) -> Self
    where
        C: DeserializeOwned,
        F: Fn(C) -> Result<MiddlewareLayer, BoxError> + Send + Sync + 'static,
    {
        self.with(name, move |value: &serde_json::Value| {
            let options = C::deserialize(value)?;
            factory(options)
        })
    }

    /// The factory registered under `name`.
    pub fn get(&self, name: &str) -> Option<&PluginFactory> {
        self.factories.get(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }
}

impl fmt::Debug for Plugins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.factories.keys()).finish()
    }
}
