//! Traefik's configuration for switchyard: the model, loading, validation, and the providers that
//! discover it.
//!
//! - [`DynamicConfig`]: routers, services, middlewares, servers transports and TLS, in Traefik's schema.
//! - [`load_str`] / [`load_file`]: YAML, TOML or JSON in, with line, column and key path on errors and a
//!   report of unknown keys.

mod duration;
mod dynamic;
mod error;
mod load;

pub use duration::{Duration, DurationError};
pub use dynamic::*;
pub use error::{LoadError, ParseError, UnknownKey};
pub use load::{Format, Loaded, load_file, load_str};
