//! The seam: one layer in front of routing that owns a request's timing, record, span and log line.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use http::header::HOST;
use http::{Request, Response, StatusCode, Uri};
use http_body::Body;
use switchyard_middleware::{BodyEnd, ClientInfo, HttpService, Progress, RequestBody, RequestRecord, ResponseBody};
use tower::{Layer, Service, ServiceExt};

use crate::{Exchange, Observer, Signals};

/// The observing of one entrypoint's requests: the seam a server calls around each request (see
/// [`observe`](Self::observe)), and what [`Observer::layer`]'s tower layer calls.
///
/// ```
/// use switchyard_config::{Format, StaticConfig, load_str};
/// use switchyard_middleware::{ClientInfo, RequestBody, RequestRecord, ResponseBody};
/// use switchyard_observe::Observer;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let yaml = "metrics:\n  prometheus: {}\n";
/// let config: StaticConfig = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
/// let observer = Observer::from_static(&config).unwrap().unwrap();
/// let web = observer.entry_point("web");
/// let client = ClientInfo::new("192.0.2.1".parse().unwrap(), false);
/// let req = http::Request::new(RequestBody::empty());
/// let response = web
///     .observe(req, client, |req| async move {
///         // Routing and the service fill the request's record in.
///         assert!(RequestRecord::of(req.extensions()).is_some());
///         http::Response::new(ResponseBody::empty())
///     })
///     .await;
/// drop(response); // the exchange is counted when its body ends
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct EntryObserver {
    observer: Arc<Observer>,
    entry_point: Arc<str>,
    /// The entrypoint's `observability` switches.
    signals: Signals,
}

impl EntryObserver {
    pub(crate) fn new(observer: Arc<Observer>, entry_point: Arc<str>, signals: Signals) -> Self {
        Self {
            observer,
            entry_point,
            signals,
        }
    }

    /// Observes one request from `client`: times it, puts its [`RequestRecord`] in its extensions,
    /// starts its server span, hands it to `inner`, and writes its log line, metrics and span when the
    /// response's body ends.
    pub async fn observe<F, A>(
        &self,
        mut req: Request<RequestBody>,
        client: ClientInfo,
        inner: F,
    ) -> Response<ResponseBody>
    where
        F: FnOnce(Request<RequestBody>) -> A,
        A: Future<Output = Response<ResponseBody>>,
    {
        let observation = self.begin(&mut req, client);
        observation.answered(inner(req).await)
    }

    /// Starts observing a request from `client`, for a server that calls its handler itself rather
    /// than through [`observe`](Self::observe): times it, puts its [`RequestRecord`] in its
    /// extensions and starts its server span. Hand the handler's response to
    /// [`Observation::answered`].
    ///
    /// Unlike [`observe`](Self::observe), it leaves the handler's future where the server keeps it:
    /// the observation is one small allocation whatever the handler's future weighs.
    ///
    /// ```
    /// use switchyard_config::{Format, StaticConfig, load_str};
    /// use switchyard_middleware::{ClientInfo, RequestBody, ResponseBody};
    /// use switchyard_observe::Observer;
    ///
    /// let yaml = "metrics:\n  prometheus: {}\n";
    /// let config: StaticConfig = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
    /// let observer = Observer::from_static(&config).unwrap().unwrap();
    /// let web = observer.entry_point("web");
    /// let mut req = http::Request::new(RequestBody::empty());
    /// let observation = web.begin(&mut req, ClientInfo::new("192.0.2.1".parse().unwrap(), false));
    /// let response = observation.answered(http::Response::new(ResponseBody::empty()));
    /// drop(response); // counted now
    /// let text = observer.metrics().unwrap().encode();
    /// assert!(text.contains(r#"traefik_entrypoint_requests_total{code="200",method="GET",protocol="http",entrypoint="web"} 1"#));
    /// ```
    pub fn begin(&self, req: &mut Request<RequestBody>, client: ClientInfo) -> Observation {
        let started = Instant::now();
        let observer = &self.observer;
        let exchange = arrived(req, observer, client, Arc::clone(&self.entry_point));
        let span = observer.start_span(req, &exchange, self.signals, started);
        let record = Arc::new(span.as_ref().map_or_else(RequestRecord::default, |span| {
            RequestRecord::with_attempts(span.attempts())
        }));
        req.extensions_mut().insert(Arc::clone(&record));
        Observation(Box::new(Pending {
            observer: Arc::clone(observer),
            exchange,
            signals: self.signals,
            record,
            span,
            started,
        }))
    }
}

/// A request [`EntryObserver::begin`] observes, until its response ends.
///
/// Dropped without [`answered`](Self::answered) (the client went away before the response's head),
/// the request is not reported.
#[derive(Debug)]
#[must_use = "the request is reported only once its response is handed to `answered`"]
pub struct Observation(Box<Pending>);

impl Observation {
    /// Takes the handler's response: the request's log line, metrics and span are written when the
    /// returned response's body ends (or is dropped, for a client that went away).
    pub fn answered(self, response: Response<ResponseBody>) -> Response<ResponseBody> {
        let mut pending = self.0;
        pending.exchange.status = response.status();
        if pending.observer.needs.response_headers {
            pending.exchange.response_headers = Some(response.headers().clone());
        }
        response.map(|body| body.on_end(pending))
    }
}

/// The layer an entrypoint's requests go through first when anything observes them: see
/// [`Observer::layer`]. The client is the request's [`ClientInfo`].
#[derive(Debug, Clone)]
pub(crate) struct ObserveLayer(pub(crate) EntryObserver);

impl Layer<HttpService> for ObserveLayer {
    type Service = ObserveService;

    fn layer(&self, inner: HttpService) -> ObserveService {
        ObserveService {
            inner,
            entry: self.0.clone(),
        }
    }
}

/// See [`ObserveLayer`].
#[derive(Clone)]
pub(crate) struct ObserveService {
    inner: HttpService,
    entry: EntryObserver,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

impl Service<Request<RequestBody>> for ObserveService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        let (inner, entry) = (self.inner.clone(), self.entry.clone());
        let client = ClientInfo::of(&req);
        Box::pin(async move {
            let inner = |req| async move {
                let Ok(response) = inner.oneshot(req).await;
                response
            };
            Ok(entry.observe(req, client, inner).await)
        })
    }
}

/// The exchange as far as it is known when the request arrives: what the client asked. The rest is
/// filled in as the response goes out.
fn arrived(req: &Request<RequestBody>, observer: &Observer, client: ClientInfo, entry_point: Arc<str>) -> Exchange {
    let needs = observer.needs;
    // hyper reads the body's length from `Content-Length` (`None` for a chunked body).
    let request_size = req.body().size_hint().exact().unwrap_or(0);
    Exchange {
        entry_point,
        // The wall clock only for the exporters that write it (metrics alone do not).
        start: if needs.wall_clock {
            SystemTime::now()
        } else {
            SystemTime::UNIX_EPOCH
        },
        duration: Duration::ZERO,
        client: SocketAddr::new(client.ip, client.port),
        tls: client.tls,
        tls_version: client.tls_version,
        tls_cipher: client.tls_cipher,
        method: req.method().clone(),
        // Cloning the target may allocate (hyper's bytes are shared on their first clone).
        uri: if needs.uri { req.uri().clone() } else { Uri::default() },
        version: req.version(),
        protocol: crate::exchange::protocol_of(req.headers()),
        host: needs.host.then(|| host_of(req)).flatten(),
        request_headers: needs.request_headers.then(|| req.headers().clone()),
        request_size,
        status: StatusCode::OK,
        response_headers: None,
        response_size: 0,
        aborted: false,
        progress: Progress::default(),
        trace: None,
    }
}

/// The request's `Host` (or `:authority`).
fn host_of(req: &Request<RequestBody>) -> Option<String> {
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    let authority = || req.uri().authority().map(http::uri::Authority::as_str);
    host.or_else(authority).map(str::to_owned)
}

/// A request being observed: its exchange, filled in as it goes, until the end of the response body.
#[derive(Debug)]
struct Pending {
    observer: Arc<Observer>,
    exchange: Exchange,
    /// The entrypoint's `observability` switches.
    signals: Signals,
    record: Arc<RequestRecord>,
    span: Option<crate::ServerSpan>,
    started: Instant,
}

impl BodyEnd for Pending {
    /// The response's body ended (or was dropped, for a client that went away).
    fn ended(mut self: Box<Self>, sent: u64, complete: bool) {
        let exchange = &mut self.exchange;
        exchange.duration = self.started.elapsed();
        exchange.response_size = sent;
        exchange.aborted = !complete;
        exchange.progress = self.record.take_progress();
        exchange.trace = (self.span.as_ref())
            .filter(|_| self.observer.needs.trace_ids)
            .map(crate::ServerSpan::ids);
        let span = self.span.take();
        self.observer.finish(&self.exchange, span, self.signals);
    }
}
