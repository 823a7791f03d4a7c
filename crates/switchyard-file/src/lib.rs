//! The file provider for switchyard: Traefik's `providers.file`.
//!
//! [`FileProvider`] reads dynamic configuration (routers, services, middlewares, servers transports,
//! TLS) from one file or from every `.yml`, `.yaml`, `.toml` and `.json` file of a directory and its
//! subdirectories, in Traefik's schema, and publishes it to the
//! [`Aggregator`](switchyard_config::Aggregator) under the provider name `file` (`api@file`).
//!
//! With `watch` on (the default) a change is live well within a second: the directory is watched with
//! the operating system's notifications, a burst of events is settled for 100 ms (never more than
//! 500 ms), then everything is read again and published if it changed. Editors' atomic saves (a
//! temporary file renamed over the original), deletes and re-creations are all seen, since a single
//! file is watched through its directory.
//!
//! ```no_run
//! use switchyard_config::Aggregator;
//! use switchyard_file::FileProvider;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let running = Aggregator::new().provider(FileProvider::file("dynamic.yml")).start()?;
//! let mut updates = running.subscribe();
//! while updates.changed().await.is_ok() {
//!     let published = updates.borrow_and_update().clone();
//!     for error in published.runtime.report.errors() {
//!         eprintln!("{error}");
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Where it differs from Traefik's file provider
//!
//! - **A broken file costs only itself.** Each file's last good configuration is kept: when one file
//!   of a directory does not parse (half-written, a typo), its previous content stays live and the
//!   other files' changes still apply. Traefik drops the whole directory's update.
//! - **Errors point at the spot**: file, line, column and key path; unknown keys are reported.
//! - **A deleted single file keeps its last configuration** (and is reported) rather than emptying the
//!   provider, since editors delete and re-create files while saving. In a directory, a deleted file's
//!   configuration leaves with it.
//! - **Go templates are not rendered.** A file containing `{{` is reported and left at its last good
//!   configuration; render templates before handing files to switchyard.
//! - Names defined in two files: as in Traefik, the first file in path order wins and the later
//!   definition is reported and skipped.

mod error;
mod files;
mod merge;
mod provider;
mod watch;

pub use error::FileError;
pub use provider::FileProvider;
