//! The certificate store: every configured certificate by the names it covers, and the default one.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use switchyard_config::TlsConfig;
use x509_parser::extensions::GeneralName;

use crate::{HostMap, IssuedCertificates, TlsError, certificates, private_key, provider};

/// The common name of the certificate generated when no default is configured, as Traefik names it.
pub const GENERATED_COMMON_NAME: &str = "TRAEFIK DEFAULT CERT";

/// A problem with one element of the `tls` section, by key path (`tls.certificates[2]`).
#[derive(Debug)]
pub struct TlsFinding {
    /// Where: `tls.certificates[2]`, `tls.stores.default.defaultCertificate`, `tls.options.modern.minVersion`.
    pub key_path: String,
    /// What is wrong.
    pub error: TlsError,
}

/// The certificates served on TLS entrypoints (Traefik's `default` store, the only one it honours).
///
/// A server name is answered by the certificate covering it exactly, then by a wildcard certificate
/// covering it, then by the default certificate: the store's `defaultCertificate`, or one generated at
/// start (self-signed, `TRAEFIK DEFAULT CERT`). When two certificates cover the same name, the first
/// one configured serves it.
///
/// ```
/// use switchyard_config::TlsConfig;
/// use switchyard_tls::CertificateStore;
///
/// let (store, findings) = CertificateStore::build(&TlsConfig::default());
/// assert!(findings.is_empty());
/// // Nothing configured: every name gets the generated default.
/// assert!(store.find("example.com").is_none());
/// assert!(store.default_is_generated());
/// ```
#[derive(Debug)]
pub struct CertificateStore {
    names: HostMap<Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
    generated: bool,
    /// What each `(certFile, keyFile)` loaded to, so that a later build can keep serving it when the
    /// files are caught half-rewritten or broken.
    loaded: HashMap<(String, String), Loaded>,
    /// Certificates issued at run time (ACME), consulted after the configured ones.
    issued: Option<Arc<IssuedCertificates>>,
}

type Loaded = (Arc<CertifiedKey>, Vec<String>);

impl CertificateStore {
    /// Loads `tls.certificates` and `tls.stores.default`. A certificate that cannot be loaded is
    /// reported and left out; the others serve.
    pub fn build(tls: &TlsConfig) -> (Self, Vec<TlsFinding>) {
        Self::rebuild(tls, None)
    }

    /// Like [`build`](Self::build), but a certificate that no longer loads (a file caught
    /// half-rewritten, a broken update) keeps serving what `previous` loaded from the same fields,
    /// and is reported.
    pub fn rebuild(tls: &TlsConfig, previous: Option<&CertificateStore>) -> (Self, Vec<TlsFinding>) {
        let mut loader = Loader {
            previous,
            loaded: HashMap::new(),
            findings: Vec::new(),
        };
        let names = loader.certificates(tls);
        let default = loader.default_certificate(tls);
        report_ignored_store_settings(tls, &mut loader.findings);
        let generated = default.is_none();
        let default = default.unwrap_or_else(generated_default);
        (
            Self {
                names,
                default,
                generated,
                loaded: loader.loaded,
                issued: None,
            },
            loader.findings,
        )
    }

    /// The configured certificate covering `server_name`, exactly or by wildcard.
    pub fn find(&self, server_name: &str) -> Option<&Arc<CertifiedKey>> {
        self.names.get(server_name)
    }

    /// Serves the certificates of `issued` too, for names no configured certificate covers.
    pub fn with_issued(mut self, issued: Arc<IssuedCertificates>) -> Self {
        self.issued = Some(issued);
        self
    }

    /// The certificates issued at run time this store consults, if any.
    pub fn issued(&self) -> Option<&Arc<IssuedCertificates>> {
        self.issued.as_ref()
    }

    /// The certificate served when none covers the name.
    pub fn default_certificate(&self) -> &Arc<CertifiedKey> {
        &self.default
    }

    /// Whether the default certificate is the generated one.
    pub fn default_is_generated(&self) -> bool {
        self.generated
    }

    /// Every name a configured certificate covers.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.names.iter().map(|(name, _)| name)
    }

    /// What the store's certificates say of themselves (the default one included, each once), for
    /// expiry metrics.
    ///
    /// ```
    /// use switchyard_tls::CertificateStore;
    ///
    /// let (store, _) = CertificateStore::build(&Default::default());
    /// let generated = store.facts();
    /// assert_eq!(generated[0].common_name, switchyard_tls::GENERATED_COMMON_NAME);
    /// ```
    pub fn facts(&self) -> Vec<CertificateFacts> {
        let mut seen: Vec<*const CertifiedKey> = Vec::new();
        let keys = std::iter::once(&self.default).chain(self.names.iter().map(|(_, key)| key));
        keys.filter(|key| {
            let fresh = !seen.contains(&Arc::as_ptr(key));
            seen.push(Arc::as_ptr(key));
            fresh
        })
        .filter_map(|key| CertificateFacts::of(key.cert.first()?.as_ref()))
        .collect()
    }
}

/// A certificate's subject, serial, names and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateFacts {
    /// The subject's common name (empty without one).
    pub common_name: String,
    /// The serial number, in decimal as Go prints it.
    pub serial: String,
    /// The DNS and IP subject alternative names, sorted.
    pub sans: Vec<String>,
    /// The end of validity, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertificateFacts {
    fn of(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let common_name = (cert.subject().iter_common_name().next())
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut sans = covered_names(der).ok()?;
        sans.retain(|name| !name.eq_ignore_ascii_case(&common_name) || has_san(&cert, name));
        sans.sort();
        Some(Self {
            common_name,
            serial: cert.serial.to_str_radix(10),
            sans,
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

/// Whether `name` is among a certificate's DNS SANs (and not only its common name).
fn has_san(cert: &x509_parser::certificate::X509Certificate<'_>, name: &str) -> bool {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value
        .general_names
        .iter()
        .any(|n| matches!(n, GeneralName::DNSName(dns) if dns.eq_ignore_ascii_case(name)))
}

/// Loads the certificates of one build, remembering what each pair of files gave and what went wrong.
struct Loader<'a> {
    previous: Option<&'a CertificateStore>,
    loaded: HashMap<(String, String), Loaded>,
    findings: Vec<TlsFinding>,
}

impl Loader<'_> {
    /// `tls.certificates` by the names each covers; the first certificate configured for a name serves it.
    fn certificates(&mut self, tls: &TlsConfig) -> HostMap<Arc<CertifiedKey>> {
        let mut names = HostMap::default();
        for (index, entry) in tls.certificates.iter().enumerate() {
            let key_path = format!("tls.certificates[{index}]");
            if !self.in_default_store(&entry.stores, &key_path) {
                continue;
            }
            if let Some((key, covered)) = self.load_kept(&entry.cert_file, &entry.key_file, &key_path) {
                let mut added = false;
                for name in &covered {
                    added |= names.insert(name, Arc::clone(&key));
                }
                if !added {
                    tracing::debug!(
                        target: "switchyard::tls",
                        "{key_path}: every name it covers ({}) is already served by an earlier certificate",
                        covered.join(", ")
                    );
                }
            }
        }
        names
    }

    /// The default store's `defaultCertificate`, when configured and loaded.
    fn default_certificate(&mut self, tls: &TlsConfig) -> Option<Arc<CertifiedKey>> {
        let configured = tls.stores.get("default").and_then(|s| s.default_certificate.as_ref())?;
        let key_path = "tls.stores.default.defaultCertificate";
        self.load_kept(&configured.cert_file, &configured.key_file, key_path)
            .map(|(key, _)| key)
    }

    /// Whether a certificate listing `stores` belongs to the default store, reporting the first other
    /// store it names (only the default one exists).
    fn in_default_store(&mut self, stores: &[String], key_path: &str) -> bool {
        let Some(other) = stores.iter().find(|s| s.as_str() != "default") else {
            return true;
        };
        self.findings.push(TlsFinding {
            key_path: format!("{key_path}.stores"),
            error: TlsError::Option {
                option: "stores".into(),
                reason: format!("store `{other}` is ignored: as in Traefik v3, only the `default` store exists"),
            },
        });
        stores.iter().any(|s| s == "default")
    }

    /// What `cert_file` and `key_file` load to; when they no longer load, what the previous build
    /// loaded from them (reported as kept), or nothing (reported).
    fn load_kept(&mut self, cert_file: &str, key_file: &str, key_path: &str) -> Option<Loaded> {
        let source = (cert_file.to_owned(), key_file.to_owned());
        match load(cert_file, key_file) {
            Ok((key, names)) => {
                let entry = (Arc::new(key), names);
                self.loaded.insert(source, entry.clone());
                Some(entry)
            }
            Err(error) => {
                let kept = self.previous.and_then(|p| p.loaded.get(&source)).cloned();
                let error = match &kept {
                    Some(_) => TlsError::Kept(Box::new(error)),
                    None => error,
                };
                self.findings.push(TlsFinding {
                    key_path: key_path.to_owned(),
                    error,
                });
                let entry = kept?;
                self.loaded.insert(source, entry.clone());
                Some(entry)
            }
        }
    }
}

/// Reports the stores other than `default` and a `defaultGeneratedCert`, which switchyard ignores.
fn report_ignored_store_settings(tls: &TlsConfig, findings: &mut Vec<TlsFinding>) {
    for name in tls.stores.keys().filter(|n| n.as_str() != "default") {
        findings.push(TlsFinding {
            key_path: format!("tls.stores.{name}"),
            error: TlsError::Option {
                option: "stores".into(),
                reason: "ignored: as in Traefik v3, only the `default` store exists".into(),
            },
        });
    }
    if tls
        .stores
        .get("default")
        .is_some_and(|s| s.default_generated_cert.is_some())
    {
        findings.push(TlsFinding {
            key_path: "tls.stores.default.defaultGeneratedCert".into(),
            error: TlsError::Option {
                option: "defaultGeneratedCert".into(),
                reason: "needs a certificate resolver (ACME), which switchyard does not have; the default certificate serves instead".into(),
            },
        });
    }
}

/// Answers SNI from a store; with `strict`, refuses handshakes without SNI or for names no
/// certificate covers (Traefik's `sniStrict`).
#[derive(Debug)]
pub(crate) struct StoreResolver {
    pub(crate) store: Arc<CertificateStore>,
    pub(crate) strict: bool,
}

impl ResolvesServerCert for StoreResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        let configured = name.and_then(|name| self.store.find(name)).cloned();
        let issued = || self.store.issued.as_ref()?.find(name?);
        match configured.or_else(issued) {
            Some(key) => Some(key),
            None if self.strict => {
                tracing::debug!(target: "switchyard::tls", server_name = ?hello.server_name(), "sniStrict: no certificate for the name; handshake refused");
                None
            }
            None => Some(Arc::clone(&self.store.default)),
        }
    }
}

/// `config` answering every handshake with `key`: for clients that send no SNI to an address a
/// certificate covers by IP SAN (Traefik matches the local address then too).
///
/// ```
/// use std::sync::Arc;
/// use switchyard_config::{TlsConfig, TlsOptions};
/// use switchyard_tls::{CertificateStore, server_config, with_certificate};
///
/// let (store, _) = CertificateStore::build(&TlsConfig::default());
/// let key = Arc::clone(store.default_certificate());
/// let config = server_config(&TlsOptions::default(), Arc::new(store)).unwrap();
/// let fixed = with_certificate(&config, key);
/// assert_eq!(fixed.alpn_protocols, config.alpn_protocols);
/// ```
pub fn with_certificate(config: &rustls::ServerConfig, key: Arc<CertifiedKey>) -> Arc<rustls::ServerConfig> {
    let mut fixed = config.clone();
    fixed.cert_resolver = Arc::new(FixedCertificate(key));
    Arc::new(fixed)
}

/// Always the same certificate.
#[derive(Debug)]
struct FixedCertificate(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// A certificate with its key, checked to belong together, and the names its leaf covers.
fn load(cert_file: &str, key_file: &str) -> Result<(CertifiedKey, Vec<String>), TlsError> {
    let chain = certificates(cert_file)?;
    let key = private_key(key_file)?;
    let covered = covered_names(chain[0].as_ref()).map_err(|reason| TlsError::Pem {
        origin: crate::describe(cert_file),
        reason,
    })?;
    let key = CertifiedKey::from_der(chain, key, &provider())?;
    Ok((key, covered))
}

/// The DNS names and IP addresses of a leaf certificate's SANs, and its common name when it has no
/// DNS SAN (Traefik indexes both).
pub(crate) fn covered_names(der: &[u8]) -> Result<Vec<String>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => names.push(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap_or_default()).to_string()),
                    16 => {
                        names.push(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).unwrap_or_default()).to_string())
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if let Some(cn) = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()) {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(cn)) {
            names.push(cn.to_ascii_lowercase());
        }
    }
    Ok(names)
}

/// The self-signed default certificate, generated once per process.
fn generated_default() -> Arc<CertifiedKey> {
    static GENERATED: OnceLock<Arc<CertifiedKey>> = OnceLock::new();
    Arc::clone(GENERATED.get_or_init(|| {
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("generating a P-256 key cannot fail: {e}"));
        let label = format!("{:016x}", random_label());
        let mut params =
            rcgen::CertificateParams::new(vec![format!("{}.{}.traefik.default", &label[..8], &label[8..])])
                .unwrap_or_else(|e| panic!("a fixed DNS name is valid: {e}"));
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, GENERATED_COMMON_NAME);
        let cert = params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("self-signing with a fresh key cannot fail: {e}"));
        let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        Arc::new(
            CertifiedKey::from_der(vec![cert.der().clone()], der, &provider())
                .unwrap_or_else(|e| panic!("a generated key matches its certificate: {e}")),
        )
    }))
}

/// A random label for the generated certificate's name, so that two gateways do not share one.
fn random_label() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::CertificateAndStores;

    fn issue(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    fn entry((cert, key): (String, String)) -> CertificateAndStores {
        CertificateAndStores {
            cert_file: cert,
            key_file: key,
            stores: Vec::new(),
        }
    }

    #[test]
    fn exact_then_wildcard_then_default() {
        let mut tls = TlsConfig::default();
        tls.certificates.push(entry(issue(&["*.example.com"])));
        tls.certificates.push(entry(issue(&["api.example.com", "127.0.0.1"])));
        let (store, findings) = CertificateStore::build(&tls);
        assert!(findings.is_empty(), "{findings:?}");
        let wildcard = store.find("www.example.com").unwrap();
        let exact = store.find("API.example.com").unwrap();
        assert!(!Arc::ptr_eq(wildcard, exact));
        assert!(store.find("127.0.0.1").is_some());
        assert!(store.find("example.com").is_none());
        assert!(store.default_is_generated());
        let leaf = &store.default_certificate().cert[0];
        assert!(
            covered_names(leaf)
                .unwrap()
                .iter()
                .any(|n| n.ends_with(".traefik.default"))
        );
    }

    #[test]
    fn broken_entries_are_reported_and_the_rest_serves() {
        let mut tls = TlsConfig::default();
        let (cert, _) = issue(&["a.test"]);
        let (_, other_key) = issue(&["b.test"]);
        tls.certificates.push(entry((cert, other_key)));
        tls.certificates
            .push(entry(("/missing/cert.pem".into(), "/missing/key.pem".into())));
        tls.certificates.push(entry(issue(&["c.test"])));
        let default = switchyard_config::TlsStore {
            default_certificate: Some(switchyard_config::Certificate::new(
                "/missing/default.pem",
                "/missing/default.key",
            )),
            ..switchyard_config::TlsStore::default()
        };
        tls.stores.insert("default".into(), default);
        let (store, findings) = CertificateStore::build(&tls);
        let paths: Vec<_> = findings.iter().map(|f| f.key_path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tls.certificates[0]",
                "tls.certificates[1]",
                "tls.stores.default.defaultCertificate"
            ]
        );
        assert!(findings[1].error.to_string().contains("/missing/cert.pem"));
        assert!(store.find("c.test").is_some());
        assert!(store.find("a.test").is_none());
        assert!(store.default_is_generated());
    }

    #[test]
    fn a_broken_rewrite_keeps_the_previous_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = issue(&["kept.test"]);
        let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("c.key"));
        std::fs::write(&cert_path, &cert).unwrap();
        std::fs::write(&key_path, &key).unwrap();
        let mut tls = TlsConfig::default();
        tls.certificates.push(CertificateAndStores {
            cert_file: cert_path.to_string_lossy().into_owned(),
            key_file: key_path.to_string_lossy().into_owned(),
            stores: Vec::new(),
        });
        let (first, _) = CertificateStore::build(&tls);
        let (_, other_key) = issue(&["kept.test"]);
        std::fs::write(&key_path, other_key).unwrap();
        let (second, findings) = CertificateStore::rebuild(&tls, Some(&first));
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].error.to_string().contains("still serving"),
            "{}",
            findings[0].error
        );
        assert!(Arc::ptr_eq(
            first.find("kept.test").unwrap(),
            second.find("kept.test").unwrap()
        ));
        let (without, _) = CertificateStore::build(&tls);
        assert!(without.find("kept.test").is_none());
    }

    #[test]
    fn acme_generated_defaults_are_reported() {
        let mut tls = TlsConfig::default();
        let store = switchyard_config::TlsStore {
            default_generated_cert: Some(switchyard_config::GeneratedCert::default()),
            ..switchyard_config::TlsStore::default()
        };
        tls.stores.insert("default".into(), store);
        let (store, findings) = CertificateStore::build(&tls);
        assert_eq!(findings[0].key_path, "tls.stores.default.defaultGeneratedCert");
        assert!(store.default_is_generated());
    }

    #[test]
    fn configured_default_certificate() {
        let mut tls = TlsConfig::default();
        let (cert, key) = issue(&["fallback.test"]);
        let default = switchyard_config::TlsStore {
            default_certificate: Some(switchyard_config::Certificate::new(cert, key)),
            ..switchyard_config::TlsStore::default()
        };
        tls.stores.insert("default".into(), default);
        let (store, findings) = CertificateStore::build(&tls);
        assert!(findings.is_empty());
        assert!(!store.default_is_generated());
        assert!(
            covered_names(&store.default_certificate().cert[0])
                .unwrap()
                .contains(&"fallback.test".to_owned())
        );
    }
}
