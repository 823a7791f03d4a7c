//! `headers`: custom headers, CORS and security headers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `headers`.
///
/// ```
/// use switchyard_config::Headers;
///
/// let mut headers = Headers::default();
/// headers.custom_request_headers.insert("X-Script-Name".into(), "test".into());
/// headers.custom_response_headers.insert("Server".into(), String::new()); // empty value: remove
/// headers.sts_seconds = Some(31_536_000);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Headers {
    /// Headers set on requests; an empty value removes the header.
    pub custom_request_headers: BTreeMap<String, String>,
    /// Headers set on responses; an empty value removes the header.
    pub custom_response_headers: BTreeMap<String, String>,
    /// CORS: `Access-Control-Allow-Credentials`.
    pub access_control_allow_credentials: bool,
    /// CORS: allowed request headers.
    pub access_control_allow_headers: Vec<String>,
    /// CORS: allowed methods.
    pub access_control_allow_methods: Vec<String>,
    /// CORS: allowed origins (`*` for any).
    pub access_control_allow_origin_list: Vec<String>,
    /// CORS: allowed origins as regexps.
    pub access_control_allow_origin_list_regex: Vec<String>,
    /// CORS: headers exposed to the page.
    pub access_control_expose_headers: Vec<String>,
    /// CORS: how long a preflight answer may be cached, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_control_max_age: Option<i64>,
    /// Adds `Vary: Origin` when the allowed origin depends on the request.
    pub add_vary_header: bool,
    /// Hosts allowed; other hosts are refused.
    pub allowed_hosts: Vec<String>,
    /// Headers that may carry the original host.
    pub hosts_proxy_headers: Vec<String>,
    /// Header/value pairs that mean the request came over HTTPS (`X-Forwarded-Proto: https`).
    #[serde(rename = "sslProxyHeaders")]
    pub ssl_proxy_headers: BTreeMap<String, String>,
    /// `Strict-Transport-Security` max-age; `None` or 0 sends none.
    #[serde(rename = "stsSeconds", skip_serializing_if = "Option::is_none")]
    pub sts_seconds: Option<i64>,
    /// Adds `includeSubDomains` to the HSTS header.
    #[serde(rename = "stsIncludeSubdomains")]
    pub sts_include_subdomains: bool,
    /// Adds `preload` to the HSTS header.
    #[serde(rename = "stsPreload")]
    pub sts_preload: bool,
    /// Sends HSTS over plain HTTP too.
    #[serde(rename = "forceSTSHeader")]
    pub force_sts_header: bool,
    /// `X-Frame-Options: DENY`.
    pub frame_deny: bool,
    /// A custom `X-Frame-Options` value (overrides `frameDeny`).
    pub custom_frame_options_value: String,
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_nosniff: bool,
    /// `X-XSS-Protection: 1; mode=block`.
    #[serde(rename = "browserXssFilter")]
    pub browser_xss_filter: bool,
    /// A custom `X-XSS-Protection` value (overrides `browserXssFilter`).
    #[serde(rename = "customBrowserXSSValue")]
    pub custom_browser_xss_value: String,
    /// `Content-Security-Policy`.
    pub content_security_policy: String,
    /// `Content-Security-Policy-Report-Only`.
    pub content_security_policy_report_only: String,
    /// `Public-Key-Pins`.
    pub public_key: String,
    /// `Referrer-Policy`.
    pub referrer_policy: String,
    /// `Permissions-Policy`.
    pub permissions_policy: String,
    /// Turns `allowedHosts`, SSL and STS checks off, for development.
    pub is_development: bool,
    /// Deprecated `Feature-Policy`; use `permissionsPolicy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_policy: Option<String>,
    /// Deprecated: redirect to HTTPS (use `redirectScheme`).
    #[serde(rename = "sslRedirect", skip_serializing_if = "Option::is_none")]
    pub ssl_redirect: Option<bool>,
    /// Deprecated: redirect to HTTPS with 302 (use `redirectScheme`).
    #[serde(rename = "sslTemporaryRedirect", skip_serializing_if = "Option::is_none")]
    pub ssl_temporary_redirect: Option<bool>,
    /// Deprecated: the host to redirect to for HTTPS.
    #[serde(rename = "sslHost", skip_serializing_if = "Option::is_none")]
    pub ssl_host: Option<String>,
    /// Deprecated: always redirect to `sslHost`.
    #[serde(rename = "sslForceHost", skip_serializing_if = "Option::is_none")]
    pub ssl_force_host: Option<bool>,
}
