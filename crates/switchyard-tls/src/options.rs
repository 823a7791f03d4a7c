//! Traefik's TLS options (`tls.options.<name>`) as rustls server configurations.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::ring::kx_group;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::{CertificateDer, UnixTime};
use switchyard_config::{ClientAuth, TlsOptions};

use crate::go_names::{cipher_suite, versions};
use crate::store::{CertificateStore, StoreResolver};
use crate::{TlsError, certificates, provider};

/// ALPN protocols switchyard serves; `acme-tls/1` (in Traefik's defaults) is left out because
/// switchyard has no ACME resolver to answer its challenges.
const SERVED_ALPN: [&str; 2] = ["h2", "http/1.1"];

/// Builds the server configuration for one set of TLS options, answering SNI from `store`.
///
/// ```
/// use std::sync::Arc;
/// use switchyard_config::{TlsConfig, TlsOptions};
/// use switchyard_tls::{CertificateStore, server_config};
///
/// let (store, _) = CertificateStore::build(&TlsConfig::default());
/// let options = TlsOptions { min_version: "VersionTLS13".into(), ..TlsOptions::default() };
/// let config = server_config(&options, Arc::new(store)).unwrap();
/// assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
///
/// let wrong = TlsOptions { cipher_suites: vec!["TLS_RSA_WITH_RC4_128_SHA".into()], ..TlsOptions::default() };
/// let error = server_config(&wrong, Arc::new(CertificateStore::build(&TlsConfig::default()).0)).unwrap_err();
/// assert!(error.to_string().starts_with("cipherSuites[0]"));
/// ```
pub fn server_config(options: &TlsOptions, store: Arc<CertificateStore>) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(crypto_provider(&options.cipher_suites, &options.curve_preferences)?);
    let versions = versions(&options.min_version, &options.max_version)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider)).with_protocol_versions(&versions)?;
    let verifier = client_verifier(options, &provider)?;
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(StoreResolver {
            store,
            strict: options.sni_strict,
        }));
    config.alpn_protocols = alpn_protocols(&options.alpn_protocols);
    if options.disable_session_tickets {
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(NoServerSessionStorage {});
    } else {
        config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    }
    Ok(config)
}

/// `alpnProtocols` without `acme-tls/1`, or [`SERVED_ALPN`] when none are configured.
fn alpn_protocols(configured: &[String]) -> Vec<Vec<u8>> {
    if configured.is_empty() {
        return SERVED_ALPN.iter().map(|p| p.as_bytes().to_vec()).collect();
    }
    configured
        .iter()
        .filter(|p| p.as_str() != "acme-tls/1")
        .map(|p| p.as_bytes().to_vec())
        .collect()
}

/// A crypto provider limited to the configured TLS 1.2 cipher suites and ordered key-exchange groups.
///
/// As in Go (and so Traefik), a server's `cipherSuites` govern TLS 1.2 only: TLS 1.3 suites are always
/// on, and naming them is accepted.
pub(crate) fn crypto_provider(suites: &[String], curves: &[String]) -> Result<CryptoProvider, TlsError> {
    let mut provider = (*provider()).clone();
    if !suites.is_empty() {
        provider.cipher_suites = chosen_cipher_suites(&provider.cipher_suites, suites)?;
    }
    if !curves.is_empty() {
        provider.kx_groups = key_exchange_groups(curves)?;
    }
    Ok(provider)
}

/// Every TLS 1.3 suite of `offered`, then the TLS 1.2 suites named in `cipherSuites`, in their order.
fn chosen_cipher_suites(
    offered: &[SupportedCipherSuite],
    suites: &[String],
) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let mut chosen: Vec<SupportedCipherSuite> = offered
        .iter()
        .copied()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .collect();
    for (index, name) in suites.iter().enumerate() {
        let suite = cipher_suite(index, name)?;
        if matches!(suite, SupportedCipherSuite::Tls12(_)) && !chosen.contains(&suite) {
            chosen.push(suite);
        }
    }
    Ok(chosen)
}

/// `curvePreferences` as rustls key-exchange groups, in order, each once.
fn key_exchange_groups(curves: &[String]) -> Result<Vec<&'static dyn SupportedKxGroup>, TlsError> {
    let mut groups = Vec::new();
    for (index, name) in curves.iter().enumerate() {
        let group = key_exchange_group(index, name)?;
        if !groups.iter().any(|g: &&dyn SupportedKxGroup| g.name() == group.name()) {
            groups.push(group);
        }
    }
    Ok(groups)
}

/// The group a `curvePreferences` entry names, by Go's or the IANA name.
fn key_exchange_group(index: usize, name: &str) -> Result<&'static dyn SupportedKxGroup, TlsError> {
    match name {
        "X25519" | "x25519" => Ok(kx_group::X25519),
        "CurveP256" | "secp256r1" | "P256" => Ok(kx_group::SECP256R1),
        "CurveP384" | "secp384r1" | "P384" => Ok(kx_group::SECP384R1),
        other => Err(TlsError::Option {
            option: format!("curvePreferences[{index}]"),
            reason: format!("`{other}` is not offered by rustls; supported: X25519, CurveP256, CurveP384"),
        }),
    }
}

/// `clientAuth` as Go's five modes. As in Traefik, `caFiles` alone means `RequireAndVerifyClientCert`,
/// and the verifying modes need `caFiles`.
fn client_verifier(
    options: &TlsOptions,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let auth = &options.client_auth;
    let roots = client_roots(&auth.ca_files)?;
    let mode = client_auth_mode(auth);
    match mode {
        "NoClientCert" => Ok(WebPkiClientVerifier::no_client_auth()),
        "RequestClientCert" | "RequireAnyClientCert" => Ok(Arc::new(AnyClientCert {
            mandatory: mode == "RequireAnyClientCert",
            provider: Arc::clone(provider),
        })),
        "VerifyClientCertIfGiven" => verified_client_cert(mode, roots, provider, true),
        "RequireAndVerifyClientCert" => verified_client_cert(mode, roots, provider, false),
        other => Err(TlsError::Option {
            option: "clientAuth.clientAuthType".into(),
            reason: format!(
                "unknown client auth type `{other}` (NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ),
        }),
    }
}

/// `clientAuth.clientAuthType`, or Traefik's default for it: `NoClientCert` without `caFiles`,
/// `RequireAndVerifyClientCert` with them.
fn client_auth_mode(auth: &ClientAuth) -> &str {
    match auth.client_auth_type.as_str() {
        "" if auth.ca_files.is_empty() => "NoClientCert",
        "" => "RequireAndVerifyClientCert",
        other => other,
    }
}

/// The CA certificates of `clientAuth.caFiles`, every certificate of every file.
fn client_roots(ca_files: &[String]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for (index, ca) in ca_files.iter().enumerate() {
        let option = || format!("clientAuth.caFiles[{index}]");
        let certs = certificates(ca).map_err(|e| TlsError::Option {
            option: option(),
            reason: e.to_string(),
        })?;
        for cert in certs {
            roots.add(cert).map_err(|e| TlsError::Option {
                option: option(),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }
    }
    Ok(roots)
}

/// A verifier of client certificates against `roots`, which `mode` needs to be non-empty; with
/// `optional`, a client may also send none.
fn verified_client_cert(
    mode: &str,
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
    optional: bool,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    if roots.is_empty() {
        return Err(TlsError::Option {
            option: "clientAuth.clientAuthType".into(),
            reason: format!("`{mode}` needs clientAuth.caFiles"),
        });
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    builder.build().map_err(|e| TlsError::Option {
        option: "clientAuth".into(),
        reason: e.to_string(),
    })
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: asks for a certificate and accepts any, unverified
/// (the handshake signature is still checked, so the client holds the key).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_suites_limit_tls12_only() {
        let provider = crypto_provider(&["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305".into()], &[]).unwrap();
        let tls12: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .collect();
        assert_eq!(tls12.len(), 1);
        assert_eq!(provider.cipher_suites.len(), 4, "three TLS 1.3 suites stay");
        let error = crypto_provider(&["TLS_RSA_WITH_AES_128_CBC_SHA".into()], &[]).unwrap_err();
        let error = error.to_string();
        assert_eq!(
            error.split_once("; supported: ").unwrap().0,
            "cipherSuites[0]: `TLS_RSA_WITH_AES_128_CBC_SHA` is not a cipher suite rustls offers"
        );
    }

    #[test]
    fn curves_in_order() {
        let provider = crypto_provider(&[], &["CurveP384".into(), "X25519".into()]).unwrap();
        let names: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(names, [rustls::NamedGroup::secp384r1, rustls::NamedGroup::X25519]);
        assert_eq!(
            crypto_provider(&[], &["CurveP521".into()]).unwrap_err().to_string(),
            "curvePreferences[0]: `CurveP521` is not offered by rustls; supported: X25519, CurveP256, CurveP384"
        );
    }

    #[test]
    fn client_auth_modes() {
        let store = Arc::new(CertificateStore::build(&switchyard_config::TlsConfig::default()).0);
        let mut options = TlsOptions::default();
        options.client_auth.client_auth_type = "RequireAndVerifyClientCert".into();
        let error = server_config(&options, Arc::clone(&store)).unwrap_err().to_string();
        assert_eq!(
            error,
            "clientAuth.clientAuthType: `RequireAndVerifyClientCert` needs clientAuth.caFiles"
        );
        options.client_auth.client_auth_type = "Sometimes".into();
        assert_eq!(
            server_config(&options, Arc::clone(&store)).unwrap_err().to_string(),
            "clientAuth.clientAuthType: unknown client auth type `Sometimes` (NoClientCert, RequestClientCert, \
             RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
        );
        options.client_auth.client_auth_type = "RequireAnyClientCert".into();
        assert!(server_config(&options, store).is_ok());
    }
}
