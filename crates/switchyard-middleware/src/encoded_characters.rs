//! Placeholder, replaced by the middleware's implementation.

use switchyard_config::EncodedCharacters;

use crate::{BuildContext, MiddlewareError, MiddlewareLayer};

pub(crate) fn encoded_characters(
    _config: &EncodedCharacters,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::Unsupported("encodedCharacters"))
}
