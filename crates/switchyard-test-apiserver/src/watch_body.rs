//! The body of a watch response: newline-delimited events until the watch is dropped or times out.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;
use tokio::time::Sleep;

/// Streams the events queued for one watch.
pub(crate) struct WatchBody {
    pub(crate) events: mpsc::UnboundedReceiver<Bytes>,
    pub(crate) deadline: Pin<Box<Sleep>>,
}

impl Body for WatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Poll::Ready(event) = self.events.poll_recv(cx) {
            return Poll::Ready(event.map(|line| Ok(Frame::data(line))));
        }
        // `timeoutSeconds` ends the watch cleanly, as the API server does.
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
