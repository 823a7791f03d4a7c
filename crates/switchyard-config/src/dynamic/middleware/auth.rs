//! Authentication: `basicAuth`, `digestAuth`, `forwardAuth`.

use serde::{Deserialize, Serialize};

/// `basicAuth`: HTTP Basic authentication against htpasswd entries (MD5/apr1, SHA1, bcrypt).
///
/// ```
/// use switchyard_config::BasicAuth;
///
/// let auth = BasicAuth { users: vec!["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/".into()], ..BasicAuth::default() };
/// assert_eq!(auth.realm, "traefik");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BasicAuth {
    /// `user:hash` entries.
    pub users: Vec<String>,
    /// A file of `user:hash` lines, merged with `users` (an entry of `users` wins over a line of the
    /// file for the same user, as in Traefik).
    pub users_file: String,
    /// The realm announced. Default: `traefik`.
    pub realm: String,
    /// Removes the `Authorization` header before forwarding.
    pub remove_header: bool,
    /// A header that receives the authenticated user name.
    pub header_field: String,
}

impl Default for BasicAuth {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            users_file: String::new(),
            realm: "traefik".into(),
            remove_header: false,
            header_field: String::new(),
        }
    }
}

/// `digestAuth`: HTTP Digest authentication against htdigest entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DigestAuth {
    /// `user:realm:hash` entries.
    pub users: Vec<String>,
    /// A file of `user:realm:hash` lines, merged with `users` (an entry of `users` wins).
    pub users_file: String,
    /// Removes the `Authorization` header before forwarding.
    pub remove_header: bool,
    /// The realm announced. Default: `traefik`.
    pub realm: String,
    /// A header that receives the authenticated user name.
    pub header_field: String,
}

impl Default for DigestAuth {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            users_file: String::new(),
            remove_header: false,
            realm: "traefik".into(),
            header_field: String::new(),
        }
    }
}

/// `forwardAuth`: asks an external service whether to let the request through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ForwardAuth {
    /// The authentication service's URL.
    pub address: String,
    /// TLS towards the authentication service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    /// Whether the request's `X-Forwarded-*` headers go to the authentication service: `true` sends them
    /// (the entrypoint's `forwardedHeaders.trustedIPs` decides which ones a request keeps), `false` drops
    /// them all before the middleware sets its own. Unset, Traefik's legacy behaviour: the middleware
    /// overwrites `X-Forwarded-For/Proto/Method/Host/Uri` and sends the others as they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_forward_header: Option<bool>,
    /// Headers copied from the authentication answer to the forwarded request.
    pub auth_response_headers: Vec<String>,
    /// A regexp of further headers copied from the authentication answer.
    pub auth_response_headers_regex: String,
    /// Request headers sent to the authentication service; empty sends all.
    pub auth_request_headers: Vec<String>,
    /// The largest authentication answer body read, in bytes; -1 for no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_response_body_size: Option<i64>,
    /// Cookies from the authentication answer added to the client's response.
    pub add_auth_cookies_to_response: Vec<String>,
    /// The header of a successful authentication answer that names the user (Traefik records it in the
    /// access log as the client's user name; the request's headers are not changed by it).
    pub header_field: String,
    /// Sends the request body to the authentication service.
    pub forward_body: bool,
    /// The largest body forwarded with `forwardBody`, in bytes; -1 for no limit. Default: -1.
    pub max_body_size: i64,
    /// Keeps a relative `Location` of the authentication answer as is.
    pub preserve_location_header: bool,
    /// Uses the original request's method towards the authentication service instead of GET.
    pub preserve_request_method: bool,
    /// Where to redirect the client (`302`) when the authentication service answers `401`.
    #[serde(rename = "authSigninURL")]
    pub auth_signin_url: String,
}

impl Default for ForwardAuth {
    fn default() -> Self {
        Self {
            address: String::new(),
            tls: None,
            trust_forward_header: None,
            auth_response_headers: Vec::new(),
            auth_response_headers_regex: String::new(),
            auth_request_headers: Vec::new(),
            max_response_body_size: None,
            add_auth_cookies_to_response: Vec::new(),
            header_field: String::new(),
            forward_body: false,
            max_body_size: -1,
            preserve_location_header: false,
            preserve_request_method: false,
            auth_signin_url: String::new(),
        }
    }
}

/// TLS settings of a client connection (`forwardAuth.tls`, Redis).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClientTls {
    /// Certificate authority (path or PEM).
    pub ca: String,
    /// Client certificate (path or PEM).
    pub cert: String,
    /// Client key (path or PEM).
    pub key: String,
    /// Skip verification of the server's certificate.
    pub insecure_skip_verify: bool,
    /// Deprecated in Traefik; accepted so files load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_optional: Option<bool>,
}
