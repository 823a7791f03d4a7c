//! `circuitBreaker`: stops sending requests to a service while an expression over its recent responses
//! holds, answering `responseCode` instead, then lets traffic back in gradually — oxy's `cbreaker`, which
//! Traefik uses.
//!
//! States, as oxy: *standby* lets everything through and, at most once per `checkPeriod` (after a
//! response), evaluates the expression over the last ten seconds; when it holds the breaker *trips* for
//! `fallbackDuration`, forgetting its measurements, and answers every request itself. Then it is
//! *recovering* for `recoveryDuration`: the share of requests let through rises linearly from 0 to 50%
//! (oxy's ramp), and the expression may trip it again; after that it is in standby.
//!
//! Functions: `NetworkErrorRatio()`, `ResponseCodeRatio(from, to, dividendFrom, dividendTo)` (ranges
//! exclude their end), `LatencyAtQuantileMS(quantile)` (quantile in percent), and oxy's
//! `RequestThreshold()` (requests in the window).
//!
//! Deviations: a network error is an answer the proxy made up because the exchange with a server failed
//! (see [`UpstreamFailure`]), where oxy counts every `502` and `504`, including a backend's own; latency
//! is measured until the response head arrives (a streamed body is not waited for).

pub(crate) mod expression;
mod metrics;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use switchyard_config::CircuitBreaker;
use tower::ServiceExt;

use self::expression::{Expr, Kind, Language, Literal, Value, numbers};
use self::metrics::Metrics;
use crate::layers::builtin_layer;
use crate::stack::{Answer, AsyncStep, async_step};
use crate::{BuildContext, HttpService, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody, UpstreamFailure};

/// The functions of a circuit breaker's expression.
#[derive(Debug)]
enum Metric {
    NetworkErrorRatio,
    ResponseCodeRatio(f64, f64, f64, f64),
    LatencyAtQuantileMs(f64),
    RequestThreshold,
}

struct Breaker;

impl Language for Breaker {
    type Call = Metric;

    fn call(name: &str, args: &[Literal]) -> Result<(Metric, Kind), String> {
        let metric = match name {
            "NetworkErrorRatio" => numbers::<0>(name, args).map(|_| Metric::NetworkErrorRatio)?,
            "RequestThreshold" => numbers::<0>(name, args).map(|_| Metric::RequestThreshold)?,
            "LatencyAtQuantileMS" => latency_at_quantile(name, args)?,
            "ResponseCodeRatio" => response_code_ratio(name, args)?,
            _ => {
                return Err(format!(
                    "unknown function `{name}` (NetworkErrorRatio, ResponseCodeRatio, LatencyAtQuantileMS, RequestThreshold)"
                ));
            }
        };
        Ok((metric, Kind::Number))
    }
}

/// `LatencyAtQuantileMS(quantile)`, the quantile in percent.
fn latency_at_quantile(name: &str, args: &[Literal]) -> Result<Metric, String> {
    let [q] = numbers::<1>(name, args)?;
    if !(0.0..=100.0).contains(&q) {
        return Err(format!("the quantile of `{name}` is a percentage (0 to 100), not {q}"));
    }
    Ok(Metric::LatencyAtQuantileMs(q))
}

/// `ResponseCodeRatio(from, to, dividendFrom, dividendTo)`, each range ending after it starts.
fn response_code_ratio(name: &str, args: &[Literal]) -> Result<Metric, String> {
    let [a, b, c, d] = numbers::<4>(name, args)?;
    if a >= b || c >= d {
        return Err(format!("`{name}` needs ranges whose start is below their end"));
    }
    Ok(Metric::ResponseCodeRatio(a, b, c, d))
}

pub(crate) fn circuit_breaker(
    config: &CircuitBreaker,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    let policy = TripPolicy::new(config)?;
    let now = Instant::now();
    let shared = Arc::new(Shared {
        policy,
        state: Mutex::new(State {
            phase: Phase::Standby,
            last_check: now,
            metrics: Metrics::new(now),
        }),
    });
    Ok(async_step(shared))
}

/// When the breaker trips, what it answers while tripped, and how long each phase lasts.
struct TripPolicy {
    condition: Expr<Metric>,
    response_code: StatusCode,
    check_period: Duration,
    fallback_duration: Duration,
    recovery_duration: Duration,
}

impl TripPolicy {
    fn new(config: &CircuitBreaker) -> Result<Self, MiddlewareError> {
        let condition = expression::parse::<Breaker>(&config.expression)
            .map_err(|reason| MiddlewareError::invalid("expression", reason))?;
        let response_code = StatusCode::from_u16(config.response_code).map_err(|_| {
            MiddlewareError::invalid(
                "responseCode",
                format!("{} is not an HTTP status", config.response_code),
            )
        })?;
        // As Traefik: a duration that is not positive leaves oxy's default.
        let positive =
            |d: switchyard_config::Duration, default: Duration| d.to_std().filter(|d| !d.is_zero()).unwrap_or(default);
        Ok(Self {
            condition,
            response_code,
            check_period: positive(config.check_period, Duration::from_millis(100)),
            fallback_duration: positive(config.fallback_duration, Duration::from_secs(10)),
            recovery_duration: positive(config.recovery_duration, Duration::from_secs(10)),
        })
    }
}

#[derive(Debug)]
enum Phase {
    Standby,
    Tripped { until: Instant },
    Recovering { until: Instant, ramp: Ramp },
}

/// oxy's ratio controller: lets a request through when doing so keeps the share let through below a
/// target that grows from 0 to 50% over the recovery.
#[derive(Debug)]
struct Ramp {
    start: Instant,
    duration: Duration,
    allowed: u64,
    denied: u64,
}

impl Ramp {
    fn allow(&mut self, now: Instant) -> bool {
        let target = 0.5 * now.saturating_duration_since(self.start).as_secs_f64() / self.duration.as_secs_f64();
        let share = (self.allowed + 1) as f64 / (self.allowed + 1 + self.denied) as f64;
        if share < target {
            self.allowed += 1;
            true
        } else {
            self.denied += 1;
            false
        }
    }
}

struct State {
    phase: Phase,
    last_check: Instant,
    metrics: Metrics,
}

struct Shared {
    policy: TripPolicy,
    state: Mutex<State>,
}

impl Shared {
    /// Whether a request is answered by the breaker instead of the service.
    fn blocks(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Phase::Tripped { until } = state.phase {
            if now < until {
                return true;
            }
            state.phase = self.recovery(now);
        }
        match &mut state.phase {
            Phase::Standby | Phase::Tripped { .. } => false,
            Phase::Recovering { until, ramp } => {
                if now > *until {
                    state.phase = Phase::Standby;
                    false
                } else {
                    !ramp.allow(now)
                }
            }
        }
    }

    /// Records a response and trips the breaker when it is time to check and the condition holds.
    fn record(&self, now: Instant, code: u16, network_error: bool, latency: Duration) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.metrics.record(now, code, network_error, latency);
        if now <= state.last_check {
            return;
        }
        state.last_check = now + self.policy.check_period;
        if matches!(state.phase, Phase::Tripped { .. }) {
            return;
        }
        if self.condition_holds(&state.metrics, now) {
            tracing::debug!(target: "switchyard::middleware", "circuit breaker tripped");
            state.phase = Phase::Tripped {
                until: now + self.policy.fallback_duration,
            };
            state.metrics.reset();
        }
    }

    /// The recovery that follows a trip ending at `now`.
    fn recovery(&self, now: Instant) -> Phase {
        Phase::Recovering {
            until: now + self.policy.recovery_duration,
            ramp: Ramp {
                start: now,
                duration: self.policy.recovery_duration,
                allowed: 0,
                denied: 0,
            },
        }
    }

    /// Whether the expression holds over the measurements at `now`.
    fn condition_holds(&self, metrics: &Metrics, now: Instant) -> bool {
        self.policy.condition.eval(&mut |metric: &Metric| {
            Value::Number(match *metric {
                Metric::NetworkErrorRatio => metrics.network_error_ratio(now),
                Metric::ResponseCodeRatio(a, b, c, d) => metrics.response_code_ratio(now, a, b, c, d),
                Metric::LatencyAtQuantileMs(q) => metrics.latency_at_quantile_ms(now, q),
                Metric::RequestThreshold => metrics.total(now) as f64,
            })
        })
    }

    /// What oxy's fallback in Traefik writes: the status text, without a newline.
    fn fallback(&self) -> Response<ResponseBody> {
        let status = self.policy.response_code;
        let mut response = Response::new(ResponseBody::from(status.canonical_reason().unwrap_or("")));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response
    }
}

impl AsyncStep for Shared {
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer {
        let shared = Arc::clone(self);
        let inner = inner.clone();
        Box::pin(async move {
            let start = Instant::now();
            if shared.blocks(start) {
                return Ok(shared.fallback());
            }
            let Ok(response) = inner.oneshot(req).await;
            let now = Instant::now();
            let network_error = UpstreamFailure::of(&response).is_some_and(|f| f.is_network_error());
            shared.record(now, response.status().as_u16(), network_error, now - start);
            Ok(response)
        })
    }
}

builtin_layer! {
    /// `circuitBreaker` as a tower layer: while `expression` holds over the recent requests, requests
    /// are answered `responseCode` instead of reaching the service, then let back in gradually. The
    /// window belongs to the layer and its clones.
    ///
    /// ```
    /// use switchyard_config::CircuitBreaker;
    /// use switchyard_middleware::layers::CircuitBreakerLayer;
    ///
    /// let breaker = CircuitBreaker { expression: "NetworkErrorRatio() > 0.30".into(), ..Default::default() };
    /// let layer = CircuitBreakerLayer::new(breaker).unwrap();
    /// # let _ = layer;
    /// let unknown = CircuitBreaker { expression: "Latency() > 1".into(), ..Default::default() };
    /// assert_eq!(CircuitBreakerLayer::new(unknown).unwrap_err().field(), "expression");
    /// ```
    CircuitBreakerLayer(CircuitBreaker => |config| circuit_breaker(config, &BuildContext::new("circuitBreaker")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(expression: &str) -> Shared {
        let now = Instant::now();
        Shared {
            policy: TripPolicy {
                condition: expression::parse::<Breaker>(expression).unwrap(),
                response_code: StatusCode::SERVICE_UNAVAILABLE,
                check_period: Duration::from_millis(100),
                fallback_duration: Duration::from_secs(10),
                recovery_duration: Duration::from_secs(10),
            },
            state: Mutex::new(State {
                phase: Phase::Standby,
                last_check: now,
                metrics: Metrics::new(now),
            }),
        }
    }

    #[test]
    fn trips_waits_and_ramps_back() {
        let breaker = shared("ResponseCodeRatio(500, 600, 0, 600) > 0.5");
        let t0 = Instant::now() + Duration::from_millis(1);
        assert!(!breaker.blocks(t0));
        breaker.record(t0, 500, false, Duration::ZERO);
        assert!(breaker.blocks(t0));
        assert!(breaker.blocks(t0 + Duration::from_millis(9_999)));
        // Recovery starts: nothing through at first, then about a quarter half-way.
        let recovery = t0 + Duration::from_secs(10);
        assert!(breaker.blocks(recovery));
        let half = recovery + Duration::from_secs(5);
        let allowed = (0..100).filter(|_| !breaker.blocks(half)).count();
        assert!((20..=30).contains(&allowed), "{allowed}");
        assert!(!breaker.blocks(recovery + Duration::from_millis(10_001)));
        assert!(!breaker.blocks(recovery + Duration::from_secs(11)));
    }

    #[test]
    fn checks_once_per_period() {
        let breaker = shared("NetworkErrorRatio() > 0.5");
        let t0 = Instant::now() + Duration::from_millis(1);
        breaker.record(t0, 200, false, Duration::ZERO);
        // Inside the check period: measured but not checked.
        breaker.record(t0 + Duration::from_millis(50), 502, true, Duration::ZERO);
        breaker.record(t0 + Duration::from_millis(60), 502, true, Duration::ZERO);
        assert!(!breaker.blocks(t0 + Duration::from_millis(60)));
        // A backend's own 502 is no network error.
        let t1 = t0 + Duration::from_millis(101);
        breaker.record(t1, 502, false, Duration::ZERO);
        assert!(!breaker.blocks(t1));
        breaker.record(t1 + Duration::from_millis(101), 502, true, Duration::ZERO);
        assert!(breaker.blocks(t1 + Duration::from_millis(101)));
    }

    #[test]
    fn rejects_bad_options() {
        let config = CircuitBreaker {
            expression: "NetworkErrorRatio() >".into(),
            ..CircuitBreaker::default()
        };
        let error = circuit_breaker(&config, &BuildContext::new("cb")).err().unwrap();
        assert_eq!(error.field(), "expression");
        let config = CircuitBreaker {
            expression: "LatencyAtQuantileMS(50.0) > 100".into(),
            response_code: 42,
            ..CircuitBreaker::default()
        };
        let error = circuit_breaker(&config, &BuildContext::new("cb")).err().unwrap();
        assert_eq!(error.field(), "responseCode");
    }
}
