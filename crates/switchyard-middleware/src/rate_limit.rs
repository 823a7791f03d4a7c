//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::RateLimit;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn rate_limit(_config: &RateLimit, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("rateLimit"))
}
