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
use crate::respond::Refusal;

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
/// Get one from [`RunningGateway::service`](crate::RunningGateway::service). The client's address comes
/// from a [`PeerAddr`] in the request's extensions, or from what [`peer_from`](Self::peer_from) finds
/// there (axum's `ConnectInfo`, say); without either, requests count as coming from `0.0.0.0`. Once the
/// gateway is shut down, every request is answered `503 the gateway is shut down`.
#[derive(Clone)]
pub struct RouterService {
    entry: Arc<EntryPointContext>,
    tls: bool,
    peer_from: Option<Arc<PeerFrom>>,
}

/// Finds the client's address in a request's extensions.
type PeerFrom = dyn Fn(&http::Extensions) -> Option<SocketAddr> + Send + Sync;

impl std::fmt::Debug for RouterService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterService")
            .field("entry_point", &self.entry.index)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl RouterService {
    pub(crate) fn new(entry: Arc<EntryPointContext>) -> Self {
        Self {
            entry,
            tls: false,
            peer_from: None,
        }
    }

    /// Routes requests as if they came over TLS (to the routers with a `tls` section).
    #[must_use]
    pub fn over_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Reads the client's address from what the embedding server put in the request's extensions,
    /// when the request has no [`PeerAddr`].
    ///
    /// ```no_run
    /// # use std::net::SocketAddr;
    /// # async fn run(gateway: switchyard_proxy::RunningGateway) {
    /// // With axum: `.fallback_service(router)` after `into_make_service_with_connect_info`.
    /// let router = gateway
    ///     .service("web")
    ///     .unwrap()
    ///     .peer_from(|extensions| extensions.get::<SocketAddr>().copied());
    /// # drop(router);
    /// # }
    /// ```
    #[must_use]
    pub fn peer_from<F>(mut self, find: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    {
        self.peer_from = Some(Arc::new(find));
        self
    }

    fn peer(&self, extensions: &http::Extensions) -> SocketAddr {
        let found = extensions
            .get::<PeerAddr>()
            .map(|p| p.0)
            .or_else(|| self.peer_from.as_ref().and_then(|find| find(extensions)));
        found.unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
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
        if self.entry.stopped.is_cancelled() {
            return Box::pin(std::future::ready(Ok(Refusal::ShutDown.into_response())));
        }
        let mut connection = Connection::new(Arc::clone(&self.entry), self.peer(req.extensions()), self.tls);
        connection.from_wire = false;
        let connection = Arc::new(connection);
        Box::pin(async move { Ok(connection.serve(req.map(RequestBody::new), None).await) })
    }
}
