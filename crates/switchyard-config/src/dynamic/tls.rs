//! The dynamic `tls` section: certificates, options and stores.

use serde::{Deserialize, Serialize};

/// The `tls` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsConfig {
    /// Certificates.
    pub certificates: Vec<serde_json::Value>,
}
