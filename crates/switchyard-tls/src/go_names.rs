//! Go's names for TLS versions and cipher suites, as Traefik's configuration writes them, mapped to
//! what rustls (with ring) offers. Shared by the server options and the client configurations.

use rustls::crypto::ring::cipher_suite as suite;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion, version};

use crate::TlsError;

/// Cipher suites by their Go names (with Go's aliases for the ChaCha20 suites).
const CIPHER_SUITES: [(&str, SupportedCipherSuite); 11] = [
    ("TLS_AES_128_GCM_SHA256", suite::TLS13_AES_128_GCM_SHA256),
    ("TLS_AES_256_GCM_SHA384", suite::TLS13_AES_256_GCM_SHA384),
    ("TLS_CHACHA20_POLY1305_SHA256", suite::TLS13_CHACHA20_POLY1305_SHA256),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The Go names of the cipher suites switchyard accepts in `cipherSuites`.
///
/// ```
/// assert!(switchyard_tls::supported_cipher_suites().any(|s| s == "TLS_AES_128_GCM_SHA256"));
/// assert!(!switchyard_tls::supported_cipher_suites().any(|s| s == "TLS_RSA_WITH_AES_128_CBC_SHA"));
/// ```
pub fn supported_cipher_suites() -> impl Iterator<Item = &'static str> {
    CIPHER_SUITES.iter().map(|(name, _)| *name)
}

/// The suite named `name`, entry `index` of `cipherSuites`; unknown names are errors listing the
/// supported ones.
pub(crate) fn cipher_suite(index: usize, name: &str) -> Result<SupportedCipherSuite, TlsError> {
    match CIPHER_SUITES.iter().find(|(known, _)| *known == name) {
        Some((_, suite)) => Ok(*suite),
        None => Err(TlsError::Option {
            option: format!("cipherSuites[{index}]"),
            reason: format!(
                "`{name}` is not a cipher suite rustls offers; supported: {}",
                supported_cipher_suites().collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// `minVersion` / `maxVersion` as the rustls versions between them, highest first.
///
/// rustls speaks TLS 1.2 and 1.3 only: a `minVersion` below 1.2 is accepted with a warning (peers
/// then meet at 1.2 or 1.3), a `maxVersion` below 1.2 is an error.
pub(crate) fn versions(min: &str, max: &str) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let (low, high) = version_range(min, max)?;
    if low < 12 {
        tracing::warn!(target: "switchyard::tls", "minVersion `{min}`: switchyard speaks TLS 1.2 and 1.3 only; older peers are refused");
    }
    let mut versions = Vec::with_capacity(2);
    if high >= 13 {
        versions.push(&version::TLS13);
    }
    if low <= 12 {
        versions.push(&version::TLS12);
    }
    Ok(versions)
}

/// `minVersion` and `maxVersion` as minor numbers, checked to leave a version rustls speaks.
fn version_range(min: &str, max: &str) -> Result<(u8, u8), TlsError> {
    let low = version_rank(min, "minVersion", 12)?;
    let high = version_rank(max, "maxVersion", 13)?;
    if high < 12 {
        return Err(TlsError::Option {
            option: "maxVersion".into(),
            reason: format!("`{max}` is not available: rustls speaks TLS 1.2 and 1.3 only"),
        });
    }
    if low > high {
        return Err(TlsError::Option {
            option: "minVersion".into(),
            reason: format!("`{min}` is above maxVersion `{max}`"),
        });
    }
    Ok((low, high))
}

/// A Go version name as its minor number (`VersionTLS12` is 12), `default` when the option is empty.
fn version_rank(name: &str, option: &str, default: u8) -> Result<u8, TlsError> {
    match name {
        "" => Ok(default),
        "VersionTLS10" => Ok(10),
        "VersionTLS11" => Ok(11),
        "VersionTLS12" => Ok(12),
        "VersionTLS13" => Ok(13),
        other => Err(TlsError::Option {
            option: option.to_owned(),
            reason: format!("`{other}` is not a TLS version; use VersionTLS12 or VersionTLS13"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_between_min_and_max() {
        assert_eq!(versions("", "").unwrap().len(), 2);
        assert_eq!(versions("VersionTLS13", "").unwrap(), [&version::TLS13]);
        assert_eq!(versions("", "VersionTLS12").unwrap(), [&version::TLS12]);
        assert_eq!(versions("VersionTLS10", "VersionTLS12").unwrap(), [&version::TLS12]);
        let error = |min, max| versions(min, max).unwrap_err().to_string();
        assert_eq!(
            error("VersionTLS13", "VersionTLS12"),
            "minVersion: `VersionTLS13` is above maxVersion `VersionTLS12`"
        );
        assert_eq!(
            error("", "VersionTLS11"),
            "maxVersion: `VersionTLS11` is not available: rustls speaks TLS 1.2 and 1.3 only"
        );
        assert_eq!(
            error("TLS1.2", ""),
            "minVersion: `TLS1.2` is not a TLS version; use VersionTLS12 or VersionTLS13"
        );
    }

    #[test]
    fn cipher_suites_by_go_name() {
        let chacha = cipher_suite(0, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305").unwrap();
        assert_eq!(
            chacha.suite(),
            rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        );
        let error = cipher_suite(2, "TLS_RSA_WITH_AES_128_CBC_SHA").unwrap_err().to_string();
        assert!(
            error.starts_with("cipherSuites[2]: `TLS_RSA_WITH_AES_128_CBC_SHA`"),
            "{error}"
        );
        assert!(error.contains("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"), "{error}");
    }
}
