//! File system notifications, bridged from notify's thread into tokio and debounced.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::FileError;

/// How long the directory must stay quiet before a reload.
const QUIET: Duration = Duration::from_millis(100);
/// A burst of changes never delays a reload by more than this.
const MAX_DELAY: Duration = Duration::from_millis(500);

/// A live watch on one directory.
pub(crate) struct DirectoryWatch {
    // Dropping the watcher stops the notifications.
    _watcher: RecommendedWatcher,
    events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
}

impl DirectoryWatch {
    /// Starts watching `dir`.
    pub(crate) fn start(dir: &Path, recursive: bool) -> Result<Self, FileError> {
        let (tx, events) = mpsc::unbounded_channel();
        let fail = |source| FileError::Watch {
            path: dir.to_owned(),
            source,
        };
        let mut watcher = notify::recommended_watcher(move |event| {
            // The receiver is gone only when the provider stops.
            let _ = tx.send(event);
        })
        .map_err(fail)?;
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher.watch(dir, mode).map_err(fail)?;
        Ok(Self {
            _watcher: watcher,
            events,
        })
    }

    /// Waits for a change that `concerns` accepts, then for the burst it starts to settle. Returns the
    /// watcher's error if it failed, `Ok(false)` if the watch ended.
    pub(crate) async fn next_change(&mut self, concerns: impl Fn(&Path) -> bool) -> Result<bool, notify::Error> {
        loop {
            match self.events.recv().await {
                None => return Ok(false),
                Some(Err(err)) => return Err(err),
                Some(Ok(event)) if relevant(&event, &concerns) => break,
                Some(Ok(_)) => {}
            }
        }
        let deadline = Instant::now() + MAX_DELAY;
        loop {
            tokio::select! {
                event = self.events.recv() => match event {
                    None => return Ok(true),
                    Some(Err(err)) => return Err(err),
                    Some(Ok(_)) => {}
                },
                () = tokio::time::sleep(QUIET) => return Ok(true),
                () = tokio::time::sleep_until(deadline) => return Ok(true),
            }
        }
    }
}

fn relevant(event: &notify::Event, concerns: &impl Fn(&Path) -> bool) -> bool {
    !event.kind.is_access() && (event.paths.is_empty() || event.paths.iter().map(PathBuf::as_path).any(concerns))
}
