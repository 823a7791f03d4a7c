//! Certificates and keys from Traefik's "file or content" fields: a path, or the PEM text inline.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Where PEM text comes from: inline content (it contains a PEM header) or a file.
pub(crate) fn source_is_inline(value: &str) -> bool {
    value.contains("-----BEGIN")
}

/// The PEM text of a field, read from disk when it names a file.
fn read(value: &str, what: &'static str) -> Result<Vec<u8>, TlsError> {
    if source_is_inline(value) {
        return Ok(value.as_bytes().to_vec());
    }
    if value.trim().is_empty() {
        return Err(TlsError::Empty { what });
    }
    std::fs::read(Path::new(value)).map_err(|source| TlsError::Read {
        path: value.to_owned(),
        source,
    })
}

/// How a field is named in errors: the path, or `inline PEM`.
pub fn describe(value: &str) -> String {
    if source_is_inline(value) {
        "inline PEM".to_owned()
    } else {
        value.to_owned()
    }
}

/// A certificate chain (leaf first) from a path or inline PEM.
pub fn certificates(value: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(value, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            origin: describe(value),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            origin: describe(value),
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    Ok(chain)
}

/// A private key (PKCS#8, PKCS#1 or SEC1) from a path or inline PEM.
pub fn private_key(value: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(value, "private key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        origin: describe(value),
        reason: format!("no usable private key ({e})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_file_sources() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(certificates(&cert.pem()).unwrap().len(), 1);
        assert!(private_key(&key.serialize_pem()).is_ok());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pem");
        std::fs::write(&path, cert.pem()).unwrap();
        assert_eq!(certificates(path.to_str().unwrap()).unwrap().len(), 1);

        let missing = certificates("/nonexistent/cert.pem").unwrap_err().to_string();
        assert!(missing.contains("/nonexistent/cert.pem"), "{missing}");
        let garbage = private_key(&cert.pem()).unwrap_err().to_string();
        assert!(
            garbage.contains("inline PEM") && garbage.contains("private key"),
            "{garbage}"
        );
        assert!(certificates("").is_err());
    }
}
