//! Entry points for the fuzz targets under `fuzz/` (cargo feature `fuzzing`): internals reached on
//! their own, so a target can check their properties millions of times a second rather than through
//! a whole request. Not a stable API.

use http::Uri;
pub use switchyard_middleware::EncodedSet;

use crate::request_path::{self, TargetPolicy};

/// What an entrypoint does to a request target before routing (`http.sanitizePath`,
/// `http.encodeQuerySemicolons`): the cleaned target and the encoded characters its path holds, or
/// why it is refused with 400.
///
/// ```
/// use switchyard_proxy::fuzzing::clean_target;
///
/// let (uri, _) = clean_target(&"/a/./b/../c//d".parse().unwrap(), true, false).unwrap();
/// assert_eq!(uri, "/a/c/d");
/// assert!(clean_target(&"/%zz".parse().unwrap(), true, false).is_err());
/// ```
pub fn clean_target(uri: &Uri, sanitize: bool, encode_query_semicolons: bool) -> Result<(Uri, EncodedSet), String> {
    let mut uri = uri.clone();
    let policy = TargetPolicy {
        sanitize,
        encode_query_semicolons,
    };
    let found = request_path::clean(&mut uri, policy).map_err(|e| e.to_string())?;
    Ok((uri, found))
}
