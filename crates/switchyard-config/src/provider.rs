//! The discovery side: a [`Provider`] emits complete snapshots of its part of the dynamic configuration.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::DynamicConfig;
use crate::error::LoadError;

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

/// A provider's handle to the aggregator: publish snapshots, report problems, learn of shutdown.
#[derive(Debug, Clone)]
pub struct ProviderSink {
    name: Arc<str>,
    events: mpsc::UnboundedSender<(Arc<str>, ProviderEvent)>,
    shutdown: CancellationToken,
}

impl ProviderSink {
    pub(crate) fn new(
        name: Arc<str>,
        events: mpsc::UnboundedSender<(Arc<str>, ProviderEvent)>,
        shutdown: CancellationToken,
    ) -> Self {
        Self { name, events, shutdown }
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
