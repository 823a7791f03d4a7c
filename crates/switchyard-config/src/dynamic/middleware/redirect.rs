//! Redirections: `redirectRegex`, `redirectScheme`.

use serde::{Deserialize, Serialize};

/// `redirectRegex`: redirects when the request URL matches a regexp.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RedirectRegex {
    /// The regexp matched against the full request URL.
    pub regex: String,
    /// The target URL, with `$1` groups.
    pub replacement: String,
    /// Permanent (301/308) rather than temporary (302/307) redirection.
    pub permanent: bool,
}

/// `redirectScheme`: redirects to another scheme and, optionally, port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RedirectScheme {
    /// The target scheme (`https`).
    pub scheme: String,
    /// The target port; empty keeps the default port of the scheme.
    pub port: String,
    /// Permanent (301/308) rather than temporary (302/307) redirection.
    pub permanent: bool,
}
