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

use crate::provider::{Provider, ProviderConfig, ProviderEvent, ProviderReport, ProviderSink};
use crate::report::{ConfigError, ElementReport, Report};
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
    /// How many snapshots it has published so far (what [`ProviderReport::snapshots`] carries).
    pub snapshots: u64,
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
        let (statuses, tasks, feedback) = spawn_providers(self.providers, events_tx, &shutdown.child_token());
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
            feedback,
            shutdown,
            main,
            providers: tasks,
        })
    }
}

/// Spawns every provider with a sink sending to `events`; returns their first statuses, their tasks
/// and the way back of the reports to them.
fn spawn_providers(
    providers: Vec<(Arc<str>, ProviderTask)>,
    events: mpsc::UnboundedSender<(Arc<str>, ProviderEvent)>,
    shutdown: &CancellationToken,
) -> (BTreeMap<String, ProviderStatus>, Vec<JoinHandle<()>>, ReportFeedback) {
    let mut statuses = BTreeMap::new();
    let mut tasks = Vec::new();
    let mut channels = Vec::new();
    for (name, task) in providers {
        statuses.insert(name.to_string(), ProviderStatus::default());
        let (reports, _) = watch::channel(Arc::new(ProviderReport::default()));
        let reports = Arc::new(reports);
        channels.push((Arc::clone(&name), Arc::clone(&reports)));
        let sink = ProviderSink::new(Arc::clone(&name), events.clone(), shutdown.clone(), reports);
        tasks.push(tokio::spawn(task(sink)));
    }
    let feedback = ReportFeedback {
        providers: channels.into(),
    };
    (statuses, tasks, feedback)
}

/// Hands what the report of each compiled configuration says about a provider's elements back to that
/// provider ([`ProviderSink::reports`]). Whoever compiles the aggregator's configurations calls
/// [`deliver`](Self::deliver) after each one goes live; the gateway of `switchyard-proxy` does.
///
/// Delivering never blocks (each provider's receiver keeps only the latest report) and costs nothing
/// for providers that hold no receiver: their part of the report is not even worked out.
///
/// ```
/// use switchyard_config::{
///     Aggregator, ConfigError, DynamicConfig, ElementReport, MemoryProvider, Problem, Report, Router, Status,
/// };
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (provider, _handle) = MemoryProvider::new("memory", DynamicConfig::default());
/// let running = Aggregator::new().provider(provider).start().unwrap();
/// let feedback = running.report_feedback();
/// assert!(!feedback.is_listened()); // MemoryProvider never asks for its reports
///
/// // What a compiler found, delivered after the configuration went live:
/// let mut report = Report::default();
/// let error = ConfigError {
///     provider: "memory".into(),
///     origin: None,
///     key_path: "http.routers.api@memory.rule".into(),
///     problem: Problem::EmptyRule,
/// };
/// report.routers.insert(
///     "api@memory".into(),
///     ElementReport { provider: "memory".into(), origin: None, status: Status::Disabled, errors: vec![error] },
/// );
/// feedback.deliver(&running.current(), &report); // nobody listens: nothing is worked out
/// running.shutdown().await;
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReportFeedback {
    providers: Arc<[(Arc<str>, ReportSender)]>,
}

/// Where one provider's reports go.
type ReportSender = Arc<watch::Sender<Arc<ProviderReport>>>;

impl ReportFeedback {
    /// Whether any provider holds a receiver of its reports: when none does, there is nothing to
    /// deliver.
    pub fn is_listened(&self) -> bool {
        self.providers.iter().any(|(_, sender)| sender.receiver_count() > 0)
    }

    /// Sends each listening provider the errors of `report` about its elements (and the general ones
    /// naming it), with the generation and the provider's snapshot count of `published`, the
    /// configuration `report` was compiled from.
    pub fn deliver(&self, published: &Published, report: &Report) {
        for (name, sender) in self.providers.iter() {
            if sender.receiver_count() == 0 {
                continue;
            }
            let snapshots = published.providers.get(&**name).map_or(0, |status| status.snapshots);
            let errors = provider_errors(report, name);
            sender.send_replace(Arc::new(ProviderReport {
                generation: published.generation,
                snapshots,
                errors,
            }));
        }
    }
}

/// The errors of `report` about elements of provider `name`, then the general ones naming it.
fn provider_errors(report: &Report, name: &str) -> Vec<ConfigError> {
    let sections = [
        &report.routers,
        &report.services,
        &report.middlewares,
        &report.tcp.routers,
        &report.tcp.services,
        &report.tcp.middlewares,
        &report.udp.routers,
        &report.udp.services,
    ];
    let ours = |element: &&ElementReport| element.provider == name;
    sections
        .into_iter()
        .flat_map(|section| section.values().filter(ours))
        .flat_map(|element| element.errors.iter().cloned())
        .chain(
            report
                .general
                .iter()
                .filter(|error| error.provider.split(',').any(|p| p.trim() == name))
                .cloned(),
        )
        .collect()
}

/// A started aggregator: subscribe to its configurations, and shut it down.
#[derive(Debug)]
pub struct RunningAggregator {
    updates: watch::Receiver<Arc<Published>>,
    feedback: ReportFeedback,
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

    /// The way back from compiled reports to the providers ([`ProviderSink::reports`]).
    pub fn report_feedback(&self) -> ReportFeedback {
        self.feedback.clone()
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
                status.snapshots += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Problem, Status};

    fn element(provider: &str, key_path: &str) -> ElementReport {
        ElementReport {
            provider: provider.into(),
            origin: Some(format!("origin of {key_path}")),
            status: Status::Disabled,
            errors: vec![ConfigError {
                provider: provider.into(),
                origin: Some(format!("origin of {key_path}")),
                key_path: key_path.into(),
                problem: Problem::EmptyRule,
            }],
        }
    }

    #[test]
    fn each_listening_provider_gets_its_own_errors_and_the_general_ones_naming_it() {
        let channel = || Arc::new(watch::channel(Arc::new(ProviderReport::default())).0);
        let (a, b) = (channel(), channel());
        let feedback = ReportFeedback {
            providers: vec![(Arc::from("a"), Arc::clone(&a)), (Arc::from("b"), Arc::clone(&b))].into(),
        };
        assert!(!feedback.is_listened());
        let mut reports = a.subscribe();
        assert!(feedback.is_listened());

        let mut report = Report::default();
        report
            .routers
            .insert("x@a".into(), element("a", "http.routers.x@a.rule"));
        report
            .routers
            .insert("y@b".into(), element("b", "http.routers.y@b.rule"));
        report
            .tcp
            .services
            .insert("s@a".into(), element("a", "tcp.services.s@a"));
        report.general.push(ConfigError {
            provider: "a,b".into(),
            origin: None,
            key_path: "http.routers.z".into(),
            problem: Problem::Conflict("defined twice".into()),
        });
        report.general.push(ConfigError {
            provider: "b".into(),
            origin: None,
            key_path: "http.routers.w".into(),
            problem: Problem::Conflict("defined twice".into()),
        });
        let mut published = Published {
            generation: 7,
            ..Published::default()
        };
        published.providers.insert(
            "a".into(),
            ProviderStatus {
                snapshots: 3,
                ..ProviderStatus::default()
            },
        );
        feedback.deliver(&published, &report);

        assert!(reports.has_changed().unwrap());
        let delivered = reports.borrow_and_update().clone();
        assert_eq!((delivered.generation, delivered.snapshots), (7, 3));
        let paths: Vec<&str> = delivered.errors.iter().map(|e| e.key_path.as_str()).collect();
        assert_eq!(paths, ["http.routers.x@a.rule", "tcp.services.s@a", "http.routers.z"]);
        // Nobody listens to b: its part was not worked out.
        assert_eq!(**b.borrow(), ProviderReport::default());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_aggregator_counts_every_snapshot_a_provider_publishes() {
        let (provider, handle) = crate::MemoryProvider::new("memory", crate::DynamicConfig::default());
        let running = Aggregator::new()
            .throttle(Duration::ZERO)
            .provider(provider)
            .start()
            .unwrap();
        let mut updates = running.subscribe();
        updates
            .wait_for(|p| p.providers["memory"].snapshots == 1)
            .await
            .unwrap();
        handle.update(|c| {
            c.http.routers.insert("r".into(), crate::Router::new("Path(`/`)", "s"));
        });
        updates
            .wait_for(|p| p.providers["memory"].snapshots == 2)
            .await
            .unwrap();
        running.shutdown().await;
    }
}
