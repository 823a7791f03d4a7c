//! `grpcWeb`: lets browsers speak gRPC-Web to gRPC backends (`h2c://` servers), as Traefik does with
//! improbable-eng's wrapper.
//!
//! - A `POST` with a gRPC-Web content type (`application/grpc-web`, `+proto`, and the base64 `-text`
//!   variants) goes to the backend as gRPC: the content type translated, a `-text` body decoded, and
//!   `TE: trailers` set. The answer comes back as gRPC-Web: the content type translated, the messages
//!   as they are (base64-encoded per chunk for `-text`), and the trailers (`grpc-status`,
//!   `grpc-message`, ...) appended as a trailer frame — a `0x80` flag byte, a length and
//!   `name: value\r\n` lines — since browsers cannot read HTTP trailers.
//! - CORS: a preflight (`OPTIONS` asking for a gRPC-Web header) is answered at the proxy with 204;
//!   origins in `allowOrigins` get `Access-Control-Allow-Origin` (reflected, with credentials) and the
//!   gRPC headers exposed, on preflights and answers alike. `*` admits any origin but without
//!   credentials: Traefik reflects every origin with credentials allowed, which lets any site make
//!   credentialed calls. Other requests pass untouched.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN, TE, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use switchyard_config::GrpcWeb;
use tower::Service;

use crate::layers::builtin_layer;
use crate::stack::{Answer, AsyncStep, async_step};
use crate::{BoxError, BuildContext, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

/// The headers a browser may read from a gRPC-Web answer.
const EXPOSED: &str = "grpc-status, grpc-message, grpc-status-details-bin";

pub(crate) fn grpc_web(config: &GrpcWeb, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(async_step(Arc::new(Origins(config.allow_origins.clone()))))
}

/// The origins allowed for CORS.
struct Origins(Vec<String>);

/// What CORS allows an origin.
#[derive(Debug, Clone)]
enum Grant {
    /// A listed origin: reflected, with credentials.
    Named(HeaderValue),
    /// Any origin, by `*`: no credentials.
    Any,
}

impl Grant {
    fn apply(self, headers: &mut HeaderMap) {
        match self {
            Self::Named(origin) => {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            }
            Self::Any => {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            }
        }
    }
}

/// The two wire forms of gRPC-Web.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Binary,
    Text,
}

impl Origins {
    /// The CORS grant for a request's origin: a named origin is reflected with credentials allowed; an
    /// origin admitted only by `*` gets `*` without credentials (Traefik reflects it with credentials,
    /// which would let any site make credentialed calls).
    fn allowed_origin(&self, headers: &HeaderMap) -> Option<Grant> {
        let origin = headers.get(ORIGIN)?;
        let text = origin.to_str().ok()?;
        if self.0.iter().any(|o| o == text) {
            return Some(Grant::Named(origin.clone()));
        }
        self.0.iter().any(|o| o == "*").then_some(Grant::Any)
    }

    fn preflight(&self, req: &Request<RequestBody>) -> Response<ResponseBody> {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(
            VARY,
            HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        );
        if let Some(grant) = self.allowed_origin(req.headers()) {
            grant.apply(headers);
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
            if let Some(requested) = req.headers().get(ACCESS_CONTROL_REQUEST_HEADERS) {
                headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
            }
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        response
    }
}

/// Whether a request is a CORS preflight for gRPC-Web.
fn is_preflight(req: &Request<RequestBody>) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
        && req
            .headers()
            .get(ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|h| h.trim().eq_ignore_ascii_case("x-grpc-web")))
}

/// The form and gRPC content type of a gRPC-Web request, if it is one.
fn grpc_web_form(req: &Request<RequestBody>) -> Option<(Form, &'static str)> {
    if req.method() != Method::POST {
        return None;
    }
    let content_type = req.headers().get(CONTENT_TYPE)?.to_str().ok()?.to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or("").trim().to_owned();
    match essence.as_str() {
        "application/grpc-web" => Some((Form::Binary, "application/grpc")),
        "application/grpc-web+proto" => Some((Form::Binary, "application/grpc+proto")),
        "application/grpc-web-text" => Some((Form::Text, "application/grpc")),
        "application/grpc-web-text+proto" => Some((Form::Text, "application/grpc+proto")),
        _ => None,
    }
}

impl AsyncStep for Origins {
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer {
        if is_preflight(&req) {
            let response = self.preflight(&req);
            return Box::pin(std::future::ready(Ok(response)));
        }
        let Some((form, grpc_type)) = grpc_web_form(&req) else {
            return inner.call(req);
        };
        let origin = self.allowed_origin(req.headers());
        let inner = inner.call(to_grpc(req, form, grpc_type));
        Box::pin(async move {
            let Ok(response) = inner.await;
            Ok(to_grpc_web(response, form, origin))
        })
    }
}

/// Turns a gRPC-Web request into a gRPC one (HTTP/2, `TE: trailers`, a text body decoded).
fn to_grpc(req: Request<RequestBody>, form: Form, grpc_type: &'static str) -> Request<RequestBody> {
    let (mut parts, body) = req.into_parts();
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static(grpc_type));
    parts.headers.insert(TE, HeaderValue::from_static("trailers"));
    parts.headers.remove(CONTENT_LENGTH);
    parts.version = http::Version::HTTP_2;
    let body = match form {
        Form::Binary => body,
        Form::Text => RequestBody::new(Base64Decoded {
            inner: body,
            pending: Vec::new(),
        }),
    };
    Request::from_parts(parts, body)
}

/// Turns a gRPC answer into a gRPC-Web one.
fn to_grpc_web(response: Response<ResponseBody>, form: Form, origin: Option<Grant>) -> Response<ResponseBody> {
    let (mut parts, body) = response.into_parts();
    set_web_content_type(&mut parts.headers, form);
    parts.headers.remove(CONTENT_LENGTH);
    if let Some(grant) = origin {
        grant.apply(&mut parts.headers);
        parts
            .headers
            .insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
        parts.headers.append(VARY, HeaderValue::from_static("Origin"));
    }
    let body = WebBody {
        inner: Some(body),
        form,
        done: false,
    };
    Response::from_parts(parts, ResponseBody::new(body))
}

/// A gRPC answer's `application/grpc...` type as the gRPC-Web type of `form`.
fn set_web_content_type(headers: &mut HeaderMap, form: Form) {
    if let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        if let Some(rest) = content_type.strip_prefix("application/grpc") {
            let web = match form {
                Form::Binary => format!("application/grpc-web{rest}"),
                Form::Text => format!("application/grpc-web-text{rest}"),
            };
            if let Ok(value) = HeaderValue::from_str(&web) {
                headers.insert(CONTENT_TYPE, value);
            }
        }
    }
}

/// A gRPC-Web trailer frame for `trailers`.
fn trailer_frame(trailers: &HeaderMap) -> Bytes {
    let mut block = Vec::new();
    for (name, value) in trailers {
        block.extend_from_slice(name.as_str().as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(value.as_bytes());
        block.extend_from_slice(b"\r\n");
    }
    let mut frame = BytesMut::with_capacity(5 + block.len());
    frame.put_u8(0x80);
    frame.put_u32(u32::try_from(block.len()).unwrap_or(u32::MAX));
    frame.put_slice(&block);
    frame.freeze()
}

/// The answer's body in gRPC-Web: data as it comes, trailers as a last data frame.
struct WebBody {
    inner: Option<ResponseBody>,
    form: Form,
    done: bool,
}

impl WebBody {
    fn encode(&self, data: Bytes) -> Bytes {
        match self.form {
            Form::Binary => data,
            Form::Text => Bytes::from(base64::engine::general_purpose::STANDARD.encode(&data)),
        }
    }
}

impl Body for WebBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(Ok(Frame::data(this.encode(data))))),
                Err(frame) => {
                    this.inner = None;
                    this.done = true;
                    let trailers = frame.into_trailers().unwrap_or_default();
                    Poll::Ready(Some(Ok(Frame::data(this.encode(trailer_frame(&trailers))))))
                }
            },
            Poll::Ready(None) => {
                this.inner = None;
                this.done = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// A `-text` request body, base64-decoded (possibly in several padded segments, split anywhere).
struct Base64Decoded {
    inner: RequestBody,
    pending: Vec<u8>,
}

impl Base64Decoded {
    /// Decodes the complete 4-character groups of `pending`, keeping the rest.
    fn decode_ready(&mut self, end: bool) -> Result<Bytes, BoxError> {
        self.pending.retain(|b| !b.is_ascii_whitespace());
        let usable = if end {
            self.pending.len()
        } else {
            self.pending.len() / 4 * 4
        };
        let ready: Vec<u8> = self.pending.drain(..usable).collect();
        let mut out = Vec::with_capacity(ready.len() / 4 * 3);
        // Segments may each end with padding: decode group by group past any `=`.
        for group in ready.chunks(4) {
            out.extend(base64::engine::general_purpose::STANDARD.decode(group)?);
        }
        Ok(Bytes::from(out))
    }
}

impl Body for Base64Decoded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let this = &mut *self;
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue };
                    this.pending.extend_from_slice(&data);
                    match this.decode_ready(false) {
                        Ok(bytes) if bytes.is_empty() => continue,
                        Ok(bytes) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
                        Err(error) => return Poll::Ready(Some(Err(error))),
                    }
                }
                Poll::Ready(None) => {
                    if this.pending.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(this.decode_ready(true).map(Frame::data)));
                }
            }
        }
    }
}

builtin_layer! {
    /// `grpcWeb` as a tower layer: translates gRPC-Web requests from browsers (from `allowOrigins`) to
    /// gRPC, and the answers back.
    ///
    /// ```
    /// use switchyard_config::GrpcWeb;
    /// use switchyard_middleware::layers::GrpcWebLayer;
    ///
    /// let layer = GrpcWebLayer::new(GrpcWeb { allow_origins: vec!["*".into()] }).unwrap();
    /// # let _ = layer;
    /// ```
    GrpcWebLayer(GrpcWeb => |config| grpc_web(config, &BuildContext::new("grpcWeb")))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[test]
    fn a_wildcard_admits_any_origin_without_credentials() {
        let origins = Origins(vec!["https://app.example".into(), "*".into()]);
        let grant = |origin: &'static str| {
            let mut request = HeaderMap::new();
            request.insert(ORIGIN, HeaderValue::from_static(origin));
            let mut headers = HeaderMap::new();
            origins.allowed_origin(&request).unwrap().apply(&mut headers);
            headers
        };
        let named = grant("https://app.example");
        assert_eq!(named[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(named[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        let any = grant("https://evil.example");
        assert_eq!(any[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!any.contains_key(ACCESS_CONTROL_ALLOW_CREDENTIALS));
        assert!(
            Origins(vec!["https://app.example".into()])
                .allowed_origin(&{
                    let mut h = HeaderMap::new();
                    h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
                    h
                })
                .is_none()
        );
    }

    #[test]
    fn trailer_frames_follow_the_grpc_web_wire_format() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        trailers.insert("grpc-message", HeaderValue::from_static("ok"));
        let frame = trailer_frame(&trailers);
        assert_eq!(frame[0], 0x80);
        let length = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
        assert_eq!(&frame[5..], b"grpc-status: 0\r\ngrpc-message: ok\r\n");
        assert_eq!(length, frame.len() - 5);
    }

    #[tokio::test]
    async fn text_bodies_decode_across_chunks_and_padded_segments() {
        let chunks = ["AAAA", "AAVo", "ZWxs", "bw==", "AA=="];
        let body = RequestBody::new(http_body_util::StreamBody::new(futures_util::stream::iter(
            chunks.map(|c| Ok::<_, BoxError>(Frame::data(Bytes::from(c)))),
        )));
        let decoded = Base64Decoded {
            inner: body,
            pending: Vec::new(),
        };
        let bytes = decoded.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"\x00\x00\x00\x00\x05hello\x00");
    }
}
