//! TLS for switchyard, with rustls: certificates and keys from paths or inline PEM, the certificate
//! store that answers SNI, Traefik's TLS options as rustls server configurations, and client
//! configurations for HTTPS towards backends (`serversTransports`) and authentication servers.
//!
//! Nothing here does I/O on sockets; the proxy runs the handshakes.

mod client;
mod error;
mod go_names;
mod host_map;
mod issued;
mod options;
mod pem;
mod server;
mod store;

pub use client::{auth_client_config, client_config, server_name};
pub use error::TlsError;
pub use go_names::supported_cipher_suites;
pub use host_map::HostMap;
pub use issued::{ACME_TLS_ALPN, IssuedCertificates};
pub use options::server_config;
pub use pem::{certificates, describe, private_key};
pub use server::{DEFAULT_OPTIONS, ServerTls};
pub use store::{CertificateFacts, CertificateStore, GENERATED_COMMON_NAME, TlsFinding, with_certificate};

/// The crypto provider every TLS configuration of switchyard uses (ring).
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
