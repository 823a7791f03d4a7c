//! Telling clients apart: Traefik's `ipStrategy` (which address is the client's) and `sourceCriterion`
//! (what groups requests into one source for `rateLimit` and `inFlightReq`), and the plain answer a
//! filter or a limit gives a refused source.
//!
//! The strategies read `X-Forwarded-For` as it stands when the middleware runs. The proxy's entrypoint
//! has already removed that header from peers outside `forwardedHeaders.trustedIPs` (as Traefik's
//! entrypoint does), and appends the peer's own address only after the middlewares, so `depth` and
//! `excludedIPs` only ever read values a trusted proxy wrote.
//!
//! Differences from Traefik, all on the safe side:
//! - every `X-Forwarded-For` line counts, joined in order (Traefik reads the first line only, so a
//!   trusted proxy that adds a second line would be ignored);
//! - a selected entry is read as an address (a `host:port` form too) and written back canonically, so
//!   one client cannot become many sources by spelling its address differently (`::1`, `0::1`);
//!   IPv4-mapped IPv6 addresses count as their IPv4 address;
//! - a source key longer than 64 bytes (a long header value) is kept as a keyed 128-bit hash, so that
//!   tens of thousands of tracked sources cannot take gigabytes.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use http::header::{CONTENT_TYPE, HOST, HeaderName};
use http::{HeaderValue, Request, Response, StatusCode};
use ipnet::IpNet;
use switchyard_config::{IpStrategy as IpStrategyConfig, SourceCriterion};

use crate::{ClientInfo, MiddlewareError, ResponseBody};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A set of addresses and networks (`sourceRange`, `excludedIPs`).
#[derive(Debug, Clone)]
pub(crate) struct IpSet {
    addresses: Vec<IpAddr>,
    networks: Vec<IpNet>,
}

impl IpSet {
    /// Parses addresses and CIDRs; an entry that is neither is an error naming `field[i]`.
    pub(crate) fn parse(field: &str, entries: &[String]) -> Result<Self, MiddlewareError> {
        let mut set = Self {
            addresses: Vec::new(),
            networks: Vec::new(),
        };
        for (i, entry) in entries.iter().enumerate() {
            if let Ok(ip) = entry.parse::<IpAddr>() {
                set.addresses.push(ip.to_canonical());
            } else if let Ok(network) = entry.parse::<IpNet>() {
                set.networks.push(canonical_network(network));
            } else {
                return Err(MiddlewareError::invalid(
                    format!("{field}[{i}]"),
                    format!("`{entry}` is neither an IP address nor a CIDR network"),
                ));
            }
        }
        Ok(set)
    }

    /// Whether `ip` is one of the addresses or in one of the networks.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.addresses.contains(&ip) || self.networks.iter().any(|n| n.contains(&ip))
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network it covers, so that it matches
/// the canonical (IPv4) form addresses are compared in.
fn canonical_network(network: IpNet) -> IpNet {
    if let IpNet::V6(v6) = network {
        if let (Some(v4), Some(len)) = (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96)) {
            if let Ok(net) = ipnet::Ipv4Net::new(v4, len) {
                return IpNet::V4(net);
            }
        }
    }
    network
}

/// Reads an `X-Forwarded-For` entry (or a `host:port`) as an address.
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The first address of the `/prefix` IPv6 subnet `ip` is in; IPv4 addresses are left alone.
fn ipv6_subnet(ip: IpAddr, prefix: Option<u8>) -> IpAddr {
    match (ip, prefix) {
        (IpAddr::V6(v6), Some(prefix)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
        _ => ip,
    }
}

/// The client address a strategy selected: an address, or the text it found where an address was
/// expected (empty when there was nothing), which no allow list contains.
pub(crate) type Selected = Result<IpAddr, String>;

/// `ipStrategy`: which address is the client's.
#[derive(Debug, Clone)]
pub(crate) enum IpStrategy {
    /// The connection's peer (after the PROXY protocol).
    RemoteAddr { ipv6_subnet: Option<u8> },
    /// The `depth`-th `X-Forwarded-For` entry from the right.
    Depth { depth: usize, ipv6_subnet: Option<u8> },
    /// The rightmost `X-Forwarded-For` entry not in `excludedIPs`.
    Excluding(IpSet),
}

impl IpStrategy {
    /// Builds the strategy as Traefik chooses it: `depth` first (then `excludedIPs` is not even read),
    /// then `excludedIPs`, else the peer address. `field` prefixes error fields (`ipStrategy`).
    pub(crate) fn build(config: Option<&IpStrategyConfig>, field: &str) -> Result<Self, MiddlewareError> {
        let Some(config) = config else {
            return Ok(Self::RemoteAddr { ipv6_subnet: None });
        };
        let subnet = || match config.ipv6_subnet {
            Some(prefix) if prefix == 0 || prefix > 128 => Err(MiddlewareError::invalid(
                format!("{field}.ipv6Subnet"),
                format!("invalid IPv6 subnet {prefix}: it must be between 1 and 128"),
            )),
            prefix => Ok(prefix),
        };
        if config.depth > 0 {
            return Ok(Self::Depth {
                depth: usize::try_from(config.depth).unwrap_or(usize::MAX),
                ipv6_subnet: subnet()?,
            });
        }
        if !config.excluded_ips.is_empty() {
            let excluded = IpSet::parse(&format!("{field}.excludedIPs"), &config.excluded_ips)?;
            return Ok(Self::Excluding(excluded));
        }
        Ok(Self::RemoteAddr { ipv6_subnet: subnet()? })
    }

    /// The client address of `req`.
    pub(crate) fn select<B>(&self, req: &Request<B>) -> Selected {
        match self {
            Self::RemoteAddr { ipv6_subnet: prefix } => Ok(ipv6_subnet(ClientInfo::of(req).ip, *prefix)),
            Self::Depth {
                depth,
                ipv6_subnet: prefix,
            } => at_depth(req, *depth, *prefix),
            Self::Excluding(excluded) => last_not_excluded(req, excluded),
        }
    }
}

/// `depth`: the `X-Forwarded-For` entry that many from the end.
fn at_depth<B>(req: &Request<B>, depth: usize, prefix: Option<u8>) -> Selected {
    let entries = forwarded_for(req);
    let Some(entry) = entries.len().checked_sub(depth).and_then(|i| entries.get(i)) else {
        return Err(String::new());
    };
    parse_address(entry)
        .map(|ip| ipv6_subnet(ip, prefix))
        .ok_or_else(|| (*entry).to_owned())
}

/// `excludedIPs`: the last `X-Forwarded-For` entry not excluded.
fn last_not_excluded<B>(req: &Request<B>, excluded: &IpSet) -> Selected {
    for entry in forwarded_for(req).iter().rev().filter(|e| !e.is_empty()) {
        match parse_address(entry) {
            Some(ip) if excluded.contains(ip) => {}
            Some(ip) => return Ok(ip),
            None => return Err((*entry).to_owned()),
        }
    }
    Err(String::new())
}

/// The `X-Forwarded-For` entries of `req`, all lines joined, each trimmed.
fn forwarded_for<B>(req: &Request<B>) -> Vec<&str> {
    let mut entries = Vec::new();
    let mut lines = req.headers().get_all(X_FORWARDED_FOR).iter().peekable();
    if lines.peek().is_none() {
        // Go splits the empty string into one empty entry: `depth: 1` selects "" rather than nothing.
        entries.push("");
    }
    for line in lines {
        let text = line.to_str().unwrap_or("");
        entries.extend(text.split(',').map(str::trim));
    }
    entries
}

/// `sourceCriterion.requestHeaderName`, checked.
fn request_header_name(name: &str) -> Result<HeaderName, MiddlewareError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        MiddlewareError::invalid(
            "sourceCriterion.requestHeaderName",
            format!("`{name}` is not a valid header name"),
        )
    })
}

/// The longest key kept as is; a limiter tracks up to tens of thousands of sources, and a header can be
/// kilobytes long.
pub(crate) const MAX_KEY_LEN: usize = 64;

/// `text` as a source key: itself when short, else `0xff` and a 128-bit hash of it under keys drawn at
/// random once per process, so that nobody can make two sources collide on purpose (a short key equals
/// a hashed one only for someone who knows the hash keys).
fn bounded_key(text: &[u8]) -> Box<[u8]> {
    static HASHERS: OnceLock<(RandomState, RandomState)> = OnceLock::new();
    if text.len() <= MAX_KEY_LEN {
        return text.into();
    }
    let (first, second) = HASHERS.get_or_init(|| (RandomState::new(), RandomState::new()));
    let mut key = Vec::with_capacity(17);
    key.push(0xff);
    key.extend_from_slice(&first.hash_one(text).to_le_bytes());
    key.extend_from_slice(&second.hash_one(text).to_le_bytes());
    key.into()
}

/// `sourceCriterion`: what makes requests one source.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The client address by an `ipStrategy`.
    Ip(IpStrategy),
    /// The (first) value of a request header; requests without it are one source.
    Header(HeaderName),
    /// The requested host (`Host`, or the HTTP/2 authority), port included.
    Host,
}

impl Source {
    /// Builds the criterion; `default` is what an absent or empty criterion means (the client address
    /// for `rateLimit`, the host for `inFlightReq`). Setting more than one criterion is an error, as in
    /// Traefik.
    pub(crate) fn build(criterion: Option<&SourceCriterion>, default: Self) -> Result<Self, MiddlewareError> {
        let Some(criterion) = criterion else {
            return Ok(default);
        };
        let by_ip = criterion.ip_strategy.is_some();
        let by_header = !criterion.request_header_name.is_empty();
        let by_host = criterion.request_host;
        if [by_ip, by_header, by_host].into_iter().filter(|b| *b).count() > 1 {
            return Err(MiddlewareError::invalid(
                "sourceCriterion",
                "ipStrategy, requestHeaderName and requestHost are mutually exclusive: set one",
            ));
        }
        if by_ip {
            return IpStrategy::build(criterion.ip_strategy.as_ref(), "sourceCriterion.ipStrategy").map(Self::Ip);
        }
        if by_header {
            return request_header_name(&criterion.request_header_name).map(Self::Header);
        }
        if by_host {
            return Ok(Self::Host);
        }
        Ok(default)
    }

    /// The source `req` belongs to, in full (as Traefik keys its buckets), written to `out`: what names a
    /// bucket shared by replicas, so the same in every process (a [`key`](Self::key) longer than
    /// [`MAX_KEY_LEN`] is hashed with keys of this process).
    ///
    /// # Errors
    /// Those of `out`.
    #[cfg(feature = "redis")]
    pub(crate) fn write_full_key<B>(&self, req: &Request<B>, out: &mut impl std::io::Write) -> std::io::Result<()> {
        match self {
            Self::Ip(strategy) => match strategy.select(req) {
                Ok(ip) => write!(out, "{ip}"),
                Err(text) => out.write_all(text.as_bytes()),
            },
            Self::Header(name) => out.write_all(req.headers().get(name).map_or(&[][..], HeaderValue::as_bytes)),
            Self::Host => out.write_all(match req.headers().get(HOST) {
                Some(host) => host.as_bytes(),
                None => req.uri().authority().map_or(&[][..], |a| a.as_str().as_bytes()),
            }),
        }
    }

    /// The source `req` belongs to, as a key of at most [`MAX_KEY_LEN`] bytes.
    pub(crate) fn key<B>(&self, req: &Request<B>) -> Box<[u8]> {
        match self {
            Self::Ip(strategy) => match strategy.select(req) {
                Ok(ip) => ip.to_string().into_bytes().into(),
                Err(text) => bounded_key(text.as_bytes()),
            },
            Self::Header(name) => bounded_key(req.headers().get(name).map_or(&[][..], HeaderValue::as_bytes)),
            Self::Host => match req.headers().get(HOST) {
                Some(host) => bounded_key(host.as_bytes()),
                None => bounded_key(req.uri().authority().map_or(&[][..], |a| a.as_str().as_bytes())),
            },
        }
    }
}

/// What a Go handler sends with `WriteHeader(status)` then `Write(text)`, which is how Traefik's
/// `ipAllowList`, `rateLimit` and `inFlightReq` refuse a request: the text as is, with the sniffed
/// `Content-Type`; statuses that have no body get none.
pub(crate) fn refusal(status: StatusCode, text: String) -> Response<ResponseBody> {
    let bodiless = status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let mut response = if bodiless {
        Response::new(ResponseBody::empty())
    } else {
        let mut response = Response::new(ResponseBody::from(text));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response
    };
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, xff: &[&str]) -> Request<()> {
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(ClientInfo::new(peer.parse().unwrap(), false));
        for value in xff {
            req.headers_mut().append(X_FORWARDED_FOR, value.parse().unwrap());
        }
        req
    }

    fn strategy(depth: u32, excluded: &[&str], subnet: Option<u8>) -> IpStrategy {
        let config = IpStrategyConfig {
            depth,
            excluded_ips: excluded.iter().map(|s| (*s).to_owned()).collect(),
            ipv6_subnet: subnet,
        };
        IpStrategy::build(Some(&config), "ipStrategy").unwrap()
    }

    #[test]
    fn ip_sets_take_addresses_and_networks() {
        let set = IpSet::parse(
            "sourceRange",
            &["192.0.2.7".into(), "10.0.0.0/8".into(), "2001:db8::/32".into()],
        )
        .unwrap();
        assert!(set.contains("192.0.2.7".parse().unwrap()));
        assert!(set.contains("10.200.0.1".parse().unwrap()));
        assert!(
            set.contains("::ffff:10.1.1.1".parse().unwrap()),
            "IPv4-mapped counts as IPv4"
        );
        assert!(set.contains("2001:db8::1".parse().unwrap()));
        assert!(!set.contains("192.0.2.8".parse().unwrap()));
        assert!(!set.contains("11.0.0.1".parse().unwrap()));
        let mapped = IpSet::parse("x", &["::ffff:10.0.0.0/104".into()]).unwrap();
        assert!(mapped.contains("10.9.9.9".parse().unwrap()));

        let error = IpSet::parse("sourceRange", &["10.0.0.1".into(), "10.0.0.0/33".into()]).unwrap_err();
        assert_eq!(error.field(), "sourceRange[1]");
        assert_eq!(IpSet::parse("s", &["nope".into()]).unwrap_err().field(), "s[0]");
    }

    #[test]
    fn depth_counts_from_the_right_over_every_line() {
        let req = request("127.0.0.1", &["10.0.0.1,11.0.0.1", "12.0.0.1, 13.0.0.1"]);
        assert_eq!(strategy(1, &[], None).select(&req), Ok("13.0.0.1".parse().unwrap()));
        assert_eq!(strategy(3, &[], None).select(&req), Ok("11.0.0.1".parse().unwrap()));
        assert_eq!(strategy(5, &[], None).select(&req), Err(String::new()));
        let none = request("127.0.0.1", &[]);
        assert_eq!(strategy(1, &[], None).select(&none), Err(String::new()));
        let junk = request("127.0.0.1", &["junk"]);
        assert_eq!(strategy(1, &[], None).select(&junk), Err("junk".into()));
        let port = request("127.0.0.1", &["[2001:db8::1]:443"]);
        assert_eq!(strategy(1, &[], None).select(&port), Ok("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn excluded_ips_pick_the_rightmost_other_address() {
        let req = request("127.0.0.1", &["10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"]);
        let s = strategy(0, &["12.0.0.1", "13.0.0.1"], None);
        assert_eq!(s.select(&req), Ok("11.0.0.1".parse().unwrap()));
        let s = strategy(0, &["10.0.0.0/8", "11.0.0.0/8", "12.0.0.0/8", "13.0.0.0/8"], None);
        assert_eq!(s.select(&req), Err(String::new()));
        let depth_wins = strategy(2, &["not even parsed"], None);
        assert_eq!(depth_wins.select(&req), Ok("12.0.0.1".parse().unwrap()));
    }

    #[test]
    fn remote_addr_and_ipv6_subnets() {
        let req = request("::abcd:1111:2222:3333", &["10.0.0.1"]);
        assert_eq!(
            strategy(0, &[], None).select(&req),
            Ok("::abcd:1111:2222:3333".parse().unwrap())
        );
        assert_eq!(
            strategy(0, &[], Some(80)).select(&req),
            Ok("::abcd:0:0:0".parse().unwrap())
        );
        assert_eq!(strategy(0, &[], Some(64)).select(&req), Ok("::".parse().unwrap()));
        assert_eq!(
            strategy(0, &[], Some(128)).select(&req),
            Ok("::abcd:1111:2222:3333".parse().unwrap())
        );
        let v4 = request("192.0.2.1", &[]);
        assert_eq!(strategy(0, &[], Some(64)).select(&v4), Ok("192.0.2.1".parse().unwrap()));
        let bad = IpStrategyConfig {
            ipv6_subnet: Some(129),
            ..Default::default()
        };
        let error = IpStrategy::build(Some(&bad), "ipStrategy").unwrap_err();
        assert_eq!(error.field(), "ipStrategy.ipv6Subnet");
        let zero = IpStrategyConfig {
            depth: 1,
            ipv6_subnet: Some(0),
            ..Default::default()
        };
        assert!(IpStrategy::build(Some(&zero), "ipStrategy").is_err());
    }

    #[test]
    fn source_criteria() {
        let mut req = request("192.0.2.9", &[]);
        req.headers_mut().insert(HOST, "example.com:8080".parse().unwrap());
        req.headers_mut().insert("x-tenant", "acme".parse().unwrap());
        let default = || Source::Ip(IpStrategy::RemoteAddr { ipv6_subnet: None });

        let by_ip = Source::build(None, default()).unwrap();
        assert_eq!(&*by_ip.key(&req), b"192.0.2.9");
        let empty = SourceCriterion::default();
        assert!(matches!(
            Source::build(Some(&empty), Source::Host).unwrap(),
            Source::Host
        ));

        let header = SourceCriterion {
            request_header_name: "X-Tenant".into(),
            ..Default::default()
        };
        assert_eq!(&*Source::build(Some(&header), default()).unwrap().key(&req), b"acme");
        let host = SourceCriterion {
            request_host: true,
            ..Default::default()
        };
        assert_eq!(
            &*Source::build(Some(&host), default()).unwrap().key(&req),
            b"example.com:8080"
        );

        let both = SourceCriterion {
            request_host: true,
            request_header_name: "X-Tenant".into(),
            ..Default::default()
        };
        assert_eq!(
            Source::build(Some(&both), default()).unwrap_err().field(),
            "sourceCriterion"
        );
        let bad = SourceCriterion {
            request_header_name: "bad header".into(),
            ..Default::default()
        };
        assert_eq!(
            Source::build(Some(&bad), default()).unwrap_err().field(),
            "sourceCriterion.requestHeaderName"
        );
    }

    #[test]
    fn long_keys_are_hashed() {
        let short = b"acme";
        assert_eq!(&*bounded_key(short), short);
        let long = vec![b'a'; 4096];
        let mut other = long.clone();
        other[4095] = b'b';
        assert_eq!(bounded_key(&long).len(), 17);
        assert_eq!(bounded_key(&long), bounded_key(&long));
        assert_ne!(bounded_key(&long), bounded_key(&other));
        let mut req = request("192.0.2.9", &[]);
        req.headers_mut()
            .insert("x-token", http::HeaderValue::from_bytes(&long).unwrap());
        let header = Source::Header(HeaderName::from_static("x-token"));
        assert_eq!(header.key(&req), bounded_key(&long));
    }

    #[test]
    fn refusals_look_like_go_writes() {
        let response = refusal(StatusCode::FORBIDDEN, "Forbidden".into());
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        let response = refusal(StatusCode::NO_CONTENT, "No Content".into());
        assert!(response.headers().is_empty());
    }
}
