//! Traefik's built-in middlewares as tower layers, for tower stacks of your own.
//!
//! Each layer is named after the configuration type it is built from (`StripPrefixLayer` from
//! [`StripPrefix`](switchyard_config::StripPrefix)) and behaves as that middleware does in the proxy.
//! Its options are checked when it is built, so a layer that exists works: `new` answers the
//! [`MiddlewareError`](crate::MiddlewareError) naming the option it cannot use, as the proxy reports
//! a configuration file's.
//!
//! A layer wraps any service an [`HttpService`](crate::HttpService) could be made of: one that answers
//! a `Request<`[`RequestBody`](crate::RequestBody)`>` with a `Response<`[`ResponseBody`](crate::ResponseBody)`>`,
//! never fails (errors are answers), and is `Clone + Send + Sync` with a `Send` future. It gives an
//! `HttpService`, and a layer around an `HttpService` does not box it again, so stacking layers costs
//! what it costs in the proxy. Layers are cheap to clone; state a middleware keeps (rate-limit
//! buckets, circuit-breaker windows, in-flight counts) is shared by the clones and by every service
//! the layer wraps.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use switchyard_config::{AddPrefix, StripPrefix};
//! use switchyard_middleware::layers::{AddPrefixLayer, StripPrefixLayer};
//! use switchyard_middleware::{MiddlewareError, RequestBody, ResponseBody};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), MiddlewareError> {
//! // A service that answers with the path it received.
//! let echo = tower::service_fn(|req: Request<RequestBody>| async move {
//!     Ok::<_, Infallible>(Response::new(ResponseBody::from(req.uri().path().to_owned())))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(StripPrefixLayer::new(StripPrefix { prefixes: vec!["/api".into()], ..Default::default() })?)
//!     .layer(AddPrefixLayer::new(AddPrefix { prefix: "/v2".into() })?)
//!     .service(echo);
//!
//! let request = Request::get("/api/users").body(RequestBody::empty()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! # use http_body_util::BodyExt;
//! # assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "/v2/users");
//! # Ok(()) }
//! ```
//!
//! Middlewares that need to know the client (`ipAllowList`, `rateLimit`, `inFlightReq`,
//! `passTLSClientCert`) read the [`ClientInfo`](crate::ClientInfo) and
//! [`PeerCertificates`](crate::PeerCertificates) request extensions, which the proxy sets and a stack
//! of your own sets itself; without them the client is `0.0.0.0` over plain HTTP.
//!
//! A layer converts into a [`MiddlewareLayer`](crate::MiddlewareLayer), to be given where one is
//! expected, such as from a [`Plugins`](crate::Plugins) factory.
//!
//! The layers, by family:
//! - paths: [`AddPrefixLayer`], [`StripPrefixLayer`], [`StripPrefixRegexLayer`], [`ReplacePathLayer`],
//!   [`ReplacePathRegexLayer`];
//! - headers and redirections: [`HeadersLayer`] (custom headers, CORS, security headers),
//!   [`RedirectSchemeLayer`], [`RedirectRegexLayer`];
//! - authentication: [`BasicAuthLayer`], [`DigestAuthLayer`], [`ForwardAuthLayer`];
//! - who may come in and how much: [`IpAllowListLayer`], [`RateLimitLayer`], [`InFlightReqLayer`];
//! - failures: [`BufferingLayer`], [`RetryLayer`], [`CircuitBreakerLayer`], [`ErrorPageLayer`] (Traefik's
//!   `errors`, with the page service given to it);
//! - bodies and encodings: [`CompressLayer`], [`ContentTypeLayer`], [`GrpcWebLayer`],
//!   [`EncodedCharactersLayer`], [`PassTlsClientCertLayer`].
//!
//! Traefik's `chain` is a [`ServiceBuilder`](tower::ServiceBuilder) of these, and `plugin` a layer of your
//! own; the deprecated `ipWhiteList` is [`IpAllowListLayer`].

pub use crate::auth::{BasicAuthLayer, DigestAuthLayer, ForwardAuthLayer};
pub use crate::buffering::BufferingLayer;
pub use crate::circuit_breaker::CircuitBreakerLayer;
pub use crate::compress::CompressLayer;
pub use crate::content_type::ContentTypeLayer;
pub use crate::encoded_characters::EncodedCharactersLayer;
pub use crate::errors::ErrorPageLayer;
pub use crate::grpc_web::GrpcWebLayer;
pub use crate::headers::HeadersLayer;
pub use crate::in_flight::InFlightReqLayer;
pub use crate::ip_allow_list::IpAllowListLayer;
pub use crate::pass_tls_client_cert::PassTlsClientCertLayer;
pub use crate::path::{
    AddPrefixLayer, ReplacePathLayer, ReplacePathRegexLayer, StripPrefixLayer, StripPrefixRegexLayer,
};
pub use crate::rate_limit::RateLimitLayer;
pub use crate::redirect::{RedirectRegexLayer, RedirectSchemeLayer};
pub use crate::retry::RetryLayer;

/// Defines the public layer of a built-in middleware: a newtype over the [`MiddlewareLayer`] its
/// configuration builds, a tower `Layer` over every `HttpService`-compatible service, and a conversion
/// into `MiddlewareLayer`.
///
/// With `Config => build`, it also defines `new(config)`, which checks the configuration with `build`
/// (a `fn(&Config) -> Result<MiddlewareLayer, MiddlewareError>`, the one the proxy uses too).
///
/// [`MiddlewareLayer`]: crate::MiddlewareLayer
macro_rules! builtin_layer {
    ($(#[$attr:meta])* $layer:ident($config:ty => $build:expr)) => {
        $crate::layers::builtin_layer!($(#[$attr])* $layer);

        impl $layer {
            /// Builds the middleware from its configuration, checked now: an option it cannot use is an
            /// error naming that option (relative to the middleware type), as when the proxy builds it
            /// from a configuration file.
            pub fn new(config: $config) -> Result<Self, $crate::MiddlewareError> {
                let build: fn(&$config) -> Result<$crate::MiddlewareLayer, $crate::MiddlewareError> = $build;
                build(&config).map(Self)
            }
        }
    };
    ($(#[$attr:meta])* $layer:ident) => {
        $(#[$attr])*
        #[derive(Clone, Debug)]
        pub struct $layer($crate::MiddlewareLayer);

        impl<S> tower::Layer<S> for $layer
        where
            S: tower::Service<
                    http::Request<$crate::RequestBody>,
                    Response = http::Response<$crate::ResponseBody>,
                    Error = std::convert::Infallible,
                > + Clone
                + Send
                + Sync
                + 'static,
            S::Future: Send + 'static,
        {
            type Service = $crate::HttpService;

            fn layer(&self, inner: S) -> $crate::HttpService {
                <$crate::MiddlewareLayer as tower::Layer<S>>::layer(&self.0, inner)
            }
        }

        impl From<$layer> for $crate::MiddlewareLayer {
            fn from(layer: $layer) -> Self {
                layer.0
            }
        }
    };
}

pub(crate) use builtin_layer;
