//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::PassTlsClientCert;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn pass_tls_client_cert(
    _config: &PassTlsClientCert,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("passTlsClientCert"))
}
