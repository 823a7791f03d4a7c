//! `inFlightReq`: at most `amount` requests of one source in progress at a time; one more is answered
//! `429 Too Many Requests` with `max connections reached: <amount>`, as Traefik (oxy's `connlimit`) does.
//!
//! A source is the requested host unless `sourceCriterion` says otherwise (see [`crate::source`]). A
//! request holds its slot until its response body has been sent in full, or dropped (the client went
//! away, the response failed), which is when Traefik's handler returns.
//!
//! Deviations from Traefik: `amount` must be above 0 (Traefik accepts 0 and refuses every request); the
//! counts belong to the middleware definition, shared by the routers using it and kept across reloads
//! while the definition is unchanged (Traefik counts per router and starts over at each reload); the
//! slot of a request upgraded to a WebSocket is released once the `101` answer is sent (Traefik holds it
//! for the life of the tunnel).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use switchyard_config::InFlightReq;
use tower::{Layer, Service};

use crate::layers::builtin_layer;
use crate::source::{Source, refusal};
use crate::{BoxError, BuildContext, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

/// The counts of requests in progress per source.
#[derive(Debug)]
struct Limiter {
    amount: i64,
    source: Source,
    in_flight: Mutex<HashMap<Box<[u8]>, i64>>,
}

impl Limiter {
    /// Takes a slot for `key`, or `None` when the source already has `amount` requests in progress.
    fn acquire(self: &Arc<Self>, key: Box<[u8]>) -> Option<Slot> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let count = in_flight.entry(key.clone()).or_insert(0);
        if *count >= self.amount {
            return None;
        }
        *count += 1;
        Some(Slot {
            limiter: Arc::clone(self),
            key,
        })
    }

    #[cfg(test)]
    fn count(&self, key: &[u8]) -> i64 {
        let in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        in_flight.get(key).copied().unwrap_or(0)
    }
}

/// A request's place among its source's requests in progress, given back when dropped.
#[derive(Debug)]
struct Slot {
    limiter: Arc<Limiter>,
    key: Box<[u8]>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = self.limiter.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_flight.get_mut(&self.key) {
            *count -= 1;
            // Forget idle sources so the map does not grow with every host or client ever seen.
            if *count <= 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

pin_project! {
    /// A response body that holds its request's slot until it ends or is dropped.
    struct SlotBody {
        #[pin]
        inner: ResponseBody,
        slot: Option<Slot>,
    }
}

impl Body for SlotBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            this.slot.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Clone)]
struct InFlightLayer(Arc<Limiter>);

impl Layer<HttpService> for InFlightLayer {
    type Service = InFlightService;

    fn layer(&self, inner: HttpService) -> InFlightService {
        InFlightService {
            limiter: Arc::clone(&self.0),
            inner,
        }
    }
}

#[derive(Clone)]
struct InFlightService {
    limiter: Arc<Limiter>,
    inner: HttpService,
}

impl Service<Request<RequestBody>> for InFlightService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = InFlightFuture<<HttpService as Service<Request<RequestBody>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        match self.limiter.acquire(self.limiter.source.key(&req)) {
            Some(slot) => InFlightFuture::Admitted {
                future: self.inner.call(req),
                slot: Some(slot),
            },
            None => {
                let text = format!("max connections reached: {}", self.limiter.amount);
                InFlightFuture::Refused {
                    response: Some(refusal(StatusCode::TOO_MANY_REQUESTS, text)),
                }
            }
        }
    }
}

pin_project! {
    /// The answer of an [`InFlightService`]: refused at once, or the inner one with the slot moved into
    /// its body. Dropping it before the response (the client left) gives the slot back.
    #[project = InFlightProj]
    enum InFlightFuture<F> {
        Refused { response: Option<Response<ResponseBody>> },
        Admitted { #[pin] future: F, slot: Option<Slot> },
    }
}

impl<F> Future for InFlightFuture<F>
where
    F: Future<Output = Result<Response<ResponseBody>, Infallible>>,
{
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            InFlightProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            InFlightProj::Admitted { future, slot } => {
                let Ok(response) = std::task::ready!(future.poll(cx));
                let slot = slot.take();
                Poll::Ready(Ok(response.map(|inner| ResponseBody::new(SlotBody { inner, slot }))))
            }
        }
    }
}

/// `inFlightReq`.
pub(crate) fn in_flight_req(config: &InFlightReq, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    if config.amount <= 0 {
        return Err(MiddlewareError::invalid(
            "amount",
            format!("amount must be above 0 (got {})", config.amount),
        ));
    }
    let source = Source::build(config.source_criterion.as_ref(), Source::Host)?;
    Ok(MiddlewareLayer::new(InFlightLayer(Arc::new(Limiter {
        amount: config.amount,
        source,
        in_flight: Mutex::new(HashMap::new()),
    }))))
}

builtin_layer! {
    /// `inFlightReq` as a tower layer: at most `amount` requests of one source (the requested host
    /// unless `sourceCriterion` says otherwise) in progress at a time, the next answered `429`. The
    /// counts belong to the layer and its clones.
    ///
    /// ```
    /// use switchyard_config::InFlightReq;
    /// use switchyard_middleware::layers::InFlightReqLayer;
    ///
    /// let layer = InFlightReqLayer::new(InFlightReq { amount: 10, ..Default::default() }).unwrap();
    /// # let _ = layer;
    /// assert_eq!(InFlightReqLayer::new(InFlightReq::default()).unwrap_err().field(), "amount");
    /// ```
    InFlightReqLayer(InFlightReq => |config| in_flight_req(config, &BuildContext::new("inFlightReq")))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use switchyard_config::SourceCriterion;
    use tokio::sync::oneshot;
    use tower::ServiceExt;

    use super::*;

    fn limiter(amount: i64) -> Arc<Limiter> {
        Arc::new(Limiter {
            amount,
            source: Source::Host,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    fn request(host: &str) -> Request<RequestBody> {
        Request::builder()
            .header("host", host)
            .body(RequestBody::empty())
            .unwrap()
    }

    #[test]
    fn counts_per_source_and_forgets_idle_ones() {
        let limiter = limiter(2);
        let a1 = limiter.acquire(b"a"[..].into()).unwrap();
        let a2 = limiter.acquire(b"a"[..].into()).unwrap();
        assert!(limiter.acquire(b"a"[..].into()).is_none());
        let b = limiter.acquire(b"b"[..].into()).unwrap();
        drop(a1);
        assert_eq!(limiter.count(b"a"), 1);
        let a3 = limiter.acquire(b"a"[..].into()).unwrap();
        drop((a2, a3, b));
        assert!(limiter.in_flight.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_slot_is_held_until_the_body_is_sent() {
        let limiter = limiter(1);
        let (tx, rx) = oneshot::channel::<()>();
        let rx = Arc::new(Mutex::new(Some(rx)));
        // The inner service answers at once with a body that ends when `tx` fires.
        let inner = HttpService::new(tower::service_fn(move |_req: Request<RequestBody>| {
            let rx = rx.lock().unwrap().take();
            async move { Ok::<_, Infallible>(Response::new(ResponseBody::new(WaitBody(rx)))) }
        }));
        let service = InFlightLayer(Arc::clone(&limiter)).layer(inner);

        let first = service.clone().oneshot(request("h")).await.unwrap();
        assert_eq!(first.status(), 200);
        let refused = service.clone().oneshot(request("h")).await.unwrap();
        assert_eq!(refused.status(), 429);
        let text = refused.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&text[..], b"max connections reached: 1");
        assert_eq!(limiter.count(b"h"), 1, "the response is out but its body is not");

        tx.send(()).unwrap();
        first.into_body().collect().await.unwrap();
        assert_eq!(limiter.count(b"h"), 0);
    }

    #[tokio::test]
    async fn dropping_the_response_gives_the_slot_back() {
        let limiter = limiter(1);
        let inner = HttpService::new(tower::service_fn(|_req: Request<RequestBody>| async {
            Ok::<_, Infallible>(Response::new(ResponseBody::from("x")))
        }));
        let service = InFlightLayer(Arc::clone(&limiter)).layer(inner);
        let response = service.clone().oneshot(request("h")).await.unwrap();
        assert_eq!(limiter.count(b"h"), 1);
        drop(response);
        assert_eq!(limiter.count(b"h"), 0);
        let pending = service.clone().oneshot(request("h"));
        drop(pending);
        assert_eq!(limiter.count(b"h"), 0);
    }

    /// A body with one frame, sent once `rx` fires.
    struct WaitBody(Option<oneshot::Receiver<()>>);

    impl Body for WaitBody {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let Some(rx) = self.0.as_mut() else {
                return Poll::Ready(None);
            };
            let _ = std::task::ready!(Pin::new(rx).poll(cx));
            self.0 = None;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"done")))))
        }
    }

    #[test]
    fn options() {
        let ctx = BuildContext::new("m");
        let zero = InFlightReq::default();
        assert_eq!(in_flight_req(&zero, &ctx).err().unwrap().field(), "amount");
        let both = InFlightReq {
            amount: 1,
            source_criterion: Some(SourceCriterion {
                request_host: true,
                request_header_name: "x".into(),
                ..Default::default()
            }),
        };
        assert_eq!(in_flight_req(&both, &ctx).err().unwrap().field(), "sourceCriterion");
    }
}
