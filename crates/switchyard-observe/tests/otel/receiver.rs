//! Real OTLP receivers on 127.0.0.1: a tonic `TraceService` served over HTTP/2, and an HTTP/1.1
//! server accepting `POST /v1/traces` protobuf bodies. Both keep what they receive.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use rustls::pki_types::PrivateKeyDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// What a receiver got: export requests and the headers (gRPC metadata) they came with.
#[derive(Debug, Default)]
struct Inbox {
    requests: Vec<ExportTraceServiceRequest>,
    headers: Vec<HeaderMap>,
}

type Shared = Arc<Mutex<Inbox>>;

/// One exported span, with its resource's attributes.
#[derive(Debug, Clone)]
pub struct Exported {
    pub resource: BTreeMap<String, String>,
    pub span: Span,
}

impl Exported {
    /// An attribute of the span, rendered as text (arrays as `a,b`).
    pub fn attr(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }

    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// The status code (0 unset, 1 ok, 2 error) and message.
    pub fn status(&self) -> (i32, String) {
        self.span
            .status
            .as_ref()
            .map_or((0, String::new()), |s| (s.code, s.message.clone()))
    }
}

/// A running receiver.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inbox: Shared,
}

impl Receiver {
    /// An OTLP/gRPC receiver, over TLS with `tls`.
    pub async fn grpc(tls: Option<&Tls>) -> Self {
        let (listener, receiver) = Self::bind().await;
        let service = TraceServiceServer::new(Collector(Arc::clone(&receiver.inbox)));
        let acceptor = tls.map(|tls| tls.acceptor(b"h2"));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = TowerToHyperService::new(service.clone());
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let io = accepted(stream, acceptor).await?;
                    let http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                    http2.serve_connection(TokioIo::new(io), service).await.ok()
                });
            }
        });
        receiver
    }

    /// An OTLP/HTTP receiver (protobuf bodies on `POST /v1/traces`), over TLS with `tls`.
    pub async fn http(tls: Option<&Tls>) -> Self {
        let (listener, receiver) = Self::bind().await;
        let inbox = Arc::clone(&receiver.inbox);
        let acceptor = tls.map(|tls| tls.acceptor(b"http/1.1"));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = Arc::clone(&inbox);
                let service = hyper::service::service_fn(move |req| http_export(Arc::clone(&inbox), req));
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let io = accepted(stream, acceptor).await?;
                    let http1 = hyper::server::conn::http1::Builder::new();
                    http1.serve_connection(TokioIo::new(io), service).await.ok()
                });
            }
        });
        receiver
    }

    /// A receiver that is not there: `addr`, for configurations pointing at nothing.
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            addr,
            inbox: Shared::default(),
        }
    }

    async fn bind() -> (TcpListener, Self) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a local port");
        let addr = listener.local_addr().expect("the bound address");
        (listener, Self::at(addr))
    }

    /// Every span received so far, in the order received.
    pub fn spans(&self) -> Vec<Exported> {
        let inbox = self.inbox.lock().expect("the inbox");
        let resource_spans = inbox.requests.iter().flat_map(|r| r.resource_spans.iter());
        let mut spans = Vec::new();
        for resource_spans in resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            for span in resource_spans.scope_spans.iter().flat_map(|s| s.spans.iter()) {
                spans.push(Exported {
                    resource: resource.clone(),
                    span: span.clone(),
                });
            }
        }
        spans
    }

    /// The headers of every export received.
    pub fn headers(&self) -> Vec<HeaderMap> {
        self.inbox.lock().expect("the inbox").headers.clone()
    }
}

/// A connection's stream, over TLS or not.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The stream of an accepted connection, after the TLS handshake when there is one.
async fn accepted(stream: TcpStream, tls: Option<TlsAcceptor>) -> Option<Box<dyn Io>> {
    match tls {
        None => Some(Box::new(stream)),
        Some(acceptor) => Some(Box::new(acceptor.accept(stream).await.ok()?)),
    }
}

/// A self-signed certificate for `127.0.0.1` that receivers serve, and its PEM for the clients' `ca`.
pub struct Tls {
    config: rustls::ServerConfig,
    /// The certificate, PEM.
    pub ca: String,
}

impl Tls {
    pub fn new() -> Self {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("a certificate");
        let der = PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(switchyard_tls::provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![key.cert.der().clone()], der)
            .expect("the certificate and key");
        Self {
            config,
            ca: key.cert.pem(),
        }
    }

    fn acceptor(&self, alpn: &[u8]) -> TlsAcceptor {
        let mut config = self.config.clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}

/// The gRPC trace service.
struct Collector(Shared);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        let mut inbox = self.0.lock().expect("the inbox");
        inbox.headers.push(headers);
        inbox.requests.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn http_export(inbox: Shared, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != http::Method::POST || req.uri().path() != "/v1/traces" {
        return Ok(answer(StatusCode::NOT_FOUND, Bytes::new()));
    }
    let headers = req.headers().clone();
    let Ok(body) = req.into_body().collect().await else {
        return Ok(answer(StatusCode::BAD_REQUEST, Bytes::new()));
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body.to_bytes()) else {
        return Ok(answer(StatusCode::BAD_REQUEST, Bytes::new()));
    };
    let mut inbox = inbox.lock().expect("the inbox");
    inbox.headers.push(headers);
    inbox.requests.push(export);
    let reply = ExportTraceServiceResponse::default().encode_to_vec();
    Ok(answer(StatusCode::OK, Bytes::from(reply)))
}

fn answer(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

fn attributes(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), render(kv.value.as_ref())))
        .collect()
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| render(kv.value.as_ref()))
}

fn render(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::ArrayValue(array)) => {
            let values: Vec<String> = array.values.iter().map(|v| render(Some(v))).collect();
            values.join(",")
        }
        _ => String::new(),
    }
}

/// Lower-case hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
