//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::Headers;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn headers(_config: &Headers, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("headers"))
}
