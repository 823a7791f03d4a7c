//! `rateLimit.redis`: the token buckets live in Redis, so every replica of the gateway draws from the same
//! bucket. One server-side script per request reads the bucket, refills it by Redis's own clock, takes a
//! token and writes it back, atomically and in one round trip (`EVALSHA`, loaded again by itself after a
//! Redis restart). The bucket semantics are the in-memory limiter's (see [`super`]). The bucket's key is
//! `rate:{middleware}:{source}` with the whole source (as Traefik), so that every replica names it alike;
//! the command is written in one buffer, key included, as the request arrives.
//!
//! Options, as Traefik reads them:
//! - `endpoints`: one `host:port` (port 6379 when absent), or several: the seed nodes of a Redis Cluster,
//!   as in Traefik. Each bucket is one key, so its script runs on the node of the key's slot; the
//!   cluster client follows the slot map (`MOVED`, `ASK`). A cluster has only database 0 (`db` is refused
//!   otherwise), and `tls` towards a cluster is refused at load.
//! - `username`, `password`, `db`: sent when connecting.
//! - `poolSize`: how many connections requests are spread over (0 means one); each is multiplexed, so one
//!   carries many requests at once. `maxActiveConns` caps it, `minIdleConns` raises it: every connection
//!   is kept open (reopened when lost), so the idle minimum is the pool.
//! - `dialTimeout`: bounds each connection attempt.
//! - `readTimeout` + `writeTimeout`: bound the whole wait of a request on Redis, whatever Redis does (refuse,
//!   reset, or accept and never answer); 0 or negative means no bound, as in Traefik.
//! - `tls`: with the `tls` feature, rustls with the system roots, `ca`, a client `cert`/`key`; refused at load
//!   without it.
//! - `allowOnError` (a switchyard extension): when Redis cannot answer in time, forward the request unlimited
//!   instead of answering `500` (Traefik's behaviour, the default).
//!
//! Deviations from Traefik: time is Redis's (`TIME` in the script), not each replica's clock, so replicas
//! with skewed clocks still share one bucket fairly; the failure is logged once per ten seconds with the
//! count since the last line (Traefik logs each request), and counted by [`redis_errors`] and, per
//! middleware, by [`redis_errors_by_middleware`](crate::redis_errors_by_middleware) (on `/metrics`).

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, ConnectionAddr, IntoConnectionInfo, RedisResult, RedisWrite, Script};
use switchyard_config::{RateLimit, Redis};
use tower::{Layer, Service, ServiceExt};

use super::{BoxFuture, Decision, Limits, too_many_requests};
use crate::source::{Source, refusal};
use crate::{HttpService, MiddlewareError, RequestBody, ResponseBody};

/// The token bucket, in Redis. `KEYS[1]`: the bucket (a hash of `tokens` and `last`, in µs of Redis's
/// clock). `ARGV`: tokens per µs, burst, seconds an idle bucket is kept, the longest wait in ns that is
/// served late rather than refused. Answers `{1, wait_ns}` when a token was taken (to forward after
/// `wait_ns`) and `{0, wait_ns}` when the request is refused (the next token is due in `wait_ns`).
const TOKEN_BUCKET: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_delay = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
local available = math.min(burst, tokens + math.max(0, now - last) * rate)
local left = available - 1
local wait = 0
if left < 0 then
  wait = math.floor(-left / rate * 1000)
end
if wait > max_delay then
  return {0, wait}
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', left), 'last', string.format('%.0f', now))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, wait}
";

/// How often a failing Redis is logged at most.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Requests that found Redis unable to answer, over every Redis rate limiter of the process.
static ERRORS: AtomicU64 = AtomicU64::new(0);

/// How many requests, since the process started, found Redis unable to answer a `rateLimit.redis`
/// middleware (an error, or no answer within `readTimeout` + `writeTimeout`); each was answered `500` or,
/// with `allowOnError`, forwarded unlimited.
///
/// ```
/// let before = switchyard_middleware::redis_errors();
/// assert!(switchyard_middleware::redis_errors() >= before);
/// ```
pub fn redis_errors() -> u64 {
    ERRORS.load(Ordering::Relaxed)
}

/// Why a request could not be decided by Redis.
#[derive(Debug, thiserror::Error)]
enum RedisLimitError {
    /// Redis answered with an error, or the connection failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?} (readTimeout + writeTimeout)")]
    Timeout(Duration),
    /// Redis could not be reached a moment ago; it is tried again after [`HOLD_OFF`].
    #[error("Redis could not be reached a moment ago")]
    HeldOff,
}

impl RedisLimitError {
    /// Whether Redis is out of reach (rather than refusing this one script), so that the next requests
    /// should not wait on it for a moment.
    fn unreachable(&self) -> bool {
        match self {
            Self::Timeout(_) => true,
            Self::Redis(e) => {
                e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout()
            }
            Self::HeldOff => false,
        }
    }
}

/// After Redis was out of reach, requests fail at once for this long instead of each waiting on a
/// connection attempt or a timeout; then requests try again (sharing one connection attempt). Short
/// enough that limiting resumes well within a second of Redis coming back.
const HOLD_OFF: Duration = Duration::from_millis(100);

/// The failures of one limiter, logged at most once per [`LOG_INTERVAL`].
#[derive(Debug)]
struct Failures {
    /// Since the last log line.
    unlogged: AtomicU64,
    /// When the last line was written, in ms since `epoch`; `u64::MAX` before the first.
    logged_at: AtomicU64,
    /// Until when (ms since `epoch`) requests fail at once; 0 while Redis answers.
    held_until: AtomicU64,
    epoch: Instant,
    /// Every failure of this middleware, as `/metrics` serves it.
    total: Arc<AtomicU64>,
}

impl Failures {
    fn new(name: &str) -> Self {
        Self {
            unlogged: AtomicU64::new(0),
            logged_at: AtomicU64::new(u64::MAX),
            held_until: AtomicU64::new(0),
            epoch: Instant::now(),
            total: super::redis_error_counter(name),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Whether requests should not try Redis now (it was out of reach less than [`HOLD_OFF`] ago).
    fn held_off(&self) -> bool {
        let until = self.held_until.load(Ordering::Relaxed);
        until != 0 && self.now() < until
    }

    /// Redis answered: requests go to it again.
    fn reached(&self, name: &str) {
        // A load first: the usual case writes nothing to the shared line.
        if self.held_until.load(Ordering::Relaxed) != 0 && self.held_until.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!(target: "switchyard::middleware", middleware = name, "rateLimit.redis: Redis answers again");
        }
    }

    fn unreachable(&self) {
        self.held_until
            .store(self.now() + HOLD_OFF.as_millis() as u64, Ordering::Relaxed);
    }

    fn record(&self, name: &str, error: &dyn Display, allow: bool) {
        ERRORS.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        let unlogged = self.unlogged.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.now();
        let last = self.logged_at.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= LOG_INTERVAL.as_millis() as u64;
        if due
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.unlogged.fetch_sub(unlogged, Ordering::Relaxed);
            let answer = if allow { "forwarded unlimited" } else { "answered 500" };
            tracing::warn!(
                target: "switchyard::middleware",
                middleware = name,
                requests = unlogged,
                "rateLimit.redis: {error}; {answer} (this line is written at most every {LOG_INTERVAL:?})"
            );
        }
    }
}

/// How to reach Redis, checked at load.
#[derive(Debug, Clone)]
struct Endpoint {
    target: Target,
    connections: usize,
    /// The longest a request waits on Redis.
    bound: Option<Duration>,
}

/// Where the buckets live.
#[derive(Debug, Clone)]
enum Target {
    /// One Redis server, through connections that reconnect by themselves.
    One {
        client: Client,
        manager: ConnectionManagerConfig,
    },
    /// A Redis Cluster, found from its seed nodes.
    Cluster(ClusterClient),
}

/// One connection of the pool.
enum Slot {
    One(ConnectionManager),
    /// Opened by the first request that needs it (tried again by the next one if that failed).
    Cluster(tokio::sync::OnceCell<ClusterConnection>),
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::One(_) => f.write_str("Slot::One"),
            Self::Cluster(connection) => write!(f, "Slot::Cluster(open: {})", connection.initialized()),
        }
    }
}

/// A connection taken from the pool for one request.
enum Connection {
    One(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A duration option as a bound: 0 or negative means none.
fn positive(d: switchyard_config::Duration) -> Option<Duration> {
    d.to_std().filter(|d| !d.is_zero())
}

impl Endpoint {
    fn new(redis: &Redis) -> Result<Self, MiddlewareError> {
        if redis.endpoints.is_empty() {
            return Err(MiddlewareError::invalid(
                "redis.endpoints",
                "give one Redis endpoint (host:port), or the nodes of a Redis Cluster",
            ));
        }
        if redis.db < 0 {
            return Err(MiddlewareError::invalid(
                "redis.db",
                format!("a database number cannot be negative (got {})", redis.db),
            ));
        }
        let bound = positive(redis.read_timeout)
            .zip(positive(redis.write_timeout))
            .map(|(r, w)| r + w);
        let target = match redis.endpoints.as_slice() {
            [one] => single(one, redis, bound)?,
            _ => Target::Cluster(cluster(redis, bound)?),
        };
        Ok(Self {
            target,
            connections: connections(redis),
            bound,
        })
    }

    /// The pool's connections, not opened yet.
    fn pool(&self) -> Box<[Slot]> {
        match &self.target {
            Target::One { client, manager } => (0..self.connections)
                .filter_map(|_| ConnectionManager::new_lazy_with_config(client.clone(), manager.clone()).ok())
                .map(Slot::One)
                .collect(),
            Target::Cluster(_) => (0..self.connections)
                .map(|_| Slot::Cluster(tokio::sync::OnceCell::new()))
                .collect(),
        }
    }
}

/// The seed nodes of a Redis Cluster, with the credentials and timeouts.
fn cluster(redis: &Redis, bound: Option<Duration>) -> Result<ClusterClient, MiddlewareError> {
    if redis.db != 0 {
        return Err(MiddlewareError::invalid(
            "redis.db",
            "a Redis Cluster (several endpoints) has only database 0",
        ));
    }
    if redis.tls.is_some() {
        return Err(MiddlewareError::invalid(
            "redis.tls",
            "TLS towards a Redis Cluster (several endpoints) is not supported by switchyard",
        ));
    }
    let nodes = redis
        .endpoints
        .iter()
        .enumerate()
        .map(|(index, endpoint)| {
            let (host, port) = host_port(endpoint, index)?;
            ConnectionAddr::Tcp(host, port)
                .into_connection_info()
                .map_err(|e| MiddlewareError::invalid(format!("redis.endpoints[{index}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A redirection (`MOVED`, `ASK`) is followed; the whole wait stays bounded by `bound`.
    let mut builder = ClusterClientBuilder::new(nodes).retries(2);
    if !redis.username.is_empty() {
        builder = builder.username(&redis.username);
    }
    if !redis.password.is_empty() {
        builder = builder.password(&redis.password);
    }
    if let Some(dial) = positive(redis.dial_timeout) {
        builder = builder.connection_timeout(dial);
    }
    if let Some(bound) = bound {
        builder = builder.response_timeout(bound);
    }
    builder
        .build()
        .map_err(|e| MiddlewareError::invalid("redis.endpoints", e.to_string()))
}

/// One Redis server.
fn single(address: &str, redis: &Redis, bound: Option<Duration>) -> Result<Target, MiddlewareError> {
    let (host, port) = host_port(address, 0)?;
    let mut info = addr(host, port, redis)?
        .into_connection_info()
        .map_err(|e| MiddlewareError::invalid("redis.endpoints[0]", e.to_string()))?;
    let mut settings = info.redis_settings().clone().set_db(redis.db);
    if !redis.username.is_empty() {
        settings = settings.set_username(&redis.username);
    }
    if !redis.password.is_empty() {
        settings = settings.set_password(&redis.password);
    }
    info = info.set_redis_settings(settings);
    let client = client(info, redis)?;
    // One connection attempt at a time, no retry loop inside the client: while Redis is out of reach,
    // requests fail at once (see `HOLD_OFF`) and one of them tries again every `HOLD_OFF`.
    let manager = ConnectionManagerConfig::new()
        .set_connection_timeout(positive(redis.dial_timeout))
        .set_response_timeout(bound)
        .set_number_of_retries(0);
    Ok(Target::One { client, manager })
}

/// `poolSize` raised to `minIdleConns`, capped by `maxActiveConns`, at least one.
fn connections(redis: &Redis) -> usize {
    let mut n = redis.pool_size.max(redis.min_idle_conns).max(1);
    if redis.max_active_conns > 0 {
        n = n.min(redis.max_active_conns);
    }
    n as usize
}

/// `host:port`, `[v6]:port`, or a host alone (port 6379); `index` is its place in `endpoints`.
fn host_port(endpoint: &str, index: usize) -> Result<(String, u16), MiddlewareError> {
    let bad = |why: &str| MiddlewareError::invalid(format!("redis.endpoints[{index}]"), format!("`{endpoint}`: {why}"));
    let (host, port) = match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (
            host,
            port.parse::<u16>()
                .map_err(|_| bad("the port is not a number up to 65535"))?,
        ),
        _ => (endpoint, 6379),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((host.to_owned(), port))
}

#[cfg(feature = "tls")]
fn addr(host: String, port: u16, redis: &Redis) -> Result<ConnectionAddr, MiddlewareError> {
    Ok(match &redis.tls {
        Some(tls) => ConnectionAddr::TcpTls {
            host,
            port,
            insecure: tls.insecure_skip_verify,
            tls_params: None,
        },
        None => ConnectionAddr::Tcp(host, port),
    })
}

#[cfg(not(feature = "tls"))]
fn addr(host: String, port: u16, redis: &Redis) -> Result<ConnectionAddr, MiddlewareError> {
    if redis.tls.is_some() {
        return Err(MiddlewareError::invalid(
            "redis.tls",
            "TLS towards Redis needs switchyard built with the `tls` feature",
        ));
    }
    Ok(ConnectionAddr::Tcp(host, port))
}

#[cfg(feature = "tls")]
fn client(info: redis::ConnectionInfo, redis: &Redis) -> Result<Client, MiddlewareError> {
    let Some(tls) = &redis.tls else {
        return Client::open(info).map_err(|e| MiddlewareError::invalid("redis", e.to_string()));
    };
    // Checked here so a bad file is reported at load; Redis's client takes the PEM text.
    let pem = |field: &str, value: &str| -> Result<Option<Vec<u8>>, MiddlewareError> {
        if value.is_empty() {
            return Ok(None);
        }
        let bad = |e: &dyn Display| MiddlewareError::invalid(format!("redis.tls.{field}"), e.to_string());
        match field {
            "key" => switchyard_tls::private_key(value).map(drop),
            _ => switchyard_tls::certificates(value).map(drop),
        }
        .map_err(|e| bad(&e))?;
        if value.contains("-----BEGIN") {
            Ok(Some(value.as_bytes().to_vec()))
        } else {
            std::fs::read(value).map(Some).map_err(|e| bad(&e))
        }
    };
    let client_tls = match (pem("cert", &tls.cert)?, pem("key", &tls.key)?) {
        (Some(client_cert), Some(client_key)) => Some(redis::ClientTlsConfig {
            client_cert,
            client_key,
        }),
        (None, None) => None,
        _ => {
            return Err(MiddlewareError::invalid(
                "redis.tls",
                "a client certificate needs both `cert` and `key`",
            ));
        }
    };
    let certificates = redis::TlsCertificates {
        client_tls,
        root_cert: pem("ca", &tls.ca)?,
    };
    Client::build_with_tls(info, certificates).map_err(|e| MiddlewareError::invalid("redis.tls", e.to_string()))
}

#[cfg(not(feature = "tls"))]
fn client(info: redis::ConnectionInfo, _redis: &Redis) -> Result<Client, MiddlewareError> {
    Client::open(info).map_err(|e| MiddlewareError::invalid("redis", e.to_string()))
}

/// The limiter of one `rateLimit` middleware with `redis`.
#[derive(Debug)]
pub(super) struct RedisLimiter {
    endpoint: Endpoint,
    /// Made on the first request (a tokio runtime is needed), then kept; each reconnects by itself.
    pool: OnceLock<Box<[Slot]>>,
    next: AtomicUsize,
    script: Script,
    /// `rate:{middleware}:`, Traefik's key layout; the source follows.
    prefix: Box<[u8]>,
    /// The script's arguments, formatted once.
    args: [String; 4],
    /// The length of a command without the source.
    command_len: usize,
    source: Source,
    allow_on_error: bool,
    failures: Failures,
    name: Box<str>,
}

impl RedisLimiter {
    /// The limiter of a checked configuration with a limit, named `name` (the key space in Redis).
    pub(super) fn new(config: &RateLimit, redis: &Redis, source: Source, name: &str) -> Result<Self, MiddlewareError> {
        let limits = Limits::of(config);
        let ttl = limits.ttl.as_secs().max(1);
        let max_delay = u64::try_from(limits.max_delay.as_nanos()).unwrap_or(u64::MAX);
        let script = Script::new(TOKEN_BUCKET);
        let prefix: Box<[u8]> = format!("rate:{name}:").into_bytes().into();
        let args = [
            format!("{:e}", limits.rate / 1e6),
            limits.burst.to_string(),
            ttl.to_string(),
            max_delay.to_string(),
        ];
        let command_len =
            "EVALSHA".len() + script.get_hash().len() + 1 + prefix.len() + args.iter().map(String::len).sum::<usize>();
        Ok(Self {
            endpoint: Endpoint::new(redis)?,
            pool: OnceLock::new(),
            next: AtomicUsize::new(0),
            script,
            prefix,
            args,
            command_len,
            source,
            allow_on_error: redis.allow_on_error,
            failures: Failures::new(name),
            name: name.into(),
        })
    }

    /// A connection of the pool, in turn.
    async fn connection(&self) -> RedisResult<Connection> {
        let pool = self.pool.get_or_init(|| self.endpoint.pool());
        let at = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = pool.get(at % pool.len().max(1)).ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Client, "no Redis connection could be set up"))
        })?;
        Ok(match (slot, &self.endpoint.target) {
            (Slot::One(connection), _) => Connection::One(connection.clone()),
            (Slot::Cluster(connection), Target::Cluster(client)) => Connection::Cluster(
                connection
                    .get_or_try_init(|| client.get_async_connection())
                    .await?
                    .clone(),
            ),
            (Slot::Cluster(_), Target::One { .. }) => {
                return Err(redis::RedisError::from((redis::ErrorKind::Client, "not a cluster")));
            }
        })
    }

    /// Runs the script's `command` on `connection`, loading the script first if Redis lost it.
    async fn run(&self, connection: &mut impl redis::aio::ConnectionLike, command: &Cmd) -> RedisResult<(i64, i64)> {
        match command.query_async(connection).await {
            // A Redis that restarted has lost the script: load it, then run the command again.
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.script.load_async(connection).await?;
                command.query_async(connection).await
            }
            other => other,
        }
    }

    /// The script's invocation for `req`'s bucket (`EVALSHA`, the hash, one key, the arguments), the
    /// source written straight into the key: one buffer for the bytes and one for where each argument
    /// ends.
    fn command<B>(&self, req: &Request<B>) -> Cmd {
        // Room for a long source (an IPv6 address, a host, a token in a header) before growing.
        let mut command = Cmd::with_capacity(8, self.command_len + 64);
        command.arg("EVALSHA").arg(self.script.get_hash()).arg("1");
        let mut key = command.writer_for_next_arg();
        // Writing to memory does not fail.
        let written =
            std::io::Write::write_all(&mut key, &self.prefix).and_then(|()| self.source.write_full_key(req, &mut key));
        debug_assert!(written.is_ok(), "{written:?}");
        drop(key);
        for arg in &self.args {
            command.arg(arg.as_str());
        }
        command
    }

    /// Runs `command` (see [`command`](Self::command)) in Redis, or says why Redis could not decide.
    async fn decide(&self, command: &Cmd) -> Result<Decision, RedisLimitError> {
        if self.failures.held_off() {
            return Err(RedisLimitError::HeldOff);
        }
        let result = self.ask(command).await;
        match &result {
            Ok(_) => self.failures.reached(&self.name),
            Err(e) if e.unreachable() => self.failures.unreachable(),
            Err(_) => {}
        }
        result
    }

    async fn ask(&self, command: &Cmd) -> Result<Decision, RedisLimitError> {
        // Opening a cluster connection is part of the wait, and bounded with it.
        let round_trip = async {
            match self.connection().await? {
                Connection::One(mut connection) => self.run(&mut connection, command).await,
                Connection::Cluster(mut connection) => self.run(&mut connection, command).await,
            }
        };
        let (taken, wait) = match self.endpoint.bound {
            Some(bound) => tokio::time::timeout(bound, round_trip)
                .await
                .map_err(|_| RedisLimitError::Timeout(bound))??,
            None => round_trip.await?,
        };
        let wait = Duration::from_nanos(u64::try_from(wait).unwrap_or(0));
        Ok(match (taken, wait.is_zero()) {
            (0, _) => Decision::Refuse(wait),
            (_, true) => Decision::Now,
            (_, false) => Decision::After(wait),
        })
    }
}

#[derive(Clone)]
pub(super) struct RedisLimiterLayer(pub(super) Arc<RedisLimiter>);

impl Layer<HttpService> for RedisLimiterLayer {
    type Service = RedisLimiterService;

    fn layer(&self, inner: HttpService) -> RedisLimiterService {
        RedisLimiterService {
            limiter: Arc::clone(&self.0),
            inner,
        }
    }
}

#[derive(Clone)]
pub(super) struct RedisLimiterService {
    limiter: Arc<RedisLimiter>,
    inner: HttpService,
}

impl Service<Request<RequestBody>> for RedisLimiterService {
    type Response = Response<ResponseBody>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<RequestBody>) -> BoxFuture {
        let command = self.limiter.command(&req);
        let limiter = Arc::clone(&self.limiter);
        // The ready service goes with the request; this one gets a clone to be made ready next time.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match limiter.decide(&command).await {
                Ok(Decision::Now) => inner.oneshot(req).await,
                Ok(Decision::After(wait)) => {
                    tokio::time::sleep(wait).await;
                    inner.oneshot(req).await
                }
                Ok(Decision::Refuse(wait)) => Ok(too_many_requests(wait)),
                Err(error) => {
                    limiter.failures.record(&limiter.name, &error, limiter.allow_on_error);
                    if limiter.allow_on_error {
                        inner.oneshot(req).await
                    } else {
                        Ok(refusal(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Could not insert/update bucket".to_owned(),
                        ))
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(f: impl FnOnce(&mut Redis)) -> Redis {
        let mut redis = Redis::default();
        f(&mut redis);
        redis
    }

    #[test]
    fn endpoints() {
        assert_eq!(host_port("r:7000", 0).unwrap(), ("r".to_owned(), 7000));
        assert_eq!(host_port("r", 0).unwrap(), ("r".to_owned(), 6379));
        assert_eq!(host_port("[::1]:7000", 0).unwrap(), ("::1".to_owned(), 7000));
        assert_eq!(host_port("r:x", 0).unwrap_err().field(), "redis.endpoints[0]");
        let two = redis(|r| r.endpoints.push("b:6379".into()));
        assert!(
            matches!(Endpoint::new(&two).unwrap().target, Target::Cluster(_)),
            "several: a cluster"
        );
        let bad_second = redis(|r| r.endpoints.push("b:x".into()));
        assert_eq!(Endpoint::new(&bad_second).unwrap_err().field(), "redis.endpoints[1]");
        let cluster_db = redis(|r| {
            r.endpoints.push("b:6379".into());
            r.db = 1;
        });
        assert_eq!(Endpoint::new(&cluster_db).unwrap_err().field(), "redis.db");
        let cluster_tls = redis(|r| {
            r.endpoints.push("b:6379".into());
            r.tls = Some(switchyard_config::ClientTls::default());
        });
        assert_eq!(Endpoint::new(&cluster_tls).unwrap_err().field(), "redis.tls");
        let none = redis(|r| r.endpoints.clear());
        assert_eq!(Endpoint::new(&none).unwrap_err().field(), "redis.endpoints");
        let db = redis(|r| r.db = -1);
        assert_eq!(Endpoint::new(&db).unwrap_err().field(), "redis.db");
    }

    /// The bucket's key holds the whole source, even past the in-memory limiter's hashed bound, so that
    /// every replica names the same bucket; the command fits its first buffer.
    #[test]
    fn the_command_names_the_bucket_by_the_whole_source() {
        let config = RateLimit {
            average: 10,
            ..RateLimit::default()
        };
        let source = Source::Header(http::HeaderName::from_static("x-token"));
        let limiter = RedisLimiter::new(&config, &Redis::default(), source, "m@file").unwrap();
        let token = "t".repeat(crate::source::MAX_KEY_LEN * 2);
        let req = Request::builder().header("x-token", &token).body(()).unwrap();
        let command = limiter.command(&req);
        let args: Vec<&[u8]> = command
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes,
                _ => &[][..],
            })
            .collect();
        let key = format!("rate:m@file:{token}");
        let expected: [&[u8]; 8] = [
            b"EVALSHA",
            limiter.script.get_hash().as_bytes(),
            b"1",
            key.as_bytes(),
            limiter.args[0].as_bytes(),
            limiter.args[1].as_bytes(),
            limiter.args[2].as_bytes(),
            limiter.args[3].as_bytes(),
        ];
        assert_eq!(args, expected);
    }

    #[test]
    fn pool_and_timeouts() {
        assert_eq!(connections(&Redis::default()), 1);
        assert_eq!(connections(&redis(|r| r.pool_size = 4)), 4);
        assert_eq!(connections(&redis(|r| r.min_idle_conns = 6)), 6);
        let capped = redis(|r| {
            r.pool_size = 8;
            r.max_active_conns = 3;
        });
        assert_eq!(connections(&capped), 3);
        let endpoint = Endpoint::new(&Redis::default()).unwrap();
        assert_eq!(
            endpoint.bound,
            Some(Duration::from_secs(6)),
            "3 s to write, 3 s to read"
        );
        let unbounded = redis(|r| r.read_timeout = switchyard_config::Duration::ZERO);
        assert_eq!(
            Endpoint::new(&unbounded).unwrap().bound,
            None,
            "0 means no timeout, as in Traefik"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_needs_the_feature() {
        let tls = redis(|r| r.tls = Some(switchyard_config::ClientTls::default()));
        assert_eq!(Endpoint::new(&tls).unwrap_err().field(), "redis.tls");
    }

    #[test]
    fn failures_are_counted_and_logged_once_per_interval() {
        let failures = Failures::new("failures-test@file");
        let before = redis_errors();
        for _ in 0..3 {
            failures.record("failures-test@file", &"down", false);
        }
        assert!(redis_errors() >= before + 3);
        let mine = crate::redis_errors_by_middleware()
            .into_iter()
            .find(|(name, _)| &**name == "failures-test@file");
        assert_eq!(mine.map(|(_, n)| n), Some(3), "counted for the middleware");
        assert_eq!(
            failures.unlogged.load(Ordering::Relaxed),
            2,
            "the first was logged, the next two wait"
        );
    }
}
