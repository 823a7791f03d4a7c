//! Talking to backends: where a server is ([`Origin`]), how to reach it ([`TransportSettings`]) and the
//! pooled connections to it ([`Pool`]).

mod error;
mod origin;
mod pool;
mod tls;
mod transport;

pub(crate) use error::UpstreamError;
pub(crate) use origin::{Origin, Protocol};
pub use pool::BackendServer;
pub(crate) use pool::Pool;
#[cfg(feature = "tls")]
pub(crate) use tls::negotiated_h2;
pub(crate) use tls::{ClientTls, TlsFailure, TlsTarget};
pub(crate) use transport::TransportSettings;
