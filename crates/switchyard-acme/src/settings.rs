//! A resolver's static configuration turned into what ordering needs, with the problems reported by
//! key path.

use std::time::Duration;

use base64::Engine;
use switchyard_config::Acme;

use crate::AcmeError;
use crate::propagation::PropagationCheck;

/// Renewal starts this long before expiry at most (Let's Encrypt's advice for 90-day certificates).
const RENEW_BEFORE_MAX: Duration = Duration::from_secs(30 * 24 * 3600);

/// The key type of ordered certificates (`keyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Ec256,
    Ec384,
    /// An RSA key of this many bits.
    Rsa(usize),
}

impl KeyKind {
    /// Traefik's names: `EC256`, `EC384`, `RSA2048`, `RSA3072`, `RSA4096`, `RSA8192`; anything else
    /// (reported by the configuration) is `EC256`.
    pub(crate) fn from_traefik(name: &str) -> Self {
        match name {
            "EC384" => Self::Ec384,
            "RSA2048" => Self::Rsa(2048),
            "RSA3072" => Self::Rsa(3072),
            "RSA4096" => Self::Rsa(4096),
            "RSA8192" => Self::Rsa(8192),
            _ => Self::Ec256,
        }
    }

    /// A new key of this kind for a certificate's CSR. RSA keys come from the `rsa` crate (ring
    /// signs with RSA keys but does not make them); this takes a while, so run it off the runtime.
    pub(crate) fn generate(self) -> Result<rcgen::KeyPair, AcmeError> {
        let failed = |e: &dyn std::fmt::Display| AcmeError::Certificate(format!("generating the {self:?} key: {e}"));
        match self {
            Self::Ec256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| failed(&e)),
            Self::Ec384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(|e| failed(&e)),
            Self::Rsa(bits) => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| failed(&e))?;
                let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
                let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes());
                rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).map_err(|e| failed(&e))
            }
        }
    }
}

/// How a resolver proves control of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChallengeKind {
    Http01 {
        entry_point: String,
        delay: Duration,
    },
    TlsAlpn01 {
        delay: Duration,
    },
    Dns01 {
        provider: String,
        delay: Duration,
        /// `None` with `propagation.disableChecks` (or `disablePropagationCheck`).
        propagation: Option<PropagationCheck>,
    },
}

impl ChallengeKind {
    pub(crate) fn delay(&self) -> Duration {
        match self {
            Self::Http01 { delay, .. } | Self::TlsAlpn01 { delay } | Self::Dns01 { delay, .. } => *delay,
        }
    }
}

/// One resolver, ready to order.
#[derive(Debug)]
pub(crate) struct ResolverSettings {
    pub(crate) directory: String,
    pub(crate) email: String,
    pub(crate) eab: Option<(String, Vec<u8>)>,
    pub(crate) key: KeyKind,
    /// `preferredChain`: the Common Name of the issuer the served chain should lead to.
    pub(crate) preferred_chain: String,
    pub(crate) renew_before: Duration,
    pub(crate) challenge: ChallengeKind,
    pub(crate) storage: String,
    pub(crate) roots: rustls::RootCertStore,
    pub(crate) timeout: Duration,
    pub(crate) certificate_timeout: Duration,
}

impl ResolverSettings {
    pub(crate) fn new(name: &str, acme: &Acme) -> Result<Self, AcmeError> {
        let key_path = format!("certificatesResolvers.{name}.acme");
        let config = |key: &str, reason: String| AcmeError::Config {
            key_path: format!("{key_path}.{key}"),
            reason,
        };
        if acme.ca_server.parse::<http::Uri>().is_err() {
            return Err(config("caServer", format!("`{}` is not a URL", acme.ca_server)));
        }
        let eab = match &acme.eab {
            Some(eab) if !eab.kid.is_empty() || !eab.hmac_encoded.is_empty() => {
                let hmac = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(eab.hmac_encoded.trim_end_matches('=').as_bytes())
                    .map_err(|e| config("eab.hmacEncoded", format!("not base64url: {e}")))?;
                Some((eab.kid.clone(), hmac))
            }
            _ => None,
        };
        let hours = u64::try_from(acme.certificates_duration)
            .ok()
            .filter(|h| *h > 0)
            .ok_or_else(|| config("certificatesDuration", "must be a positive number of hours".into()))?;
        let renew_before = RENEW_BEFORE_MAX.min(Duration::from_secs(hours * 3600 / 3));
        let std = |d: switchyard_config::Duration| d.to_std().unwrap_or_default();
        let challenge = if let Some(dns) = &acme.dns_challenge {
            if dns.provider.is_empty() {
                return Err(config("dnsChallenge.provider", "a DNS provider is required".into()));
            }
            let propagation = dns.propagation.clone().unwrap_or_default();
            let delay = std(propagation.delay_before_checks).max(std(dns.delay_before_check));
            let check = PropagationCheck::new(&dns.resolvers, propagation.require_all_rns)
                .map_err(|(i, reason)| config(&format!("dnsChallenge.resolvers[{i}]"), reason))?;
            let disabled = propagation.disable_checks || dns.disable_propagation_check;
            ChallengeKind::Dns01 {
                provider: dns.provider.clone(),
                delay,
                propagation: (!disabled).then_some(check),
            }
        } else if let Some(http) = &acme.http_challenge {
            if http.entry_point.is_empty() {
                return Err(config("httpChallenge.entryPoint", "an entrypoint is required".into()));
            }
            ChallengeKind::Http01 {
                entry_point: http.entry_point.clone(),
                delay: std(http.delay),
            }
        } else if let Some(tls) = &acme.tls_challenge {
            ChallengeKind::TlsAlpn01 { delay: std(tls.delay) }
        } else {
            return Err(AcmeError::Config {
                key_path,
                reason: "no challenge configured (httpChallenge, tlsChallenge or dnsChallenge)".into(),
            });
        };
        let roots = crate::client::ca_roots(&acme.ca_certificates, acme.ca_system_cert_pool, &key_path)?;
        Ok(Self {
            directory: acme.ca_server.clone(),
            email: acme.email.clone(),
            eab,
            key: KeyKind::from_traefik(&acme.key_type),
            preferred_chain: acme.preferred_chain.clone(),
            renew_before,
            challenge,
            storage: acme.storage.clone(),
            roots,
            timeout: std(acme.client_timeout).max(Duration::from_secs(1)),
            certificate_timeout: std(acme.certificate_timeout).max(Duration::from_secs(5)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::{HttpChallenge, TlsChallenge};

    #[test]
    fn renewal_starts_thirty_days_before_or_a_third_of_short_durations() {
        let acme = Acme {
            tls_challenge: Some(TlsChallenge::default()),
            ..Acme::default()
        };
        let settings = ResolverSettings::new("le", &acme).unwrap();
        assert_eq!(settings.renew_before, RENEW_BEFORE_MAX);
        let short = Acme {
            certificates_duration: 24,
            ..acme
        };
        assert_eq!(
            ResolverSettings::new("le", &short).unwrap().renew_before,
            Duration::from_secs(8 * 3600)
        );
    }

    #[test]
    fn rsa_key_types_make_rsa_keys_of_their_size() {
        use rcgen::PublicKeyData;
        use x509_parser::prelude::FromDer;
        use x509_parser::public_key::PublicKey;
        let key = KeyKind::from_traefik("RSA2048").generate().unwrap();
        assert!(key.is_compatible(&rcgen::PKCS_RSA_SHA256));
        let der = key.subject_public_key_info();
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).unwrap();
        match spki.parsed().unwrap() {
            PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
            other => panic!("not RSA: {other:?}"),
        }
        assert_eq!(KeyKind::from_traefik("EC384"), KeyKind::Ec384);
        assert_eq!(KeyKind::from_traefik(""), KeyKind::Ec256);
        assert!(
            KeyKind::Ec384
                .generate()
                .unwrap()
                .is_compatible(&rcgen::PKCS_ECDSA_P384_SHA384)
        );
    }

    #[test]
    fn missing_pieces_are_named_by_key_path() {
        let none = ResolverSettings::new("le", &Acme::default()).unwrap_err();
        assert!(
            none.to_string()
                .starts_with("certificatesResolvers.le.acme: no challenge"),
            "{none}"
        );
        let http = Acme {
            http_challenge: Some(HttpChallenge::default()),
            ..Acme::default()
        };
        let error = ResolverSettings::new("le", &http).unwrap_err().to_string();
        assert!(
            error.starts_with("certificatesResolvers.le.acme.httpChallenge.entryPoint"),
            "{error}"
        );
    }
}
