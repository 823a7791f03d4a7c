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
    }
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
                Self {
                    inner: Inner::Full { data: None },
                }
            }

            /// Wraps any body whose data is `Bytes`.
            pub fn new<B>(body: B) -> Self
            where
                B: Body<Data = Bytes> + Send + 'static,
                B::Error: Into<BoxError>,
            {
                Self {
                    inner: Inner::boxed(body),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::empty()
            }
        }

        impl From<Bytes> for $name {
            fn from(data: Bytes) -> Self {
                Self {
                    inner: Inner::full(data),
                }
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
                self.project().inner.poll_frame(cx)
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

impl From<Incoming> for RequestBody {
    fn from(body: Incoming) -> Self {
        Self {
            inner: Inner::Streamed { body, release: None },
        }
    }
}

impl ResponseBody {
    /// A backend's body; `release` returns its connection to the pool once the body has ended.
    pub fn upstream(body: Incoming, release: Option<Release>) -> Self {
        Self {
            inner: Inner::streamed(body, release),
        }
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
