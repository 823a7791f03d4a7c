//! An entrypoint's static settings, read from Traefik's `entryPoints.<name>` with Traefik's defaults.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use switchyard_config::{AddressError, EntryPoint};
use switchyard_middleware::EncodedSet;

use super::http2::Http2Settings;
use super::proxy_protocol::ProxyProtocol;
use crate::connection::KeepAliveLimits;
use crate::forward::ForwardedPolicy;
use crate::request_head::UnderscoreHeaders;
use crate::request_path::TargetPolicy;
use crate::trusted_peers::{TrustedIpError, TrustedPeers};

/// hyper refuses read buffers smaller than this.
const MIN_BUFFER: usize = 8192;

/// What Go's server reads beyond `maxHeaderBytes` before refusing a request head (its "bufio slop").
const GO_HEADER_SLACK: usize = 4096;

/// Why an entrypoint cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntryPointError {
    /// The address does not parse.
    #[error("entryPoints.{name}.address: {source}")]
    Address {
        /// The entrypoint.
        name: String,
        /// The parse error.
        source: AddressError,
    },
    /// The socket could not be bound.
    #[error("entryPoints.{name}: cannot listen on {address}: {source}")]
    Bind {
        /// The entrypoint.
        name: String,
        /// The address.
        address: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// `http.underscoreHeadersStrategy` is none of `keep`, `delete`, `reject`.
    #[error("entryPoints.{name}.http.underscoreHeadersStrategy: {value:?} is none of keep, delete, reject")]
    UnderscoreHeadersStrategy {
        /// The entrypoint.
        name: String,
        /// The value found.
        value: String,
    },
    /// A trusted IP is malformed.
    #[error("entryPoints.{name}.{section}.trustedIPs: {source}")]
    TrustedIps {
        /// The entrypoint.
        name: String,
        /// `forwardedHeaders` or `proxyProtocol`.
        section: &'static str,
        /// The bad entry.
        source: TrustedIpError,
    },
}

/// What an entrypoint needs from its configuration.
#[derive(Debug, Clone)]
pub(crate) struct EntryPointSettings {
    pub(crate) address: SocketAddr,
    pub(crate) reuse_port: bool,
    pub(crate) accept_grace: Duration,
    pub(crate) grace: Duration,
    /// Bounds the wait for a request head, including the idle wait between keep-alive requests.
    pub(crate) header_timeout: Option<Duration>,
    /// `readTimeout`, which bounds a request's body too (counted from its head), as Go's server does.
    pub(crate) body_timeout: Option<Duration>,
    /// `transport.maxConnections`: how many client connections may be open at once.
    pub(crate) max_connections: Option<usize>,
    max_header_bytes: usize,
    max_concurrent_streams: u32,
    header_table_size: u32,
    pub(crate) keep_alive: KeepAliveLimits,
    pub(crate) policy: ForwardedPolicy,
    pub(crate) proxy_protocol: Option<ProxyProtocol>,
    pub(crate) tls: Option<String>,
    /// `http.middlewares`: put in front of every router's own middlewares on this entrypoint.
    pub(crate) middlewares: Vec<String>,
    /// `http.sanitizePath` and `http.encodeQuerySemicolons`.
    pub(crate) target: TargetPolicy,
    /// `http.underscoreHeadersStrategy`.
    pub(crate) underscores: UnderscoreHeaders,
    /// The encoded characters `http.encodedCharacters` does not allow (all of them by default).
    pub(crate) denied_encoded: EncodedSet,
    /// For a UDP entrypoint (`address` ending in `/udp`): how long a session lives without datagrams.
    pub(crate) udp: Option<Duration>,
}

/// `udp.timeout`, 3 s when unset or not positive, as in Traefik.
fn udp_timeout(config: &EntryPoint) -> Duration {
    let default = switchyard_config::EntryPointUdp::default().timeout;
    positive(config.udp.unwrap_or_default().timeout)
        .or_else(|| default.to_std())
        .unwrap_or(Duration::from_secs(3))
}

fn positive(d: switchyard_config::Duration) -> Option<Duration> {
    d.to_std().filter(|d| !d.is_zero())
}

/// hyper's head timer also runs while a keep-alive connection waits for its next request, so it serves
/// as both Traefik's `readTimeout` (for the head) and its `idleTimeout`: the shorter one wins.
fn header_timeout(timeouts: &switchyard_config::RespondingTimeouts) -> Option<Duration> {
    match (positive(timeouts.read_timeout), positive(timeouts.idle_timeout)) {
        (Some(read), Some(idle)) => Some(read.min(idle)),
        (read, idle) => read.or(idle),
    }
}

/// The error of a malformed `trustedIPs` entry in `section` of entrypoint `name`.
fn trusted_ips_error<'a>(name: &'a str, section: &'static str) -> impl Fn(TrustedIpError) -> EntryPointError + 'a {
    move |source| EntryPointError::TrustedIps {
        name: name.to_owned(),
        section,
        source,
    }
}

/// `proxyProtocol`: whose PROXY headers are trusted.
fn proxy_protocol(name: &str, config: &EntryPoint) -> Result<Option<ProxyProtocol>, EntryPointError> {
    let Some(proxy) = &config.proxy_protocol else {
        return Ok(None);
    };
    let peers =
        TrustedPeers::parse(proxy.insecure, &proxy.trusted_ips).map_err(trusted_ips_error(name, "proxyProtocol"))?;
    Ok(Some(ProxyProtocol { peers }))
}

/// `http.underscoreHeadersStrategy`, checked.
fn underscores(name: &str, config: &EntryPoint) -> Result<UnderscoreHeaders, EntryPointError> {
    let value = &config.http.underscore_headers_strategy;
    UnderscoreHeaders::parse(value).ok_or_else(|| EntryPointError::UnderscoreHeadersStrategy {
        name: name.to_owned(),
        value: value.clone(),
    })
}

impl EntryPointSettings {
    pub(crate) fn from_config(
        name: &str,
        config: &EntryPoint,
        hostname: Option<&str>,
    ) -> Result<Self, EntryPointError> {
        let address = config.address().map_err(|source| EntryPointError::Address {
            name: name.to_owned(),
            source,
        })?;
        let udp = address.is_udp().then(|| udp_timeout(config));
        let transport = &config.transport;
        Ok(Self {
            udp,
            address: address.socket_addr(),
            reuse_port: config.reuse_port,
            accept_grace: positive(transport.life_cycle.request_accept_grace_timeout).unwrap_or_default(),
            grace: positive(transport.life_cycle.grace_time_out).unwrap_or_default(),
            header_timeout: header_timeout(&transport.responding_timeouts),
            body_timeout: positive(transport.responding_timeouts.read_timeout),
            max_connections: (transport.max_connections > 0).then_some(transport.max_connections as usize),
            max_header_bytes: config.http.max_header_bytes,
            max_concurrent_streams: config.http2.max_concurrent_streams,
            header_table_size: config.http2.max_decoder_header_table_size,
            keep_alive: KeepAliveLimits {
                max_requests: (transport.keep_alive_max_requests > 0).then_some(transport.keep_alive_max_requests),
                max_time: positive(transport.keep_alive_max_time),
            },
            policy: ForwardedPolicy::new(&config.forwarded_headers, hostname)
                .map_err(trusted_ips_error(name, "forwardedHeaders"))?,
            proxy_protocol: proxy_protocol(name, config)?,
            tls: config.http.tls.as_ref().map(|t| t.options.clone()),
            middlewares: config.http.middlewares.clone(),
            target: TargetPolicy {
                sanitize: config.http.sanitize_path,
                encode_query_semicolons: config.http.encode_query_semicolons,
            },
            underscores: underscores(name, config)?,
            denied_encoded: config
                .http
                .encoded_characters
                .as_ref()
                .map_or(EncodedSet::ALL, EncodedSet::denied_by),
        })
    }

    /// hyper's HTTP/1.1 connection builder with these limits.
    pub(crate) fn http1(&self) -> http1::Builder {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            // Go's server reads up to maxHeaderBytes plus 4 KiB of slack before answering 431.
            .max_buf_size(self.max_header_bytes.saturating_add(GO_HEADER_SLACK).max(MIN_BUFFER))
            .keep_alive(true)
            .writev(false);
        builder
    }

    /// The HTTP/2 settings.
    pub(crate) fn http2(&self) -> Http2Settings {
        Http2Settings {
            max_concurrent_streams: self.max_concurrent_streams,
            max_header_list_size: u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX),
            header_table_size: self.header_table_size,
        }
    }
}
