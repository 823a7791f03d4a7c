//! Reading the configured file or directory, keeping each file's last good configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_config::{DynamicConfig, Format, LoadError, ProviderConfig, load_str};

use crate::error::FileError;
use crate::merge::merge_files;

/// What the provider reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// One file.
    File(PathBuf),
    /// Every configuration file in a directory and its subdirectories.
    Directory(PathBuf),
}

impl Target {
    /// The directory to watch, and whether to watch it recursively. A single file is watched through its
    /// directory, so that editors' atomic saves (write a temporary file, rename it over) are seen.
    pub(crate) fn watch_root(&self) -> (PathBuf, bool) {
        match self {
            Target::File(file) => {
                let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
                (parent.unwrap_or(Path::new(".")).to_owned(), false)
            }
            Target::Directory(dir) => (dir.clone(), true),
        }
    }

    /// Whether a change to `path` can change the configuration.
    pub(crate) fn concerns(&self, path: &Path) -> bool {
        match self {
            Target::File(file) => path.file_name() == file.file_name(),
            Target::Directory(_) => true,
        }
    }
}

/// The result of one reload.
#[derive(Debug, Default)]
pub(crate) struct Reload {
    pub snapshot: ProviderConfig,
    pub problems: Vec<FileError>,
    pub warnings: Vec<String>,
}

/// Each file's last good configuration.
#[derive(Debug, Default)]
pub(crate) struct Files {
    good: BTreeMap<PathBuf, DynamicConfig>,
}

impl Files {
    /// Reads everything again. Files that fail keep their last good configuration; files that are gone
    /// from a directory drop out; a single file that is gone keeps its last good configuration (an editor
    /// may be in the middle of saving it).
    pub(crate) fn reload(&mut self, target: &Target) -> Reload {
        let mut reload = Reload::default();
        let paths = self.paths(target, &mut reload.problems);
        for path in paths {
            match load(&path) {
                Ok((config, unknown)) => {
                    reload.warnings.extend(unknown);
                    self.good.insert(path, config);
                }
                Err(problem) => reload.problems.push(problem),
            }
        }
        let (snapshot, skipped) = merge_files(&self.good);
        reload.warnings.extend(skipped);
        reload.snapshot = snapshot;
        reload
    }

    /// The files to read now. Files gone from a directory are forgotten; a directory that cannot be
    /// listed is reported and its files keep their last good configuration.
    fn paths(&mut self, target: &Target, problems: &mut Vec<FileError>) -> Vec<PathBuf> {
        match target {
            Target::File(file) => vec![file.clone()],
            Target::Directory(dir) => match list_directory(dir) {
                Ok(paths) => {
                    self.good.retain(|path, _| paths.contains(path));
                    paths
                }
                Err(source) => {
                    problems.push(FileError::Directory {
                        path: dir.clone(),
                        source,
                    });
                    Vec::new()
                }
            },
        }
    }
}

fn load(path: &Path) -> Result<(DynamicConfig, Vec<String>), FileError> {
    let io_error = |source| LoadError::Io {
        path: path.to_owned(),
        source,
    };
    let format = Format::from_path(path).ok_or_else(|| LoadError::UnsupportedFormat { path: path.to_owned() })?;
    let text = std::fs::read_to_string(path).map_err(io_error)?;
    if text.contains("{{") {
        return Err(FileError::Template(path.to_owned()));
    }
    let loaded = load_str::<DynamicConfig>(&text, format, &path.display().to_string()).map_err(LoadError::from)?;
    let unknown = loaded.unknown_keys.iter().map(ToString::to_string).collect();
    Ok((loaded.value, unknown))
}

/// Every configuration file under `dir`, recursively, in path order. Hidden files and directories and
/// files with other extensions (editors' swap and backup files among them) are skipped.
fn list_directory(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let file_type = entry.file_type()?;
            if file_type.is_dir() || (file_type.is_symlink() && path.is_dir()) {
                pending.push(path);
            } else if is_config_file(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Whether a path names a configuration file switchyard reads.
pub(crate) fn is_config_file(path: &Path) -> bool {
    Format::from_path(path).is_some()
        && !path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with(['.', '#']))
}
