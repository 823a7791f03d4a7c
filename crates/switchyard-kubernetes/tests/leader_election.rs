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
const RETRY: Duration = Duration::from_millis(200);

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

fn holder(server: &ApiServer) -> String {
    server
        .get("Lease", "default", "switchyard-status")
        .and_then(|lease| lease["spec"]["holderIdentity"].as_str().map(str::to_owned))
        .unwrap_or_default()
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

    let index: usize = leader.trim_start_matches("replica-").parse().unwrap();
    replicas[index].kill();
    let killed = Instant::now();
    eventually("hand-over", LEASE * 5, || {
        let now = holder(&server);
        !now.is_empty() && now != leader
    })
    .await;
    let handover = killed.elapsed();
    println!("hand-over {handover:?} after the leader died (Lease {LEASE:?}, retry {RETRY:?})");
    // The Lease is valid `LEASE` after the last renewal, which came at most one retry period before the
    // kill; a follower notices at its next round.
    assert!(handover <= LEASE + RETRY * 3, "hand-over took {handover:?}");

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
