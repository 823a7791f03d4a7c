//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas exactly one writes
//! Ingress status.
//!
//! The algorithm follows client-go's `leaderelection` with a Lease lock. The holder renews the Lease
//! (`renewTime`) every third of the lease duration. The others read it every retry period; another
//! replica takes it over only when it is free or when the holder has not renewed it for
//! `lease_duration`, and it judges that by the time *it* saw the Lease change last (its own clock), so
//! replicas with skewed clocks still agree. A follower does not wait for its next read to act on an
//! expiry: it reads again at the expiry itself, so a dead leader is replaced as soon as its Lease
//! expires. Every write carries the `resourceVersion` read, so of two replicas racing for a free Lease
//! one wins and the other gets `409 Conflict`. A leader that could not renew for two thirds of the lease
//! duration (counted from when it *sent* its last successful renewal) stops leading, also while a
//! request hangs, a third of the duration before anyone may take over; one that shuts down cleanly frees
//! the Lease at once.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;

/// Leader election among replicas through a Lease: only the replica holding it writes Ingress status.
/// A switchyard extension (Traefik writes status from every replica).
///
/// The identity defaults to `$POD_NAME`, else `$HOSTNAME`, followed by a random suffix so that two
/// processes on one host differ. The replica needs `get`, `create` and `update` on `leases` in the
/// Lease's namespace.
///
/// ```
/// use std::time::Duration;
/// use switchyard_kubernetes::{IngressProvider, LeaderElection};
///
/// let election = LeaderElection::new("kube-system", "switchyard-status")
///     .lease_duration(Duration::from_secs(15))
///     .retry_period(Duration::from_secs(2));
/// assert_eq!(election.lease_name(), "switchyard-status");
/// let provider = IngressProvider::new().leader_election(election);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    namespace: String,
    name: String,
    identity: String,
    lease_duration: Duration,
    retry_period: Duration,
}

impl LeaderElection {
    /// Elects a leader through the Lease `name` in `namespace`, held for 15 s and tried every 2 s
    /// (client-go's defaults).
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }

    /// This replica's name in the Lease's `holderIdentity`; unique among the replicas.
    ///
    /// ```
    /// let election = switchyard_kubernetes::LeaderElection::new("default", "l").identity("replica-1");
    /// assert_eq!(election.holder(), "replica-1");
    /// ```
    #[must_use]
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = identity.into();
        self
    }

    /// How long the Lease is valid after its holder last renewed it: a dead leader is replaced as soon as
    /// this long has passed since its last renewal (as the follower saw it, so up to a retry period
    /// later), which is within this long of its death when it died a retry period or more after
    /// renewing. The leader renews every third of it. Whole seconds, at least one.
    ///
    /// ```
    /// use std::time::Duration;
    /// let election = switchyard_kubernetes::LeaderElection::new("default", "l").lease_duration(Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn lease_duration(mut self, duration: Duration) -> Self {
        self.lease_duration = Duration::from_secs(duration.as_secs().max(1));
        self
    }

    /// How often the others read the Lease, and how soon a leader tries again after a failed renewal; at
    /// most a quarter of the lease duration is used.
    ///
    /// ```
    /// use std::time::Duration;
    /// let election = switchyard_kubernetes::LeaderElection::new("default", "l").retry_period(Duration::from_millis(500));
    /// ```
    #[must_use]
    pub fn retry_period(mut self, period: Duration) -> Self {
        self.retry_period = period.max(Duration::from_millis(10));
        self
    }

    /// The election `providers.kubernetesIngress.leaderElection` describes; durations of 0 or below
    /// keep the defaults.
    ///
    /// ```
    /// use switchyard_config::{Duration, LeaderElectionOptions};
    /// use switchyard_kubernetes::LeaderElection;
    ///
    /// let options = LeaderElectionOptions { identity: "a".into(), lease_duration: Duration::ZERO, ..Default::default() };
    /// let election = LeaderElection::from_static(&options);
    /// assert_eq!((election.lease_name(), election.holder()), ("switchyard-ingress-status", "a"));
    /// ```
    pub fn from_static(options: &switchyard_config::LeaderElectionOptions) -> Self {
        let positive = |d: switchyard_config::Duration| d.to_std().filter(|d| !d.is_zero());
        let mut election = Self::new(&options.namespace, &options.lease_name);
        if !options.identity.is_empty() {
            election = election.identity(&options.identity);
        }
        if let Some(duration) = positive(options.lease_duration) {
            election = election.lease_duration(duration);
        }
        if let Some(period) = positive(options.retry_period) {
            election = election.retry_period(period);
        }
        election
    }

    /// The Lease's name.
    ///
    /// ```
    /// assert_eq!(switchyard_kubernetes::LeaderElection::new("default", "l").lease_name(), "l");
    /// ```
    pub fn lease_name(&self) -> &str {
        &self.name
    }

    /// This replica's identity.
    ///
    /// ```
    /// assert!(!switchyard_kubernetes::LeaderElection::new("default", "l").holder().is_empty());
    /// ```
    pub fn holder(&self) -> &str {
        &self.identity
    }

    /// A leader that has not renewed for this long stops leading, before another replica may take over.
    fn renew_deadline(&self) -> Duration {
        self.lease_duration * 2 / 3
    }

    /// How often the leader renews the Lease.
    fn renew_period(&self) -> Duration {
        self.lease_duration / 3
    }

    /// How often a follower reads the Lease, and how soon a failed renewal is tried again.
    fn poll_period(&self) -> Duration {
        self.retry_period.min(self.lease_duration / 4)
    }
}

/// `$POD_NAME` or `$HOSTNAME` (else `switchyard`), `_`, and 16 random hex digits.
fn default_identity() -> String {
    use std::hash::BuildHasher;
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "switchyard".to_owned());
    let random = std::collections::hash_map::RandomState::new().hash_one((std::process::id(), Instant::now()));
    format!("{host}_{random:016x}")
}

/// One replica's side of the election.
pub(crate) struct Elector {
    api: Api<Lease>,
    settings: LeaderElection,
    /// The Lease's `resourceVersion` last seen, and when this replica first saw it.
    observed: Option<(String, Instant)>,
    /// When this replica sent its last successful renewal (or acquisition) while leading.
    renewed: Option<Instant>,
    /// While another replica holds the Lease: when it expires, by this replica's clock.
    expiry: Option<Instant>,
}

/// What one round of the election found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    Leading,
    Following,
}

impl Elector {
    pub(crate) fn new(client: kube::Client, settings: LeaderElection) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
            renewed: None,
            expiry: None,
        }
    }

    /// Runs rounds (see [`next_round`](Self::next_round)), telling `leading` whether this replica leads,
    /// until shutdown; then frees the Lease if it held it.
    pub(crate) async fn run(mut self, leading: watch::Sender<bool>, sink: switchyard_config::ProviderSink) {
        loop {
            let now = self.round().await;
            let was = *leading.borrow();
            if now != was {
                tracing::info!(
                    lease = %self.settings.name,
                    identity = %self.settings.identity,
                    "{} Ingress status writer",
                    if now { "became the" } else { "is no longer the" },
                );
                leading.send_replace(now);
            }
            let next = self.next_round(now);
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                () = sink.shutdown() => break,
            }
        }
        if *leading.borrow() {
            leading.send_replace(false);
            self.release().await;
        }
    }

    /// When the next round is due: a leader renews a third of the lease duration after its last renewal
    /// (a poll period after a failed one, and at the latest at its renew deadline, where it stops
    /// leading); a follower reads the Lease every poll period, and at the Lease's expiry if that comes
    /// first.
    fn next_round(&self, leading: bool) -> Instant {
        let now = Instant::now();
        let poll = now + self.settings.poll_period();
        match (leading, self.renewed) {
            (true, Some(renewed)) => {
                let due = renewed + self.settings.renew_period();
                if due > now {
                    due
                } else {
                    poll.min(renewed + self.settings.renew_deadline())
                }
            }
            _ => match self.expiry {
                Some(expiry) if expiry > now => poll.min(expiry),
                _ => poll,
            },
        }
    }

    /// One round: whether this replica leads after it. A leader's round ends at its renew deadline at
    /// the latest (it then no longer leads), whatever the API server does; a follower's after a lease
    /// duration.
    async fn round(&mut self) -> bool {
        let sent = Instant::now();
        let deadline = self.renewed.map_or(sent + self.settings.lease_duration, |renewed| {
            renewed + self.settings.renew_deadline()
        });
        let outcome = match tokio::time::timeout_at(deadline.into(), self.try_acquire_or_renew()).await {
            Ok(outcome) => outcome.map_err(|e| e.to_string()),
            Err(_) => Err("the API server did not answer in time".to_owned()),
        };
        match outcome {
            Ok(Round::Leading) => {
                // From when the request was sent: the followers count the Lease's validity from a later
                // moment, when they see the renewal.
                self.renewed = Some(sent);
                self.expiry = None;
                true
            }
            Ok(Round::Following) => {
                self.renewed = None;
                false
            }
            Err(error) => {
                tracing::warn!(lease = %self.settings.name, "leader election: {error}");
                // Keep leading through a short failure, never past the renew deadline.
                if self
                    .renewed
                    .is_some_and(|at| at.elapsed() >= self.settings.renew_deadline())
                {
                    self.renewed = None;
                }
                self.renewed.is_some()
            }
        }
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Round, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            return self.create().await;
        };
        // After the read: a renewal seen now may have been written just before.
        let now = Instant::now();
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let seen_at = match &self.observed {
            Some((seen, at)) if *seen == version => *at,
            _ => now,
        };
        self.observed = Some((version, seen_at));
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.as_deref().unwrap_or("");
        let ours = holder == self.settings.identity;
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.settings.lease_duration, Duration::from_secs);
        let expired = holder.is_empty() || now.saturating_duration_since(seen_at) >= duration;
        if !ours && !expired {
            self.expiry = Some(seen_at + duration);
            return Ok(Round::Following);
        }
        let stamp = MicroTime(k8s_openapi::jiff::Timestamp::now());
        if !ours {
            spec.acquire_time = Some(stamp.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.holder_identity = Some(self.settings.identity.clone());
        }
        spec.renew_time = Some(stamp);
        spec.lease_duration_seconds = Some(self.lease_seconds());
        // The read `resourceVersion` goes with the write: a replica that raced us gets 409.
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.saw(&written);
                Ok(Round::Leading)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Round::Following),
            Err(other) => Err(other),
        }
    }

    async fn create(&mut self) -> Result<Round, kube::Error> {
        let stamp = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.settings.name.clone()),
                namespace: Some(self.settings.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.settings.identity.clone()),
                lease_duration_seconds: Some(self.lease_seconds()),
                acquire_time: Some(stamp.clone()),
                renew_time: Some(stamp),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(written) => {
                self.saw(&written);
                Ok(Round::Leading)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Round::Following),
            Err(other) => Err(other),
        }
    }

    fn saw(&mut self, lease: &Lease) {
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        self.observed = Some((version, Instant::now()));
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.settings.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }

    /// Frees the Lease (no holder) so that another replica takes over at its next round, if we still
    /// hold it.
    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        if let Err(error) = self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(lease = %self.settings.name, "leader election: freeing the Lease: {error}");
        }
    }
}

/// Until leadership changes; never without leader election (or once the election is over). The
/// status and Event writers wait on it beside their work, to start or stop writing.
pub(crate) async fn leadership_changed(leading: Option<&mut watch::Receiver<bool>>) {
    match leading {
        Some(leading) => {
            if leading.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use switchyard_test_apiserver::ApiServer;

    fn elector(url: &str, settings: &LeaderElection) -> Elector {
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        Elector::new(client, settings.clone())
    }

    fn settings() -> LeaderElection {
        LeaderElection::new("default", "l")
            .identity("a")
            .lease_duration(Duration::from_secs(1))
            .retry_period(Duration::from_millis(50))
    }

    /// A leader that can no longer reach the API server keeps leading through a short failure, and stops
    /// at its renew deadline, a third of the Lease duration before the others may take over.
    #[tokio::test]
    async fn a_leader_that_cannot_renew_stops_before_its_lease_expires() {
        let server = ApiServer::start().await;
        let settings = settings();
        let mut elector = elector(&server.url(), &settings);
        assert!(elector.round().await, "the free Lease is taken");
        let renewed = elector.renewed.unwrap();
        server.stop().await;
        let mut failed_rounds = 0;
        while elector.round().await {
            failed_rounds += 1;
            tokio::time::sleep_until(elector.next_round(true).into()).await;
        }
        let stopped = renewed.elapsed();
        assert!(failed_rounds >= 2, "failed renewals are retried: {failed_rounds}");
        assert!(stopped >= settings.renew_deadline(), "stopped early: {stopped:?}");
        assert!(
            stopped < settings.lease_duration,
            "stopped after the Lease expired: {stopped:?}"
        );
    }

    /// The same when the API server accepts the connection and never answers.
    #[tokio::test]
    async fn a_leader_whose_renewal_hangs_stops_at_its_renew_deadline() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let _held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((connection, _)) = silent.accept().await {
                open.push(connection);
            }
        });
        let settings = settings();
        let mut elector = elector(&url, &settings);
        let renewed = Instant::now();
        elector.renewed = Some(renewed);
        assert!(!elector.round().await, "no longer leading");
        let stopped = renewed.elapsed();
        assert!(stopped >= settings.renew_deadline(), "stopped early: {stopped:?}");
        assert!(
            stopped < settings.lease_duration,
            "stopped after the Lease expired: {stopped:?}"
        );
    }
}
