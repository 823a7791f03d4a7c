//! `canary`: replaying recent requests through each new configuration before it goes live.

use serde::{Deserialize, Deserializer, Serialize};

/// The largest ring of recorded requests `canary.requests` may ask for.
pub const MAX_CANARY_REQUESTS: usize = 100_000;

/// `canary`, a switchyard extension (Traefik has no such section): the gateway keeps the routing
/// inputs of its last `requests` requests (method, `Host`, path and query, headers, client address,
/// TLS and server name; never a body) and, before a new configuration replaces the live one, routes
/// each of them through both and reports those that would now go elsewhere (another router, service
/// or middleware chain, or an answer of the entrypoint's own such as 404). With `hold`, a change that
/// moves any recorded request waits until an operator confirms it through the API.
///
/// ```
/// use switchyard_config::{Format, StaticConfig, load_str};
///
/// let yaml = "canary:\n  requests: 500\n  hold: true\n";
/// let config = load_str::<StaticConfig>(yaml, Format::Yaml, "static.yml").unwrap().value;
/// let canary = config.canary.unwrap();
/// assert_eq!((canary.requests, canary.hold), (500, true));
///
/// let wrong = load_str::<StaticConfig>("canary:\n  requests: 0\n", Format::Yaml, "static.yml");
/// assert!(wrong.unwrap_err().to_string().contains("canary.requests"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Canary {
    /// How many of the latest requests are kept and replayed, 1 to 100,000. Default: 1,000.
    #[serde(deserialize_with = "ring_size")]
    pub requests: usize,
    /// Hold a new configuration that routes any recorded request differently until it is confirmed
    /// (`POST /api/canary/confirm`) or discarded (`POST /api/canary/discard`); a configuration that
    /// moves none goes live at once. Default: `false` (report, then swap).
    pub hold: bool,
}

impl Default for Canary {
    fn default() -> Self {
        Self {
            requests: 1_000,
            hold: false,
        }
    }
}

fn ring_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let requests = usize::deserialize(deserializer)?;
    if requests == 0 || requests > MAX_CANARY_REQUESTS {
        return Err(serde::de::Error::custom(format!(
            "{requests} is out of range: between 1 and {MAX_CANARY_REQUESTS} requests"
        )));
    }
    Ok(requests)
}
