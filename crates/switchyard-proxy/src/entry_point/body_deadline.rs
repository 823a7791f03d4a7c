//! `respondingTimeouts.readTimeout` over request bodies: Go's server, and so Traefik, bounds the reading
//! of the whole request, body included, so a client that trickles its body (a slow POST) is cut off
//! rather than holding a connection, a task and a backend connection for as long as it likes. The
//! request head has its own timer (hyper's); a body gets what is left of the limit from when its head
//! arrived (approximated as the whole limit, counted from the head).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use switchyard_middleware::{BoxError, RequestBody};
use tokio::time::{Instant, Sleep};

/// The error of a request body that did not arrive within `readTimeout`: the client answered 408, the
/// connection closed, and no mark against the backend.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within readTimeout ({0:?})")]
pub(crate) struct BodyReadTimeout(pub(crate) Duration);

impl BodyReadTimeout {
    /// Whether `error`, or an error it was caused by, is a body read timeout.
    pub(crate) fn caused(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if error.is::<Self>() {
                return true;
            }
            cause = error.source();
        }
        false
    }
}

pin_project! {
    /// A request body that fails with [`BodyReadTimeout`] once its deadline passes.
    struct Deadline<B> {
        #[pin]
        body: B,
        #[pin]
        timer: Sleep,
        limit: Duration,
    }
}

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.body.poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.timer.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyReadTimeout(*this.limit).into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A client's request body, bounded by `limit` from now when one is set and the body is not already
/// over (a request without a body costs no timer); `plain` makes the body without a deadline.
pub(crate) fn client_body<B>(body: B, limit: Option<Duration>, plain: impl FnOnce(B) -> RequestBody) -> RequestBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match limit {
        Some(limit) if !body.is_end_stream() => RequestBody::new(Deadline {
            body,
            timer: tokio::time::sleep_until(Instant::now() + limit),
            limit,
        }),
        _ => plain(body),
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    #[tokio::test]
    async fn a_body_slower_than_the_limit_fails_with_the_timeout() {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        let stream = StreamBody::new(tokio_stream_from(receiver));
        let body = Deadline {
            body: stream,
            timer: tokio::time::sleep(Duration::from_millis(50)),
            limit: Duration::from_millis(50),
        };
        sender.send(Ok(Frame::data(Bytes::from_static(b"a")))).await.unwrap();
        let mut body = std::pin::pin!(body);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "a");
        // Nothing more comes: the deadline ends the body.
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(BodyReadTimeout::caused(error.as_ref()), "{error}");
        drop(sender);
    }

    #[tokio::test]
    async fn a_body_already_over_gets_no_deadline() {
        let body = client_body(
            Full::new(Bytes::new()),
            Some(Duration::from_millis(1)),
            RequestBody::new,
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
    }

    /// A stream of the frames sent on `receiver`.
    fn tokio_stream_from(
        mut receiver: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
    ) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, BoxError>> {
        futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
    }
}
