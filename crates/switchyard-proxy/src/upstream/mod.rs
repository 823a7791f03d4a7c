//! Talking to backends: where a server is ([`Origin`]), how to reach it ([`TransportSettings`]) and the
//! pooled connections to it ([`Pool`]).

mod error;
mod origin;
mod pool;
mod transport;

pub use error::UpstreamError;
pub use origin::{Origin, OriginError, Protocol};
pub(crate) use pool::Pool;
pub use transport::TransportSettings;
