//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::{RedirectRegex, RedirectScheme};

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn redirect_scheme(
    _config: &RedirectScheme,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("redirectScheme"))
}

pub(crate) fn redirect_regex(
    _config: &RedirectRegex,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("redirectRegex"))
}
