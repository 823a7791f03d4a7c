//! DNS-01 propagation checks: before the CA is told to validate, the `_acme-challenge` TXT record is
//! asked of recursive resolvers (`dnsChallenge.resolvers`, else the system's) until one of them (or
//! every one, with `requireAllRNS`) answers with the challenge's value, or the time runs out.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::AcmeError;

/// How DNS-01 records are checked before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropagationCheck {
    /// The recursive resolvers asked; the system's when empty.
    pub(crate) resolvers: Vec<SocketAddr>,
    /// Every resolver must see the record (`requireAllRNS`), else one is enough.
    pub(crate) require_all: bool,
}

impl PropagationCheck {
    /// Parses `dnsChallenge.resolvers` (`host:port`, or an address alone for port 53).
    pub(crate) fn new(resolvers: &[String], require_all: bool) -> Result<Self, (usize, String)> {
        let resolvers = resolvers
            .iter()
            .enumerate()
            .map(|(i, resolver)| {
                resolver
                    .parse::<SocketAddr>()
                    .or_else(|_| resolver.parse().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| (i, format!("`{resolver}` is not an IP address with an optional port")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { resolvers, require_all })
    }

    /// Waits until the TXT record `fqdn` carries `value` as this check requires, asking again every
    /// `interval` for at most `timeout`.
    pub(crate) async fn wait(
        &self,
        fqdn: &str,
        value: &str,
        timeout: Duration,
        interval: Duration,
    ) -> Result<(), AcmeError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = match self.seen(fqdn, value).await {
                Ok(true) => return Ok(()),
                Ok(false) => "the value is not there yet".to_owned(),
                Err(error) => error,
            };
            if tokio::time::Instant::now() + interval > deadline {
                let asked = if self.resolvers.is_empty() {
                    "the system's resolvers".to_owned()
                } else {
                    self.resolvers
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(AcmeError::Challenge {
                    challenge: "dns-01",
                    domain: fqdn
                        .trim_start_matches("_acme-challenge.")
                        .trim_end_matches('.')
                        .to_owned(),
                    reason: format!(
                        "the TXT record {fqdn} was not seen by {asked} within {timeout:?} ({last}); the CA was not asked to validate"
                    ),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Whether the record carries `value` now, as this check requires.
    async fn seen(&self, fqdn: &str, value: &str) -> Result<bool, String> {
        if self.resolvers.is_empty() {
            let builder = Resolver::builder_tokio().map_err(|e| format!("no system resolver: {e}"))?;
            return seen_by(builder.with_options(options()), fqdn, value).await;
        }
        let mut failure = None;
        for resolver in &self.resolvers {
            let config = ResolverConfig::from_name_servers(vec![name_server(*resolver)]);
            let builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
            match seen_by(builder.with_options(options()), fqdn, value).await {
                Ok(true) if !self.require_all => return Ok(true),
                Ok(true) => {}
                Ok(false) if self.require_all => return Ok(false),
                Ok(false) => {}
                Err(error) if self.require_all => return Err(format!("{resolver}: {error}")),
                Err(error) => failure = Some(format!("{resolver}: {error}")),
            }
        }
        match failure {
            _ if self.require_all => Ok(true),
            Some(error) => Err(error),
            None => Ok(false),
        }
    }
}

/// A resolver that remembers nothing between checks (a fresh one is built for each).
fn options() -> ResolverOpts {
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.timeout = Duration::from_secs(2);
    options.attempts = 1;
    options
}

fn name_server(address: SocketAddr) -> NameServerConfig {
    let connection = |mut config: ConnectionConfig| {
        config.port = address.port();
        config
    };
    NameServerConfig::new(
        address.ip(),
        true,
        vec![connection(ConnectionConfig::udp()), connection(ConnectionConfig::tcp())],
    )
}

async fn seen_by(
    builder: hickory_resolver::ResolverBuilder<TokioRuntimeProvider>,
    fqdn: &str,
    value: &str,
) -> Result<bool, String> {
    let resolver = builder.build().map_err(|e| e.to_string())?;
    let lookup = match resolver.txt_lookup(fqdn).await {
        Ok(lookup) => lookup,
        Err(error) if error.is_no_records_found() || error.is_nx_domain() => return Ok(false),
        Err(error) => return Err(error.to_string()),
    };
    Ok(lookup.answers().iter().any(|record| match &record.data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .flat_map(|part| part.iter())
            .copied()
            .eq(value.bytes()),
        _ => false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_are_addresses_with_port_53_by_default() {
        let check = PropagationCheck::new(&["127.0.0.1:5353".into(), "::1".into()], true).unwrap();
        assert_eq!(
            check.resolvers,
            [
                "127.0.0.1:5353".parse().unwrap(),
                "[::1]:53".parse::<SocketAddr>().unwrap()
            ]
        );
        let (index, reason) = PropagationCheck::new(&["1.1.1.1".into(), "dns.example:53".into()], false).unwrap_err();
        assert_eq!(index, 1);
        assert!(reason.contains("dns.example:53"), "{reason}");
    }
}
