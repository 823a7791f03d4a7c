//! Following one resource type (in one namespace) with a kube-rs watcher, into a [`Mirror`].

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use switchyard_config::ProviderSink;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::error::KubernetesError;
use crate::mirror::{Mirror, Slim};

/// Failed watch starts in a row after which the watch is started afresh with a new list: kube's
/// watcher retries the same resource version forever when the API server answers the watch request
/// itself with `410 Gone` or `504`.
const RESTART_AFTER: u32 = 3;
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A mirror shared between its watch task and the translation.
pub(crate) type SharedMirror<K> = Arc<Mutex<Mirror<K>>>;

/// Locks a mirror; a panic elsewhere while holding it leaves the data usable.
pub(crate) fn lock<K>(mirror: &SharedMirror<K>) -> std::sync::MutexGuard<'_, Mirror<K>> {
    mirror.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The namespaces to watch: each of `namespaces`, or all (`None`) when there are none.
pub(crate) fn watched_namespaces(namespaces: &[String]) -> Vec<Option<&str>> {
    if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|ns| Some(ns.as_str())).collect()
    }
}

/// The watches of one provider run: each in its own task, all signalling one [`Notify`] on change.
pub(crate) struct Watches {
    client: Client,
    sink: ProviderSink,
    changed: Arc<Notify>,
    recovered: Arc<std::sync::atomic::AtomicBool>,
    tasks: JoinSet<()>,
}

impl Watches {
    pub(crate) fn new(client: Client, sink: ProviderSink) -> Self {
        Self {
            client,
            sink,
            changed: Arc::new(Notify::new()),
            recovered: Arc::default(),
            tasks: JoinSet::new(),
        }
    }

    /// Signalled whenever the objects of any watch change.
    pub(crate) fn changed(&self) -> Arc<Notify> {
        Arc::clone(&self.changed)
    }

    /// Set (and `changed` signalled) when a watch works again after failures, so that the provider
    /// publishes and its reported problem is cleared even if nothing changed meanwhile.
    pub(crate) fn recovered(&self) -> Arc<std::sync::atomic::AtomicBool> {
        Arc::clone(&self.recovered)
    }

    /// Watches a namespaced resource in one namespace, or in all.
    pub(crate) fn namespaced<K>(&mut self, namespace: Option<&str>, config: watcher::Config) -> SharedMirror<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
        K: Slim + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let plural = K::plural(&());
        match namespace {
            Some(namespace) => {
                let api = Api::namespaced(self.client.clone(), namespace);
                self.start(api, config, format!("{plural} in {namespace}"))
            }
            None => self.start(Api::all(self.client.clone()), config, plural.into_owned()),
        }
    }

    /// Watches a cluster-scoped resource.
    pub(crate) fn cluster<K>(&mut self, config: watcher::Config) -> SharedMirror<K>
    where
        K: Resource<DynamicType = (), Scope = ClusterResourceScope>,
        K: Slim + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let label = K::plural(&()).into_owned();
        self.start(Api::all(self.client.clone()), config, label)
    }

    fn start<K>(&mut self, api: Api<K>, config: watcher::Config, label: String) -> SharedMirror<K>
    where
        K: Slim + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let mirror = SharedMirror::default();
        let watch = Watch {
            api,
            config,
            label,
            mirror: Arc::clone(&mirror),
            recovered: Arc::clone(&self.recovered),
        };
        self.tasks
            .spawn(watch.run(Arc::clone(&self.changed), self.sink.clone()));
        mirror
    }

    /// Runs another task of the provider beside the watches.
    pub(crate) fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Stops every watch and task.
    pub(crate) async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }
}

/// One watch: what it follows and where it keeps it.
struct Watch<K: Resource + Clone> {
    api: Api<K>,
    config: watcher::Config,
    /// For logs and reports: `ingresses in default`.
    label: String,
    mirror: SharedMirror<K>,
    recovered: Arc<std::sync::atomic::AtomicBool>,
}

impl<K> Watch<K>
where
    K: Slim + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Follows the resource until shutdown, signalling `changed` whenever the objects in use change.
    async fn run(self, changed: Arc<Notify>, sink: ProviderSink) {
        // Each round starts with a fresh list: the stream ended, or its starts kept failing.
        while self.follow(&changed, &sink).await {}
    }

    /// Follows one watcher stream: `true` when it ended or must be started afresh, `false` at shutdown.
    async fn follow(&self, changed: &Notify, sink: &ProviderSink) -> bool {
        let stream = watcher(self.api.clone(), self.config.clone());
        let mut stream = std::pin::pin!(stream);
        let mut failures = 0u32;
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = sink.shutdown() => return false,
            };
            match next {
                None => return true,
                Some(Ok(event)) => self.apply(event, &mut failures, changed),
                Some(Err(source)) => {
                    failures += 1;
                    match self.after_failure(source, failures, sink).await {
                        AfterFailure::Retry => {}
                        AfterFailure::Restart => return true,
                        AfterFailure::Stop => return false,
                    }
                }
            }
        }
    }

    /// Applies an event to the mirror, first noting that the watch works again after failures.
    fn apply(&self, event: watcher::Event<K>, failures: &mut u32, changed: &Notify) {
        if *failures > 0 {
            tracing::info!(resource = %self.label, "watch resumed after {failures} failed attempts");
            *failures = 0;
            self.recovered.store(true, std::sync::atomic::Ordering::Relaxed);
            changed.notify_one();
        }
        if lock(&self.mirror).apply(event) {
            changed.notify_one();
        }
    }

    /// Reports the `failures`-th failure in a row, then waits before the next attempt (longer after each
    /// failure), unless the watch must be started afresh.
    async fn after_failure(&self, source: watcher::Error, failures: u32, sink: &ProviderSink) -> AfterFailure {
        if self.report_failure(source, failures, sink) {
            return AfterFailure::Restart;
        }
        let pause = Duration::from_millis(100 << failures.min(5)).min(MAX_BACKOFF);
        tokio::select! {
            () = tokio::time::sleep(pause) => AfterFailure::Retry,
            () = sink.shutdown() => AfterFailure::Stop,
        }
    }

    /// Logs a failure, reporting the first of a run; returns whether starts failed often enough for the
    /// watch to be started afresh (which is reported too).
    fn report_failure(&self, source: watcher::Error, failures: u32, sink: &ProviderSink) -> bool {
        let start_failed = matches!(source, watcher::Error::WatchStartFailed(_));
        let error = KubernetesError::Watch {
            resource: self.label.clone(),
            source,
        };
        tracing::warn!("{error}");
        if failures == 1 {
            sink.report(&error);
        }
        if !(start_failed && failures >= RESTART_AFTER) {
            return false;
        }
        let restarted = KubernetesError::WatchRestarted {
            resource: self.label.clone(),
            failures,
        };
        tracing::warn!("{restarted}");
        sink.report(&restarted);
        true
    }
}

/// What a watch does after a failed attempt.
enum AfterFailure {
    /// Tries again where it was.
    Retry,
    /// Starts afresh with a new list.
    Restart,
    /// Stops: the provider shuts down.
    Stop,
}
