//! `errors`: when the wrapped service answers a status in `status`, the client gets a page from another
//! service instead, with the original status (or its rewrite from `statusRewrites`), as Traefik's
//! `customErrors` middleware does.
//!
//! The page is asked with `GET` at `query` (with `/` added in front when missing), where `{status}` is
//! the status answered, `{originalStatus}` the wrapped service's status and `{url}` the original URL
//! (scheme, host, path, query), query-escaped. The page request carries the original request's headers —
//! or only those named in `errorRequestHeaders` when it is set — and the original `Host`. The page
//! service's headers and body are sent with the caught status whatever the page service answered (its
//! own failure included), as in Traefik; when the page request cannot be built the answer is the plain
//! status text. Answers from middlewares before this one are not caught; answers the proxy made up for
//! an unreachable backend are, as in Traefik.
//!
//! Not supported: Traefik's `nginxHeaders` option (the configuration type does not carry it).

use std::sync::Arc;

use http::header::HOST;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use switchyard_config::ErrorPage;
use tower::ServiceExt;

use crate::layers::builtin_layer;
use crate::stack::{Answer, AsyncStep, HttpCompatible, async_step, erase};
use crate::{BuildContext, ClientInfo, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, error_response};

/// Status codes and inclusive ranges (`"404"`, `"500-599"`), as Traefik's `HTTPCodeRanges`: read by
/// the `errors` and `retry` middlewares and by `failover` services.
///
/// ```
/// use switchyard_middleware::CodeRanges;
///
/// let ranges = CodeRanges::parse(&["404".into(), "500-599".into()], "status").unwrap();
/// assert!(ranges.contains(503) && ranges.contains(404) && !ranges.contains(403));
/// let error = CodeRanges::parse(&["599-500".into()], "status").unwrap_err();
/// assert_eq!(error.field(), "status[0]");
/// ```
#[derive(Debug, Clone, Default)]
pub struct CodeRanges(Vec<(u16, u16)>);

impl CodeRanges {
    /// Parses `blocks`; errors name `field[index]`.
    pub fn parse(blocks: &[String], field: &str) -> Result<Self, MiddlewareError> {
        blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                Self::block(block).map_err(|reason| MiddlewareError::invalid(format!("{field}[{i}]"), reason))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn block(block: &str) -> Result<(u16, u16), String> {
        let number = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| format!("`{block}` is not a status code or a range like `500-599`"))
        };
        let (low, high) = match block.split_once('-') {
            None => number(block).map(|c| (c, c))?,
            Some((low, high)) => (number(low)?, number(high)?),
        };
        if low > high {
            return Err(format!("`{block}` is an empty range"));
        }
        Ok((low, high))
    }

    /// Whether `code` is one of the codes or inside one of the ranges.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(low, high)| (low..=high).contains(&code))
    }

    /// Whether no code was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(crate) fn errors(config: &ErrorPage, ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    let statuses = Statuses::new(config)?;
    if config.service.is_empty() {
        return Err(MiddlewareError::invalid(
            "service",
            "the service serving the error pages is missing",
        ));
    }
    let service = ctx
        .service(&config.service)
        .map_err(|e| MiddlewareError::invalid("service", e.to_string()))?;
    Ok(statuses.pages(config, service))
}

builtin_layer! {
    /// `errors` as a tower layer: when the service it wraps answers a status in `status`, the client
    /// gets the page `pages` serves at `query` instead, with the original status (or its rewrite from
    /// `statusRewrites`). The page service is given to [`ErrorPageLayer::new`]; the configuration's
    /// `service` name is not used.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response, StatusCode};
    /// use http_body_util::BodyExt;
    /// use switchyard_config::ErrorPage;
    /// use switchyard_middleware::layers::ErrorPageLayer;
    /// use switchyard_middleware::{RequestBody, ResponseBody};
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pages = tower::service_fn(|req: Request<RequestBody>| async move {
    ///     Ok::<_, Infallible>(Response::new(ResponseBody::from(format!("page {}", req.uri().path()))))
    /// });
    /// let config = ErrorPage { status: vec!["500-599".into()], query: "/{status}.html".into(), ..Default::default() };
    /// let layer = ErrorPageLayer::new(config, pages).unwrap();
    ///
    /// let failing = layer.layer(tower::service_fn(|_req: Request<RequestBody>| async {
    ///     let mut response = Response::new(ResponseBody::from("stack trace"));
    ///     *response.status_mut() = StatusCode::BAD_GATEWAY;
    ///     Ok::<_, Infallible>(response)
    /// }));
    /// let request = Request::get("http://example.com/").body(RequestBody::empty()).unwrap();
    /// let response = failing.oneshot(request).await.unwrap();
    /// assert_eq!(response.status(), 502);
    /// assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "page /502.html");
    /// # }
    /// ```
    ErrorPageLayer
}

impl ErrorPageLayer {
    /// Builds the middleware from its configuration (`status` and `statusRewrites` checked now) and the
    /// service that serves the pages: any service an [`HttpService`] could be made of.
    pub fn new<S>(config: ErrorPage, pages: S) -> Result<Self, MiddlewareError>
    where
        S: HttpCompatible,
    {
        let statuses = Statuses::new(&config)?;
        Ok(Self(statuses.pages(&config, erase(pages))))
    }
}

/// The statuses the middleware catches, and those it rewrites, checked.
struct Statuses {
    caught: CodeRanges,
    rewrites: Vec<(CodeRanges, StatusCode)>,
}

impl Statuses {
    fn new(config: &ErrorPage) -> Result<Self, MiddlewareError> {
        let caught = CodeRanges::parse(&config.status, "status")?;
        let mut rewrites = Vec::new();
        for (from, to) in &config.status_rewrites {
            let field = format!("statusRewrites.{from}");
            let ranges = CodeRanges::parse(std::slice::from_ref(from), &field)
                .map_err(|e| MiddlewareError::invalid(field.clone(), e.to_string()))?;
            let to = StatusCode::from_u16(*to)
                .map_err(|_| MiddlewareError::invalid(field, format!("{to} is not an HTTP status")))?;
            rewrites.push((ranges, to));
        }
        Ok(Self { caught, rewrites })
    }

    /// The middleware, with its pages from `service`.
    fn pages(self, config: &ErrorPage, service: HttpService) -> MiddlewareLayer {
        async_step(Arc::new(ErrorPages {
            status: self.caught,
            rewrites: self.rewrites,
            query: config.query.clone(),
            headers: config.error_request_headers.clone(),
            service,
        }))
    }
}

/// A built `errors` middleware.
struct ErrorPages {
    status: CodeRanges,
    rewrites: Vec<(CodeRanges, StatusCode)>,
    query: String,
    headers: Option<Vec<String>>,
    service: HttpService,
}

impl ErrorPages {
    /// The request for the page, or `None` when the query does not make a valid target.
    fn page_request(
        &self,
        parts: &http::request::Parts,
        code: StatusCode,
        original: StatusCode,
    ) -> Option<Request<RequestBody>> {
        let host = request_host(parts);
        let uri: Uri = self.page_target(parts, &host, code, original).parse().ok()?;
        let mut headers = self.page_headers(parts);
        if let Ok(host) = HeaderValue::from_str(&host) {
            headers.insert(HOST, host);
        }
        let mut request = Request::new(RequestBody::empty());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        // The proxy's routing context travels in the extensions; the page service needs it.
        *request.extensions_mut() = parts.extensions.clone();
        Some(request)
    }

    /// The page's path and query: `query` with `{status}`, `{originalStatus}` and `{url}` replaced, or `/`.
    fn page_target(&self, parts: &http::request::Parts, host: &str, code: StatusCode, original: StatusCode) -> String {
        if self.query.is_empty() {
            return "/".to_owned();
        }
        let tls = parts.extensions.get::<ClientInfo>().is_some_and(|client| client.tls);
        let scheme = if tls { "https" } else { "http" };
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let original_url = format!("{scheme}://{host}{path_and_query}");
        format!("/{}", self.query.trim_start_matches('/'))
            .replace("{status}", code.as_str())
            .replace("{originalStatus}", original.as_str())
            .replace("{url}", &crate::query_escape(&original_url))
    }

    /// The page request's headers: the original request's, or only those of `errorRequestHeaders`.
    fn page_headers(&self, parts: &http::request::Parts) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match &self.headers {
            None => headers.clone_from(&parts.headers),
            Some(names) => {
                for name in names {
                    for value in parts.headers.get_all(name.as_str()) {
                        if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) {
                            headers.append(name, value.clone());
                        }
                    }
                }
            }
        }
        headers
    }

    /// The status the page is answered with: the original one, or what `statusRewrites` makes of it.
    fn page_status(&self, original: StatusCode) -> StatusCode {
        self.rewrites
            .iter()
            .find(|(from, _)| from.contains(original.as_u16()))
            .map_or(original, |(_, to)| *to)
    }
}

/// The host the request was for: its `Host` header, or the authority of its target.
fn request_host(parts: &http::request::Parts) -> String {
    parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_owned()
}

/// A copy of a request head, for a request sent on while the original is kept for the page request.
fn clone_head(parts: &http::request::Parts) -> http::request::Parts {
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = parts.method.clone();
    head.uri = parts.uri.clone();
    head.version = parts.version;
    head.headers = parts.headers.clone();
    head.extensions = parts.extensions.clone();
    head
}

impl AsyncStep for ErrorPages {
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer {
        let pages = Arc::clone(self);
        let inner = inner.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let forwarded = Request::from_parts(clone_head(&parts), body);
            let Ok(response) = inner.oneshot(forwarded).await;
            let original = response.status();
            if !pages.status.contains(original.as_u16()) {
                return Ok(response);
            }
            drop(response);
            let code = pages.page_status(original);
            let Some(page) = pages.page_request(&parts, code, original) else {
                tracing::debug!(target: "switchyard::middleware", query = %pages.query, "invalid error page target");
                return Ok(error_response(code));
            };
            let Ok(mut page) = pages.service.clone().oneshot(page).await;
            *page.status_mut() = code;
            Ok(page)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_ranges() {
        let ranges = CodeRanges::parse(&["404".into(), "500-503".into()], "status").unwrap();
        assert!(ranges.contains(404) && ranges.contains(500) && ranges.contains(503));
        assert!(!ranges.contains(504) && !ranges.contains(200));
        let error = CodeRanges::parse(&["500".into(), "5xx".into()], "status").unwrap_err();
        assert_eq!(error.field(), "status[1]");
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            crate::query_escape("http://h/a b?c=d&e"),
            "http%3A%2F%2Fh%2Fa+b%3Fc%3Dd%26e"
        );
    }
}
