//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::ErrorPage;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn errors(_config: &ErrorPage, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("errors"))
}
