//! What can go wrong while loading and checking configuration, and where.

use std::fmt;
use std::path::PathBuf;

/// A configuration file or text that could not be read into the model.
///
/// Every variant names its origin (a file path, or a label such as `inline`), and where the input itself is
/// at fault, the line, column and key path of the problem:
///
/// ```text
/// dynamic.yml:5:17: at `http.routers.api.priority`: invalid type: string "high", expected i64
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file's extension is not one of `.yml`, `.yaml`, `.toml`, `.json`.
    #[error("{}: unsupported file extension (expected .yml, .yaml, .toml or .json)", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// The text is not valid YAML, TOML or JSON, or does not fit the schema.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Text that is not valid in its format, or does not fit Traefik's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Where the text came from: a file path or a label.
    pub origin: String,
    /// The 1-based line and column of the problem, when the parser knows it.
    pub position: Option<(usize, usize)>,
    /// The dotted key path to the offending value (`http.routers.api.priority`), when the text parsed but a
    /// value did not fit.
    pub key_path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(path) = &self.key_path {
            write!(f, ": at `{path}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ParseError {}

/// A key the model does not know, found while loading. Traefik ignores such keys silently; switchyard
/// loads the rest and reports each one so a typo (`middelwares`) does not go unnoticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Where the text came from.
    pub origin: String,
    /// The dotted key path (`http.routers.api.middelwares`).
    pub key_path: String,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: unknown key `{}` ignored", self.origin, self.key_path)
    }
}
