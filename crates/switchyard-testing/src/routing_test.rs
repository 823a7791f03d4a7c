//! A gateway under test: configuration files loaded as the file provider loads them, every entrypoint
//! served in process, every server played by a recorder.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use switchyard_config::{DynamicConfig, EntryPoint, Format, MemoryProvider, Report, StaticConfig, load_str};
use switchyard_file::FileProvider;
use switchyard_proxy::{ExplainRequest, Gateway, PeerAddr, RunningGateway, Snapshot};
use tower::ServiceExt;

use crate::error::TestKitError;
use crate::exchange::Exchange;
use crate::recorder::Recorder;

/// How long the configuration may take to go live.
const PATIENCE: Duration = Duration::from_secs(10);

/// The provider name the configuration is loaded under, as in production: routers are `name@file`.
const PROVIDER: &str = "file";

/// The client address of requests that carry no [`PeerAddr`].
const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40000);

/// A gateway running your dynamic configuration in process: send it requests and assert where they
/// went. No socket is opened: entrypoints are served in process, and every server of every service is
/// played by a recorder that answers `200` with the server's URL and keeps what it received.
///
/// ```
/// use switchyard_testing::RoutingTest;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), switchyard_testing::TestKitError> {
/// let test = RoutingTest::from_yaml(r#"
/// http:
///   routers:
///     api:
///       rule: Host(`example.com`) && PathPrefix(`/api`)
///       service: api
///       middlewares: [strip]
///   middlewares:
///     strip:
///       stripPrefix: { prefixes: [/api] }
///   services:
///     api:
///       loadBalancer: { servers: [{ url: "http://10.0.0.1:8080" }] }
/// "#).await?;
///
/// let exchange = test.get("http://example.com/api/users?page=2").await?;
/// assert_eq!(exchange.status(), 200);
/// assert_eq!(exchange.router(), Some("api@file"));
/// assert_eq!(exchange.middlewares(), ["strip@file"]);
/// let backend = exchange.received().expect("forwarded");
/// assert_eq!(backend.server, "http://10.0.0.1:8080");
/// assert_eq!(backend.uri, "/users?page=2");
///
/// assert_eq!(test.get("http://example.com/").await?.status(), 404);
/// test.shutdown().await;
/// # Ok(()) }
/// ```
pub struct RoutingTest {
    gateway: RunningGateway,
    recorder: Recorder,
    entry_points: Vec<String>,
    default_entry_point: String,
    /// Exchanges run one at a time, so that each knows what the backends received during it.
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// Sets up a [`RoutingTest`]: where the configuration comes from, the static configuration, the
/// entrypoint requests go to.
///
/// ```no_run
/// use switchyard_testing::RoutingTest;
///
/// # async fn run() -> Result<(), switchyard_testing::TestKitError> {
/// let test = RoutingTest::builder()
///     .directory("deploy/traefik/dynamic")
///     .entry_points(["web", "websecure"])
///     .default_entry_point("websecure")
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    source: Source,
    static_config: Option<StaticConfig>,
    entry_points: Vec<String>,
    default_entry_point: Option<String>,
}

#[derive(Debug, Clone)]
enum Source {
    None,
    File(PathBuf),
    Directory(PathBuf),
    Text(String, Format),
}

impl std::fmt::Debug for RoutingTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutingTest")
            .field("entry_points", &self.entry_points)
            .field("default_entry_point", &self.default_entry_point)
            .finish_non_exhaustive()
    }
}

impl RoutingTest {
    /// A builder, for the static configuration or entrypoints.
    pub fn builder() -> Builder {
        Builder {
            source: Source::None,
            static_config: None,
            entry_points: vec!["web".into(), "websecure".into()],
            default_entry_point: None,
        }
    }

    /// Loads one dynamic configuration file (YAML, TOML or JSON, by its extension), on the
    /// entrypoints `web` and `websecure`.
    pub async fn from_file(path: impl Into<PathBuf>) -> Result<Self, TestKitError> {
        Self::builder().file(path).start().await
    }

    /// Loads a dynamic configuration written in YAML, on the entrypoints `web` and `websecure`.
    pub async fn from_yaml(yaml: &str) -> Result<Self, TestKitError> {
        Self::builder().text(yaml, Format::Yaml).start().await
    }

    /// Sends a `GET` for `url` to the default entrypoint (an `https` URL comes over TLS).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), switchyard_testing::TestKitError> {
    /// let test = switchyard_testing::RoutingTest::from_yaml("http:\n  routers:\n    r:\n      rule: Path(`/`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers: [{ url: \"http://s\" }]\n").await?;
    /// assert_eq!(test.get("http://any.host/").await?.text(), "http://s");
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, url: &str) -> Result<Exchange, TestKitError> {
        let request = Request::get(url)
            .body(Bytes::new())
            .map_err(|e| TestKitError::Explain(switchyard_proxy::ExplainError::Uri(format!("{url}: {e}"))))?;
        self.send(request).await
    }

    /// Sends a request to the default entrypoint. Its URI is absolute (`http://host/path`; `https`
    /// comes over TLS) or a path with a `Host` header; the client address is `192.0.2.1` unless a
    /// [`PeerAddr`] in its extensions says otherwise.
    pub async fn send<B: Into<Bytes>>(&self, request: Request<B>) -> Result<Exchange, TestKitError> {
        self.send_on(&self.default_entry_point.clone(), request).await
    }

    /// Sends a request to the entrypoint `entry_point`.
    pub async fn send_on<B: Into<Bytes>>(
        &self,
        entry_point: &str,
        request: Request<B>,
    ) -> Result<Exchange, TestKitError> {
        let tls = request.uri().scheme_str() == Some("https");
        let router = self
            .gateway
            .service(entry_point)
            .ok_or_else(|| TestKitError::UnknownEntryPoint(entry_point.to_owned(), self.entry_points.join(", ")))?
            .over_tls(tls);
        let (mut parts, body) = request.into_parts();
        let peer = *parts.extensions.get_or_insert_with(|| PeerAddr(CLIENT));
        let explained = self.explain(entry_point, &parts, peer.0.ip(), tls)?;
        let request = Request::from_parts(parts, Full::new(body.into()));

        let _turn = self.one_at_a_time.lock().await;
        let before = self.recorder.len();
        let Ok(response) = router.oneshot(request).await;
        let (head, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| TestKitError::Body(e.to_string()))?;
        Ok(Exchange {
            status: head.status,
            headers: head.headers,
            body: body.to_bytes(),
            explanation: explained,
            received: self.recorder.since(before),
        })
    }

    /// The routing decision for a request, from the live snapshot.
    fn explain(
        &self,
        entry_point: &str,
        parts: &http::request::Parts,
        client: IpAddr,
        tls: bool,
    ) -> Result<switchyard_proxy::Explanation, TestKitError> {
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut request = ExplainRequest::new(parts.method.as_str(), target)?
            .entry_point(entry_point)
            .client_ip(client);
        let host = parts.uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
        if let Some(host) = &host {
            request = request.host(host.clone());
        }
        if tls {
            request = request.tls(true, parts.uri.host());
        }
        for (name, value) in &parts.headers {
            if name != http::header::HOST
                && let Ok(value) = value.to_str()
            {
                request = request.header(name.as_str(), value)?;
            }
        }
        Ok(self.gateway.snapshot().explain(&request)?)
    }

    /// The live snapshot: its [`report`](Snapshot::report) holds every router's, service's and
    /// middleware's status and problems (unreachable routers among them).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.gateway.snapshot()
    }

    /// Every problem the configuration has, as `key.path: problem` lines (empty for a clean one).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), switchyard_testing::TestKitError> {
    /// let test = switchyard_testing::RoutingTest::from_yaml("http:\n  routers:\n    r:\n      rule: Path(`/`\n      service: s\n").await?;
    /// assert_eq!(test.problems(), [
    ///     "http.routers.r@file.rule: expected ',' or ')' at column 9, found end of rule",
    ///     "http.routers.r@file.service: service `s@file` does not exist",
    /// ]);
    /// # Ok(()) }
    /// ```
    pub fn problems(&self) -> Vec<String> {
        let snapshot = self.gateway.snapshot();
        report_lines(snapshot.report())
    }

    /// Stops the gateway.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
    }
}

fn report_lines(report: &Report) -> Vec<String> {
    report.errors().map(ToString::to_string).collect()
}

impl Builder {
    /// Loads one dynamic configuration file (YAML, TOML or JSON, by its extension).
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Source::File(path.into());
        self
    }

    /// Loads every `.yml`, `.yaml`, `.toml` and `.json` file of a directory and its subdirectories, as
    /// Traefik's `providers.file.directory` does.
    #[must_use]
    pub fn directory(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Source::Directory(path.into());
        self
    }

    /// Loads a dynamic configuration from text.
    #[must_use]
    pub fn text(mut self, text: &str, format: Format) -> Self {
        self.source = Source::Text(text.to_owned(), format);
        self
    }

    /// The static configuration: entrypoints (with their `http.redirections`, `http.middlewares`,
    /// `http.tls`, `sanitizePath`…), servers transports. Its entrypoints replace the default `web` and
    /// `websecure`; none of them listens on a socket.
    #[must_use]
    pub fn static_config(mut self, config: StaticConfig) -> Self {
        self.entry_points = config.entry_points.keys().cloned().collect();
        self.static_config = Some(config);
        self
    }

    /// The entrypoints, when no static configuration gives them (default: `web` and `websecure`).
    #[must_use]
    pub fn entry_points<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entry_points = names.into_iter().map(Into::into).collect();
        self
    }

    /// The entrypoint [`RoutingTest::send`] and [`RoutingTest::get`] use (default: `web` when there is
    /// one, else the first).
    #[must_use]
    pub fn default_entry_point(mut self, name: impl Into<String>) -> Self {
        self.default_entry_point = Some(name.into());
        self
    }

    /// Starts the gateway and waits until the configuration is live.
    pub async fn start(self) -> Result<RoutingTest, TestKitError> {
        let mut static_config = self.static_config.clone().unwrap_or_default();
        for name in &self.entry_points {
            static_config
                .entry_points
                .entry(name.clone())
                .or_insert_with(|| EntryPoint::new("127.0.0.1:0"));
        }
        let recorder = Recorder::default();
        let mut gateway = Gateway::new(&static_config)
            .throttle(Duration::ZERO)
            .in_process_backend(recorder.service());
        for name in static_config.entry_points.keys() {
            gateway = gateway.embedded(name.clone());
        }
        let gateway = match &self.source {
            Source::None => gateway.provider(MemoryProvider::new(PROVIDER, DynamicConfig::default()).0),
            Source::File(path) => gateway.provider(FileProvider::file(path).watch(false).named(PROVIDER)),
            Source::Directory(path) => gateway.provider(FileProvider::directory(path).watch(false).named(PROVIDER)),
            Source::Text(text, format) => {
                let loaded = load_str::<DynamicConfig>(text, *format, "inline")
                    .map_err(|e| TestKitError::Load(e.to_string()))?;
                gateway.provider(MemoryProvider::new(PROVIDER, loaded.value).0)
            }
        };
        let gateway = gateway.start().await?;
        wait_until_loaded(&gateway).await?;
        let default_entry_point = self.default_entry_point.clone().unwrap_or_else(|| {
            let names = &self.entry_points;
            names
                .iter()
                .find(|n| *n == "web")
                .or(names.first())
                .cloned()
                .unwrap_or_default()
        });
        Ok(RoutingTest {
            gateway,
            recorder,
            entry_points: static_config.entry_points.keys().cloned().collect(),
            default_entry_point,
            one_at_a_time: tokio::sync::Mutex::new(()),
        })
    }
}

/// Waits until the provider's configuration is live; a provider that could not load all of it (a
/// missing file, one that does not parse) is an error.
async fn wait_until_loaded(gateway: &RunningGateway) -> Result<(), TestKitError> {
    let loaded = gateway.wait_for(|s| {
        s.published()
            .providers
            .get(PROVIDER)
            .is_some_and(|p| p.published || p.last_error.is_some())
    });
    let snapshot = tokio::time::timeout(PATIENCE, loaded)
        .await
        .map_err(|_| TestKitError::Timeout(PATIENCE))?;
    match snapshot.published().providers.get(PROVIDER) {
        Some(status) => match &status.last_error {
            Some(error) => Err(TestKitError::Load(error.clone())),
            None => Ok(()),
        },
        None => Ok(()),
    }
}
