//! The dynamic `tls` section: certificates, options and stores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::TlsDomain;

/// The `tls` section.
///
/// ```
/// use switchyard_config::{Certificate, TlsConfig, TlsOptions};
///
/// let mut tls = TlsConfig::default();
/// tls.certificates.push(Certificate::new("/certs/site.pem", "/certs/site.key").into());
/// tls.options.insert("modern".into(), TlsOptions { min_version: "VersionTLS13".into(), ..TlsOptions::default() });
/// assert_eq!(tls.options["modern"].alpn_protocols, ["h2", "http/1.1", "acme-tls/1"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsConfig {
    /// Certificates, each for the stores it names (the default store when none).
    pub certificates: Vec<CertificateAndStores>,
    /// TLS options by name; routers select them with `tls.options`.
    pub options: BTreeMap<String, TlsOptions>,
    /// Certificate stores by name; `default` holds the default certificate.
    pub stores: BTreeMap<String, TlsStore>,
}

/// A certificate path or inline PEM content, as Traefik accepts for every certificate field.
pub type FileOrContent = String;

/// A certificate and its private key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Certificate {
    /// The certificate chain: a path or inline PEM.
    pub cert_file: FileOrContent,
    /// The private key: a path or inline PEM.
    pub key_file: FileOrContent,
}

impl Certificate {
    /// A certificate from its chain and key (paths or PEM).
    pub fn new(cert_file: impl Into<String>, key_file: impl Into<String>) -> Self {
        Self {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
        }
    }
}

/// An entry of `tls.certificates`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CertificateAndStores {
    /// The certificate chain: a path or inline PEM.
    pub cert_file: FileOrContent,
    /// The private key: a path or inline PEM.
    pub key_file: FileOrContent,
    /// The stores it goes to; empty means `default`.
    pub stores: Vec<String>,
}

impl From<Certificate> for CertificateAndStores {
    fn from(c: Certificate) -> Self {
        Self {
            cert_file: c.cert_file,
            key_file: c.key_file,
            stores: Vec::new(),
        }
    }
}

/// A named set of TLS options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsOptions {
    /// The lowest version accepted: `VersionTLS12` or `VersionTLS13`. Default: `VersionTLS12`.
    pub min_version: String,
    /// The highest version accepted; empty for the highest supported.
    pub max_version: String,
    /// Cipher suites for TLS 1.2, by Go name; empty for the defaults.
    pub cipher_suites: Vec<String>,
    /// Key-exchange groups in preference order (`X25519`, `CurveP256`, ...).
    pub curve_preferences: Vec<String>,
    /// Client certificate authentication.
    pub client_auth: ClientAuth,
    /// Refuse handshakes without SNI or whose SNI matches no certificate.
    pub sni_strict: bool,
    /// Application protocols offered. Default: `h2`, `http/1.1`, `acme-tls/1`.
    pub alpn_protocols: Vec<String>,
    /// Disable TLS session tickets.
    pub disable_session_tickets: bool,
    /// Deprecated in Traefik and without effect; accepted so existing files load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefer_server_cipher_suites: Option<bool>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            min_version: "VersionTLS12".into(),
            max_version: String::new(),
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            client_auth: ClientAuth::default(),
            sni_strict: false,
            alpn_protocols: vec!["h2".into(), "http/1.1".into(), "acme-tls/1".into()],
            disable_session_tickets: false,
            prefer_server_cipher_suites: None,
        }
    }
}

/// `clientAuth`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClientAuth {
    /// Certificate authorities client certificates must chain to (paths or PEM).
    pub ca_files: Vec<FileOrContent>,
    /// `NoClientCert`, `RequestClientCert`, `RequireAnyClientCert`, `VerifyClientCertIfGiven` or
    /// `RequireAndVerifyClientCert`; empty means `NoClientCert`.
    pub client_auth_type: String,
}

/// A certificate store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsStore {
    /// The certificate served when no other matches the SNI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_certificate: Option<Certificate>,
    /// A default certificate obtained from a resolver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_generated_cert: Option<GeneratedCert>,
}

/// `defaultGeneratedCert`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GeneratedCert {
    /// The certificate resolver.
    pub resolver: String,
    /// The domain to obtain it for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<TlsDomain>,
}
