//! The in-process backend: it answers every server of every service and records what it got.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::BodyExt;
use switchyard_middleware::{HttpService, RequestBody, ResponseBody};
use switchyard_proxy::BackendServer;

/// A request as a backend server received it: after routing, middlewares and load balancing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// The server it was sent to, as the service's configuration writes its URL.
    pub server: String,
    /// The method.
    pub method: Method,
    /// The request target (path and query) as forwarded: rewritten by `stripPrefix`, `addPrefix`,
    /// `replacePath`… and the entrypoint's path cleaning.
    pub uri: Uri,
    /// The headers as forwarded (with `X-Forwarded-*` and the middlewares' headers).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Received {
    /// The forwarded path, without the query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// A header's first value, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Records requests and answers each `200` with the server's URL as body.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Recorder {
    /// The recorder as the gateway's in-process backend.
    pub(crate) fn service(&self) -> HttpService {
        let seen = Arc::clone(&self.seen);
        HttpService::new(tower::service_fn(move |req: Request<RequestBody>| {
            let seen = Arc::clone(&seen);
            async move { Ok::<_, Infallible>(record(&seen, req).await) }
        }))
    }

    /// How many requests were received so far.
    pub(crate) fn len(&self) -> usize {
        self.seen.lock().map_or(0, |seen| seen.len())
    }

    /// The requests received from position `from` on.
    pub(crate) fn since(&self, from: usize) -> Vec<Received> {
        self.seen
            .lock()
            .map(|seen| seen.get(from..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }
}

async fn record(seen: &Mutex<Vec<Received>>, req: Request<RequestBody>) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let server = parts
        .extensions
        .get::<BackendServer>()
        .map(|s| s.0.to_string())
        .unwrap_or_default();
    let answer = Bytes::from(server.clone());
    if let Ok(mut seen) = seen.lock() {
        seen.push(Received {
            server,
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        });
    }
    Response::new(ResponseBody::from(answer))
}
