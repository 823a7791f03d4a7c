//! `rateLimit.redis` across replicas: three gateways (each its own listener) against one real
//! `redis-server` that the tests start on a free port, kill, freeze and restart.
//!
//! `redis-server` must be installed (Debian package `redis-server`; `.ci/run` installs it): without it
//! these tests fail, they do not skip.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use support::{Backend, TestGateway, client, get, middleware_route};
use switchyard_config::{Duration as ConfigDuration, Middleware, RateLimit, Redis};

/// A `redis-server` of the test's own, on a port that was free, without persistence.
struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Self {
        let server = Self::spawn(port, &["--port", &port.to_string()]);
        server.wait_until_ready();
        server
    }

    /// A server speaking TLS only, with this certificate and key (files), on a free port; ready once it
    /// accepts connections.
    #[cfg(feature = "tls")]
    fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let port_text = port.to_string();
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let tls = ["--tls-port", &port_text, "--tls-cert-file", cert, "--tls-key-file", key];
        let server = Self::spawn(
            port,
            &[&["--port", "0"][..], &tls, &["--tls-auth-clients", "no"]].concat(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server with TLS did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    fn spawn(port: u16, args: &[&str]) -> Self {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `redis-server` ({e}): install it (Debian: apt-get install -y redis-server)")
            });
        Self { port, child }
    }

    /// Until it answers `PING`.
    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not answer PING within 10 s", self.port);
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut answer = [0; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }

    /// Kills it at once (no clean shutdown) and waits until it is gone.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// A new server on the same port, after [`RedisServer::kill`].
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let new = Self::start_on(self.port);
        *self = new;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.signal_quietly("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisServer {
    fn signal_quietly(&self, signal: &str) -> std::io::Result<std::process::ExitStatus> {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
    }
}

/// 100 requests a second (burst 50) per client address, in `redis`, waiting on it at most 100 + 100 ms.
///
/// The burst lets the bucket ride out the pauses of a loaded test machine: with a burst of 1, a bucket
/// that sits full for a few milliseconds loses tokens no request was there to take.
fn limit(redis: &RedisServer, allow_on_error: bool) -> RateLimit {
    RateLimit {
        average: 100,
        period: ConfigDuration::from_secs(1),
        burst: BURST,
        redis: Some(Redis {
            endpoints: vec![redis.endpoint()],
            read_timeout: ConfigDuration::from_millis(100),
            write_timeout: ConfigDuration::from_millis(100),
            dial_timeout: ConfigDuration::from_millis(200),
            allow_on_error,
            ..Redis::default()
        }),
        ..RateLimit::default()
    }
}

const BURST: i64 = 50;

/// The bound a request may wait on Redis (read + write timeouts), with room for a loaded machine.
const BOUND: Duration = Duration::from_millis(200);
const SLACK: Duration = Duration::from_millis(300);

async fn replicas(n: usize, backend: &Backend, limit: RateLimit) -> Vec<TestGateway> {
    let mut gateways = Vec::new();
    for _ in 0..n {
        let config = middleware_route(
            "PathPrefix(`/`)",
            &[backend.url()],
            vec![("limit", Middleware::RateLimit(limit.clone()))],
        );
        gateways.push(TestGateway::start(config).await);
    }
    gateways
}

/// What one request got and how long it took.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    status: StatusCode,
    took: Duration,
    at: Instant,
    replica: usize,
}

/// Sends requests from `per_gateway` loops to each gateway until `stop`, and returns every outcome.
fn load(gateways: &[TestGateway], per_gateway: usize, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Outcome>> {
    let mut loops = Vec::new();
    for (replica, gateway) in gateways.iter().enumerate() {
        for _ in 0..per_gateway {
            let url = gateway.url("/");
            let stop = Arc::clone(&stop);
            loops.push(tokio::spawn(async move {
                let client = client();
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let (status, _, _) = get(&client, &url, None).await;
                    outcomes.push(Outcome {
                        status,
                        took: start.elapsed(),
                        at: Instant::now(),
                        replica,
                    });
                }
                outcomes
            }));
        }
    }
    tokio::spawn(async move {
        let mut all = Vec::new();
        for one in loops {
            all.extend(one.await.unwrap());
        }
        all.sort_by_key(|o| o.at);
        all
    })
}

async fn run_load(gateways: &[TestGateway], per_gateway: usize, how_long: Duration) -> Vec<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let running = load(gateways, per_gateway, Arc::clone(&stop));
    tokio::time::sleep(how_long).await;
    stop.store(true, Ordering::Relaxed);
    running.await.unwrap()
}

fn count(outcomes: &[Outcome], status: u16) -> usize {
    outcomes.iter().filter(|o| o.status == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_of_100_per_second_holds_across_three_replicas_within_5_percent() {
    let redis = RedisServer::start();
    let backend = Backend::start("b").await;
    let gateways = replicas(3, &backend, limit(&redis, false)).await;

    let started = Instant::now();
    let outcomes = run_load(&gateways, 3, Duration::from_secs(3)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let served = count(&outcomes, 200);
    let refused = count(&outcomes, 429);
    assert_eq!(
        served + refused,
        outcomes.len(),
        "only 200 and 429: {:?}",
        &outcomes[..5]
    );
    // A full bucket to start with, then 100 a second, shared by the three.
    let expected = BURST as f64 + 100.0 * elapsed;
    let off = (served as f64 - expected).abs() / expected;
    println!(
        "{served} served and {refused} refused in {elapsed:.2} s by three replicas: expected {expected:.0}, off by {:.1}%",
        off * 100.0
    );
    assert!(refused > served, "the load is well over the limit ({refused} refused)");
    assert!(off < 0.05, "{served} served, expected {expected:.0} within 5%");
    for replica in 0..gateways.len() {
        let mine = outcomes
            .iter()
            .filter(|o| o.replica == replica && o.status == 200)
            .count();
        assert!(
            mine > 10,
            "replica {replica} served {mine}: every replica draws from the shared bucket"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_or_frozen_answers_500_within_the_timeout_then_limiting_resumes_within_a_second() {
    let mut redis = RedisServer::start();
    let backend = Backend::start("b").await;
    let gateways = replicas(3, &backend, limit(&redis, false)).await;
    let before = switchyard_middleware::redis_errors();

    let normal = run_load(&gateways, 1, Duration::from_millis(500)).await;
    assert_eq!(count(&normal, 500), 0, "Redis up: no errors");
    assert!(count(&normal, 429) > 0, "Redis up: limited");

    // Frozen: Redis accepts and reads, never answers.
    redis.signal("-STOP");
    let frozen = run_load(&gateways, 2, Duration::from_secs(1)).await;
    redis.signal("-CONT");
    assert!(count(&frozen, 500) > 0, "frozen Redis: 500s");
    let slowest = frozen.iter().map(|o| o.took).max().unwrap();
    let refused = count(&frozen, 500);
    println!(
        "frozen Redis: {} requests, {refused} answered 500, slowest {slowest:?}",
        frozen.len()
    );
    assert!(
        slowest < BOUND + SLACK,
        "a request waited {slowest:?} on a frozen Redis"
    );
    assert!(
        frozen.iter().all(|o| o.status == 500 || o.took < BOUND),
        "only requests Redis answered succeed"
    );

    // Killed in the middle of the load: requests in flight and after get 500, none hangs.
    let stop = Arc::new(AtomicBool::new(false));
    let running = load(&gateways, 2, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = running.await.unwrap();
    let (before_kill, after_kill): (Vec<Outcome>, Vec<Outcome>) = outcomes.into_iter().partition(|o| o.at < killed);
    assert!(count(&before_kill, 429) > 0, "limited before the kill");
    // Those answered once a request in flight at the kill has had its bound.
    let down: Vec<Outcome> = after_kill.iter().copied().filter(|o| o.at > killed + BOUND).collect();
    assert!(
        !down.is_empty() && count(&down, 500) == down.len(),
        "Redis down: every request 500"
    );
    let slowest = after_kill.iter().map(|o| o.took).max().unwrap();
    println!(
        "Redis killed mid-load: {} requests after, all 500 from {BOUND:?} on, slowest {slowest:?}",
        after_kill.len()
    );
    assert!(slowest < BOUND + SLACK, "a request waited {slowest:?} on a dead Redis");
    assert!(switchyard_middleware::redis_errors() > before, "failures are counted");

    // Back: limiting resumes within a second of Redis answering again.
    let stop = Arc::new(AtomicBool::new(false));
    let running = load(&gateways, 1, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(200)).await;
    redis.restart();
    let back = Instant::now();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    stop.store(true, Ordering::Relaxed);
    let after: Vec<Outcome> = running.await.unwrap().into_iter().filter(|o| o.at > back).collect();
    let last_error = after
        .iter()
        .filter(|o| o.status == 500)
        .map(|o| o.at - back)
        .max()
        .unwrap_or_default();
    println!("last 500 {last_error:?} after Redis came back");
    assert!(
        last_error < Duration::from_secs(1),
        "500s went on {last_error:?} after Redis came back"
    );
    let resumed: Vec<_> = after.iter().filter(|o| o.at - back > Duration::from_secs(1)).collect();
    assert!(resumed.iter().any(|o| o.status == 429), "limited again");
    assert!(resumed.iter().all(|o| o.status == 200 || o.status == 429));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_on_error_forwards_unlimited_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let backend = Backend::start("b").await;
    let gateways = replicas(1, &backend, limit(&redis, true)).await;
    let limited = run_load(&gateways, 2, Duration::from_millis(300)).await;
    assert!(count(&limited, 429) > 0, "Redis up: limited");

    redis.kill();
    let before = switchyard_middleware::redis_errors();
    let open = run_load(&gateways, 2, Duration::from_millis(500)).await;
    assert_eq!(count(&open, 200), open.len(), "every request forwarded");
    let limit = BURST as usize + 50;
    println!(
        "{} forwarded in 500 ms with Redis down (the limit: {limit})",
        open.len()
    );
    assert!(
        open.len() > limit,
        "more than the limit would let through: {}",
        open.len()
    );
    assert!(switchyard_middleware::redis_errors() >= before + open.len() as u64);
    let slowest = open.iter().map(|o| o.took).max().unwrap();
    assert!(slowest < BOUND + SLACK, "a request waited {slowest:?}");
}

/// The value of `series` (a whole `name{labels}`) in a Prometheus exposition.
#[cfg(feature = "metrics")]
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `/metrics` counts, per middleware, the requests Redis could not decide: none while it answers, each
/// one answered 500 once it is gone.
#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_errors_are_counted_on_the_metrics_endpoint() {
    let mut redis = RedisServer::start();
    let backend = Backend::start("b").await;
    let mut static_config = support::static_config();
    static_config
        .entry_points
        .insert("traefik".into(), switchyard_config::EntryPoint::new("127.0.0.1:0"));
    static_config.metrics = Some(switchyard_config::Metrics {
        prometheus: Some(switchyard_config::Prometheus::default()),
        ..switchyard_config::Metrics::default()
    });
    // A name of its own: the counts are the process's, and other tests here fail Redis too.
    let dynamic = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("metered", Middleware::RateLimit(limit(&redis, false)))],
    );
    let gateway = support::TestGateway::start_with(static_config, dynamic).await;
    let metrics = format!("http://{}/metrics", gateway.gateway.local_addr("traefik").unwrap());
    let series = r#"switchyard_ratelimit_redis_errors_total{middleware="metered@test"}"#;
    let client = client();
    let scrape = || async {
        let (status, _, text) = get(&client, &metrics, None).await;
        assert_eq!(status, StatusCode::OK);
        sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };

    let up = run_load(std::slice::from_ref(&gateway), 1, Duration::from_millis(200)).await;
    assert_eq!(count(&up, 500), 0);
    assert_eq!(scrape().await, 0.0, "Redis answers: no error");

    redis.kill();
    let down = run_load(std::slice::from_ref(&gateway), 2, Duration::from_millis(300)).await;
    let failed = count(&down, 500);
    assert!(failed > 0 && failed == down.len(), "Redis down: every request 500");
    let counted = scrape().await;
    println!("{failed} requests answered 500 with Redis down; /metrics: {series} {counted}");
    assert_eq!(counted, failed as f64, "each failed request counted once");
}

#[tokio::test]
async fn options_redis_cannot_use_are_reported_at_load_with_their_key_path() {
    let backend = Backend::start("b").await;
    let mut cluster = RateLimit {
        average: 1,
        redis: Some(Redis::default()),
        ..RateLimit::default()
    };
    if let Some(redis) = cluster.redis.as_mut() {
        redis.endpoints = vec!["a:6379".into(), "b:6379".into()];
        redis.db = 2;
    }
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("cluster", Middleware::RateLimit(cluster))],
    );
    let gateway = TestGateway::start(config).await;
    let snapshot = gateway.gateway.snapshot();
    let element = &snapshot.report().middlewares["cluster@test"];
    let paths: Vec<_> = element.errors.iter().map(|e| e.key_path.as_str()).collect();
    assert_eq!(
        paths,
        ["http.middlewares.cluster@test.rateLimit.redis.db"],
        "a cluster has only database 0"
    );
}

/// A Redis Cluster of three masters, each on free ports (client and bus), made by `redis-cli --cluster
/// create`.
struct RedisCluster {
    nodes: Vec<RedisServer>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let free = || TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                let (port, bus) = (free(), free());
                let config = dir.path().join(format!("nodes-{port}.conf"));
                let node = RedisServer::spawn(
                    port,
                    &[
                        "--port",
                        &port.to_string(),
                        "--cluster-enabled",
                        "yes",
                        "--cluster-port",
                        &bus.to_string(),
                        "--cluster-config-file",
                        config.to_str().unwrap(),
                        "--dir",
                        dir.path().to_str().unwrap(),
                    ],
                );
                node.wait_until_ready();
                node
            })
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(nodes.iter().map(RedisServer::endpoint))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run `redis-cli` ({e}): it comes with the Debian package redis-server"));
        assert!(created.success(), "redis-cli --cluster create");
        let cluster = Self { nodes, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster
            .nodes
            .iter()
            .all(|node| cluster.cli(node, &["cluster", "info"]).contains("cluster_state:ok"))
        {
            assert!(Instant::now() < deadline, "the cluster did not become ok within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    fn cli(&self, node: &RedisServer, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &node.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::endpoint).collect()
    }
}

/// With several endpoints, the buckets live in a Redis Cluster: each bucket's key on the node of its
/// slot, spread over the masters, and the limit holds for each source across three replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_endpoints_share_the_buckets_through_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let backend = Backend::start("b").await;
    let limit = RateLimit {
        average: 100,
        period: ConfigDuration::from_secs(1),
        burst: BURST,
        source_criterion: Some(switchyard_config::SourceCriterion {
            request_header_name: "X-Client".into(),
            ..switchyard_config::SourceCriterion::default()
        }),
        redis: Some(Redis {
            endpoints: cluster.endpoints(),
            read_timeout: ConfigDuration::from_millis(100),
            write_timeout: ConfigDuration::from_millis(100),
            dial_timeout: ConfigDuration::from_millis(200),
            ..Redis::default()
        }),
    };
    let gateways = replicas(3, &backend, limit).await;
    const CLIENTS: [&str; 4] = ["client-a", "client-b", "client-c", "client-d"];

    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    let started = Instant::now();
    for gateway in &gateways {
        for name in CLIENTS {
            let (url, stop) = (gateway.url("/"), Arc::clone(&stop));
            loops.push(tokio::spawn(async move {
                let client = client();
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let request = http::Request::get(&url)
                        .header("x-client", name)
                        .body(support::full(""))
                        .unwrap();
                    statuses.push((name, support::send(&client, request).await.0));
                }
                statuses
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut statuses = Vec::new();
    for one in loops {
        statuses.extend(one.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        statuses.iter().all(|(_, s)| *s == 200 || *s == 429),
        "only 200 and 429 (the cluster answers)"
    );
    let expected = BURST as f64 + 100.0 * elapsed;
    for name in CLIENTS {
        let served = statuses.iter().filter(|(n, s)| *n == name && *s == 200).count();
        let refused = statuses.iter().filter(|(n, s)| *n == name && *s == 429).count();
        let off = (served as f64 - expected).abs() / expected;
        println!(
            "{name}: {served} served, {refused} refused in {elapsed:.2} s, expected {expected:.0}, off by {:.1}%",
            off * 100.0
        );
        assert!(refused > served, "{name}: the load is over the limit");
        assert!(off < 0.05, "{name}: {served} served, expected {expected:.0} within 5%");
    }
    let keys: Vec<usize> = cluster
        .nodes
        .iter()
        .map(|node| cluster.cli(node, &["dbsize"]).trim().parse().unwrap())
        .collect();
    println!("bucket keys per node: {keys:?}");
    assert_eq!(keys.iter().sum::<usize>(), CLIENTS.len(), "one key per bucket");
    assert!(
        keys.iter().filter(|k| **k > 0).count() > 1,
        "the buckets are spread over the nodes: {keys:?}"
    );

    // The whole cluster gone: 500 within the bound, as with one server.
    drop(cluster);
    let down = run_load(&gateways, 1, Duration::from_millis(500)).await;
    assert!(
        !down.is_empty() && count(&down, 500) == down.len(),
        "cluster down: every request 500"
    );
    let slowest = down.iter().map(|o| o.took).max().unwrap();
    assert!(
        slowest < BOUND + SLACK,
        "a request waited {slowest:?} on a dead cluster"
    );
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_towards_redis_uses_the_configured_authority() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("redis.crt"), dir.path().join("redis.key"));
    std::fs::write(&cert_file, leaf.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let redis = RedisServer::start_tls(&cert_file, &key_file);
    let backend = Backend::start("b").await;

    let mut trusting = limit(&redis, false);
    if let Some(options) = trusting.redis.as_mut() {
        options.tls = Some(switchyard_config::ClientTls {
            ca: ca_cert.pem(),
            ..switchyard_config::ClientTls::default()
        });
    }
    let gateways = replicas(1, &backend, trusting.clone()).await;
    let outcomes = run_load(&gateways, 2, Duration::from_millis(1_500)).await;
    assert_eq!(count(&outcomes, 500), 0, "Redis over TLS answers");
    assert!(count(&outcomes, 429) > 0, "and limits");

    // Without the authority, the system roots do not know Redis's certificate: no answer, 500.
    if let Some(options) = trusting.redis.as_mut() {
        options.tls = Some(switchyard_config::ClientTls::default());
    }
    let gateways = replicas(1, &backend, trusting).await;
    let outcomes = run_load(&gateways, 1, Duration::from_millis(300)).await;
    assert_eq!(
        count(&outcomes, 500),
        outcomes.len(),
        "an unknown certificate is refused"
    );
}
