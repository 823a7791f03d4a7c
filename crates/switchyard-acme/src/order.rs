//! One ACME order: prove every name with the resolver's challenge, finalize with a fresh key, fetch
//! the chain; challenges are cleaned up whatever happens.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::PrivateKeyDer;
use switchyard_tls::IssuedCertificates;

use crate::chains::{AccountSigner, top_issuer};
use crate::client::AcmeHttp;
use crate::settings::{ChallengeKind, ResolverSettings};
use crate::{AcmeError, DnsProvider, Domain, Http01Tokens};

/// What answers challenges while an order runs.
pub(crate) struct Solvers<'a> {
    pub(crate) http01: &'a Http01Tokens,
    pub(crate) issued: &'a IssuedCertificates,
    pub(crate) dns: Option<Arc<dyn DnsProvider>>,
    /// How long a DNS-01 record may take to be seen by the propagation check.
    pub(crate) propagation_timeout: Duration,
}

/// A challenge set up for an order, to undo.
enum Cleanup {
    Http01(String),
    TlsAlpn01(String),
    Dns01 { fqdn: String, value: String },
}

/// What fetches the alternate chains of a certificate (`preferredChain`): the resolver's HTTP
/// client and its account's key.
pub(crate) struct Chains<'a> {
    pub(crate) http: &'a AcmeHttp,
    /// The account's PKCS#8 key.
    pub(crate) key: &'a [u8],
}

/// The PEM chain and PEM key of a certificate just issued.
pub(crate) struct Issued {
    pub(crate) chain: String,
    pub(crate) key: String,
}

pub(crate) async fn obtain(
    account: &Account,
    domain: &Domain,
    settings: &ResolverSettings,
    solvers: &Solvers<'_>,
    chains: &Chains<'_>,
) -> Result<Issued, AcmeError> {
    let identifiers: Vec<Identifier> = domain.names().into_iter().map(Identifier::Dns).collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut cleanups = Vec::new();
    let proved = prove(&mut order, settings, solvers, &mut cleanups).await;
    let finished = match proved {
        Ok(()) => finish(&mut order, domain, settings, chains, account.id()).await,
        Err(error) => Err(error),
    };
    for cleanup in cleanups {
        undo(cleanup, solvers).await;
    }
    finished
}

async fn prove(
    order: &mut Order,
    settings: &ResolverSettings,
    solvers: &Solvers<'_>,
    cleanups: &mut Vec<Cleanup>,
) -> Result<(), AcmeError> {
    let mut authorizations = order.authorizations();
    while let Some(result) = authorizations.next().await {
        let mut authorization = result?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(AcmeError::Protocol(format!("authorization is {other:?}"))),
        }
        let wildcard = authorization.wildcard;
        let kind = match &settings.challenge {
            ChallengeKind::Http01 { .. } => ChallengeType::Http01,
            ChallengeKind::TlsAlpn01 { .. } => ChallengeType::TlsAlpn01,
            ChallengeKind::Dns01 { .. } => ChallengeType::Dns01,
        };
        let name = match authorization.identifier().identifier {
            Identifier::Dns(name) => name.clone(),
            other => return Err(AcmeError::Protocol(format!("unexpected identifier {other:?}"))),
        };
        if wildcard && kind != ChallengeType::Dns01 {
            return Err(AcmeError::Challenge {
                challenge: challenge_name(&kind),
                domain: format!("*.{name}"),
                reason: "wildcard names can only be proved with dnsChallenge".into(),
            });
        }
        let mut challenge = authorization
            .challenge(kind.clone())
            .ok_or_else(|| AcmeError::Challenge {
                challenge: challenge_name(&kind),
                domain: name.clone(),
                reason: "the CA does not offer this challenge".into(),
            })?;
        let key_authorization = challenge.key_authorization();
        let mut record = None;
        match kind {
            ChallengeType::Http01 => {
                solvers.http01.insert(&challenge.token, key_authorization.as_str());
                cleanups.push(Cleanup::Http01(challenge.token.clone()));
            }
            ChallengeType::TlsAlpn01 => {
                let key = alpn_certificate(&name, key_authorization.digest().as_ref())?;
                solvers.issued.set_challenge(&name, Arc::new(key));
                cleanups.push(Cleanup::TlsAlpn01(name.clone()));
            }
            _ => {
                let provider = solvers.dns.as_ref().ok_or_else(|| AcmeError::Challenge {
                    challenge: "dns-01",
                    domain: name.clone(),
                    reason: "no DNS provider".into(),
                })?;
                let fqdn = format!("_acme-challenge.{name}.");
                let value = key_authorization.dns_value();
                provider.present(&fqdn, &value).await?;
                record = Some((fqdn.clone(), value.clone()));
                cleanups.push(Cleanup::Dns01 { fqdn, value });
            }
        }
        let delay = settings.challenge.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let (
            ChallengeKind::Dns01 {
                propagation: Some(check),
                ..
            },
            Some((fqdn, value)),
        ) = (&settings.challenge, &record)
        {
            let timeout = solvers.propagation_timeout;
            let interval = (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
            check.wait(fqdn, value, timeout, interval).await?;
        }
        challenge.set_ready().await?;
    }
    Ok(())
}

async fn finish(
    order: &mut Order,
    domain: &Domain,
    settings: &ResolverSettings,
    chains: &Chains<'_>,
    account: &str,
) -> Result<Issued, AcmeError> {
    let polling = RetryPolicy::new()
        .initial_delay(Duration::from_millis(200))
        .backoff(1.5)
        .timeout(settings.timeout);
    let status = order.poll_ready(&polling).await?;
    if status != OrderStatus::Ready {
        return Err(invalid_order(order).await);
    }
    let kind = settings.key;
    let key = tokio::task::spawn_blocking(move || kind.generate())
        .await
        .map_err(|e| AcmeError::Certificate(format!("generating the key failed: {e}")))??;
    let mut params = rcgen::CertificateParams::new(domain.names()).map_err(certificate)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).map_err(certificate)?;
    order.finalize_csr(csr.der()).await?;
    let chain = order
        .poll_certificate(&polling.timeout(settings.certificate_timeout))
        .await?;
    let url = order.state().certificate.clone().unwrap_or_default();
    let alternates = chains.http.take_alternates(&url);
    let chain = preferred_chain(chain, alternates, settings, chains, account).await;
    Ok(Issued {
        chain,
        key: key.serialize_pem(),
    })
}

/// The chain whose topmost issuer has the Common Name `preferredChain` (as lego chooses), among the
/// default one and the alternates the CA named; the default one when none has it, or when an
/// alternate cannot be fetched.
async fn preferred_chain(
    default: String,
    alternates: Vec<String>,
    settings: &ResolverSettings,
    chains: &Chains<'_>,
    account: &str,
) -> String {
    let preferred = settings.preferred_chain.as_str();
    if preferred.is_empty() || alternates.is_empty() || top_issuer(&default).as_deref() == Some(preferred) {
        return default;
    }
    let signer = match AccountSigner::new(chains.key, account, &settings.directory) {
        Ok(signer) => signer,
        Err(error) => {
            tracing::warn!(target: "switchyard::acme", %error, "the alternate chains cannot be fetched; the default chain serves");
            return default;
        }
    };
    for url in alternates {
        match signer.fetch(chains.http, &url).await {
            Ok(body) => {
                let chain = String::from_utf8_lossy(&body).into_owned();
                if top_issuer(&chain).as_deref() == Some(preferred) {
                    tracing::info!(target: "switchyard::acme", %url, preferred, "serving the preferred alternate chain");
                    return chain;
                }
            }
            Err(error) => {
                tracing::warn!(target: "switchyard::acme", %url, %error, "an alternate chain cannot be fetched");
            }
        }
    }
    tracing::info!(target: "switchyard::acme", preferred, "no chain leads to the preferred issuer; the default chain serves");
    default
}

/// The problem of the first failed challenge of an invalid order.
async fn invalid_order(order: &mut Order) -> AcmeError {
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        if let Some(problem) = authorization.challenges.iter().find_map(|c| c.error.clone()) {
            return instant_acme::Error::Api(problem).into();
        }
    }
    AcmeError::Protocol("the order became invalid without a problem document".into())
}

/// A self-signed certificate for `name` carrying the `acmeIdentifier` extension (RFC 8737).
fn alpn_certificate(name: &str, digest: &[u8]) -> Result<CertifiedKey, AcmeError> {
    let failed = |reason: String| AcmeError::Challenge {
        challenge: "tls-alpn-01",
        domain: name.to_owned(),
        reason,
    };
    let key = rcgen::KeyPair::generate().map_err(|e| failed(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(|e| failed(e.to_string()))?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(|e| failed(e.to_string()))?;
    let der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    // Not `CertifiedKey::from_der`: its consistency check parses the certificate with webpki, which
    // refuses the critical acmeIdentifier extension; the key was just made for this certificate.
    let signing = switchyard_tls::provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| failed(e.to_string()))?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signing))
}

async fn undo(cleanup: Cleanup, solvers: &Solvers<'_>) {
    match cleanup {
        Cleanup::Http01(token) => solvers.http01.remove(&token),
        Cleanup::TlsAlpn01(name) => solvers.issued.clear_challenge(&name),
        Cleanup::Dns01 { fqdn, value } => {
            if let Some(provider) = &solvers.dns
                && let Err(error) = provider.cleanup(&fqdn, &value).await
            {
                tracing::warn!(target: "switchyard::acme", %error, "removing the DNS-01 record failed");
            }
        }
    }
}

fn challenge_name(kind: &ChallengeType) -> &'static str {
    match kind {
        ChallengeType::Http01 => "http-01",
        ChallengeType::TlsAlpn01 => "tls-alpn-01",
        _ => "dns-01",
    }
}

fn certificate(error: rcgen::Error) -> AcmeError {
    AcmeError::Certificate(error.to_string())
}
