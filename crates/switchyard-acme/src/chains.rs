//! `preferredChain`: the alternate chains a CA offers for a certificate (RFC 8555 §7.4.2, `Link`
//! headers with `rel="alternate"`), fetched and chosen by the Common Name of the topmost issuer.
//!
//! instant-acme returns the default chain only and drops the response's headers, so the headers are
//! read by our HTTP client ([`AcmeHttp`]) and the alternates are fetched here with POST-as-GET
//! requests signed with the account's key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::BodyExt;
use instant_acme::BodyWrapper;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::AcmeError;
use crate::client::AcmeHttp;

/// How many times a request refused for its nonce (`badNonce`) is sent again with a fresh one.
const NONCE_RETRIES: usize = 3;

/// The URLs of a `Link` header value whose relation is `alternate`.
pub(crate) fn alternate_links(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter_map(|link| {
            let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
            let alternate = params.split(';').any(|param| {
                let param = param.trim();
                param
                    .strip_prefix("rel=")
                    .is_some_and(|rel| rel.trim_matches('"').split_whitespace().any(|r| r == "alternate"))
            });
            alternate.then(|| target.to_owned())
        })
        .collect()
}

/// The Common Name of the issuer of a PEM chain's last certificate: the root the chain leads to.
pub(crate) fn top_issuer(chain_pem: &str) -> Option<String> {
    let chain = switchyard_tls::certificates(chain_pem).ok()?;
    let top = chain.last()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(top.as_ref()).ok()?;
    let name = parsed.issuer().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(name)
}

/// The account, to sign POST-as-GET requests with.
pub(crate) struct AccountSigner {
    key: EcdsaKeyPair,
    /// The account URL (the JWS `kid`).
    kid: String,
    /// The CA's directory URL, where the `newNonce` URL is found.
    directory: String,
}

impl AccountSigner {
    /// The signer of the account `kid` with the PKCS#8 P-256 key instant-acme made for it.
    pub(crate) fn new(pkcs8: &[u8], kid: &str, directory: &str) -> Result<Self, AcmeError> {
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| AcmeError::Protocol(format!("the account key cannot sign: {e}")))?;
        Ok(Self {
            key,
            kid: kid.to_owned(),
            directory: directory.to_owned(),
        })
    }

    /// The body of a POST-as-GET request to `url` (RFC 8555 §6.3).
    pub(crate) async fn fetch(&self, http: &AcmeHttp, url: &str) -> Result<Bytes, AcmeError> {
        let mut nonce = self.new_nonce(http).await?;
        for _ in 0..NONCE_RETRIES {
            let body = self.jws(&nonce, url)?;
            let request = http::Request::post(url)
                .header(http::header::CONTENT_TYPE, "application/jose+json")
                .body(BodyWrapper::from(body))
                .map_err(|e| AcmeError::Protocol(e.to_string()))?;
            let (parts, body) = http.send(request).await?;
            if parts.status.is_success() {
                return Ok(body);
            }
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let kind = problem["type"].as_str().unwrap_or_default();
            match parts.headers.get("replay-nonce").and_then(|v| v.to_str().ok()) {
                Some(fresh) if kind.ends_with(":badNonce") => nonce = fresh.to_owned(),
                _ => {
                    return Err(AcmeError::Problem {
                        kind: kind.to_owned(),
                        detail: format!(
                            "fetching {url}: {} ({})",
                            problem["detail"].as_str().unwrap_or_default(),
                            parts.status
                        ),
                    });
                }
            }
        }
        Err(AcmeError::Protocol(format!("fetching {url}: every nonce was refused")))
    }

    /// A nonce from the directory's `newNonce` URL.
    async fn new_nonce(&self, http: &AcmeHttp) -> Result<String, AcmeError> {
        let get = |uri: &str, method: http::Method| {
            http::Request::builder()
                .method(method)
                .uri(uri)
                .body(BodyWrapper::from(Vec::new()))
                .map_err(|e| AcmeError::Protocol(e.to_string()))
        };
        let (_, directory) = http.send(get(&self.directory, http::Method::GET)?).await?;
        let directory: serde_json::Value = serde_json::from_slice(&directory)
            .map_err(|e| AcmeError::Protocol(format!("the directory is not JSON: {e}")))?;
        let new_nonce = directory["newNonce"]
            .as_str()
            .ok_or_else(|| AcmeError::Protocol("the directory has no newNonce".into()))?;
        let (parts, _) = http.send(get(new_nonce, http::Method::HEAD)?).await?;
        parts
            .headers
            .get("replay-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| AcmeError::Protocol("the CA gave no Replay-Nonce".into()))
    }

    /// The flattened JWS of an empty payload for `url` (RFC 8555 §6.2), as JSON.
    fn jws(&self, nonce: &str, url: &str) -> Result<Vec<u8>, AcmeError> {
        let protected = serde_json::json!({ "alg": "ES256", "kid": self.kid, "nonce": nonce, "url": url });
        let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
        let signing_input = format!("{protected}.");
        let signature = self
            .key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .map_err(|e| AcmeError::Protocol(format!("signing failed: {e}")))?;
        let body = serde_json::json!({
            "protected": protected,
            "payload": "",
            "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
        });
        Ok(body.to_string().into_bytes())
    }
}

/// Reads a whole response body.
pub(crate) async fn collect(body: hyper::body::Incoming) -> Result<Bytes, AcmeError> {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| AcmeError::Protocol(format!("reading the CA's answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_alternate_links_are_kept() {
        let value = r#"<https://ca/dir>;rel="index", <https://ca/cert/1/1>;rel="alternate", <https://ca/cert/1/2> ; rel=alternate"#;
        assert_eq!(alternate_links(value), ["https://ca/cert/1/1", "https://ca/cert/1/2"]);
        assert!(alternate_links(r#"<https://ca/dir>;rel="index""#).is_empty());
    }
}
