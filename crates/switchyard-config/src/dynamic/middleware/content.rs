//! Bodies and encodings: `compress`, `contentType`, `grpcWeb`, `encodedCharacters`, `passTLSClientCert`.

use serde::{Deserialize, Serialize};

/// `compress`: compresses responses with the best encoding the client accepts.
///
/// ```
/// use switchyard_config::Compress;
/// let compress = Compress::default();
/// assert_eq!(compress.encodings, ["gzip", "br", "zstd"]);
/// assert_eq!(compress.min_response_body_bytes, 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Compress {
    /// Content types never compressed.
    pub excluded_content_types: Vec<String>,
    /// Content types compressed (exclusive with `excludedContentTypes`); empty means all but the
    /// excluded and already-compressed ones.
    pub included_content_types: Vec<String>,
    /// Responses smaller than this are not compressed. Default: 1024.
    pub min_response_body_bytes: u64,
    /// Encodings offered, in preference order. Default: `gzip`, `br`, `zstd`.
    pub encodings: Vec<String>,
    /// The encoding used when the client sends `Accept-Encoding` without preference.
    pub default_encoding: String,
}

impl Default for Compress {
    fn default() -> Self {
        Self {
            excluded_content_types: Vec::new(),
            included_content_types: Vec::new(),
            min_response_body_bytes: 1024,
            encodings: vec!["gzip".into(), "br".into(), "zstd".into()],
            default_encoding: String::new(),
        }
    }
}

/// `contentType`: sets `Content-Type` from the body when the backend sent none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContentType {
    /// Deprecated in Traefik (the middleware's presence enables detection); accepted so files load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_detect: Option<bool>,
}

/// `grpcWeb`: translates gRPC-Web requests to gRPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GrpcWeb {
    /// Origins allowed for CORS (`*` for any).
    pub allow_origins: Vec<String>,
}

/// `encodedCharacters`: which percent-encoded characters the request path may contain (all refused by
/// default, with 400).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EncodedCharacters {
    /// Allow `%2F`.
    pub allow_encoded_slash: bool,
    /// Allow `%5C`.
    pub allow_encoded_back_slash: bool,
    /// Allow `%00`.
    pub allow_encoded_null_character: bool,
    /// Allow `%3B`.
    pub allow_encoded_semicolon: bool,
    /// Allow `%25`.
    pub allow_encoded_percent: bool,
    /// Allow `%3F`.
    pub allow_encoded_question_mark: bool,
    /// Allow `%23`.
    pub allow_encoded_hash: bool,
}

/// `passTLSClientCert`: passes the client certificate (or parts of it) in `X-Forwarded-Tls-Client-Cert*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PassTlsClientCert {
    /// Pass the whole certificate, PEM-encoded.
    pub pem: bool,
    /// Pass selected fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<ClientCertificateInfo>,
}

/// Certificate fields passed by `passTLSClientCert`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClientCertificateInfo {
    /// `NA`: not after.
    pub not_after: bool,
    /// `NB`: not before.
    pub not_before: bool,
    /// `SAN`: subject alternative names.
    pub sans: bool,
    /// `SerialNumber`.
    pub serial_number: bool,
    /// Subject fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<CertificateSubjectInfo>,
    /// Issuer fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<CertificateIssuerInfo>,
}

/// Subject fields passed by `passTLSClientCert`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CertificateSubjectInfo {
    /// `C`.
    pub country: bool,
    /// `ST`.
    pub province: bool,
    /// `L`.
    pub locality: bool,
    /// `O`.
    pub organization: bool,
    /// `OU`.
    pub organizational_unit: bool,
    /// `CN`.
    pub common_name: bool,
    /// `SN`.
    pub serial_number: bool,
    /// `DC`.
    pub domain_component: bool,
}

/// Issuer fields passed by `passTLSClientCert`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CertificateIssuerInfo {
    /// `C`.
    pub country: bool,
    /// `ST`.
    pub province: bool,
    /// `L`.
    pub locality: bool,
    /// `O`.
    pub organization: bool,
    /// `CN`.
    pub common_name: bool,
    /// `SN`.
    pub serial_number: bool,
    /// `DC`.
    pub domain_component: bool,
}
