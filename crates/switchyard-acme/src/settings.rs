//! A resolver's static configuration turned into what ordering needs, with the problems reported by
//! key path.

use std::time::Duration;

use base64::Engine;
use switchyard_config::Acme;

use crate::AcmeError;

/// Renewal starts this long before expiry at most (Let's Encrypt's advice for 90-day certificates).
const RENEW_BEFORE_MAX: Duration = Duration::from_secs(30 * 24 * 3600);

/// The key type of ordered certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Ec256,
    Ec384,
}

impl KeyKind {
    pub(crate) fn algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::Ec256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::Ec384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

/// How a resolver proves control of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChallengeKind {
    Http01 { entry_point: String, delay: Duration },
    TlsAlpn01 { delay: Duration },
    Dns01 { provider: String, delay: Duration },
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
            ChallengeKind::Dns01 {
                provider: dns.provider.clone(),
                delay,
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
            key: if acme.key_type == "EC384" {
                KeyKind::Ec384
            } else {
                KeyKind::Ec256
            },
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
