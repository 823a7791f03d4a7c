//! TLS with rustls: certificates, stores and options for entrypoints, and TLS towards backends.

mod error;
mod pem;

pub use error::TlsError;
pub(crate) use pem::{certificates, describe, private_key};

/// The crypto provider every TLS configuration of switchyard uses (ring).
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
