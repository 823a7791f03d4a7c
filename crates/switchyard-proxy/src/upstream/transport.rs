use std::time::Duration;

use switchyard_config::{ForwardingTimeouts, ServersTransport};

/// Traefik's default for `maxIdleConnsPerHost`.
const DEFAULT_MAX_IDLE: usize = 200;

/// How connections to backends are made and kept, from a `serversTransport`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TransportSettings {
    /// Time allowed to establish a TCP connection.
    pub(crate) dial_timeout: Option<Duration>,
    /// Time allowed between writing a request and receiving the response headers.
    pub(crate) response_header_timeout: Option<Duration>,
    /// How long an idle connection stays in the pool.
    pub(crate) idle_timeout: Option<Duration>,
    /// Idle connections kept per server; 0 disables reuse.
    pub(crate) max_idle_per_host: usize,
    /// Only HTTP/1.1 towards HTTPS backends, even when they offer h2.
    pub(crate) disable_http2: bool,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self::from_config(&ServersTransport::default())
    }
}

impl TransportSettings {
    /// Reads the connection settings of a `serversTransport` (TLS settings are the TLS layer's).
    pub(crate) fn from_config(config: &ServersTransport) -> Self {
        let timeouts = config.forwarding_timeouts.unwrap_or_default();
        Self::new(&timeouts, config.max_idle_conns_per_host, config.disable_http2)
    }

    pub(crate) fn new(timeouts: &ForwardingTimeouts, max_idle: i32, disable_http2: bool) -> Self {
        let positive = |d: switchyard_config::Duration| d.to_std().filter(|d| !d.is_zero());
        Self {
            dial_timeout: positive(timeouts.dial_timeout),
            response_header_timeout: positive(timeouts.response_header_timeout),
            idle_timeout: positive(timeouts.idle_conn_timeout),
            max_idle_per_host: match max_idle {
                0 => DEFAULT_MAX_IDLE,
                n => usize::try_from(n).unwrap_or(0),
            },
            disable_http2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traefiks_defaults() {
        let settings = TransportSettings::from_config(&ServersTransport::default());
        assert_eq!(settings.dial_timeout, Some(Duration::from_secs(30)));
        assert_eq!(settings.max_idle_per_host, 200);
    }
}
