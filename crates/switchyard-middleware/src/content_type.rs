//! `contentType`: gives a response without `Content-Type` the type Go's `http.DetectContentType` would
//! sniff from its first 512 bytes — what Traefik v3 does when this middleware is present (it leaves a
//! missing type missing otherwise). `autoDetect` is deprecated in Traefik; `autoDetect: false` turns
//! the middleware into a no-op, as there.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use switchyard_config::ContentType;
use tower::Service;

use std::sync::Arc;

use crate::layers::builtin_layer;
use crate::stack::{Answer, AsyncStep, async_step};
use crate::{
    BoxError, BuildContext, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody, Resumed,
};

/// How many bytes Go looks at.
const SNIFF_LEN: usize = 512;

pub(crate) fn content_type(config: &ContentType, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    if config.auto_detect.is_some() {
        tracing::warn!(target: "switchyard::middleware", "contentType.autoDetect is deprecated: the middleware's presence enables detection");
    }
    if config.auto_detect == Some(false) {
        return Ok(MiddlewareLayer::new(tower::layer::layer_fn(|inner: HttpService| inner)));
    }
    Ok(async_step(Arc::new(Sniffer)))
}

/// The sniffing step (it keeps no state).
struct Sniffer;

impl AsyncStep for Sniffer {
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer {
        let inner = inner.call(req);
        Box::pin(async move {
            let Ok(response) = inner.await;
            Ok(sniffed(response).await)
        })
    }
}

/// Sets the sniffed type on a response that has a body and no type.
async fn sniffed(response: Response<ResponseBody>) -> Response<ResponseBody> {
    if response.headers().contains_key(CONTENT_TYPE) || response.body().is_end_stream() {
        return response;
    }
    let (mut parts, mut body) = response.into_parts();
    let (held, size, tail) = read_head(&mut body).await;
    if size > 0 {
        let head: Vec<u8> = held.iter().flat_map(|b| b.iter().copied()).take(SNIFF_LEN).collect();
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(detect(&head)));
    }
    Response::from_parts(parts, ResponseBody::new(Resumed::new(held, tail, Some(body))))
}

/// The first chunks of a body, until [`SNIFF_LEN`] bytes or its end, with their size and the frame
/// (trailers or an error) that ended them early.
async fn read_head(body: &mut ResponseBody) -> (Vec<Bytes>, usize, Option<Result<Frame<Bytes>, BoxError>>) {
    let mut held: Vec<Bytes> = Vec::new();
    let mut size = 0;
    while size < SNIFF_LEN {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    size += data.len();
                    held.push(data);
                }
                Err(frame) => return (held, size, Some(Ok(frame))),
            },
            Some(Err(error)) => return (held, size, Some(Err(error))),
            None => break,
        }
    }
    (held, size, None)
}

/// Go's `http.DetectContentType`, for the signatures it knows.
pub(crate) fn detect(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(SNIFF_LEN)];
    let first_non_ws = data
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' '))
        .unwrap_or(data.len());
    if let Some(kind) = markup(&data[first_non_ws..]) {
        return kind;
    }
    for (signature, kind) in EXACT {
        if data.starts_with(signature) {
            return kind;
        }
    }
    if let Some(kind) = riff(data) {
        return kind;
    }
    if is_mp4(data) {
        return "video/mp4";
    }
    if data.is_empty() || data.iter().all(|&b| !is_binary(b)) {
        return "text/plain; charset=utf-8";
    }
    "application/octet-stream"
}

/// HTML or XML, from the data after its leading whitespace.
fn markup(trimmed: &[u8]) -> Option<&'static str> {
    if HTML_TAGS.iter().any(|tag| html_tag(trimmed, tag)) {
        return Some("text/html; charset=utf-8");
    }
    trimmed.starts_with(b"<?xml").then_some("text/xml; charset=utf-8")
}

/// The RIFF containers Go knows: WebP, WAVE and AVI.
fn riff(data: &[u8]) -> Option<&'static str> {
    if data.len() < 12 || &data[..4] != b"RIFF" {
        return None;
    }
    match &data[8..12] {
        b"WEBP" if data.len() >= 14 && &data[12..14] == b"VP" => Some("image/webp"),
        b"WAVE" => Some("audio/wave"),
        b"AVI " => Some("video/avi"),
        _ => None,
    }
}

/// An MP4 file: an `ftyp` box of a sensible size naming an MP4 brand.
fn is_mp4(data: &[u8]) -> bool {
    if data.len() < 12 || &data[4..8] != b"ftyp" {
        return false;
    }
    let size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    size % 4 == 0 && size <= data.len() && (data[8..11] == *b"mp4" || data[8..11] == *b"iso" || data[8..12] == *b"M4V ")
}

/// Bytes Go counts as binary data.
fn is_binary(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f)
}

/// Whether `data` starts with an HTML tag, case-insensitively, followed by a space or `>`.
fn html_tag(data: &[u8], tag: &[u8]) -> bool {
    data.len() > tag.len() && data[..tag.len()].eq_ignore_ascii_case(tag) && matches!(data[tag.len()], b' ' | b'>')
}

const HTML_TAGS: [&[u8]; 17] = [
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
];

const EXACT: [(&[u8], &str); 20] = [
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"\xFE\xFF", "text/plain; charset=utf-16be"),
    (b"\xFF\xFE", "text/plain; charset=utf-16le"),
    (b"\xEF\xBB\xBF", "text/plain; charset=utf-8"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x02\x00", "image/x-icon"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
    (b"\xFF\xD8\xFF", "image/jpeg"),
    (b"OggS\x00", "application/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1A\x45\xDF\xA3", "video/webm"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x1F\x8B\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x00asm", "application/wasm"),
];

builtin_layer! {
    /// `contentType` as a tower layer: sets a missing response `Content-Type` from the first bytes of
    /// the body, as Go's `http.DetectContentType` does.
    ///
    /// ```
    /// use switchyard_config::ContentType;
    /// use switchyard_middleware::layers::ContentTypeLayer;
    ///
    /// let layer = ContentTypeLayer::new(ContentType::default()).unwrap();
    /// # let _ = layer;
    /// ```
    ContentTypeLayer(ContentType => |config| content_type(config, &BuildContext::new("contentType")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_like_go() {
        assert_eq!(detect(b"  <!doctype html><html>"), "text/html; charset=utf-8");
        assert_eq!(detect(b"<p>hello</p>"), "text/html; charset=utf-8");
        assert_eq!(
            detect(b"<pre>x</pre>"),
            "text/plain; charset=utf-8",
            "<pre is not one of Go's tags"
        );
        assert_eq!(detect(b"<?xml version=\"1.0\"?>"), "text/xml; charset=utf-8");
        assert_eq!(detect(b"{\"json\": true}"), "text/plain; charset=utf-8");
        assert_eq!(detect(b"\x89PNG\x0D\x0A\x1A\x0A...."), "image/png");
        assert_eq!(detect(b"%PDF-1.7"), "application/pdf");
        assert_eq!(detect(b"RIFF\x00\x00\x00\x00WEBPVP8 "), "image/webp");
        assert_eq!(detect(b"\x00\x01\x02binary"), "application/octet-stream");
        assert_eq!(detect(b"PK\x03\x04zip"), "application/zip");
    }

    #[tokio::test]
    async fn only_responses_without_a_type_are_sniffed() {
        let untyped = Response::new(ResponseBody::from("<html><body>hi</body></html>"));
        let response = sniffed(untyped).await;
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            "<html><body>hi</body></html>"
        );

        let mut typed = Response::new(ResponseBody::from("<html></html>"));
        typed
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(sniffed(typed).await.headers()[CONTENT_TYPE], "application/json");

        let empty = sniffed(Response::new(ResponseBody::empty())).await;
        assert!(!empty.headers().contains_key(CONTENT_TYPE));
    }
}
