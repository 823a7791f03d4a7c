//! What a circuit breaker measures of the requests it lets through, over a rolling window of ten
//! one-second buckets as oxy's `memmetrics` keeps: counts per status, network errors, and latencies.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Buckets in the window, each one second long.
const BUCKETS: u64 = 10;

#[derive(Debug, Default)]
struct Bucket {
    second: u64,
    total: u64,
    network_errors: u64,
    codes: HashMap<u16, u64>,
    /// Latencies in microseconds, rounded to three significant digits so a bucket stays small under load
    /// (oxy's HDR histogram keeps a similar precision).
    latencies: BTreeMap<u64, u64>,
}

/// The rolling window of one circuit breaker.
#[derive(Debug)]
pub(crate) struct Metrics {
    start: Instant,
    buckets: Vec<Bucket>,
}

impl Metrics {
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            buckets: (0..BUCKETS).map(|_| Bucket::default()).collect(),
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    fn live(&self, now: Instant) -> impl Iterator<Item = &Bucket> {
        let second = self.second(now);
        self.buckets
            .iter()
            .filter(move |b| b.total > 0 && b.second + BUCKETS > second && b.second <= second)
    }

    /// Records one request's outcome.
    pub(crate) fn record(&mut self, now: Instant, code: u16, network_error: bool, latency: Duration) {
        let second = self.second(now);
        let Some(bucket) = self.buckets.get_mut((second % BUCKETS) as usize) else {
            return;
        };
        if bucket.second != second {
            *bucket = Bucket {
                second,
                ..Bucket::default()
            };
        }
        bucket.total += 1;
        bucket.network_errors += u64::from(network_error);
        *bucket.codes.entry(code).or_default() += 1;
        *bucket.latencies.entry(round(latency_micros(latency))).or_default() += 1;
    }

    /// Forgets everything, as oxy does when the breaker trips.
    pub(crate) fn reset(&mut self) {
        for bucket in &mut self.buckets {
            *bucket = Bucket::default();
        }
    }

    pub(crate) fn total(&self, now: Instant) -> u64 {
        self.live(now).map(|b| b.total).sum()
    }

    /// Network errors over all requests; 0 without requests.
    pub(crate) fn network_error_ratio(&self, now: Instant) -> f64 {
        let total = self.total(now);
        if total == 0 {
            return 0.0;
        }
        self.live(now).map(|b| b.network_errors).sum::<u64>() as f64 / total as f64
    }

    /// Responses with a status in `[from, to)` over those in `[dividend_from, dividend_to)`; 0 when the
    /// latter is empty (oxy's ranges exclude their end).
    pub(crate) fn response_code_ratio(
        &self,
        now: Instant,
        from: f64,
        to: f64,
        dividend_from: f64,
        dividend_to: f64,
    ) -> f64 {
        let (mut a, mut b) = (0u64, 0u64);
        for bucket in self.live(now) {
            for (&code, &count) in &bucket.codes {
                let code = f64::from(code);
                if code >= from && code < to {
                    a += count;
                }
                if code >= dividend_from && code < dividend_to {
                    b += count;
                }
            }
        }
        if b == 0 { 0.0 } else { a as f64 / b as f64 }
    }

    /// The latency at `quantile` percent (0–100), in whole milliseconds; 0 without requests.
    pub(crate) fn latency_at_quantile_ms(&self, now: Instant, quantile: f64) -> f64 {
        let mut merged: BTreeMap<u64, u64> = BTreeMap::new();
        for bucket in self.live(now) {
            for (&micros, &count) in &bucket.latencies {
                *merged.entry(micros).or_default() += count;
            }
        }
        let total: u64 = merged.values().sum();
        if total == 0 {
            return 0.0;
        }
        let wanted = ((quantile.clamp(0.0, 100.0) / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (micros, count) in merged {
            seen += count;
            if seen >= wanted {
                return (micros / 1000) as f64;
            }
        }
        0.0
    }
}

fn latency_micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)
}

/// Rounds to three significant digits.
fn round(value: u64) -> u64 {
    let mut scale = 1;
    while value / scale >= 1000 {
        scale *= 10;
    }
    value / scale * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_over_the_window() {
        let start = Instant::now();
        let mut m = Metrics::new(start);
        assert_eq!(m.network_error_ratio(start), 0.0);
        m.record(start, 200, false, Duration::from_millis(10));
        m.record(start, 502, true, Duration::from_millis(20));
        m.record(start, 502, false, Duration::from_millis(30));
        m.record(start, 404, false, Duration::from_millis(40));
        assert_eq!(m.network_error_ratio(start), 0.25);
        assert_eq!(m.response_code_ratio(start, 500.0, 600.0, 0.0, 600.0), 0.5);
        assert_eq!(m.response_code_ratio(start, 500.0, 502.0, 0.0, 600.0), 0.0);
        assert_eq!(m.response_code_ratio(start, 500.0, 600.0, 600.0, 700.0), 0.0);
        assert_eq!(m.latency_at_quantile_ms(start, 50.0), 20.0);
        assert_eq!(m.latency_at_quantile_ms(start, 100.0), 40.0);
        m.reset();
        assert_eq!(m.total(start), 0);
    }

    #[test]
    fn old_buckets_leave_the_window() {
        let start = Instant::now();
        let mut m = Metrics::new(start);
        m.record(start, 500, false, Duration::ZERO);
        let later = start + Duration::from_secs(5);
        m.record(later, 200, false, Duration::ZERO);
        assert_eq!(m.total(later), 2);
        let after = start + Duration::from_secs(10);
        assert_eq!(m.total(after), 1);
        assert_eq!(m.response_code_ratio(after, 500.0, 600.0, 0.0, 600.0), 0.0);
        // A bucket reused ten seconds later starts afresh.
        m.record(after, 200, false, Duration::ZERO);
        assert_eq!(m.total(after), 2);
    }

    #[test]
    fn rounds_to_three_digits() {
        assert_eq!(round(999), 999);
        assert_eq!(round(123_456), 123_000);
    }
}
