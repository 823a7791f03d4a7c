//! One entrypoint's router as a tower `Service`, for embedding switchyard in another server.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use switchyard_middleware::{BoxError, RequestBody, ResponseBody};

use crate::connection::{Connection, EntryPointContext};

/// The client address of a request handed to a [`RouterService`]; without it, requests count as coming
/// from `0.0.0.0` (which `ClientIP` rules and `X-Forwarded-For` then see).
///
/// ```
/// use std::net::SocketAddr;
/// use switchyard_proxy::PeerAddr;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(PeerAddr("192.0.2.1:5000".parse::<SocketAddr>().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// One entrypoint's router as a tower `Service`, for embedding switchyard in another server (axum,
/// tonic, a hyper server of your own). It follows live configuration changes like the entrypoint does.
///
/// Get one from [`RunningGateway::service`](crate::RunningGateway::service).
#[derive(Debug, Clone)]
pub struct RouterService {
    entry: Arc<EntryPointContext>,
    tls: bool,
}

impl RouterService {
    pub(crate) fn new(entry: Arc<EntryPointContext>) -> Self {
        Self { entry, tls: false }
    }

    /// Routes requests as if they came over TLS (to the routers with a `tls` section).
    #[must_use]
    pub fn over_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
}

impl<B> tower_service::Service<Request<B>> for RouterService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let peer = req
            .extensions()
            .get::<PeerAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
        let mut connection = Connection::new(Arc::clone(&self.entry), peer, self.tls);
        connection.from_wire = false;
        Box::pin(async move { Ok(connection.handle(req.map(RequestBody::new), None).await) })
    }
}
