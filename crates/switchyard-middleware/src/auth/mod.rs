//! Authentication: `basicAuth`, `digestAuth` and `forwardAuth`.
//!
//! Each lets a request through once it is authenticated and records who the client is in the
//! [`ClientUsername`] request extension (Traefik's access-log `ClientUsername`).

mod basic;
mod digest;
mod forward;
mod gate;
mod htpasswd;
mod users;

use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use switchyard_config::{BasicAuth, DigestAuth, ForwardAuth};

use crate::layers::builtin_layer;
use crate::{BuildContext, MiddlewareError, MiddlewareLayer, ResponseBody};

/// The user an authentication middleware let through: set as a request extension by `basicAuth` and
/// `digestAuth`, and by `forwardAuth` from its authentication server's `headerField` header, for the
/// services and access logs after it.
///
/// ```
/// use switchyard_middleware::ClientUsername;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientUsername("alice".into()));
/// assert_eq!(req.extensions().get::<ClientUsername>().map(|u| u.0.as_str()), Some("alice"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUsername(pub String);

pub(crate) fn basic_auth(config: &BasicAuth, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    basic::build(config)
}

pub(crate) fn digest_auth(config: &DigestAuth, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    digest::build(config)
}

pub(crate) fn forward_auth(config: &ForwardAuth, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    forward::build(config)
}

/// Traefik's realm when none is configured.
const DEFAULT_REALM: &str = "traefik";

/// The `WWW-Authenticate` value `<scheme> realm="<realm>"` (Traefik's default realm when empty). Traefik
/// writes the realm as is; quotes and backslashes are escaped here so that the header stays well-formed.
fn challenge_value(scheme: &str, realm: &str) -> Result<HeaderValue, MiddlewareError> {
    HeaderValue::from_str(&format!("{scheme} realm=\"{}\"", quoted(realm_or_default(realm))))
        .map_err(|_| MiddlewareError::invalid("realm", "the realm cannot contain control characters"))
}

fn realm_or_default(realm: &str) -> &str {
    if realm.is_empty() { DEFAULT_REALM } else { realm }
}

/// Escapes `"` and `\` for a quoted-string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `headerField` option: none when empty.
fn header_field(name: &str) -> Result<Option<HeaderName>, MiddlewareError> {
    if name.is_empty() {
        return Ok(None);
    }
    HeaderName::from_bytes(name.as_bytes())
        .map(Some)
        .map_err(|_| MiddlewareError::invalid("headerField", format!("`{name}` is not a valid header name")))
}

/// The `401` the basic and digest authenticators answer with: the challenge, `text/plain` and
/// `401 Unauthorized` (not Go's `http.Error` text: the library Traefik uses writes its own).
fn unauthorized(challenge: &HeaderValue) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::from("401 Unauthorized\n"));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(WWW_AUTHENTICATE, challenge.clone());
    response
}

builtin_layer! {
    /// `basicAuth` as a tower layer: lets through requests whose `Authorization: Basic` credentials
    /// match an htpasswd entry (MD5 `$apr1$`, SHA1 `{SHA}`, bcrypt), and answers others `401` with a
    /// challenge; the user is recorded in the [`ClientUsername`] request extension.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use switchyard_config::BasicAuth;
    /// use switchyard_middleware::layers::BasicAuthLayer;
    /// use switchyard_middleware::{RequestBody, ResponseBody};
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // `test:test`, hashed with `htpasswd -s`.
    /// let users = vec!["test:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=".into()];
    /// let layer = BasicAuthLayer::new(BasicAuth { users, ..Default::default() }).unwrap();
    /// let backend = layer.layer(tower::service_fn(|_req: Request<RequestBody>| async {
    ///     Ok::<_, Infallible>(Response::new(ResponseBody::empty()))
    /// }));
    ///
    /// let anonymous = Request::new(RequestBody::empty());
    /// assert_eq!(backend.clone().oneshot(anonymous).await.unwrap().status(), 401);
    /// let known = Request::get("/").header("authorization", "Basic dGVzdDp0ZXN0").body(RequestBody::empty()).unwrap();
    /// assert_eq!(backend.oneshot(known).await.unwrap().status(), 200);
    /// # }
    /// ```
    BasicAuthLayer(BasicAuth => basic::build)
}

builtin_layer! {
    /// `digestAuth` as a tower layer: HTTP Digest authentication against htdigest entries
    /// (`user:realm:hash`); the user is recorded in the [`ClientUsername`] request extension.
    ///
    /// ```
    /// use switchyard_config::DigestAuth;
    /// use switchyard_middleware::layers::DigestAuthLayer;
    ///
    /// let users = vec!["test:traefik:a2688e031edb4be6a3797f3882655c05".into()];
    /// let layer = DigestAuthLayer::new(DigestAuth { users, ..Default::default() }).unwrap();
    /// # let _ = layer;
    /// assert_eq!(DigestAuthLayer::new(DigestAuth::default()).unwrap_err().field(), "users");
    /// ```
    DigestAuthLayer(DigestAuth => digest::build)
}

builtin_layer! {
    /// `forwardAuth` as a tower layer: asks the authentication server at `address` about each request
    /// and lets it through on a `2xx` answer (with the answer's `authResponseHeaders`), else answers the
    /// client with the server's answer. Needs a tokio runtime when it serves requests.
    ///
    /// ```
    /// use switchyard_config::ForwardAuth;
    /// use switchyard_middleware::layers::ForwardAuthLayer;
    ///
    /// let auth = ForwardAuth {
    ///     address: "http://auth.internal:9000/verify".into(),
    ///     auth_response_headers: vec!["X-User".into()],
    ///     ..Default::default()
    /// };
    /// let layer = ForwardAuthLayer::new(auth).unwrap();
    /// # let _ = layer;
    /// let nowhere = ForwardAuth { address: "not a url".into(), ..Default::default() };
    /// assert_eq!(ForwardAuthLayer::new(nowhere).unwrap_err().field(), "address");
    /// ```
    ForwardAuthLayer(ForwardAuth => forward::build)
}
