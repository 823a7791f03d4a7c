//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::IpAllowList;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn ip_allow_list(
    _config: &IpAllowList,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("ipAllowList"))
}
