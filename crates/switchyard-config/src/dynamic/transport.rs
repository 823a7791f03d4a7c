//! `http.serversTransports`: how switchyard talks to backends.

use serde::{Deserialize, Serialize};

/// A servers transport.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServersTransport {
    /// The TLS server name to send.
    pub server_name: String,
}
