//! Running a service's active probes: each server on its own schedule, every `interval` while healthy
//! and every `unhealthyInterval` while not, until the service is dropped.

use std::time::{Duration, Instant};

use switchyard_config::ServerHealthCheck;
use tokio::task::{AbortHandle, JoinSet};

use super::{Probe, Watched};

/// The task probing a service's servers; it stops when this is dropped (with the service).
#[derive(Debug)]
pub(crate) struct ActiveChecks(AbortHandle);

impl Drop for ActiveChecks {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts probing `servers`; `None` without a runtime to run on.
pub(crate) fn spawn_active(servers: Vec<(Watched, Probe)>, config: &ServerHealthCheck) -> Option<ActiveChecks> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(target: "switchyard::health", "no runtime to run health checks on");
        return None;
    };
    let interval = positive(config.interval.to_std()).unwrap_or(Duration::from_secs(30));
    let unhealthy = positive(config.unhealthy_interval.and_then(|d| d.to_std())).unwrap_or(interval);
    let task = runtime.spawn(probe_forever(servers, interval, unhealthy));
    Some(ActiveChecks(task.abort_handle()))
}

fn positive(duration: Option<Duration>) -> Option<Duration> {
    duration.filter(|d| !d.is_zero())
}

/// Probes each server when it is due, in parallel, and puts it in or out of rotation by the outcome.
async fn probe_forever(servers: Vec<(Watched, Probe)>, interval: Duration, unhealthy: Duration) {
    let start = Instant::now();
    let mut due: Vec<Instant> = servers.iter().map(|_| start + interval).collect();
    loop {
        let Some(&next) = due.iter().min() else { return };
        tokio::time::sleep_until(next.into()).await;
        let now = Instant::now();
        let mut checks = JoinSet::new();
        for (index, (_, probe)) in servers.iter().enumerate().filter(|(i, _)| due[*i] <= now) {
            let probe = probe.clone();
            checks.spawn(async move { (index, probe.run().await) });
        }
        while let Some(Ok((index, outcome))) = checks.join_next().await {
            let server = &servers[index].0;
            if let Err(reason) = &outcome {
                tracing::warn!(target: "switchyard::health", service = &*server.service, server = &*server.url, %reason, "health check failed");
            }
            server.set_up(outcome.is_ok());
            due[index] = Instant::now() + if outcome.is_ok() { interval } else { unhealthy };
        }
    }
}
