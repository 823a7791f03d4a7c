//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::Retry;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn retry(_config: &Retry, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("retry"))
}
