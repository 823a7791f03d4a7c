//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::{BasicAuth, DigestAuth, ForwardAuth};

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn basic_auth(_config: &BasicAuth, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("basicAuth"))
}

pub(crate) fn digest_auth(_config: &DigestAuth, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("digestAuth"))
}

pub(crate) fn forward_auth(_config: &ForwardAuth, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("forwardAuth"))
}
