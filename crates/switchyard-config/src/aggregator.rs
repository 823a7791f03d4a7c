//! The aggregator: runs the providers, keeps each one's latest snapshot, merges, validates, throttles and
//! publishes.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::provider::{Provider, ProviderConfig, ProviderEvent, ProviderSink};
use crate::validate::{RuntimeConfig, ValidationOptions};

/// How many warnings a provider's status keeps.
pub const MAX_WARNINGS: usize = 100;

/// Traefik's default `providers.providersThrottleDuration`.
pub const DEFAULT_THROTTLE: Duration = Duration::from_secs(2);

type ProviderTask = Box<dyn FnOnce(ProviderSink) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Why the aggregator could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AggregatorError {
    /// Two providers have the same name.
    #[error("two providers are named `{0}`")]
    DuplicateProvider(String),
    /// A provider name is empty or contains `@`.
    #[error("invalid provider name `{0}`: it must be non-empty and must not contain `@`")]
    InvalidProviderName(String),
}

/// What one provider has done lately.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderStatus {
    /// Whether it has published a snapshot yet.
    pub published: bool,
    /// Its last reported problem, cleared by its next snapshot.
    pub last_error: Option<String>,
    /// Warnings about its current snapshot (unknown keys, skipped duplicates), oldest first, without
    /// repeats and at most [`MAX_WARNINGS`]; cleared by its next snapshot.
    pub warnings: Vec<String>,
    /// Whether its task has ended.
    pub ended: bool,
}

/// A published configuration: the checked configuration and the state of every provider.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The checked, merged configuration.
    pub runtime: RuntimeConfig,
    /// Each provider's status, by name.
    pub providers: BTreeMap<String, ProviderStatus>,
    /// Increases with every publication, starting at 0 for the empty configuration before any provider
    /// published.
    pub generation: u64,
}

impl Published {
    /// What is published before any provider has: the empty configuration, and the providers' statuses.
    fn initial(providers: BTreeMap<String, ProviderStatus>) -> Self {
        Self {
            providers,
            ..Self::default()
        }
    }
}

/// Runs providers and publishes their merged configuration.
///
/// Each provider's latest snapshot is kept; a provider that reports an error or ends keeps its last good
/// snapshot. Bursts are throttled: a change is published at once, then at most once per throttle period
/// (the latest state wins).
///
/// ```
/// use std::time::Duration;
/// use switchyard_config::{Aggregator, DynamicConfig, LoadBalancer, MemoryProvider, Router, Service};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut config = DynamicConfig::default();
/// config.http.routers.insert("api".into(), Router::new("PathPrefix(`/api`)", "api"));
/// config.http.services.insert("api".into(), Service::from(LoadBalancer::with_urls(["http://127.0.0.1:9000"])));
/// let (provider, handle) = MemoryProvider::new("memory", config);
///
/// let running = Aggregator::new().throttle(Duration::from_millis(10)).provider(provider).start().unwrap();
/// let mut updates = running.subscribe();
/// let published = updates.wait_for(|p| p.generation > 0).await.unwrap().clone();
/// assert!(published.runtime.rules.contains_key("api@memory"));
///
/// handle.update(|c| { c.http.routers.remove("api"); });
/// updates.wait_for(|p| p.runtime.rules.is_empty()).await.unwrap();
/// running.shutdown().await;
/// # }
/// ```
pub struct Aggregator {
    throttle: Duration,
    validation: ValidationOptions,
    default_entry_points: Vec<String>,
    providers: Vec<(Arc<str>, ProviderTask)>,
    error: Option<AggregatorError>,
}

impl std::fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregator")
            .field("throttle", &self.throttle)
            .field("validation", &self.validation)
            .field("providers", &self.providers.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for Aggregator {
    fn default() -> Self {
        Self::new()
    }
}

impl Aggregator {
    /// An aggregator without providers, throttling at Traefik's default of two seconds.
    pub fn new() -> Self {
        Self {
            throttle: DEFAULT_THROTTLE,
            validation: ValidationOptions::default(),
            default_entry_points: Vec::new(),
            providers: Vec::new(),
            error: None,
        }
    }

    /// An aggregator set up from a static configuration: its throttle, its entrypoints (as Traefik
    /// makes them effective) and the entrypoints of routers that name none.
    ///
    /// ```
    /// use switchyard_config::{Aggregator, Format, StaticConfig, load_str};
    ///
    /// let yaml = "entryPoints:\n  web: {address: ':80'}\n  websecure: {address: ':443', asDefault: true}\n";
    /// let config = load_str::<StaticConfig>(yaml, Format::Yaml, "static.yml").unwrap().value;
    /// let aggregator = Aggregator::for_static(&config);
    /// ```
    pub fn for_static(config: &crate::StaticConfig) -> Self {
        let throttle = config
            .providers
            .providers_throttle_duration
            .to_std()
            .unwrap_or_default();
        Self::new().throttle(throttle).entry_points(
            config.effective_entry_points().into_keys(),
            config.default_entry_points(),
        )
    }

    /// Sets the throttle period (`providers.providersThrottleDuration`).
    pub fn throttle(mut self, period: Duration) -> Self {
        self.throttle = period;
        self
    }

    /// Declares the entrypoints that exist, and those a router without `entryPoints` is attached to
    /// (Traefik: those with `asDefault`, or all of them when none has it).
    pub fn entry_points(mut self, all: impl IntoIterator<Item = String>, defaults: Vec<String>) -> Self {
        self.validation.entry_points = Some(all.into_iter().collect::<BTreeSet<_>>());
        self.default_entry_points = defaults;
        self
    }

    /// Declares services that exist outside any provider's configuration (`api@internal`), so that
    /// routers naming them are not reported as broken.
    pub fn internal_services(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.validation.internal_services.extend(names);
        self
    }

    /// Adds a provider.
    pub fn provider<P: Provider>(mut self, provider: P) -> Self {
        let name: Arc<str> = Arc::from(provider.name());
        if name.is_empty() || name.contains('@') {
            self.error
                .get_or_insert(AggregatorError::InvalidProviderName(name.to_string()));
        } else if self.providers.iter().any(|(n, _)| *n == name) {
            self.error
                .get_or_insert(AggregatorError::DuplicateProvider(name.to_string()));
        }
        let task: ProviderTask = Box::new(move |sink: ProviderSink| {
            Box::pin(async move {
                let result = provider.run(sink.clone()).await;
                sink.end(result);
            })
        });
        self.providers.push((name, task));
        self
    }

    /// Starts every provider and the aggregation loop on the current tokio runtime.
    pub fn start(self) -> Result<RunningAggregator, AggregatorError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let shutdown = CancellationToken::new();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (statuses, tasks) = spawn_providers(self.providers, events_tx, &shutdown.child_token());
        let (published_tx, published_rx) = watch::channel(Arc::new(Published::initial(statuses.clone())));
        let state = LoopState {
            throttle: self.throttle,
            validation: self.validation,
            default_entry_points: self.default_entry_points,
            snapshots: BTreeMap::new(),
            statuses,
            generation: 0,
        };
        let main = tokio::spawn(state.run(events_rx, published_tx, shutdown.clone()));
        Ok(RunningAggregator {
            updates: published_rx,
            shutdown,
            main,
            providers: tasks,
        })
    }
}

/// Spawns every provider with a sink sending to `events`; returns their first statuses and their tasks.
fn spawn_providers(
    providers: Vec<(Arc<str>, ProviderTask)>,
    events: mpsc::UnboundedSender<(Arc<str>, ProviderEvent)>,
    shutdown: &CancellationToken,
) -> (BTreeMap<String, ProviderStatus>, Vec<JoinHandle<()>>) {
    let mut statuses = BTreeMap::new();
    let mut tasks = Vec::new();
    for (name, task) in providers {
        statuses.insert(name.to_string(), ProviderStatus::default());
        let sink = ProviderSink::new(Arc::clone(&name), events.clone(), shutdown.clone());
        tasks.push(tokio::spawn(task(sink)));
    }
    (statuses, tasks)
}

/// A started aggregator: subscribe to its configurations, and shut it down.
#[derive(Debug)]
pub struct RunningAggregator {
    updates: watch::Receiver<Arc<Published>>,
    shutdown: CancellationToken,
    main: JoinHandle<()>,
    providers: Vec<JoinHandle<()>>,
}

impl RunningAggregator {
    /// A receiver of every published configuration (the latest one is always available).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Published>> {
        self.updates.clone()
    }

    /// The configuration published last.
    pub fn current(&self) -> Arc<Published> {
        Arc::clone(&self.updates.borrow())
    }

    /// Tells every provider to stop and waits for them and the aggregation loop to end.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.providers {
            let _ = task.await;
        }
        let _ = self.main.await;
    }
}

struct LoopState {
    throttle: Duration,
    validation: ValidationOptions,
    default_entry_points: Vec<String>,
    snapshots: BTreeMap<Arc<str>, Arc<ProviderConfig>>,
    statuses: BTreeMap<String, ProviderStatus>,
    generation: u64,
}

impl LoopState {
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<(Arc<str>, ProviderEvent)>,
        published: watch::Sender<Arc<Published>>,
        shutdown: CancellationToken,
    ) {
        let mut dirty = false;
        let mut next_allowed = Instant::now();
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some((name, event)) => dirty |= self.apply(name, event),
                    None => return self.after_providers(dirty, next_allowed, &published, &shutdown).await,
                },
                () = publication_due(dirty, next_allowed) => {
                    self.publish(&published);
                    dirty = false;
                    next_allowed = Instant::now() + self.throttle;
                }
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Every provider has ended: publishes what is pending, then waits for shutdown.
    async fn after_providers(
        &mut self,
        dirty: bool,
        next_allowed: Instant,
        published: &watch::Sender<Arc<Published>>,
        shutdown: &CancellationToken,
    ) {
        if dirty {
            tokio::time::sleep_until(next_allowed).await;
            self.publish(published);
        }
        shutdown.cancelled().await;
    }

    /// Records an event; returns whether the configuration must be published again.
    fn apply(&mut self, name: Arc<str>, event: ProviderEvent) -> bool {
        let status = self.statuses.entry(name.to_string()).or_default();
        match event {
            ProviderEvent::Published(snapshot, warnings) => {
                status.published = true;
                status.last_error = None;
                status.warnings.clear();
                let mut changed = self.snapshots.get(&name) != Some(&snapshot);
                for warning in warnings {
                    changed |= add_warning(status, &name, warning);
                }
                self.snapshots.insert(name, snapshot);
                changed || self.generation == 0
            }
            ProviderEvent::Problem(problem) => {
                tracing::error!(target: "switchyard::config", provider = %name, "{problem}; its last good configuration stays live");
                status.last_error = Some(problem);
                true
            }
            ProviderEvent::Warning(warning) => add_warning(status, &name, warning),
            ProviderEvent::Ended(problem) => record_end(status, &name, problem),
        }
    }

    fn publish(&mut self, published: &watch::Sender<Arc<Published>>) {
        self.generation += 1;
        let runtime = RuntimeConfig::resolve(&self.snapshots, &self.default_entry_points, &self.validation);
        published.send_replace(Arc::new(Published {
            runtime,
            providers: self.statuses.clone(),
            generation: self.generation,
        }));
    }
}

/// Ends when a pending change may be published (throttled to `next_allowed`); never when nothing is
/// pending.
async fn publication_due(dirty: bool, next_allowed: Instant) {
    if dirty {
        tokio::time::sleep_until(next_allowed).await;
    } else {
        std::future::pending::<()>().await;
    }
}

/// Marks a provider ended, with the problem it ended on; always worth publishing.
fn record_end(status: &mut ProviderStatus, name: &str, problem: Option<String>) -> bool {
    status.ended = true;
    if let Some(problem) = problem {
        tracing::error!(target: "switchyard::config", provider = %name, "provider ended: {problem}; its last good configuration stays live");
        status.last_error = Some(problem);
    }
    true
}

/// Adds a provider's warning to its status, unless it repeats one or the status holds
/// [`MAX_WARNINGS`] already; returns whether it did.
fn add_warning(status: &mut ProviderStatus, name: &str, warning: String) -> bool {
    if status.warnings.contains(&warning) || status.warnings.len() >= MAX_WARNINGS {
        return false;
    }
    tracing::warn!(target: "switchyard::config", provider = %name, "{warning}");
    status.warnings.push(warning);
    true
}
