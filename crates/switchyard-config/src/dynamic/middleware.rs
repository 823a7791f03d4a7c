//! `http.middlewares`: request and response transformations between a router and its service.

mod auth;
mod content;
mod gateway;
mod headers;
mod path;
mod plugin;
mod redirect;
mod resilience;
mod traffic;

use std::collections::BTreeMap;

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub use auth::{BasicAuth, ClientTls, DigestAuth, ForwardAuth};
pub use content::{
    CertificateIssuerInfo, CertificateSubjectInfo, ClientCertificateInfo, Compress, ContentType, EncodedCharacters,
    GrpcWeb, PassTlsClientCert,
};
pub use gateway::{HeaderModifier, HeaderSide, RequestTimeout, StatusRedirect};
pub use headers::Headers;
pub use path::{AddPrefix, ReplacePath, ReplacePathRegex, StripPrefix, StripPrefixRegex};
pub use plugin::PluginOptionsError;
pub use redirect::{RedirectRegex, RedirectScheme};
pub use resilience::{Buffering, CircuitBreaker, ErrorPage, Retry};
pub use traffic::{InFlightReq, IpAllowList, IpStrategy, RateLimit, Redis, SourceCriterion};

/// A middleware: exactly one of Traefik's HTTP middleware types, under its Traefik key.
///
/// ```
/// use switchyard_config::{Middleware, StripPrefix};
///
/// let strip = Middleware::StripPrefix(StripPrefix { prefixes: vec!["/api".into()], ..StripPrefix::default() });
/// assert_eq!(strip.kind(), "stripPrefix");
/// ```
// Configuration is built once per reload, never per request; a flat enum keeps matching plain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Middleware {
    /// Adds a prefix to the path.
    AddPrefix(AddPrefix),
    /// Removes prefixes from the path.
    StripPrefix(StripPrefix),
    /// Removes the part of the path a regexp matches at its start.
    StripPrefixRegex(StripPrefixRegex),
    /// Replaces the path.
    ReplacePath(ReplacePath),
    /// Rewrites the path with a regexp.
    ReplacePathRegex(ReplacePathRegex),
    /// Applies other middlewares in order.
    Chain(Chain),
    /// Deprecated name of `ipAllowList` (without `rejectStatusCode`), still read by Traefik v3.
    #[serde(rename = "ipWhiteList")]
    IpWhiteList(IpAllowList),
    /// Accepts only clients from listed networks.
    #[serde(rename = "ipAllowList")]
    IpAllowList(IpAllowList),
    /// Request and response headers, CORS and security headers.
    Headers(Headers),
    /// Which encoded characters the path may contain.
    EncodedCharacters(EncodedCharacters),
    /// Error pages from another service.
    Errors(ErrorPage),
    /// Token-bucket rate limiting.
    RateLimit(RateLimit),
    /// Redirects by regexp.
    RedirectRegex(RedirectRegex),
    /// Redirects to another scheme (and port).
    RedirectScheme(RedirectScheme),
    /// HTTP Basic authentication.
    BasicAuth(BasicAuth),
    /// HTTP Digest authentication.
    DigestAuth(DigestAuth),
    /// Delegates authentication to an external service.
    ForwardAuth(ForwardAuth),
    /// Limits simultaneous requests.
    InFlightReq(InFlightReq),
    /// Buffers request and response bodies.
    Buffering(Buffering),
    /// Stops sending requests to a failing service for a while.
    CircuitBreaker(CircuitBreaker),
    /// Compresses responses.
    Compress(Compress),
    /// Sniffs a missing `Content-Type`.
    ContentType(ContentType),
    /// Passes the client's TLS certificate to the backend in headers.
    #[serde(rename = "passTLSClientCert")]
    PassTlsClientCert(PassTlsClientCert),
    /// Retries failed requests.
    Retry(Retry),
    /// Translates gRPC-Web to gRPC.
    GrpcWeb(GrpcWeb),
    /// A plugin by name with its configuration. In switchyard, plugins are middlewares registered from
    /// Rust code under that name; [`Middleware::plugin`] makes one from options of any serializable type.
    Plugin(BTreeMap<String, serde_json::Value>),
    /// Internal (providers only): sets, appends and removes request or response headers.
    #[serde(rename = "internalHeaderModifier")]
    HeaderModifier(HeaderModifier),
    /// Internal (providers only): a redirect with one status whatever the method.
    #[serde(rename = "internalStatusRedirect")]
    StatusRedirect(StatusRedirect),
    /// Internal (providers only): a deadline for the whole response.
    #[serde(rename = "internalRequestTimeout")]
    RequestTimeout(RequestTimeout),
}

/// Lists every middleware type once, as (variant, Traefik key), and derives from the list the type's
/// name and its reading from a map with exactly one type key.
/// The internal types, which only providers build, come after `;`: they have a name but are never
/// read.
macro_rules! middleware_types {
    ($($variant:ident => $key:literal,)* ; $($internal:ident => $internal_key:literal,)*) => {
        /// Every middleware type key Traefik's file provider accepts.
        pub const MIDDLEWARE_TYPES: &[&str] = &[$($key),*];

        impl Middleware {
            /// The Traefik key of this middleware type (`stripPrefix`, `basicAuth`, ...); internal
            /// types have keys of their own (`internalHeaderModifier`), which no file can use.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Middleware::$variant(_) => $key,)*
                    $(Middleware::$internal(_) => $internal_key,)*
                }
            }
        }

        impl<'de> MiddlewareVisitor {
            fn read_type<A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Middleware>, A::Error> {
                Ok(Some(match key {
                    $($key => Middleware::$variant(map.next_value()?),)*
                    _ => return Ok(None),
                }))
            }
        }
    };
}

middleware_types! {
    AddPrefix => "addPrefix",
    StripPrefix => "stripPrefix",
    StripPrefixRegex => "stripPrefixRegex",
    ReplacePath => "replacePath",
    ReplacePathRegex => "replacePathRegex",
    Chain => "chain",
    IpWhiteList => "ipWhiteList",
    IpAllowList => "ipAllowList",
    Headers => "headers",
    EncodedCharacters => "encodedCharacters",
    Errors => "errors",
    RateLimit => "rateLimit",
    RedirectRegex => "redirectRegex",
    RedirectScheme => "redirectScheme",
    BasicAuth => "basicAuth",
    DigestAuth => "digestAuth",
    ForwardAuth => "forwardAuth",
    InFlightReq => "inFlightReq",
    Buffering => "buffering",
    CircuitBreaker => "circuitBreaker",
    Compress => "compress",
    ContentType => "contentType",
    PassTlsClientCert => "passTLSClientCert",
    Retry => "retry",
    GrpcWeb => "grpcWeb",
    Plugin => "plugin",
    ;
    HeaderModifier => "internalHeaderModifier",
    StatusRedirect => "internalStatusRedirect",
    RequestTimeout => "internalRequestTimeout",
}

impl<'de> Deserialize<'de> for Middleware {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MiddlewareVisitor)
    }
}

/// Reads a middleware: a map with exactly one type key, whose errors say which keys were wrong.
struct MiddlewareVisitor;

impl<'de> Visitor<'de> for MiddlewareVisitor {
    type Value = Middleware;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a middleware: a map with one type key such as `stripPrefix` or `basicAuth`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Middleware, A::Error> {
        let mut found: Option<Middleware> = None;
        while let Some(key) = map.next_key::<String>()? {
            let Some(middleware) = Self::read_type(&key, &mut map)? else {
                let hint = MIDDLEWARE_TYPES
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(&key))
                    .map_or(String::new(), |known| format!(" (did you mean `{known}`?)"));
                return Err(de::Error::custom(format!("unknown middleware type `{key}`{hint}")));
            };
            if let Some(first) = &found {
                return Err(de::Error::custom(format!(
                    "a middleware has exactly one type, found both `{}` and `{}`",
                    first.kind(),
                    middleware.kind()
                )));
            }
            found = Some(middleware);
        }
        found.ok_or_else(|| de::Error::custom("a middleware needs a type, such as `stripPrefix` or `basicAuth`"))
    }
}

/// `chain`: other middlewares, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Chain {
    /// The middlewares (`name` or `name@provider`).
    pub middlewares: Vec<String>,
}
