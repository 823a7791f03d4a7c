//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::Compress;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn compress(_config: &Compress, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("compress"))
}
