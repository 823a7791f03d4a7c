//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::InFlightReq;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn in_flight_req(
    _config: &InFlightReq,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("inFlightReq"))
}
