//! The `X-Forwarded-*` family of headers that Traefik manages: the proxy drops them from untrusted peers,
//! and `forwardAuth` filters them by `trustForwardHeader`.

use http::HeaderName;

/// The headers Traefik manages (its `XHeadersSet`), in lower case.
pub const MANAGED_HEADERS: [&str; 13] = [
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-prefix",
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
    "x-scheme",
    "x-real-ip",
];

/// Whether a header is one of [`MANAGED_HEADERS`], with `_` accepted for `-` (which some servers read
/// as the same header).
///
/// ```
/// use http::HeaderName;
/// use switchyard_middleware::is_managed_header;
///
/// assert!(is_managed_header(&HeaderName::from_static("x_real_ip")));
/// assert!(!is_managed_header(&HeaderName::from_static("x-request-id")));
/// ```
pub fn is_managed_header(name: &HeaderName) -> bool {
    is_managed_header_name(name.as_str())
}

/// [`is_managed_header`] for a lower-cased name that is not (yet) a [`HeaderName`].
///
/// ```
/// use switchyard_middleware::is_managed_header_name;
///
/// assert!(is_managed_header_name("x-forwarded-for"));
/// assert!(!is_managed_header_name("keep-alive"));
/// ```
pub fn is_managed_header_name(name: &str) -> bool {
    if !name.starts_with('x') {
        return false;
    }
    MANAGED_HEADERS.iter().any(|m| {
        m.len() == name.len()
            && m.bytes()
                .zip(name.bytes())
                .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
    })
}
