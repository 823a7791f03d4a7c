//! The file store: Traefik's `acme.json`, written atomically with mode 0600, and a lock file beside
//! it (`flock`) so that replicas sharing the file (a shared volume) order each certificate once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::AcmeError;
use crate::storage::{Storage, StorageLock, StoredData};

/// Traefik's `acme.json` file, shared by every resolver naming it as `storage`.
///
/// Writes go to a temporary file in the same directory, made 0600, then renamed over the file, so a
/// reader (another replica) never sees half a file. The lock is an advisory `flock` on
/// `<file>.lock`, which replicas on one host or on a shared file system that supports `flock` honour.
///
/// ```
/// use switchyard_acme::{FileStore, ResolverData, Storage};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = FileStore::new(dir.path().join("acme.json"));
/// let _lock = store.try_lock().unwrap().unwrap();
/// let mut data = store.load().unwrap();
/// data.insert("le".into(), ResolverData::default());
/// store.save(&data).unwrap();
/// assert!(store.load().unwrap().contains_key("le"));
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// The store at `path` (created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    fn io(&self, source: std::io::Error) -> AcmeError {
        AcmeError::Storage {
            location: self.path.display().to_string(),
            reason: source.to_string(),
        }
    }
}

impl Storage for FileStore {
    fn load(&self) -> Result<StoredData, AcmeError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoredData::new()),
            Err(e) => return Err(self.io(e)),
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(StoredData::new());
        }
        serde_json::from_slice(&text).map_err(|e| AcmeError::Storage {
            location: self.path.display().to_string(),
            reason: format!("not Traefik's acme.json format: {e}"),
        })
    }

    fn save(&self, data: &StoredData) -> Result<(), AcmeError> {
        let text = serde_json::to_vec_pretty(data).map_err(|e| AcmeError::Storage {
            location: self.path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut temporary = self.path.as_os_str().to_os_string();
        temporary.push(format!(".tmp{}", std::process::id()));
        let temporary = PathBuf::from(temporary);
        let mut file = create_private(&temporary).map_err(|e| self.io(e))?;
        let written = file.write_all(&text).and_then(|()| file.sync_all());
        if let Err(e) = written.and_then(|()| std::fs::rename(&temporary, &self.path)) {
            let _ = std::fs::remove_file(&temporary);
            return Err(self.io(e));
        }
        Ok(())
    }

    fn try_lock(&self) -> Result<Option<StorageLock>, AcmeError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path())
            .map_err(|e| self.io(e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StorageLock::new(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(self.io(e)),
        }
    }
}

/// A new file readable and writable by its owner only.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_are_private_and_atomic_and_the_lock_excludes_other_holders() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("acme.json"));
        let other = FileStore::new(dir.path().join("acme.json"));
        let lock = store.try_lock().unwrap().unwrap();
        assert!(other.try_lock().unwrap().is_none());
        let mut data = StoredData::new();
        data.insert("le".into(), Default::default());
        store.save(&data).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "the file and its lock, no temporary left: {names:?}");
        drop(lock);
        assert!(other.try_lock().unwrap().is_some());
        assert_eq!(other.load().unwrap(), data);
    }
}
