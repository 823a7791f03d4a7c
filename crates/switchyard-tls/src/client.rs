//! Client-side TLS: how switchyard connects to HTTPS backends (`serversTransports`) and to
//! authentication servers (`forwardAuth.tls`).
//!
//! A configuration is built once per transport when the configuration is compiled and shared by every
//! connection made with it; the server name is chosen per backend ([`server_name`]).

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WantsClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ConfigBuilder, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedCipherSuite,
};
use switchyard_config::{Certificate, ClientTls, ServersTransport};

use crate::go_names::{cipher_suite, versions};
use crate::{TlsError, certificates, private_key, provider};

/// A client configuration for the backends of a `serversTransport`.
///
/// ALPN offers `h2` then `http/1.1` (only `http/1.1` with `disableHTTP2`); certificates are checked
/// against `rootCAs`, or the system's roots when there are none, unless `insecureSkipVerify`; the first
/// of `certificates` is presented when a backend asks for one. Errors name the offending option.
///
/// ```
/// use switchyard_config::ServersTransport;
///
/// let transport = ServersTransport { insecure_skip_verify: true, disable_http2: true, ..ServersTransport::default() };
/// let config = switchyard_tls::client_config(&transport).unwrap();
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
///
/// let refused = ServersTransport { max_version: "VersionTLS10".into(), ..transport };
/// assert!(switchyard_tls::client_config(&refused).unwrap_err().to_string().starts_with("maxVersion"));
/// ```
pub fn client_config(transport: &ServersTransport) -> Result<Arc<ClientConfig>, TlsError> {
    if transport.spiffe.is_some() {
        return Err(option(
            "spiffe",
            "SPIFFE is not supported: switchyard has no SPIFFE workload API client; use rootCAs and peerCertURI",
        ));
    }
    let roots = transport_roots(&transport.root_cas)?;
    let client_cert = transport_client_cert(transport.certificates.first())?;
    let alpn: &[&[u8]] = if transport.disable_http2 {
        &[b"http/1.1"]
    } else {
        &[b"h2", b"http/1.1"]
    };
    ClientConfigParts {
        roots,
        insecure: transport.insecure_skip_verify,
        peer_uri: (!transport.peer_cert_uri.is_empty()).then(|| transport.peer_cert_uri.clone()),
        client_cert,
        versions: versions(&transport.min_version, &transport.max_version)?,
        cipher_suites: cipher_suites(&transport.cipher_suites)?,
        alpn,
    }
    .build()
}

/// The roots of a `serversTransport`: its `rootCAs`, or the system's when it has none.
fn transport_roots(root_cas: &[String]) -> Result<Roots, TlsError> {
    if root_cas.is_empty() {
        return Ok(Roots::System);
    }
    let mut store = RootCertStore::empty();
    for (index, ca) in root_cas.iter().enumerate() {
        add_roots(&mut store, ca, &format!("rootCAs[{index}]"))?;
    }
    Ok(Roots::Given(Arc::new(store)))
}

/// The first of a `serversTransport`'s `certificates`, loaded; the others are not presented.
fn transport_client_cert(first: Option<&Certificate>) -> Result<Option<ClientCert>, TlsError> {
    let Some(cert) = first else {
        return Ok(None);
    };
    Ok(Some((
        certificates(&cert.cert_file).map_err(|e| nested("certificates[0].certFile", &e))?,
        private_key(&cert.key_file).map_err(|e| nested("certificates[0].keyFile", &e))?,
    )))
}

/// A client configuration for an authentication server (`forwardAuth.tls`), speaking HTTP/1.1.
///
/// `ca` replaces the system's roots; `cert` and `key` go together; `caOptional` has no effect on a
/// client and is ignored, as in Traefik.
///
/// ```
/// use switchyard_config::ClientTls;
///
/// let config = switchyard_tls::auth_client_config(&ClientTls::default()).unwrap();
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// let half = ClientTls { cert: "/certs/client.pem".into(), ..ClientTls::default() };
/// assert!(switchyard_tls::auth_client_config(&half).unwrap_err().to_string().starts_with("key"));
/// ```
pub fn auth_client_config(tls: &ClientTls) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = if tls.ca.is_empty() {
        Roots::System
    } else {
        let mut store = RootCertStore::empty();
        add_roots(&mut store, &tls.ca, "ca")?;
        Roots::Given(Arc::new(store))
    };
    ClientConfigParts {
        roots,
        insecure: tls.insecure_skip_verify,
        peer_uri: None,
        client_cert: auth_client_cert(tls)?,
        versions: rustls::ALL_VERSIONS.to_vec(),
        cipher_suites: None,
        alpn: &[b"http/1.1"],
    }
    .build()
}

/// The certificate and key of `forwardAuth.tls`, which come together or not at all.
fn auth_client_cert(tls: &ClientTls) -> Result<Option<ClientCert>, TlsError> {
    match (tls.cert.is_empty(), tls.key.is_empty()) {
        (true, true) => Ok(None),
        (false, true) => Err(option("key", "a client certificate needs its key")),
        (true, false) => Err(option("cert", "a client key needs its certificate")),
        (false, false) => Ok(Some((
            certificates(&tls.cert).map_err(|e| nested("cert", &e))?,
            private_key(&tls.key).map_err(|e| nested("key", &e))?,
        ))),
    }
}

/// The name a backend at `host` is greeted (SNI) and verified with: the transport's `serverName`, else
/// the host of the backend's URL (an IP address is verified against the certificate's IP SANs).
///
/// ```
/// use switchyard_config::ServersTransport;
///
/// let named = ServersTransport { server_name: "api.internal".into(), ..ServersTransport::default() };
/// assert_eq!(switchyard_tls::server_name(&named, "10.0.0.7").unwrap().to_str(), "api.internal");
/// assert_eq!(switchyard_tls::server_name(&ServersTransport::default(), "10.0.0.7").unwrap().to_str(), "10.0.0.7");
/// ```
pub fn server_name(transport: &ServersTransport, host: &str) -> Result<ServerName<'static>, TlsError> {
    let (name, field) = if transport.server_name.is_empty() {
        (host, "url")
    } else {
        (transport.server_name.as_str(), "serverName")
    };
    ServerName::try_from(name.to_owned()).map_err(|_| option(field, format!("`{name}` is not a valid TLS server name")))
}

/// The parts a client configuration is built from, once each option has been read.
struct ClientConfigParts {
    roots: Roots,
    insecure: bool,
    peer_uri: Option<String>,
    client_cert: Option<ClientCert>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    cipher_suites: Option<Vec<SupportedCipherSuite>>,
    alpn: &'static [&'static [u8]],
}

/// A certificate chain presented to servers that ask, with its key.
type ClientCert = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

enum Roots {
    System,
    Given(Arc<RootCertStore>),
}

impl ClientConfigParts {
    fn build(self) -> Result<Arc<ClientConfig>, TlsError> {
        let provider = provider_with(self.cipher_suites);
        let verifier = BackendVerifier {
            check: chain_check(self.roots, self.insecure, self.peer_uri.is_some(), &provider)?,
            peer_uri: self.peer_uri,
            algorithms: provider.signature_verification_algorithms,
        };
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.versions)
            .map_err(|e| {
                option(
                    "cipherSuites",
                    format!("no cipher suite left for the TLS versions allowed ({e})"),
                )
            })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = with_client_cert(builder, self.client_cert)?;
        config.alpn_protocols = self.alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// The crypto provider, limited to `suites` when some are chosen.
fn provider_with(suites: Option<Vec<SupportedCipherSuite>>) -> Arc<CryptoProvider> {
    let mut provider = Arc::unwrap_or_clone(provider());
    if let Some(suites) = suites {
        provider.cipher_suites = suites;
    }
    Arc::new(provider)
}

/// The configuration presenting `client_cert` to servers that ask, or nothing.
fn with_client_cert(
    builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    client_cert: Option<ClientCert>,
) -> Result<ClientConfig, TlsError> {
    match client_cert {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| option("certificates[0]", e.to_string())),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// How a backend's chain is checked, given the roots configured, `insecureSkipVerify` and whether a
/// `peerCertURI` is required.
fn chain_check(
    roots: Roots,
    insecure: bool,
    peer_uri: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Check, TlsError> {
    // As Traefik, `peerCertURI` keeps the chain check even with `insecureSkipVerify` (the name is
    // what is skipped then).
    let roots = match roots {
        _ if insecure && !peer_uri => None,
        Roots::Given(roots) => Some(roots),
        Roots::System => system_roots(),
    };
    match roots {
        None if insecure && !peer_uri => Ok(Check::Nothing),
        None => Ok(Check::NoRoots),
        Some(roots) => Ok(Check::Chain {
            webpki: webpki(roots, provider)?,
            name: !insecure,
        }),
    }
}

fn webpki(roots: Arc<RootCertStore>, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(provider))
        .build()
        .map_err(|e| option("rootCAs", e.to_string()))
}

/// The system's trusted roots, read once per process; `None` when it has none.
fn system_roots() -> Option<Arc<RootCertStore>> {
    static ROOTS: OnceLock<Option<Arc<RootCertStore>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(target: "switchyard::tls", %error, "reading the system's root certificates");
            }
            let mut store = RootCertStore::empty();
            let (added, ignored) = store.add_parsable_certificates(found.certs);
            tracing::debug!(target: "switchyard::tls", added, ignored, "system root certificates loaded");
            (!store.is_empty()).then(|| Arc::new(store))
        })
        .clone()
}

fn add_roots(store: &mut RootCertStore, value: &str, field: &str) -> Result<(), TlsError> {
    for cert in certificates(value).map_err(|e| nested(field, &e))? {
        store
            .add(cert)
            .map_err(|e| option(field, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(())
}

/// The suites named in `cipherSuites`, in the given order; `None` for the defaults. As in Go, the list
/// chooses the TLS 1.2 suites; TLS 1.3 suites stay all enabled unless some are named.
fn cipher_suites(names: &[String]) -> Result<Option<Vec<SupportedCipherSuite>>, TlsError> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut chosen = Vec::with_capacity(names.len() + 3);
    for (index, name) in names.iter().enumerate() {
        let suite = &cipher_suite(index, name)?;
        if !chosen.contains(suite) {
            chosen.push(*suite);
        }
    }
    if !chosen.iter().any(|s| matches!(s, SupportedCipherSuite::Tls13(_))) {
        chosen.extend(
            rustls::crypto::ring::DEFAULT_CIPHER_SUITES
                .iter()
                .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_))),
        );
    }
    Ok(Some(chosen))
}

fn option(field: impl Into<String>, reason: impl Into<String>) -> TlsError {
    TlsError::Option {
        option: field.into(),
        reason: reason.into(),
    }
}

/// An error of a certificate field, under the field's name.
fn nested(field: &str, error: &TlsError) -> TlsError {
    option(field, error.to_string())
}

/// How a backend's certificate chain is checked.
#[derive(Debug)]
enum Check {
    /// Against trusted roots, with the server name unless `name` is false.
    Chain {
        webpki: Arc<WebPkiServerVerifier>,
        name: bool,
    },
    /// Not at all (`insecureSkipVerify`).
    Nothing,
    /// No roots to check against: every certificate is refused.
    NoRoots,
}

impl Check {
    /// Checks the chain of a backend's certificate as configured.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        match self {
            Check::Chain { webpki, name } => {
                match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
                    Ok(_) => Ok(()),
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                    )) if !name => Ok(()),
                    Err(error) => Err(error),
                }
            }
            Check::Nothing => Ok(()),
            Check::NoRoots => {
                tracing::warn!(target: "switchyard::tls", "no trusted roots: the system has none and rootCAs is empty");
                Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
            }
        }
    }
}

/// Checks a backend's certificate (chain, then `peerCertURI`), and always its handshake signatures.
#[derive(Debug)]
struct BackendVerifier {
    check: Check,
    peer_uri: Option<String>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// Why a backend's certificate was refused after its chain was accepted.
#[derive(thiserror::Error)]
#[error("the backend's certificate has no URI SAN `{0}` (peerCertURI)")]
struct PeerUriMismatch(String);

/// rustls shows a certificate error of its own kind with `Debug`: make that the message.
impl std::fmt::Debug for PeerUriMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl ServerCertVerifier for BackendVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check
            .verify(end_entity, intermediates, server_name, ocsp_response, now)?;
        if let Some(uri) = &self.peer_uri {
            if !has_uri_san(end_entity, uri) {
                let error = rustls::OtherError(Arc::new(PeerUriMismatch(uri.clone())));
                return Err(rustls::Error::InvalidCertificate(CertificateError::Other(error)));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether the certificate lists `uri` among its URI subject alternative names.
fn has_uri_san(cert: &CertificateDer<'_>, uri: &str) -> bool {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let Ok((_, parsed)) = X509Certificate::from_der(cert.as_ref()) else {
        return false;
    };
    let Ok(Some(san)) = parsed.subject_alternative_name() else {
        return false;
    };
    san.value
        .general_names
        .iter()
        .any(|name| matches!(name, GeneralName::URI(found) if *found == uri))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::Certificate;

    fn error(transport: &ServersTransport) -> String {
        client_config(transport).unwrap_err().to_string()
    }

    fn self_signed(san: rcgen::SanType) -> (String, String, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["backend.test".to_owned()]).unwrap();
        params.subject_alt_names.push(san);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }

    #[test]
    fn versions_map_to_rustls() {
        let transport = |min: &str, max: &str| ServersTransport {
            min_version: min.into(),
            max_version: max.into(),
            insecure_skip_verify: true,
            ..ServersTransport::default()
        };
        assert!(
            client_config(&transport("VersionTLS11", "")).is_ok(),
            "older minimums meet at TLS 1.2"
        );
        assert_eq!(
            error(&transport("", "VersionTLS10")),
            "maxVersion: `VersionTLS10` is not available: rustls speaks TLS 1.2 and 1.3 only"
        );
        assert_eq!(
            error(&transport("TLS13", "")),
            "minVersion: `TLS13` is not a TLS version; use VersionTLS12 or VersionTLS13"
        );
        assert_eq!(
            error(&transport("VersionTLS13", "VersionTLS12")),
            "minVersion: `VersionTLS13` is above maxVersion `VersionTLS12`"
        );
    }

    #[test]
    fn cipher_suites_map_go_names() {
        let suites = cipher_suites(&["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305".into()])
            .unwrap()
            .unwrap();
        assert_eq!(
            suites[0].suite(),
            rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        );
        // TLS 1.3 suites stay when only TLS 1.2 ones are named, as in Go.
        assert_eq!(suites.len(), 4);
        let only13 = cipher_suites(&["TLS_AES_128_GCM_SHA256".into()]).unwrap().unwrap();
        assert_eq!(only13.len(), 1);
        let transport = ServersTransport {
            cipher_suites: vec![
                "TLS_AES_128_GCM_SHA256".into(),
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
            ],
            insecure_skip_verify: true,
            ..ServersTransport::default()
        };
        let message = error(&transport);
        assert!(
            message.starts_with("cipherSuites[2]: `TLS_RSA_WITH_AES_128_CBC_SHA`"),
            "{message}"
        );
        assert!(message.contains("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"), "{message}");
        // Only TLS 1.3 suites named with TLS 1.2 only leaves nothing to speak.
        let empty = ServersTransport {
            cipher_suites: vec!["TLS_AES_128_GCM_SHA256".into()],
            max_version: "VersionTLS12".into(),
            insecure_skip_verify: true,
            ..ServersTransport::default()
        };
        assert_eq!(
            error(&empty),
            "cipherSuites: no cipher suite left for the TLS versions allowed (unexpected error: no usable \
             cipher suites configured)"
        );
    }

    #[test]
    fn options_are_named_in_errors() {
        let spiffe = ServersTransport {
            spiffe: Some(switchyard_config::Spiffe::default()),
            ..ServersTransport::default()
        };
        assert_eq!(
            error(&spiffe),
            "spiffe: SPIFFE is not supported: switchyard has no SPIFFE workload API client; use rootCAs and \
             peerCertURI"
        );
        let (cert, key, _) = self_signed(rcgen::SanType::DnsName("x.test".try_into().unwrap()));
        let roots = ServersTransport {
            root_cas: vec![cert.clone(), "/nonexistent/ca.pem".into()],
            ..ServersTransport::default()
        };
        assert_eq!(
            error(&roots),
            format!(
                "rootCAs[1]: cannot read `/nonexistent/ca.pem`: {}",
                std::io::Error::from_raw_os_error(2)
            )
        );
        let client = ServersTransport {
            certificates: vec![Certificate::new(cert.clone(), cert.clone())],
            ..ServersTransport::default()
        };
        assert_eq!(
            error(&client),
            "certificates[0].keyFile: inline PEM: no usable private key (no items found)"
        );
        let good = ServersTransport {
            root_cas: vec![cert.clone()],
            certificates: vec![Certificate::new(cert, key)],
            ..ServersTransport::default()
        };
        let config = client_config(&good).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        let bad_name = ServersTransport {
            server_name: "not a name".into(),
            ..ServersTransport::default()
        };
        assert!(
            server_name(&bad_name, "x")
                .unwrap_err()
                .to_string()
                .starts_with("serverName")
        );
    }

    #[test]
    fn peer_uri_is_checked_after_the_chain() {
        let uri = "spiffe://cluster.local/ns/a/sa/b";
        let (_, _, der) = self_signed(rcgen::SanType::URI(uri.try_into().unwrap()));
        assert!(has_uri_san(&der, uri));
        assert!(!has_uri_san(&der, "spiffe://cluster.local/ns/a/sa/c"));
        let verifier = |peer_uri: &str| BackendVerifier {
            check: Check::Nothing,
            peer_uri: Some(peer_uri.to_owned()),
            algorithms: provider().signature_verification_algorithms,
        };
        let name = ServerName::try_from("backend.test").unwrap();
        let now = UnixTime::now();
        assert!(verifier(uri).verify_server_cert(&der, &[], &name, &[], now).is_ok());
        let refused = verifier("spiffe://other").verify_server_cert(&der, &[], &name, &[], now);
        assert_eq!(
            refused.unwrap_err().to_string(),
            "invalid peer certificate: Other(OtherError(the backend's certificate has no URI SAN \
             `spiffe://other` (peerCertURI)))"
        );
        let no_roots = BackendVerifier {
            check: Check::NoRoots,
            peer_uri: None,
            algorithms: provider().signature_verification_algorithms,
        };
        assert_eq!(
            no_roots.verify_server_cert(&der, &[], &name, &[], now).err(),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        );
    }

    #[test]
    fn auth_client_tls_pairs_cert_and_key() {
        let (cert, key, _) = self_signed(rcgen::SanType::DnsName("x.test".try_into().unwrap()));
        let tls = ClientTls {
            ca: cert.clone(),
            cert: cert.clone(),
            key,
            ..ClientTls::default()
        };
        assert!(auth_client_config(&tls).unwrap().client_auth_cert_resolver.has_certs());
        let lone_key = ClientTls {
            key: tls.key.clone(),
            ..ClientTls::default()
        };
        assert_eq!(
            auth_client_config(&lone_key).unwrap_err().to_string(),
            "cert: a client key needs its certificate"
        );
        let bad_ca = ClientTls {
            ca: "/nonexistent/ca.pem".into(),
            ..ClientTls::default()
        };
        assert_eq!(
            auth_client_config(&bad_ca).unwrap_err().to_string(),
            format!(
                "ca: cannot read `/nonexistent/ca.pem`: {}",
                std::io::Error::from_raw_os_error(2)
            )
        );
    }
}
