//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::ContentType;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn content_type(_config: &ContentType, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("contentType"))
}
