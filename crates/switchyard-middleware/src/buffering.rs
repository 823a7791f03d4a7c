//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::Buffering;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn buffering(_config: &Buffering, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("buffering"))
}
