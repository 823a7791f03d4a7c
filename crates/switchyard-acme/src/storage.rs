//! What resolvers keep between runs, in Traefik's `acme.json` format, and the [`Storage`] trait that
//! replicas share it through.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::AcmeError;

/// Everything stored, by resolver name (the top level of `acme.json`).
pub type StoredData = BTreeMap<String, ResolverData>;

/// One resolver's account and certificates.
///
/// Traefik's account (`Account`) holds an RSA key, which ring cannot sign with, and Traefik cannot
/// use switchyard's ECDSA key: so switchyard keeps its account beside Traefik's, as
/// `SwitchyardAccount` in the same shape, and leaves `Account` as it found it. Each reads the other's
/// certificates; each registers its own account once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResolverData {
    /// Traefik's ACME account, kept as read.
    pub account: Option<StoredAccount>,
    /// switchyard's ACME account, once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchyard_account: Option<StoredAccount>,
    /// The certificates obtained.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub certificates: Vec<StoredCertificate>,
}

/// An ACME account as Traefik stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoredAccount {
    /// The contact address.
    pub email: String,
    /// The CA's account object and its URL.
    pub registration: Option<Registration>,
    /// The account key, DER (switchyard writes PKCS#8 ECDSA P-256 keys), base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub private_key: Vec<u8>,
    /// The key type (Traefik v2 wrote it; switchyard writes `EC256`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_type: String,
}

/// An account's registration: the CA's account object and its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The account object as the CA returned it (`status`, `contact`, ...).
    #[serde(default)]
    pub body: serde_json::Value,
    /// The account URL (its id for the CA).
    #[serde(default)]
    pub uri: String,
}

/// A certificate as Traefik stores it: PEM chain and key, base64 in JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCertificate {
    /// The names it was ordered for.
    pub domain: Domain,
    /// The PEM chain.
    #[serde(with = "base64_bytes")]
    pub certificate: Vec<u8>,
    /// The PEM private key.
    #[serde(with = "base64_bytes")]
    pub key: Vec<u8>,
    /// The TLS store (`default`).
    #[serde(rename = "Store", default)]
    pub store: String,
}

/// The names of one certificate: the main domain and the subject alternative names (Traefik's
/// `tls.domains` entries).
///
/// ```
/// use switchyard_acme::Domain;
///
/// let domain = Domain::new("example.com", ["www.example.com", "example.com"]);
/// assert_eq!(domain.names(), ["example.com", "www.example.com"]);
/// assert_eq!(domain.to_string(), "example.com,www.example.com");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Domain {
    /// The main domain.
    #[serde(default)]
    pub main: String,
    /// Other names.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_empty")]
    pub sans: Vec<String>,
}

impl Domain {
    /// A domain set, lower-cased, without repeated names.
    pub fn new<I, S>(main: &str, sans: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let main = main.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut seen = vec![main.clone()];
        let mut others = Vec::new();
        for san in sans {
            let san = san.as_ref().trim().trim_end_matches('.').to_ascii_lowercase();
            if !san.is_empty() && !seen.contains(&san) {
                seen.push(san.clone());
                others.push(san);
            }
        }
        Self { main, sans: others }
    }

    /// Every name, main first.
    pub fn names(&self) -> Vec<String> {
        std::iter::once(self.main.clone())
            .chain(self.sans.iter().cloned())
            .collect()
    }

    /// Whether a name is a wildcard (`*.example.com`), which only DNS-01 can prove.
    pub fn has_wildcard(&self) -> bool {
        self.names().iter().any(|n| n.starts_with("*."))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// Where resolvers keep accounts and certificates, shared by every replica that points at it.
///
/// Reads may happen at any time (writes must be atomic: a reader sees the old or the new data, never
/// half). Writes happen only while holding the lock from [`try_lock`](Self::try_lock), which is also
/// what makes one replica order a certificate while the others wait and then read it. Methods may
/// block (file or network I/O): the resolvers call them off the async threads.
///
/// ```
/// use switchyard_acme::{FileStore, Storage};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = FileStore::new(dir.path().join("acme.json"));
/// assert!(store.load().unwrap().is_empty());
/// let lock = store.try_lock().unwrap().expect("nobody else holds it");
/// assert!(store.try_lock().unwrap().is_none(), "held until dropped");
/// store.save(&Default::default()).unwrap();
/// drop(lock);
/// ```
pub trait Storage: Send + Sync + fmt::Debug + 'static {
    /// Everything stored; empty when nothing was ever written.
    fn load(&self) -> Result<StoredData, AcmeError>;

    /// Replaces everything stored, atomically. Call only while holding the lock.
    fn save(&self, data: &StoredData) -> Result<(), AcmeError>;

    /// The exclusive lock among replicas, if free now; released when the guard drops.
    fn try_lock(&self) -> Result<Option<StorageLock>, AcmeError>;
}

/// A held [`Storage`] lock, released when dropped.
pub struct StorageLock(#[allow(dead_code, reason = "held for its Drop")] Box<dyn Send>);

impl StorageLock {
    /// A lock released when `guard` drops.
    pub fn new(guard: impl Send + 'static) -> Self {
        Self(Box::new(guard))
    }
}

impl fmt::Debug for StorageLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageLock")
    }
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Go's `[]byte` in JSON: standard base64.
mod base64_bytes {
    use super::*;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_traefiks_format() {
        let text = r#"{
  "le": {
    "Account": {
      "Email": "ops@example.com",
      "Registration": {"body": {"status": "valid", "contact": ["mailto:ops@example.com"]}, "uri": "https://ca/acct/1"},
      "PrivateKey": "AQID",
      "KeyType": "4096"
    },
    "Certificates": [
      {"domain": {"main": "a.example.com", "sans": ["b.example.com"]}, "certificate": "Q0VSVA==", "key": "S0VZ", "Store": "default"}
    ]
  },
  "empty": {"Account": null, "Certificates": null}
}"#;
        let data: StoredData = serde_json::from_str(text).unwrap();
        let le = &data["le"];
        assert_eq!(le.account.as_ref().unwrap().private_key, [1, 2, 3]);
        assert_eq!(le.certificates[0].certificate, b"CERT");
        assert_eq!(le.certificates[0].domain.sans, ["b.example.com"]);
        assert!(data["empty"].certificates.is_empty());
        assert!(le.switchyard_account.is_none());
        let written = serde_json::to_value(&data).unwrap();
        assert!(
            written["le"].get("SwitchyardAccount").is_none(),
            "only written when there is one"
        );
        assert_eq!(written["le"]["Certificates"][0]["key"], "S0VZ");
        assert_eq!(written["le"]["Certificates"][0]["Store"], "default");
        assert_eq!(written["le"]["Account"]["Registration"]["uri"], "https://ca/acct/1");
    }
}
