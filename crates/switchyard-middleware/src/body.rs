//! The body types that flow through the proxy: what goes to a backend and what comes back to a client.
//!
//! Both wrap an enum rather than a boxed trait object, so that the common case — a body streamed from one
//! hyper connection to another — costs no allocation and no dynamic dispatch.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use crate::release::Release;

/// The error type of proxied bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// A request body on its way to a backend: streamed from a client connection, held in memory, or
    /// any other body (an embedding framework's own).
    ///
    /// ```
    /// use http_body::Body;
    /// use switchyard_middleware::RequestBody;
    ///
    /// assert!(RequestBody::empty().is_end_stream());
    /// assert_eq!(RequestBody::from("hello").size_hint().exact(), Some(5));
    /// ```
    pub struct RequestBody {
        #[pin]
        inner: Inner,
    }
}

pin_project! {
    /// A response body on its way to a client: streamed from a backend (whose connection goes back to
    /// its pool when the body ends), or produced by the proxy.
    ///
    /// ```
    /// use http_body::Body;
    /// use switchyard_middleware::ResponseBody;
    ///
    /// let body = ResponseBody::from("404 page not found\n");
    /// assert_eq!(body.size_hint().exact(), Some(19));
    /// ```
    pub struct ResponseBody {
        #[pin]
        inner: Inner,
        // What hears how the body ended, with the data bytes sent so far (see `on_end`).
        end: Option<(Box<dyn BodyEnd>, u64)>,
    }

    impl PinnedDrop for ResponseBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some((end, sent)) = this.end.take() {
                // hyper stops polling once `is_end_stream` holds: such a body was sent whole.
                end.ended(sent, this.inner.is_end_stream());
            }
        }
    }
}

/// Hears how a response body ended: see [`ResponseBody::on_end`].
pub trait BodyEnd: Send {
    /// The body ended after `sent` bytes of data: `complete`, or dropped before its end (the client
    /// went away, or the body failed).
    fn ended(self: Box<Self>, sent: u64, complete: bool);
}

pin_project! {
    #[project = InnerProj]
    enum Inner {
        // From a hyper connection; `release` returns a backend connection to its pool at the end.
        Streamed { #[pin] body: Incoming, release: Option<Release> },
        Full { data: Option<Bytes> },
        Boxed { #[pin] body: UnsyncBoxBody<Bytes, BoxError> },
    }
}

impl Inner {
    fn full(data: Bytes) -> Self {
        Self::Full {
            data: (!data.is_empty()).then_some(data),
        }
    }

    fn boxed<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self::Boxed {
            body: UnsyncBoxBody::new(body.map_err(Into::into)),
        }
    }

    fn streamed(body: Incoming, mut release: Option<Release>) -> Self {
        if body.is_end_stream() {
            if let Some(release) = release.take() {
                release.reuse();
            }
        }
        Self::Streamed { body, release }
    }

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            InnerProj::Streamed { mut body, release } => {
                let polled = body.as_mut().poll_frame(cx);
                // hyper stops polling once `is_end_stream` holds, so the end is seen either way.
                let done = match &polled {
                    Poll::Ready(None) => true,
                    Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
                    Poll::Ready(Some(Err(_))) => {
                        drop(release.take());
                        false
                    }
                    Poll::Pending => false,
                };
                if done {
                    if let Some(release) = release.take() {
                        release.reuse();
                    }
                }
                polled.map_err(Into::into)
            }
            InnerProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            InnerProj::Boxed { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Streamed { body, .. } => body.is_end_stream(),
            Self::Full { data } => data.is_none(),
            Self::Boxed { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Streamed { body, .. } => body.size_hint(),
            Self::Full { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Self::Boxed { body } => body.size_hint(),
        }
    }
}

macro_rules! body_type {
    ($name:ident) => {
        impl $name {
            /// An empty body.
            pub fn empty() -> Self {
                Self::from_inner(Inner::Full { data: None })
            }

            /// Wraps any body whose data is `Bytes`.
            pub fn new<B>(body: B) -> Self
            where
                B: Body<Data = Bytes> + Send + 'static,
                B::Error: Into<BoxError>,
            {
                Self::from_inner(Inner::boxed(body))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::empty()
            }
        }

        impl From<Bytes> for $name {
            fn from(data: Bytes) -> Self {
                Self::from_inner(Inner::full(data))
            }
        }

        impl From<&'static str> for $name {
            fn from(data: &'static str) -> Self {
                Bytes::from_static(data.as_bytes()).into()
            }
        }

        impl From<String> for $name {
            fn from(data: String) -> Self {
                Bytes::from(data).into()
            }
        }

        impl Body for $name {
            type Data = Bytes;
            type Error = BoxError;

            fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
                self.poll_inner(cx)
            }

            fn is_end_stream(&self) -> bool {
                self.inner.is_end_stream()
            }

            fn size_hint(&self) -> SizeHint {
                self.inner.size_hint()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("size_hint", &self.inner.size_hint())
                    .finish()
            }
        }
    };
}

body_type!(RequestBody);
body_type!(ResponseBody);

impl RequestBody {
    fn from_inner(inner: Inner) -> Self {
        Self { inner }
    }

    fn poll_inner(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().inner.poll_frame(cx)
    }
}

impl From<Incoming> for RequestBody {
    fn from(body: Incoming) -> Self {
        Self::from_inner(Inner::Streamed { body, release: None })
    }
}

impl ResponseBody {
    fn from_inner(inner: Inner) -> Self {
        Self { inner, end: None }
    }

    /// A backend's body; `release` returns its connection to the pool once the body has ended.
    pub fn upstream(body: Incoming, release: Option<Release>) -> Self {
        Self::from_inner(Inner::streamed(body, release))
    }

    /// The same body, which tells `end` how it ended and how many bytes of data it sent: when its last
    /// frame is polled, or when it is dropped. An observer of requests hears of the end of each
    /// response this way, for no allocation of the body's (a body already watched is wrapped once).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use http_body_util::BodyExt;
    /// use switchyard_middleware::{BodyEnd, ResponseBody};
    ///
    /// struct Heard(Arc<Mutex<Option<(u64, bool)>>>);
    /// impl BodyEnd for Heard {
    ///     fn ended(self: Box<Self>, sent: u64, complete: bool) {
    ///         *self.0.lock().unwrap() = Some((sent, complete));
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let heard = Arc::new(Mutex::new(None));
    /// let body = ResponseBody::from("hello").on_end(Box::new(Heard(Arc::clone(&heard))));
    /// body.collect().await.unwrap();
    /// assert_eq!(*heard.lock().unwrap(), Some((5, true)));
    /// # }
    /// ```
    #[must_use]
    pub fn on_end(self, end: Box<dyn BodyEnd>) -> Self {
        let mut body = if self.end.is_some() { Self::new(self) } else { self };
        body.end = Some((end, 0));
        body
    }

    fn poll_inner(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Some((_, sent)) = this.end.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        *sent += data.len() as u64;
                    }
                }
                Poll::Ready(None) => {
                    if let Some((end, sent)) = this.end.take() {
                        end.ended(sent, true);
                    }
                }
                Poll::Ready(Some(Err(_))) | Poll::Pending => {}
            }
        }
        polled
    }
}

/// A body that was partly read — to sniff it, to decide on it, to buffer up to a limit — sent on whole:
/// the chunks already read, then what ended the reading (trailers or an error), then the rest.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::BodyExt;
/// use switchyard_middleware::{Resumed, ResponseBody};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let rest = ResponseBody::from(" world");
/// let body = Resumed::new([Bytes::from("hello")], None, Some(rest));
/// assert_eq!(body.collect().await.unwrap().to_bytes(), "hello world");
/// # }
/// ```
pub struct Resumed<B> {
    read: std::collections::VecDeque<Bytes>,
    tail: Option<Result<Frame<Bytes>, BoxError>>,
    rest: Option<B>,
}

impl<B> Resumed<B> {
    /// The chunks `read`, then `tail` (trailers or the error that ended the reading, if any), then
    /// `rest` (none when the body was read to its end).
    pub fn new(
        read: impl IntoIterator<Item = Bytes>,
        tail: Option<Result<Frame<Bytes>, BoxError>>,
        rest: Option<B>,
    ) -> Self {
        Self {
            read: read.into_iter().collect(),
            tail,
            rest,
        }
    }
}

impl<B> Body for Resumed<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(chunk) = this.read.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(tail) = this.tail.take() {
            // After trailers or an error, nothing follows.
            this.rest = None;
            return Poll::Ready(Some(tail));
        }
        match this.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty() && self.tail.is_none() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self.read.iter().map(|b| b.len() as u64).sum();
        match (&self.tail, &self.rest) {
            (None, Some(rest)) => {
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + read);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + read);
                }
                hint
            }
            (None, None) => SizeHint::with_exact(read),
            _ => {
                let mut hint = SizeHint::new();
                hint.set_lower(read);
                hint
            }
        }
    }
}

impl<B> std::fmt::Debug for Resumed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumed")
            .field("read", &self.read.len())
            .field("rest", &self.rest.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http_body_util::BodyExt;

    use super::*;

    /// A watcher's name, the bytes it heard were sent, and whether the body was complete.
    type End = (&'static str, u64, bool);

    /// Every end heard, in order.
    #[derive(Clone, Default)]
    struct Ends(Arc<Mutex<Vec<End>>>);

    struct Heard(&'static str, Ends);

    impl BodyEnd for Heard {
        fn ended(self: Box<Self>, sent: u64, complete: bool) {
            self.1.0.lock().expect("lock").push((self.0, sent, complete));
        }
    }

    impl Ends {
        fn watch(&self, name: &'static str) -> Box<dyn BodyEnd> {
            Box::new(Heard(name, self.clone()))
        }

        fn heard(&self) -> Vec<End> {
            self.0.lock().expect("lock").clone()
        }
    }

    #[tokio::test]
    async fn a_watched_body_reports_its_end_once_and_a_dropped_one_its_abort() {
        let ends = Ends::default();
        let chunks = [
            Ok::<_, BoxError>(Frame::data(Bytes::from("abc"))),
            Ok(Frame::data(Bytes::from("de"))),
        ];
        let stream = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
        let mut body = ResponseBody::new(stream).on_end(ends.watch("whole"));
        while body.frame().await.is_some() {}
        drop(body);
        assert_eq!(ends.heard(), [("whole", 5, true)]);

        let chunks = [
            Ok::<_, BoxError>(Frame::data(Bytes::from("abc"))),
            Ok(Frame::data(Bytes::from("de"))),
        ];
        let stream = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
        let mut body = ResponseBody::new(stream).on_end(ends.watch("cut"));
        body.frame().await;
        drop(body);
        assert_eq!(ends.heard()[1], ("cut", 3, false));
    }

    #[tokio::test]
    async fn two_watchers_both_hear_the_end() {
        let ends = Ends::default();
        let body = ResponseBody::from("hello")
            .on_end(ends.watch("inner"))
            .on_end(ends.watch("outer"));
        assert_eq!(body.collect().await.expect("a body").to_bytes(), "hello");
        let mut heard = ends.heard();
        heard.sort_unstable();
        assert_eq!(heard, [("inner", 5, true), ("outer", 5, true)]);
    }
}
