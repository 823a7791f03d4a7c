//! `http.services`: where requests go.

use serde::{Deserialize, Serialize};

/// A service: exactly one of Traefik's service types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Service {
    /// Balances requests across servers.
    LoadBalancer(LoadBalancer),
}

/// `loadBalancer`: a set of servers and how to pick among them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadBalancer {
    /// The servers.
    pub servers: Vec<Server>,
}

impl LoadBalancer {
    /// A load balancer over servers given by URL, every other option at Traefik's default.
    pub fn with_urls<I: IntoIterator<Item = S>, S: Into<String>>(urls: I) -> Self {
        Self {
            servers: urls.into_iter().map(|url| Server { url: url.into() }).collect(),
        }
    }
}

/// One backend server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Server {
    /// The server's URL (`http://10.0.0.1:8080`).
    pub url: String,
}
