//! Redirections: `redirectRegex`, `redirectScheme`.

use serde::{Deserialize, Deserializer, Serialize};

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
    /// The target port; empty keeps the default port of the scheme. Written as a string or a number.
    #[serde(deserialize_with = "string_or_number")]
    pub port: String,
    /// Permanent (301/308) rather than temporary (302/307) redirection.
    pub permanent: bool,
}

/// Reads a port written as `"8443"` or `8443`, as Traefik's file loader accepts both.
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Text(String),
        Number(u64),
    }
    Ok(match Port::deserialize(deserializer)? {
        Port::Text(text) => text,
        Port::Number(number) => number.to_string(),
    })
}
