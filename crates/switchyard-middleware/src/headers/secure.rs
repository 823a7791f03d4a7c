//! Security headers and the allowed-hosts check, as Traefik's `headers` gets them from
//! `github.com/unrolled/secure` with the options Traefik v3 passes on.
//!
//! A request counts as HTTPS when it came over TLS, when its URI says `https`, or when one of
//! `sslProxyHeaders` has its configured value (its first value; an absent header reads as empty, as in
//! Go). HSTS (`stsSeconds`) and `publicKey` are sent only over HTTPS (HSTS also over HTTP with
//! `forceSTSHeader`), and `isDevelopment` turns them and the `allowedHosts` check off. `$NONCE` in a content security policy becomes a fresh
//! `'nonce-<16 random bytes, base64>'` for each request.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY, HOST, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS, X_XSS_PROTECTION,
};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use switchyard_config::Headers;

use super::{header_name, header_value};
use crate::response::text_response;
use crate::{ClientInfo, MiddlewareError, RequestBody, ResponseBody, error_response};

const PUBLIC_KEY_PINS: HeaderName = HeaderName::from_static("public-key-pins");
const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");

/// What `$NONCE` stands for in a policy.
const NONCE_MARK: &str = "$NONCE";

/// A policy that holds `$NONCE`: its text before and after each mark.
#[derive(Debug, Clone)]
struct NonceTemplate {
    name: HeaderName,
    parts: Vec<String>,
}

impl NonceTemplate {
    fn render(&self, nonce: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.parts.join(&format!("'nonce-{nonce}'"))).ok()
    }
}

/// The security options, ready to use.
#[derive(Debug, Clone)]
pub(super) struct Secure {
    /// Hosts allowed (compared without regard to case); empty allows any.
    allowed_hosts: Vec<String>,
    hosts_proxy_headers: Vec<HeaderName>,
    ssl_proxy_headers: Vec<(HeaderName, String)>,
    sts: Option<HeaderValue>,
    force_sts: bool,
    public_key: Option<HeaderValue>,
    /// Headers sent on every response.
    fixed: Vec<(HeaderName, HeaderValue)>,
    /// Policies with a fresh nonce on every response.
    nonced: Vec<NonceTemplate>,
}

/// Why a request is answered by the security step itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The host is not in `allowedHosts`.
    BadHost,
    /// No randomness for a CSP nonce.
    NoNonce,
}

impl Refusal {
    /// The answer: `500 Bad Host` as `unrolled/secure` writes it, or a plain `500`.
    pub(super) fn response(self) -> Response<ResponseBody> {
        match self {
            Self::BadHost => text_response(StatusCode::INTERNAL_SERVER_ERROR, "Bad Host\n".to_owned()),
            Self::NoNonce => error_response(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// What a response needs to know of its request.
#[derive(Debug, Clone)]
pub(super) struct SecureState {
    https: bool,
    nonce: Option<String>,
}

impl Secure {
    pub(super) fn build(config: &Headers) -> Result<Self, MiddlewareError> {
        let development = config.is_development;
        let sts = sts_header(config)?;
        let public_key = match config.public_key.as_str() {
            "" => None,
            key => Some(header_value("publicKey", key)?).filter(|_| !development),
        };
        let ResponseHeaders { fixed, nonced } = ResponseHeaders::build(config)?;
        Ok(Self {
            allowed_hosts: if development {
                Vec::new()
            } else {
                config.allowed_hosts.clone()
            },
            hosts_proxy_headers: hosts_proxy_headers(config)?,
            ssl_proxy_headers: ssl_proxy_headers(config)?,
            sts,
            force_sts: config.force_sts_header,
            public_key,
            fixed,
            nonced,
        })
    }

    /// The host the request is for: the first non-empty `hostsProxyHeaders` header, else its own.
    fn host<'r>(&self, req: &'r Request<RequestBody>) -> &'r [u8] {
        let headers = req.headers();
        for name in &self.hosts_proxy_headers {
            if let Some(value) = headers.get(name).filter(|v| !v.is_empty()) {
                return value.as_bytes();
            }
        }
        match headers.get(HOST) {
            Some(host) => host.as_bytes(),
            None => req.uri().authority().map_or(&[], |a| a.as_str().as_bytes()),
        }
    }

    fn is_https(&self, req: &Request<RequestBody>) -> bool {
        ClientInfo::of(req).tls
            || req.uri().scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("https"))
            || self.ssl_proxy_headers.iter().any(|(name, expected)| {
                // Go compares the first value, an absent header reading as "".
                let actual = req.headers().get(name).map_or(&[][..], HeaderValue::as_bytes);
                actual == expected.as_bytes()
            })
    }

    /// Checks the host and notes what the response needs.
    pub(super) fn on_request(&self, req: &Request<RequestBody>) -> Result<SecureState, Refusal> {
        self.check_host(req)?;
        let nonce = if self.nonced.is_empty() {
            None
        } else {
            Some(fresh_nonce()?)
        };
        Ok(SecureState {
            https: self.is_https(req),
            nonce,
        })
    }

    /// Refuses a host not in `allowedHosts` (any host passes when it is empty).
    fn check_host(&self, req: &Request<RequestBody>) -> Result<(), Refusal> {
        if self.allowed_hosts.is_empty() {
            return Ok(());
        }
        let host = self.host(req);
        if !self
            .allowed_hosts
            .iter()
            .any(|h| h.as_bytes().eq_ignore_ascii_case(host))
        {
            tracing::debug!(target: "switchyard::middleware", host = %String::from_utf8_lossy(host), "headers refused a host");
            return Err(Refusal::BadHost);
        }
        Ok(())
    }

    /// Sets the security headers, replacing the backend's.
    pub(super) fn apply_to_response(&self, state: &SecureState, headers: &mut HeaderMap) {
        if let Some(sts) = &self.sts {
            if state.https || self.force_sts {
                headers.insert(STRICT_TRANSPORT_SECURITY, sts.clone());
            }
        }
        for (name, value) in &self.fixed {
            headers.insert(name, value.clone());
        }
        if let Some(public_key) = self.public_key.as_ref().filter(|_| state.https) {
            headers.insert(PUBLIC_KEY_PINS, public_key.clone());
        }
        if let Some(nonce) = &state.nonce {
            for template in &self.nonced {
                if let Some(value) = template.render(nonce) {
                    headers.insert(&template.name, value);
                }
            }
        }
    }
}

/// `stsSeconds` with `stsIncludeSubdomains` and `stsPreload` as the HSTS value; none for 0 or in
/// development.
fn sts_header(config: &Headers) -> Result<Option<HeaderValue>, MiddlewareError> {
    match config.sts_seconds {
        Some(seconds) if seconds < 0 => Err(MiddlewareError::invalid(
            "stsSeconds",
            format!("stsSeconds cannot be negative (got {seconds})"),
        )),
        Some(seconds) if seconds > 0 && !config.is_development => {
            let mut value = format!("max-age={seconds}");
            if config.sts_include_subdomains {
                value.push_str("; includeSubDomains");
            }
            if config.sts_preload {
                value.push_str("; preload");
            }
            Ok(Some(header_value("stsSeconds", &value)?))
        }
        _ => Ok(None),
    }
}

/// `hostsProxyHeaders`, checked as header names.
fn hosts_proxy_headers(config: &Headers) -> Result<Vec<HeaderName>, MiddlewareError> {
    config
        .hosts_proxy_headers
        .iter()
        .enumerate()
        .map(|(i, name)| header_name(format!("hostsProxyHeaders[{i}]"), name))
        .collect()
}

/// `sslProxyHeaders`, their names checked, with the value each must have.
fn ssl_proxy_headers(config: &Headers) -> Result<Vec<(HeaderName, String)>, MiddlewareError> {
    config
        .ssl_proxy_headers
        .iter()
        .map(|(name, value)| Ok((header_name(format!("sslProxyHeaders.{name}"), name)?, value.clone())))
        .collect()
}

/// A fresh CSP nonce: 16 random bytes in base64.
fn fresh_nonce() -> Result<String, Refusal> {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        tracing::error!(target: "switchyard::middleware", "no randomness for a CSP nonce");
        return Err(Refusal::NoNonce);
    }
    Ok(STANDARD_NO_PAD.encode(bytes))
}

/// The headers set on every response and the policies given a fresh nonce on each, in the order
/// Traefik sets them.
#[derive(Default)]
struct ResponseHeaders {
    fixed: Vec<(HeaderName, HeaderValue)>,
    nonced: Vec<NonceTemplate>,
}

impl ResponseHeaders {
    fn build(config: &Headers) -> Result<Self, MiddlewareError> {
        let mut headers = Self::default();
        match (config.custom_frame_options_value.as_str(), config.frame_deny) {
            ("", true) => headers.add(X_FRAME_OPTIONS, "frameDeny", "DENY")?,
            (value, _) => headers.add(X_FRAME_OPTIONS, "customFrameOptionsValue", value)?,
        }
        if config.content_type_nosniff {
            headers.add(X_CONTENT_TYPE_OPTIONS, "contentTypeNosniff", "nosniff")?;
        }
        match (config.custom_browser_xss_value.as_str(), config.browser_xss_filter) {
            ("", true) => headers.add(X_XSS_PROTECTION, "browserXssFilter", "1; mode=block")?,
            (value, _) => headers.add(X_XSS_PROTECTION, "customBrowserXSSValue", value)?,
        }
        let csp = &config.content_security_policy;
        headers.policy(CONTENT_SECURITY_POLICY, "contentSecurityPolicy", csp)?;
        let report_only = &config.content_security_policy_report_only;
        headers.policy(
            CONTENT_SECURITY_POLICY_REPORT_ONLY,
            "contentSecurityPolicyReportOnly",
            report_only,
        )?;
        headers.add(REFERRER_POLICY, "referrerPolicy", &config.referrer_policy)?;
        headers.add(PERMISSIONS_POLICY, "permissionsPolicy", &config.permissions_policy)?;
        Ok(headers)
    }

    /// Sets `name` on every response; an empty value sets nothing.
    fn add(&mut self, name: HeaderName, field: &str, value: &str) -> Result<(), MiddlewareError> {
        if !value.is_empty() {
            self.fixed.push((name, header_value(field, value)?));
        }
        Ok(())
    }

    /// A content security policy: set as it is, or with a fresh nonce on each response where it says
    /// `$NONCE`.
    fn policy(&mut self, name: HeaderName, field: &str, policy: &str) -> Result<(), MiddlewareError> {
        if !policy.contains(NONCE_MARK) {
            return self.add(name, field, policy);
        }
        let template = NonceTemplate {
            name,
            parts: policy.split(NONCE_MARK).map(str::to_owned).collect(),
        };
        // Any nonce renders the same bytes around it: one check covers them all.
        if template.render("AAAAAAAAAAAAAAAAAAAAAA").is_none() {
            return Err(MiddlewareError::invalid(
                field,
                format!("{policy:?} is not a valid header value"),
            ));
        }
        self.nonced.push(template);
        Ok(())
    }
}
