//! Path rewriting: `addPrefix`, `stripPrefix`, `stripPrefixRegex`, `replacePath`, `replacePathRegex`.
//!
//! Rewrites work on the decoded path and keep the client's escaping where it still applies, as Go's
//! `net/url` does for Traefik. A rewrite whose result would change when cleaned (`..`, `.` or `//`
//! segments appearing once a prefix is gone) is refused with `400`, so that a prefix cannot be used to
//! climb out of the backend's base path. The query string always survives unchanged.

use http::header::HeaderName;
use http::{HeaderValue, Request, Response, StatusCode};
use regex::Regex;
use switchyard_config::{AddPrefix, ReplacePath, ReplacePathRegex, StripPrefix, StripPrefixRegex};

use crate::layers::builtin_layer;
use crate::stack::{OnRequest, on_request};
use crate::uri::{GoPath, join_path, set_path, unescape};
use crate::{MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody, error_response, response};

/// The header `stripPrefix` and `stripPrefixRegex` add with the prefix they removed.
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
/// The header `replacePath` and `replacePathRegex` add with the path they replaced.
const X_REPLACED_PATH: HeaderName = HeaderName::from_static("x-replaced-path");

type Answer = Result<(), Response<ResponseBody>>;

fn bad_request() -> Response<ResponseBody> {
    error_response(StatusCode::BAD_REQUEST)
}

/// Reads the request's path, or answers `400` when its escapes do not decode.
fn go_path(req: &Request<RequestBody>) -> Result<GoPath, Response<ResponseBody>> {
    GoPath::of(req.uri()).ok_or_else(bad_request)
}

/// Writes `path` into the request URI.
fn write(req: &mut Request<RequestBody>, path: &GoPath) -> Answer {
    if set_path(req.uri_mut(), &path.escaped()) {
        Ok(())
    } else {
        Err(bad_request())
    }
}

/// Go's `url.JoinPath()` check after a strip or a regexp rewrite: `Ok` when cleaning leaves the path as
/// it is (an empty path is not checked).
fn check_clean(path: &GoPath) -> Answer {
    if path.path.is_empty() {
        return Ok(());
    }
    let cleaned = join_path(&path.escaped());
    if unescape(&cleaned).as_deref() == Some(path.path.as_str()) {
        Ok(())
    } else {
        Err(bad_request())
    }
}

fn ensure_leading_slash(s: String) -> String {
    if s.is_empty() || s.starts_with('/') {
        s
    } else {
        format!("/{s}")
    }
}

fn header(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// How many bytes of `raw` spell the first `decoded_len` bytes of its decoding.
fn encoded_prefix_len(raw: &str, decoded_len: usize) -> usize {
    let bytes = raw.as_bytes();
    let (mut i, mut decoded) = (0, 0);
    while i < bytes.len() && decoded < decoded_len {
        i += if bytes[i] == b'%' && i + 2 < bytes.len() { 3 } else { 1 };
        decoded += 1;
    }
    i.min(raw.len())
}

/// Removes the first `prefix_len` decoded bytes from both forms of `path`.
fn strip(path: &GoPath, prefix_len: usize, rest: String) -> GoPath {
    let raw = if path.raw.is_empty() {
        String::new()
    } else {
        let at = encoded_prefix_len(&path.raw, prefix_len);
        ensure_leading_slash(path.raw.get(at..).unwrap_or_default().to_owned())
    };
    GoPath {
        path: ensure_leading_slash(rest),
        raw,
    }
}

struct AddPrefixStep {
    prefix: String,
}

impl OnRequest for AddPrefixStep {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Answer {
        let path = go_path(req)?;
        let raw = if path.raw.is_empty() {
            String::new()
        } else {
            ensure_leading_slash(format!("{}{}", self.prefix, path.raw))
        };
        let path = GoPath {
            path: ensure_leading_slash(format!("{}{}", self.prefix, path.path)),
            raw,
        };
        write(req, &path)
    }
}

/// `addPrefix`: the prefix goes in front of the path; an empty prefix is a configuration error.
pub(crate) fn add_prefix(config: &AddPrefix) -> Result<MiddlewareLayer, MiddlewareError> {
    if config.prefix.is_empty() {
        return Err(MiddlewareError::invalid("prefix", "prefix cannot be empty"));
    }
    Ok(on_request(AddPrefixStep {
        prefix: config.prefix.clone(),
    }))
}

struct StripPrefixStep {
    prefixes: Vec<(String, Option<HeaderValue>)>,
}

impl OnRequest for StripPrefixStep {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Answer {
        let path = go_path(req)?;
        let Some((prefix, value)) = self.prefixes.iter().find(|(p, _)| path.path.starts_with(p.as_str())) else {
            return Ok(());
        };
        let rest = path.path[prefix.len()..].to_owned();
        let stripped = strip(&path, prefix.len(), rest);
        check_clean(&stripped)?;
        if let Some(value) = value {
            req.headers_mut().append(X_FORWARDED_PREFIX, value.clone());
        }
        write(req, &stripped)
    }
}

/// `stripPrefix`: removes the first listed prefix the path starts with (byte-wise, not per segment, as
/// in Traefik) and adds it as `X-Forwarded-Prefix`. `forceSlash` is deprecated and ignored by Traefik
/// v3's default behaviour; it is accepted and has no effect here either.
pub(crate) fn strip_prefix(config: &StripPrefix) -> Result<MiddlewareLayer, MiddlewareError> {
    if config.force_slash.is_some() {
        tracing::warn!(target: "switchyard::middleware", "stripPrefix.forceSlash is deprecated and has no effect");
    }
    let prefixes = config
        .prefixes
        .iter()
        .map(|p| {
            let p = p.trim().to_owned();
            let value = header(&p);
            (p, value)
        })
        .collect();
    Ok(on_request(StripPrefixStep { prefixes }))
}

struct StripPrefixRegexStep {
    expressions: Vec<Regex>,
}

impl OnRequest for StripPrefixRegexStep {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Answer {
        let path = go_path(req)?;
        for expression in &self.expressions {
            let Some(found) = expression.find(&path.path) else {
                continue;
            };
            // Traefik takes the leftmost match and strips it only when the path starts with it.
            if found.as_str().is_empty() || !path.path.starts_with(found.as_str()) {
                continue;
            }
            let prefix = found.as_str().to_owned();
            let rest = path.path.replacen(&prefix, "", 1);
            let stripped = strip(&path, prefix.len(), rest);
            if let Some(value) = header(&prefix) {
                req.headers_mut().append(X_FORWARDED_PREFIX, value);
            }
            check_clean(&stripped)?;
            return write(req, &stripped);
        }
        Ok(())
    }
}

fn compile(field: String, expression: &str) -> Result<Regex, MiddlewareError> {
    Regex::new(expression.trim())
        .map_err(|e| MiddlewareError::invalid(field, format!("invalid regular expression: {e}")))
}

/// `stripPrefixRegex`: removes what the first matching regexp matches at the start of the path.
pub(crate) fn strip_prefix_regex(config: &StripPrefixRegex) -> Result<MiddlewareLayer, MiddlewareError> {
    let expressions = config
        .regex
        .iter()
        .enumerate()
        .map(|(i, e)| compile(format!("regex[{i}]"), e))
        .collect::<Result<_, _>>()?;
    Ok(on_request(StripPrefixRegexStep { expressions }))
}

/// The path as sent so far, in escaped form (what `X-Replaced-Path` carries and regexps see).
fn current_escaped(path: &GoPath) -> String {
    if path.raw.is_empty() {
        path.escaped()
    } else {
        path.raw.clone()
    }
}

/// Sets a new escaped path; a path whose escapes do not decode is Traefik's `500`.
fn replace(req: &mut Request<RequestBody>, raw: String) -> Result<GoPath, Response<ResponseBody>> {
    let Some(decoded) = unescape(&raw) else {
        let text = format!("invalid URL escape in {raw:?}\n");
        return Err(response::text_response(StatusCode::INTERNAL_SERVER_ERROR, text));
    };
    let path = GoPath { path: decoded, raw };
    write(req, &path)?;
    Ok(path)
}

struct ReplacePathStep {
    path: String,
}

impl OnRequest for ReplacePathStep {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Answer {
        let current = current_escaped(&go_path(req)?);
        if let Some(value) = header(&current) {
            req.headers_mut().append(X_REPLACED_PATH, value);
        }
        replace(req, self.path.clone()).map(drop)
    }
}

/// `replacePath`: the path becomes the configured one (an escaped path); the old one goes in
/// `X-Replaced-Path`.
pub(crate) fn replace_path(config: &ReplacePath) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(on_request(ReplacePathStep {
        path: config.path.clone(),
    }))
}

struct ReplacePathRegexStep {
    regex: Regex,
    replacement: String,
}

impl OnRequest for ReplacePathRegexStep {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Answer {
        let current = current_escaped(&go_path(req)?);
        if !self.regex.is_match(&current) {
            return Ok(());
        }
        if let Some(value) = header(&current) {
            req.headers_mut().append(X_REPLACED_PATH, value);
        }
        let rewritten = self.regex.replace_all(&current, self.replacement.as_str()).into_owned();
        let path = replace(req, rewritten)?;
        check_clean(&path)
    }
}

/// `replacePathRegex`: rewrites the escaped path with a regexp and a replacement (`$1`, `${name}`); the
/// old path goes in `X-Replaced-Path`.
pub(crate) fn replace_path_regex(config: &ReplacePathRegex) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(on_request(ReplacePathRegexStep {
        regex: compile("regex".into(), &config.regex)?,
        replacement: config.replacement.trim().to_owned(),
    }))
}

builtin_layer! {
    /// `addPrefix` as a tower layer: puts `prefix` in front of the request's path (an empty prefix is
    /// an error).
    ///
    /// ```
    /// use switchyard_config::AddPrefix;
    /// use switchyard_middleware::layers::AddPrefixLayer;
    ///
    /// let layer = AddPrefixLayer::new(AddPrefix { prefix: "/v2".into() }).unwrap();
    /// # let _ = layer;
    /// assert_eq!(AddPrefixLayer::new(AddPrefix::default()).unwrap_err().field(), "prefix");
    /// ```
    AddPrefixLayer(AddPrefix => add_prefix)
}

builtin_layer! {
    /// `stripPrefix` as a tower layer: removes the first listed prefix the path starts with (byte-wise,
    /// as Traefik) and records it in `X-Forwarded-Prefix`; a path that would then climb with `..` is
    /// answered `400`.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use switchyard_config::StripPrefix;
    /// use switchyard_middleware::layers::StripPrefixLayer;
    /// use switchyard_middleware::{RequestBody, ResponseBody};
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let strip = StripPrefixLayer::new(StripPrefix { prefixes: vec!["/api".into()], ..Default::default() }).unwrap();
    /// let backend = strip.layer(tower::service_fn(|req: Request<RequestBody>| async move {
    ///     assert_eq!(req.uri(), "/users?page=2");
    ///     assert_eq!(req.headers()["x-forwarded-prefix"], "/api");
    ///     Ok::<_, Infallible>(Response::new(ResponseBody::empty()))
    /// }));
    /// let request = Request::get("/api/users?page=2").body(RequestBody::empty()).unwrap();
    /// assert_eq!(backend.oneshot(request).await.unwrap().status(), 200);
    /// # }
    /// ```
    StripPrefixLayer(StripPrefix => strip_prefix)
}

builtin_layer! {
    /// `stripPrefixRegex` as a tower layer: removes what the first matching regexp matches at the start
    /// of the path, and records it in `X-Forwarded-Prefix`.
    ///
    /// ```
    /// use switchyard_config::StripPrefixRegex;
    /// use switchyard_middleware::layers::StripPrefixRegexLayer;
    ///
    /// let layer = StripPrefixRegexLayer::new(StripPrefixRegex { regex: vec!["/v[0-9]+".into()] }).unwrap();
    /// # let _ = layer;
    /// let broken = StripPrefixRegex { regex: vec!["/ok".into(), "(".into()] };
    /// assert_eq!(StripPrefixRegexLayer::new(broken).unwrap_err().field(), "regex[1]");
    /// ```
    StripPrefixRegexLayer(StripPrefixRegex => strip_prefix_regex)
}

builtin_layer! {
    /// `replacePath` as a tower layer: the path becomes `path` (an escaped path) and the old one goes in
    /// `X-Replaced-Path`; the query string stays.
    ///
    /// ```
    /// use switchyard_config::ReplacePath;
    /// use switchyard_middleware::layers::ReplacePathLayer;
    ///
    /// let layer = ReplacePathLayer::new(ReplacePath { path: "/health".into() }).unwrap();
    /// # let _ = layer;
    /// ```
    ReplacePathLayer(ReplacePath => replace_path)
}

builtin_layer! {
    /// `replacePathRegex` as a tower layer: rewrites the escaped path with a regexp and a replacement
    /// (`$1`, `${name}`); the old path goes in `X-Replaced-Path`.
    ///
    /// ```
    /// use switchyard_config::ReplacePathRegex;
    /// use switchyard_middleware::layers::ReplacePathRegexLayer;
    ///
    /// let rewrite = ReplacePathRegex { regex: "^/foo/(.*)".into(), replacement: "/bar/$1".into() };
    /// let layer = ReplacePathRegexLayer::new(rewrite).unwrap();
    /// # let _ = layer;
    /// ```
    ReplacePathRegexLayer(ReplacePathRegex => replace_path_regex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(step: &dyn OnRequest, uri: &str) -> Result<Request<RequestBody>, StatusCode> {
        let mut req = Request::builder().uri(uri).body(RequestBody::empty()).unwrap();
        step.on_request(&mut req).map(|()| req).map_err(|r| r.status())
    }

    fn strip(prefixes: &[&str]) -> StripPrefixStep {
        StripPrefixStep {
            prefixes: prefixes.iter().map(|p| (p.to_string(), header(p))).collect(),
        }
    }

    #[test]
    fn strip_prefix_is_byte_wise_and_keeps_the_query() {
        let req = run(&strip(&["/api"]), "/api/users?id=1").unwrap();
        assert_eq!(req.uri(), "/users?id=1");
        assert_eq!(req.headers()["x-forwarded-prefix"], "/api");
        assert_eq!(run(&strip(&["/api"]), "/apiv2").unwrap().uri(), "/v2");
        assert_eq!(run(&strip(&["/api"]), "/api").unwrap().uri(), "/");
        let untouched = run(&strip(&["/api"]), "/other").unwrap();
        assert_eq!(untouched.uri(), "/other");
        assert!(!untouched.headers().contains_key("x-forwarded-prefix"));
    }

    #[test]
    fn strip_prefix_refuses_paths_that_climb() {
        assert_eq!(run(&strip(&["/api"]), "/api/../admin").unwrap_err(), 400);
        assert_eq!(run(&strip(&["/api"]), "/api//x").unwrap_err(), 400);
    }

    #[test]
    fn strip_prefix_keeps_the_clients_escaping() {
        assert_eq!(run(&strip(&["/api"]), "/api/a%2Fb").unwrap().uri(), "/a%2Fb");
        assert_eq!(run(&strip(&["/a b"]), "/a%20b/c").unwrap().uri(), "/c");
    }

    #[test]
    fn add_prefix_and_replace_path() {
        let add = AddPrefixStep { prefix: "/v1".into() };
        assert_eq!(run(&add, "/x?q=1").unwrap().uri(), "/v1/x?q=1");
        let replace = ReplacePathStep {
            path: "/new%20path".into(),
        };
        let req = run(&replace, "/old?q=1").unwrap();
        assert_eq!(req.uri(), "/new%20path?q=1");
        assert_eq!(req.headers()["x-replaced-path"], "/old");
        let broken = ReplacePathStep { path: "/%zz".into() };
        assert_eq!(run(&broken, "/old").unwrap_err(), 500);
    }

    #[test]
    fn replace_path_regex_uses_groups() {
        let step = ReplacePathRegexStep {
            regex: Regex::new("^/foo/(.*)").unwrap(),
            replacement: "/bar/$1".into(),
        };
        let req = run(&step, "/foo/x/y?z").unwrap();
        assert_eq!(req.uri(), "/bar/x/y?z");
        assert_eq!(req.headers()["x-replaced-path"], "/foo/x/y");
        assert_eq!(run(&step, "/other").unwrap().uri(), "/other");
    }

    #[test]
    fn strip_prefix_regex_strips_only_leading_matches() {
        let step = StripPrefixRegexStep {
            expressions: vec![Regex::new("/a/[0-9]+").unwrap()],
        };
        let req = run(&step, "/a/123/b").unwrap();
        assert_eq!(req.uri(), "/b");
        assert_eq!(req.headers()["x-forwarded-prefix"], "/a/123");
        assert_eq!(run(&step, "/x/a/123/b").unwrap().uri(), "/x/a/123/b");
    }
}
