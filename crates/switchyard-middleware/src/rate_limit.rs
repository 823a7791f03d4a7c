//! `rateLimit`: a token bucket per source, refilled at `average / period` tokens a second and holding at
//! most `burst` tokens, with the semantics of Go's `golang.org/x/time/rate` as Traefik uses it.
//!
//! A request takes a token. When none is left, the request is held until one is due if that is within
//! the maximum delay — `1 / (2 × rate)` for rates of at least one request a second (the rate rounded
//! down), half a second below that — and forwarded then; otherwise it is answered `429 Too Many
//! Requests` with `Retry-After` (whole seconds, rounded up) and `X-Retry-In` (a Go duration) telling when
//! the next token is due, and it does not take a token. `average: 0` means no limit; `period` defaults
//! to (and `0` means) one second; `burst` below 1 counts as 1. A source is the client address unless
//! `sourceCriterion` says otherwise (see [`crate::source`]).
//!
//! Buckets live in memory, at most 65 536 of them (Traefik's bound); when full, the bucket idle the
//! longest goes. An idle bucket is forgotten once it would have refilled completely, which is
//! indistinguishable from keeping it.
//!
//! Deviations from Traefik:
//! - Traefik forgets a bucket after 2 s idle (for rates of 1/s and more) even when it had not refilled,
//!   so a client that pauses two seconds gets a whole new `burst`; here a bucket is kept until it has
//!   refilled (and at least as long as Traefik keeps it).
//! - Buckets belong to the middleware definition, shared by the routers using it and kept across
//!   reloads while the definition is unchanged (Traefik keeps them per router and starts over at each
//!   reload).
//! - Negative `average` or `burst` are configuration errors (Traefik reads them as "no limit" and 1).
//!
//! With `redis` (cargo feature `redis`), the buckets live in Redis and are shared by every replica: see
//! [`redis`]'s options and failure handling. Without the feature, a configuration with `redis` is refused,
//! naming the feature.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderName, RETRY_AFTER};
use http::{HeaderValue, Request, Response, StatusCode};
use switchyard_config::RateLimit;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use crate::layers::builtin_layer;
use crate::source::{IpStrategy, Source, refusal};
use crate::{BuildContext, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

#[cfg(feature = "redis")]
pub(crate) mod redis;

const X_RETRY_IN: HeaderName = HeaderName::from_static("x-retry-in");

/// How many sources are tracked at most, as in Traefik.
const MAX_SOURCES: usize = 65_536;

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Forward it now.
    Now,
    /// Forward it after this wait (its token is already taken).
    After(Duration),
    /// Refuse it: the next token is due in this long, later than the maximum delay.
    Refuse(Duration),
}

/// One source's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens at `last`; negative while requests wait for tokens not yet due.
    tokens: f64,
    /// When `tokens` was computed.
    last: Instant,
    /// When the source was last seen.
    seen: Instant,
    /// The bucket's place in [`Buckets::by_age`].
    age: u64,
}

/// The buckets of every source, with their order of last use to expire and evict the idlest first.
#[derive(Debug, Default)]
struct Buckets {
    map: HashMap<Arc<[u8]>, Bucket>,
    by_age: BTreeMap<u64, Arc<[u8]>>,
    next_age: u64,
}

/// The limiter of one `rateLimit` middleware.
#[derive(Debug)]
struct Limiter {
    /// Tokens per second.
    rate: f64,
    burst: f64,
    max_delay: Duration,
    /// How long an idle bucket is kept.
    ttl: Duration,
    capacity: usize,
    source: Source,
    buckets: Mutex<Buckets>,
}

impl Limiter {
    /// Decides on a request from `key` at `now`, taking a token unless the request is refused.
    fn decide(&self, key: &[u8], now: Instant) -> Decision {
        let mut guard = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = &mut *guard;
        self.expire(buckets, now);

        let age = buckets.next_age;
        buckets.next_age += 1;
        self.track(buckets, key, age, now);
        match buckets.map.get_mut(key) {
            Some(bucket) => {
                bucket.seen = now;
                bucket.age = age;
                self.take(bucket, now)
            }
            // Just inserted: cannot happen.
            None => Decision::Now,
        }
    }

    /// Makes `key`'s bucket the last used (at `age`), creating it full when the source is new.
    fn track(&self, buckets: &mut Buckets, key: &[u8], age: u64, now: Instant) {
        match buckets.map.get(key) {
            Some(bucket) => {
                let old = bucket.age;
                buckets.by_age.remove(&old);
            }
            None => self.insert_fresh(buckets, key, age, now),
        }
        if let Some((stored, _)) = buckets.map.get_key_value(key) {
            buckets.by_age.insert(age, Arc::clone(stored));
        }
    }

    /// A full bucket for a new source, after evicting the idlest one when every place is taken.
    fn insert_fresh(&self, buckets: &mut Buckets, key: &[u8], age: u64, now: Instant) {
        if buckets.map.len() >= self.capacity {
            if let Some((_, idlest)) = buckets.by_age.pop_first() {
                buckets.map.remove(&idlest);
            }
        }
        let fresh = Bucket {
            tokens: self.burst,
            last: now,
            seen: now,
            age,
        };
        buckets.map.insert(key.into(), fresh);
    }

    /// `rate.Limiter.Reserve()`, and `Cancel()` at once when the wait is too long.
    fn take(&self, bucket: &mut Bucket, now: Instant) -> Decision {
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        let available = (bucket.tokens + elapsed * self.rate).min(self.burst);
        let left = available - 1.0;
        let wait = if left < 0.0 {
            // Go truncates the wait to whole nanoseconds; a float cast saturates, so no overflow.
            let nanos = (-left / self.rate * 1e9) as u64;
            Duration::from_nanos(nanos)
        } else {
            Duration::ZERO
        };
        bucket.last = now;
        if wait > self.max_delay {
            bucket.tokens = available;
            return Decision::Refuse(wait);
        }
        bucket.tokens = left;
        if wait.is_zero() {
            Decision::Now
        } else {
            Decision::After(wait)
        }
    }

    /// Forgets the buckets idle for longer than the TTL, oldest first.
    fn expire(&self, buckets: &mut Buckets, now: Instant) {
        while let Some((&age, key)) = buckets.by_age.first_key_value() {
            let idle = buckets
                .map
                .get(key)
                .is_none_or(|b| now.saturating_duration_since(b.seen) >= self.ttl);
            if !idle {
                break;
            }
            if let Some(key) = buckets.by_age.remove(&age) {
                buckets.map.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap().map.len()
    }
}

/// The `429` of a request whose token is due in `wait`.
fn too_many_requests(wait: Duration) -> Response<ResponseBody> {
    let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests".to_owned());
    let headers = response.headers_mut();
    let seconds = u64::try_from(wait.as_nanos().div_ceil(1_000_000_000)).unwrap_or(u64::MAX);
    headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    if let Ok(value) = HeaderValue::from_str(&go_duration(wait)) {
        headers.insert(X_RETRY_IN, value);
    }
    response
}

/// A duration as Go's `time.Duration.String()` writes it: `1.5s`, `2m0.25s`, `499.999ms`, `12µs`.
fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos().min(i64::MAX as u128);
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale, digits) = match nanos {
            0..1_000 => ("ns", 1, 0),
            1_000..1_000_000 => ("µs", 1_000, 3),
            _ => ("ms", 1_000_000, 6),
        };
        return format!("{}{unit}", with_fraction(nanos / scale, nanos % scale, digits));
    }
    let seconds = nanos / 1_000_000_000;
    let secs = with_fraction(seconds % 60, nanos % 1_000_000_000, 9);
    let (minutes, hours) = ((seconds / 60) % 60, seconds / 3600);
    match (hours, minutes) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

/// `whole`, then `fraction` (of `digits` digits) without its trailing zeros, after a dot when any are left.
fn with_fraction(whole: u128, fraction: u128, digits: usize) -> String {
    let fraction = format!("{fraction:0digits$}");
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

#[derive(Clone)]
struct LimiterLayer(Arc<Limiter>);

impl Layer<HttpService> for LimiterLayer {
    type Service = LimiterService;

    fn layer(&self, inner: HttpService) -> LimiterService {
        LimiterService {
            limiter: Arc::clone(&self.0),
            inner,
        }
    }
}

#[derive(Clone)]
struct LimiterService {
    limiter: Arc<Limiter>,
    inner: HttpService,
}

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

impl Service<Request<RequestBody>> for LimiterService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<RequestBody>) -> BoxFuture {
        let key = self.limiter.source.key(&req);
        match self.limiter.decide(&key, Instant::now()) {
            Decision::Now => self.inner.call(req),
            Decision::After(wait) => {
                let inner = self.inner.clone();
                Box::pin(async move {
                    tokio::time::sleep(wait).await;
                    inner.oneshot(req).await
                })
            }
            Decision::Refuse(wait) => {
                tracing::debug!(target: "switchyard::middleware", ?wait, "rateLimit refused a request");
                Box::pin(std::future::ready(Ok(too_many_requests(wait))))
            }
        }
    }
}

/// `1 / (2 × rate)` with the rate rounded down to whole requests a second, as Traefik computes it;
/// half a second below one request a second.
fn max_delay(rate: f64) -> Duration {
    if rate < 1.0 {
        return Duration::from_millis(500);
    }
    // Float-to-int casts saturate: an enormous rate gives a zero delay, as in Go.
    let whole = rate.trunc() as u64;
    Duration::from_nanos(1_000_000_000 / whole.saturating_mul(2))
}

/// How long an idle bucket is kept: Traefik's TTL (2 s for rates of 1/s and more, `1 + 1/rate` s below),
/// or longer when the bucket takes longer than that to refill completely.
fn ttl(rate: f64, burst: f64) -> Duration {
    let traefik = if rate >= 1.0 { 2 } else { 1 + (1.0 / rate) as u64 };
    let refill = Duration::try_from_secs_f64(((burst + 1.0) / rate).ceil()).unwrap_or(Duration::MAX);
    refill.max(Duration::from_secs(traefik))
}

/// `rateLimit`.
pub(crate) fn rate_limit(config: &RateLimit, ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    let source = Source::build(
        config.source_criterion.as_ref(),
        Source::Ip(IpStrategy::RemoteAddr { ipv6_subnet: None }),
    )?;
    check_limits(config)?;
    if let Some(redis) = &config.redis {
        return redis_layer(config, redis, source, ctx);
    }
    if config.average == 0 {
        return Ok(MiddlewareLayer::new(tower::layer::layer_fn(|inner: HttpService| inner)));
    }
    Ok(MiddlewareLayer::new(LimiterLayer(Arc::new(Limiter::new(
        config, source,
    )))))
}

#[cfg(feature = "redis")]
fn redis_layer(
    config: &RateLimit,
    redis: &switchyard_config::Redis,
    source: Source,
    ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    let limiter = redis::RedisLimiter::new(config, redis, source, ctx.name())?;
    if config.average == 0 {
        return Ok(MiddlewareLayer::new(tower::layer::layer_fn(|inner: HttpService| inner)));
    }
    Ok(MiddlewareLayer::new(redis::RedisLimiterLayer(Arc::new(limiter))))
}

#[cfg(not(feature = "redis"))]
fn redis_layer(
    _config: &RateLimit,
    _redis: &switchyard_config::Redis,
    _source: Source,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Err(MiddlewareError::invalid(
        "redis",
        "a Redis-backed (distributed) rate limiter needs switchyard built with the `redis` feature; remove \
         `redis` to limit in memory, per instance",
    ))
}

/// Per `rateLimit` middleware with `redis`: how many requests found Redis unable to answer. Kept for the
/// life of the process, so that a reload does not set a count back.
static REDIS_ERRORS: Mutex<BTreeMap<Arc<str>, Arc<std::sync::atomic::AtomicU64>>> = Mutex::new(BTreeMap::new());

/// The failure count of the Redis limiter `middleware`, listed (at zero) from now on.
#[cfg(feature = "redis")]
fn redis_error_counter(middleware: &str) -> Arc<std::sync::atomic::AtomicU64> {
    let mut counts = REDIS_ERRORS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(count) = counts.get(middleware) {
        return Arc::clone(count);
    }
    let count = Arc::default();
    counts.insert(middleware.into(), Arc::clone(&count));
    count
}

/// For each `rateLimit` middleware with `redis` built in this process (by qualified name, sorted), how many
/// requests found Redis unable to answer (an error, or no answer within `readTimeout` + `writeTimeout`):
/// each was answered `500` or, with `allowOnError`, forwarded unlimited. Empty without the `redis`
/// feature. The Prometheus endpoint serves it as `switchyard_ratelimit_redis_errors_total{middleware}`.
///
/// ```
/// let counts = switchyard_middleware::redis_errors_by_middleware();
/// assert!(counts.windows(2).all(|pair| pair[0].0 < pair[1].0));
/// ```
pub fn redis_errors_by_middleware() -> Vec<(Arc<str>, u64)> {
    let counts = REDIS_ERRORS.lock().unwrap_or_else(PoisonError::into_inner);
    counts
        .iter()
        .map(|(name, count)| (Arc::clone(name), count.load(std::sync::atomic::Ordering::Relaxed)))
        .collect()
}

/// `burst`, `period` and `average` cannot be negative.
fn check_limits(config: &RateLimit) -> Result<(), MiddlewareError> {
    if config.burst < 0 {
        return Err(MiddlewareError::invalid(
            "burst",
            format!("burst cannot be negative (got {})", config.burst),
        ));
    }
    if config.period.is_negative() {
        return Err(MiddlewareError::invalid(
            "period",
            format!("period cannot be negative (got {})", config.period),
        ));
    }
    if config.average < 0 {
        return Err(MiddlewareError::invalid(
            "average",
            format!("average cannot be negative (got {}); 0 means no limit", config.average),
        ));
    }
    Ok(())
}

/// The numbers of a checked configuration with a limit: `average` per `period` (a second when 0), bursts
/// of `burst` (at least one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Tokens per second.
    pub(crate) rate: f64,
    pub(crate) burst: f64,
    pub(crate) max_delay: Duration,
    /// How long an idle bucket is kept.
    pub(crate) ttl: Duration,
}

impl Limits {
    pub(crate) fn of(config: &RateLimit) -> Self {
        let period = if config.period.is_zero() {
            1e9
        } else {
            config.period.as_nanos() as f64
        };
        let rate = config.average as f64 * 1e9 / period;
        let burst = config.burst.max(1) as f64;
        Self {
            rate,
            burst,
            max_delay: max_delay(rate),
            ttl: ttl(rate, burst),
        }
    }
}

impl Limiter {
    /// The in-memory limiter of a checked configuration with a limit.
    fn new(config: &RateLimit, source: Source) -> Self {
        let limits = Limits::of(config);
        Self {
            rate: limits.rate,
            burst: limits.burst,
            max_delay: limits.max_delay,
            ttl: limits.ttl,
            capacity: MAX_SOURCES,
            source,
            buckets: Mutex::new(Buckets::default()),
        }
    }
}

builtin_layer! {
    /// `rateLimit` as a tower layer: a token bucket per source (the [`ClientInfo`](crate::ClientInfo)
    /// address unless `sourceCriterion` says otherwise), `average` requests per `period` with bursts of
    /// `burst`; a request over the limit waits briefly or is answered `429`. The buckets belong to the
    /// layer and its clones.
    ///
    /// ```
    /// use switchyard_config::{Duration, RateLimit};
    /// use switchyard_middleware::layers::RateLimitLayer;
    ///
    /// let limit = RateLimit { average: 100, period: Duration::from_secs(1), burst: 50, ..Default::default() };
    /// let layer = RateLimitLayer::new(limit).unwrap();
    /// # let _ = layer;
    /// let negative = RateLimit { burst: -1, ..Default::default() };
    /// assert_eq!(RateLimitLayer::new(negative).unwrap_err().field(), "burst");
    /// ```
    RateLimitLayer(RateLimit => |config| rate_limit(config, &BuildContext::new("rateLimit")))
}

#[cfg(test)]
mod tests {
    use switchyard_config::{Duration as ConfigDuration, Redis};

    use super::*;

    fn limiter(average: i64, period: Duration, burst: i64) -> Limiter {
        let rate = average as f64 / period.as_secs_f64();
        let burst = burst.max(1) as f64;
        Limiter {
            rate,
            burst,
            max_delay: max_delay(rate),
            ttl: ttl(rate, burst),
            capacity: MAX_SOURCES,
            source: Source::Host,
            buckets: Mutex::new(Buckets::default()),
        }
    }

    const MS: Duration = Duration::from_millis(1);

    /// Whether `got` is `expected`, up to a microsecond of float rounding in the wait.
    #[track_caller]
    fn check(got: Decision, expected: Decision) {
        let close = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_micros(1);
        let same = match (got, expected) {
            (Decision::Now, Decision::Now) => true,
            (Decision::After(a), Decision::After(b)) | (Decision::Refuse(a), Decision::Refuse(b)) => close(a, b),
            _ => false,
        };
        assert!(same, "got {got:?}, expected {expected:?}");
    }

    #[test]
    fn a_burst_then_the_average() {
        // 10/s, burst 3: three at once, then one every 100 ms; a wait of up to 50 ms is served late.
        let l = limiter(10, Duration::from_secs(1), 3);
        let t = Instant::now();
        for _ in 0..3 {
            check(l.decide(b"a", t), Decision::Now);
        }
        check(l.decide(b"a", t), Decision::Refuse(100 * MS));
        check(l.decide(b"a", t + 40 * MS), Decision::Refuse(60 * MS)); // refusals take no token
        check(l.decide(b"a", t + 60 * MS), Decision::After(40 * MS));
        check(l.decide(b"a", t + 60 * MS), Decision::Refuse(140 * MS)); // the delayed one took it
        check(l.decide(b"a", t + 210 * MS), Decision::Now);
        check(l.decide(b"b", t), Decision::Now); // sources have their own buckets
    }

    #[test]
    fn slow_rates_wait_up_to_half_a_second() {
        // 1 per 2 s: max delay 500 ms.
        let l = limiter(1, Duration::from_secs(2), 1);
        let t = Instant::now();
        check(l.decide(b"a", t), Decision::Now);
        check(l.decide(b"a", t + 1400 * MS), Decision::Refuse(600 * MS));
        check(l.decide(b"a", t + 1600 * MS), Decision::After(400 * MS));
        assert_eq!(max_delay(0.5), 500 * MS);
        assert_eq!(max_delay(1.0), 500 * MS);
        assert_eq!(max_delay(1.9), 500 * MS, "the rate is rounded down");
        assert_eq!(max_delay(100.0), 5 * MS);
        assert_eq!(max_delay(1e300), Duration::ZERO);
    }

    #[test]
    fn idle_buckets_are_forgotten_once_refilled_and_the_count_is_bounded() {
        let l = limiter(100, Duration::from_secs(1), 1000);
        assert_eq!(l.ttl, Duration::from_secs(11), "1001 tokens at 100/s");
        assert_eq!(limiter(100, Duration::from_secs(1), 1).ttl, Duration::from_secs(2));
        assert_eq!(limiter(1, Duration::from_secs(10), 1).ttl, Duration::from_secs(20));
        let t = Instant::now();
        l.decide(b"a", t);
        l.decide(b"b", t + Duration::from_secs(5));
        l.decide(b"c", t + Duration::from_secs(11));
        assert_eq!(l.len(), 2, "`a` expired");

        let mut small = limiter(1, Duration::from_secs(1), 1);
        small.capacity = 2;
        small.decide(b"a", t);
        small.decide(b"b", t);
        assert_eq!(small.decide(b"a", t), Decision::Refuse(Duration::from_secs(1)));
        small.decide(b"c", t);
        assert_eq!(small.len(), 2);
        assert_eq!(
            small.decide(b"a", t),
            Decision::Refuse(Duration::from_secs(1)),
            "`b` went, not `a`"
        );
        assert_eq!(small.decide(b"b", t), Decision::Now, "`b` starts over");
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(go_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_micros(499_999)), "499.999ms");
        assert_eq!(go_duration(100 * MS), "100ms");
        assert_eq!(go_duration(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_millis(62_250)), "1m2.25s");
        assert_eq!(go_duration(Duration::from_secs(7_200)), "2h0m0s");
    }

    #[test]
    fn refusal_headers() {
        let response = too_many_requests(Duration::from_millis(1_200));
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(response.headers()["x-retry-in"], "1.2s");
        assert_eq!(too_many_requests(60 * MS).headers()["retry-after"], "1");
    }

    #[test]
    fn options() {
        let ctx = BuildContext::new("m");
        let field = |config: RateLimit| rate_limit(&config, &ctx).err().map(|e| e.field().to_owned());
        let base = RateLimit {
            average: 10,
            ..RateLimit::default()
        };
        assert_eq!(field(base.clone()), None);
        assert_eq!(field(RateLimit::default()), None, "average 0: no limit");
        let redis = RateLimit {
            redis: Some(Redis::default()),
            ..base.clone()
        };
        let expected = if cfg!(feature = "redis") { None } else { Some("redis") };
        assert_eq!(
            field(redis).as_deref(),
            expected,
            "refused only without the `redis` feature"
        );
        let period = RateLimit {
            period: ConfigDuration::from_secs(-1),
            ..base.clone()
        };
        assert_eq!(field(period).as_deref(), Some("period"));
        let zero = RateLimit {
            period: ConfigDuration::ZERO,
            burst: 0,
            ..base.clone()
        };
        assert_eq!(field(zero), None);
        let average = RateLimit {
            average: -1,
            ..base.clone()
        };
        assert_eq!(field(average).as_deref(), Some("average"));
        let burst = RateLimit { burst: -1, ..base };
        assert_eq!(field(burst).as_deref(), Some("burst"));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_requests_wait_then_go_on() {
        let inner = HttpService::new(tower::service_fn(|_req: Request<RequestBody>| async {
            Ok::<_, Infallible>(Response::new(ResponseBody::from("ok")))
        }));
        let config = RateLimit {
            average: 10,
            source_criterion: Some(switchyard_config::SourceCriterion {
                request_host: true,
                ..Default::default()
            }),
            ..RateLimit::default()
        };
        let service = rate_limit(&config, &BuildContext::new("m")).unwrap().layer(inner);
        let request = || {
            Request::builder()
                .header("host", "h")
                .body(RequestBody::empty())
                .unwrap()
        };
        let start = Instant::now();
        assert_eq!(service.clone().oneshot(request()).await.unwrap().status(), 200);
        let refused = service.clone().oneshot(request()).await.unwrap();
        assert_eq!(refused.status(), 429);
        tokio::time::advance(60 * MS).await;
        assert_eq!(service.clone().oneshot(request()).await.unwrap().status(), 200);
        let waited = Instant::now() - start;
        assert!(
            waited >= 99 * MS && waited <= 101 * MS,
            "held until the token was due: {waited:?}"
        );
    }
}
