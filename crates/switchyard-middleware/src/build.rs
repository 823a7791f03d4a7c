//! Building a middleware layer from its configuration.

use std::collections::BTreeMap;

use switchyard_config::{Chain, Middleware};

use crate::{HttpService, MiddlewareError, MiddlewareLayer, Plugins};

/// Looks up the other elements a middleware refers to: the members of a `chain`, the page service of
/// `errors`. The proxy's compiler implements it over the snapshot being built.
pub trait Resolve {
    /// A compiled service by its (qualified) name.
    fn service(&self, name: &str) -> Option<HttpService>;
    /// A built middleware by its (qualified) name.
    fn middleware(&self, name: &str) -> Option<MiddlewareLayer>;
}

/// What building a middleware may need besides its own options.
///
/// ```
/// use switchyard_middleware::{BuildContext, Plugins};
///
/// let plugins = Plugins::new();
/// let context = BuildContext::new("auth@file").with_plugins(&plugins);
/// assert_eq!(context.name(), "auth@file");
/// ```
#[derive(Clone, Copy)]
pub struct BuildContext<'a> {
    name: &'a str,
    resolve: Option<&'a dyn Resolve>,
    plugins: Option<&'a Plugins>,
}

impl<'a> BuildContext<'a> {
    /// The context of the middleware named `name`, with nothing to resolve and no plugins.
    pub fn new(name: &'a str) -> Self {
        Self {
            name,
            resolve: None,
            plugins: None,
        }
    }

    /// Resolves references to services and other middlewares with `resolve`.
    #[must_use]
    pub fn with_resolve(mut self, resolve: &'a dyn Resolve) -> Self {
        self.resolve = Some(resolve);
        self
    }

    /// Builds `plugin` middlewares from `plugins`.
    #[must_use]
    pub fn with_plugins(mut self, plugins: &'a Plugins) -> Self {
        self.plugins = Some(plugins);
        self
    }

    /// The name of the middleware being built.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The service named `name`.
    pub(crate) fn service(&self, name: &str) -> Result<HttpService, MiddlewareError> {
        self.resolve
            .and_then(|r| r.service(name))
            .ok_or_else(|| MiddlewareError::Missing(format!("service `{name}`")))
    }

    /// The middleware named `name`.
    pub(crate) fn middleware(&self, name: &str) -> Result<MiddlewareLayer, MiddlewareError> {
        self.resolve
            .and_then(|r| r.middleware(name))
            .ok_or_else(|| MiddlewareError::Missing(format!("middleware `{name}`")))
    }

    fn plugin(&self, name: &str, options: &serde_json::Value) -> Result<MiddlewareLayer, MiddlewareError> {
        let factory = self
            .plugins
            .and_then(|p| p.get(name))
            .ok_or_else(|| MiddlewareError::UnknownPlugin(name.to_owned()))?;
        factory(options).map_err(|source| MiddlewareError::Plugin {
            name: name.to_owned(),
            source,
        })
    }
}

/// Builds the layer of one middleware. State a middleware keeps (rate-limit buckets, circuit-breaker
/// windows, in-flight counts) lives in the layer: build once per configuration and reuse the layer while
/// the configuration is unchanged to keep it.
///
/// ```
/// use switchyard_config::{AddPrefix, Middleware, ReplacePathRegex};
/// use switchyard_middleware::{build, BuildContext};
///
/// let add = Middleware::AddPrefix(AddPrefix { prefix: "/v2".into() });
/// assert!(build(&add, &BuildContext::new("add")).is_ok());
///
/// let broken = Middleware::ReplacePathRegex(ReplacePathRegex { regex: "(".into(), replacement: "/".into() });
/// let error = build(&broken, &BuildContext::new("rewrite")).unwrap_err();
/// assert_eq!(error.field(), "regex");
/// ```
pub fn build(middleware: &Middleware, ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    match middleware {
        Middleware::AddPrefix(c) => crate::path::add_prefix(c),
        Middleware::StripPrefix(c) => crate::path::strip_prefix(c),
        Middleware::StripPrefixRegex(c) => crate::path::strip_prefix_regex(c),
        Middleware::ReplacePath(c) => crate::path::replace_path(c),
        Middleware::ReplacePathRegex(c) => crate::path::replace_path_regex(c),
        Middleware::Chain(c) => chain(c, ctx),
        Middleware::Plugin(plugins) => plugin(plugins, ctx),
        Middleware::Headers(c) => crate::headers::headers(c, ctx),
        Middleware::IpAllowList(c) => crate::ip_allow_list::ip_allow_list(c, ctx),
        Middleware::IpWhiteList(c) => crate::ip_allow_list::ip_white_list(c, ctx),
        Middleware::RateLimit(c) => crate::rate_limit::rate_limit(c, ctx),
        Middleware::InFlightReq(c) => crate::in_flight::in_flight_req(c, ctx),
        Middleware::BasicAuth(c) => crate::auth::basic_auth(c, ctx),
        Middleware::DigestAuth(c) => crate::auth::digest_auth(c, ctx),
        Middleware::ForwardAuth(c) => crate::auth::forward_auth(c, ctx),
        Middleware::Retry(c) => crate::retry::retry(c, ctx),
        Middleware::CircuitBreaker(c) => crate::circuit_breaker::circuit_breaker(c, ctx),
        Middleware::Buffering(c) => crate::buffering::buffering(c, ctx),
        Middleware::Errors(c) => crate::errors::errors(c, ctx),
        Middleware::Compress(c) => crate::compress::compress(c, ctx),
        Middleware::ContentType(c) => crate::content_type::content_type(c, ctx),
        Middleware::GrpcWeb(c) => crate::grpc_web::grpc_web(c, ctx),
        Middleware::EncodedCharacters(c) => crate::encoded_characters::encoded_characters(c, ctx),
        Middleware::PassTlsClientCert(c) => crate::pass_tls_client_cert::pass_tls_client_cert(c, ctx),
        Middleware::RedirectScheme(c) => crate::redirect::redirect_scheme(c, ctx),
        Middleware::RedirectRegex(c) => crate::redirect::redirect_regex(c, ctx),
        Middleware::HeaderModifier(c) => crate::header_modifier::header_modifier(c),
        Middleware::StatusRedirect(c) => crate::redirect::status_redirect(c),
        Middleware::RequestTimeout(c) => crate::request_timeout::request_timeout(c),
    }
}

/// `chain`: its members, built already, in order.
fn chain(config: &Chain, ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    let layers = config
        .middlewares
        .iter()
        .map(|name| ctx.middleware(name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MiddlewareLayer::new(tower::layer::layer_fn(move |inner| {
        crate::chain(&layers, inner)
    })))
}

/// `plugin`: the one plugin it names, from the registered factories.
fn plugin(
    plugins: &BTreeMap<String, serde_json::Value>,
    ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    let mut entries = plugins.iter();
    match (entries.next(), entries.next()) {
        (Some((name, options)), None) => ctx.plugin(name, options),
        _ => Err(MiddlewareError::invalid(
            "",
            "a plugin middleware names exactly one plugin, with its options below the name",
        )),
    }
}
