//! `http.middlewares`: request and response transformations between a router and its service.

mod auth;
mod content;
mod headers;
mod path;
mod redirect;
mod resilience;
mod traffic;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use auth::{BasicAuth, ClientTls, DigestAuth, ForwardAuth};
pub use content::{
    CertificateIssuerInfo, CertificateSubjectInfo, ClientCertificateInfo, Compress, ContentType, EncodedCharacters,
    GrpcWeb, PassTlsClientCert,
};
pub use headers::Headers;
pub use path::{AddPrefix, ReplacePath, ReplacePathRegex, StripPrefix, StripPrefixRegex};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Rust code under that name.
    Plugin(BTreeMap<String, serde_json::Value>),
}

impl Middleware {
    /// The Traefik key of this middleware type (`stripPrefix`, `basicAuth`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Middleware::AddPrefix(_) => "addPrefix",
            Middleware::StripPrefix(_) => "stripPrefix",
            Middleware::StripPrefixRegex(_) => "stripPrefixRegex",
            Middleware::ReplacePath(_) => "replacePath",
            Middleware::ReplacePathRegex(_) => "replacePathRegex",
            Middleware::Chain(_) => "chain",
            Middleware::IpWhiteList(_) => "ipWhiteList",
            Middleware::IpAllowList(_) => "ipAllowList",
            Middleware::Headers(_) => "headers",
            Middleware::EncodedCharacters(_) => "encodedCharacters",
            Middleware::Errors(_) => "errors",
            Middleware::RateLimit(_) => "rateLimit",
            Middleware::RedirectRegex(_) => "redirectRegex",
            Middleware::RedirectScheme(_) => "redirectScheme",
            Middleware::BasicAuth(_) => "basicAuth",
            Middleware::DigestAuth(_) => "digestAuth",
            Middleware::ForwardAuth(_) => "forwardAuth",
            Middleware::InFlightReq(_) => "inFlightReq",
            Middleware::Buffering(_) => "buffering",
            Middleware::CircuitBreaker(_) => "circuitBreaker",
            Middleware::Compress(_) => "compress",
            Middleware::ContentType(_) => "contentType",
            Middleware::PassTlsClientCert(_) => "passTLSClientCert",
            Middleware::Retry(_) => "retry",
            Middleware::GrpcWeb(_) => "grpcWeb",
            Middleware::Plugin(_) => "plugin",
        }
    }
}

/// `chain`: other middlewares, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Chain {
    /// The middlewares (`name` or `name@provider`).
    pub middlewares: Vec<String>,
}
