//! Traefik's HTTP middlewares as tower layers, and a registry for middlewares of your own.
//!
//! Every middleware of Traefik's dynamic configuration (`stripPrefix`, `headers`, `basicAuth`,
//! `rateLimit`, ...) is built by [`build`] from its [`Middleware`](switchyard_config::Middleware)
//! configuration into a [`MiddlewareLayer`]: a tower `Layer` over the type-erased [`HttpService`] that
//! routes and services are. The proxy stacks a router's middlewares in the order the router lists them,
//! the first one outermost, as Traefik does.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use switchyard_config::{Middleware, StripPrefix};
//! use switchyard_middleware::{build, BuildContext, HttpService, RequestBody, ResponseBody};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let config = Middleware::StripPrefix(StripPrefix { prefixes: vec!["/api".into()], ..Default::default() });
//! let layer = build(&config, &BuildContext::new("strip")).unwrap();
//!
//! // A service that answers with the path it received.
//! let echo = HttpService::new(tower::service_fn(|req: Request<RequestBody>| async move {
//!     Ok::<_, Infallible>(Response::new(ResponseBody::from(req.uri().path().to_owned())))
//! }));
//! let response = layer.layer(echo).oneshot(Request::new(RequestBody::empty())).await.unwrap();
//! # let _ = response;
//! # }
//! ```
//!
//! Middlewares that need to know the client (`ipAllowList`, `rateLimit`, `inFlightReq`, ...) read the
//! [`ClientInfo`] request extension, which the proxy sets on every request that goes through a stack.
//!
//! Your own middleware is registered in [`Plugins`] under a name and referenced from configuration as
//! Traefik references plugins: `plugin: { <name>: { ...options } }`. A plugin is any tower layer whose
//! service answers a proxied request and never fails; [`MiddlewareLayer::new`] takes the same.
//!
//! The built-in middlewares are also tower layers of their own in [`layers`] (`StripPrefixLayer`,
//! `HeadersLayer`, `BasicAuthLayer`, ...), built from their configuration types and checked when built,
//! for tower stacks that do not go through the proxy:
//!
//! ```
//! use switchyard_config::StripPrefix;
//! use switchyard_middleware::layers::StripPrefixLayer;
//!
//! let strip = StripPrefixLayer::new(StripPrefix { prefixes: vec!["/api".into()], ..Default::default() })?;
//! let stack = tower::ServiceBuilder::new().layer(strip);
//! # let _ = stack;
//! # Ok::<(), switchyard_middleware::MiddlewareError>(())
//! ```
//!
//! # Cargo features
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `tls` | `forwardAuth` to `https://` authentication servers, with `forwardAuth.tls` (rustls); with `redis`, `rateLimit.redis.tls` |
//! | `redis` | `rateLimit.redis`: token buckets shared by every replica through Redis ([`redis_errors`] counts its failures) |

// A middleware that answers a request itself returns the answer as the `Err` of its request step; that
// is its ordinary control flow, and boxing it would allocate on every refusal.
#![allow(clippy::result_large_err)]

mod auth;
mod body;
mod buffering;
mod build;
mod circuit_breaker;
mod compress;
mod content_type;
mod encoded_characters;
mod error;
mod errors;
mod forwarded;
mod grpc_web;
mod header_modifier;
mod headers;
mod in_flight;
mod ip_allow_list;
pub mod layers;
mod pass_tls_client_cert;
mod path;
mod rate_limit;
mod record;
mod redirect;
mod registry;
mod release;
mod request_timeout;
mod response;
mod retry;
mod source;
mod stack;
mod upstream_failure;
mod uri;

pub use auth::ClientUsername;
pub use body::{BodyEnd, BoxError, RequestBody, ResponseBody, Resumed};
pub use build::{BuildContext, Resolve, build};
pub use encoded_characters::EncodedSet;
pub use error::MiddlewareError;
pub use errors::CodeRanges;
pub use forwarded::{MANAGED_HEADERS, is_managed_header, is_managed_header_name};
pub use pass_tls_client_cert::PeerCertificates;
#[cfg(feature = "redis")]
pub use rate_limit::redis::redis_errors;
pub use rate_limit::redis_errors_by_middleware;
pub use record::{Attempt, AttemptEnd, AttemptObserver, Progress, RequestRecord, Signals};
pub use registry::{PluginFactory, Plugins};
pub use release::{ConnectionPool, Release};
pub use response::error_response;
pub use stack::{ClientInfo, HttpCompatible, HttpService, MiddlewareLayer, OmitForwardedFor, chain};
pub use upstream_failure::{FailureStage, UpstreamFailure};
pub use uri::query_escape;
