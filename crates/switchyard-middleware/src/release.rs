//! Giving an HTTP/1 backend connection back to its pool when the response read from it has ended.

use std::fmt;
use std::sync::Arc;

use hyper::client::conn::http1::SendRequest;

use crate::body::RequestBody;

/// Where a lent backend connection goes back to: implemented by the proxy's connection pools.
pub trait ConnectionPool: Send + Sync + fmt::Debug {
    /// Takes back a connection whose last response was read to the end.
    fn put(&self, sender: SendRequest<RequestBody>);
}

/// An HTTP/1 connection lent to one response body. The body hands it back to its pool when it has been
/// read to the end; when the body is dropped before that, the connection is closed instead.
pub struct Release {
    pool: Arc<dyn ConnectionPool>,
    sender: SendRequest<RequestBody>,
}

impl Release {
    /// Lends `sender`, taken from `pool`, to a response body.
    pub fn new(pool: Arc<dyn ConnectionPool>, sender: SendRequest<RequestBody>) -> Self {
        Self { pool, sender }
    }

    pub(crate) fn reuse(self) {
        self.pool.put(self.sender);
    }
}

impl fmt::Debug for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Release")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}
