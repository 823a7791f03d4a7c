//! Certificates obtained at run time (ACME) and the TLS-ALPN-01 challenge certificates, which the SNI
//! resolver reads on every handshake without waiting for a new snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::sign::CertifiedKey;

use crate::store::{covered_names, with_certificate};
use crate::{HostMap, TlsError, certificates, private_key, provider};

/// The ALPN protocol of TLS-ALPN-01 challenges (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Issued certificates by id, with the names each serves.
type ById = BTreeMap<String, (Vec<String>, Arc<CertifiedKey>)>;

/// Certificates issued while the gateway runs, by the names they cover, shared by every snapshot: a
/// certificate set here serves from the next handshake. Names configured in `tls.certificates` win
/// over these; these win over the default certificate.
///
/// It also holds the certificates that answer TLS-ALPN-01 challenges (handshakes offering only
/// `acme-tls/1`).
///
/// ```
/// use switchyard_tls::IssuedCertificates;
///
/// let key = rcgen::KeyPair::generate().unwrap();
/// let cert = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap().self_signed(&key).unwrap();
/// let issued = IssuedCertificates::default();
/// let names = issued.insert_pem("a.test", &cert.pem(), &key.serialize_pem()).unwrap();
/// assert_eq!(names[0], "a.test");
/// assert!(issued.find("A.test").is_some());
/// issued.remove("a.test");
/// assert!(issued.find("a.test").is_none());
/// ```
#[derive(Debug, Default)]
pub struct IssuedCertificates {
    names: ArcSwap<HostMap<Arc<CertifiedKey>>>,
    challenges: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
    /// Every certificate by its id (its domain set), in the order ids sort; rebuilt into `names`.
    by_id: Mutex<ById>,
}

impl IssuedCertificates {
    /// Serves `key` for `names` under `id`, replacing what `id` served before.
    pub fn insert(&self, id: &str, names: Vec<String>, key: Arc<CertifiedKey>) {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        by_id.insert(id.to_owned(), (names, key));
        self.publish(&by_id);
    }

    /// Serves a PEM chain and key under `id`, for the names the leaf covers; returns them.
    pub fn insert_pem(&self, id: &str, chain_pem: &str, key_pem: &str) -> Result<Vec<String>, TlsError> {
        let (key, names) = certified_key(chain_pem, key_pem)?;
        self.insert(id, names.clone(), Arc::new(key));
        Ok(names)
    }

    /// Stops serving what `id` served.
    pub fn remove(&self, id: &str) {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        if by_id.remove(id).is_some() {
            self.publish(&by_id);
        }
    }

    /// The issued certificate covering `server_name`, exactly or by wildcard.
    pub fn find(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        self.names.load().get(server_name).cloned()
    }

    /// Answers TLS-ALPN-01 handshakes for `name` with `key` (a certificate carrying the
    /// `acmeIdentifier` extension).
    pub fn set_challenge(&self, name: &str, key: Arc<CertifiedKey>) {
        self.challenges.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(name.to_ascii_lowercase(), Arc::clone(&key));
            next
        });
    }

    /// Stops answering TLS-ALPN-01 handshakes for `name`.
    pub fn clear_challenge(&self, name: &str) {
        self.challenges.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.remove(&name.to_ascii_lowercase());
            next
        });
    }

    /// A server configuration answering a TLS-ALPN-01 challenge for `server_name`, if one is pending.
    pub fn challenge_config(&self, server_name: &str) -> Option<Arc<ServerConfig>> {
        let challenges = self.challenges.load();
        if challenges.is_empty() {
            return None;
        }
        let key = challenges.get(&server_name.trim_end_matches('.').to_ascii_lowercase())?;
        let base = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .ok()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new()));
        let mut config = Arc::unwrap_or_clone(with_certificate(&base, Arc::clone(key)));
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        Some(Arc::new(config))
    }

    fn publish(&self, by_id: &ById) {
        let mut map = HostMap::default();
        for (names, key) in by_id.values() {
            for name in names {
                map.insert(name, Arc::clone(key));
            }
        }
        self.names.store(Arc::new(map));
    }
}

/// A PEM chain and its key, checked to belong together, with the names the leaf covers.
fn certified_key(chain_pem: &str, key_pem: &str) -> Result<(CertifiedKey, Vec<String>), TlsError> {
    let chain = certificates(chain_pem)?;
    let key = private_key(key_pem)?;
    let names = covered_names(chain[0].as_ref()).map_err(|reason| TlsError::Pem {
        origin: "issued certificate".into(),
        reason,
    })?;
    Ok((CertifiedKey::from_der(chain, key, &provider())?, names))
}
