//! Test your Traefik routing configuration in CI, without sockets, containers or a cluster.
//!
//! A [`RoutingTest`] loads your dynamic configuration files the way switchyard's file provider (and
//! Traefik's) loads them, runs them in a real switchyard gateway whose entrypoints are served in
//! process, and plays every server of every service with a recorder. A `#[test]` then sends requests
//! and asserts, for each, on the [`Exchange`]:
//!
//! - which **router** took it, which **service**, which **middlewares** stood in front;
//! - what the **backend received**: server, rewritten path and query, headers, body ([`Received`]);
//! - what the **client got**: status, headers, body, a **redirect**'s `Location`;
//! - the **problems** of the configuration: rules that do not parse, missing services, routers that
//!   no request can reach ([`RoutingTest::problems`]).
//!
//! Routing, middlewares and load balancing are the gateway's own code, not a model of it: what
//! passes here is what switchyard does in production with the same files.
//!
//! ```
//! use switchyard_testing::RoutingTest;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), switchyard_testing::TestKitError> {
//! let test = RoutingTest::from_yaml(r#"
//! http:
//!   routers:
//!     to-https:
//!       rule: Host(`shop.example`)
//!       entryPoints: [web]
//!       middlewares: [https]
//!       service: noop@internal
//!     shop:
//!       rule: Host(`shop.example`)
//!       entryPoints: [websecure]
//!       tls: {}
//!       service: shop
//!   middlewares:
//!     https:
//!       redirectScheme: { scheme: https, permanent: true }
//!   services:
//!     shop:
//!       loadBalancer: { servers: [{ url: "http://shop:80" }] }
//! "#).await?;
//!
//! let plain = test.get("http://shop.example/cart").await?;
//! assert_eq!(plain.router(), Some("to-https@file"));
//! assert_eq!(plain.status(), 301);
//! assert_eq!(plain.redirect(), Some("https://shop.example/cart"));
//! assert!(plain.received().is_none());
//!
//! let request = http::Request::get("https://shop.example/cart").body("").unwrap();
//! let secure = test.send_on("websecure", request).await?;
//! assert_eq!(secure.router(), Some("shop@file"));
//! assert_eq!(secure.received().unwrap().server, "http://shop:80");
//! assert!(test.problems().is_empty());
//! # Ok(()) }
//! ```
//!
//! # What differs from production
//! - Nothing listens or connects: entrypoints are called in process and servers are played by the
//!   recorder (which answers `200` with the server's URL as body). Active health checks still probe
//!   the servers' real addresses, so leave `healthCheck` out of the files under test or expect the
//!   servers to go down.
//! - Kubernetes manifests are not read (only Traefik's file format).

mod error;
mod exchange;
mod recorder;
mod routing_test;

pub use error::TestKitError;
pub use exchange::Exchange;
pub use recorder::Received;
pub use routing_test::{Builder, RoutingTest};
pub use switchyard_config::Format;
