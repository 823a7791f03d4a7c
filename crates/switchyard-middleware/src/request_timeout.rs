//! The internal `RequestTimeout` middleware: one deadline for the whole response (the Gateway API's
//! `timeouts.request`). The response headers must come before it, or the client gets 504; the body
//! must end before it, or it is cut off with an error (the connection is aborted: the status is
//! already sent).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use switchyard_config::RequestTimeout;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::stack::{Answer, AsyncStep, async_step};
use crate::{BoxError, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody, response};

/// The deadline's length.
struct Deadline(Duration);

/// The error that cuts off a body still streaming at the deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request timeout ({0:?}) passed before the response ended")]
pub(crate) struct TimedOut(Duration);

impl AsyncStep for Deadline {
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer {
        let length = self.0;
        let deadline = Instant::now() + length;
        let answer = inner.clone().oneshot(req);
        Box::pin(async move {
            let Ok(Ok(response)) = tokio::time::timeout_at(deadline, answer).await else {
                return Ok::<_, Infallible>(response::error_response(StatusCode::GATEWAY_TIMEOUT));
            };
            // The timer of the body: one allocation per response of a route with a timeout.
            Ok(response.map(|body| {
                ResponseBody::new(Bounded {
                    body,
                    sleep: Box::pin(tokio::time::sleep_until(deadline)),
                    length,
                })
            }))
        })
    }
}

/// A response body that fails once the deadline passes before it ends.
struct Bounded {
    body: ResponseBody,
    sleep: Pin<Box<Sleep>>,
    length: Duration,
}

impl Body for Bounded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(TimedOut(self.length))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Builds the middleware; a timeout of zero or less is no limit, and then no middleware is needed.
pub(crate) fn request_timeout(config: &RequestTimeout) -> Result<MiddlewareLayer, MiddlewareError> {
    let Some(length) = config.timeout.to_std().filter(|d| !d.is_zero()) else {
        return Err(MiddlewareError::invalid(
            "timeout",
            "a request timeout must be positive",
        ));
    };
    Ok(async_step(Arc::new(Deadline(length))))
}

#[cfg(test)]
mod tests {
    use http::Response;
    use http_body_util::BodyExt;
    use tower::Layer;

    use super::*;

    /// A service that answers after `head`, then sends `chunks` chunks `gap` apart.
    fn slow(head: Duration, chunks: usize, gap: Duration) -> HttpService {
        HttpService::new(tower::service_fn(move |_req: Request<RequestBody>| async move {
            tokio::time::sleep(head).await;
            let stream = futures_util::stream::unfold(0, move |i| async move {
                if i == chunks {
                    return None;
                }
                tokio::time::sleep(gap).await;
                Some((Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x"))), i + 1))
            });
            Ok::<_, Infallible>(Response::new(ResponseBody::new(http_body_util::StreamBody::new(
                stream,
            ))))
        }))
    }

    async fn run(service: HttpService, timeout_ms: i64) -> (StatusCode, Result<Bytes, BoxError>) {
        let config = RequestTimeout {
            timeout: switchyard_config::Duration::from_millis(timeout_ms),
        };
        let service = request_timeout(&config).unwrap().layer(service);
        let response = service.oneshot(Request::new(RequestBody::empty())).await.unwrap();
        let status = response.status();
        (status, response.into_body().collect().await.map(|c| c.to_bytes()))
    }

    #[tokio::test(start_paused = true)]
    async fn late_headers_get_504() {
        let (status, _) = run(slow(Duration::from_millis(300), 0, Duration::ZERO), 200).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_still_streaming_at_the_deadline_is_cut_off() {
        let (status, body) = run(slow(Duration::from_millis(50), 10, Duration::from_millis(50)), 200).await;
        assert_eq!(status, StatusCode::OK);
        let error = body.unwrap_err();
        assert!(error.is::<TimedOut>(), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_within_the_deadline_is_whole() {
        let (status, body) = run(slow(Duration::from_millis(50), 3, Duration::from_millis(20)), 200).await;
        assert_eq!((status, body.unwrap()), (StatusCode::OK, Bytes::from_static(b"xxx")));
    }

    #[test]
    fn no_limit_is_refused() {
        let config = RequestTimeout::default();
        assert_eq!(request_timeout(&config).err().unwrap().field(), "timeout");
    }
}
