//! `plugin`: a middleware registered from Rust code, configured from Rust code.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Middleware;

impl Middleware {
    /// A `plugin` middleware: the middleware registered under `name` (in switchyard, a plugin is a
    /// middleware registered from Rust code), with `options` as its configuration, as a file would give
    /// them below the plugin's name. The options are any serializable value, typically the struct the
    /// plugin reads them into.
    ///
    /// ```
    /// use serde::Serialize;
    /// use switchyard_config::{DynamicConfig, Middleware, Router};
    ///
    /// #[derive(Serialize)]
    /// struct RequestId { header: &'static str }
    ///
    /// let mut config = DynamicConfig::default();
    /// let ids = Middleware::plugin("requestId", &RequestId { header: "X-Request-Id" })?;
    /// config.http.middlewares.insert("ids".into(), ids);
    /// config.http.routers.insert("api".into(), Router::new("PathPrefix(`/api`)", "api").with_middlewares(["ids"]));
    /// assert_eq!(config.http.middlewares["ids"].kind(), "plugin");
    /// # Ok::<(), switchyard_config::PluginOptionsError>(())
    /// ```
    ///
    /// Options that cannot be written as a configuration value (a map whose keys are not strings, a
    /// `Serialize` implementation that fails) are an error naming the plugin.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use switchyard_config::Middleware;
    ///
    /// let by_pair = BTreeMap::from([((1, 2), "x")]);
    /// let error = Middleware::plugin("pairs", &by_pair).unwrap_err();
    /// assert_eq!(error.plugin(), "pairs");
    /// ```
    pub fn plugin<T>(name: impl Into<String>, options: &T) -> Result<Self, PluginOptionsError>
    where
        T: Serialize + ?Sized,
    {
        let name = name.into();
        match serde_json::to_value(options) {
            Ok(options) => Ok(Self::Plugin(BTreeMap::from([(name, options)]))),
            Err(source) => Err(PluginOptionsError { plugin: name, source }),
        }
    }
}

/// Options given to [`Middleware::plugin`] that cannot be written as a configuration value.
#[derive(Debug, thiserror::Error)]
#[error("the options of plugin `{plugin}` cannot be written as configuration: {source}")]
pub struct PluginOptionsError {
    plugin: String,
    source: serde_json::Error,
}

impl PluginOptionsError {
    /// The plugin whose options these were.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::json;

    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Tenants {
        allowed: Vec<&'static str>,
        reject_status: u16,
    }

    #[test]
    fn a_plugin_from_code_is_what_the_file_would_give() {
        let options = Tenants {
            allowed: vec!["acme", "globex"],
            reject_status: 403,
        };
        let from_code = Middleware::plugin("tenant", &options).unwrap();
        let from_file: Middleware = serde_json::from_value(
            json!({ "plugin": { "tenant": { "allowed": ["acme", "globex"], "rejectStatus": 403 } } }),
        )
        .unwrap();
        assert_eq!(from_code, from_file);
    }

    #[test]
    fn options_that_are_no_configuration_value_name_the_plugin() {
        let error = Middleware::plugin("pairs", &BTreeMap::from([((1, 2), "x")])).unwrap_err();
        assert_eq!(error.plugin(), "pairs");
        assert!(
            error
                .to_string()
                .starts_with("the options of plugin `pairs` cannot be written")
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
