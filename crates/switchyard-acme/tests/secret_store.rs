//! The Secret store against a Kubernetes API server on loopback: what one replica saves the other
//! reads, and the lease lets one replica hold the lock at a time.
#![cfg(feature = "kubernetes")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::Duration;

use switchyard_acme::{ResolverData, SECRET_DATA_KEY, SecretStore, Storage, StoredData};
use switchyard_test_apiserver::ApiServer;

fn client(server: &ApiServer) -> kube::Client {
    kube::Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_secret_and_one_lock() {
    let server = ApiServer::start().await;
    let one = SecretStore::new(client(&server), "edge", "acme");
    let two = SecretStore::new(client(&server), "edge", "acme");
    tokio::task::spawn_blocking(move || {
        assert!(one.load().unwrap().is_empty(), "no Secret yet");
        let lock = one.try_lock().unwrap().expect("free");
        assert!(two.try_lock().unwrap().is_none(), "held by the other replica");
        assert!(
            one.try_lock().unwrap().is_none(),
            "not re-entrant: held by this replica already"
        );
        let mut data = StoredData::new();
        data.insert("le".into(), ResolverData::default());
        one.save(&data).unwrap();
        assert_eq!(two.load().unwrap(), data);
        drop(lock);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let lock = loop {
            if let Some(lock) = two.try_lock().unwrap() {
                break lock;
            }
            assert!(std::time::Instant::now() < deadline, "the lock is released");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(one.try_lock().unwrap().is_none());
        drop(lock);
    })
    .await
    .unwrap();
    let secret = server.get("Secret", "edge", "acme").unwrap();
    assert!(secret["data"][SECRET_DATA_KEY].is_string(), "{secret}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over() {
    let server = ApiServer::start().await;
    let crashed = SecretStore::new(client(&server), "edge", "acme").lease(Duration::from_secs(1));
    let other = SecretStore::new(client(&server), "edge", "acme");
    tokio::task::spawn_blocking(move || {
        let lock = crashed.try_lock().unwrap().unwrap();
        std::mem::forget(lock);
        assert!(other.try_lock().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(2100));
        assert!(other.try_lock().unwrap().is_some(), "the lease ended");
    })
    .await
    .unwrap();
}
