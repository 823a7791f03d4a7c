//! Passive health: failed requests counted per server within a window.

use std::time::{Duration, Instant};

use switchyard_config::PassiveHealthCheck;

use super::Watched;
use crate::balancing::ServerStats;

/// `passiveHealthCheck`: `maxFailedAttempts` failures within `failureWindow` take a server out.
#[derive(Debug)]
pub(crate) struct Passive {
    window: Duration,
    max_failures: usize,
    /// Whether active probes bring servers back (then passive never does).
    active: bool,
}

impl Passive {
    pub(crate) fn new(config: &PassiveHealthCheck, active: bool) -> Self {
        Self {
            window: config
                .failure_window
                .to_std()
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(10)),
            max_failures: usize::try_from(config.max_failed_attempts.max(1)).unwrap_or(1),
            active,
        }
    }

    /// A request to the server succeeded: its failures are forgotten.
    pub(crate) fn succeeded(&self, stats: &ServerStats) {
        stats.clear_failures();
    }

    /// A request to the server failed: with too many failures in the window, the server goes out of
    /// rotation, until the window has passed (or, with active probes, until a probe passes).
    pub(crate) fn failed(&self, server: &Watched) {
        let stats = server.stats();
        if stats.add_failure(Instant::now(), self.window) < self.max_failures || !stats.bench() {
            return;
        }
        tracing::warn!(target: "switchyard::health", service = &*server.service, server = &*server.url, "too many failed requests: out of rotation");
        server.set_up(false);
        if self.active {
            stats.unbench();
            return;
        }
        let server = server.clone();
        let window = self.window;
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            server.stats().unbench();
            server.set_up(true);
        });
    }
}
