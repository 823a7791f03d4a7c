//! The discovery side: a [`Provider`] emits complete snapshots of its part of the dynamic configuration.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::DynamicConfig;
use crate::error::LoadError;
use crate::report::ConfigError;

/// A named source of dynamic configuration: a directory of files, a Kubernetes cluster, or your own
/// service registry.
///
/// [`run`](Provider::run) is started once by the [`Aggregator`](crate::Aggregator) and should run until
/// [`ProviderSink::shutdown`] completes. Each time its source changes it publishes a *complete* snapshot of
/// its configuration (never a delta) with [`ProviderSink::publish`]. Problems it can recover from (a file
/// that does not parse, an unreachable API server) are reported with [`ProviderSink::report`]; its last
/// published snapshot then stays live. Returning an error ends the provider, and its last snapshot still
/// stays live.
///
/// Names in a provider's snapshot are local: the aggregator qualifies them as `name@provider`, and
/// unqualified references resolve within the same provider.
///
/// ```
/// use std::time::Duration;
/// use switchyard_config::{DynamicConfig, LoadBalancer, Provider, ProviderError, ProviderSink, Router, Service};
///
/// /// Polls a service registry (here: a counter) and publishes one router per poll.
/// struct Registry {
///     interval: Duration,
/// }
///
/// impl Provider for Registry {
///     fn name(&self) -> &str {
///         "registry"
///     }
///
///     async fn run(self, sink: ProviderSink) -> Result<(), ProviderError> {
///         let mut ticks = tokio::time::interval(self.interval);
///         for generation in 0u32.. {
///             tokio::select! {
///                 _ = ticks.tick() => {}
///                 () = sink.shutdown() => return Ok(()),
///             }
///             let mut config = DynamicConfig::default();
///             config.http.routers.insert("app".into(), Router::new("PathPrefix(`/`)", "app"));
///             let backend = format!("http://10.0.0.{}:8080", generation % 250 + 1);
///             config.http.services.insert("app".into(), Service::from(LoadBalancer::with_urls([backend])));
///             sink.publish(config);
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Provider: Send + 'static {
    /// The provider's name, used as the `@provider` suffix of every name it publishes. It must be
    /// non-empty and must not contain `@`.
    fn name(&self) -> &str;

    /// Watches the source and publishes snapshots until `sink.shutdown()` completes.
    fn run(self, sink: ProviderSink) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// A provider's complete configuration at one moment, with where each element came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderConfig {
    /// The configuration, with the provider's local names.
    pub config: DynamicConfig,
    /// Where elements were defined, by key path (`http.routers.api` → `conf.d/api.yml`), so that errors
    /// found later can name the file.
    pub origins: BTreeMap<String, String>,
}

impl From<DynamicConfig> for ProviderConfig {
    fn from(config: DynamicConfig) -> Self {
        Self {
            config,
            origins: BTreeMap::new(),
        }
    }
}

/// An error a provider reports or ends with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// A configuration file could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The provider is set up wrongly (no file or directory given, an invalid selector, ...).
    #[error("invalid provider settings: {0}")]
    Settings(String),
    /// Any other failure, from the provider's own source.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl ProviderError {
    /// Wraps any error from the provider's source.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Other(error.into())
    }
}

/// What a provider tells the aggregator.
#[derive(Debug)]
pub(crate) enum ProviderEvent {
    /// A snapshot, with the warnings about it (taken in the same step, so that no configuration is
    /// ever published without them).
    Published(Arc<ProviderConfig>, Vec<String>),
    Problem(Problem),
    Warning(String),
    Ended(Option<Problem>),
}

/// A reported problem, kept as text so it can be shown and cloned.
pub(crate) type Problem = String;

/// What the report of a compiled configuration says about one provider's elements: the way back from
/// the compiled configuration to the provider that defined it (a Kubernetes provider turns it into
/// Events on its objects).
///
/// A provider gets them from [`ProviderSink::reports`]; whoever compiles the aggregator's
/// configurations (the proxy's gateway) hands each report to [`ReportFeedback::deliver`](crate::ReportFeedback::deliver).
///
/// ```
/// use switchyard_config::ProviderReport;
///
/// let report = ProviderReport::default();
/// assert!(report.errors.is_empty());
/// assert_eq!((report.generation, report.snapshots), (0, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderReport {
    /// The aggregator generation the report was compiled from ([`Published::generation`](crate::Published::generation)).
    pub generation: u64,
    /// How many snapshots the provider had published when that configuration was merged
    /// ([`ProviderStatus::snapshots`](crate::ProviderStatus::snapshots)): compare it with
    /// [`ProviderSink::snapshots_published`] to tell whether the report covers the latest one.
    pub snapshots: u64,
    /// Every error and warning about an element the provider defined (routers, services and
    /// middlewares of every section, in the report's order), then the general ones naming it. Each
    /// carries the element's origin, as the provider gave it in [`ProviderConfig::origins`].
    pub errors: Vec<ConfigError>,
}

/// A provider's handle to the aggregator: publish snapshots, report problems, learn of shutdown.
#[derive(Debug, Clone)]
pub struct ProviderSink {
    name: Arc<str>,
    events: mpsc::UnboundedSender<(Arc<str>, ProviderEvent)>,
    shutdown: CancellationToken,
    reports: Arc<watch::Sender<Arc<ProviderReport>>>,
    published: Arc<AtomicU64>,
}

impl ProviderSink {
    pub(crate) fn new(
        name: Arc<str>,
        events: mpsc::UnboundedSender<(Arc<str>, ProviderEvent)>,
        shutdown: CancellationToken,
        reports: Arc<watch::Sender<Arc<ProviderReport>>>,
    ) -> Self {
        Self {
            name,
            events,
            shutdown,
            reports,
            published: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A receiver of what the report of each compiled configuration says about this provider's
    /// elements, the latest one always available (an empty [`ProviderReport`] until the first). Reports
    /// are only worked out for providers holding a receiver, so a provider that never asks costs
    /// nothing; they are delivered by whoever compiles the configuration (the gateway does), and never
    /// without one.
    ///
    /// ```
    /// # async fn run(sink: switchyard_config::ProviderSink) {
    /// let mut reports = sink.reports();
    /// while reports.changed().await.is_ok() {
    ///     let report = reports.borrow_and_update().clone();
    ///     if report.snapshots < sink.snapshots_published() {
    ///         continue; // about an older snapshot of ours: the next report covers the latest
    ///     }
    ///     for error in &report.errors {
    ///         eprintln!("{error}");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn reports(&self) -> watch::Receiver<Arc<ProviderReport>> {
        self.reports.subscribe()
    }

    /// How many snapshots this provider has published through its sinks (the count
    /// [`ProviderReport::snapshots`] is compared with).
    ///
    /// ```
    /// # fn check(sink: switchyard_config::ProviderSink) {
    /// let before = sink.snapshots_published();
    /// sink.publish(switchyard_config::DynamicConfig::default());
    /// assert_eq!(sink.snapshots_published(), before + 1);
    /// # }
    /// ```
    pub fn snapshots_published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Publishes a complete snapshot, replacing the provider's previous one.
    pub fn publish(&self, snapshot: impl Into<ProviderConfig>) {
        self.publish_with_warnings(snapshot, Vec::new());
    }

    /// Publishes a snapshot together with the warnings about it: the aggregator takes both in one
    /// step, where [`publish`](Self::publish) then [`warn`](Self::warn) may let a configuration go
    /// live before its warnings arrive.
    ///
    /// ```
    /// # async fn run(sink: switchyard_config::ProviderSink) {
    /// let snapshot = switchyard_config::DynamicConfig::default();
    /// sink.publish_with_warnings(snapshot, vec!["providers.mine.qps is not supported".into()]);
    /// # }
    /// ```
    pub fn publish_with_warnings(&self, snapshot: impl Into<ProviderConfig>, warnings: Vec<String>) {
        self.send(ProviderEvent::Published(Arc::new(snapshot.into()), warnings));
    }

    /// Reports a problem the provider recovers from; its last published snapshot stays live.
    pub fn report(&self, error: &dyn std::error::Error) {
        self.send(ProviderEvent::Problem(error.to_string()));
    }

    /// Reports something worth a warning about the snapshot published last (an unknown key, a skipped
    /// duplicate). Warnings show in [`ProviderStatus::warnings`](crate::ProviderStatus::warnings) until
    /// the next snapshot, so send them *after* publishing the snapshot they are about.
    pub fn warn(&self, message: impl Into<String>) {
        self.send(ProviderEvent::Warning(message.into()));
    }

    /// Completes when the aggregator shuts down; the provider should then return.
    pub async fn shutdown(&self) {
        self.shutdown.cancelled().await;
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    pub(crate) fn end(&self, result: Result<(), ProviderError>) {
        self.send(ProviderEvent::Ended(result.err().map(|err| err.to_string())));
    }

    fn send(&self, event: ProviderEvent) {
        if matches!(event, ProviderEvent::Published(..)) {
            self.published.fetch_add(1, Ordering::AcqRel);
        }
        // The aggregator is gone only after shutdown; nothing is left to tell then.
        let _ = self.events.send((Arc::clone(&self.name), event));
    }
}

/// A provider whose configuration is set from code: the quickest way to run a fixed configuration, to
/// change it from a program, or to test.
///
/// ```
/// use switchyard_config::{DynamicConfig, MemoryProvider, Router};
///
/// let (provider, handle) = MemoryProvider::new("internal", DynamicConfig::default());
/// let mut config = DynamicConfig::default();
/// config.http.routers.insert("ping".into(), Router::new("Path(`/ping`)", "ping@internal"));
/// handle.set(config); // published to the aggregator the provider was added to
/// # drop(provider);
/// ```
#[derive(Debug)]
pub struct MemoryProvider {
    name: String,
    config: tokio::sync::watch::Receiver<Arc<ProviderConfig>>,
}

/// Changes the configuration of a [`MemoryProvider`].
#[derive(Debug, Clone)]
pub struct MemoryHandle {
    config: Arc<tokio::sync::watch::Sender<Arc<ProviderConfig>>>,
}

impl MemoryProvider {
    /// A provider named `name` that starts with `config`, and the handle that changes it.
    pub fn new(name: impl Into<String>, config: impl Into<ProviderConfig>) -> (Self, MemoryHandle) {
        let (tx, rx) = tokio::sync::watch::channel(Arc::new(config.into()));
        (
            Self {
                name: name.into(),
                config: rx,
            },
            MemoryHandle { config: Arc::new(tx) },
        )
    }
}

impl MemoryHandle {
    /// Replaces the provider's configuration.
    pub fn set(&self, config: impl Into<ProviderConfig>) {
        self.config.send_replace(Arc::new(config.into()));
    }

    /// Changes the provider's configuration in place.
    pub fn update(&self, change: impl FnOnce(&mut DynamicConfig)) {
        self.config
            .send_modify(|snapshot| change(&mut Arc::make_mut(snapshot).config));
    }
}

impl Provider for MemoryProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(mut self, sink: ProviderSink) -> Result<(), ProviderError> {
        loop {
            let snapshot = Arc::clone(&self.config.borrow_and_update());
            sink.send(ProviderEvent::Published(snapshot, Vec::new()));
            tokio::select! {
                changed = self.config.changed() => {
                    if changed.is_err() {
                        // Every handle is gone: the configuration can no longer change.
                        sink.shutdown().await;
                        return Ok(());
                    }
                }
                () = sink.shutdown() => return Ok(()),
            }
        }
    }
}
