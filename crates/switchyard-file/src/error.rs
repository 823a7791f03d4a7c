//! Why a file or directory could not be (re)loaded.

use std::io;
use std::path::PathBuf;

use switchyard_config::LoadError;

/// A problem reading the configured file or directory. The file's last good configuration stays live.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be read or does not parse (the error names the file, line and column).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The file uses Traefik's Go templates, which switchyard does not render.
    #[error(
        "{}: Go templates (`{{{{ ... }}}}`) are not supported; render the file before giving it to switchyard",
        .0.display()
    )]
    Template(PathBuf),
    /// The directory could not be listed.
    #[error("{}: cannot read the directory: {source}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file system watch could not be set up; changes are not seen until it is.
    #[error("{}: cannot watch for changes: {source}", path.display())]
    Watch {
        /// The watched directory.
        path: PathBuf,
        /// The watcher's error.
        source: notify::Error,
    },
    /// Neither or both of `filename` and `directory` are set.
    #[error("the file provider needs exactly one of `filename` and `directory`")]
    Settings,
}
