//! Shared test parts: Kubernetes objects as JSON, backends standing in for pods, a gateway fed by the
//! provider from the test API server, and a real client.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use switchyard_config::Provider;
use switchyard_config::{EntryPoint, StaticConfig};
use switchyard_kubernetes::{CrdProvider, IngressProvider, TRAEFIK_KINDS};
use switchyard_proxy::{Gateway, RunningGateway};
use switchyard_test_apiserver::{ApiServer, ResourceType};

pub mod conformance;
pub mod gateway;
pub mod schema;
pub mod tls;
use tokio::net::TcpListener;

/// How long a functional test waits for a change to reach live routing: generous, so that a loaded
/// two-core machine does not fail it. How fast changes go live is measured in release builds by the
/// ignored tests of `scale.rs` and `crd_scale.rs`.
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(15);

/// A Service with named ports (`name`, `port`).
pub fn service(namespace: &str, name: &str, ports: &[(&str, u16)]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(port_name, port)| json!({"name": port_name, "port": port, "protocol": "TCP"}))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": ports},
    })
}

/// An endpoint of a slice: address, ready, terminating.
pub type EndpointState = (String, bool, bool);

/// An EndpointSlice of a Service, for the port named `port_name`.
pub fn slice(
    namespace: &str,
    service: &str,
    name: &str,
    port_name: &str,
    port: u16,
    endpoints: &[EndpointState],
) -> Value {
    let address_type = if endpoints.iter().any(|(a, _, _)| a.contains(':')) {
        "IPv6"
    } else {
        "IPv4"
    };
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(address, ready, terminating)| {
            json!({"addresses": [address], "conditions": {"ready": ready, "serving": ready, "terminating": terminating}})
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": namespace, "name": name, "labels": {"kubernetes.io/service-name": service}},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
    })
}

/// Ready endpoints at these addresses.
pub fn ready(addresses: &[&str]) -> Vec<EndpointState> {
    addresses.iter().map(|a| ((*a).to_owned(), true, false)).collect()
}

/// An Ingress with this spec.
pub fn ingress(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec,
    })
}

/// An Ingress rule: a host (empty for none) and its paths as (type, path, service, port name).
pub fn rule(host: &str, paths: &[(&str, &str, &str, &str)]) -> Value {
    let paths: Vec<Value> = paths
        .iter()
        .map(|(path_type, path, service, port)| {
            json!({"pathType": path_type, "path": path, "backend": {"service": {"name": service, "port": {"name": port}}}})
        })
        .collect();
    let mut rule = json!({"http": {"paths": paths}});
    if !host.is_empty() {
        rule["host"] = json!(host);
    }
    rule
}

/// A `kubernetes.io/tls` Secret.
pub fn tls_secret(namespace: &str, name: &str, cert: &str, key: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"namespace": namespace, "name": name},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": base64(cert.as_bytes()), "tls.key": base64(key.as_bytes())},
    })
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Backends standing in for the pods of one Deployment: one port, one loopback address each
/// (127.0.0.1, 127.0.0.2, ...), each answering with its own name.
pub struct Pods {
    pub port: u16,
    pub addresses: Vec<String>,
    /// Requests received, by all the pods.
    pub hits: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Pods {
    /// `count` pods named `{name}-0`, `{name}-1`, ..., answering their name.
    pub async fn start(name: &str, count: usize) -> Self {
        Self::start_with(name, count, false).await
    }

    /// Pods answering `{name} {path} {x-test header} {x-forwarded-prefix}`, and the status a path
    /// `/status/NNN` names.
    pub async fn start_echo(name: &str, count: usize) -> Self {
        Self::start_with(name, count, true).await
    }

    async fn start_with(name: &str, count: usize, echo: bool) -> Self {
        let (port, listeners) = pod_listeners(count).await;
        let mut pods = Self {
            port,
            addresses: Vec::new(),
            hits: Arc::default(),
            tasks: Vec::new(),
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            pods.addresses.push(listener.local_addr().unwrap().ip().to_string());
            let hits = Arc::clone(&pods.hits);
            pods.tasks.push(serve(listener, format!("{name}-{i}"), echo, hits));
        }
        pods
    }

    /// The first `n` addresses.
    pub fn first(&self, n: usize) -> Vec<&str> {
        self.addresses.iter().take(n).map(String::as_str).collect()
    }
}

/// `count` listeners on one port, one loopback address each (127.0.0.1, 127.0.0.2, ...), as the pods
/// of a Deployment behind one Service port: the port, and the listeners.
pub async fn pod_listeners(count: usize) -> (u16, Vec<TcpListener>) {
    'attempt: loop {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut listeners = vec![first];
        for i in 1..count {
            // The port was free on 127.0.0.1; on another loopback address it almost always is too.
            match TcpListener::bind(format!("127.0.0.{}:{port}", i + 1)).await {
                Ok(listener) => listeners.push(listener),
                Err(_) => continue 'attempt,
            }
        }
        return (port, listeners);
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn serve(listener: TcpListener, name: String, echo: bool, hits: Arc<AtomicUsize>) -> tokio::task::JoinHandle<()> {
    let name: Arc<str> = name.into();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (name, hits) = (Arc::clone(&name), Arc::clone(&hits));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    hits.fetch_add(1, Ordering::Relaxed);
                    let response = if echo {
                        echo_answer(&name, &request)
                    } else {
                        Response::new(Full::new(Bytes::from(name.to_string())))
                    };
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn echo_answer(name: &str, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let header = |key: &str| {
        request
            .headers()
            .get(key)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let path = request.uri().path();
    let text = format!("{name} {path} {} {}", header("x-test"), header("x-forwarded-prefix"));
    let mut response = Response::new(Full::new(Bytes::from(text)));
    if let Some(code) = path.strip_prefix("/status/").and_then(|c| c.parse().ok()) {
        *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    }
    response
}

/// The test API server and a gateway whose only provider is the Ingress provider watching it.
pub struct Cluster {
    pub server: ApiServer,
    pub gateway: RunningGateway,
    pub addr: SocketAddr,
    pub client: Client,
    /// The provider's name (`kubernetes`, `kubernetescrd`).
    pub provider: String,
}

impl Cluster {
    /// Starts the API server, then the gateway with the provider built by `configure`.
    pub async fn start(configure: impl FnOnce(IngressProvider) -> IngressProvider) -> Self {
        let server = ApiServer::start().await;
        Self::start_with(server, configure).await
    }

    /// Starts the gateway against an API server the test prepared.
    pub async fn start_with(server: ApiServer, configure: impl FnOnce(IngressProvider) -> IngressProvider) -> Self {
        let provider = configure(IngressProvider::endpoint(server.url(), "", None));
        Self::start_provider(server, provider).await
    }

    /// Starts the API server with Traefik's kinds registered, then the gateway with the CRD provider
    /// built by `configure`.
    pub async fn start_crd(configure: impl FnOnce(CrdProvider) -> CrdProvider) -> Self {
        let server = ApiServer::start().await;
        register_traefik_kinds(&server);
        let provider = configure(CrdProvider::endpoint(server.url(), "", None));
        Self::start_provider(server, provider).await
    }

    /// Applies a `traefik.io` object after checking it against the shipped CRD schema (as an API server
    /// with the CRDs installed would), or any other object as it is.
    pub fn apply(&self, object: Value) -> Value {
        let traefik = object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("traefik.io/"));
        if traefik && let Err(error) = schema::validate(&object) {
            panic!("the shipped CRD schema refuses {}: {error}", object["metadata"]["name"]);
        }
        self.server.apply(object)
    }

    /// Starts the API server with Traefik's kinds registered, then the gateway with the CRD provider and
    /// these entrypoints besides `web` (`(name, address)`, such as `("dns", "127.0.0.1:0/udp")`).
    pub async fn start_crd_on(entry_points: &[(&str, &str)]) -> Self {
        let server = ApiServer::start().await;
        register_traefik_kinds(&server);
        let provider = CrdProvider::endpoint(server.url(), "", None);
        Self::start_provider_on(server, provider, entry_points).await
    }

    /// Starts the gateway with a provider the test built.
    pub async fn start_provider(server: ApiServer, provider: impl Provider) -> Self {
        Self::start_provider_on(server, provider, &[]).await
    }

    /// Starts the gateway with a provider the test built, on `web` and these entrypoints.
    pub async fn start_provider_on(server: ApiServer, provider: impl Provider, entry_points: &[(&str, &str)]) -> Self {
        let name = provider.name().to_owned();
        let mut config = StaticConfig::default();
        config.entry_points.insert("web".into(), EntryPoint::new("127.0.0.1:0"));
        for (name, address) in entry_points {
            config.entry_points.insert((*name).into(), EntryPoint::new(*address));
        }
        let gateway = Gateway::new(&config)
            .provider(provider)
            .throttle(Duration::ZERO)
            .start()
            .await
            .unwrap();
        let addr = gateway.local_addr("web").unwrap();
        Self {
            server,
            gateway,
            addr,
            client: client(),
            provider: name,
        }
    }

    /// Waits until the provider has published (every watch listed once).
    pub async fn published(&self) {
        within(Duration::from_secs(10), || async {
            self.gateway
                .snapshot()
                .published()
                .providers
                .get(&self.provider)
                .is_some_and(|p| p.published)
        })
        .await
        .expect("the provider published");
    }

    /// GET `path` with `Host: host`: status and body.
    pub async fn get(&self, host: &str, path: &str) -> (StatusCode, String) {
        get(&self.client, self.addr, host, path).await
    }

    /// Waits until `host` and `path` answer `body` (as a prefix: pod names carry an index).
    pub async fn routes_to(&self, host: &str, path: &str, body: &str) -> Duration {
        within(Duration::from_secs(10), || async {
            let (status, text) = self.get(host, path).await;
            status == StatusCode::OK && text.starts_with(body)
        })
        .await
        .unwrap_or_else(|waited| {
            panic!(
                "{host}{path} did not route to {body} within {waited:?}: {:?}",
                self.warnings()
            )
        })
    }

    /// The provider's current warnings (objects it skipped).
    pub fn warnings(&self) -> Vec<String> {
        self.gateway
            .snapshot()
            .published()
            .providers
            .get(&self.provider)
            .map(|p| p.warnings.clone())
            .unwrap_or_default()
    }
}

/// The resident set size of this process, in MiB, from `/proc/self/status`. Panics when it cannot be
/// read, so that a memory bound fails rather than passes where it cannot be measured.
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_else(|error| panic!("cannot read /proc/self/status to measure memory: {error}"));
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS line in /proc/self/status: cannot measure memory"));
    kib / 1024.0
}

/// Fails a figure test run in a debug build, whose timings say nothing about release.
pub fn release_only() {
    if cfg!(debug_assertions) {
        panic!(
            "this figure is measured in release builds: cargo test --release -p switchyard-kubernetes ... -- --ignored --exact NAME"
        );
    }
}

/// The median and the largest of some durations.
pub fn median_and_max(mut took: Vec<Duration>) -> (Duration, Duration) {
    took.sort();
    (took[took.len() / 2], took[took.len() - 1])
}

/// Registers Traefik's kinds, so that they can be watched before any object of them exists.
pub fn register_traefik_kinds(server: &ApiServer) {
    for (kind, _) in TRAEFIK_KINDS {
        server.register(ResourceType::of("traefik.io/v1alpha1", kind));
    }
}

/// A `traefik.io/v1alpha1` object.
pub fn traefik(kind: &str, namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "traefik.io/v1alpha1", "kind": kind,
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec,
    })
}

/// An IngressRoute with one route per `(match, service, port)`.
pub fn ingress_route(namespace: &str, name: &str, routes: &[(&str, &str, Value)]) -> Value {
    let routes: Vec<Value> = routes
        .iter()
        .map(|(rule, service, port)| json!({"match": rule, "kind": "Rule", "services": [{"name": service, "port": port}]}))
        .collect();
    traefik("IngressRoute", namespace, name, json!({"routes": routes}))
}

/// An opaque Secret with these keys (values as text).
pub fn secret(namespace: &str, name: &str, type_: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(base64(v.as_bytes()))))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"namespace": namespace, "name": name},
        "type": type_,
        "data": data,
    })
}

pub type Client = LegacyClient<HttpConnector, Empty<Bytes>>;

pub fn client() -> Client {
    LegacyClient::builder(TokioExecutor::new()).build_http()
}

pub async fn get(client: &Client, addr: SocketAddr, host: &str, path: &str) -> (StatusCode, String) {
    let request = Request::get(format!("http://{addr}{path}"))
        .header("host", host)
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), client.request(request))
        .await
        .expect("request timed out")
        .expect("request failed");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Polls `check` every 10 ms until it holds; `Ok(elapsed)` or `Err(limit)`.
pub async fn within<F, Fut>(limit: Duration, mut check: F) -> Result<Duration, Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(limit);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Requests sent in a loop while a test changes the cluster, with every failure kept.
pub struct RequestLoop {
    stop: Arc<AtomicBool>,
    pub sent: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl RequestLoop {
    /// Sends GET `host` `path` back to back; a failure is any answer but 200 whose body starts with
    /// `expect`.
    pub fn start(addr: SocketAddr, host: &'static str, path: &'static str, expect: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let (stopped, counted) = (Arc::clone(&stop), Arc::clone(&sent));
        let task = tokio::spawn(async move {
            let client = client();
            let mut failures = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let (status, body) = get(&client, addr, host, path).await;
                if status != StatusCode::OK || !body.starts_with(expect) {
                    failures.push(format!("{status} {body}"));
                }
                counted.fetch_add(1, Ordering::Relaxed);
            }
            failures
        });
        Self { stop, sent, task }
    }

    /// Stops and returns (requests sent, failures).
    pub async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self.task.await.unwrap();
        (self.sent.load(Ordering::Relaxed), failures)
    }
}
