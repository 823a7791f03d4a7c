//! The test API server speaks the API as kube-rs expects it: lists with resource versions, watches
//! that resume, `410 Gone` that makes the watcher list again, label selectors, bookmarks, status.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Config};
use serde_json::json;
use support::{ingress, service};
use switchyard_test_apiserver::ApiServer;

fn client(server: &ApiServer) -> Client {
    Client::try_from(Config::new(server.url().parse().unwrap())).unwrap()
}

fn name<K: kube::Resource>(event: &Event<K>) -> String {
    match event {
        Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => o.meta().name.clone().unwrap(),
        Event::Init => "<init>".into(),
        Event::InitDone => "<done>".into(),
    }
}

async fn next<S: futures_util::Stream<Item = Result<Event<Service>, watcher::Error>> + Unpin>(
    stream: &mut S,
) -> String {
    let event = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("an event (waited 20 s)")
        .unwrap()
        .unwrap();
    let kind = match &event {
        Event::Apply(_) => "apply ",
        Event::Delete(_) => "delete ",
        Event::InitApply(_) => "list ",
        _ => "",
    };
    format!("{kind}{}", name(&event))
}

#[tokio::test]
async fn lists_carry_a_resource_version_and_selectors_filter() {
    let server = ApiServer::start().await;
    let mut web = service("default", "web", &[("http", 80)]);
    web["metadata"]["labels"] = json!({"app": "web"});
    server.apply(web);
    server.apply(service("other", "db", &[("pg", 5432)]));
    let all: Api<Service> = Api::all(client(&server));
    let list = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    assert_eq!(list.metadata.resource_version.as_deref(), Some("2"));
    let selected = all.list(&ListParams::default().labels("app=web")).await.unwrap();
    assert_eq!(selected.items.len(), 1);
    let in_other: Api<Service> = Api::namespaced(client(&server), "other");
    assert_eq!(
        in_other.list(&ListParams::default()).await.unwrap().items[0]
            .metadata
            .name
            .as_deref(),
        Some("db")
    );
    let missing = in_other.get("web").await.unwrap_err();
    assert!(matches!(missing, kube::Error::Api(status) if status.code == 404));
}

#[tokio::test]
async fn a_watcher_follows_changes_resumes_after_an_ended_stream_and_lists_again_after_410() {
    let server = ApiServer::start().await;
    server.apply(service("default", "a", &[("http", 80)]));
    let api: Api<Service> = Api::all(client(&server));
    let mut events = watcher(api, watcher::Config::default()).boxed();
    assert_eq!(next(&mut events).await, "<init>");
    assert_eq!(next(&mut events).await, "list a");
    assert_eq!(next(&mut events).await, "<done>");

    server.apply(service("default", "b", &[("http", 80)]));
    assert_eq!(next(&mut events).await, "apply b");
    server.delete("Service", "default", "a");
    assert_eq!(next(&mut events).await, "delete a");

    // The stream ends; the change made meanwhile is replayed from history when the watch resumes.
    server.drop_watches();
    server.apply(service("default", "c", &[("http", 80)]));
    assert_eq!(next(&mut events).await, "apply c");

    // The stream ends and history is compacted before the watcher resumes (it is not polled
    // meanwhile): it gets 410 Gone in the stream and lists again.
    server.drop_watches();
    server.apply(service("default", "d", &[("http", 80)]));
    server.compact();
    let error = tokio::time::timeout(Duration::from_secs(20), events.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&error, Err(watcher::Error::WatchError(status)) if status.code == 410),
        "{error:?}"
    );
    let mut relisted = Vec::new();
    for _ in 0..5 {
        relisted.push(next(&mut events).await);
    }
    assert_eq!(relisted, ["<init>", "list b", "list c", "list d", "<done>"]);
}

#[tokio::test]
async fn watches_get_bookmarks_and_end_when_asked_to() {
    let server = ApiServer::start().await;
    server.apply(service("default", "a", &[("http", 80)]));
    let api: Api<Service> = Api::all(client(&server));
    let params = kube::api::WatchParams::default().timeout(1);
    let started = std::time::Instant::now();
    let mut stream = api.watch(&params, "0").await.unwrap().boxed();
    let mut kinds = Vec::new();
    server.bookmark();
    while let Some(event) = stream.next().await {
        kinds.push(match event.unwrap() {
            kube::api::WatchEvent::Added(_) => "added",
            kube::api::WatchEvent::Bookmark(_) => "bookmark",
            _ => "other",
        });
    }
    assert_eq!(
        kinds.first(),
        Some(&"added"),
        "resourceVersion=0 starts with the current objects"
    );
    assert!(kinds.contains(&"bookmark"), "{kinds:?}");
    let took = started.elapsed();
    // Not before the second asked for; long before the 30 minutes a watch lasts without it.
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(60),
        "timeoutSeconds ends the stream: {took:?}"
    );
}

#[tokio::test]
async fn a_watch_limit_ends_streams_early() {
    let server = ApiServer::start().await;
    server.limit_watches(Some(Duration::from_millis(300)));
    let api: Api<Service> = Api::all(client(&server));
    let started = std::time::Instant::now();
    let mut stream = api
        .watch(&kube::api::WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    while stream.next().await.is_some() {}
    let took = started.elapsed();
    // Well before timeoutSeconds=290 would end it.
    assert!(
        took < Duration::from_secs(60),
        "the stream ended after {took:?}, not after the 300 ms limit"
    );
}

#[tokio::test]
async fn status_is_written_by_patch_and_by_put_with_conflicts_detected() {
    let server = ApiServer::start().await;
    server.apply(ingress("default", "web", json!({"rules": []})));
    let api: Api<Ingress> = Api::namespaced(client(&server), "default");
    let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}, "spec": {"rules": null}});
    let patched = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let ip = |i: &Ingress| {
        i.status
            .as_ref()
            .unwrap()
            .load_balancer
            .as_ref()
            .unwrap()
            .ingress
            .as_ref()
            .unwrap()[0]
            .ip
            .clone()
    };
    assert_eq!(ip(&patched).as_deref(), Some("192.0.2.1"));
    assert!(
        patched.spec.as_ref().unwrap().rules.is_some(),
        "a status write leaves the spec alone"
    );

    let mut stale = patched.clone();
    stale.metadata.resource_version = Some("1".into());
    let conflict = api
        .replace_status("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(matches!(conflict, kube::Error::Api(status) if status.code == 409));
    let stored = server.get("Ingress", "default", "web").unwrap();
    assert_eq!(stored["status"]["loadBalancer"]["ingress"][0]["ip"], "192.0.2.1");
}

#[tokio::test]
async fn a_restarted_server_keeps_its_port_and_objects() {
    let server = ApiServer::start().await;
    server.apply(service("default", "a", &[("http", 80)]));
    let api: Api<Service> = Api::all(client(&server));
    server.stop().await;
    assert!(
        api.list(&ListParams::default()).await.is_err(),
        "nothing answers while stopped"
    );
    server.resume().await;
    assert_eq!(api.list(&ListParams::default()).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn events_are_created_then_patched_as_kube_runtimes_recorder_writes_a_series() {
    use k8s_openapi::api::core::v1::ObjectReference;
    use kube::runtime::events::{Event as Note, EventType, Recorder, Reporter};

    let server = ApiServer::start().await;
    let stored = server.apply(ingress(
        "default",
        "web",
        json!({"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}),
    ));
    let reporter = Reporter {
        controller: "test".into(),
        instance: None,
    };
    let recorder = Recorder::new(client(&server), reporter);
    let reference = ObjectReference {
        api_version: Some("networking.k8s.io/v1".into()),
        kind: Some("Ingress".into()),
        namespace: Some("default".into()),
        name: Some("web".into()),
        uid: stored["metadata"]["uid"].as_str().map(str::to_owned),
        ..ObjectReference::default()
    };
    let note = Note {
        type_: EventType::Warning,
        reason: "Broken".into(),
        note: Some("the rule is empty".into()),
        action: "Check".into(),
        secondary: None,
    };
    recorder.publish(&note, &reference).await.unwrap();
    assert_eq!(server.list("Event", Some("default")).len(), 1);
    recorder.publish(&note, &reference).await.unwrap();
    let events = server.list("Event", Some("default"));
    assert_eq!(events.len(), 1, "the second one patches the first: {events:#?}");
    assert_eq!(events[0]["series"]["count"], 2);
    assert_eq!(events[0]["reason"], "Broken");
    assert_eq!(events[0]["regarding"]["uid"], stored["metadata"]["uid"]);
    assert!(server.list("Event", Some("other")).is_empty());
}
