//! ACME (RFC 8555) certificate resolvers for switchyard: Traefik's `certificatesResolvers.<name>.acme`
//! over the [`instant_acme`] client, with rustls (ring) and rcgen.
//!
//! - [`CertResolvers`] orders, stores and renews certificates for the names routers ask for (their
//!   `tls.domains`, else the hosts of their `Host` rule), and serves them through
//!   [`switchyard_tls::IssuedCertificates`] from the next handshake.
//! - Challenges: HTTP-01 ([`Http01Tokens`], answered by the gateway's `httpChallenge.entryPoint`
//!   ahead of every router), TLS-ALPN-01 (answered in the handshake for ALPN `acme-tls/1`), DNS-01
//!   through a [`DnsProvider`] ([`HttpReq`] built in). Wildcards need DNS-01.
//! - [`Storage`]: Traefik's `acme.json` ([`FileStore`]), a Kubernetes Secret (`SecretStore`, feature
//!   `kubernetes`) or your own; replicas sharing one storage
//!   order each certificate once (the storage lock), the others pick it up from the storage.
//!
//! The `switchyard` facade wires this in with its `acme` cargo feature.
//!
//! ```
//! use switchyard_acme::Domain;
//!
//! let domain = Domain::new("*.example.com", ["example.com"]);
//! assert!(domain.has_wildcard());
//! ```

mod chains;
mod client;
mod dns;
mod error;
mod file_store;
mod http01;
mod order;
mod propagation;
mod resolvers;
#[cfg(feature = "kubernetes")]
mod secret_store;
mod settings;
mod storage;

pub use dns::{DnsFuture, DnsProvider, HttpReq};
pub use error::AcmeError;
pub use file_store::FileStore;
pub use http01::{HTTP01_PREFIX, Http01Tokens};
/// The Kubernetes client [`SecretStore`] takes (kube-rs), re-exported so that versions match.
#[cfg(feature = "kubernetes")]
pub use kube;
pub use resolvers::{CertResolvers, OrderFailure};
#[cfg(feature = "kubernetes")]
pub use secret_store::{SECRET_DATA_KEY, SecretStore};
pub use storage::{
    Domain, Registration, ResolverData, Storage, StorageLock, StoredAccount, StoredCertificate, StoredData,
};
