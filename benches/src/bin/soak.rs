//! The soak driver of `benches/soak.sh` (not in CI): mixed load through a running gateway while its
//! file configuration is rewritten every second and its backends are killed and restarted.
//!
//! ```sh
//! soak --http 127.0.0.1:8301 --https 127.0.0.1:8302 --dir /tmp/soak/dynamic --pid 1234 --secs 600
//! ```
//!
//! The backends run in this process (killing one aborts its listener and every connection it holds;
//! it comes back on the same port five seconds later). Traffic: HTTP/1.1 keep-alive, a new connection
//! per request, TLS keep-alive, h2 over cleartext, WebSocket echoes, 256 KiB uploads. Each minute it
//! prints requests, failures by cause, p50/p99, and the gateway's RSS and open descriptors; at the end
//! a summary, with each failure either explained by a dead backend (a 502/503/504 or a dropped
//! WebSocket while a backend is down or within three seconds of its return) or not.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long any one exchange may take before it counts as a failure.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between one worker's requests: the soak is about staying correct, not peak rate.
const PACE: Duration = Duration::from_millis(2);
const UPLOAD: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    KeepAlive,
    NewConnection,
    Tls,
    H2,
    WebSocket,
    Upload,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    Status(u16),
    Failed(&'static str),
}

struct Sample {
    at: Duration,
    kind: Kind,
    micros: u32,
    outcome: Outcome,
}

struct Soak {
    start: Instant,
    samples: Mutex<Vec<Sample>>,
    /// When each backend went down and came back (`None` while down).
    downtime: Mutex<Vec<(Duration, Option<Duration>)>>,
    http: SocketAddr,
    https: SocketAddr,
}

impl Soak {
    fn record(&self, kind: Kind, began: Instant, outcome: Outcome) {
        let sample = Sample {
            at: began - self.start,
            kind,
            micros: u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX),
            outcome,
        };
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
    }

    /// Whether a failure at `at` may be a dead backend's doing.
    fn explained(&self, at: Duration, outcome: &Outcome) -> bool {
        let backend_kind = matches!(
            outcome,
            Outcome::Status(502..=504) | Outcome::Failed("websocket dropped")
        );
        let downtime = self.downtime.lock().unwrap_or_else(|e| e.into_inner());
        backend_kind
            && downtime.iter().any(|(down, up)| {
                let up = up.unwrap_or(Duration::MAX - Duration::from_secs(10));
                at + Duration::from_millis(500) >= *down && at <= up + Duration::from_secs(3)
            })
    }
}

struct Args {
    http: SocketAddr,
    https: SocketAddr,
    dir: PathBuf,
    pid: u32,
    secs: u64,
}

fn args() -> Result<Args, Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .ok_or_else(|| format!("missing {name}; usage: soak --http A --https A --dir D --pid P [--secs S]"))
    };
    Ok(Args {
        http: flag("--http")?.parse()?,
        https: flag("--https")?.parse()?,
        dir: flag("--dir")?.into(),
        pid: flag("--pid")?.parse()?,
        secs: flag("--secs").map_or(Ok(600), |s| s.parse())?,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let mut backends = Vec::new();
    for name in ["a", "b", "c"] {
        backends.push(Backend::start(name).await?);
    }
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    write_config(&args.dir, 0, &addrs)?;
    wait_until_served(args.http).await?;
    let soak = Arc::new(Soak {
        start: Instant::now(),
        samples: Mutex::new(Vec::new()),
        downtime: Mutex::new(Vec::new()),
        http: args.http,
        https: args.https,
    });
    let stop = Instant::now() + Duration::from_secs(args.secs);
    let mut tasks = JoinSet::new();
    for (kind, count) in [
        (Kind::KeepAlive, 6),
        (Kind::NewConnection, 2),
        (Kind::Tls, 2),
        (Kind::H2, 2),
        (Kind::WebSocket, 2),
        (Kind::Upload, 1),
    ] {
        for _ in 0..count {
            tasks.spawn(worker(soak.clone(), kind, stop));
        }
    }
    tasks.spawn(rewrite_config(args.dir.clone(), addrs, stop));
    tasks.spawn(chaos(soak.clone(), backends, stop));
    let resources = tokio::spawn(watch_resources(args.pid, soak.start, stop));
    while tasks.join_next().await.is_some() {}
    let resources = resources.await?;
    report(&soak, &resources);
    Ok(())
}

async fn wait_until_served(http: SocketAddr) -> Result<(), Error> {
    for _ in 0..200 {
        if let Ok(Outcome::Ok) = new_connection(http).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the gateway does not serve the soak configuration".into())
}

/// The dynamic configuration of generation `n`: the same routes, a response header that changes,
/// and between 0 and 49 extra routers that come and go.
fn write_config(dir: &std::path::Path, n: u64, backends: &[SocketAddr]) -> Result<(), Error> {
    let servers: String = backends
        .iter()
        .map(|a| format!("          - url: http://{a}\n"))
        .collect();
    let mut churn = String::new();
    for k in 0..n % 50 {
        churn.push_str(&format!(
            "    churn-{k}:\n      rule: \"Host(`c{k}.soak.test`) && PathPrefix(`/{n}`)\"\n      service: app\n"
        ));
    }
    let text = format!(
        "http:\n  routers:\n    plain:\n      rule: \"PathPrefix(`/`)\"\n      entryPoints: [web]\n      service: app\n      middlewares: [generation, retry]\n    secure:\n      rule: \"PathPrefix(`/`)\"\n      entryPoints: [websecure]\n      service: app\n      middlewares: [generation, retry]\n      tls: {{}}\n{churn}  middlewares:\n    generation:\n      headers:\n        customResponseHeaders:\n          X-Generation: \"{n}\"\n    retry:\n      retry:\n        attempts: 3\n  services:\n    app:\n      loadBalancer:\n        healthCheck:\n          path: /health\n          interval: 500ms\n          timeout: 300ms\n        servers:\n{servers}"
    );
    let tmp = dir.join(".soak.yml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, dir.join("soak.yml"))?;
    Ok(())
}

async fn rewrite_config(dir: PathBuf, backends: Vec<SocketAddr>, stop: Instant) {
    let mut n = 1;
    while Instant::now() < stop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(err) = write_config(&dir, n, &backends) {
            eprintln!("writing the configuration: {err}");
        }
        n += 1;
    }
}

/// Every 20 s, one backend in turn dies for 5 s.
async fn chaos(soak: Arc<Soak>, mut backends: Vec<Backend>, stop: Instant) {
    let mut next = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(15)).await;
        if Instant::now() + Duration::from_secs(5) >= stop {
            return;
        }
        let backend = &mut backends[next % 3];
        next += 1;
        let index = {
            let mut downtime = soak.downtime.lock().unwrap_or_else(|e| e.into_inner());
            downtime.push((soak.start.elapsed(), None));
            downtime.len() - 1
        };
        backend.kill();
        tokio::time::sleep(Duration::from_secs(5)).await;
        if let Err(err) = backend.restart().await {
            eprintln!("backend {} did not come back: {err}", backend.name);
        }
        soak.downtime.lock().unwrap_or_else(|e| e.into_inner())[index].1 = Some(soak.start.elapsed());
    }
}

async fn worker(soak: Arc<Soak>, kind: Kind, stop: Instant) {
    while Instant::now() < stop {
        match kind {
            Kind::NewConnection => {
                let began = Instant::now();
                let outcome = within(new_connection(soak.http)).await;
                soak.record(kind, began, outcome);
            }
            Kind::WebSocket => websocket(&soak, stop).await,
            Kind::KeepAlive | Kind::Upload => {
                let connect = async { Ok::<_, Error>(TcpStream::connect(soak.http).await?) };
                http1_session(&soak, kind, stop, connect).await;
            }
            Kind::Tls => {
                let connect = async {
                    let tcp = TcpStream::connect(soak.https).await?;
                    let name = rustls_pki_types::ServerName::try_from("soak.test")?;
                    Ok::<_, Error>(tls_connector().connect(name, tcp).await?)
                };
                http1_session(&soak, kind, stop, connect).await;
            }
            Kind::H2 => h2_session(&soak, stop).await,
        }
        tokio::time::sleep(PACE).await;
    }
}

async fn within<F: Future<Output = Result<Outcome, Error>>>(exchange: F) -> Outcome {
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) => Outcome::Failed(cause(&*err)),
        Err(_) => Outcome::Failed("timeout"),
    }
}

fn cause(err: &(dyn std::error::Error + 'static)) -> &'static str {
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused",
            std::io::ErrorKind::ConnectionReset => "connection reset",
            std::io::ErrorKind::UnexpectedEof => "unexpected eof",
            _ => "io error",
        };
    }
    if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
        return if hyper.is_incomplete_message() {
            "connection closed mid-response"
        } else if hyper.is_canceled() {
            "request canceled"
        } else {
            "http error"
        };
    }
    "other error"
}

/// One request on a connection of its own (`Connection: close`), read to the end.
async fn new_connection(addr: SocketAddr) -> Result<Outcome, Error> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /new HTTP/1.1\r\nhost: soak.test\r\nconnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::with_capacity(512);
    stream.read_to_end(&mut answer).await?;
    let status = answer
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    Ok(outcome_of(status))
}

fn outcome_of(status: u16) -> Outcome {
    if status == 200 {
        Outcome::Ok
    } else {
        Outcome::Status(status)
    }
}

/// Requests on one HTTP/1.1 connection until it fails, 1,000 requests, or the end.
async fn http1_session<S, F>(soak: &Soak, kind: Kind, stop: Instant, connect: F)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Future<Output = Result<S, Error>>,
{
    let began = Instant::now();
    let stream = match tokio::time::timeout(TIMEOUT, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return soak.record(kind, began, Outcome::Failed(cause(&*err))),
        Err(_) => return soak.record(kind, began, Outcome::Failed("timeout")),
    };
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(err) => return soak.record(kind, began, Outcome::Failed(cause(&err))),
    };
    tokio::spawn(connection);
    for _ in 0..1000 {
        if Instant::now() >= stop {
            return;
        }
        let began = Instant::now();
        let request = if kind == Kind::Upload {
            http::Request::post("/upload").body(Full::new(Bytes::from(vec![b'u'; UPLOAD])))
        } else {
            http::Request::get("/ka").body(Full::new(Bytes::new()))
        };
        let mut request = request.expect("a valid request");
        request
            .headers_mut()
            .insert(http::header::HOST, http::HeaderValue::from_static("soak.test"));
        let exchange = async {
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            if kind == Kind::Upload && status == 200 && body != UPLOAD.to_string().as_bytes() {
                return Ok(Outcome::Failed("upload truncated"));
            }
            Ok(outcome_of(status))
        };
        let outcome = within(exchange).await;
        let failed = matches!(outcome, Outcome::Failed(_));
        soak.record(kind, began, outcome);
        if failed {
            return;
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Requests on one h2 connection, eight at a time, until it fails, 1,000 rounds, or the end.
async fn h2_session(soak: &Soak, stop: Instant) {
    let began = Instant::now();
    let connect = async {
        let tcp = TcpStream::connect(soak.http).await?;
        Ok::<_, Error>(hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?)
    };
    let (sender, connection) = match tokio::time::timeout(TIMEOUT, connect).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(err)) => return soak.record(Kind::H2, began, Outcome::Failed(cause(&*err))),
        Err(_) => return soak.record(Kind::H2, began, Outcome::Failed("timeout")),
    };
    tokio::spawn(connection);
    for _ in 0..1000 {
        if Instant::now() >= stop {
            return;
        }
        let mut round = JoinSet::new();
        for _ in 0..8 {
            let mut sender = sender.clone();
            round.spawn(async move {
                let began = Instant::now();
                let request = http::Request::get("http://soak.test/h2")
                    .body(Full::new(Bytes::new()))
                    .expect("a valid request");
                let exchange = async {
                    let response = sender.send_request(request).await?;
                    let status = response.status().as_u16();
                    response.into_body().collect().await?;
                    Ok(outcome_of(status))
                };
                (began, within(exchange).await)
            });
        }
        let mut failed = false;
        while let Some(Ok((began, outcome))) = round.join_next().await {
            failed |= matches!(outcome, Outcome::Failed(_));
            soak.record(Kind::H2, began, outcome);
        }
        if failed {
            return;
        }
        tokio::time::sleep(PACE).await;
    }
}

/// One WebSocket: 100 echoed messages, each a sample, then a clean close.
async fn websocket(soak: &Soak, stop: Instant) {
    let began = Instant::now();
    let url = format!("ws://{}/ws", soak.http);
    let mut ws = match tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            return soak.record(Kind::WebSocket, began, Outcome::Status(response.status().as_u16()));
        }
        Ok(Err(_)) => return soak.record(Kind::WebSocket, began, Outcome::Failed("websocket handshake")),
        Err(_) => return soak.record(Kind::WebSocket, began, Outcome::Failed("timeout")),
    };
    for i in 0..100 {
        if Instant::now() >= stop {
            break;
        }
        let began = Instant::now();
        let text = format!("message {i}");
        let exchange = async {
            ws.send(Message::text(text.clone())).await?;
            match ws.next().await {
                Some(Ok(Message::Text(echo))) if echo.as_str() == text => Ok(Outcome::Ok),
                Some(Ok(_)) => Ok(Outcome::Failed("websocket wrong echo")),
                Some(Err(_)) | None => Ok(Outcome::Failed("websocket dropped")),
            }
        };
        let outcome = match tokio::time::timeout(TIMEOUT, exchange).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err::<_, tokio_tungstenite::tungstenite::Error>(_)) => Outcome::Failed("websocket dropped"),
            Err(_) => Outcome::Failed("timeout"),
        };
        let failed = outcome != Outcome::Ok;
        soak.record(Kind::WebSocket, began, outcome);
        if failed {
            return;
        }
        tokio::time::sleep(PACE).await;
    }
    let _ = ws.close(None).await;
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONNECTOR: std::sync::OnceLock<tokio_rustls::TlsConnector> = std::sync::OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(config))
        })
        .clone()
}

/// The gateway serves its generated default certificate: the soak checks traffic, not trust.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A backend in this process: answers `ok <name>`, counts upload bytes, echoes WebSocket messages.
struct Backend {
    name: &'static str,
    addr: SocketAddr,
    /// Its accept loop, which owns its connections: aborting it drops them all.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Backend {
    async fn start(name: &'static str) -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        Ok(Self {
            name,
            addr,
            task: Some(tokio::spawn(serve(name, listener))),
        })
    }

    fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    async fn restart(&mut self) -> Result<(), Error> {
        let listener = TcpListener::bind(self.addr).await?;
        self.task = Some(tokio::spawn(serve(self.name, listener)));
        Ok(())
    }
}

async fn serve(name: &'static str, listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| answer(name, request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn answer(
    name: &'static str,
    request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let response = http::Response::builder();
    if let Some(key) = request.headers().get(http::header::SEC_WEBSOCKET_KEY) {
        let accept = derive_accept_key(key.as_bytes());
        tokio::spawn(async move {
            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                return;
            };
            let mut ws =
                tokio_tungstenite::WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    return;
                }
            }
        });
        let response = response
            .status(http::StatusCode::SWITCHING_PROTOCOLS)
            .header(http::header::CONNECTION, "upgrade")
            .header(http::header::UPGRADE, "websocket")
            .header(http::header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(Full::new(Bytes::new()));
        return Ok(response.expect("a valid response"));
    }
    let body = if request.method() == http::Method::POST {
        match request.into_body().collect().await {
            Ok(body) => Bytes::from(body.to_bytes().len().to_string()),
            Err(_) => Bytes::from_static(b"upload cut"),
        }
    } else {
        Bytes::from(format!("ok {name}"))
    };
    Ok(response.body(Full::new(body)).expect("a valid response"))
}

/// RSS (KiB) and open descriptors of the gateway, every five seconds.
async fn watch_resources(pid: u32, start: Instant, stop: Instant) -> Vec<(Duration, u64, usize)> {
    let mut seen = Vec::new();
    while Instant::now() < stop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
        seen.push((start.elapsed(), rss, fds));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    seen
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(soak: &Soak, resources: &[(Duration, u64, usize)]) {
    let samples = soak.samples.lock().unwrap_or_else(|e| e.into_inner());
    println!("minute  requests  failures  p50 µs  p99 µs   RSS KiB  fds  causes");
    let minutes = samples.iter().map(|s| s.at.as_secs() / 60).max().unwrap_or(0);
    for minute in 0..=minutes {
        let of_minute: Vec<&Sample> = samples.iter().filter(|s| s.at.as_secs() / 60 == minute).collect();
        let mut latencies: Vec<u32> = of_minute.iter().map(|s| s.micros).collect();
        latencies.sort_unstable();
        let mut causes: BTreeMap<String, usize> = BTreeMap::new();
        for sample in of_minute.iter().filter(|s| s.outcome != Outcome::Ok) {
            *causes.entry(format!("{:?}", sample.outcome)).or_default() += 1;
        }
        let (rss, fds) = resources
            .iter()
            .rev()
            .find(|(at, _, _)| at.as_secs() / 60 == minute)
            .map_or((0, 0), |(_, rss, fds)| (*rss, *fds));
        println!(
            "{minute:>6}  {:>8}  {:>8}  {:>6}  {:>6}  {rss:>8}  {fds:>3}  {causes:?}",
            of_minute.len(),
            causes.values().sum::<usize>(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
        );
    }
    let mut by_kind: BTreeMap<Kind, (usize, usize)> = BTreeMap::new();
    let mut explained: BTreeMap<String, usize> = BTreeMap::new();
    let mut unexplained: BTreeMap<String, usize> = BTreeMap::new();
    for sample in samples.iter() {
        let entry = by_kind.entry(sample.kind).or_default();
        entry.0 += 1;
        if sample.outcome != Outcome::Ok {
            entry.1 += 1;
            let key = format!("{:?} {:?}", sample.kind, sample.outcome);
            let bucket = if soak.explained(sample.at, &sample.outcome) {
                &mut explained
            } else {
                &mut unexplained
            };
            *bucket.entry(key).or_default() += 1;
        }
    }
    println!("\nby kind (requests, failures): {by_kind:?}");
    println!(
        "backend deaths: {}",
        soak.downtime.lock().unwrap_or_else(|e| e.into_inner()).len()
    );
    println!("failures explained by a dead backend: {explained:?}");
    println!("failures NOT explained: {unexplained:?}");
    // Warm-up is the first minute; compare the first sample after it with the last.
    let after_warm_up = resources.iter().find(|(at, _, _)| at.as_secs() >= 60);
    if let (Some(first), Some(last)) = (after_warm_up, resources.last()) {
        println!(
            "RSS after warm-up {} KiB, at the end {} KiB ({:+.1}%); descriptors {} → {}",
            first.1,
            last.1,
            (last.1 as f64 / first.1.max(1) as f64 - 1.0) * 100.0,
            first.2,
            last.2
        );
    }
}
