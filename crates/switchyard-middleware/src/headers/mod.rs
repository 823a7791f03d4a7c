//! `headers`: custom request and response headers, CORS, and security headers, as Traefik v3 applies
//! them.
//!
//! The order is Traefik's: a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
//! is answered at once with `200`, an empty body and the CORS headers only; otherwise the custom request
//! headers are applied, then the security checks (`allowedHosts`, answered `500 Bad Host` when the host
//! is not allowed) run on the changed request. On the way back the security headers are set first, then
//! the custom response headers (which may override or remove them), then the CORS response headers.
//!
//! `Host` in `customRequestHeaders` changes the host sent to the backend (an empty value leaves it
//! alone, as in Traefik). A configuration that sets nothing is an error, as in Traefik. Traefik v3
//! removed `sslRedirect`, `sslTemporaryRedirect`, `sslHost`, `sslForceHost` and `featurePolicy` but
//! still reads them and does nothing with them; so does switchyard, with a warning when the middleware
//! is built.
//!
//! Differences from Traefik:
//! - a value that cannot be a header (a newline in it, a malformed name) is a configuration error, named
//!   by its key, rather than a request failing later;
//! - a negative `stsSeconds` is a configuration error (Traefik's schema sets its minimum at 0; its file
//!   provider would send `max-age=-1`);
//! - an empty `X-Forwarded-For` in `customRequestHeaders` removes the header the client (or a trusted
//!   proxy) sent, but the proxy still appends the client address when forwarding, where Traefik then
//!   sends no `X-Forwarded-For` at all;
//! - `Access-Control-Allow-Origin` is never sent empty (Traefik echoes an absent `Origin` as an empty
//!   value when `*` is combined with credentials);
//! - with `$NONCE` in only one of `contentSecurityPolicy` and `contentSecurityPolicyReportOnly`, the other
//!   is sent as configured (Traefik's formatting appends a `%!(EXTRA ...)` garbage suffix to it).

mod cors;
mod custom;
mod secure;

use http::{HeaderValue, Request, Response};
use switchyard_config::Headers;

use self::cors::Cors;
use self::custom::CustomHeaders;
use self::secure::{Secure, SecureState};
use crate::layers::builtin_layer;
use crate::stack::{Around, around};
use crate::{BuildContext, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

/// The whole `headers` middleware.
struct HeadersStep {
    custom: CustomHeaders,
    cors: Option<Cors>,
    secure: Option<Secure>,
}

/// What the response needs to know of its request.
struct State {
    /// The request's `Origin`, after the custom request headers, for the CORS response headers.
    origin: Option<HeaderValue>,
    secure: Option<SecureState>,
}

impl HeadersStep {
    /// The custom and CORS response headers, which also go on a `Bad Host` answer.
    fn shape(&self, origin: Option<&HeaderValue>, response: &mut Response<ResponseBody>) {
        self.custom.apply_to_response(response.headers_mut());
        if let Some(cors) = &self.cors {
            cors.apply_to_response(origin, response.headers_mut());
        }
    }
}

impl Around for HeadersStep {
    type State = State;

    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<State, Response<ResponseBody>> {
        if let Some(preflight) = self.cors.as_ref().and_then(|cors| cors.preflight(req)) {
            return Err(preflight);
        }
        self.custom.apply_to_request(req);
        let origin = self
            .cors
            .as_ref()
            .and_then(|_| req.headers().get(http::header::ORIGIN).cloned());
        let secure = match &self.secure {
            Some(secure) => match secure.on_request(req) {
                Ok(state) => Some(state),
                Err(refusal) => {
                    let mut refused = refusal.response();
                    self.shape(origin.as_ref(), &mut refused);
                    return Err(refused);
                }
            },
            None => None,
        };
        Ok(State { origin, secure })
    }

    fn on_response(&self, state: State, mut response: Response<ResponseBody>) -> Response<ResponseBody> {
        if let (Some(secure), Some(secure_state)) = (&self.secure, &state.secure) {
            secure.apply_to_response(secure_state, response.headers_mut());
        }
        self.shape(state.origin.as_ref(), &mut response);
        response
    }
}

/// Whether any custom header is set (Traefik's `HasCustomHeadersDefined`).
fn has_custom(c: &Headers) -> bool {
    !c.custom_request_headers.is_empty() || !c.custom_response_headers.is_empty()
}

/// Whether any CORS option is set (Traefik's `HasCorsHeadersDefined`).
fn has_cors(c: &Headers) -> bool {
    c.access_control_allow_credentials
        || !c.access_control_allow_headers.is_empty()
        || !c.access_control_allow_methods.is_empty()
        || !c.access_control_allow_origin_list.is_empty()
        || !c.access_control_allow_origin_list_regex.is_empty()
        || !c.access_control_expose_headers.is_empty()
        || c.access_control_max_age.is_some()
        || c.add_vary_header
}

/// Whether any security option is set (Traefik's `HasSecureHeadersDefined`, removed options included).
fn has_secure(c: &Headers) -> bool {
    !c.allowed_hosts.is_empty()
        || !c.hosts_proxy_headers.is_empty()
        || c.ssl_redirect == Some(true)
        || c.ssl_temporary_redirect == Some(true)
        || c.ssl_force_host == Some(true)
        || c.ssl_host.as_deref().is_some_and(|h| !h.is_empty())
        || !c.ssl_proxy_headers.is_empty()
        || c.sts_seconds.is_some()
        || c.sts_include_subdomains
        || c.sts_preload
        || c.force_sts_header
        || c.frame_deny
        || !c.custom_frame_options_value.is_empty()
        || c.content_type_nosniff
        || c.browser_xss_filter
        || !c.custom_browser_xss_value.is_empty()
        || !c.content_security_policy.is_empty()
        || !c.content_security_policy_report_only.is_empty()
        || !c.public_key.is_empty()
        || !c.referrer_policy.is_empty()
        || c.feature_policy.as_deref().is_some_and(|p| !p.is_empty())
        || !c.permissions_policy.is_empty()
        || c.is_development
}

/// The options Traefik v3 removed but still reads: each with whether a configuration sets it, and what
/// to use instead.
type RemovedOption = (&'static str, fn(&Headers) -> bool, &'static str);

const REMOVED: [RemovedOption; 5] = [
    (
        "sslRedirect",
        |c| c.ssl_redirect.is_some(),
        "use a redirectScheme middleware",
    ),
    (
        "sslTemporaryRedirect",
        |c| c.ssl_temporary_redirect.is_some(),
        "use a redirectScheme middleware",
    ),
    ("sslHost", |c| c.ssl_host.is_some(), "use a redirectRegex middleware"),
    (
        "sslForceHost",
        |c| c.ssl_force_host.is_some(),
        "use a redirectRegex middleware",
    ),
    ("featurePolicy", |c| c.feature_policy.is_some(), "use permissionsPolicy"),
];

/// Warns about the options Traefik v3 removed but still reads.
fn warn_removed(config: &Headers, name: &str) {
    for (option, set, instead) in REMOVED {
        if set(config) {
            tracing::warn!(
                target: "switchyard::middleware",
                middleware = name,
                "headers.{option} was removed in Traefik v3 and has no effect; {instead}"
            );
        }
    }
}

/// `headers`.
pub(crate) fn headers(config: &Headers, ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    let (custom, cors, secure) = (has_custom(config), has_cors(config), has_secure(config));
    if !custom && !cors && !secure {
        return Err(MiddlewareError::invalid(
            "",
            "headers configuration not valid: set custom headers, CORS options or security headers",
        ));
    }
    warn_removed(config, ctx.name());
    Ok(around(HeadersStep {
        custom: CustomHeaders::build(config)?,
        cors: cors.then(|| Cors::build(config)).transpose()?,
        secure: secure.then(|| Secure::build(config)).transpose()?,
    }))
}

/// A header value from configuration, or an error naming `field`.
fn header_value(field: impl Into<String>, value: &str) -> Result<HeaderValue, MiddlewareError> {
    HeaderValue::from_str(value)
        .map_err(|_| MiddlewareError::invalid(field, format!("{value:?} is not a valid header value")))
}

/// A header name from configuration, or an error naming `field`.
fn header_name(field: impl Into<String>, name: &str) -> Result<http::HeaderName, MiddlewareError> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| MiddlewareError::invalid(field, format!("{name:?} is not a valid header name")))
}

builtin_layer! {
    /// `headers` as a tower layer: custom request and response headers (an empty value removes the
    /// header), CORS (answering preflight requests itself) and security headers.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use switchyard_config::Headers;
    /// use switchyard_middleware::layers::HeadersLayer;
    /// use switchyard_middleware::{RequestBody, ResponseBody};
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut headers = Headers::default();
    /// headers.custom_request_headers.insert("X-Tenant".into(), "acme".into());
    /// headers.custom_response_headers.insert("X-Served-By".into(), "edge".into());
    /// let layer = HeadersLayer::new(headers).unwrap();
    ///
    /// let backend = layer.layer(tower::service_fn(|req: Request<RequestBody>| async move {
    ///     assert_eq!(req.headers()["x-tenant"], "acme");
    ///     Ok::<_, Infallible>(Response::new(ResponseBody::empty()))
    /// }));
    /// let response = backend.oneshot(Request::new(RequestBody::empty())).await.unwrap();
    /// assert_eq!(response.headers()["x-served-by"], "edge");
    /// # }
    /// ```
    HeadersLayer(Headers => |config| headers(config, &BuildContext::new("headers")))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::StatusCode;
    use tower::{Layer, ServiceExt};

    use super::*;
    use crate::{ClientInfo, HttpService};

    /// Runs `req` through the middleware in front of a service that answers with `backend` headers and
    /// reports the request it saw in `x-seen-*` response headers.
    async fn run(
        config: &Headers,
        req: Request<RequestBody>,
        backend: &[(&'static str, &'static str)],
    ) -> (Response<ResponseBody>, bool) {
        let layer = headers(config, &BuildContext::new("h")).unwrap();
        let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::clone(&reached);
        let backend: Vec<_> = backend.to_vec();
        let service = layer.layer(HttpService::new(tower::service_fn(move |req: Request<RequestBody>| {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            let mut response = Response::new(ResponseBody::from("ok"));
            for (name, value) in &backend {
                response.headers_mut().append(*name, HeaderValue::from_static(value));
            }
            for (name, value) in req.headers() {
                let seen_name = format!("x-seen-{name}");
                response.headers_mut().append(
                    http::HeaderName::from_bytes(seen_name.as_bytes()).unwrap(),
                    value.clone(),
                );
            }
            async move { Ok::<_, Infallible>(response) }
        })));
        let response = service.oneshot(req).await.unwrap();
        (response, reached.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn get(headers: &[(&str, &str)]) -> Request<RequestBody> {
        let mut builder = Request::builder().uri("/x");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(RequestBody::empty()).unwrap()
    }

    #[test]
    fn an_empty_configuration_is_refused() {
        let error = headers(&Headers::default(), &BuildContext::new("h")).err().unwrap();
        assert_eq!(error.field(), "");
        let removed_only = Headers {
            ssl_redirect: Some(true),
            ..Default::default()
        };
        assert!(
            headers(&removed_only, &BuildContext::new("h")).is_ok(),
            "Traefik accepts it, and ignores it"
        );
    }

    #[tokio::test]
    async fn custom_headers_set_and_remove_both_ways() {
        let mut config = Headers::default();
        config
            .custom_request_headers
            .insert("X-Script-Name".into(), "test".into());
        config.custom_request_headers.insert("X-Drop".into(), String::new());
        config
            .custom_request_headers
            .insert("Host".into(), "rewritten.example".into());
        config.custom_response_headers.insert("Server".into(), String::new());
        config.custom_response_headers.insert("X-Custom".into(), "yes".into());
        let req = get(&[("x-script-name", "old"), ("x-drop", "1"), ("host", "a.example")]);
        let (response, _) = run(&config, req, &[("server", "backend"), ("x-custom", "no")]).await;
        let h = response.headers();
        assert_eq!(h["x-seen-x-script-name"], "test");
        assert!(!h.contains_key("x-seen-x-drop"));
        assert_eq!(h["x-seen-host"], "rewritten.example");
        assert!(!h.contains_key("server"));
        assert_eq!(h.get_all("x-custom").iter().collect::<Vec<_>>(), ["yes"]);
    }

    #[tokio::test]
    async fn a_preflight_is_answered_without_the_backend() {
        let config = Headers {
            access_control_allow_methods: vec!["GET".into(), "OPTIONS".into(), "PUT".into()],
            access_control_allow_headers: vec!["X-Token".into(), "Content-Type".into()],
            access_control_allow_origin_list: vec!["https://app.example".into()],
            access_control_max_age: Some(100),
            access_control_expose_headers: vec!["X-Total".into()],
            add_vary_header: true,
            frame_deny: true,
            ..Default::default()
        };
        let req = Request::builder()
            .method("OPTIONS")
            .uri("/x")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "PUT")
            .body(RequestBody::empty())
            .unwrap();
        let (response, reached) = run(&config, req, &[]).await;
        assert!(!reached);
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers();
        assert_eq!(h["access-control-allow-methods"], "GET,OPTIONS,PUT");
        assert_eq!(h["access-control-allow-headers"], "X-Token,Content-Type");
        assert_eq!(h["access-control-allow-origin"], "https://app.example");
        assert_eq!(h["access-control-max-age"], "100");
        assert_eq!(h["access-control-expose-headers"], "X-Total");
        assert_eq!(h["content-length"], "0");
        assert!(!h.contains_key("access-control-allow-credentials"));
        assert!(!h.contains_key("x-frame-options"), "no security headers on a preflight");
        assert!(!h.contains_key("vary"), "no Vary on a preflight");

        // Without Access-Control-Request-Method it is an ordinary OPTIONS request.
        let plain = Request::builder()
            .method("OPTIONS")
            .uri("/x")
            .header("origin", "https://app.example")
            .body(RequestBody::empty())
            .unwrap();
        assert!(run(&config, plain, &[]).await.1);
    }

    #[tokio::test]
    async fn wildcards_with_credentials_echo_the_request() {
        let config = Headers {
            access_control_allow_credentials: true,
            access_control_allow_methods: vec!["*".into()],
            access_control_allow_headers: vec!["*".into()],
            access_control_allow_origin_list: vec!["*".into()],
            access_control_expose_headers: vec!["*".into()],
            ..Default::default()
        };
        let req = Request::builder()
            .method("OPTIONS")
            .header("origin", "https://any.example")
            .header("access-control-request-method", "PATCH")
            .header("access-control-request-headers", "X-A, X-B")
            .body(RequestBody::empty())
            .unwrap();
        let (response, _) = run(&config, req, &[]).await;
        let h = response.headers();
        assert_eq!(h["access-control-allow-methods"], "PATCH");
        assert_eq!(h["access-control-allow-headers"], "X-A, X-B");
        assert_eq!(h["access-control-allow-origin"], "https://any.example");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert!(
            !h.contains_key("access-control-expose-headers"),
            "`*` cannot be exposed with credentials"
        );

        let without = Headers {
            access_control_allow_origin_list: vec!["*".into()],
            ..Default::default()
        };
        let (response, _) = run(&without, get(&[("origin", "https://any.example")]), &[]).await;
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
    }

    #[tokio::test]
    async fn simple_requests_get_cors_headers_and_vary() {
        let config = Headers {
            access_control_allow_origin_list_regex: vec![r"^https://.*\.example\.org$".into()],
            access_control_allow_credentials: true,
            add_vary_header: true,
            ..Default::default()
        };
        let (response, reached) = run(
            &config,
            get(&[("origin", "https://a.example.org")]),
            &[("vary", "Accept-Encoding")],
        )
        .await;
        assert!(reached);
        let h = response.headers();
        assert_eq!(h["access-control-allow-origin"], "https://a.example.org");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["vary"], "Accept-Encoding,Origin");
        let (response, _) = run(
            &config,
            get(&[("origin", "https://evil.example")]),
            &[("vary", "Origin")],
        )
        .await;
        assert!(!response.headers().contains_key("access-control-allow-origin"));
        assert_eq!(response.headers()["vary"], "Origin");

        let broken = Headers {
            access_control_allow_origin_list_regex: vec!["ok".into(), "(".into()],
            ..Default::default()
        };
        let error = headers(&broken, &BuildContext::new("h")).err().unwrap();
        assert_eq!(error.field(), "accessControlAllowOriginListRegex[1]");
    }

    #[tokio::test]
    async fn security_headers() {
        let config = Headers {
            sts_seconds: Some(31_536_000),
            sts_include_subdomains: true,
            sts_preload: true,
            frame_deny: true,
            content_type_nosniff: true,
            browser_xss_filter: true,
            content_security_policy: "default-src 'self'".into(),
            referrer_policy: "same-origin".into(),
            permissions_policy: "camera=()".into(),
            public_key: "pin-sha256=\"x\"; max-age=10".into(),
            ..Default::default()
        };
        let (response, _) = run(&config, get(&[]), &[("x-frame-options", "SAMEORIGIN")]).await;
        let h = response.headers();
        assert_eq!(h["x-frame-options"], "DENY", "overrides the backend");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-xss-protection"], "1; mode=block");
        assert_eq!(h["content-security-policy"], "default-src 'self'");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["permissions-policy"], "camera=()");
        assert!(!h.contains_key("strict-transport-security"), "plain HTTP gets no HSTS");
        assert!(!h.contains_key("public-key-pins"));

        let mut tls = get(&[]);
        tls.extensions_mut()
            .insert(ClientInfo::new("192.0.2.1".parse().unwrap(), true));
        let (response, _) = run(&config, tls, &[]).await;
        let h = response.headers();
        assert_eq!(
            h["strict-transport-security"],
            "max-age=31536000; includeSubDomains; preload"
        );
        assert_eq!(h["public-key-pins"], "pin-sha256=\"x\"; max-age=10");

        let forced = Headers {
            sts_seconds: Some(60),
            force_sts_header: true,
            custom_frame_options_value: "SAMEORIGIN".into(),
            frame_deny: true,
            custom_browser_xss_value: "0".into(),
            ..Default::default()
        };
        let (response, _) = run(&forced, get(&[]), &[]).await;
        let h = response.headers();
        assert_eq!(h["strict-transport-security"], "max-age=60");
        assert_eq!(h["x-frame-options"], "SAMEORIGIN");
        assert_eq!(h["x-xss-protection"], "0");

        let mut proxied = config.clone();
        proxied
            .ssl_proxy_headers
            .insert("X-Forwarded-Proto".into(), "https".into());
        let (response, _) = run(&proxied, get(&[("x-forwarded-proto", "https")]), &[]).await;
        assert!(response.headers().contains_key("strict-transport-security"));

        let mut development = proxied;
        development.is_development = true;
        let (response, _) = run(&development, get(&[("x-forwarded-proto", "https")]), &[]).await;
        assert!(!response.headers().contains_key("strict-transport-security"));
        assert!(!response.headers().contains_key("public-key-pins"));
    }

    #[tokio::test]
    async fn custom_response_headers_override_security_headers() {
        let mut config = Headers {
            frame_deny: true,
            ..Default::default()
        };
        config
            .custom_response_headers
            .insert("X-Frame-Options".into(), String::new());
        let (response, _) = run(&config, get(&[]), &[]).await;
        assert!(!response.headers().contains_key("x-frame-options"));
    }

    #[tokio::test]
    async fn allowed_hosts() {
        let mut config = Headers {
            allowed_hosts: vec!["good.example".into()],
            hosts_proxy_headers: vec!["X-Forwarded-Host".into()],
            ..Default::default()
        };
        config
            .custom_response_headers
            .insert("X-Seen-By".into(), "headers".into());
        let (response, reached) = run(&config, get(&[("host", "GOOD.example")]), &[]).await;
        assert!(reached);
        assert_eq!(response.status(), 200);
        let (response, reached) = run(&config, get(&[("host", "bad.example")]), &[]).await;
        assert!(!reached);
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers()["x-seen-by"],
            "headers",
            "custom response headers apply"
        );
        let proxied = get(&[("host", "bad.example"), ("x-forwarded-host", "good.example")]);
        assert!(run(&config, proxied, &[]).await.1);
        let proxied = get(&[("host", "good.example"), ("x-forwarded-host", "bad.example")]);
        assert!(!run(&config, proxied, &[]).await.1);
        config.is_development = true;
        assert!(run(&config, get(&[("host", "bad.example")]), &[]).await.1);
    }

    #[tokio::test]
    async fn nonces_are_fresh_for_each_response() {
        let config = Headers {
            content_security_policy: "script-src $NONCE".into(),
            content_security_policy_report_only: "default-src 'self'".into(),
            ..Default::default()
        };
        let (first, _) = run(&config, get(&[]), &[]).await;
        let (second, _) = run(&config, get(&[]), &[]).await;
        let csp = first.headers()["content-security-policy"].to_str().unwrap().to_owned();
        let nonce = csp
            .strip_prefix("script-src 'nonce-")
            .and_then(|r| r.strip_suffix('\''))
            .unwrap();
        assert_eq!(nonce.len(), 22, "16 random bytes, unpadded base64");
        assert_ne!(
            first.headers()["content-security-policy"],
            second.headers()["content-security-policy"]
        );
        assert_eq!(
            first.headers()["content-security-policy-report-only"],
            "default-src 'self'"
        );
    }

    #[test]
    fn invalid_values_name_their_key() {
        let ctx = BuildContext::new("h");
        let mut custom = Headers::default();
        custom.custom_response_headers.insert("X-Bad".into(), "a\nb".into());
        assert_eq!(
            headers(&custom, &ctx).err().unwrap().field(),
            "customResponseHeaders.X-Bad"
        );
        let mut name = Headers::default();
        name.custom_request_headers.insert("Bad Name".into(), "v".into());
        assert_eq!(
            headers(&name, &ctx).err().unwrap().field(),
            "customRequestHeaders.Bad Name"
        );
        let csp = Headers {
            content_security_policy: "a\u{7f}".into(),
            ..Default::default()
        };
        assert_eq!(headers(&csp, &ctx).err().unwrap().field(), "contentSecurityPolicy");
        let sts = Headers {
            sts_seconds: Some(-1),
            ..Default::default()
        };
        assert_eq!(headers(&sts, &ctx).err().unwrap().field(), "stsSeconds");
    }
}
