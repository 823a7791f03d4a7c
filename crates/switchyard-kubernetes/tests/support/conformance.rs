//! What the ported Gateway API conformance tests share: a backend that echoes each request as JSON
//! (its pod, namespace, method, host, path, query and headers with every value), as the upstream
//! suite's echo server does, and a request helper that reads it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use super::{Client, Cluster, ready, service, slice};

/// What an echo backend received.
#[derive(Debug, Clone, Deserialize)]
pub struct Echoed {
    pub pod: String,
    pub namespace: String,
    pub method: String,
    pub host: String,
    pub path: String,
    pub query: String,
    /// Lower-case names, every value in order.
    pub headers: BTreeMap<String, Vec<String>>,
}

impl Echoed {
    /// The values of header `name` (lower case).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .get(name)
            .map(|values| values.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

/// An echo backend: a Service `name` (port 8080) in `namespace` with one ready pod `{name}-0`. The
/// request header `x-echo-set-header: name:value,name:value` makes it answer with those headers.
pub struct EchoBackend {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EchoBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EchoBackend {
    pub async fn start(cluster: &Cluster, namespace: &str, name: &str) -> Self {
        let (backend, port) = Self::listen(namespace, &format!("{name}-0")).await;
        cluster.server.apply(service(namespace, name, &[("http", 8080)]));
        cluster.server.apply(slice(
            namespace,
            name,
            &format!("{name}-x"),
            "http",
            port,
            &ready(&["127.0.0.1"]),
        ));
        backend
    }

    /// The pod alone, on 127.0.0.1: the backend and its port, for a test that writes the Service and
    /// EndpointSlices itself.
    pub async fn listen(namespace: &str, pod: &str) -> (Self, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let pod = pod.to_owned();
        let namespace_owned = namespace.to_owned();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (pod, namespace) = (pod.clone(), namespace_owned.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let response = echo(&pod, &namespace, &request);
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (Self { task }, port)
    }
}

fn echo(pod: &str, namespace: &str, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers() {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let host = request
        .headers()
        .get("host")
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .unwrap_or_default();
    let body = json!({
        "pod": pod, "namespace": namespace, "method": request.method().as_str(), "host": host,
        "path": request.uri().path(), "query": request.uri().query().unwrap_or(""), "headers": headers,
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    for pair in request
        .headers()
        .get_all("x-echo-set-header")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let parsed = pair.split_once(':').and_then(|(name, value)| {
            let name = http::HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
            Some((name, http::HeaderValue::from_str(value.trim()).ok()?))
        });
        if let Some((name, value)) = parsed {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// What a request got: the status, the response headers, and what the echo backend received (when
/// it was the one answering).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub echoed: Option<Echoed>,
}

/// Sends `method host path` with `headers` (a header may repeat) to the gateway.
pub async fn request(
    client: &Client,
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.request(builder.body(Empty::<Bytes>::new()).unwrap()),
    )
    .await
    .expect("request timed out")
    .expect("request failed");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let echoed = serde_json::from_slice(&body).ok();
    Answer {
        status,
        headers,
        echoed,
    }
}

impl Cluster {
    /// `GET host path` until the echo backend `pod` answers it.
    pub async fn echoes_from(&self, host: &str, path: &str, pod: &str) {
        super::within(super::LIVE_TIMEOUT, || async {
            let answer = request(&self.client, self.addr, "GET", host, path, &[]).await;
            answer.echoed.is_some_and(|e| e.pod == pod)
        })
        .await
        .unwrap_or_else(|_| panic!("{host}{path} never reached {pod}: {:?}", self.warnings()));
    }

    /// A request to this cluster's gateway.
    pub async fn request(&self, method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        request(&self.client, self.addr, method, host, path, headers).await
    }
}

/// A gRPC echo backend over h2c: a Service `name` (port 8080) in `namespace` with one ready pod
/// `{name}-0`, answering each call with `grpc-status: 0`, the pod's name as `x-pod`, and the
/// request's headers as `x-echo-<name>` response headers.
pub struct GrpcEcho {
    task: tokio::task::JoinHandle<()>,
    /// Calls received.
    pub calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for GrpcEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GrpcEcho {
    pub async fn start(cluster: &Cluster, namespace: &str, name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let pod: std::sync::Arc<str> = format!("{name}-0").into();
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&calls);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (pod, counted) = (std::sync::Arc::clone(&pod), std::sync::Arc::clone(&counted));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let mut response = Response::new(Full::new(Bytes::new()));
                        let headers = response.headers_mut();
                        headers.insert("content-type", "application/grpc".parse().unwrap());
                        headers.insert("grpc-status", "0".parse().unwrap());
                        headers.insert("x-pod", pod.parse().unwrap());
                        for (name, value) in request.headers() {
                            if let Ok(echo) = http::HeaderName::from_bytes(format!("x-echo-{name}").as_bytes()) {
                                headers.append(echo, value.clone());
                            }
                        }
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        cluster.server.apply(service(namespace, name, &[("grpc", 8080)]));
        cluster.server.apply(slice(
            namespace,
            name,
            &format!("{name}-x"),
            "grpc",
            port,
            &ready(&["127.0.0.1"]),
        ));
        Self { task, calls }
    }
}

/// An h2c connection to the gateway, for gRPC calls.
pub async fn grpc_connection(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

/// A unary gRPC call `path` to `authority` with `headers`: the HTTP status and response headers.
pub async fn grpc_call(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap) {
    let mut request = Request::post(format!("http://{authority}{path}"))
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    sender.ready().await.unwrap();
    let response = sender
        .send_request(request.body(Full::new(Bytes::from_static(b"\0\0\0\0\0"))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let _ = response.into_body().collect().await;
    (status, headers)
}

/// The pod that answered a call, when one did with `grpc-status: 0`.
pub fn grpc_pod(headers: &HeaderMap) -> Option<&str> {
    (headers.get("grpc-status")? == "0")
        .then(|| headers.get("x-pod")?.to_str().ok())
        .flatten()
}
