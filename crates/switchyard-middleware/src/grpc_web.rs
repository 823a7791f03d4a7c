//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::GrpcWeb;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn grpc_web(_config: &GrpcWeb, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("grpcWeb"))
}
