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
        let mut spool = Self {
            memory: Vec::new(),
            file: None,
            len: 0,
        };
        let mut writer: Option<tokio::fs::File> = None;
        let mut in_memory = 0u64;
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| SpoolError::Body(e.into()))?;
            let Ok(mut data) = frame.into_data() else { continue };
            spool.len += data.len() as u64;
            if let Some(max) = max {
                if spool.len > max {
                    return Err(SpoolError::TooLarge(max));
                }
            }
            if in_memory < mem {
                let keep = usize::try_from(mem - in_memory).unwrap_or(usize::MAX).min(data.len());
                in_memory += keep as u64;
                spool.memory.push(data.split_to(keep));
            }
            if data.is_empty() {
                continue;
            }
            let file = match &mut writer {
                Some(file) => file,
                None => {
                    let named = tempfile::NamedTempFile::new()?;
                    let handle = tokio::fs::File::from_std(named.reopen()?);
                    spool.file = Some(named);
                    writer.insert(handle)
                }
            };
            file.write_all(&data).await?;
        }
        if let Some(mut file) = writer {
            file.flush().await?;
        }
        Ok(spool)
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
        let size = usize::try_from(this.remaining).unwrap_or(usize::MAX).min(64 * 1024);
        let mut buffer = BytesMut::zeroed(size);
        let mut read = ReadBuf::new(&mut buffer);
        match file.as_mut().poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err("the buffered body's file ended early".into())));
                }
                buffer.truncate(n);
                this.remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(buffer.freeze()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
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
        Err(SpoolError::TooLarge(_)) => return too_large(),
        Err(SpoolError::Body(error)) => {
            tracing::debug!(target: "switchyard::middleware", %error, "reading a request body to buffer failed");
            return answer(StatusCode::BAD_REQUEST, "Bad Request");
        }
        Err(error @ SpoolError::File(_)) => {
            tracing::warn!(target: "switchyard::middleware", %error, "buffering a request failed");
            return internal_error();
        }
    };
    parts.headers.remove(TRANSFER_ENCODING);
    parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(spool.len));
    let mut attempt = 1;
    loop {
        let body = match spool.body() {
            Ok(body) if spool.len > 0 => RequestBody::new(body),
            Ok(_) => RequestBody::empty(),
            Err(error) => {
                tracing::warn!(target: "switchyard::middleware", %error, "replaying a buffered request failed");
                return internal_error();
            }
        };
        let mut request = Request::new(body);
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        *request.extensions_mut() = parts.extensions.clone();
        let Ok(response) = inner.clone().oneshot(request).await;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return response;
        }
        let network_error = UpstreamFailure::of(&response).is_some_and(|f| f.is_network_error());
        let code = response.status().as_u16();
        let (head, body) = response.into_parts();
        let buffered = if expects_body(
            &parts.method,
            &Response::from_parts(head.clone(), ResponseBody::empty()),
        ) {
            match Spool::fill(body, spooler.mem_response, spooler.max_response).await {
                Ok(spool) => Some(spool),
                Err(SpoolError::TooLarge(_)) => return internal_error(),
                Err(SpoolError::Body(error)) => {
                    tracing::debug!(target: "switchyard::middleware", %error, "reading a response body to buffer failed");
                    return answer(StatusCode::BAD_GATEWAY, "Bad Gateway");
                }
                Err(error @ SpoolError::File(_)) => {
                    tracing::warn!(target: "switchyard::middleware", %error, "buffering a response failed");
                    return internal_error();
                }
            }
        } else {
            None
        };
        let again = attempt < MAX_ATTEMPTS
            && spooler.retry.as_ref().is_some_and(|retry| {
                retry.eval(&mut |fact: &Fact| match fact {
                    Fact::Attempts => Value::Number(f64::from(attempt)),
                    Fact::ResponseCode => Value::Number(f64::from(code)),
                    Fact::IsNetworkError => Value::Bool(network_error),
                    Fact::RequestMethod => Value::Text(parts.method.as_str()),
                })
            });
        if !again {
            return match buffered {
                None => Response::from_parts(head, ResponseBody::empty()),
                Some(spool) => match spool.body() {
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
                },
            };
        }
        attempt += 1;
        tracing::debug!(target: "switchyard::middleware", attempt, "replaying a buffered request");
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
