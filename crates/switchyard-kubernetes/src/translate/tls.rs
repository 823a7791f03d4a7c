//! TLS Secrets as certificates with their PEM inlined.

use k8s_openapi::api::core::v1::Secret;
use switchyard_config::CertificateAndStores;

use crate::error::TranslateError;

/// The certificate of a `kubernetes.io/tls` Secret (or any Secret with `tls.crt` and `tls.key`).
pub(crate) fn certificate(name: &str, secret: Option<&Secret>) -> Result<CertificateAndStores, TranslateError> {
    let secret = secret.ok_or_else(|| TranslateError::MissingSecret { name: name.to_owned() })?;
    Ok(CertificateAndStores {
        cert_file: pem_field(name, secret, "tls.crt")?,
        key_file: pem_field(name, secret, "tls.key")?,
        stores: Vec::new(),
    })
}

/// The PEM text under `key` in Secret `name`.
fn pem_field(name: &str, secret: &Secret, key: &str) -> Result<String, TranslateError> {
    let bad = |reason: String| TranslateError::BadSecret {
        name: name.to_owned(),
        reason,
    };
    let bytes = field_bytes(secret, key).ok_or_else(|| bad(format!("no `{key}`")))?;
    let text = String::from_utf8(bytes).map_err(|_| bad(format!("`{key}` is not PEM text")))?;
    if !text.contains("-----BEGIN ") {
        return Err(bad(format!("`{key}` holds no PEM block")));
    }
    Ok(text)
}

/// The value under `key` in a Secret's `data`, else in its `stringData`.
fn field_bytes(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        })
}
