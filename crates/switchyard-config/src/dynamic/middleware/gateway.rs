//! Internal middlewares the Gateway API provider builds for filters Traefik's middlewares cannot
//! express: header modifiers that append, and redirects with the status code asked for whatever the
//! method. Files and labels cannot declare them: their keys are not read.

use serde::Serialize;

/// Which headers a [`HeaderModifier`] edits.
///
/// ```
/// use switchyard_config::{HeaderModifier, HeaderSide};
///
/// let on_answers = HeaderModifier { side: HeaderSide::Response, ..HeaderModifier::default() };
/// assert_ne!(on_answers.side, HeaderModifier::default().side);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HeaderSide {
    /// The request's, before it goes on to the service.
    Request,
    /// The response's, on its way back to the client.
    Response,
}

/// Sets, appends and removes headers, in that order: `set` replaces a header's values, `add` appends
/// a value to those already there (the Gateway API's `RequestHeaderModifier` and
/// `ResponseHeaderModifier`). Internal: only providers build it.
///
/// ```
/// use switchyard_config::{HeaderModifier, HeaderSide, Middleware};
///
/// let modifier = Middleware::HeaderModifier(HeaderModifier {
///     side: HeaderSide::Request,
///     add: vec![("x-env".into(), "canary".into())],
///     ..HeaderModifier::default()
/// });
/// assert_eq!(modifier.kind(), "internalHeaderModifier");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderModifier {
    /// The request's headers or the response's.
    pub side: HeaderSide,
    /// Headers given this one value, replacing any others (name, value).
    pub set: Vec<(String, String)>,
    /// Values appended to a header's (name, value).
    pub add: Vec<(String, String)>,
    /// Headers removed.
    pub remove: Vec<String>,
}

impl Default for HeaderModifier {
    fn default() -> Self {
        Self {
            side: HeaderSide::Request,
            set: Vec::new(),
            add: Vec::new(),
            remove: Vec::new(),
        }
    }
}

/// A `redirectRegex` that answers with `status` whatever the method (where `redirectRegex` turns
/// 301 and 302 into 308 and 307 for methods other than `GET`), as the Gateway API's
/// `RequestRedirect` asks. Internal: only providers build it.
///
/// ```
/// use switchyard_config::{Middleware, StatusRedirect};
///
/// let redirect = Middleware::StatusRedirect(StatusRedirect {
///     regex: "^http://([^/]+)(.*)$".into(),
///     replacement: "https://${1}${2}".into(),
///     status: 301,
/// });
/// assert_eq!(redirect.kind(), "internalStatusRedirect");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRedirect {
    /// The regexp matched against the full request URL, as `redirectRegex`'s.
    pub regex: String,
    /// The target URL, with `$1` groups.
    pub replacement: String,
    /// The redirect status: 301, 302, 303, 307 or 308.
    pub status: u16,
}

/// Answers 504 when the response headers do not come within `timeout` of the request, and cuts the
/// response off when its body has not ended by then: the Gateway API's `timeouts.request`, which
/// covers the whole response. Internal: only providers build it.
///
/// ```
/// use switchyard_config::{Duration, Middleware, RequestTimeout};
///
/// let bounded = Middleware::RequestTimeout(RequestTimeout { timeout: Duration::from_secs(10) });
/// assert_eq!(bounded.kind(), "internalRequestTimeout");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestTimeout {
    /// The time from the request to the end of the response; zero or negative: no limit.
    pub timeout: crate::Duration,
}
