//! A started gateway: its entrypoints serving, the compile loop swapping snapshots in, and the handles an
//! application keeps (addresses, snapshots, embeddable routers, shutdown).

use std::net::SocketAddr;
use std::sync::Arc;
#[cfg(feature = "tls")]
use std::time::Duration;

use switchyard_config::RunningAggregator;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use switchyard_observe::Observer;

use crate::canary::{Canary, Verdict};
use crate::compile::Compiler;
use crate::connection::EntryPointContext;
use crate::router_service::RouterService;
use crate::snapshot::{Snapshot, SnapshotHandle};

/// How often certificate files are checked for changes (modification time and size).
#[cfg(feature = "tls")]
const CERTIFICATE_FILES_POLL: Duration = Duration::from_secs(1);

/// Every entrypoint's name and context, in the static configuration's order.
pub(super) type Contexts = Vec<(String, Arc<EntryPointContext>)>;

/// A started gateway.
#[derive(Debug)]
pub struct RunningGateway {
    pub(super) addresses: Vec<(String, SocketAddr)>,
    pub(super) contexts: Contexts,
    pub(super) handle: SnapshotHandle,
    pub(super) live: watch::Receiver<Arc<Snapshot>>,
    pub(super) shutdown: CancellationToken,
    pub(super) entry_point_tasks: Vec<JoinHandle<()>>,
    pub(super) compile_task: JoinHandle<()>,
    pub(super) aggregator: RunningAggregator,
    pub(super) observer: Option<Arc<Observer>>,
    pub(super) canary: Option<Arc<Canary>>,
    #[cfg(feature = "acme")]
    pub(super) acme: Option<Arc<switchyard_acme::CertResolvers>>,
    #[cfg(feature = "acme")]
    pub(super) acme_task: Option<JoinHandle<()>>,
}

impl RunningGateway {
    /// The address an entrypoint is bound to (with port 0 resolved).
    pub fn local_addr(&self, entry_point: &str) -> Option<SocketAddr> {
        self.addresses.iter().find(|(n, _)| n == entry_point).map(|(_, a)| *a)
    }

    /// The snapshot requests currently run through.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.handle.load()
    }

    /// Waits until the live snapshot satisfies `ready` (say, a router is routed) and returns it.
    pub async fn wait_for(&self, mut ready: impl FnMut(&Snapshot) -> bool) -> Arc<Snapshot> {
        let mut live = self.live.clone();
        match live.wait_for(|s| ready(s)).await {
            Ok(snapshot) => Arc::clone(&snapshot),
            Err(_) => self.handle.load(),
        }
    }

    /// Notifications of each snapshot going live.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.live.clone()
    }

    /// An entrypoint's router as a tower `Service`, to embed in another server (the entrypoint may be
    /// one that listens on no socket: [`Gateway::embedded`](crate::Gateway::embedded)). After
    /// [`shutdown`](Self::shutdown), the service answers every request `503` with
    /// `the gateway is shut down`.
    pub fn service(&self, entry_point: &str) -> Option<RouterService> {
        self.contexts
            .iter()
            .find(|(n, _)| n == entry_point)
            .map(|(_, context)| RouterService::new(Arc::clone(context)))
    }

    /// The gateway's access log, metrics and tracer, when its static configuration sets any up: an
    /// embedding application reaches the Prometheus registry here (`observer().and_then(|o|
    /// o.metrics())`, with the `metrics` feature).
    pub fn observer(&self) -> Option<&Arc<Observer>> {
        self.observer.as_ref()
    }

    /// The canary of configuration changes, when the static configuration has a `canary` section:
    /// its reports, and the decision on a held configuration.
    ///
    /// ```no_run
    /// # fn run(gateway: switchyard_proxy::RunningGateway) {
    /// if let Some(report) = gateway.canary().and_then(|c| c.report()) {
    ///     println!("{} of {} recent requests moved", report.moved, report.replayed);
    /// }
    /// # }
    /// ```
    pub fn canary(&self) -> Option<&Arc<Canary>> {
        self.canary.as_ref()
    }

    /// The ACME certificate resolvers, when the static configuration has any: how many orders they
    /// placed, which failed and why (the CA's problem document).
    #[cfg(feature = "acme")]
    pub fn cert_resolvers(&self) -> Option<&Arc<switchyard_acme::CertResolvers>> {
        self.acme.as_ref()
    }

    /// Stops accepting connections, lets in-flight requests finish within each entrypoint's grace
    /// period, stops the providers, and flushes the access log and the spans not exported yet.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.entry_point_tasks {
            let _ = task.await;
        }
        self.aggregator.shutdown().await;
        self.compile_task.abort();
        #[cfg(feature = "acme")]
        if let Some(task) = self.acme_task {
            task.abort();
        }
        if let Some(observer) = self.observer {
            tokio::task::spawn_blocking(move || observer.flush()).await.ok();
        }
    }
}

/// Where compiled snapshots go: the handle requests load them from, the subscribers, the observer
/// counting reloads, and the providers that asked for their part of each report.
pub(super) struct Live {
    pub(super) handle: SnapshotHandle,
    pub(super) sender: watch::Sender<Arc<Snapshot>>,
    pub(super) observer: Option<Arc<Observer>>,
    pub(super) canary: Option<Arc<Canary>>,
    pub(super) feedback: switchyard_config::ReportFeedback,
}

/// Compiles every new configuration off the serving threads and swaps it in (once the canary, when
/// there is one, has let it through).
pub(super) async fn compile_loop(
    mut compiler: Compiler,
    mut updates: watch::Receiver<Arc<switchyard_config::Published>>,
    live: Live,
) {
    let handle = &live.handle;
    // A configuration an operator discarded stays out until the providers publish a newer one.
    let mut discarded = None;
    loop {
        let mut published = Arc::clone(&updates.borrow_and_update());
        if discarded == Some(published.generation) {
            // The providers' latest was discarded: what changed since is a certificate file of the
            // live configuration, which is compiled again.
            published = Arc::clone(&handle.load().published);
        }
        if published.generation > 0 {
            let generation = published.generation;
            // Compiling 10k routes takes tens of milliseconds: keep it off the threads serving requests.
            let compiled = tokio::task::spawn_blocking(move || (compiler.compile(published), compiler)).await;
            let Ok((snapshot, returned)) = compiled else { return };
            compiler = returned;
            let snapshot = Arc::new(snapshot);
            let verdict = match &live.canary {
                Some(canary) => canary.vet(handle.load(), Arc::clone(&snapshot), &mut updates).await,
                None => Verdict::Swap,
            };
            match verdict {
                Verdict::Swap => swap_in(&live, snapshot).await,
                Verdict::Keep => discarded = Some(generation),
                Verdict::Superseded => continue,
                Verdict::Closed => return,
            }
        }
        if !next_change(&mut updates, handle).await {
            return;
        }
    }
}

/// Makes a compiled snapshot live: requests load it from now on, subscribers and the observer hear
/// of it, and the providers that asked get their part of its report.
async fn swap_in(live: &Live, snapshot: Arc<Snapshot>) {
    live.handle.store(Arc::clone(&snapshot));
    live.sender.send_replace(Arc::clone(&snapshot));
    super::observe::reloaded(live.observer.as_ref());
    if live.feedback.is_listened() {
        // Splitting the report by provider walks every element: off the serving threads too.
        let feedback = live.feedback.clone();
        let delivered = tokio::task::spawn_blocking(move || feedback.deliver(snapshot.published(), snapshot.report()));
        if let Err(error) = delivered.await {
            // The providers miss this report, not the next one; serving is not concerned.
            tracing::error!(target: "switchyard::config", "delivering the report to the providers failed: {error}");
        }
    }
}

/// Waits for a new configuration, or (with TLS) for a certificate, key or CA file to be rewritten
/// in place, which the configuration itself does not show. `false` once the aggregator is gone.
async fn next_change(
    updates: &mut watch::Receiver<Arc<switchyard_config::Published>>,
    handle: &SnapshotHandle,
) -> bool {
    #[cfg(feature = "tls")]
    loop {
        tokio::select! {
            changed = updates.changed() => return changed.is_ok(),
            () = tokio::time::sleep(CERTIFICATE_FILES_POLL) => {
                let snapshot = handle.load();
                if snapshot.tls.as_ref().is_some_and(|tls| tls.server.files_changed()) {
                    tracing::info!(target: "switchyard::tls", "certificate files changed on disk; reloading them");
                    return true;
                }
            }
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = handle;
        updates.changed().await.is_ok()
    }
}
