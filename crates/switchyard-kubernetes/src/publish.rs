//! The loop both providers run: on every change, once every watch has listed, translate what the
//! watches hold and publish it when it differs from what was published last.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchyard_config::{ProviderConfig, ProviderSink};
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;

use crate::error::ObjectError;
use crate::translate::{StatusUpdate, Translation};

/// What the loop needs from a provider run.
pub(crate) struct PublishLoop<L, T, S = StatusUpdate> {
    pub(crate) sink: ProviderSink,
    /// Signalled on every change of any watch.
    pub(crate) changed: Arc<Notify>,
    /// Set when a watch works again after failures.
    pub(crate) recovered: Arc<AtomicBool>,
    /// The least time between two translations.
    pub(crate) throttle: Duration,
    /// Whether every watch has listed once.
    pub(crate) listed: L,
    /// The translation of what the watches hold now.
    pub(crate) translate: T,
    /// Where status updates go, when statuses are written.
    pub(crate) statuses: Option<UnboundedSender<S>>,
    /// Warnings about the provider's own settings (options it does not apply), repeated with every
    /// snapshot since publishing clears a provider's warnings.
    pub(crate) notes: Vec<String>,
}

impl<L: Fn() -> bool, T: Fn() -> Translation<S>, S> PublishLoop<L, T, S> {
    /// Runs until shutdown.
    pub(crate) async fn run(self) {
        let mut published: Option<(ProviderConfig, Vec<ObjectError>)> = None;
        loop {
            tokio::select! {
                () = self.changed.notified() => {}
                () = self.sink.shutdown() => return,
            }
            if !(self.listed)() {
                continue;
            }
            let started = std::time::Instant::now();
            let translation = (self.translate)();
            let current = (translation.snapshot, translation.problems);
            self.publish_if_changed(current, started, &mut published);
            self.send_statuses(translation.statuses);
            if !self.throttle.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(self.throttle) => {}
                    () = self.sink.shutdown() => return,
                }
            }
        }
    }

    /// Hands the status updates to the status writer, when statuses are written.
    fn send_statuses(&self, statuses: Vec<S>) {
        if let Some(updates) = &self.statuses {
            for update in statuses {
                let _ = updates.send(update);
            }
        }
    }

    /// Publishes the snapshot and its problems when they differ from what was published last, or when
    /// a watch recovered (so that the problem it reported is cleared).
    fn publish_if_changed(
        &self,
        current: (ProviderConfig, Vec<ObjectError>),
        started: std::time::Instant,
        published: &mut Option<(ProviderConfig, Vec<ObjectError>)>,
    ) {
        let recovered = self.recovered.swap(false, Ordering::Relaxed);
        if !recovered && published.as_ref() == Some(&current) {
            return;
        }
        tracing::debug!(
            routers = current.0.config.http.routers.len(),
            problems = current.1.len(),
            elapsed = ?started.elapsed(),
            "publishing a new snapshot"
        );
        let mut warnings = self.notes.clone();
        for problem in &current.1 {
            tracing::warn!("{problem}");
            warnings.push(problem.to_string());
        }
        self.sink.publish_with_warnings(current.0.clone(), warnings);
        *published = Some(current);
    }
}
