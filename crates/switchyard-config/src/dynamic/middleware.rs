//! `http.middlewares`: request and response transformations between a router and its service.

use serde::{Deserialize, Serialize};

/// A middleware: exactly one of Traefik's middleware types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Middleware {
    /// Adds a prefix to the path.
    AddPrefix(AddPrefix),
}

/// `addPrefix`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AddPrefix {
    /// The prefix.
    pub prefix: String,
}
