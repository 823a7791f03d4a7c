//! Which peers an entrypoint trusts: with `forwardedHeaders` to set `X-Forwarded-*`, with
//! `proxyProtocol` to name the client.

use std::net::IpAddr;

use ipnet::IpNet;

/// A `trustedIPs` entry that is neither an address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is neither an IP address nor a CIDR range")]
pub struct TrustedIpError(pub(crate) String);

/// `insecure` (trust everyone) or a `trustedIPs` list of addresses and CIDR ranges.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedPeers {
    insecure: bool,
    nets: Vec<IpNet>,
}

impl TrustedPeers {
    pub(crate) fn parse(insecure: bool, entries: &[String]) -> Result<Self, TrustedIpError> {
        let nets = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| TrustedIpError(entry.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { insecure, nets })
    }

    /// Whether a peer is trusted; IPv4-mapped IPv6 peers count as their IPv4 address.
    pub(crate) fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.insecure || self.nets.iter().any(|net| net.contains(&peer))
    }
}
