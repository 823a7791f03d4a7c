//! Redirections: `redirectScheme` and `redirectRegex`, with Traefik's rules.
//!
//! Both rebuild the URL the client asked for (`scheme://host[:port]/path?query`), rewrite it, and
//! redirect when the result differs; a request already at its target goes on unchanged. The status
//! depends on the method as in Traefik: `GET` gets 302 (301 when `permanent`), every other method 307
//! (308), so that the method and body are kept. The body is the status text.
//!
//! The scheme of the request is `https` when it came over TLS, and `X-Forwarded-Proto` (`http`, `ws`,
//! `https`, `wss`) decides for `redirectScheme`; the entrypoint has removed that header from untrusted
//! peers before middlewares run, so a client cannot forge it.

use http::header::{HOST, LOCATION};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use regex::Regex;
use switchyard_config::{RedirectRegex, RedirectScheme, StatusRedirect};

use crate::layers::builtin_layer;
use crate::stack::{OnRequest, on_request};
use crate::{BuildContext, ClientInfo, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody, response};

/// Traefik's pattern over a request URL: scheme, host, port, and the rest.
const URL_PATTERN: &str = r"^(https?://)?(\[[\w:.]+\]|[\w._-]+)?(:\d+)?(.*)$";

/// The parts of an absolute-form request target.
fn absolute_parts(target: &str) -> Option<(String, Option<String>, Option<String>, String)> {
    let pattern = absolute_pattern();
    let found = pattern.captures(target)?;
    Some((
        found.get(1)?.as_str().to_owned(),
        found.get(2).map(|m| m.as_str().to_owned()).filter(|h| !h.is_empty()),
        found.get(3).map(|m| m.as_str().to_owned()).filter(|p| !p.is_empty()),
        found.get(4).map_or(String::new(), |m| m.as_str().to_owned()),
    ))
}

fn absolute_pattern() -> &'static Regex {
    static PATTERN: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"^(https?)://(\[[\w:.]+\]|[\w._-]+)?(:\d+)?(.*)$")
            .unwrap_or_else(|_| unreachable!("a valid pattern"))
    })
}

/// The request target as the client sent it (origin or absolute form).
fn request_target(req: &Request<RequestBody>) -> String {
    let uri = req.uri();
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => {
            format!(
                "{scheme}://{authority}{}",
                uri.path_and_query().map_or("", |p| p.as_str())
            )
        }
        _ => uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
    }
}

/// The request's `Host` (or HTTP/2 authority).
fn request_host(req: &Request<RequestBody>) -> String {
    req.headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default()
}

/// Splits `host[:port]` as Go's `net.SplitHostPort` does when it succeeds.
fn split_host_port(host: &str) -> Option<(&str, &str)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((inner, port));
    }
    let (h, p) = host.rsplit_once(':')?;
    (!h.contains(':')).then_some((h, p))
}

/// The redirect answer for `location`.
fn redirect(method: &Method, status: RedirectStatus, location: &str) -> Response<ResponseBody> {
    let status = match (status, method == Method::GET) {
        (RedirectStatus::Fixed(status), _) => status,
        (RedirectStatus::ByMethod { permanent: false }, true) => StatusCode::FOUND,
        (RedirectStatus::ByMethod { permanent: false }, false) => StatusCode::TEMPORARY_REDIRECT,
        (RedirectStatus::ByMethod { permanent: true }, true) => StatusCode::MOVED_PERMANENTLY,
        (RedirectStatus::ByMethod { permanent: true }, false) => StatusCode::PERMANENT_REDIRECT,
    };
    let Ok(value) = HeaderValue::from_str(location) else {
        return response::error_response(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let mut answer = response::text_response(status, status.canonical_reason().unwrap_or("").to_owned());
    answer.headers_mut().remove(http::header::X_CONTENT_TYPE_OPTIONS);
    answer.headers_mut().insert(LOCATION, value);
    answer
}

/// Whether a rewritten URL is one Go's `url.Parse` would accept (else Traefik answers 500).
fn parses(url: &str) -> bool {
    !url.bytes().any(|b| b < 0x20 || b == 0x7f || b == b' ') && url.parse::<http::Uri>().is_ok()
}

/// How a redirect middleware reads the URL the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlView {
    /// `redirectScheme`: the port split off the `Host`, the scheme from `X-Forwarded-Proto` too, and a
    /// scheme's default port left out.
    Client,
    /// `redirectRegex`: the `Host` as sent, the scheme by TLS only.
    Raw,
}

/// The URL of a request as a redirect middleware matches it: `scheme://host[:port]/path?query`.
fn request_url(req: &Request<RequestBody>, view: UrlView) -> String {
    let (mut host, mut port) = host_and_port(&request_host(req), view);
    let mut scheme = "http".to_owned();
    let mut uri = request_target(req);
    if let Some((found_scheme, found_host, found_port, rest)) = absolute_parts(&uri) {
        scheme = found_scheme;
        host = found_host.unwrap_or(host);
        port = found_port.unwrap_or(port);
        uri = rest;
    }
    if ClientInfo::of(req).tls {
        scheme = "https".to_owned();
    }
    if view == UrlView::Client {
        if let Some(forwarded) = forwarded_scheme(req) {
            scheme = forwarded.to_owned();
        }
        if (scheme == "http" && port == ":80") || (scheme == "https" && port == ":443") {
            port.clear();
        }
    }
    format!("{scheme}://{host}{port}{uri}")
}

/// The host and `:port` of a `Host` value: split for `redirectScheme`, whole for `redirectRegex`.
fn host_and_port(host_header: &str, view: UrlView) -> (String, String) {
    match (view, split_host_port(host_header)) {
        // An IPv6 host keeps its brackets (Traefik drops them and then cannot build the target).
        (UrlView::Client, Some((host, port))) if host.contains(':') => (format!("[{host}]"), format!(":{port}")),
        (UrlView::Client, Some((host, port))) => (host.to_owned(), format!(":{port}")),
        _ => (host_header.to_owned(), String::new()),
    }
}

/// The scheme `X-Forwarded-Proto` names (`ws` and `wss` count as `http` and `https`), if any.
fn forwarded_scheme(req: &Request<RequestBody>) -> Option<&'static str> {
    let proto = req.headers().get("x-forwarded-proto").and_then(|v| v.to_str().ok())?;
    if proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("ws") {
        Some("http")
    } else if proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss") {
        Some("https")
    } else {
        None
    }
}

/// The status of a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedirectStatus {
    /// Traefik's: 302 (301 when permanent) for `GET`, 307 (308) for other methods.
    ByMethod { permanent: bool },
    /// This one whatever the method (the internal `StatusRedirect`).
    Fixed(StatusCode),
}

/// A redirect step: the request's URL, rewritten by `pattern` and `replacement`, is the target when it
/// changed.
struct Redirect {
    view: UrlView,
    pattern: Regex,
    replacement: String,
    status: RedirectStatus,
}

impl OnRequest for Redirect {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>> {
        let old = request_url(req, self.view);
        if !self.pattern.is_match(&old) {
            return Ok(());
        }
        let new = self.pattern.replace_all(&old, self.replacement.as_str()).into_owned();
        if !parses(&new) {
            return Err(response::error_response(StatusCode::INTERNAL_SERVER_ERROR));
        }
        if new == old {
            return Ok(());
        }
        Err(redirect(req.method(), self.status, &new))
    }
}

/// `redirectScheme`: `scheme` is required; `port` is left out of the URL when it is the scheme's
/// default.
pub(crate) fn redirect_scheme(
    config: &RedirectScheme,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    if config.scheme.is_empty() {
        return Err(MiddlewareError::invalid("scheme", "you must provide a target scheme"));
    }
    if !config.port.is_empty() && config.port.parse::<u16>().is_err() {
        return Err(MiddlewareError::invalid(
            "port",
            format!("`{}` is not a port", config.port),
        ));
    }
    let port = target_port(config);
    let pattern = Regex::new(URL_PATTERN).map_err(|e| MiddlewareError::invalid("", e.to_string()))?;
    Ok(on_request(Redirect {
        view: UrlView::Client,
        pattern,
        replacement: format!("{}://${{2}}{port}${{4}}", config.scheme),
        status: RedirectStatus::ByMethod {
            permanent: config.permanent,
        },
    }))
}

/// The `:port` of `redirectScheme`'s target; empty without a port or for the scheme's default one.
fn target_port(config: &RedirectScheme) -> String {
    let default_port =
        (config.scheme == "http" && config.port == "80") || (config.scheme == "https" && config.port == "443");
    if config.port.is_empty() || default_port {
        String::new()
    } else {
        format!(":{}", config.port)
    }
}

/// `redirectRegex`: the regexp is matched against the full URL and the replacement (with `$1`,
/// `${name}`) is the target.
pub(crate) fn redirect_regex(
    config: &RedirectRegex,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    let regex = Regex::new(&config.regex)
        .map_err(|e| MiddlewareError::invalid("regex", format!("invalid regular expression: {e}")))?;
    Ok(on_request(Redirect {
        view: UrlView::Raw,
        pattern: regex,
        replacement: config.replacement.clone(),
        status: RedirectStatus::ByMethod {
            permanent: config.permanent,
        },
    }))
}

/// The internal `StatusRedirect`: `redirectRegex` with one status (301, 302, 303, 307 or 308)
/// whatever the method.
pub(crate) fn status_redirect(config: &StatusRedirect) -> Result<MiddlewareLayer, MiddlewareError> {
    let regex = Regex::new(&config.regex)
        .map_err(|e| MiddlewareError::invalid("regex", format!("invalid regular expression: {e}")))?;
    if !matches!(config.status, 301 | 302 | 303 | 307 | 308) {
        return Err(MiddlewareError::invalid(
            "status",
            format!("{} is not a redirect status (301, 302, 303, 307, 308)", config.status),
        ));
    }
    let status = StatusCode::from_u16(config.status).map_err(|e| MiddlewareError::invalid("status", e.to_string()))?;
    Ok(on_request(Redirect {
        view: UrlView::Raw,
        pattern: regex,
        replacement: config.replacement.clone(),
        status: RedirectStatus::Fixed(status),
    }))
}

builtin_layer! {
    /// `redirectScheme` as a tower layer: answers a redirection to the same URL with another scheme
    /// (and port), unless the request already came with that scheme.
    ///
    /// ```
    /// use switchyard_config::RedirectScheme;
    /// use switchyard_middleware::layers::RedirectSchemeLayer;
    ///
    /// let to_https = RedirectScheme { scheme: "https".into(), permanent: true, ..Default::default() };
    /// let layer = RedirectSchemeLayer::new(to_https).unwrap();
    /// # let _ = layer;
    /// assert_eq!(RedirectSchemeLayer::new(RedirectScheme::default()).unwrap_err().field(), "scheme");
    /// ```
    RedirectSchemeLayer(RedirectScheme => |config| redirect_scheme(config, &BuildContext::new("redirectScheme")))
}

builtin_layer! {
    /// `redirectRegex` as a tower layer: when the regexp matches the request's full URL, answers a
    /// redirection to the replacement (with `$1`, `${name}`).
    ///
    /// ```
    /// use switchyard_config::RedirectRegex;
    /// use switchyard_middleware::layers::RedirectRegexLayer;
    ///
    /// let moved = RedirectRegex {
    ///     regex: "^https?://old\\.example\\.com/(.*)".into(),
    ///     replacement: "https://example.com/${1}".into(),
    ///     permanent: true,
    /// };
    /// let layer = RedirectRegexLayer::new(moved).unwrap();
    /// # let _ = layer;
    /// ```
    RedirectRegexLayer(RedirectRegex => |config| redirect_regex(config, &BuildContext::new("redirectRegex")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(scheme: &str, port: &str, permanent: bool) -> Redirect {
        let port = if port.is_empty() {
            String::new()
        } else {
            format!(":{port}")
        };
        Redirect {
            view: UrlView::Client,
            pattern: Regex::new(URL_PATTERN).unwrap(),
            replacement: format!("{scheme}://${{2}}{port}${{4}}"),
            status: RedirectStatus::ByMethod { permanent },
        }
    }

    fn request(method: &str, uri: &str, host: &str, proto: Option<&str>) -> Request<RequestBody> {
        let mut builder = Request::builder().method(method).uri(uri).header("host", host);
        if let Some(proto) = proto {
            builder = builder.header("x-forwarded-proto", proto);
        }
        builder.body(RequestBody::empty()).unwrap()
    }

    fn outcome(step: &dyn OnRequest, mut req: Request<RequestBody>) -> Option<(u16, String)> {
        step.on_request(&mut req).err().map(|r| {
            let location = r
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (r.status().as_u16(), location)
        })
    }

    #[test]
    fn scheme_redirects_follow_traefiks_cases() {
        let https = scheme("https", "", false);
        assert_eq!(
            outcome(&https, request("GET", "/a?b=1", "foo", Some("http"))),
            Some((302, "https://foo/a?b=1".into()))
        );
        assert_eq!(
            outcome(&https, request("GET", "/", "foo", Some("https"))),
            None,
            "already there"
        );
        assert_eq!(outcome(&https, request("GET", "/", "foo", Some("wss"))), None);
        assert_eq!(
            outcome(&https, request("GET", "/", "foo", Some("bar"))),
            Some((302, "https://foo/".into()))
        );
        assert_eq!(
            outcome(&https, request("GET", "/", "foo:8080", None)),
            Some((302, "https://foo/".into()))
        );
        assert_eq!(
            outcome(&https, request("POST", "/", "foo", None)),
            Some((307, "https://foo/".into()))
        );
        let https_8443 = scheme("https", "8443", true);
        assert_eq!(
            outcome(&https_8443, request("GET", "/", "foo:8000", None)),
            Some((301, "https://foo:8443/".into()))
        );
        assert_eq!(
            outcome(&https_8443, request("HEAD", "/", "foo", None)),
            Some((308, "https://foo:8443/".into()))
        );
        assert_eq!(
            outcome(&https_8443, request("GET", "/", "[::1]:80", Some("http"))),
            Some((301, "https://[::1]:8443/".into()))
        );
    }

    #[test]
    fn regex_redirects_rewrite_the_full_url() {
        let step = Redirect {
            view: UrlView::Raw,
            pattern: Regex::new("^http://localhost/(.*)").unwrap(),
            replacement: "http://mydomain/${1}".into(),
            status: RedirectStatus::ByMethod { permanent: false },
        };
        assert_eq!(
            outcome(&step, request("GET", "/docs?x=1", "localhost", None)),
            Some((302, "http://mydomain/docs?x=1".into()))
        );
        assert_eq!(outcome(&step, request("GET", "/", "other", None)), None);
        let broken = Redirect {
            view: UrlView::Raw,
            pattern: Regex::new(".*").unwrap(),
            replacement: "http://bad host/".into(),
            status: RedirectStatus::ByMethod { permanent: false },
        };
        assert_eq!(outcome(&broken, request("GET", "/", "x", None)).map(|o| o.0), Some(500));
    }

    #[test]
    fn status_redirects_keep_their_status_for_every_method() {
        let pattern = Regex::new("^http://a/(.*)").unwrap();
        for status in [301, 302, 303, 307, 308] {
            let step = Redirect {
                view: UrlView::Raw,
                pattern: pattern.clone(),
                replacement: "http://b/${1}".into(),
                status: RedirectStatus::Fixed(StatusCode::from_u16(status).unwrap()),
            };
            for method in ["GET", "POST", "HEAD", "DELETE"] {
                assert_eq!(
                    outcome(&step, request(method, "/x", "a", None)),
                    Some((status, "http://b/x".into())),
                    "{method} {status}"
                );
            }
        }
        let teapot = StatusRedirect {
            regex: ".*".into(),
            replacement: "/".into(),
            status: 418,
        };
        assert_eq!(status_redirect(&teapot).err().unwrap().field(), "status");
    }
}
