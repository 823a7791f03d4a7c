//! `forwardAuth`: asks an authentication server whether a request may go on.
//!
//! For each request, a request is sent to `address` (`GET`, or the request's method with
//! `preserveRequestMethod`) with the client's headers (all, or those of `authRequestHeaders`; hop-by-hop
//! headers removed), the request body with `forwardBody` (up to `maxBodySize` bytes, else `401`), and
//! `X-Forwarded-For/Method/Proto/Host/Uri` (and `-Port` unless `trustForwardHeader` is unset) describing
//! the original request, as Traefik sends them.
//!
//! - A `2xx` answer lets the request through, with the answer's `authResponseHeaders` and the headers
//!   matching `authResponseHeadersRegex` (matched against the canonical `X-Header-Name` spelling, as in
//!   Go) replacing the request's; when the answer sets cookies, those named in
//!   `addAuthCookiesToResponse` replace the backend's cookies of the same name in the response.
//! - Any other answer goes to the client: its status, headers (less hop-by-hop ones) and body, with a
//!   relative `Location` made absolute against `address` unless `preserveLocationHeader` is set; a `401`
//!   becomes a `302` to `authSigninURL` when that is set.
//! - An answer body over `maxResponseBodySize` gives `401`; an unreachable server, a failed exchange or
//!   one taking over 30 seconds gives `500`, all with an empty body, as in Traefik.
//!
//! The answer's `headerField` header names the client (the [`ClientUsername`] extension). Redirects are
//! not followed. Connections to the server are pooled, per middleware. An `https://` address is reached
//! over TLS with `tls` (`ca` instead of the system's roots, `cert` and `key` for mutual TLS,
//! `insecureSkipVerify`) when the crate's `tls` feature is on; without it, an `https://` address or `tls`
//! options are refused when the middleware is built.
//! Traefik builds a middleware whose every request fails when `address` does not parse; here that is a
//! build error.

mod client;
mod cookies;
mod location;
mod request_headers;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use regex::Regex;
use switchyard_config::ForwardAuth;

use self::client::AuthClient;
use self::location::Reference;
use self::request_headers::{HOP_BY_HOP, auth_request_headers};
use super::ClientUsername;
use super::gate::{BoxFuture, Gate, Verdict, gate};
use crate::MANAGED_HEADERS as MANAGED;
use crate::{MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

/// How long the whole exchange with the authentication server may take (Go's `Client.Timeout`).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A built `forwardAuth` middleware.
pub(crate) struct Forward {
    address: Uri,
    client: AuthClient,
    trust_forward_header: Option<bool>,
    request_headers: Vec<HeaderName>,
    response_headers: Vec<HeaderName>,
    response_headers_regex: Option<Regex>,
    max_response_body_size: Option<u64>,
    auth_cookies: Arc<HashSet<String>>,
    header_field: Option<HeaderName>,
    forward_body: bool,
    max_body_size: Option<u64>,
    preserve_location_header: bool,
    preserve_request_method: bool,
    signin_url: String,
}

/// Builds `forwardAuth`.
pub(crate) fn build(config: &ForwardAuth) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(gate(Forward::new(config)?))
}

/// `authRequestHeaders`; with `trustForwardHeader`, the forwarded headers too (when the list filters).
fn request_headers(config: &ForwardAuth) -> Result<Vec<HeaderName>, MiddlewareError> {
    let mut request_headers = header_names("authRequestHeaders", &config.auth_request_headers)?;
    if config.trust_forward_header == Some(true) && !request_headers.is_empty() {
        request_headers.extend(MANAGED.iter().copied().map(HeaderName::from_static));
    }
    Ok(request_headers)
}

/// `authSigninURL` goes into a `Location` header: no control characters.
fn check_signin_url(url: &str) -> Result<(), MiddlewareError> {
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(MiddlewareError::invalid(
            "authSigninURL",
            "the URL cannot contain control characters",
        ));
    }
    Ok(())
}

/// `authResponseHeadersRegex`, compiled.
fn response_headers_regex(pattern: &str) -> Result<Option<Regex>, MiddlewareError> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(pattern)
        .map(Some)
        .map_err(|e| MiddlewareError::invalid("authResponseHeadersRegex", format!("invalid regular expression: {e}")))
}

/// Why reading a body stopped.
enum ReadError {
    TooLarge,
    Failed,
}

impl Forward {
    fn new(config: &ForwardAuth) -> Result<Self, MiddlewareError> {
        let address = parse_address(&config.address)?;
        let client = AuthClient::new(&address, config.tls.as_ref())?;
        let request_headers = request_headers(config)?;
        let response_headers_regex = response_headers_regex(&config.auth_response_headers_regex)?;
        check_signin_url(&config.auth_signin_url)?;
        Ok(Self {
            address,
            client,
            trust_forward_header: config.trust_forward_header,
            request_headers,
            response_headers: header_names("authResponseHeaders", &config.auth_response_headers)?,
            response_headers_regex,
            max_response_body_size: config.max_response_body_size.and_then(|n| u64::try_from(n).ok()),
            auth_cookies: Arc::new(config.add_auth_cookies_to_response.iter().cloned().collect()),
            header_field: super::header_field(&config.header_field)?,
            forward_body: config.forward_body,
            max_body_size: u64::try_from(config.max_body_size).ok(),
            preserve_location_header: config.preserve_location_header,
            preserve_request_method: config.preserve_request_method,
            signin_url: config.auth_signin_url.clone(),
        })
    }

    async fn authorize(&self, req: Request<RequestBody>) -> Verdict {
        let method = if self.preserve_request_method {
            req.method().clone()
        } else {
            Method::GET
        };
        let (req, body) = match self.forwarded_body(req).await {
            Ok(read) => read,
            Err(status) => return Verdict::Answer(status_only(status)),
        };
        let mut auth_req = Request::new(Full::new(body));
        *auth_req.method_mut() = method;
        *auth_req.uri_mut() = self.address.clone();
        *auth_req.headers_mut() = auth_request_headers(&req, self.trust_forward_header, &self.request_headers);

        let Ok(Ok((status, headers, body))) = tokio::time::timeout(TIMEOUT, self.exchange(auth_req)).await else {
            return Verdict::Answer(status_only(StatusCode::INTERNAL_SERVER_ERROR));
        };
        let Some(body) = body else {
            return Verdict::Answer(status_only(StatusCode::UNAUTHORIZED));
        };
        self.verdict(req, status, headers, body)
    }

    /// The body to show the server: the request's, read within `maxBodySize` and put back, with
    /// `forwardBody`; none otherwise. A body that cannot be read gives the status to answer.
    async fn forwarded_body(&self, req: Request<RequestBody>) -> Result<(Request<RequestBody>, Bytes), StatusCode> {
        // A CONNECT body of unknown length is the tunnel's data, not something to show the server.
        let tunnel = req.method() == Method::CONNECT && !req.headers().contains_key(CONTENT_LENGTH);
        if !self.forward_body || tunnel {
            return Ok((req, Bytes::new()));
        }
        let (parts, request_body) = req.into_parts();
        let body = match read_limited(request_body, self.max_body_size).await {
            Ok(body) => body,
            Err(ReadError::TooLarge) => return Err(StatusCode::UNAUTHORIZED),
            Err(ReadError::Failed) => return Err(StatusCode::INTERNAL_SERVER_ERROR),
        };
        Ok((Request::from_parts(parts, RequestBody::from(body.clone())), body))
    }

    /// What the server's answer means for the request: a refusal (or the sign-in redirect) passed to the
    /// client, or the request let through with the answer's headers and cookies.
    fn verdict(&self, mut req: Request<RequestBody>, status: StatusCode, headers: HeaderMap, body: Bytes) -> Verdict {
        if let Some(user) = self.header_field.as_ref().and_then(|f| headers.get(f)) {
            if let Ok(user) = user.to_str() {
                if let Some(record) = crate::RequestRecord::of(req.extensions()) {
                    record.set_username(user);
                }
                req.extensions_mut().insert(ClientUsername(user.to_owned()));
            }
        }
        if !self.signin_url.is_empty() && status == StatusCode::UNAUTHORIZED {
            return Verdict::Answer(self.signin_redirect(&req));
        }
        if !status.is_success() {
            return Verdict::Answer(self.refusal(status, headers, body));
        }
        self.copy_response_headers(&mut req, &headers);
        if !cookies::has_cookies(&headers) {
            return Verdict::Pass(req, None);
        }
        let auth_cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
        let names = Arc::clone(&self.auth_cookies);
        Verdict::Pass(
            req,
            Some(Box::new(move |response| {
                cookies::merge(response, &auth_cookies, &names)
            })),
        )
    }

    /// Sends the request and reads the answer; the body is `None` when it exceeds
    /// `maxResponseBodySize`.
    async fn exchange(&self, auth_req: Request<Full<Bytes>>) -> Result<(StatusCode, HeaderMap, Option<Bytes>), ()> {
        let response = self.client.request(auth_req).await.map_err(|_| ())?;
        let (parts, body) = response.into_parts();
        match read_limited(body, self.max_response_body_size).await {
            Ok(body) => Ok((parts.status, parts.headers, Some(body))),
            Err(ReadError::TooLarge) => Ok((parts.status, parts.headers, None)),
            Err(ReadError::Failed) => Err(()),
        }
    }

    /// The authentication server's refusal, passed on to the client.
    fn refusal(&self, status: StatusCode, mut headers: HeaderMap, body: Bytes) -> Response<ResponseBody> {
        for name in HOP_BY_HOP.into_iter().chain([CONTENT_LENGTH]) {
            headers.remove(name);
        }
        match self.location(&headers) {
            Ok(Some(location)) => {
                headers.insert(LOCATION, location);
            }
            Ok(None) => {}
            Err(()) => return status_only(StatusCode::INTERNAL_SERVER_ERROR),
        }
        let mut response = Response::new(ResponseBody::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }

    /// The `Location` to send: the server's, made absolute against `address` unless
    /// `preserveLocationHeader`; `Err` when it does not parse as a URL.
    fn location(&self, headers: &HeaderMap) -> Result<Option<HeaderValue>, ()> {
        let Some(value) = headers.get(LOCATION) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(value.as_bytes()).map_err(|_| ())?;
        if text.is_empty() {
            return Ok(None);
        }
        let reference = Reference::parse(text).map_err(|_| ())?;
        if self.preserve_location_header {
            return Ok(Some(value.clone()));
        }
        let base_text = self.address.to_string();
        let base = Reference::parse(&base_text).map_err(|_| ())?;
        HeaderValue::from_str(&reference.resolve(&base))
            .map(Some)
            .map_err(|_| ())
    }

    /// The `302` to `authSigninURL`, as Go's `http.Redirect` writes it.
    fn signin_redirect(&self, req: &Request<RequestBody>) -> Response<ResponseBody> {
        let (location, link) = location::redirect_location(&self.signin_url, req.uri().path());
        let Ok(location) = HeaderValue::from_str(&location) else {
            return status_only(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let body = if req.method() == Method::GET {
            ResponseBody::from(format!("<a href=\"{link}\">Found</a>.\n\n"))
        } else {
            ResponseBody::empty()
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::FOUND;
        response.headers_mut().insert(LOCATION, location);
        if req.method() == Method::GET || req.method() == Method::HEAD {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        }
        response
    }

    /// Replaces the request's `authResponseHeaders` and regex-matched headers with the answer's.
    fn copy_response_headers(&self, req: &mut Request<RequestBody>, answer: &HeaderMap) {
        let headers = req.headers_mut();
        for name in &self.response_headers {
            headers.remove(name);
            for value in answer.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let Some(regex) = &self.response_headers_regex else {
            return;
        };
        let matching = |name: &HeaderName| regex.is_match(&canonical_header_key(name.as_str()));
        let stale: Vec<HeaderName> = headers.keys().filter(|n| matching(n)).cloned().collect();
        for name in stale {
            headers.remove(name);
        }
        for name in answer.keys().filter(|n| matching(n)) {
            headers.remove(name);
            for value in answer.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
    }
}

impl Gate for Forward {
    fn decide(self: Arc<Self>, req: Request<RequestBody>) -> BoxFuture<Verdict> {
        Box::pin(async move { self.authorize(req).await })
    }
}

fn parse_address(address: &str) -> Result<Uri, MiddlewareError> {
    let invalid = |reason: &str| MiddlewareError::invalid("address", reason.to_owned());
    if address.is_empty() {
        return Err(invalid("the authentication server's address is required"));
    }
    let uri: Uri = address
        .parse()
        .map_err(|e| invalid(&format!("`{address}` is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(uri),
        _ => Err(invalid(&format!(
            "`{address}` is not an http:// or https:// URL with a host"
        ))),
    }
}

fn header_names(field: &str, names: &[String]) -> Result<Vec<HeaderName>, MiddlewareError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                MiddlewareError::invalid(format!("{field}[{i}]"), format!("`{name}` is not a header name"))
            })
        })
        .collect()
}

/// Go's canonical spelling of a header name: `x-auth-user` → `X-Auth-User`.
fn canonical_header_key(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// A response with a status and nothing else, as Go's `WriteHeader` alone sends.
fn status_only(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    response
}

/// Reads a whole body, failing past `limit` bytes (none: no limit).
async fn read_limited<B>(body: B, limit: Option<u64>) -> Result<Bytes, ReadError>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut data = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Failed)?;
        if let Ok(chunk) = frame.into_data() {
            data.extend_from_slice(&chunk);
            if limit.is_some_and(|limit| data.len() as u64 > limit) {
                return Err(ReadError::TooLarge);
            }
        }
    }
    Ok(data.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(address: &str) -> ForwardAuth {
        ForwardAuth {
            address: address.into(),
            ..ForwardAuth::default()
        }
    }

    fn error(config: &ForwardAuth) -> MiddlewareError {
        Forward::new(config).err().unwrap()
    }

    #[test]
    fn options_are_checked_when_built() {
        assert!(Forward::new(&config("http://auth:9000/verify?x=1")).is_ok());
        for bad in ["", "auth:9000", "/verify", "ftp://auth/", "http://"] {
            assert_eq!(error(&config(bad)).field(), "address", "{bad}");
        }
        let mut tls = config("http://auth/");
        tls.tls = Some(switchyard_config::ClientTls {
            ca: "/nonexistent/ca.pem".into(),
            ..switchyard_config::ClientTls::default()
        });
        if cfg!(feature = "tls") {
            assert!(Forward::new(&config("https://auth/")).is_ok());
            assert_eq!(error(&tls).field(), "tls.ca");
            assert!(error(&tls).to_string().contains("/nonexistent/ca.pem"));
        } else {
            let https = error(&config("https://auth/"));
            assert_eq!(https.field(), "address");
            assert!(https.to_string().contains("`tls` feature"), "{https}");
            assert_eq!(error(&tls).field(), "tls");
        }

        let mut headers = config("http://auth/");
        headers.auth_response_headers = vec!["X-Ok".into(), "bad header".into()];
        assert_eq!(error(&headers).field(), "authResponseHeaders[1]");
        let mut headers = config("http://auth/");
        headers.auth_request_headers = vec!["bad:header".into()];
        assert_eq!(error(&headers).field(), "authRequestHeaders[0]");
        let mut regex = config("http://auth/");
        regex.auth_response_headers_regex = "(".into();
        assert_eq!(error(&regex).field(), "authResponseHeadersRegex");
        let mut field = config("http://auth/");
        field.header_field = "a b".into();
        assert_eq!(error(&field).field(), "headerField");
        let mut signin = config("http://auth/");
        signin.auth_signin_url = "/login\r\n".into();
        assert_eq!(error(&signin).field(), "authSigninURL");
    }

    #[test]
    fn trusting_forward_headers_extends_the_request_header_list() {
        let mut listed = config("http://auth/");
        listed.auth_request_headers = vec!["Cookie".into()];
        assert_eq!(Forward::new(&listed).unwrap().request_headers.len(), 1);
        listed.trust_forward_header = Some(true);
        assert_eq!(Forward::new(&listed).unwrap().request_headers.len(), 1 + MANAGED.len());
    }

    #[test]
    fn canonical_keys_are_gos() {
        assert_eq!(canonical_header_key("x-auth-user"), "X-Auth-User");
        assert_eq!(canonical_header_key("www-authenticate"), "Www-Authenticate");
        assert_eq!(canonical_header_key("x_forwarded"), "X_forwarded");
    }

    #[test]
    fn response_headers_replace_the_requests() {
        let mut with_headers = config("http://auth/");
        with_headers.auth_response_headers = vec!["X-User".into()];
        with_headers.auth_response_headers_regex = "^X-Auth-".into();
        let forward = Forward::new(&with_headers).unwrap();
        let mut req = Request::get("/")
            .header("x-user", "forged")
            .header("x-auth-role", "forged")
            .header("x-auth-other", "forged")
            .header("x-kept", "1")
            .body(RequestBody::empty())
            .unwrap();
        let answer = HeaderMap::from_iter([
            (HeaderName::from_static("x-user"), HeaderValue::from_static("alice")),
            (
                HeaderName::from_static("x-auth-role"),
                HeaderValue::from_static("admin"),
            ),
            (HeaderName::from_static("x-not-copied"), HeaderValue::from_static("1")),
        ]);
        forward.copy_response_headers(&mut req, &answer);
        let headers = req.headers();
        assert_eq!(headers["x-user"], "alice");
        assert_eq!(headers["x-auth-role"], "admin");
        assert!(!headers.contains_key("x-auth-other"), "stripped by the regex");
        assert!(!headers.contains_key("x-not-copied"));
        assert_eq!(headers["x-kept"], "1");

        let mut missing = Request::get("/")
            .header("x-user", "forged")
            .body(RequestBody::empty())
            .unwrap();
        forward.copy_response_headers(&mut missing, &HeaderMap::new());
        assert!(
            !missing.headers().contains_key("x-user"),
            "removed even when the answer lacks it"
        );
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit() {
        let read = |text: &'static str, limit| read_limited(RequestBody::from(text), limit);
        assert_eq!(read("abc", None).await.ok(), Some(Bytes::from("abc")));
        assert_eq!(read("abc", Some(3)).await.ok(), Some(Bytes::from("abc")));
        assert!(matches!(read("abcd", Some(3)).await, Err(ReadError::TooLarge)));
        assert_eq!(read("", Some(0)).await.ok(), Some(Bytes::new()));
    }

    #[test]
    fn relative_locations_are_made_absolute_unless_preserved() {
        let mut forward = Forward::new(&config("http://auth:9000/oauth/verify")).unwrap();
        let headers = |location: &'static str| HeaderMap::from_iter([(LOCATION, HeaderValue::from_static(location))]);
        assert_eq!(
            forward.location(&headers("../login")).unwrap().unwrap(),
            "http://auth:9000/login"
        );
        assert_eq!(forward.location(&HeaderMap::new()), Ok(None));
        assert!(forward.location(&headers("/%zz")).is_err());
        forward.preserve_location_header = true;
        assert_eq!(forward.location(&headers("../login")).unwrap().unwrap(), "../login");
    }
}
