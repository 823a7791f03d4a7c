//! `buffering`: reads a whole request before sending it to the service, and a whole response before
//! sending it to the client, with size limits and an optional replay — oxy's `buffer`, which Traefik uses.
//!
//! - A request whose `Content-Length` or body exceeds `maxRequestBodyBytes` (0: no limit) gets `413`
//!   with the text `Request Entity Too Large`; the service never sees it. The first
//!   `memRequestBodyBytes` (default 1 MiB; 0 means the default) are kept in memory, the rest in a
//!   temporary file, deleted when the request is done. The request goes on with a `Content-Length`.
//! - A response body exceeding `maxResponseBodyBytes` (0: no limit) is replaced by `500` (`Internal
//!   Server Error`); `memResponseBodyBytes` (default 1 MiB) works as for requests. Responses that have no
//!   body (`HEAD`, 1xx, 204, 304, `Content-Length: 0`, a failed gRPC status) are not read, and a `101`
//!   (upgrade) passes unbuffered, as oxy leaves hijacked connections alone.
//! - `retryExpression` replays the buffered request while it holds, at most ten attempts in all as oxy,
//!   with `Attempts()` (the attempt just made, from 1), `ResponseCode()`, `IsNetworkError()` and
//!   `RequestMethod()` (compared with a string, `RequestMethod() == "GET"`).
//!
//! Deviations: `IsNetworkError()` is true for answers the proxy made up because the exchange with a
//! server failed ([`UpstreamFailure`]), where oxy tests for any `502`/`504`, a backend's own included;
//! trailers of a buffered body are dropped, as Go's buffer does; a body that fails while being read
//! answers `502` for a response and `400` for a request (oxy answers its generic error statuses).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use switchyard_config::Buffering;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tower::ServiceExt;

use crate::circuit_breaker::expression::{self, Expr, Kind, Language, Literal, Value, numbers};
use crate::layers::builtin_layer;
use crate::stack::{Answer, AsyncStep, async_step};
use crate::{
    BoxError, BuildContext, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody, UpstreamFailure,
};

/// Bytes kept in memory when the `mem*BodyBytes` option is 0.
const DEFAULT_MEM_BYTES: u64 = 1024 * 1024;
/// oxy's bound on replays: attempts in all.
const MAX_ATTEMPTS: u32 = 10;

#[derive(Debug)]
enum Fact {
    Attempts,
    ResponseCode,
    IsNetworkError,
    RequestMethod,
}

struct Replay;

impl Language for Replay {
    type Call = Fact;

    fn call(name: &str, args: &[Literal]) -> Result<(Fact, Kind), String> {
        let (fact, kind) = match name {
            "Attempts" => (Fact::Attempts, Kind::Number),
            "ResponseCode" => (Fact::ResponseCode, Kind::Number),
            "IsNetworkError" => (Fact::IsNetworkError, Kind::Bool),
            "RequestMethod" => (Fact::RequestMethod, Kind::Text),
            _ => {
                return Err(format!(
                    "unknown function `{name}` (Attempts, ResponseCode, IsNetworkError, RequestMethod)"
                ));
            }
        };
        numbers::<0>(name, args)?;
        Ok((fact, kind))
    }
}

pub(crate) fn buffering(config: &Buffering, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    let size = |value: i64, field: &str| {
        u64::try_from(value).map_err(|_| MiddlewareError::invalid(field, format!("must be 0 or more, not {value}")))
    };
    let mem = |value: i64, field: &str| size(value, field).map(|v| if v == 0 { DEFAULT_MEM_BYTES } else { v });
    let retry = if config.retry_expression.is_empty() {
        None
    } else {
        Some(
            expression::parse::<Replay>(&config.retry_expression)
                .map_err(|reason| MiddlewareError::invalid("retryExpression", reason))?,
        )
    };
    let spooler = Spooler {
        max_request: limit(size(config.max_request_body_bytes, "maxRequestBodyBytes")?),
        mem_request: mem(config.mem_request_body_bytes, "memRequestBodyBytes")?,
        max_response: limit(size(config.max_response_body_bytes, "maxResponseBodyBytes")?),
        mem_response: mem(config.mem_response_body_bytes, "memResponseBodyBytes")?,
        retry,
    };
    Ok(async_step(Arc::new(spooler)))
}

fn limit(value: u64) -> Option<u64> {
    (value > 0).then_some(value)
}

/// A built `buffering` middleware: it spools bodies (in memory, then in a temporary file) within its
/// limits, and replays requests while its retry expression holds.
struct Spooler {
    max_request: Option<u64>,
    mem_request: u64,
    max_response: Option<u64>,
    mem_response: u64,
    retry: Option<Expr<Fact>>,
}

/// Why a body could not be buffered.
#[derive(Debug, thiserror::Error)]
enum SpoolError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading the body failed: {0}")]
    Body(BoxError),
    #[error("the temporary file failed: {0}")]
    File(#[from] io::Error),
}

/// A whole body: its first bytes in memory, the rest in a temporary file.
#[derive(Debug)]
struct Spool {
    memory: Vec<Bytes>,
    file: Option<tempfile::NamedTempFile>,
    len: u64,
}

impl Spool {
    /// Reads `body` to its end.
    async fn fill<B>(body: B, mem: u64, max: Option<u64>) -> Result<Self, SpoolError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let mut writer = SpoolWriter::new(mem);
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| SpoolError::Body(e.into()))?;
            let Ok(data) = frame.into_data() else { continue };
            writer.spool.len += data.len() as u64;
            if let Some(max) = max {
                if writer.spool.len > max {
                    return Err(SpoolError::TooLarge(max));
                }
            }
            writer.write(data).await?;
        }
        writer.finish().await
    }

    /// The body again, from its start.
    fn body(&self) -> io::Result<SpoolBody> {
        let file = match &self.file {
            Some(named) => Some(Box::pin(tokio::fs::File::from_std(named.reopen()?))),
            None => None,
        };
        Ok(SpoolBody {
            memory: self.memory.iter().cloned().collect(),
            file,
            remaining: self.len,
        })
    }
}

/// A [`Spool`] being filled: its first `mem` bytes in memory, the rest written to its file.
struct SpoolWriter {
    spool: Spool,
    /// The temporary file, open for writing once the memory is full.
    file: Option<tokio::fs::File>,
    in_memory: u64,
    mem: u64,
}

impl SpoolWriter {
    fn new(mem: u64) -> Self {
        Self {
            spool: Spool {
                memory: Vec::new(),
                file: None,
                len: 0,
            },
            file: None,
            in_memory: 0,
            mem,
        }
    }

    /// Keeps `data` in memory while there is room, and writes the rest to the temporary file (created
    /// when first needed).
    async fn write(&mut self, mut data: Bytes) -> Result<(), SpoolError> {
        if self.in_memory < self.mem {
            let keep = usize::try_from(self.mem - self.in_memory)
                .unwrap_or(usize::MAX)
                .min(data.len());
            self.in_memory += keep as u64;
            self.spool.memory.push(data.split_to(keep));
        }
        if data.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let named = tempfile::NamedTempFile::new()?;
                let handle = tokio::fs::File::from_std(named.reopen()?);
                self.spool.file = Some(named);
                self.file.insert(handle)
            }
        };
        file.write_all(&data).await?;
        Ok(())
    }

    /// The spool, its file flushed.
    async fn finish(self) -> Result<Spool, SpoolError> {
        if let Some(mut file) = self.file {
            file.flush().await?;
        }
        Ok(self.spool)
    }
}

/// A [`Spool`] read back.
struct SpoolBody {
    memory: VecDeque<Bytes>,
    file: Option<Pin<Box<tokio::fs::File>>>,
    remaining: u64,
}

impl Body for SpoolBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(chunk) = this.memory.pop_front() {
            this.remaining -= chunk.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        let Some(file) = this.file.as_mut() else {
            return Poll::Ready(None);
        };
        if this.remaining == 0 {
            this.file = None;
            return Poll::Ready(None);
        }
        poll_file_chunk(file.as_mut(), &mut this.remaining, cx)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The next chunk (at most 64 KiB) of the `remaining` bytes of a spool's file.
fn poll_file_chunk(
    file: Pin<&mut tokio::fs::File>,
    remaining: &mut u64,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    let size = usize::try_from(*remaining).unwrap_or(usize::MAX).min(64 * 1024);
    let mut buffer = BytesMut::zeroed(size);
    let mut read = ReadBuf::new(&mut buffer);
    match file.poll_read(cx, &mut read) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error.into()))),
        Poll::Ready(Ok(())) => {
            let n = read.filled().len();
            if n == 0 {
                return Poll::Ready(Some(Err("the buffered body's file ended early".into())));
            }
            buffer.truncate(n);
            *remaining -= n as u64;
            Poll::Ready(Some(Ok(Frame::data(buffer.freeze()))))
        }
    }
}

/// What Go's `http.Error`-less answers of oxy look like: the status text, no newline.
fn answer(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::from(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn too_large() -> Response<ResponseBody> {
    answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
}

fn internal_error() -> Response<ResponseBody> {
    answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

fn expects_body(method: &Method, response: &Response<ResponseBody>) -> bool {
    let status = response.status();
    let headers = response.headers();
    !(method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || headers.get(CONTENT_LENGTH).is_some_and(|v| v == "0")
        || headers.get("grpc-status").is_some_and(|v| v != "0"))
}

fn with_length<B>(mut message: http::response::Parts, len: u64, body: B) -> Response<B> {
    message.headers.remove(TRANSFER_ENCODING);
    message.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    Response::from_parts(message, body)
}

async fn serve(spooler: Arc<Spooler>, inner: HttpService, req: Request<RequestBody>) -> Response<ResponseBody> {
    let (mut parts, body) = req.into_parts();
    if let (Some(max), Some(len)) = (spooler.max_request, content_length(&parts.headers)) {
        if len > max {
            return too_large();
        }
    }
    let spool = match Spool::fill(body, spooler.mem_request, spooler.max_request).await {
        Ok(spool) => spool,
        Err(error) => return request_failure(error),
    };
    parts.headers.remove(TRANSFER_ENCODING);
    parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(spool.len));
    spooler.send(&inner, &parts, &spool).await
}

impl Spooler {
    /// Sends the buffered request, again while the retry expression holds, and answers with the last
    /// response, buffered.
    async fn send(&self, inner: &HttpService, parts: &http::request::Parts, spool: &Spool) -> Response<ResponseBody> {
        let mut attempt = 1;
        loop {
            let Some(request) = replayed_request(spool, parts) else {
                return internal_error();
            };
            let Ok(response) = inner.clone().oneshot(request).await;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                return response;
            }
            let network_error = UpstreamFailure::of(&response).is_some_and(|f| f.is_network_error());
            let code = response.status().as_u16();
            let (head, body) = response.into_parts();
            let buffered = match self.spool_response(&parts.method, &head, body).await {
                Ok(buffered) => buffered,
                Err(error) => return response_failure(error),
            };
            let again = attempt < MAX_ATTEMPTS && self.retry_holds(attempt, code, network_error, &parts.method);
            if !again {
                return buffered_response(head, buffered);
            }
            attempt += 1;
            tracing::debug!(target: "switchyard::middleware", attempt, "replaying a buffered request");
        }
    }

    /// The response's body, buffered; `None` for a response that has none.
    async fn spool_response(
        &self,
        method: &Method,
        head: &http::response::Parts,
        body: ResponseBody,
    ) -> Result<Option<Spool>, SpoolError> {
        if !expects_body(method, &Response::from_parts(head.clone(), ResponseBody::empty())) {
            return Ok(None);
        }
        Spool::fill(body, self.mem_response, self.max_response).await.map(Some)
    }

    /// Whether the retry expression asks for another attempt after this one.
    fn retry_holds(&self, attempt: u32, code: u16, network_error: bool, method: &Method) -> bool {
        self.retry.as_ref().is_some_and(|retry| {
            retry.eval(&mut |fact: &Fact| match fact {
                Fact::Attempts => Value::Number(f64::from(attempt)),
                Fact::ResponseCode => Value::Number(f64::from(code)),
                Fact::IsNetworkError => Value::Bool(network_error),
                Fact::RequestMethod => Value::Text(method.as_str()),
            })
        })
    }
}

/// The buffered request again, with its body from the start; `None` (logged) when the body cannot be
/// read back.
fn replayed_request(spool: &Spool, parts: &http::request::Parts) -> Option<Request<RequestBody>> {
    let body = match spool.body() {
        Ok(body) if spool.len > 0 => RequestBody::new(body),
        Ok(_) => RequestBody::empty(),
        Err(error) => {
            tracing::warn!(target: "switchyard::middleware", %error, "replaying a buffered request failed");
            return None;
        }
    };
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    *request.extensions_mut() = parts.extensions.clone();
    Some(request)
}

/// The answer when a request body cannot be buffered.
fn request_failure(error: SpoolError) -> Response<ResponseBody> {
    match error {
        SpoolError::TooLarge(_) => too_large(),
        SpoolError::Body(error) => {
            tracing::debug!(target: "switchyard::middleware", %error, "reading a request body to buffer failed");
            answer(StatusCode::BAD_REQUEST, "Bad Request")
        }
        error @ SpoolError::File(_) => {
            tracing::warn!(target: "switchyard::middleware", %error, "buffering a request failed");
            internal_error()
        }
    }
}

/// The answer when a response body cannot be buffered.
fn response_failure(error: SpoolError) -> Response<ResponseBody> {
    match error {
        SpoolError::TooLarge(_) => internal_error(),
        SpoolError::Body(error) => {
            tracing::debug!(target: "switchyard::middleware", %error, "reading a response body to buffer failed");
            answer(StatusCode::BAD_GATEWAY, "Bad Gateway")
        }
        error @ SpoolError::File(_) => {
            tracing::warn!(target: "switchyard::middleware", %error, "buffering a response failed");
            internal_error()
        }
    }
}

/// The last response, with its buffered body and its length.
fn buffered_response(head: http::response::Parts, buffered: Option<Spool>) -> Response<ResponseBody> {
    let Some(spool) = buffered else {
        return Response::from_parts(head, ResponseBody::empty());
    };
    match spool.body() {
        Ok(body) => {
            let len = spool.len;
            // The temporary file is already open for reading; its name can go now.
            drop(spool);
            with_length(head, len, ResponseBody::new(body))
        }
        Err(error) => {
            tracing::warn!(target: "switchyard::middleware", %error, "reading a buffered response failed");
            internal_error()
        }
    }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

impl AsyncStep for Spooler {
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer {
        let spooler = Arc::clone(self);
        let inner = inner.clone();
        Box::pin(async move { Ok(serve(spooler, inner, req).await) })
    }
}

builtin_layer! {
    /// `buffering` as a tower layer: reads whole request and response bodies before passing them on
    /// (beyond the memory bounds, into temporary files), refusing those over the limits, and replays
    /// the request while `retryExpression` holds.
    ///
    /// ```
    /// use switchyard_config::Buffering;
    /// use switchyard_middleware::layers::BufferingLayer;
    ///
    /// let bounded = Buffering { max_request_body_bytes: 1 << 20, ..Default::default() };
    /// let layer = BufferingLayer::new(bounded).unwrap();
    /// # let _ = layer;
    /// let negative = Buffering { max_request_body_bytes: -1, ..Default::default() };
    /// assert_eq!(BufferingLayer::new(negative).unwrap_err().field(), "maxRequestBodyBytes");
    /// ```
    BufferingLayer(Buffering => |config| buffering(config, &BuildContext::new("buffering")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spills_past_the_memory_bound_and_reads_back_intact() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let body = http_body_util::Full::new(Bytes::from(data.clone()));
        let spool = Spool::fill(body, 1000, None).await.unwrap();
        assert!(spool.file.is_some());
        assert_eq!(spool.memory.iter().map(Bytes::len).sum::<usize>(), 1000);
        for _ in 0..2 {
            let back = spool.body().unwrap().collect().await.unwrap().to_bytes();
            assert_eq!(back.as_ref(), data.as_slice());
        }
        let small = Spool::fill(http_body_util::Full::new(Bytes::from_static(b"abc")), 1000, None)
            .await
            .unwrap();
        assert!(small.file.is_none());
    }

    #[tokio::test]
    async fn stops_at_the_maximum() {
        let body = http_body_util::Full::new(Bytes::from_static(b"0123456789"));
        assert!(matches!(
            Spool::fill(body, 4, Some(9)).await,
            Err(SpoolError::TooLarge(9))
        ));
    }

    #[test]
    fn rejects_bad_options() {
        let ctx = BuildContext::new("b");
        let bad = Buffering {
            max_request_body_bytes: -1,
            ..Buffering::default()
        };
        assert_eq!(buffering(&bad, &ctx).err().unwrap().field(), "maxRequestBodyBytes");
        let bad = Buffering {
            retry_expression: "IsNetworkError() && Attempts() <".into(),
            ..Buffering::default()
        };
        assert_eq!(buffering(&bad, &ctx).err().unwrap().field(), "retryExpression");
        let good = Buffering {
            retry_expression: "IsNetworkError() && Attempts() < 2 || RequestMethod() == \"GET\"".into(),
            ..Buffering::default()
        };
        assert!(buffering(&good, &ctx).is_ok());
    }
}
