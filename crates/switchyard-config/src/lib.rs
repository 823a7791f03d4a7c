//! Traefik's configuration for switchyard: the model, loading, validation, and the providers that
//! discover it.
//!
//! - [`DynamicConfig`]: routers, services, middlewares, servers transports and TLS, in Traefik's schema.
//! - [`load_str`] / [`load_file`]: YAML, TOML or JSON in, with line, column and key path on errors and a
//!   report of unknown keys.
//! - [`Provider`]: a source of configuration snapshots; [`Aggregator`] runs providers, merges their latest
//!   snapshots under `name@provider` names, validates, throttles bursts and publishes a [`RuntimeConfig`]:
//!   what is broken is reported per element ([`Report`]) and left out, the rest goes live.

mod aggregator;
mod duration;
mod dynamic;
mod error;
mod load;
mod merge;
mod names;
mod provider;
mod report;
mod server_url;
mod static_config;
mod tcp_validation;
mod udp_validation;
mod validate;

pub use aggregator::{
    Aggregator, AggregatorError, DEFAULT_THROTTLE, MAX_WARNINGS, ProviderStatus, Published, ReportFeedback,
    RunningAggregator,
};
pub use duration::{Duration, DurationError};
pub use dynamic::*;
pub use error::{LoadError, ParseError, UnknownKey};
pub use load::{Format, Loaded, load_file, load_str};
pub use merge::DEFAULT_TLS_NAME;
pub use names::{PROVIDER_SEPARATOR, qualify, split_qualified};
pub use provider::{
    MemoryHandle, MemoryProvider, Provider, ProviderConfig, ProviderError, ProviderReport, ProviderSink,
};
pub use report::{ConfigError, ElementReport, Problem, Report, Status, TcpReport, UdpReport};
pub use server_url::{ServerScheme, ServerUrl, ServerUrlError};
pub use static_config::*;
pub use tcp_validation::MAX_HEALTH_PAYLOAD;
pub use validate::{RuntimeConfig, ValidationOptions};
