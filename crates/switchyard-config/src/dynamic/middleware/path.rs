//! Path rewriting: `addPrefix`, `stripPrefix`, `stripPrefixRegex`, `replacePath`, `replacePathRegex`.

use serde::{Deserialize, Serialize};

/// `addPrefix`: puts a prefix in front of the path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AddPrefix {
    /// The prefix (`/api`).
    pub prefix: String,
}

/// `stripPrefix`: removes the first matching prefix and records it in `X-Forwarded-Prefix`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StripPrefix {
    /// The prefixes, tried in order.
    pub prefixes: Vec<String>,
    /// Deprecated in Traefik v3 (where it no longer changes anything); accepted so files load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_slash: Option<bool>,
}

/// `stripPrefixRegex`: removes the part of the path that a regexp matches from its start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StripPrefixRegex {
    /// The regexps, tried in order.
    pub regex: Vec<String>,
}

/// `replacePath`: replaces the path and keeps the original in `X-Replaced-Path`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReplacePath {
    /// The new path.
    pub path: String,
}

/// `replacePathRegex`: rewrites the path with a regexp and replacement (`$1` groups).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReplacePathRegex {
    /// The regexp matched against the path.
    pub regex: String,
    /// The replacement.
    pub replacement: String,
}
