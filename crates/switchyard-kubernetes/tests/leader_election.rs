//! Three replicas share one API server: a Lease elects the one that writes Ingress status, and another
//! takes over when it dies. Each replica runs on its own tokio runtime, so that killing one (dropping its
//! runtime) ends it without any clean-up, as a crashed process would.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::schema::{RBAC, documents};
use support::{ingress, rule, service, within};
use switchyard_config::{
    Aggregator, Duration as ConfigDuration, IngressEndpoint, KubernetesIngressOptions, LeaderElectionOptions,
    RunningAggregator,
};
use switchyard_kubernetes::IngressProvider;
use switchyard_test_apiserver::ApiServer;
use tokio::runtime::Runtime;

const LEASE: Duration = Duration::from_secs(2);
const RETRY: Duration = Duration::from_millis(100);

/// A replica: the Ingress provider with leader election (from the static configuration's options), on a
/// runtime of its own.
struct Replica {
    runtime: Option<Runtime>,
    running: Option<RunningAggregator>,
}

impl Replica {
    fn start(server: &ApiServer, index: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // As `providers.kubernetesIngress` in a static file would say it.
        let options = KubernetesIngressOptions {
            endpoint: server.url(),
            ingress_endpoint: Some(IngressEndpoint {
                ip: "192.0.2.10".into(),
                ..IngressEndpoint::default()
            }),
            allow_empty_services: true,
            leader_election: Some(LeaderElectionOptions {
                namespace: "default".into(),
                lease_name: "switchyard-status".into(),
                identity: format!("replica-{index}"),
                lease_duration: ConfigDuration::from_secs(LEASE.as_secs() as i64),
                retry_period: ConfigDuration::from_millis(RETRY.as_millis() as i64),
            }),
            ..KubernetesIngressOptions::default()
        };
        let provider = IngressProvider::from_static(&options);
        let running = {
            let _inside = runtime.enter();
            Aggregator::new().provider(provider).start().unwrap()
        };
        Self {
            runtime: Some(runtime),
            running: Some(running),
        }
    }

    /// Ends the replica at once: its tasks are dropped where they stand, the Lease is not freed.
    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        std::mem::forget(self.running.take());
    }

    /// Stops the replica cleanly.
    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let runtime = self.runtime.as_ref().unwrap().handle().clone();
            runtime.spawn(running.shutdown()).await.unwrap();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn status(server: &ApiServer, name: &str) -> Value {
    server.get("Ingress", "default", name).unwrap()["status"]["loadBalancer"]["ingress"].clone()
}

fn lease_field(server: &ApiServer, field: &str) -> Value {
    server
        .get("Lease", "default", "switchyard-status")
        .map(|lease| lease["spec"][field].clone())
        .unwrap_or_default()
}

fn holder(server: &ApiServer) -> String {
    lease_field(server, "holderIdentity")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Reads the Lease every millisecond until `check` holds (panics after `limit`); when it did.
async fn watch_lease(what: &str, limit: Duration, check: impl Fn() -> bool) -> Instant {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Instant::now()
}

async fn eventually(what: &str, limit: Duration, check: impl Fn() -> bool) -> Duration {
    within(limit, || {
        let ok = check();
        async move { ok }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not within {limit:?}"))
}

fn app(server: &ApiServer, name: &str) {
    server.apply(ingress(
        "default",
        name,
        json!({"rules": [rule(&format!("{name}.test"), &[("Prefix", "/", "app", "http")])]}),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_replicas_writes_status_and_another_takes_over_when_it_dies() {
    let server = ApiServer::start().await;
    server.apply(service("default", "app", &[("http", 80)]));
    app(&server, "a");
    let mut replicas: Vec<Replica> = (0..3).map(|i| Replica::start(&server, i)).collect();
    let expected = json!([{"ip": "192.0.2.10"}]);

    eventually("status of a", Duration::from_secs(15), || {
        status(&server, "a") == expected
    })
    .await;
    let leader = holder(&server);
    assert!(leader.starts_with("replica-"), "a replica holds the Lease: {leader:?}");
    // Five rounds later, no follower has written it too.
    tokio::time::sleep(RETRY * 5).await;
    assert_eq!(server.writes("Ingress", "default", "a"), 1, "status written once");
    assert_eq!(holder(&server), leader, "the leader keeps the Lease");

    // The leader renews every third of the Lease duration. It is killed half-way between two renewals
    // (where a crash falls on average), so that its Lease expires a sixth of the duration before
    // `LEASE` has passed since its death.
    let index: usize = leader.trim_start_matches("replica-").parse().unwrap();
    let before = lease_field(&server, "renewTime");
    let renewed = watch_lease("a renewal", LEASE, || lease_field(&server, "renewTime") != before).await;
    let last_renewal = lease_field(&server, "renewTime");
    tokio::time::sleep_until((renewed + LEASE / 6).into()).await;
    assert_eq!(holder(&server), leader);
    assert_eq!(
        lease_field(&server, "renewTime"),
        last_renewal,
        "renewed every third of the Lease duration"
    );
    replicas[index].kill();
    let killed = Instant::now();
    let taken = watch_lease("hand-over", LEASE * 5, || {
        let now = holder(&server);
        !now.is_empty() && now != leader
    })
    .await;
    let (since_death, since_renewal) = (taken - killed, taken - renewed);
    println!(
        "hand-over {since_death:?} after the leader died, {since_renewal:?} after its last renewal \
         (Lease {LEASE:?}, retry {RETRY:?})"
    );
    // Never before the Lease expired (two writers), and as soon as it did: within a retry period (the
    // follower saw the last renewal at its next read) and some scheduling slack.
    assert!(
        since_renewal >= LEASE - Duration::from_millis(10),
        "taken over early: {since_renewal:?}"
    );
    assert!(
        since_renewal < LEASE + RETRY + Duration::from_millis(100),
        "taken over late: {since_renewal:?}"
    );
    assert!(
        since_death < LEASE,
        "hand-over took {since_death:?}, not within the Lease duration"
    );
    assert_eq!(lease_field(&server, "leaseTransitions"), json!(1), "one hand-over");

    app(&server, "b");
    eventually("status of b", Duration::from_secs(15), || {
        status(&server, "b") == expected
    })
    .await;
    tokio::time::sleep(RETRY * 5).await;
    assert_eq!(
        server.writes("Ingress", "default", "b"),
        1,
        "the new leader writes b once"
    );
    assert_eq!(server.writes("Ingress", "default", "a"), 1, "a is not written again");

    // deploy/rbac.yaml's leader-election Role grants exactly the Lease verbs the replicas used.
    let mut used: Vec<&str> = server
        .accesses()
        .iter()
        .filter(|a| a.resource == "leases")
        .map(|a| a.verb)
        .collect();
    used.sort_unstable();
    let docs = documents(RBAC);
    let role = docs
        .iter()
        .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "switchyard-leader-election")
        .unwrap();
    let mut granted: Vec<&str> = role["rules"][0]["verbs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    granted.sort_unstable();
    assert_eq!(used, granted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_stops_cleanly_frees_the_lease_at_once() {
    let server = ApiServer::start().await;
    server.apply(service("default", "app", &[("http", 80)]));
    app(&server, "a");
    let mut replicas: Vec<Replica> = (0..2).map(|i| Replica::start(&server, i)).collect();
    eventually("a leader", Duration::from_secs(15), || !holder(&server).is_empty()).await;
    let leader = holder(&server);
    let index: usize = leader.trim_start_matches("replica-").parse().unwrap();
    let stopped = Instant::now();
    replicas[index].stop().await;
    eventually("hand-over", LEASE, || {
        let now = holder(&server);
        !now.is_empty() && now != leader
    })
    .await;
    let handover = stopped.elapsed();
    println!("hand-over {handover:?} after the leader stopped");
    assert!(handover < LEASE, "freed, not expired: {handover:?}");
}
