//! Spans out: a bounded queue of encoded spans, and an OTLP exporter (gRPC through tonic, or
//! HTTP/protobuf through hyper) on a thread and Tokio runtime of its own that sends the queue's spans
//! in batches.
//!
//! Requests never wait on the collector: a request appends its encoded span to the queue (a short
//! lock, no allocation once the queue's buffer has grown) and goes on. A full queue drops spans; an
//! export that fails (a collector down or unreachable, or answering with an error) loses its batch.
//! Both are counted and reported with `tracing::warn!` at most once a minute. The export runtime is
//! the tracer's own, so the exporter works whether or not the tracer is built inside the gateway's
//! runtime, and a slow collector never takes the gateway's workers.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use http::header::CONTENT_TYPE;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Notify, mpsc};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

use super::config::{Collector, Transport, invalid};
use super::proto;
use crate::ObserveError;

/// Spans waiting for export at most; more are dropped (the SDK's and Traefik's default).
pub(super) const MAX_QUEUE: usize = 2048;
/// Spans that make the exporter send without waiting for [`DELAY`] (the SDK's batch size).
const BATCH: usize = 512;
/// How long spans wait for a batch to fill (the SDK's schedule delay).
const DELAY: Duration = Duration::from_secs(5);
/// How long one export (and a connection to the collector) may take.
pub(super) const TIMEOUT: Duration = Duration::from_secs(10);
/// Lost spans are reported at most this often.
pub(super) const WARN_EVERY: Duration = Duration::from_secs(60);
/// A request's span buffer keeps at most this much room between spans.
const SCRATCH_KEEP: usize = 64 * 1024;
/// The gRPC method of OTLP trace export.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Buffers a thread keeps for reuse at most (see [`buffer`]).
const BUFFERS_KEPT: usize = 64;

thread_local! {
    /// Where a span is encoded before it joins the queue, reused by every span of the thread.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Buffers of spans in flight, returned by [`recycle`].
    static BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer for what a span in flight has encoded so far (a client span's attributes, from
/// the start of its attempt to its end): one the thread reuses, or a new one.
pub(super) fn buffer() -> Vec<u8> {
    BUFFERS
        .with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| Vec::with_capacity(256))
}

/// Gives a [`buffer`] back for reuse, unless it grew large or the thread keeps enough.
pub(super) fn recycle(mut buf: Vec<u8>) {
    if buf.capacity() > SCRATCH_KEEP / 16 {
        return;
    }
    buf.clear();
    BUFFERS.with_borrow_mut(|kept| {
        if kept.len() < BUFFERS_KEPT {
            kept.push(buf);
        }
    });
}

/// The spans waiting for export, each already a `ScopeSpans.spans` field, after room for the
/// framing of their export request (see [`proto::export_request`]).
#[derive(Debug)]
struct Batch {
    spans: Vec<u8>,
    count: usize,
}

impl Batch {
    /// An empty batch in `spans`, whose first `room` bytes are kept for the framing.
    fn new(room: usize, mut spans: Vec<u8>) -> Self {
        spans.clear();
        spans.resize(room, 0);
        Self { spans, count: 0 }
    }
}

/// The buffer of the batch being sent, until the collector's client is done with it: then it goes
/// back to its queue for a later batch, so that a busy tracer allocates no new batch buffers (each
/// of them hundreds of kilobytes, which the allocator would map and unmap anew).
struct Sending {
    buf: Vec<u8>,
    /// Where the export request starts in `buf`.
    start: usize,
    home: Arc<Mutex<Option<Vec<u8>>>>,
}

impl AsRef<[u8]> for Sending {
    fn as_ref(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        *self.home.lock().unwrap_or_else(PoisonError::into_inner) = Some(buf);
    }
}

/// The queue between the requests and the exporter.
#[derive(Debug)]
pub(super) struct Queue {
    batch: Mutex<Batch>,
    /// What every export request carries besides the spans.
    envelope: Envelope,
    /// The room before the spans of a batch.
    room: usize,
    /// The buffer of the last batch sent, back from the collector's client.
    spare: Arc<Mutex<Option<Vec<u8>>>>,
    /// Wakes the exporter when a batch is full.
    full: Notify,
    losses: Losses,
}

impl Queue {
    /// A queue of spans for export requests with `envelope`.
    pub(super) fn new(envelope: Envelope) -> Self {
        let room = proto::export_room(&envelope.resource, &envelope.scope);
        Self {
            batch: Mutex::new(Batch::new(room, Vec::new())),
            envelope,
            room,
            spare: Arc::default(),
            full: Notify::new(),
            losses: Losses::default(),
        }
    }

    /// Encodes a span with `write` and queues it; drops (and counts) it when the queue is full.
    pub(super) fn submit(&self, write: impl FnOnce(&mut Vec<u8>)) {
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            write(scratch);
            self.push(scratch);
            if scratch.capacity() > SCRATCH_KEEP {
                *scratch = Vec::new();
            }
        });
    }

    fn push(&self, span: &[u8]) {
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        if batch.count >= MAX_QUEUE {
            drop(batch);
            self.losses.dropped();
            return;
        }
        proto::bytes(&mut batch.spans, 2, span);
        batch.count += 1;
        let full = batch.count == BATCH;
        drop(batch);
        if full {
            self.full.notify_one();
        }
    }

    /// Takes every queued span (`None` when none are), leaving the spare buffer (or a new one) to
    /// the next batch.
    fn take(&self) -> Option<Batch> {
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        if batch.count == 0 {
            return None;
        }
        let spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner).take();
        let next = spare.unwrap_or_else(|| Vec::with_capacity(batch.spans.capacity().min(BATCH * 1024)));
        Some(std::mem::replace(&mut *batch, Batch::new(self.room, next)))
    }

    /// Takes every queued span as an export request, and how many spans it carries (`None` when
    /// none are queued). The request's buffer comes back to the queue once sent.
    fn take_request(&self) -> Option<(Bytes, usize)> {
        let mut batch = self.take()?;
        let envelope = &self.envelope;
        let start = proto::frame_export_request(&envelope.resource, &envelope.scope, &mut batch.spans, self.room);
        let sending = Sending {
            buf: batch.spans,
            start,
            home: Arc::clone(&self.spare),
        };
        Some((Bytes::from_owner(sending), batch.count))
    }
}

#[cfg(test)]
impl Queue {
    /// The queued spans as an export request.
    pub(super) fn request_for_tests(&self) -> Bytes {
        self.take_request().map(|(request, _)| request).unwrap_or_default()
    }

    pub(super) fn count_for_tests(&self) -> usize {
        self.batch.lock().unwrap_or_else(PoisonError::into_inner).count
    }

    pub(super) fn dropped_for_tests(&self) -> u64 {
        self.losses.state.lock().unwrap_or_else(PoisonError::into_inner).dropped
    }
}

/// What the export thread is asked besides exporting.
#[derive(Debug)]
enum Control {
    /// Export what is queued now, then say so.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The export thread of a tracer. It ends when this is dropped.
#[derive(Debug)]
pub(super) struct Exporter {
    control: mpsc::UnboundedSender<Control>,
}

/// What every export request carries besides the spans: the encoded `Resource` and
/// `InstrumentationScope`.
#[derive(Debug)]
pub(super) struct Envelope {
    pub(super) resource: Vec<u8>,
    pub(super) scope: Vec<u8>,
}

impl Exporter {
    /// Starts the export thread for `collector`, sending `queue`'s spans.
    pub(super) fn start(collector: &Collector, queue: Arc<Queue>) -> Result<Self, ObserveError> {
        let (control, requests) = mpsc::unbounded_channel();
        let thread = Thread {
            name: "switchyard-otlp",
            key: "tracing",
        };
        thread.spawn(collector, GRPC_EXPORT, move |sender| {
            let export = Export { queue, sender };
            export.run(requests)
        })?;
        Ok(Self { control })
    }

    /// Exports what is queued now; waits `timeout` at most.
    pub(super) fn flush(&self, timeout: Duration) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.control.send(Control::Flush(done)).is_ok() && wait.recv_timeout(timeout).is_err() {
            tracing::warn!("tracing: spans were still being exported after {timeout:?}");
        }
    }
}

/// A thread of its own running a current-thread Tokio runtime, for a collector's I/O.
pub(super) struct Thread {
    /// The thread's name.
    pub(super) name: &'static str,
    /// The option path errors name.
    pub(super) key: &'static str,
}

impl Thread {
    /// Builds the [`Sender`] to `collector` on the thread's runtime (tonic's lazy channel spawns its
    /// worker onto the runtime it is built in), and runs there what `run` makes of it.
    pub(super) fn spawn<F>(
        self,
        collector: &Collector,
        grpc_path: &'static str,
        run: impl FnOnce(Sender) -> F + Send + 'static,
    ) -> Result<(), ObserveError>
    where
        F: std::future::Future<Output = ()>,
    {
        let cannot = |e: std::io::Error| invalid(self.key, format!("cannot start the {} thread: {e}", self.name));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(cannot)?;
        let sender = {
            let _entered = runtime.enter();
            Sender::new(collector, grpc_path)?
        };
        std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || runtime.block_on(run(sender)))
            .map_err(cannot)?;
        Ok(())
    }
}

/// The export thread's state.
struct Export {
    queue: Arc<Queue>,
    sender: Sender,
}

impl Export {
    async fn run(self, mut control: mpsc::UnboundedReceiver<Control>) {
        loop {
            let flush = tokio::select! {
                () = self.queue.full.notified() => None,
                () = tokio::time::sleep(DELAY) => None,
                message = control.recv() => match message {
                    Some(Control::Flush(done)) => Some(done),
                    None => break,
                },
            };
            self.export().await;
            if let Some(done) = flush {
                let _ = done.send(());
            }
        }
        self.export().await;
    }

    async fn export(&self) {
        let Some((request, count)) = self.queue.take_request() else {
            return;
        };
        let sent = tokio::time::timeout(TIMEOUT, self.sender.send(request)).await;
        let failure = match sent {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => format!("no answer from the collector within {TIMEOUT:?}"),
        };
        self.queue.losses.failed(count, &failure);
    }
}

/// How export requests reach the collector.
pub(super) enum Sender {
    Grpc {
        channel: Channel,
        metadata: tonic::metadata::MetadataMap,
        /// The export method (traces' or metrics').
        path: &'static str,
    },
    Http {
        client: Box<HttpClient>,
        uri: Uri,
        headers: HeaderMap,
    },
}

/// The HTTP/protobuf client, with TLS for an `https` collector.
pub(super) enum HttpClient {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl Sender {
    /// The sender to `collector`; over gRPC, export requests call the method `grpc_path`. Call it
    /// inside the Tokio runtime that will send (tonic's channel spawns its worker there).
    pub(super) fn new(collector: &Collector, grpc_path: &'static str) -> Result<Self, ObserveError> {
        let tls = tls_config(collector)?;
        let headers = headers(collector)?;
        Ok(match collector.transport {
            Transport::Grpc => Self::Grpc {
                channel: grpc_channel(collector, tls)?,
                metadata: tonic::metadata::MetadataMap::from_headers(headers),
                path: grpc_path,
            },
            Transport::Http => {
                let uri = collector
                    .endpoint
                    .parse::<Uri>()
                    .map_err(|e| invalid(&format!("{}.endpoint", collector.key), e.to_string()))?;
                Self::Http {
                    client: Box::new(http_client(tls)),
                    uri,
                    headers,
                }
            }
        })
    }

    /// Sends one export request (`ExportTraceServiceRequest`, `ExportMetricsServiceRequest`).
    pub(super) async fn send(&self, body: Bytes) -> Result<(), String> {
        match self {
            Self::Grpc {
                channel,
                metadata,
                path,
            } => {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.map_err(|e| e.to_string())?;
                let request = tonic::Request::from_parts(metadata.clone(), tonic::Extensions::default(), body);
                let path = PathAndQuery::from_static(path);
                let answer = grpc.unary(request, path, RawCodec).await;
                answer
                    .map(drop)
                    .map_err(|status| format!("{}: {}", status.code(), status.message()))
            }
            Self::Http { client, uri, headers } => post(client, uri, headers, body).await,
        }
    }
}

/// Posts one export request over HTTP; a status other than 2xx is a failure.
async fn post(client: &HttpClient, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Result<(), String> {
    let mut request = Request::post(uri.clone())
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    request.headers_mut().extend(headers.clone());
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
    let response = match client {
        HttpClient::Plain(client) => client.request(request).await,
        HttpClient::Tls(client) => client.request(request).await,
    };
    let response = response.map_err(|e| error_chain(&e))?;
    let status = response.status();
    // Read to the end, so that the connection goes back to the pool.
    let _ = response.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the collector answered {status}"))
    }
}

/// An error and its sources, `: `-separated (hyper's own message says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn http_client(tls: Option<rustls::ClientConfig>) -> HttpClient {
    let builder = Client::builder(TokioExecutor::new());
    match tls {
        Some(tls) => {
            let https = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
            HttpClient::Tls(builder.build(https.enable_http1().wrap_connector(tcp())))
        }
        None => HttpClient::Plain(builder.build(tcp())),
    }
}

fn grpc_channel(collector: &Collector, tls: Option<rustls::ClientConfig>) -> Result<Channel, ObserveError> {
    let endpoint = tonic::transport::Endpoint::from_shared(collector.endpoint.clone())
        .map_err(|e| invalid(&format!("{}.endpoint", collector.key), e.to_string()))?
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT);
    Ok(match tls {
        Some(tls) => {
            let https = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
            endpoint.connect_with_connector_lazy(https.enable_http2().wrap_connector(tcp()))
        }
        None => endpoint.connect_with_connector_lazy(tcp()),
    })
}

/// A gRPC codec for messages that are already protobuf: the export request is written by
/// [`proto`], and the answer (an `ExportTraceServiceResponse`) is not read.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        *self
    }

    fn decoder(&mut self) -> Self {
        *self
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// The TCP connector under both transports.
fn tcp() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(TIMEOUT));
    http
}

/// The client TLS of an `https` collector: its `tls` options, or the system's roots.
fn tls_config(collector: &Collector) -> Result<Option<rustls::ClientConfig>, ObserveError> {
    if !collector.endpoint.starts_with("https://") {
        return Ok(None);
    }
    let options = collector.tls.clone().unwrap_or_default();
    let config = switchyard_tls::auth_client_config(&options)
        .map_err(|e| invalid(&format!("{}.tls", collector.key), e.to_string()))?;
    let mut config = Arc::unwrap_or_clone(config);
    // The connector sets ALPN for the transport (h2 for gRPC, http/1.1 for HTTP).
    config.alpn_protocols.clear();
    Ok(Some(config))
}

/// The collector's `headers`, checked.
fn headers(collector: &Collector) -> Result<HeaderMap, ObserveError> {
    let mut map = HeaderMap::new();
    for (name, value) in &collector.headers {
        let key = || format!("{}.headers.{name}", collector.key);
        let name = HeaderName::try_from(name.as_str()).map_err(|e| invalid(&key(), e.to_string()))?;
        let value = HeaderValue::try_from(value.as_str()).map_err(|e| invalid(&key(), e.to_string()))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Spans lost since the last warning.
#[derive(Debug, Default)]
pub(super) struct Losses {
    state: Mutex<LossState>,
}

#[derive(Debug, Default)]
struct LossState {
    dropped: u64,
    failed: u64,
    error: Option<String>,
    warned: Option<Instant>,
}

impl Losses {
    pub(super) fn dropped(&self) {
        self.record(|state| state.dropped += 1);
    }

    fn failed(&self, spans: usize, error: &str) {
        self.record(|state| {
            state.failed += spans as u64;
            state.error = Some(error.to_owned());
        });
    }

    fn record(&self, count: impl FnOnce(&mut LossState)) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        count(&mut state);
        let due = state.due(Instant::now());
        drop(state);
        if let Some(message) = due {
            tracing::warn!("tracing: {message}");
        }
    }
}

impl LossState {
    /// The warning to give now, if the last one is a minute old; counting starts again.
    fn due(&mut self, now: Instant) -> Option<String> {
        if self.warned.is_some_and(|last| now.duration_since(last) < WARN_EVERY) {
            return None;
        }
        self.warned = Some(now);
        let mut parts = Vec::new();
        if self.dropped > 0 {
            parts.push(format!("{} spans dropped (export queue full)", self.dropped));
        }
        if self.failed > 0 {
            let error = self.error.take().unwrap_or_default();
            parts.push(format!("{} spans not exported ({error})", self.failed));
        }
        (self.dropped, self.failed) = (0, 0);
        Some(parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::ClientTls;

    #[test]
    fn a_sent_batchs_buffer_comes_back_for_the_batch_after_next() {
        let queue = Queue::new(Envelope {
            resource: proto::resource(&[("service.name".into(), "edge".into())]),
            scope: proto::scope("switchyard", "0"),
        });
        let span = |buf: &mut Vec<u8>| proto::bytes(buf, proto::span::NAME, b"GET");
        assert!(queue.take_request().is_none(), "nothing queued");
        queue.submit(span);
        let (first, count) = queue.take_request().expect("one span");
        assert_eq!(count, 1);
        let sent = first.as_ptr();
        drop(first);
        // The next batch was given a new buffer when the first left; the one after gets the first's.
        queue.submit(span);
        let (second, _) = queue.take_request().expect("one span");
        assert_ne!(second.as_ptr(), sent);
        queue.submit(span);
        let (third, _) = queue.take_request().expect("one span");
        assert_eq!(third.as_ptr(), sent, "the first request's buffer is used again");
        assert_eq!(second, third);
    }

    #[test]
    fn losses_are_reported_at_most_once_a_minute_with_what_accumulated() {
        let start = Instant::now();
        let mut state = LossState {
            dropped: 3,
            ..LossState::default()
        };
        assert_eq!(state.due(start).as_deref(), Some("3 spans dropped (export queue full)"));
        state.failed = 10;
        state.error = Some("connection refused".into());
        assert_eq!(state.due(start + Duration::from_secs(30)), None);
        state.dropped = 1;
        assert_eq!(
            state.due(start + WARN_EVERY).as_deref(),
            Some("1 spans dropped (export queue full); 10 spans not exported (connection refused)")
        );
        assert_eq!((state.dropped, state.failed), (0, 0));
    }

    #[test]
    fn bad_headers_and_tls_name_their_option() {
        let mut collector =
            super::super::config::collector(None, super::super::config::Signal::Traces).expect("default collector");
        collector.headers.insert("bad header".into(), "x".into());
        assert!(matches!(
            headers(&collector),
            Err(ObserveError::Invalid { key, .. }) if key == "tracing.otlp.http.headers.bad header"
        ));
        collector.tls = Some(ClientTls {
            cert: "/nonexistent/cert.pem".into(),
            ..ClientTls::default()
        });
        assert!(matches!(
            tls_config(&collector),
            Err(ObserveError::Invalid { key, .. }) if key == "tracing.otlp.http.tls"
        ));
    }
}
