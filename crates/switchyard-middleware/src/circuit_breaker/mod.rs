//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::CircuitBreaker;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn circuit_breaker(
    _config: &CircuitBreaker,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("circuitBreaker"))
}
