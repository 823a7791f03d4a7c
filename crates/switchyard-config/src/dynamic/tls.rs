//! The dynamic `tls` section: certificates, options and stores.

use serde::{Deserialize, Serialize};

/// The `tls` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsConfig {
    /// Certificates.
    pub certificates: Vec<serde_json::Value>,
    /// TLS options.
    pub options: std::collections::BTreeMap<String, serde_json::Value>,
    /// Stores.
    pub stores: std::collections::BTreeMap<String, serde_json::Value>,
}
