//! `entryPoints`: where switchyard listens and how it treats connections there.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::{Duration, EncodedCharacters, TlsDomain};

/// An entrypoint.
///
/// ```
/// use switchyard_config::{Duration, EntryPoint};
///
/// let web = EntryPoint::new(":8000");
/// assert_eq!(web.address().unwrap().socket_addr().port(), 8000);
/// assert_eq!(web.transport.responding_timeouts.read_timeout, Duration::from_secs(60));
/// assert_eq!(web.http2.max_concurrent_streams, 250);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPoint {
    /// `[host]:port[/tcp|/udp]`; an empty host listens on every interface.
    pub address: String,
    /// Let ACME challenges through before routers.
    #[serde(rename = "allowACMEByPass")]
    pub allow_acme_bypass: bool,
    /// Set `SO_REUSEPORT`, so several processes can listen on the port.
    pub reuse_port: bool,
    /// Routers without `entryPoints` attach here (see `StaticConfig::default_entry_points`).
    pub as_default: bool,
    /// Timeouts and graceful shutdown.
    pub transport: EntryPointTransport,
    /// Accept the PROXY protocol from these peers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Which peers' `X-Forwarded-*` headers are trusted.
    pub forwarded_headers: ForwardedHeaders,
    /// HTTP settings: redirections, default middlewares, TLS.
    pub http: EntryPointHttp,
    /// HTTP/2 limits.
    pub http2: EntryPointHttp2,
    /// HTTP/3: read so files load; switchyard does not serve HTTP/3 yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http3: Option<serde_json::Value>,
    /// UDP sessions, for an entrypoint whose address ends in `/udp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<EntryPointUdp>,
    /// Which signals (access logs, metrics, traces) the entrypoint's requests produce, for routers
    /// without an `observability` section of their own. All on by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observability: Option<crate::RouterObservability>,
}

impl EntryPoint {
    /// An entrypoint on `address` with Traefik's defaults.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            ..Self::default()
        }
    }

    /// The parsed address.
    pub fn address(&self) -> Result<EntryPointAddress, AddressError> {
        self.address.parse()
    }
}

/// A parsed entrypoint address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPointAddress {
    socket: SocketAddr,
    udp: bool,
}

impl EntryPointAddress {
    /// The socket address to bind (`[::]:port` for an address without host).
    pub fn socket_addr(&self) -> SocketAddr {
        self.socket
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.socket.port()
    }

    /// Whether the entrypoint is UDP (`/udp`).
    pub fn is_udp(&self) -> bool {
        self.udp
    }
}

/// Why an entrypoint address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid entrypoint address `{address}`: {reason}")]
pub struct AddressError {
    address: String,
    reason: &'static str,
}

impl std::str::FromStr for EntryPointAddress {
    type Err = AddressError;

    /// Reads `:80`, `0.0.0.0:443`, `[::1]:8443`, `:8080/tcp`, `:53/udp`; host names are not resolved.
    fn from_str(address: &str) -> Result<Self, AddressError> {
        let fail = |reason| AddressError {
            address: address.to_owned(),
            reason,
        };
        let (host_port, udp) = split_protocol(address).map_err(fail)?;
        let (host, port) = host_port.rsplit_once(':').ok_or_else(|| fail("expected [host]:port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| fail("the port must be a number from 0 to 65535"))?;
        let ip = host_ip(host).map_err(fail)?;
        Ok(Self {
            socket: SocketAddr::new(ip, port),
            udp,
        })
    }
}

/// An address without its `/tcp` or `/udp` suffix, and whether it was `/udp`.
fn split_protocol(address: &str) -> Result<(&str, bool), &'static str> {
    match address.rsplit_once('/') {
        Some((rest, protocol)) if protocol.eq_ignore_ascii_case("tcp") => Ok((rest, false)),
        Some((rest, protocol)) if protocol.eq_ignore_ascii_case("udp") => Ok((rest, true)),
        Some(_) => Err("the protocol must be tcp or udp"),
        None => Ok((address, false)),
    }
}

/// The IP address of an entrypoint's host: every address when empty, an IPv6 address in brackets.
fn host_ip(host: &str) -> Result<IpAddr, &'static str> {
    match host {
        "" => Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        bracketed if bracketed.starts_with('[') && bracketed.ends_with(']') => bracketed[1..bracketed.len() - 1]
            .parse()
            .map_err(|_| "invalid IPv6 address"),
        plain => plain
            .parse()
            .map_err(|_| "the host must be an IP address (host names are not resolved)"),
    }
}

/// `udp` of an entrypoint.
///
/// ```
/// use switchyard_config::{Duration, EntryPointUdp};
///
/// assert_eq!(EntryPointUdp::default().timeout, Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPointUdp {
    /// How long a session lives without a datagram either way. Default: 3 s.
    pub timeout: Duration,
}

impl Default for EntryPointUdp {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
        }
    }
}

/// `transport`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPointTransport {
    /// Graceful shutdown.
    pub life_cycle: LifeCycle,
    /// Timeouts of client connections.
    pub responding_timeouts: RespondingTimeouts,
    /// Close keep-alive connections older than this; 0 for no limit.
    pub keep_alive_max_time: Duration,
    /// Close keep-alive connections after this many requests; 0 for no limit.
    pub keep_alive_max_requests: u64,
    /// The most client connections open at once; a connection past it is closed as soon as it is
    /// accepted. 0 (the default) for no limit. A switchyard extension: Traefik has no such option.
    pub max_connections: u32,
}

/// `transport.lifeCycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LifeCycle {
    /// How long to keep accepting requests after shutdown begins.
    pub request_accept_grace_timeout: Duration,
    /// How long in-flight requests may run after listening stops. Default: 10 s.
    #[serde(rename = "graceTimeOut")]
    pub grace_time_out: Duration,
}

impl Default for LifeCycle {
    fn default() -> Self {
        Self {
            request_accept_grace_timeout: Duration::ZERO,
            grace_time_out: Duration::from_secs(10),
        }
    }
}

/// `transport.respondingTimeouts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RespondingTimeouts {
    /// Time to read a whole request, body included; 0 for none. Default: 60 s.
    pub read_timeout: Duration,
    /// Time to write a response; 0 for none. Default: 0.
    pub write_timeout: Duration,
    /// How long an idle keep-alive connection stays open. Default: 180 s.
    pub idle_timeout: Duration,
}

impl Default for RespondingTimeouts {
    fn default() -> Self {
        Self {
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::ZERO,
            idle_timeout: Duration::from_secs(180),
        }
    }
}

/// `proxyProtocol`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProxyProtocol {
    /// Trust the PROXY header from any peer (testing only).
    pub insecure: bool,
    /// Peers whose PROXY header is trusted.
    #[serde(rename = "trustedIPs")]
    pub trusted_ips: Vec<String>,
}

/// `forwardedHeaders`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ForwardedHeaders {
    /// Trust `X-Forwarded-*` from any peer.
    pub insecure: bool,
    /// Peers whose `X-Forwarded-*` headers are trusted.
    #[serde(rename = "trustedIPs")]
    pub trusted_ips: Vec<String>,
    /// Headers listed in `Connection` that are kept rather than removed as hop-by-hop.
    pub connection: Vec<String>,
    /// Do not append the peer address to `X-Forwarded-For`.
    pub not_append_x_forwarded_for: bool,
    /// Also set `X-Forwarded-Scheme`-style headers.
    pub add_x_forwarded_scheme_headers: bool,
}

/// `http` of an entrypoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPointHttp {
    /// Redirect every request to another entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirections: Option<Redirections>,
    /// Middlewares applied to every router on this entrypoint, before the router's own.
    pub middlewares: Vec<String>,
    /// TLS for every router on this entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<EntryPointTls>,
    /// Which encoded characters request paths may contain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoded_characters: Option<EncodedCharacters>,
    /// Encode `;` in queries instead of treating it as a separator.
    pub encode_query_semicolons: bool,
    /// Clean `..`, `//` and `.` segments from paths before routing. Default: `true`.
    pub sanitize_path: bool,
    /// The largest request head accepted, in bytes. Default: 1 MiB.
    pub max_header_bytes: usize,
    /// Headers with underscores: `keep` (default), `delete` or `reject`.
    pub underscore_headers_strategy: String,
}

impl Default for EntryPointHttp {
    fn default() -> Self {
        Self {
            redirections: None,
            middlewares: Vec::new(),
            tls: None,
            encoded_characters: None,
            encode_query_semicolons: false,
            sanitize_path: true,
            max_header_bytes: 1 << 20,
            underscore_headers_strategy: "keep".into(),
        }
    }
}

/// `http.redirections`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Redirections {
    /// Redirect to another entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<RedirectEntryPoint>,
}

/// `http.redirections.entryPoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RedirectEntryPoint {
    /// The target entrypoint name, or a port (`:443`).
    pub to: String,
    /// The target scheme. Default: `https`.
    pub scheme: String,
    /// Permanent redirection. Default: `true`.
    pub permanent: bool,
    /// The priority of the generated redirect router. Default: the largest possible minus one.
    pub priority: i64,
}

impl Default for RedirectEntryPoint {
    fn default() -> Self {
        Self {
            to: String::new(),
            scheme: "https".into(),
            permanent: true,
            priority: i64::MAX - 1,
        }
    }
}

/// `http.tls` of an entrypoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPointTls {
    /// TLS options by name.
    pub options: String,
    /// Certificate resolver.
    pub cert_resolver: String,
    /// Domains.
    pub domains: Vec<TlsDomain>,
}

/// `http2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryPointHttp2 {
    /// Streams per connection. Default: 250.
    pub max_concurrent_streams: u32,
    /// HPACK decoder table size. Default: 4096.
    pub max_decoder_header_table_size: u32,
    /// HPACK encoder table size. Default: 4096.
    pub max_encoder_header_table_size: u32,
}

impl Default for EntryPointHttp2 {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 250,
            max_decoder_header_table_size: 4096,
            max_encoder_header_table_size: 4096,
        }
    }
}
