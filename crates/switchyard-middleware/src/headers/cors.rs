//! CORS: preflight answers and the `Access-Control-*` headers of ordinary responses.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, CONTENT_LENGTH, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use regex::Regex;
use switchyard_config::Headers;

use super::header_value;
use crate::{MiddlewareError, RequestBody, ResponseBody};

/// A list option joined with `,` as Traefik sends it; `None` when that is empty.
fn joined(field: &str, list: &[String]) -> Result<Option<HeaderValue>, MiddlewareError> {
    let text = list.join(",");
    if text.is_empty() {
        Ok(None)
    } else {
        header_value(field, &text).map(Some)
    }
}

/// The CORS options, ready to use.
#[derive(Debug, Clone)]
pub(super) struct Cors {
    credentials: bool,
    /// `accessControlAllowHeaders` joined, unless it has `*` with credentials (then the request's
    /// `Access-Control-Request-Headers` is echoed).
    allow_headers: Option<HeaderValue>,
    echo_headers: bool,
    allow_methods: Option<HeaderValue>,
    echo_method: bool,
    origins: Vec<String>,
    origin_regexes: Vec<Regex>,
    /// `accessControlExposeHeaders` joined; none when it has `*` with credentials, which browsers would
    /// read as a header named `*`.
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    add_vary: bool,
}

impl Cors {
    pub(super) fn build(config: &Headers) -> Result<Self, MiddlewareError> {
        let credentials = config.access_control_allow_credentials;
        let wildcard = |list: &[String]| credentials && list.iter().any(|item| item == "*");
        let origin_regexes = origin_regexes(&config.access_control_allow_origin_list_regex)?;
        let expose = if wildcard(&config.access_control_expose_headers) {
            None
        } else {
            joined("accessControlExposeHeaders", &config.access_control_expose_headers)?
        };
        Ok(Self {
            credentials,
            allow_headers: joined("accessControlAllowHeaders", &config.access_control_allow_headers)?,
            echo_headers: wildcard(&config.access_control_allow_headers),
            allow_methods: joined("accessControlAllowMethods", &config.access_control_allow_methods)?,
            echo_method: wildcard(&config.access_control_allow_methods),
            origins: config.access_control_allow_origin_list.clone(),
            origin_regexes,
            expose,
            max_age: config.access_control_max_age.map(HeaderValue::from),
            add_vary: config.add_vary_header,
        })
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed. A listed
    /// `*` allows any origin; with credentials the origin itself is sent, as `*` does not allow them.
    fn allowed_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let text = origin.map_or("", |o| o.to_str().unwrap_or(""));
        for item in &self.origins {
            if item == text && !text.is_empty() {
                return origin.cloned();
            }
            if item == "*" {
                return if self.credentials {
                    origin.filter(|o| !o.is_empty()).cloned()
                } else {
                    Some(HeaderValue::from_static("*"))
                };
            }
        }
        let origin = origin.filter(|o| !o.is_empty())?;
        self.origin_regexes
            .iter()
            .any(|regex| regex.is_match(text))
            .then(|| origin.clone())
    }

    /// The answer to a preflight request, or `None` when `req` is not one.
    pub(super) fn preflight(&self, req: &Request<RequestBody>) -> Option<Response<ResponseBody>> {
        let headers = req.headers();
        let method = headers.get(ACCESS_CONTROL_REQUEST_METHOD).filter(|m| !m.is_empty())?;
        let origin = headers.get(ORIGIN).filter(|o| !o.is_empty())?;
        if req.method() != Method::OPTIONS {
            return None;
        }
        let mut response = Response::new(ResponseBody::empty());
        let out = response.headers_mut();
        out.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        if self.credentials {
            out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        self.insert_allowed(headers, method, out);
        if let Some(allowed) = self.allowed_origin(Some(origin)) {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        }
        if let Some(max_age) = &self.max_age {
            out.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        if let Some(expose) = &self.expose {
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        Some(response)
    }

    /// The headers and methods a preflight allows: the requested ones echoed (for a `*` with
    /// credentials), or those configured.
    fn insert_allowed(&self, headers: &HeaderMap, method: &HeaderValue, out: &mut HeaderMap) {
        if self.echo_headers {
            if let Some(requested) = headers.get(ACCESS_CONTROL_REQUEST_HEADERS).filter(|h| !h.is_empty()) {
                out.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
            }
        } else if let Some(allowed) = &self.allow_headers {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed.clone());
        }
        if self.echo_method {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, method.clone());
        } else if let Some(allowed) = &self.allow_methods {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, allowed.clone());
        }
    }

    /// The CORS headers of an ordinary response to a request from `origin`.
    pub(super) fn apply_to_response(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        if let Some(allowed) = self.allowed_origin(origin) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        }
        if self.credentials {
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(expose) = &self.expose {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        if self.add_vary {
            // Like Go's `Header.Get` then `Set`: the first `Vary` line gets `Origin` appended and
            // replaces them all.
            let vary = match headers.get(VARY) {
                Some(first) if first.as_bytes() == b"Origin" => return,
                Some(first) if !first.is_empty() => {
                    let mut value = first.as_bytes().to_vec();
                    value.extend_from_slice(b",Origin");
                    HeaderValue::from_bytes(&value).unwrap_or(HeaderValue::from_static("Origin"))
                }
                _ => HeaderValue::from_static("Origin"),
            };
            headers.insert(VARY, vary);
        }
    }
}

/// `accessControlAllowOriginListRegex`, compiled.
fn origin_regexes(expressions: &[String]) -> Result<Vec<Regex>, MiddlewareError> {
    expressions
        .iter()
        .enumerate()
        .map(|(i, expression)| {
            Regex::new(expression).map_err(|e| {
                MiddlewareError::invalid(
                    format!("accessControlAllowOriginListRegex[{i}]"),
                    format!("invalid regular expression: {e}"),
                )
            })
        })
        .collect()
}
