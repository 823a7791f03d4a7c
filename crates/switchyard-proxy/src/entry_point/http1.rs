//! Serving an HTTP/1.1 connection with hyper, through a socket writer that can put informational
//! answers (`103 Early Hints`) on the wire while a request waits for its final answer.
//!
//! hyper's server cannot send 1xx answers itself. While a request waits, hyper keeps reading the socket
//! to notice a client that leaves; [`InterimIo`] writes the waiting informational heads when that read
//! is polled (the queue wakes the connection for it), or just before hyper writes its next bytes. A head
//! goes out only when everything hyper wrote before is already on the socket, so it can never split
//! another answer; one that would is dropped, as RFC 8297 lets intermediaries do.
//!
//! The same writer gives hyper's own `431` for an oversized request head Traefik's text.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::body_deadline::client_body;
use crate::connection::Connection;
use crate::interim::{Http1Interim, InterimSink};
use switchyard_middleware::RequestBody;

/// What hyper writes for a request head over `maxHeaderBytes`, and what Go's server writes instead.
const HYPER_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n";
const TRAEFIK_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large";

/// Serves HTTP/1.1 (with upgrades) on a connection until it closes, or finishes the request in flight
/// and closes once `drain` is cancelled.
pub(super) async fn serve<S>(
    stream: S,
    connection: Connection,
    builder: &http1::Builder,
    drain: CancellationToken,
) -> Result<(), hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let queue = Arc::new(Http1Interim::default());
    let io = InterimIo::new(stream, Arc::clone(&queue));
    let body_timeout = connection.entry.body_timeout;
    let connection = Arc::new(connection);
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let connection = Arc::clone(&connection);
        let sink = (req.version() == http::Version::HTTP_11).then(|| InterimSink::Http1(Arc::clone(&queue)));
        let queue = Arc::clone(&queue);
        async move {
            let req = req.map(|body| client_body(body, body_timeout, RequestBody::from));
            let response = connection.serve(req, sink).await;
            queue.final_answer();
            Ok::<_, Infallible>(response)
        }
    });
    let serving = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    tokio::pin!(serving);
    tokio::select! {
        done = serving.as_mut() => done,
        () = drain.cancelled() => {
            serving.as_mut().graceful_shutdown();
            serving.await
        }
    }
}

pin_project! {
    /// A client socket that writes waiting informational heads ahead of hyper's output.
    struct InterimIo<S> {
        #[pin]
        inner: S,
        queue: Arc<Http1Interim>,
        // Informational heads being written, and how much of them is written.
        writing: Option<(Bytes, usize)>,
        // Whether all that hyper wrote is on the socket (hyper flushed since its last write).
        settled: bool,
        // Whether the bytes being written replace hyper's current write (its `431`).
        replacing: bool,
    }
}

impl<S> InterimIo<S> {
    fn new(inner: S, queue: Arc<Http1Interim>) -> Self {
        Self {
            inner,
            queue,
            writing: None,
            settled: true,
            replacing: false,
        }
    }
}

impl<S: AsyncWrite> InterimIo<S> {
    /// Writes the waiting heads, if any may go now; `Pending` while the socket takes no more.
    fn poll_interim(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if this.writing.is_none() && this.queue.is_waiting() {
            let heads = this.queue.take();
            if *this.settled && !heads.is_empty() {
                *this.writing = Some((Bytes::from(heads), 0));
            }
        }
        while let Some((heads, written)) = this.writing.as_mut() {
            match this.inner.as_mut().poll_write(cx, &heads[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    *written += n;
                    if *written == heads.len() {
                        *this.writing = None;
                        return this.inner.poll_flush(cx);
                    }
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncRead for InterimIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.writing.is_some() || self.queue.is_waiting() {
            std::task::ready!(self.as_mut().poll_interim(cx))?;
        }
        let this = self.project();
        let read = this.inner.poll_read(cx, buf);
        if read.is_pending() {
            this.queue.register(cx.waker());
        }
        read
    }
}

impl<S: AsyncWrite> AsyncWrite for InterimIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if !self.replacing && self.settled && buf.starts_with(HYPER_431) {
            // hyper answers a head over its buffer before dispatching it, then closes the connection.
            let this = self.as_mut().project();
            *this.writing = Some((Bytes::from_static(TRAEFIK_431), 0));
            *this.replacing = true;
        }
        if self.writing.is_some() || self.queue.is_waiting() {
            std::task::ready!(self.as_mut().poll_interim(cx))?;
        }
        let this = self.project();
        if std::mem::take(this.replacing) {
            return Poll::Ready(Ok(buf.len()));
        }
        *this.settled = false;
        this.inner.poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.writing.is_some() {
            std::task::ready!(self.as_mut().poll_interim(cx))?;
        }
        let this = self.project();
        let flushed = this.inner.poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            *this.settled = true;
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
