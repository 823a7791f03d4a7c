//! `compress`: compresses responses with gzip, brotli or zstd, as Traefik does.
//!
//! - The encoding is negotiated from `Accept-Encoding` with q-values; equal weights go to the order of
//!   `encodings` (default `gzip`, `br`, `zstd`), `*` picks `defaultEncoding` or the first encoding, and
//!   a request without `Accept-Encoding` is compressed only with a `defaultEncoding`.
//! - `HEAD` requests and requests whose own `Content-Type` is excluded (`application/grpc` always is)
//!   pass untouched, as do `text/event-stream` and partial (206) answers. A response is compressed
//!   unless it already has a `Content-Encoding`, its type is
//!   excluded (or not included, with `includedContentTypes`), or its body is shorter than
//!   `minResponseBodyBytes` (default 1024). `Vary: Accept-Encoding` is added once an encoding was
//!   chosen; `Content-Length` goes when the body is compressed.
//! - Up to `minResponseBodyBytes` are held back to decide; after that, every chunk the backend sends is
//!   compressed and flushed at once, so streams (server-sent events, long polls) keep flowing.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use switchyard_config::Compress;
use tower::Service;

use crate::layers::builtin_layer;
use crate::stack::{Answer, AsyncStep, async_step};
use crate::{
    BoxError, BuildContext, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody, Resumed,
};

/// An encoding switchyard can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Gzip,
    Brotli,
    Zstd,
}

impl Encoding {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "gzip" => Some(Self::Gzip),
            "br" => Some(Self::Brotli),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }

    fn encoder(self) -> Result<Encoder, BoxError> {
        Ok(match self {
            // Go's defaults in the libraries Traefik uses: gzip level 6, brotli quality 6, zstd level 3.
            Self::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6))),
            Self::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(Vec::new(), 4096, 6, 22))),
            Self::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 3)?),
        })
    }
}

/// A media type with its parameters, as configured or as a response declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaType {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaType {
    fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let (kind, sub) = essence.split_once('/')?;
        if kind.is_empty() || sub.is_empty() || essence.contains(char::is_whitespace) {
            return None;
        }
        let mut params = Vec::new();
        for param in parts {
            let (name, value) = param.split_once('=')?;
            params.push((
                name.trim().to_ascii_lowercase(),
                value.trim().trim_matches('"').to_owned(),
            ));
        }
        Some(Self { essence, params })
    }

    /// Whether a response's type matches this configured one: same type, and every configured
    /// parameter present with the same value.
    fn matches(&self, other: &Self) -> bool {
        self.essence == other.essence
            && self.params.iter().all(|p| {
                other
                    .params
                    .iter()
                    .any(|o| o.0 == p.0 && o.1.eq_ignore_ascii_case(&p.1))
            })
    }
}

/// The weight of an `Accept-Encoding` item from its parameters: its `q`, 1 without one, 0 when unreadable.
fn q_value(params: &str) -> f64 {
    let params = params.replace(' ', "");
    match params.strip_prefix("q=") {
        Some(q) => q.parse::<f64>().unwrap_or(0.0),
        None => 1.0,
    }
}

/// A built `compress` middleware: its configuration, checked, and the step that compresses.
#[derive(Debug)]
struct Compressor {
    excludes: Vec<MediaType>,
    includes: Vec<MediaType>,
    min_size: usize,
    encodings: Vec<Encoding>,
    default: Option<Encoding>,
}

impl Compressor {
    /// The encoding for a request, from its `Accept-Encoding` headers (Traefik's rules).
    fn negotiate(&self, headers: &HeaderMap) -> Option<Encoding> {
        let mut values = headers.get_all(ACCEPT_ENCODING).iter().peekable();
        if values.peek().is_none() {
            return self.default;
        }
        let mut best: Option<(&str, f64, i64)> = None;
        for value in values {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                self.consider(item, &mut best);
            }
        }
        match best?.0 {
            "*" => self.default.or_else(|| self.encodings.first().copied()),
            name => Encoding::parse(name),
        }
    }

    /// Makes one `Accept-Encoding` item the `best` when it is preferred: by weight, then by rank.
    fn consider<'a>(&self, item: &'a str, best: &mut Option<(&'a str, f64, i64)>) {
        let item = item.trim();
        let (name, params) = item.split_once(';').unwrap_or((item, ""));
        let name = name.trim();
        let Some(order) = self.rank(name) else { return };
        let weight = q_value(params);
        if weight == 0.0 {
            return;
        }
        let better = match *best {
            None => true,
            Some((_, w, o)) => weight > w || (weight == w && order < o),
        };
        if better {
            *best = Some((name, weight, order));
        }
    }

    /// Preference rank: configured encodings in order, `*` before all, `identity` after all.
    fn rank(&self, name: &str) -> Option<i64> {
        match name {
            "*" => Some(-1),
            "identity" => Some(self.encodings.len() as i64),
            other => Encoding::parse(other)
                .and_then(|e| self.encodings.iter().position(|c| *c == e))
                .map(|i| i as i64),
        }
    }

    /// Whether a response of this type may be compressed.
    fn compressible(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(CONTENT_TYPE) else {
            return true;
        };
        let Some(media) = value.to_str().ok().and_then(MediaType::parse) else {
            return false;
        };
        if !self.includes.is_empty() && !self.includes.iter().any(|i| i.matches(&media)) {
            return false;
        }
        !self.excludes.iter().any(|e| e.matches(&media))
    }
}

pub(crate) fn compress(config: &Compress, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(async_step(Arc::new(Compressor::new(config)?)))
}

impl Compressor {
    /// Checks a configuration.
    fn new(config: &Compress) -> Result<Self, MiddlewareError> {
        if !config.excluded_content_types.is_empty() && !config.included_content_types.is_empty() {
            return Err(MiddlewareError::invalid(
                "",
                "excludedContentTypes and includedContentTypes options are mutually exclusive",
            ));
        }
        let excludes = excludes(&config.excluded_content_types)?;
        let includes = media_types("includedContentTypes", &config.included_content_types)?;
        let encodings = encodings(&config.encodings)?;
        let default = default_encoding(&config.default_encoding, &encodings)?;
        Ok(Self {
            excludes,
            includes,
            min_size: usize::try_from(config.min_response_body_bytes)
                .ok()
                .filter(|m| *m > 0)
                .unwrap_or(1024),
            encodings,
            default,
        })
    }
}

/// The types never compressed, then `excludedContentTypes`.
fn excludes(configured: &[String]) -> Result<Vec<MediaType>, MiddlewareError> {
    // gRPC as in Traefik; server-sent events too, since holding back the first kilobyte would stall
    // a stream of small events (Traefik's writer flushes them early instead).
    let mut excludes = ["application/grpc", "text/event-stream"]
        .map(|essence| MediaType {
            essence: essence.into(),
            params: Vec::new(),
        })
        .to_vec();
    excludes.extend(media_types("excludedContentTypes", configured)?);
    Ok(excludes)
}

/// The media types of a list option, each checked.
fn media_types(field: &str, types: &[String]) -> Result<Vec<MediaType>, MiddlewareError> {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            MediaType::parse(t)
                .ok_or_else(|| MiddlewareError::invalid(format!("{field}[{i}]"), format!("`{t}` is not a media type")))
        })
        .collect()
}

/// `encodings`: at least one, each supported.
fn encodings(names: &[String]) -> Result<Vec<Encoding>, MiddlewareError> {
    if names.is_empty() {
        return Err(MiddlewareError::invalid(
            "encodings",
            "at least one encoding must be specified",
        ));
    }
    names
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Encoding::parse(e).ok_or_else(|| {
                MiddlewareError::invalid(format!("encodings[{i}]"), format!("unsupported encoding: {e}"))
            })
        })
        .collect()
}

/// `defaultEncoding`: none, or one of `encodings`.
fn default_encoding(name: &str, encodings: &[Encoding]) -> Result<Option<Encoding>, MiddlewareError> {
    if name.is_empty() {
        return Ok(None);
    }
    let default = Encoding::parse(name).filter(|e| encodings.contains(e));
    default
        .map(Some)
        .ok_or_else(|| MiddlewareError::invalid("defaultEncoding", format!("unsupported default encoding: {name}")))
}

impl AsyncStep for Compressor {
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer {
        let request_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(MediaType::parse);
        let excluded = request_type.is_some_and(|t| self.excludes.iter().any(|e| e.matches(&t)));
        let encoding = (req.method() != Method::HEAD && !excluded)
            .then(|| self.negotiate(req.headers()))
            .flatten();
        let inner = inner.call(req);
        let Some(encoding) = encoding else { return inner };
        let compressor = Arc::clone(self);
        Box::pin(async move {
            let Ok(response) = inner.await;
            Ok(shape(response, encoding, &compressor).await)
        })
    }
}

/// Compresses a response when it qualifies.
async fn shape(
    mut response: Response<ResponseBody>,
    encoding: Encoding,
    compressor: &Compressor,
) -> Response<ResponseBody> {
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    if passes_through(&response, compressor) {
        return response;
    }
    let (parts, mut body) = response.into_parts();
    // Hold back up to the threshold to see whether the body is worth compressing.
    match hold_back(&mut body, compressor.min_size).await {
        Ok(held) => after_held(parts, body, held, encoding, compressor.min_size),
        Err(error) => Response::from_parts(
            parts,
            ResponseBody::new(Resumed::<ResponseBody>::new([], Some(Err(error)), None)),
        ),
    }
}

/// Whether a response goes out as it is: one without a body to compress, a range, one already
/// encoded, of a type not to compress, or known to be below the threshold.
fn passes_through(response: &Response<ResponseBody>, compressor: &Compressor) -> bool {
    let status = response.status();
    status.is_informational()
        || status == http::StatusCode::NO_CONTENT
        || status == http::StatusCode::NOT_MODIFIED
        || status == http::StatusCode::PARTIAL_CONTENT
        || response.headers().contains_key(http::header::CONTENT_RANGE)
        || response.headers().contains_key(CONTENT_ENCODING)
        || !compressor.compressible(response.headers())
        || response
            .body()
            .size_hint()
            .exact()
            .is_some_and(|n| n < compressor.min_size as u64)
}

/// The first chunks of a body, held back until they reach the threshold, and its trailers when it
/// ended meanwhile.
struct Held {
    chunks: Vec<Bytes>,
    size: usize,
    trailers: Option<HeaderMap>,
}

impl Held {
    /// The held chunks and trailers, then `rest`, uncompressed.
    fn resumed(self, rest: Option<ResponseBody>) -> ResponseBody {
        let trailers = self.trailers.map(|t| Ok(Frame::trailers(t)));
        ResponseBody::new(Resumed::new(self.chunks, trailers, rest))
    }
}

/// Reads `body` until `min_size` bytes are held or it ends.
async fn hold_back(body: &mut ResponseBody, min_size: usize) -> Result<Held, BoxError> {
    let mut held = Held {
        chunks: Vec::new(),
        size: 0,
        trailers: None,
    };
    while held.size < min_size {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    held.size += data.len();
                    held.chunks.push(data);
                }
                Err(frame) => {
                    held.trailers = frame.into_trailers().ok();
                    break;
                }
            },
            Some(Err(error)) => return Err(error),
            None => break,
        }
    }
    Ok(held)
}

/// The response once its first bytes are held: as it was when it ended below the threshold or no
/// encoder can be made, compressed otherwise.
fn after_held(
    mut parts: http::response::Parts,
    body: ResponseBody,
    held: Held,
    encoding: Encoding,
    min_size: usize,
) -> Response<ResponseBody> {
    let ended = held.trailers.is_some() || body.is_end_stream() || held.size < min_size;
    if ended && held.size < min_size {
        return Response::from_parts(parts, held.resumed(None));
    }
    let Ok(encoder) = encoding.encoder() else {
        return Response::from_parts(parts, held.resumed(Some(body)));
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.name()));
    let rest = if ended { None } else { Some(body) };
    Response::from_parts(parts, ResponseBody::new(Compressed::new(encoder, held, rest)))
}

/// A streaming encoder over an in-memory sink: what is written comes out at each flush.
enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// Compresses `data` and returns everything the encoder can emit now.
    fn push(&mut self, data: &[u8]) -> std::io::Result<Bytes> {
        let sink = match self {
            Self::Gzip(e) => {
                e.write_all(data)?;
                e.flush()?;
                e.get_mut()
            }
            Self::Brotli(e) => {
                e.write_all(data)?;
                e.flush()?;
                e.get_mut()
            }
            Self::Zstd(e) => {
                e.write_all(data)?;
                e.flush()?;
                e.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(sink)))
    }

    /// Ends the stream and returns its last bytes.
    fn finish(self) -> std::io::Result<Bytes> {
        Ok(Bytes::from(match self {
            Self::Gzip(e) => e.finish()?,
            Self::Brotli(e) => e.into_inner(),
            Self::Zstd(e) => e.finish()?,
        }))
    }
}

/// What the encoder gets next.
enum Input {
    Chunk(Bytes),
    /// The backend's body is over (its trailers kept).
    End,
    Failed(BoxError),
}

/// The compressed body: the held-back chunks, then the rest of the backend's body, chunk by chunk.
struct Compressed {
    encoder: Option<Encoder>,
    held: std::collections::VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Option<ResponseBody>,
}

impl Compressed {
    fn new(encoder: Encoder, held: Held, rest: Option<ResponseBody>) -> Self {
        Self {
            encoder: Some(encoder),
            held: held.chunks.into(),
            trailers: held.trailers,
            rest,
        }
    }

    /// The next chunk to compress: a held-back one, else the next data of the backend's body.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        if let Some(chunk) = self.held.pop_front() {
            return Poll::Ready(Input::Chunk(chunk));
        }
        while let Some(rest) = self.rest.as_mut() {
            match Pin::new(rest).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Input::Failed(error)),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Input::Chunk(data)),
                    Err(frame) => {
                        self.trailers = frame.into_trailers().ok();
                        self.rest = None;
                    }
                },
                Poll::Ready(None) => self.rest = None,
            }
        }
        Poll::Ready(Input::End)
    }

    /// Compresses a chunk; `None` while the encoder has nothing to emit yet.
    fn encode(&mut self, chunk: &[u8]) -> Option<Result<Frame<Bytes>, BoxError>> {
        if chunk.is_empty() {
            return None;
        }
        match self.encoder.as_mut()?.push(chunk) {
            Ok(bytes) if bytes.is_empty() => None,
            Ok(bytes) => Some(Ok(Frame::data(bytes))),
            Err(error) => Some(Err(error.into())),
        }
    }

    /// Ends the compressed stream: its last bytes, if any.
    fn finish(&mut self) -> Option<Result<Frame<Bytes>, BoxError>> {
        match self.encoder.take().map(Encoder::finish) {
            Some(Ok(bytes)) if !bytes.is_empty() => Some(Ok(Frame::data(bytes))),
            Some(Err(error)) => Some(Err(error.into())),
            _ => None,
        }
    }
}

impl Body for Compressed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.encoder.is_none() {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            let frame = match this.poll_input(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Input::Failed(error)) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Input::Chunk(chunk)) => this.encode(&chunk),
                Poll::Ready(Input::End) => this.finish(),
            };
            if frame.is_some() {
                return Poll::Ready(frame);
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.trailers.is_none()
    }
}

builtin_layer! {
    /// `compress` as a tower layer: compresses responses with gzip, brotli or zstd as the request's
    /// `Accept-Encoding` asks, streaming.
    ///
    /// ```
    /// use switchyard_config::Compress;
    /// use switchyard_middleware::layers::CompressLayer;
    ///
    /// let layer = CompressLayer::new(Compress::default()).unwrap();
    /// # let _ = layer;
    /// let unknown = Compress { encodings: vec!["lzma".into()], ..Default::default() };
    /// assert_eq!(CompressLayer::new(unknown).unwrap_err().field(), "encodings[0]");
    /// ```
    CompressLayer(Compress => |config| compress(config, &BuildContext::new("compress")))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn compressor(config: &Compress) -> Compressor {
        Compressor {
            excludes: vec![MediaType::parse("application/grpc").unwrap()],
            includes: Vec::new(),
            min_size: usize::try_from(config.min_response_body_bytes).unwrap(),
            encodings: config.encodings.iter().map(|e| Encoding::parse(e).unwrap()).collect(),
            default: Encoding::parse(&config.default_encoding),
        }
    }

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn media_types_match_with_their_parameters() {
        let configured = MediaType::parse("text/event-stream").unwrap();
        assert!(configured.matches(&MediaType::parse("Text/Event-Stream; charset=utf-8").unwrap()));
        let with_charset = MediaType::parse("text/html; charset=utf-8").unwrap();
        assert!(!with_charset.matches(&MediaType::parse("text/html").unwrap()));
        assert!(MediaType::parse("not a type").is_none());
    }

    #[test]
    fn event_streams_are_never_compressed() {
        let compressor = Compressor::new(&Compress::default()).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        assert!(!compressor.compressible(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        assert!(compressor.compressible(&headers));
    }

    #[test]
    fn negotiation_follows_traefik() {
        let s = compressor(&Compress::default());
        assert_eq!(
            s.negotiate(&accept("gzip, br, zstd")),
            Some(Encoding::Gzip),
            "equal weights: config order"
        );
        assert_eq!(s.negotiate(&accept("gzip;q=0.5, br")), Some(Encoding::Brotli));
        assert_eq!(s.negotiate(&accept("zstd;q=0.9, gzip;q=0")), Some(Encoding::Zstd));
        assert_eq!(s.negotiate(&accept("*")), Some(Encoding::Gzip));
        assert_eq!(s.negotiate(&accept("identity")), None);
        assert_eq!(s.negotiate(&accept("deflate")), None);
        assert_eq!(s.negotiate(&HeaderMap::new()), None, "no header, no default: untouched");
        let with_default = compressor(&Compress {
            default_encoding: "br".into(),
            ..Compress::default()
        });
        assert_eq!(with_default.negotiate(&HeaderMap::new()), Some(Encoding::Brotli));
        assert_eq!(with_default.negotiate(&accept("*")), Some(Encoding::Brotli));
    }

    #[tokio::test]
    async fn each_encoding_round_trips() {
        let text: Vec<u8> = b"switchyard compresses this line. ".repeat(200);
        for (name, encoding) in [
            ("gzip", Encoding::Gzip),
            ("br", Encoding::Brotli),
            ("zstd", Encoding::Zstd),
        ] {
            let mut encoder = encoding.encoder().unwrap();
            let mut out = encoder.push(&text[..1000]).unwrap().to_vec();
            out.extend_from_slice(&encoder.push(&text[1000..]).unwrap());
            out.extend_from_slice(&encoder.finish().unwrap());
            let mut decoded = Vec::new();
            match name {
                "gzip" => {
                    flate2::read::GzDecoder::new(&out[..])
                        .read_to_end(&mut decoded)
                        .unwrap();
                }
                "br" => {
                    brotli::Decompressor::new(&out[..], 4096)
                        .read_to_end(&mut decoded)
                        .unwrap();
                }
                _ => decoded = zstd::stream::decode_all(&out[..]).unwrap(),
            }
            assert_eq!(decoded, text, "{name}");
            assert!(
                out.len() < text.len() / 4,
                "{name} compressed {} to {}",
                text.len(),
                out.len()
            );
        }
    }
}
