//! `retry`: sends a request to the service again when an attempt failed, as Traefik v3 does.
//!
//! An attempt is retried when (and only when) one of these holds and the overall `timeout` (if any) has
//! not passed:
//! - the proxy could not send the request to a server (connect or handshake failure; see
//!   [`UpstreamFailure`]) and `disableRetryOnNetworkError` is off — an answer a middleware further in
//!   made, or an exchange that failed after the request was sent, is never retried for this reason;
//! - the status is in `status` and the method is idempotent (not `POST`, `PATCH`, `LOCK`) or
//!   `retryNonIdempotentMethod` is on.
//!
//! The last attempt's response is returned whatever it is. Between attempts the wait follows Traefik's
//! exponential backoff: it starts at `initialInterval`, is randomized by ±50%, grows by a factor chosen so
//! that it doubles over all attempts, is capped at 60 s and stops retrying once 15 minutes have passed.
//!
//! Replaying the body: bodies stream, so the middleware keeps a copy of what an attempt read. With
//! status retries it keeps up to `maxRequestBodyBytes` (default 2 MiB, negative for no bound), as Traefik
//! reads that much ahead; beyond it no status retry happens. Without status retries it keeps nothing: a
//! network-error retry only happens before the body was read, so the unread body is simply handed to the
//! next attempt. An upgrade (WebSocket) request is final once the server answered, as in Traefik where
//! the hijacked connection ends retries.

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use switchyard_config::Retry;
use tower::ServiceExt;

use crate::errors::CodeRanges;
use crate::layers::builtin_layer;
use crate::stack::{Answer, AsyncStep, async_step};
use crate::{
    BoxError, BuildContext, FailureStage, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody,
    UpstreamFailure,
};

pub(crate) fn retry(config: &Retry, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    if config.status.is_empty() && config.disable_retry_on_network_error {
        return Err(MiddlewareError::invalid(
            "disableRetryOnNetworkError",
            "retry needs status codes to retry on, or retries on network errors",
        ));
    }
    if config.attempts == 0 {
        return Err(MiddlewareError::invalid("attempts", "at least one attempt is needed"));
    }
    let status = CodeRanges::parse(&config.status, "status")?;
    let policy = RetryPolicy {
        attempts: config.attempts,
        status,
        max_body: usize::try_from(config.max_request_body_bytes).ok(),
        network: !config.disable_retry_on_network_error,
        initial_interval: config.initial_interval.to_std().unwrap_or_default(),
        timeout: config.timeout.to_std().filter(|t| !t.is_zero()),
        non_idempotent: config.retry_non_idempotent_method,
    };
    Ok(async_step(Arc::new(policy)))
}

/// A built `retry` middleware: when and how often a request is sent again.
#[derive(Debug)]
struct RetryPolicy {
    attempts: u32,
    status: CodeRanges,
    /// The largest body copy kept for status retries; `None` for no bound.
    max_body: Option<usize>,
    network: bool,
    initial_interval: Duration,
    timeout: Option<Duration>,
    non_idempotent: bool,
}

/// cenkalti/backoff's exponential backoff with Traefik's parameters.
#[derive(Debug)]
struct Backoff {
    current: Duration,
    multiplier: f64,
    start: Instant,
    zero: bool,
}

const MAX_INTERVAL: Duration = Duration::from_secs(60);
const MAX_ELAPSED: Duration = Duration::from_secs(15 * 60);
const RANDOMIZATION: f64 = 0.5;

impl Backoff {
    fn new(attempts: u32, initial: Duration, start: Instant) -> Self {
        let zero = attempts < 2 || initial.is_zero();
        Self {
            current: initial,
            multiplier: 2f64.powf(1.0 / f64::from(attempts.saturating_sub(1).max(1))),
            start,
            zero,
        }
    }

    /// The wait before the next attempt, given a random number in `[0, 1)`; `None` to stop.
    fn next(&mut self, now: Instant, random: f64) -> Option<Duration> {
        if self.zero {
            return Some(Duration::ZERO);
        }
        let interval = self.current.as_secs_f64();
        let delta = RANDOMIZATION * interval;
        let min = interval - delta;
        let max = interval + delta;
        // As the Go code: `min + random * (max - min + 1)` in nanoseconds.
        let next = Duration::from_secs_f64((min + random * (max - min + 1e-9)).max(0.0));
        self.current = if self.current.as_secs_f64() >= MAX_INTERVAL.as_secs_f64() / self.multiplier {
            MAX_INTERVAL
        } else {
            self.current.mul_f64(self.multiplier)
        };
        (now.saturating_duration_since(self.start) + next <= MAX_ELAPSED).then_some(next)
    }
}

fn random() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

impl AsyncStep for RetryPolicy {
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer {
        let policy = Arc::clone(self);
        let inner = inner.clone();
        if policy.attempts == 1 {
            return Box::pin(inner.oneshot(req));
        }
        Box::pin(run(policy, inner, req))
    }
}

async fn run(
    policy: Arc<RetryPolicy>,
    inner: HttpService,
    req: Request<RequestBody>,
) -> Result<Response<ResponseBody>, Infallible> {
    let mut attempts = Attempts::new(&policy, req);
    let mut attempt = 1;
    loop {
        let Ok(response) = inner.clone().oneshot(attempts.request()).await;
        let Some(wait) = attempts.wait_after(&policy, &response, attempt) else {
            return Ok(response);
        };
        drop(response);
        attempt += 1;
        if let Some(record) = crate::RequestRecord::of(&attempts.parts.extensions) {
            record.retried();
        }
        tracing::debug!(target: "switchyard::middleware", attempt, uri = %attempts.parts.uri, "retrying");
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The attempts at one request: its head, its body as the attempts share it, and the backoff.
struct Attempts {
    parts: http::request::Parts,
    replay: Replay,
    start: Instant,
    backoff: Backoff,
    /// Whether the method allows retrying on a status at all.
    status_retry: bool,
}

impl Attempts {
    fn new(policy: &RetryPolicy, req: Request<RequestBody>) -> Self {
        let idempotent = !matches!(req.method().as_str(), "POST" | "PATCH" | "LOCK");
        let status_retry = (policy.non_idempotent || idempotent) && !policy.status.is_empty();
        let (parts, body) = req.into_parts();
        let limit = if status_retry { policy.max_body } else { Some(0) };
        let replay = Replay::new(body, limit);
        let start = Instant::now();
        Self {
            parts,
            replay,
            start,
            backoff: Backoff::new(policy.attempts, policy.initial_interval, start),
            status_retry,
        }
    }

    /// The request of the next attempt: the same head, and the body from its start.
    fn request(&self) -> Request<RequestBody> {
        let mut request = Request::new(self.replay.attempt());
        *request.method_mut() = self.parts.method.clone();
        *request.uri_mut() = self.parts.uri.clone();
        *request.version_mut() = self.parts.version;
        *request.headers_mut() = self.parts.headers.clone();
        *request.extensions_mut() = self.parts.extensions.clone();
        request
    }

    /// The wait before attempt `attempt + 1`, after `response`; `None` when `response` is the answer.
    fn wait_after(
        &mut self,
        policy: &RetryPolicy,
        response: &Response<ResponseBody>,
        attempt: u32,
    ) -> Option<Duration> {
        if attempt >= policy.attempts {
            return None;
        }
        let timed_out = policy.timeout.is_some_and(|t| self.start.elapsed() >= t);
        let failure = UpstreamFailure::of(response).map(|f| f.stage());
        let retry = !timed_out
            && ((policy.network && failure == Some(FailureStage::BeforeSending))
                || (self.status_retry && policy.status.contains(response.status().as_u16())))
            && self.replay.replayable();
        if !retry {
            return None;
        }
        self.backoff.next(Instant::now(), random())
    }
}

/// The request body shared by the attempts: what was read of it so far (within the bound), and the rest.
struct Replay {
    shared: Arc<Mutex<Recorded>>,
    hint: SizeHint,
}

struct Recorded {
    source: Option<Pin<Box<RequestBody>>>,
    chunks: Vec<Bytes>,
    len: usize,
    trailers: Option<HeaderMap>,
    limit: Option<usize>,
    /// Read beyond the bound or failed: what was read is lost for later attempts.
    lost: bool,
    /// The attempt allowed to read; bodies of earlier attempts that are still polled read nothing.
    generation: u64,
}

impl Replay {
    fn new(body: RequestBody, limit: Option<usize>) -> Self {
        let hint = body.size_hint();
        let source = (!body.is_end_stream()).then(|| Box::pin(body));
        Self {
            shared: Arc::new(Mutex::new(Recorded {
                source,
                chunks: Vec::new(),
                len: 0,
                trailers: None,
                limit,
                lost: false,
                generation: 0,
            })),
            hint,
        }
    }

    fn replayable(&self) -> bool {
        !self.shared.lock().unwrap_or_else(PoisonError::into_inner).lost
    }

    fn attempt(&self) -> RequestBody {
        let mut recorded = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        recorded.generation += 1;
        if recorded.source.is_none() && recorded.chunks.is_empty() && recorded.trailers.is_none() {
            return RequestBody::empty();
        }
        RequestBody::new(AttemptBody {
            shared: Arc::clone(&self.shared),
            generation: recorded.generation,
            cursor: Cursor::default(),
            hint: self.hint,
        })
    }
}

/// One attempt's view of the shared body: the recorded part, then the rest as it arrives.
struct AttemptBody {
    shared: Arc<Mutex<Recorded>>,
    generation: u64,
    cursor: Cursor,
    hint: SizeHint,
}

/// How far one attempt has read the shared body.
#[derive(Default)]
struct Cursor {
    /// The next recorded chunk to give.
    next: usize,
    trailers_sent: bool,
}

impl Cursor {
    /// The source's next frame, recorded for later attempts; after it, the recorded trailers once.
    fn poll_source(
        &mut self,
        recorded: &mut Recorded,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(source) = recorded.source.as_mut() else {
            return Poll::Ready(self.trailers(recorded));
        };
        let polled = std::task::ready!(source.as_mut().poll_frame(cx));
        match polled {
            None => {
                recorded.source = None;
                Poll::Ready(None)
            }
            Some(Err(error)) => {
                recorded.lost = true;
                recorded.source = None;
                Poll::Ready(Some(Err(error)))
            }
            Some(Ok(frame)) => Poll::Ready(Some(Ok(self.record(recorded, frame)))),
        }
    }

    /// The recorded trailers, unless this attempt had them already.
    fn trailers(&mut self, recorded: &Recorded) -> Option<Result<Frame<Bytes>, BoxError>> {
        if !self.trailers_sent {
            if let Some(trailers) = recorded.trailers.clone() {
                self.trailers_sent = true;
                return Some(Ok(Frame::trailers(trailers)));
            }
        }
        None
    }

    /// Keeps a frame of the source for later attempts: a chunk while the copy stays within its bound
    /// (beyond it the copy is lost), the trailers.
    fn record(&mut self, recorded: &mut Recorded, frame: Frame<Bytes>) -> Frame<Bytes> {
        match frame.into_data() {
            Ok(data) => {
                let fits = recorded.limit.is_none_or(|limit| recorded.len + data.len() <= limit);
                if !recorded.lost && fits {
                    recorded.len += data.len();
                    recorded.chunks.push(data.clone());
                    self.next += 1;
                } else if !data.is_empty() {
                    recorded.lost = true;
                    recorded.chunks = Vec::new();
                }
                Frame::data(data)
            }
            Err(frame) => {
                if let Some(trailers) = frame.trailers_ref() {
                    recorded.trailers = Some(trailers.clone());
                    self.trailers_sent = true;
                }
                frame
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body was already read by an earlier attempt")]
struct Superseded;

impl Body for AttemptBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let mut recorded = this.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if recorded.generation != this.generation {
            return Poll::Ready(Some(Err(Superseded.into())));
        }
        if let Some(chunk) = recorded.chunks.get(this.cursor.next) {
            this.cursor.next += 1;
            return Poll::Ready(Some(Ok(Frame::data(chunk.clone()))));
        }
        this.cursor.poll_source(&mut recorded, cx)
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

builtin_layer! {
    /// `retry` as a tower layer: sends a request again, up to `attempts` times in all, when the service
    /// fails to reach its backend (an [`UpstreamFailure`] in the response) or answers one of `status`,
    /// as long as the request can be replayed.
    ///
    /// ```
    /// use switchyard_config::Retry;
    /// use switchyard_middleware::layers::RetryLayer;
    ///
    /// let retry = Retry { attempts: 3, status: vec!["502-504".into()], ..Default::default() };
    /// let layer = RetryLayer::new(retry).unwrap();
    /// # let _ = layer;
    /// assert_eq!(RetryLayer::new(Retry::default()).unwrap_err().field(), "attempts");
    /// ```
    RetryLayer(Retry => |config| retry(config, &BuildContext::new("retry")))
}

#[cfg(test)]
mod tests {
    use tower::Layer;

    use super::*;
    use http::Method;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_doubles_over_the_attempts() {
        let start = Instant::now();
        let mut b = Backoff::new(3, Duration::from_millis(100), start);
        // random = 0.5 gives the middle of the randomized interval.
        let first = b.next(start, 0.5).unwrap();
        assert!((first.as_secs_f64() - 0.1).abs() < 1e-6, "{first:?}");
        let second = b.next(start, 0.5).unwrap();
        assert!((second.as_secs_f64() - 0.1 * 2f64.sqrt()).abs() < 1e-6, "{second:?}");
        let low = b.next(start, 0.0).unwrap();
        assert!((low.as_secs_f64() - 0.1).abs() < 1e-6, "{low:?}");
        assert_eq!(b.next(start + MAX_ELAPSED, 0.5), None);
        let mut zero = Backoff::new(3, Duration::ZERO, start);
        assert_eq!(zero.next(start, 0.5), Some(Duration::ZERO));
    }

    fn retry_config(attempts: u32, status: &[&str]) -> Retry {
        Retry {
            attempts,
            status: status.iter().map(|s| (*s).to_owned()).collect(),
            ..Retry::default()
        }
    }

    #[test]
    fn rejects_bad_options() {
        let ctx = BuildContext::new("r");
        assert_eq!(retry(&retry_config(0, &[]), &ctx).err().unwrap().field(), "attempts");
        assert_eq!(
            retry(&retry_config(2, &["5x0"]), &ctx).err().unwrap().field(),
            "status[0]"
        );
        let mut off = retry_config(2, &[]);
        off.disable_retry_on_network_error = true;
        assert_eq!(retry(&off, &ctx).err().unwrap().field(), "disableRetryOnNetworkError");
    }

    /// A service that answers `statuses` in turn and echoes the body it read.
    fn flaky(statuses: Vec<u16>, calls: Arc<AtomicU32>) -> HttpService {
        HttpService::new(tower::service_fn(move |req: Request<RequestBody>| {
            let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
            let status = statuses[n.min(statuses.len() - 1)];
            async move {
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let mut response = Response::new(ResponseBody::from(body));
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                if status == 502 {
                    response
                        .extensions_mut()
                        .insert(UpstreamFailure::new(FailureStage::AfterSending));
                }
                Ok::<_, Infallible>(response)
            }
        }))
    }

    async fn call(config: Retry, statuses: Vec<u16>, method: Method, body: &'static str) -> (u16, String, u32) {
        let calls = Arc::new(AtomicU32::new(0));
        let layer = retry(&config, &BuildContext::new("r")).unwrap();
        let service = layer.layer(flaky(statuses, Arc::clone(&calls)));
        let mut req = Request::new(RequestBody::new(http_body_util::Full::new(Bytes::from_static(
            body.as_bytes(),
        ))));
        *req.method_mut() = method;
        let response = service.oneshot(req).await.unwrap();
        let status = response.status().as_u16();
        let text = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            String::from_utf8_lossy(&text).into_owned(),
            calls.load(Ordering::SeqCst),
        )
    }

    #[tokio::test]
    async fn retries_statuses_with_the_body_replayed() {
        let (status, body, calls) = call(
            retry_config(3, &["500-503"]),
            vec![500, 503, 200],
            Method::PUT,
            "payload",
        )
        .await;
        assert_eq!((status, body.as_str(), calls), (200, "payload", 3));
        // The last attempt's answer is returned as is.
        let (status, _, calls) = call(retry_config(2, &["500"]), vec![500, 500, 200], Method::GET, "").await;
        assert_eq!((status, calls), (500, 2));
        // POST is not retried on status unless asked.
        let (status, _, calls) = call(retry_config(3, &["500"]), vec![500, 200], Method::POST, "x").await;
        assert_eq!((status, calls), (500, 1));
        let mut post = retry_config(3, &["500"]);
        post.retry_non_idempotent_method = true;
        let (status, body, calls) = call(post, vec![500, 200], Method::POST, "x").await;
        assert_eq!((status, body.as_str(), calls), (200, "x", 2));
    }

    #[tokio::test]
    async fn body_beyond_the_bound_disables_status_retries() {
        let mut config = retry_config(3, &["500"]);
        config.max_request_body_bytes = 3;
        let (status, _, calls) = call(config, vec![500, 200], Method::PUT, "too long").await;
        assert_eq!((status, calls), (500, 1));
    }

    #[tokio::test]
    async fn a_failure_after_sending_is_not_a_network_retry() {
        let (status, _, calls) = call(retry_config(3, &[]), vec![502, 200], Method::GET, "").await;
        assert_eq!((status, calls), (502, 1));
    }
}
