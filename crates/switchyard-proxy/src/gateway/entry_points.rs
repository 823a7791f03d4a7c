//! Setting up entrypoints: their settings from the static configuration (with the options still
//! without effect reported), the context their connections share, and the listener, for those that
//! listen.

use std::sync::Arc;

use switchyard_config::EntryPoint;
use switchyard_middleware::MiddlewareLayer;
use tokio_util::sync::CancellationToken;

use crate::connection::EntryPointContext;
use crate::entry_point::{EntryPointError, EntryPointSettings};
use crate::snapshot::SnapshotHandle;

/// One entrypoint of a gateway being started: its settings, and whether it listens.
pub(super) struct Planned {
    pub(super) name: String,
    pub(super) settings: EntryPointSettings,
    /// `false` for an entrypoint only embedded in another server ([`Gateway::embedded`](super::Gateway::embedded)).
    pub(super) listens: bool,
}

impl Planned {
    pub(super) fn new(
        name: &str,
        config: &EntryPoint,
        hostname: Option<&str>,
        listens: bool,
    ) -> Result<Self, EntryPointError> {
        for option in not_yet_honoured(config) {
            tracing::warn!(target: "switchyard::entrypoint", "entryPoints.{name}.{option} is not supported yet and is ignored");
        }
        Ok(Self {
            name: name.to_owned(),
            settings: EntryPointSettings::from_config(name, config, hostname)?,
            listens,
        })
    }

    /// What every connection of the entrypoint shares.
    pub(super) fn context(
        &self,
        index: usize,
        snapshots: &SnapshotHandle,
        layers: Vec<MiddlewareLayer>,
        stopped: &CancellationToken,
        observer: Option<&Arc<switchyard_observe::Observer>>,
        #[cfg(feature = "acme")] http01: Option<Arc<switchyard_acme::Http01Tokens>>,
    ) -> Arc<EntryPointContext> {
        let settings = &self.settings;
        Arc::new(EntryPointContext {
            index,
            snapshots: snapshots.clone(),
            policy: Arc::new(settings.policy.clone()),
            keep_alive: settings.keep_alive,
            target: settings.target,
            underscores: settings.underscores,
            body_timeout: settings.body_timeout,
            layers,
            stopped: stopped.clone(),
            observer: observer.cloned(),
            observing: observer.map(|o| o.entry_point(&self.name)),
            #[cfg(feature = "acme")]
            http01,
        })
    }
}

/// Static entrypoint options read from Traefik files that this build does not act on yet.
pub(super) fn not_yet_honoured(config: &switchyard_config::EntryPoint) -> Vec<&'static str> {
    let options = [
        #[cfg(not(feature = "tls"))]
        ("http.tls", config.http.tls.is_some()),
        #[cfg(not(feature = "acme"))]
        (
            "http.tls.certResolver (ACME)",
            config.http.tls.as_ref().is_some_and(|t| !t.cert_resolver.is_empty()),
        ),
        (
            "transport.respondingTimeouts.writeTimeout",
            !config.transport.responding_timeouts.write_timeout.is_zero(),
        ),
        ("http3", config.http3.is_some()),
        ("allowACMEByPass (ACME)", config.allow_acme_bypass),
        #[cfg(not(feature = "acme"))]
        (
            "http.tls.domains (ACME)",
            config.http.tls.as_ref().is_some_and(|t| !t.domains.is_empty()),
        ),
        (
            "http2.maxEncoderHeaderTableSize (HTTP/2 answers use the table the client allows)",
            config.http2.max_encoder_header_table_size
                != switchyard_config::EntryPointHttp2::default().max_encoder_header_table_size,
        ),
    ];
    options
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
}

/// The host name, for `X-Forwarded-Server`.
pub(super) fn system_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| Some("localhost".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_without_effect_are_named() {
        let mut entry_point = switchyard_config::EntryPoint::new(":80");
        assert!(
            not_yet_honoured(&entry_point).is_empty(),
            "the defaults all take effect"
        );
        entry_point.allow_acme_bypass = true;
        entry_point.http2.max_encoder_header_table_size = 8192;
        entry_point.http3 = Some(serde_json::json!({}));
        let named = not_yet_honoured(&entry_point);
        assert!(named.iter().any(|n| n.starts_with("allowACMEByPass")), "{named:?}");
        assert!(
            named.iter().any(|n| n.starts_with("http2.maxEncoderHeaderTableSize")),
            "{named:?}"
        );
        assert!(named.contains(&"http3"), "{named:?}");
    }
}
