//! Everything TLS entrypoints serve from one configuration: the store and a server configuration per
//! set of options, plus what to watch for certificate files rewritten in place.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::ServerConfig;
use switchyard_config::{TlsConfig, TlsOptions};

use crate::pem::source_is_inline;
use crate::{CertificateStore, IssuedCertificates, TlsError, TlsFinding, server_config};

/// The name of the options every TLS router uses unless it names others.
pub const DEFAULT_OPTIONS: &str = "default";

/// The TLS side of a compiled configuration: one certificate store shared by every set of TLS options,
/// and a rustls server configuration per set, by id (`0` is `default`).
///
/// Invalid options are reported and have no id, so routers naming them can be refused; invalid
/// `default` options are reported and replaced by the built-in defaults, so TLS keeps serving.
///
/// ```
/// use switchyard_config::{TlsConfig, TlsOptions};
/// use switchyard_tls::ServerTls;
///
/// let mut tls = TlsConfig::default();
/// tls.options.insert("modern@file".into(), TlsOptions { min_version: "VersionTLS13".into(), ..TlsOptions::default() });
/// tls.options.insert("broken@file".into(), TlsOptions { max_version: "VersionTLS10".into(), ..TlsOptions::default() });
/// let (server, findings) = ServerTls::build(&tls);
/// assert_eq!(server.id("default"), Some(0));
/// assert!(server.id("modern@file").is_some());
/// assert_eq!(server.id("broken@file"), None);
/// assert_eq!(findings[0].key_path, "tls.options.broken@file.maxVersion");
/// ```
#[derive(Debug)]
pub struct ServerTls {
    store: Arc<CertificateStore>,
    options: Vec<(String, Arc<ServerConfig>)>,
    files: Vec<FileStamp>,
}

impl ServerTls {
    /// Loads certificates and builds every set of options.
    pub fn build(tls: &TlsConfig) -> (Self, Vec<TlsFinding>) {
        Self::rebuild(tls, None)
    }

    /// Like [`build`](Self::build), keeping certificates of `previous` that no longer load (see
    /// [`CertificateStore::rebuild`]).
    pub fn rebuild(tls: &TlsConfig, previous: Option<&ServerTls>) -> (Self, Vec<TlsFinding>) {
        Self::rebuild_with_issued(tls, previous, None)
    }

    /// Like [`rebuild`](Self::rebuild), also serving the certificates of `issued` (ACME) for names no
    /// configured certificate covers.
    pub fn rebuild_with_issued(
        tls: &TlsConfig,
        previous: Option<&ServerTls>,
        issued: Option<Arc<IssuedCertificates>>,
    ) -> (Self, Vec<TlsFinding>) {
        let (mut store, mut findings) = CertificateStore::rebuild(tls, previous.map(|p| p.store.as_ref()));
        if let Some(issued) = issued {
            store = store.with_issued(issued);
        }
        let store = Arc::new(store);
        let mut options = Vec::with_capacity(tls.options.len() + 1);
        let configured_default = tls.options.get(DEFAULT_OPTIONS);
        let default = match configured_default.map(|o| server_config(o, Arc::clone(&store))) {
            Some(Ok(config)) => config,
            Some(Err(error)) => {
                findings.push(finding(DEFAULT_OPTIONS, error));
                tracing::warn!(target: "switchyard::tls", "tls.options.default is invalid; the built-in defaults serve instead");
                builtin(&store)
            }
            None => builtin(&store),
        };
        options.push((DEFAULT_OPTIONS.to_owned(), Arc::new(default)));
        for (name, set) in tls.options.iter().filter(|(n, _)| n.as_str() != DEFAULT_OPTIONS) {
            match server_config(set, Arc::clone(&store)) {
                Ok(config) => options.push((name.clone(), Arc::new(config))),
                Err(error) => findings.push(finding(name, error)),
            }
        }
        let files = watched_files(tls).into_iter().map(FileStamp::new).collect();
        (Self { store, options, files }, findings)
    }

    /// The id of a set of options (`default` is `0`); `None` when it does not exist or is invalid.
    pub fn id(&self, name: &str) -> Option<u32> {
        let name = if name.is_empty() { DEFAULT_OPTIONS } else { name };
        let index = self.options.iter().position(|(n, _)| n == name)?;
        u32::try_from(index).ok()
    }

    /// The server configuration of a set of options by id; the default one for an unknown id.
    pub fn config(&self, id: u32) -> &Arc<ServerConfig> {
        let index = usize::try_from(id).unwrap_or(0);
        &self.options.get(index).unwrap_or(&self.options[0]).1
    }

    /// The name of a set of options by id.
    pub fn name(&self, id: u32) -> &str {
        self.options
            .get(usize::try_from(id).unwrap_or(0))
            .map_or(DEFAULT_OPTIONS, |(n, _)| n)
    }

    /// The certificate store.
    pub fn store(&self) -> &Arc<CertificateStore> {
        &self.store
    }

    /// Whether a certificate, key or CA file read by [`build`](Self::build) changed on disk since
    /// (modification time or size), so that the configuration should be built again.
    pub fn files_changed(&self) -> bool {
        self.files.iter().any(FileStamp::changed)
    }
}

fn finding(options: &str, error: TlsError) -> TlsFinding {
    let key_path = match &error {
        TlsError::Option { option, .. } => format!("tls.options.{options}.{option}"),
        _ => format!("tls.options.{options}"),
    };
    TlsFinding { key_path, error }
}

/// Traefik's defaults, which cannot fail to build.
fn builtin(store: &Arc<CertificateStore>) -> ServerConfig {
    server_config(&TlsOptions::default(), Arc::clone(store))
        .unwrap_or_else(|e| panic!("the built-in TLS options are valid: {e}"))
}

/// The files a TLS configuration reads (paths, not inline PEM).
fn watched_files(tls: &TlsConfig) -> Vec<PathBuf> {
    let mut paths: Vec<&str> = Vec::new();
    for entry in &tls.certificates {
        paths.extend([entry.cert_file.as_str(), entry.key_file.as_str()]);
    }
    for store in tls.stores.values() {
        if let Some(c) = &store.default_certificate {
            paths.extend([c.cert_file.as_str(), c.key_file.as_str()]);
        }
    }
    for options in tls.options.values() {
        paths.extend(options.client_auth.ca_files.iter().map(String::as_str));
    }
    let mut files: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| !p.trim().is_empty() && !source_is_inline(p))
        .map(PathBuf::from)
        .collect();
    files.sort();
    files.dedup();
    files
}

/// A file's modification time and size when it was read.
#[derive(Debug)]
struct FileStamp {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

impl FileStamp {
    fn new(path: PathBuf) -> Self {
        let seen = stamp(&path);
        Self { path, seen }
    }

    fn changed(&self) -> bool {
        stamp(&self.path) != self.seen
    }
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::CertificateAndStores;

    #[test]
    fn rewritten_files_are_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (dir.path().join("a.pem"), dir.path().join("a.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let mut tls = TlsConfig::default();
        tls.certificates.push(CertificateAndStores {
            cert_file: cert_path.to_string_lossy().into_owned(),
            key_file: key_path.to_string_lossy().into_owned(),
            stores: Vec::new(),
        });
        let (server, findings) = ServerTls::build(&tls);
        assert!(findings.is_empty());
        assert!(!server.files_changed());
        std::fs::write(&cert_path, format!("{}\n", cert.pem())).unwrap();
        assert!(server.files_changed());
    }

    #[test]
    fn broken_default_options_fall_back() {
        let mut tls = TlsConfig::default();
        let broken = TlsOptions {
            curve_preferences: vec!["CurveP521".into()],
            ..TlsOptions::default()
        };
        tls.options.insert("default".into(), broken);
        let (server, findings) = ServerTls::build(&tls);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].key_path, "tls.options.default.curvePreferences[0]");
        assert_eq!(server.id(""), Some(0));
        assert_eq!(server.name(0), "default");
    }
}
