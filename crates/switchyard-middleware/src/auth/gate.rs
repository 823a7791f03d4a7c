//! The service shape the authentication middlewares share: decide about a request, possibly
//! asynchronously (a bcrypt check off the runtime's threads, a call to an authentication server), then
//! answer it or let it through, possibly reshaping the response on the way back.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};

use crate::{HttpService, MiddlewareLayer, RequestBody, ResponseBody};

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Reshapes the response of a request that was let through.
pub(crate) type Reshape = Box<dyn FnOnce(Response<ResponseBody>) -> Response<ResponseBody> + Send>;

/// What an authentication step decided.
pub(crate) enum Verdict {
    /// Let the (possibly changed) request through, reshaping its response if given.
    Pass(Request<RequestBody>, Option<Reshape>),
    /// Answer the client without going further.
    Answer(Response<ResponseBody>),
}

/// An authentication step.
pub(crate) trait Gate: Send + Sync + 'static {
    /// Decides about `req`.
    fn decide(self: Arc<Self>, req: Request<RequestBody>) -> BoxFuture<Verdict>;
}

/// Boxes a gate as a middleware layer.
pub(crate) fn gate<G: Gate>(gate: G) -> MiddlewareLayer {
    MiddlewareLayer::new(GateLayer(Arc::new(gate)))
}

struct GateLayer<G>(Arc<G>);

impl<G> Clone for GateLayer<G> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<G: Gate> Layer<HttpService> for GateLayer<G> {
    type Service = GateService<G>;

    fn layer(&self, inner: HttpService) -> Self::Service {
        GateService {
            gate: Arc::clone(&self.0),
            inner,
        }
    }
}

struct GateService<G> {
    gate: Arc<G>,
    inner: HttpService,
}

impl<G> Clone for GateService<G> {
    fn clone(&self) -> Self {
        Self {
            gate: Arc::clone(&self.gate),
            inner: self.inner.clone(),
        }
    }
}

impl<G: Gate> Service<Request<RequestBody>> for GateService<G> {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        // The service polled ready is the one that gets the request; a fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let decision = Arc::clone(&self.gate).decide(req);
        Box::pin(async move {
            match decision.await {
                Verdict::Answer(response) => Ok(response),
                Verdict::Pass(req, reshape) => {
                    let Ok(response) = inner.call(req).await;
                    Ok(match reshape {
                        Some(reshape) => reshape(response),
                        None => response,
                    })
                }
            }
        })
    }
}
