//! The provider: load, publish, watch, reload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard_config::{Provider, ProviderConfig, ProviderError, ProviderSink};

use crate::error::FileError;
use crate::files::{Files, Target};
use crate::watch::DirectoryWatch;

/// How often a lost watch (its directory deleted or not created yet) is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Traefik's file provider: dynamic configuration from one file or a directory of files, reloaded when
/// they change.
///
/// ```no_run
/// use std::time::Duration;
/// use switchyard_config::Aggregator;
/// use switchyard_file::FileProvider;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let running = Aggregator::new()
///     .throttle(Duration::from_millis(200))
///     .provider(FileProvider::directory("/etc/switchyard/conf.d"))
///     .start()?;
/// let live = running.current();
/// println!("{} routers live", live.runtime.rules.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileProvider {
    name: String,
    /// `None` when the options name neither or both of a file and a directory (reported on run).
    target: Option<Target>,
    watch: bool,
}

impl FileProvider {
    /// Reads one file (Traefik's `providers.file.filename`).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::new(Some(Target::File(path.into())))
    }

    /// Reads every `.yml`, `.yaml`, `.toml` and `.json` file in a directory and its subdirectories
    /// (Traefik's `providers.file.directory`).
    pub fn directory(path: impl Into<PathBuf>) -> Self {
        Self::new(Some(Target::Directory(path.into())))
    }

    /// The provider as Traefik's `providers.file` options describe it: exactly one of `filename` and
    /// `directory`. A wrong combination is reported when the provider runs.
    ///
    /// ```
    /// use switchyard_file::FileProvider;
    /// let provider = FileProvider::from_options(Some("dynamic.yml".into()), None, true);
    /// ```
    pub fn from_options(filename: Option<PathBuf>, directory: Option<PathBuf>, watch: bool) -> Self {
        let target = match (filename, directory) {
            (Some(file), None) => Some(Target::File(file)),
            (None, Some(dir)) => Some(Target::Directory(dir)),
            _ => None,
        };
        Self::new(target).watch(watch)
    }

    /// The provider as the static configuration's `providers.file` section describes it.
    ///
    /// ```
    /// use switchyard_config::FileProviderOptions;
    /// use switchyard_file::FileProvider;
    ///
    /// let options = FileProviderOptions { directory: Some("/etc/switchyard".into()), ..FileProviderOptions::default() };
    /// let provider = FileProvider::from_static(&options);
    /// ```
    pub fn from_static(options: &switchyard_config::FileProviderOptions) -> Self {
        Self::from_options(options.filename.clone(), options.directory.clone(), options.watch)
    }

    fn new(target: Option<Target>) -> Self {
        Self {
            name: "file".to_owned(),
            target,
            watch: true,
        }
    }

    /// Whether to reload on changes (default: yes, as in Traefik).
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }

    /// Renames the provider (default: `file`), for several file providers side by side.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl Provider for FileProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self, sink: ProviderSink) -> Result<(), ProviderError> {
        let target = self
            .target
            .ok_or_else(|| ProviderError::Settings(FileError::Settings.to_string()))?;
        let mut runner = Runner {
            target,
            files: Files::default(),
            published: None,
            sink,
        };
        runner.reload();
        if !self.watch {
            runner.sink.shutdown().await;
            return Ok(());
        }
        runner.watch().await;
        Ok(())
    }
}

struct Runner {
    target: Target,
    files: Files,
    published: Option<ProviderConfig>,
    sink: ProviderSink,
}

impl Runner {
    /// Reads everything, reports what failed, and publishes when the result differs from the last one.
    fn reload(&mut self) {
        let reload = self.files.reload(&self.target);
        // A new snapshot goes with its warnings in one step (no configuration is live without them);
        // an unchanged one keeps its own, and the warnings are only repeated.
        if self.published.as_ref() == Some(&reload.snapshot) {
            for warning in reload.warnings {
                self.sink.warn(warning);
            }
        } else {
            self.sink
                .publish_with_warnings(reload.snapshot.clone(), reload.warnings);
            self.published = Some(reload.snapshot);
        }
        for problem in &reload.problems {
            self.sink.report(problem);
        }
    }

    /// Watches until shutdown, re-establishing the watch when its directory goes away and comes back.
    async fn watch(&mut self) {
        let (root, recursive) = self.target.watch_root();
        let mut watch = None;
        loop {
            if watch.is_none() {
                watch = self.start_watch(&root, recursive);
            }
            let target = self.target.clone();
            tokio::select! {
                changed = next_change(&mut watch, &target) => {
                    if !self.on_change(changed, &root) {
                        watch = None;
                    }
                }
                () = self.sink.shutdown() => return,
            }
        }
    }

    /// A watch on `root`, or nothing (reported) when it cannot be started.
    fn start_watch(&mut self, root: &Path, recursive: bool) -> Option<DirectoryWatch> {
        match DirectoryWatch::start(root, recursive) {
            Ok(started) => {
                // Changes made while nothing watched are picked up now.
                self.reload();
                Some(started)
            }
            Err(err) => {
                self.sink.report(&err);
                None
            }
        }
    }

    /// Reloads after a change; whether the watch still holds (it neither ended, nor failed, nor lost
    /// its directory).
    fn on_change(&mut self, changed: Result<bool, notify::Error>, root: &Path) -> bool {
        match changed {
            Ok(true) => {
                self.reload();
                root.is_dir()
            }
            Ok(false) => false,
            Err(source) => {
                self.sink.report(&FileError::Watch {
                    path: root.to_owned(),
                    source,
                });
                false
            }
        }
    }
}

/// The next change `watch` reports; without a watch, `Ok(false)` after [`RETRY`].
async fn next_change(watch: &mut Option<DirectoryWatch>, target: &Target) -> Result<bool, notify::Error> {
    match watch {
        Some(active) => active.next_change(|path| target.concerns(path)).await,
        None => {
            tokio::time::sleep(RETRY).await;
            Ok(false)
        }
    }
}
