//! Why a middleware could not be built from its configuration.

use crate::BoxError;

/// A middleware configuration that cannot be built. The proxy reports it under the middleware's key path
/// (`http.middlewares.<name>.<type>.<field>`) and disables the middleware and the routers using it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MiddlewareError {
    /// An option has a value the middleware cannot use.
    #[error("{reason}")]
    Invalid {
        /// The option, relative to the middleware type (`prefixes[1]`, `regex`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `plugin` names a middleware no one registered.
    #[error("no middleware plugin named `{0}` is registered")]
    UnknownPlugin(String),
    /// A registered plugin refused its configuration.
    #[error("plugin `{name}` rejected its configuration: {source}")]
    Plugin {
        /// The plugin's name.
        name: String,
        /// The plugin's own error.
        source: BoxError,
    },
    /// A middleware type switchyard does not provide yet.
    #[error("`{0}` middlewares are not supported yet")]
    Unsupported(&'static str),
    /// The middleware refers to a service or middleware that is not available.
    #[error("{0} is not available")]
    Missing(String),
}

impl MiddlewareError {
    /// An invalid option.
    ///
    /// ```
    /// use switchyard_middleware::MiddlewareError;
    ///
    /// let error = MiddlewareError::invalid("regex", "unclosed group");
    /// assert_eq!(error.field(), "regex");
    /// assert_eq!(error.to_string(), "unclosed group");
    /// ```
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The option the error is about, relative to the middleware type; empty when it is about the whole.
    pub fn field(&self) -> &str {
        match self {
            Self::Invalid { field, .. } => field,
            _ => "",
        }
    }
}
