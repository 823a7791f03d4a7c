//! Shared test parts: a real backend server, a gateway on loopback, and real clients.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use switchyard_config::{
    DynamicConfig, EntryPoint, LoadBalancer, MemoryHandle, MemoryProvider, Middleware, Router, Service, StaticConfig,
};
use switchyard_proxy::{Gateway, RunningGateway};
use tokio::net::TcpListener;

#[cfg(feature = "tls")]
pub mod any_server;

/// Bodies of test requests and backend responses; errors pass through (a client that leaves mid-upload
/// ends the echo's body with an error, which must not panic the backend).
pub type TestBody = BoxBody<Bytes, switchyard_proxy::BoxError>;

/// A request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub uri: http::Uri,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub peer: SocketAddr,
}

/// How long something that must happen may take on a loaded machine: a bound for failing, not a figure
/// to meet.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `check` until it holds; fails the test when `what` has not happened after [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A backend on 127.0.0.1 speaking HTTP/1.1 and h2c. Paths:
/// `/echo` streams the request body back; `/collect` reads the whole body, then answers its length; `/bytes/N` sends N bytes; `/slow/MS` waits before answering;
/// `/held` waits until the test [releases](Backend::release) it; `/status/N` answers N; `/trailers`
/// sends a body with gRPC-style trailers; `/ws` accepts a WebSocket and echoes its messages; anything
/// else answers 200 with the backend's name.
pub struct Backend {
    pub addr: SocketAddr,
    pub name: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<tokio::sync::Semaphore>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    pub async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, name)
    }

    pub fn serve(listener: TcpListener, name: &'static str) -> Self {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (recorded, held) = (Arc::clone(&seen), Arc::clone(&gate));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let (recorded, held) = (Arc::clone(&recorded), Arc::clone(&held));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (recorded, held) = (Arc::clone(&recorded), Arc::clone(&held));
                        async move { Ok::<_, Infallible>(answer(name, peer, req, &recorded, &held).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            name,
            seen,
            gate,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the backend saw no request")
    }

    /// Waits until the backend has seen `n` requests in all.
    pub async fn wait_for_requests(&self, n: usize) {
        eventually(&format!("{} seeing {n} requests", self.name), async || {
            self.seen().len() >= n
        })
        .await;
    }

    /// Lets `n` requests waiting on `/held` answer.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

async fn answer(
    name: &'static str,
    peer: SocketAddr,
    mut req: Request<Incoming>,
    seen: &Mutex<Vec<Seen>>,
    gate: &tokio::sync::Semaphore,
) -> Response<TestBody> {
    seen.lock().unwrap().push(Seen {
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        headers: req.headers().clone(),
        peer,
    });
    let path = req.uri().path().to_owned();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    match (parts.next().unwrap_or(""), parts.next()) {
        ("echo", _) => Response::new(req.into_body().map_err(Into::into).boxed()),
        ("collect", _) => match req.into_body().collect().await {
            Ok(body) => Response::new(
                Full::new(Bytes::from(body.to_bytes().len().to_string()))
                    .map_err(|never| match never {})
                    .boxed(),
            ),
            Err(_) => Response::new(full("body failed")),
        },
        ("bytes", Some(n)) => Response::new(bytes_body(n.parse().unwrap())),
        ("slow", Some(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
            Response::new(full(name))
        }
        ("held", _) => {
            gate.acquire().await.unwrap().forget();
            Response::new(full(name))
        }
        ("status", Some(code)) => {
            let mut response = Response::new(full(name));
            *response.status_mut() = StatusCode::from_u16(code.parse().unwrap()).unwrap();
            response
        }
        ("trailers", _) => {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            trailers.insert("grpc-message", "done".parse().unwrap());
            let frames = vec![
                Ok::<_, switchyard_proxy::BoxError>(Frame::data(Bytes::from_static(b"payload"))),
                Ok(Frame::trailers(trailers)),
            ];
            let mut response = Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
            response
                .headers_mut()
                .insert("content-type", "application/grpc".parse().unwrap());
            response
        }
        ("ws", _) => websocket(&mut req),
        _ => {
            let mut response = Response::new(full(name));
            response.headers_mut().insert("x-backend", name.parse().unwrap());
            response.headers_mut().insert("connection", "x-hop".parse().unwrap());
            response
                .headers_mut()
                .insert("x-hop", "must not reach the client".parse().unwrap());
            response
                .headers_mut()
                .insert("keep-alive", "timeout=5".parse().unwrap());
            response
        }
    }
}

pub fn full(text: &'static str) -> TestBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}

/// `n` bytes in 64 KiB chunks, generated as they are sent.
pub fn bytes_body(n: usize) -> TestBody {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let stream = futures_util::stream::unfold(n, move |left| {
        let chunk = chunk.clone();
        async move {
            (left > 0).then(|| {
                let take = left.min(CHUNK);
                (
                    Ok::<_, switchyard_proxy::BoxError>(Frame::data(chunk.slice(..take))),
                    left - take,
                )
            })
        }
    });
    StreamBody::new(stream).boxed()
}

/// Accepts a WebSocket upgrade and echoes its messages.
pub fn websocket(req: &mut Request<Incoming>) -> Response<TestBody> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::Role;

    let key = req.headers()["sec-websocket-key"].as_bytes().to_vec();
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let upgraded = upgrade.await.unwrap();
        let mut ws =
            tokio_tungstenite::WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
            if ws.send(message).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(&key))
        .body(full(""))
        .unwrap()
}

/// Log lines (warnings and errors) written on this thread while it lives: the tests' runtime runs every
/// task on the test's thread.
pub struct Logs {
    lines: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    pub fn capture() -> Self {
        #[derive(Clone)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines(Arc::default());
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .finish();
        Self {
            lines: lines.0,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.lines.lock().unwrap().clone()).unwrap()
    }

    /// The last `request not forwarded` line: why the proxy answered a request itself.
    pub fn last_refusal(&self) -> String {
        let text = self.text();
        let line = text.lines().rev().find(|l| l.contains("request not forwarded"));
        line.unwrap_or_else(|| panic!("no request refused in {text:?}"))
            .to_owned()
    }

    /// The cause in the last `request not forwarded` line.
    pub fn last_cause(&self) -> String {
        let line = self.last_refusal();
        let (_, cause) = line.split_once(" cause=").expect("a cause in the line");
        cause.to_owned()
    }
}

/// A static configuration with one entrypoint `web` on 127.0.0.1:0.
pub fn static_config() -> StaticConfig {
    static_config_with(|_| {})
}

/// A static configuration with one entrypoint `web` on 127.0.0.1:0, changed by `change`.
pub fn static_config_with(change: impl FnOnce(&mut EntryPoint)) -> StaticConfig {
    let mut web = EntryPoint::new("127.0.0.1:0");
    change(&mut web);
    let mut config = StaticConfig::default();
    config.entry_points.insert("web".into(), web);
    config
}

/// A dynamic configuration routing `rule` to the given servers.
pub fn route(rule: &str, urls: &[String]) -> DynamicConfig {
    let mut config = DynamicConfig::default();
    config.http.routers.insert("r".into(), Router::new(rule, "s"));
    config
        .http
        .services
        .insert("s".into(), Service::from(LoadBalancer::with_urls(urls.iter().cloned())));
    config
}

/// A dynamic configuration routing `rule` to the given servers through `middlewares`, applied in the
/// order given (the first outermost).
pub fn middleware_route(rule: &str, urls: &[String], middlewares: Vec<(&str, Middleware)>) -> DynamicConfig {
    let mut config = route(rule, urls);
    let router = config.http.routers.get_mut("r").unwrap();
    router.middlewares = middlewares.iter().map(|(name, _)| (*name).to_owned()).collect();
    for (name, middleware) in middlewares {
        config.http.middlewares.insert(name.to_owned(), middleware);
    }
    config
}

/// Adds a router serving the internal API under `/api`, to read what the gateway knows (server health).
pub fn with_api(config: &mut DynamicConfig) {
    let api = Router::new("PathPrefix(`/api`)", switchyard_proxy::API_SERVICE);
    config.http.routers.insert("api".into(), api);
}

/// A started gateway fed by a memory provider, and its `web` address.
pub struct TestGateway {
    pub gateway: RunningGateway,
    pub handle: MemoryHandle,
    pub addr: SocketAddr,
}

impl TestGateway {
    pub async fn start(dynamic: DynamicConfig) -> Self {
        Self::start_with(static_config(), dynamic).await
    }

    pub async fn start_with(static_config: StaticConfig, dynamic: DynamicConfig) -> Self {
        Self::start_built(static_config, dynamic, |gateway| gateway).await
    }

    /// Starts a gateway after `build` has added to it (plugins, say).
    pub async fn start_built(
        static_config: StaticConfig,
        dynamic: DynamicConfig,
        build: impl FnOnce(Gateway) -> Gateway,
    ) -> Self {
        let (provider, handle) = MemoryProvider::new("test", dynamic);
        let gateway = build(Gateway::new(&static_config))
            .provider(provider)
            .throttle(Duration::ZERO)
            .start()
            .await
            .unwrap();
        let first = gateway.wait_for(|s| s.generation() > 0);
        tokio::time::timeout(PATIENCE, first)
            .await
            .expect("the first configuration goes live");
        let addr = gateway
            .local_addr("web")
            .unwrap_or_else(|| "127.0.0.1:9".parse().unwrap());
        Self { gateway, handle, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Waits until the internal API (see [`with_api`]) reports `server` of `service` (`name@test`) with
    /// `status`, `UP` or `DOWN`.
    pub async fn wait_for_server_status(&self, service: &str, server: &str, status: &str) {
        let url = self.url(&format!("/api/http/services/{service}"));
        eventually(&format!("{server} of {service} {status}"), async || {
            let (_, _, body) = get(&client(), &url, None).await;
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            answer["serverStatus"][server] == status
        })
        .await;
    }

    /// Changes the configuration and waits until it is live.
    pub async fn reconfigure(&self, change: impl FnOnce(&mut DynamicConfig)) {
        let before = self.gateway.snapshot().generation();
        self.handle.update(change);
        let live = self.gateway.wait_for(|s| s.generation() > before);
        tokio::time::timeout(PATIENCE, live)
            .await
            .expect("the changed configuration goes live");
    }
}

pub type Client = LegacyClient<HttpConnector, TestBody>;

pub fn client() -> Client {
    LegacyClient::builder(TokioExecutor::new()).build_http()
}

/// Sends a GET with a `Host` header and returns status, headers and body text.
pub async fn get(client: &Client, url: &str, host: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get(url);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    send(client, request.body(full("")).unwrap()).await
}

pub async fn send(client: &Client, request: Request<TestBody>) -> (StatusCode, HeaderMap, String) {
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("request timed out")
        .expect("request failed");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

/// A response read off a raw connection: its status, its head as text, and its body bytes.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Writes `request` as given on a new connection (for what a client library would normalise) and
/// reads until the gateway closes it; the request should say `Connection: close`.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut read))
        .await
        .expect("the gateway did not close the connection")
        .unwrap();
    parse_raw(&read)
}

/// The first response in `bytes` (its body taken as what follows the head).
pub fn parse_raw(bytes: &[u8]) -> RawResponse {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    RawResponse {
        status,
        head,
        body: bytes[end + 4..].to_vec(),
    }
}
