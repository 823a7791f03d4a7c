//! `certificatesResolvers`: ACME (RFC 8555) certificate resolvers that routers name with
//! `tls.certResolver`, in Traefik's schema.

use serde::{Deserialize, Serialize};

use crate::Duration;

/// Let's Encrypt's production directory, Traefik's default `caServer`.
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// One entry of `certificatesResolvers`.
///
/// ```
/// use switchyard_config::{Format, StaticConfig, load_str};
///
/// let yaml = "certificatesResolvers:\n  le:\n    acme:\n      email: ops@example.com\n      httpChallenge:\n        entryPoint: web\n";
/// let config = load_str::<StaticConfig>(yaml, Format::Yaml, "traefik.yml").unwrap().value;
/// let acme = config.certificates_resolvers["le"].acme.as_ref().unwrap();
/// assert_eq!(acme.storage, "acme.json");
/// assert_eq!(acme.http_challenge.as_ref().unwrap().entry_point, "web");
/// assert!(config.certificates_resolvers["le"].unsupported("le").is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CertificateResolver {
    /// The ACME resolver (Traefik's `tailscale` resolvers are not provided: unknown key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme: Option<Acme>,
}

/// `certificatesResolvers.<name>.acme`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Acme {
    /// The contact address of the ACME account.
    pub email: String,
    /// The ACME directory URL (default: Let's Encrypt's production directory).
    pub ca_server: String,
    /// Which chain to serve when the CA offers alternates: the one whose topmost certificate's issuer
    /// has this Common Name (the CA's default chain when none has).
    pub preferred_chain: String,
    /// The ACME profile to ask for (not supported: reported).
    pub profile: String,
    /// Email addresses put in the CSR (not supported: reported).
    pub email_addresses: Vec<String>,
    /// Leave the common name out of the CSR (switchyard's CSRs carry no common name, only SANs).
    pub disable_common_name: bool,
    /// Where accounts and certificates are kept: a file in Traefik's `acme.json` format.
    pub storage: String,
    /// The certificates' key type: `EC256` (when empty), `EC384`, `RSA2048`, `RSA3072`, `RSA4096` or
    /// `RSA8192`; another value is reported and replaced by `EC256`.
    pub key_type: String,
    /// External account binding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eab: Option<Eab>,
    /// How long the CA's certificates last, in hours: renewal starts 30 days before expiry, or a third
    /// of this duration before when that is shorter.
    pub certificates_duration: i64,
    /// Timeout of one exchange with the CA.
    pub client_timeout: Duration,
    /// Timeout for the CA's response headers (not supported apart from `clientTimeout`: reported).
    pub client_response_header_timeout: Duration,
    /// How long to wait for the certificate after finalizing the order.
    pub certificate_timeout: Duration,
    /// PEM files of the authorities that sign the CA server's own HTTPS certificate.
    pub ca_certificates: Vec<String>,
    /// Trust the system's roots as well as `caCertificates`.
    pub ca_system_cert_pool: bool,
    /// The server name to verify the CA server's certificate against (not supported: reported).
    pub ca_server_name: String,
    /// DNS-01.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_challenge: Option<DnsChallenge>,
    /// HTTP-01.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_challenge: Option<HttpChallenge>,
    /// TLS-ALPN-01.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_challenge: Option<TlsChallenge>,
    /// A Kubernetes Secret as the storage, instead of the `storage` file (a switchyard extension,
    /// not in Traefik; it needs switchyard's `kubernetes` feature, and is reported without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_secret: Option<KubernetesSecret>,
}

/// `certificatesResolvers.<name>.acme.kubernetesSecret`, a switchyard extension: the Secret replicas
/// share their certificates in (key `acme.json`, a lease in its annotations), and how to reach the
/// API server (as Traefik's Kubernetes providers say it; the pod's service account when `endpoint`
/// is empty).
///
/// ```
/// use switchyard_config::{Format, StaticConfig, load_str};
///
/// let yaml = "certificatesResolvers:\n  le:\n    acme:\n      tlsChallenge: {}\n      kubernetesSecret: {namespace: edge, name: switchyard-acme}\n";
/// let config = load_str::<StaticConfig>(yaml, Format::Yaml, "traefik.yml").unwrap().value;
/// let secret = config.certificates_resolvers["le"].acme.as_ref().unwrap().kubernetes_secret.clone().unwrap();
/// assert_eq!((secret.namespace.as_str(), secret.name.as_str()), ("edge", "switchyard-acme"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KubernetesSecret {
    /// The Secret's namespace.
    pub namespace: String,
    /// The Secret's name (created on the first write).
    pub name: String,
    /// The API server's URL; in the cluster, the pod's service account when empty.
    pub endpoint: String,
    /// The bearer token for `endpoint` (the token itself, or a file holding it).
    pub token: String,
    /// A PEM file of the authority that signs the API server's certificate.
    pub cert_auth_file_path: String,
}

impl Default for Acme {
    fn default() -> Self {
        Self {
            email: String::new(),
            ca_server: LETS_ENCRYPT_DIRECTORY.into(),
            preferred_chain: String::new(),
            profile: String::new(),
            email_addresses: Vec::new(),
            disable_common_name: false,
            storage: "acme.json".into(),
            key_type: String::new(),
            eab: None,
            certificates_duration: 90 * 24,
            client_timeout: Duration::from_secs(120),
            client_response_header_timeout: Duration::from_secs(30),
            certificate_timeout: Duration::from_secs(30),
            ca_certificates: Vec::new(),
            ca_system_cert_pool: false,
            ca_server_name: String::new(),
            dns_challenge: None,
            http_challenge: None,
            tls_challenge: None,
            kubernetes_secret: None,
        }
    }
}

/// `eab`: external account binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Eab {
    /// The key identifier the CA gave.
    pub kid: String,
    /// The HMAC key the CA gave, base64url.
    pub hmac_encoded: String,
}

/// `dnsChallenge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DnsChallenge {
    /// The DNS provider, by lego's name: `httpreq` is built in; others are registered from Rust.
    pub provider: String,
    /// The recursive resolvers the propagation check asks (`ip:port`, or an IP for port 53); the
    /// system's when empty.
    pub resolvers: Vec<String>,
    /// Propagation checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
    /// Deprecated spelling of `propagation.delayBeforeChecks`.
    pub delay_before_check: Duration,
    /// Deprecated spelling of `propagation.disableChecks`.
    pub disable_propagation_check: bool,
}

/// `dnsChallenge.propagation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Propagation {
    /// No propagation checks: the CA is told to validate once `delayBeforeChecks` has passed.
    pub disable_checks: bool,
    /// No checks against authoritative servers (switchyard asks recursive resolvers only, so this
    /// is always so).
    #[serde(rename = "disableANSChecks")]
    pub disable_ans_checks: bool,
    /// The record must be seen by every resolver of `dnsChallenge.resolvers`, not only one.
    #[serde(rename = "requireAllRNS")]
    pub require_all_rns: bool,
    /// How long to wait after the TXT record is set before telling the CA to check.
    pub delay_before_checks: Duration,
}

/// `httpChallenge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpChallenge {
    /// The entrypoint that answers `/.well-known/acme-challenge/` (it must listen on port 80 for real CAs).
    pub entry_point: String,
    /// Wait between setting up the challenge and telling the CA to check.
    pub delay: Duration,
}

/// `tlsChallenge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsChallenge {
    /// Wait between setting up the challenge and telling the CA to check.
    pub delay: Duration,
}

/// The `keyType` values switchyard orders with (empty: `EC256`).
const KEY_TYPES: [&str; 7] = ["", "EC256", "EC384", "RSA2048", "RSA3072", "RSA4096", "RSA8192"];

/// An option of a resolver that is read but has no effect, by key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOption {
    /// `certificatesResolvers.le.acme.preferredChain`.
    pub key_path: String,
    /// Why, and what happens instead.
    pub reason: &'static str,
}

impl CertificateResolver {
    /// The options of this resolver (named `name`) that switchyard reads but does not apply, each with
    /// its key path; the gateway logs them when it starts.
    ///
    /// ```
    /// use switchyard_config::{Acme, CertificateResolver};
    ///
    /// let resolver = CertificateResolver {
    ///     acme: Some(Acme { profile: "shortlived".into(), key_type: "RSA1024".into(), ..Acme::default() }),
    /// };
    /// let paths: Vec<_> = resolver.unsupported("le").into_iter().map(|u| u.key_path).collect();
    /// assert_eq!(paths, ["certificatesResolvers.le.acme.profile", "certificatesResolvers.le.acme.keyType"]);
    /// ```
    pub fn unsupported(&self, name: &str) -> Vec<UnsupportedOption> {
        let Some(acme) = &self.acme else {
            return vec![UnsupportedOption {
                key_path: format!("certificatesResolvers.{name}"),
                reason: "only `acme` resolvers are provided; routers naming this resolver are refused",
            }];
        };
        let defaults = Acme::default();
        let checks = [
            (
                "profile",
                !acme.profile.is_empty(),
                "ACME profiles are not requested: the CA's default profile applies",
            ),
            (
                "emailAddresses",
                !acme.email_addresses.is_empty(),
                "CSRs carry only the domains",
            ),
            (
                "clientResponseHeaderTimeout",
                acme.client_response_header_timeout != defaults.client_response_header_timeout,
                "only clientTimeout bounds exchanges with the CA",
            ),
            (
                "caServerName",
                !acme.ca_server_name.is_empty(),
                "the CA server's certificate is verified against the caServer host",
            ),
        ];
        let mut found: Vec<UnsupportedOption> = checks
            .into_iter()
            .filter(|(_, set, _)| *set)
            .map(|(key, _, reason)| UnsupportedOption {
                key_path: format!("certificatesResolvers.{name}.acme.{key}"),
                reason,
            })
            .collect();
        if !KEY_TYPES.contains(&acme.key_type.as_str()) {
            found.push(UnsupportedOption {
                key_path: format!("certificatesResolvers.{name}.acme.keyType"),
                reason: "unknown key type (EC256, EC384, RSA2048, RSA3072, RSA4096, RSA8192): EC256 keys are used",
            });
        }
        found
    }
}
