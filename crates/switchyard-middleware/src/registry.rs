//! Middlewares of your own, registered by name and configured like Traefik plugins.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tower::Layer;

use crate::{BoxError, HttpCompatible, HttpService, MiddlewareLayer};

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
/// A factory makes a tower layer from the plugin's options: any `Layer<HttpService>` whose service
/// answers a `Request<RequestBody>` with a `Response<ResponseBody>`, never fails, and is
/// `Clone + Send + Sync` (with a `Send` future), as [`MiddlewareLayer::new`] takes. A factory that
/// rejects its options makes the middleware (and the routers using it) disabled with the factory's
/// error in the report, as a built-in middleware's bad options do.
///
/// ```
/// use http::{HeaderValue, Request};
/// use serde::Deserialize;
/// use switchyard_middleware::{Plugins, RequestBody};
/// use tower::util::MapRequestLayer;
///
/// #[derive(Deserialize)]
/// struct Options { tenant: String }
///
/// let plugins = Plugins::new().with_typed("tenant", |options: Options| {
///     let value = HeaderValue::from_str(&options.tenant)?;
///     Ok(MapRequestLayer::new(move |mut req: Request<RequestBody>| {
///         req.headers_mut().insert("x-tenant", value.clone());
///         req
///     }))
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

    /// Registers `factory` under `name`, replacing an earlier one of the same name. The factory reads
    /// the plugin's options as they are in the configuration; [`with_typed`](Self::with_typed) reads
    /// them into a type of yours.
    ///
    /// ```
    /// use switchyard_middleware::Plugins;
    /// use tower::layer::util::Identity;
    ///
    /// let plugins = Plugins::new().with("noop", |_options| Ok(Identity::new()));
    /// assert_eq!(plugins.names().collect::<Vec<_>>(), ["noop"]);
    /// ```
    #[must_use]
    pub fn with<L, F>(mut self, name: impl Into<String>, factory: F) -> Self
    where
        F: Fn(&serde_json::Value) -> Result<L, BoxError> + Send + Sync + 'static,
        L: Layer<HttpService> + Send + Sync + 'static,
        L::Service: HttpCompatible,
    {
        let factory: PluginFactory = Arc::new(move |options| factory(options).map(MiddlewareLayer::new));
        self.factories.insert(name.into(), factory);
        self
    }

    /// Registers a factory taking its options as a type of its own, read from the configuration with
    /// serde; a value that does not deserialize is reported as the plugin's error.
    #[must_use]
    pub fn with_typed<C, L, F>(self, name: impl Into<String>, factory: F) -> Self
    where
        C: DeserializeOwned,
        F: Fn(C) -> Result<L, BoxError> + Send + Sync + 'static,
        L: Layer<HttpService> + Send + Sync + 'static,
        L::Service: HttpCompatible,
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
