//! Serving an HTTP/2 connection (h2c by prior knowledge, or h2 by ALPN) on the `h2` crate, one task per
//! stream, so that a stream can send informational answers (`103 Early Hints`) before its final one,
//! which hyper's HTTP/2 server cannot.
//!
//! What hyper's server did is done here too: flow control both ways, trailers, a `date` header and
//! `content-length` from the body's size on answers, connection-specific headers left out, a stream
//! reset by the client ends its handling, and a drain sends GOAWAY and lets open streams finish.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::body_deadline::client_body;
use super::control_frames::{ControlFrameBudget, Flood};
use crate::connection::Connection;
use crate::interim::{Http2Interim, InterimSink};
use switchyard_middleware::{RequestBody, ResponseBody};

/// The HTTP/2 settings of an entrypoint (`http2.*`, and the head limit of `http.maxHeaderBytes`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Http2Settings {
    pub(crate) max_concurrent_streams: u32,
    pub(crate) max_header_list_size: u32,
    /// `http2.maxDecoderHeaderTableSize`: the HPACK table the client may use towards us.
    pub(crate) header_table_size: u32,
}

impl Http2Settings {
    fn builder(self) -> h2::server::Builder {
        let mut builder = h2::server::Builder::new();
        builder
            .max_concurrent_streams(self.max_concurrent_streams)
            .max_header_list_size(self.max_header_list_size)
            .header_table_size(self.header_table_size)
            // hyper's server defaults, which switchyard served with so far.
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 20)
            .max_send_buffer_size(400 << 10);
        builder
    }
}

/// Serves HTTP/2 on a connection until it closes, or sends GOAWAY once `drain` is cancelled and ends
/// when the open streams are done.
pub(super) async fn serve<S>(
    stream: S,
    connection: Connection,
    settings: Http2Settings,
    handshake_timeout: Duration,
    drain: CancellationToken,
) -> Result<(), h2::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let flood = Arc::new(Flood::default());
    let stream = ControlFrameBudget::new(stream, Arc::clone(&flood));
    let handshake = settings.builder().handshake::<_, Bytes>(stream);
    let Ok(handshaken) = tokio::time::timeout(handshake_timeout, handshake).await else {
        return Ok(());
    };
    let mut h2 = handshaken?;
    let connection = Arc::new(connection);
    // Cancelled by the entrypoint's drain, or by an answer that closes the connection
    // (`keepAliveMaxRequests`), which HTTP/2 says with GOAWAY, as Go's server does.
    let drain = drain.child_token();
    let mut draining = false;
    let mut flooded = false;
    loop {
        tokio::select! {
            accepted = h2.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    tokio::spawn(serve_stream(request, respond, Arc::clone(&connection), drain.clone()));
                }
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            },
            () = drain.cancelled(), if !draining => {
                h2.graceful_shutdown();
                draining = true;
            }
            () = flood.detected(), if !flooded => {
                tracing::debug!(
                    target: "switchyard::entrypoint",
                    "HTTP/2 PING/SETTINGS flood: GOAWAY ENHANCE_YOUR_CALM"
                );
                h2.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                flooded = true;
            }
        }
    }
}

/// Handles one stream: the request through the router, informational answers as they come, then the
/// final answer; a reset from the client drops the handling.
async fn serve_stream(
    request: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    connection: Arc<Connection>,
    drain: CancellationToken,
) {
    let (parts, body) = request.into_parts();
    let length = content_length(&parts.headers);
    let body = client_body(
        RecvBody::new(body, length),
        connection.entry.body_timeout,
        RequestBody::new,
    );
    let request = Request::from_parts(parts, body);
    let interim = Arc::new(Http2Interim::default());
    let handling = connection.serve(request, Some(InterimSink::Http2(Arc::clone(&interim))));
    tokio::pin!(handling);
    let response = loop {
        let event = tokio::select! {
            response = &mut handling => Handling::Done(response),
            () = interim.arrived() => Handling::Interim,
            _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => Handling::Reset,
        };
        match event {
            Handling::Done(response) => break response,
            Handling::Interim => {
                for head in interim.take() {
                    let _ = respond.send_informational(head);
                }
            }
            Handling::Reset => return,
        }
    };
    if response.headers().get(CONNECTION).is_some_and(|c| c == "close") {
        drain.cancel();
    }
    if let Err(error) = send_response(respond, response).await {
        tracing::debug!(target: "switchyard::entrypoint", %error, "HTTP/2 answer not sent whole");
    }
}

/// What happened first while a stream's request was handled.
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived on the stack; boxing would allocate once per request"
)]
enum Handling {
    Done(Response<ResponseBody>),
    Interim,
    Reset,
}

/// Sends the head, then the body with flow control, then the trailers.
async fn send_response(
    mut respond: h2::server::SendResponse<Bytes>,
    response: Response<ResponseBody>,
) -> Result<(), h2::Error> {
    let (mut parts, body) = response.into_parts();
    prepare_head(&mut parts.headers, &body);
    let end = body.is_end_stream();
    let mut send = respond.send_response(Response::from_parts(parts, ()), end)?;
    if end {
        return Ok(());
    }
    let mut body = std::pin::pin!(body);
    loop {
        let Some(frame) = next_frame(body.as_mut(), &mut send).await else {
            return Ok(());
        };
        match frame {
            None => return send.send_data(Bytes::new(), true),
            Some(Err(error)) => {
                tracing::debug!(target: "switchyard::entrypoint", %error, "answer body failed");
                send.send_reset(h2::Reason::INTERNAL_ERROR);
                return Ok(());
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => send_data(&mut send, data, body.is_end_stream()).await?,
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        return send.send_trailers(trailers);
                    }
                }
            },
        }
        if body.is_end_stream() {
            return Ok(());
        }
    }
}

/// The answer body's next frame (`None` inside: the body ended), or `None` when the client reset the
/// stream first.
async fn next_frame(
    mut body: Pin<&mut ResponseBody>,
    send: &mut h2::SendStream<Bytes>,
) -> Option<Option<Result<Frame<Bytes>, <ResponseBody as Body>::Error>>> {
    tokio::select! {
        frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)) => Some(frame),
        reason = std::future::poll_fn(|cx| send.poll_reset(cx)) => {
            tracing::debug!(target: "switchyard::entrypoint", ?reason, "the client reset the stream");
            None
        }
    }
}

/// Sends a chunk as the peer's flow control lets it through.
async fn send_data(send: &mut h2::SendStream<Bytes>, mut data: Bytes, end: bool) -> Result<(), h2::Error> {
    if data.is_empty() {
        return if end { send.send_data(data, true) } else { Ok(()) };
    }
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let granted = match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err(h2::Error::from(h2::Reason::STREAM_CLOSED)),
        };
        let chunk = data.split_to(granted.min(data.len()));
        send.send_data(chunk, end && data.is_empty())?;
    }
    Ok(())
}

/// What hyper's server does to an answer's head: no connection-specific field (HTTP/2 forbids them),
/// a `date`, and the length when the body knows it.
fn prepare_head(headers: &mut HeaderMap, body: &ResponseBody) {
    for name in [
        CONNECTION,
        TRANSFER_ENCODING,
        UPGRADE,
        HeaderName::from_static("keep-alive"),
    ] {
        headers.remove(name);
    }
    if headers.get(TE).is_some_and(|te| te != "trailers") {
        headers.remove(TE);
    }
    if !headers.contains_key(DATE) {
        headers.insert(DATE, crate::date::now());
    }
    if let (false, Some(length)) = (headers.contains_key(CONTENT_LENGTH), body.size_hint().exact()) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A request body read from an HTTP/2 stream, its flow-control window given back as it is read.
struct RecvBody {
    recv: h2::RecvStream,
    length: Option<u64>,
    data_done: bool,
}

impl RecvBody {
    fn new(recv: h2::RecvStream, length: Option<u64>) -> Self {
        Self {
            recv,
            length,
            data_done: false,
        }
    }
}

impl Body for RecvBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        if !self.data_done {
            match std::task::ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.length = self.length.map(|left| left.saturating_sub(data.len() as u64));
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => self.data_done = true,
            }
        }
        match std::task::ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(error))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match (self.length, self.recv.is_end_stream()) {
            (_, true) => SizeHint::with_exact(0),
            (Some(length), false) => SizeHint::with_exact(length),
            (None, false) => SizeHint::default(),
        }
    }
}
