//! switchyard: an embeddable edge router that speaks Traefik's configuration.
//!
//! This facade is the crate applications depend on. Today it carries the routing-rule engine
//! ([`rules`]) and the configuration model with its providers ([`config`]); the proxy joins it as it
//! lands. Optional pieces sit behind cargo features so an application compiles only what it uses.
//!
//! # Cargo features
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `file` | [`file`](mod@crate::file): the file provider, Traefik's `providers.file` (YAML, TOML, JSON; watched) |
//!
//! ```
//! use switchyard::rules::{RequestView, Route, RouteTable, Rule};
//!
//! let table = RouteTable::new([Route::new(
//!     "whoami",
//!     Rule::parse("Host(`whoami.localhost`) || PathPrefix(`/whoami`)").unwrap(),
//!     "whoami-service",
//! )]);
//! let (parts, _) = http::Request::get("http://whoami.localhost/").body(()).unwrap().into_parts();
//! let request = RequestView::new(&parts, None).unwrap();
//! assert_eq!(table.route(&request).map(|m| *m.value()), Some("whoami-service"));
//! ```

/// Traefik v3 routing rules and the indexed route table (the `switchyard-rules` crate).
pub use switchyard_rules as rules;

/// Traefik's static and dynamic configuration, the `Provider` trait and the aggregator (the
/// `switchyard-config` crate).
pub use switchyard_config as config;

/// The file provider (the `switchyard-file` crate; cargo feature `file`).
#[cfg(feature = "file")]
pub use switchyard_file as file;

/// The README's Rust examples, compiled and run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
