//! TCP services: a load balancer taking its servers in turn, or a weighted split over other TCP
//! services; and dialling the server picked, with the servers transport's timeout, keep-alive,
//! PROXY protocol header and TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::proxy_header::ProxyHeader;
use super::round_robin::WeightedTurns;

/// A compiled TCP service.
#[derive(Debug, Clone)]
pub(crate) enum TcpService {
    /// `loadBalancer`.
    Balancer(Arc<TcpBalancer>),
    /// `weighted`.
    Weighted(Arc<TcpWeighted>),
}

/// `loadBalancer`: servers in turn, passing over those a health check found down.
#[derive(Debug)]
pub(crate) struct TcpBalancer {
    pub(crate) servers: Vec<TcpServer>,
    /// Per server: whether it may take connections (all are until a health check says otherwise).
    pub(crate) up: Vec<AtomicBool>,
    pub(crate) turns: WeightedTurns,
    pub(crate) dial: Arc<DialSettings>,
}

/// `weighted`: services by weight; with `healthCheck`, services with no server up are passed over.
#[derive(Debug)]
pub(crate) struct TcpWeighted {
    pub(crate) services: Vec<TcpService>,
    pub(crate) turns: WeightedTurns,
    pub(crate) follows_health: bool,
}

/// A server of a load balancer.
#[derive(Debug)]
pub(crate) struct TcpServer {
    /// `host:port`.
    pub(crate) address: String,
    /// TLS towards the server, when it has `tls: true`.
    pub(crate) tls: Option<BackendTls>,
}

/// How servers are dialled and their connections ended (a servers transport, with the load
/// balancer's deprecated options folded in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DialSettings {
    /// `dialTimeout`; `None` waits as long as the system does.
    pub(crate) timeout: Option<Duration>,
    /// `dialKeepAlive`; `None` leaves keep-alive off.
    pub(crate) keep_alive: Option<Duration>,
    /// `terminationDelay`; `None` waits without limit for the other side after one side closed.
    pub(crate) termination_delay: Option<Duration>,
    /// The PROXY protocol version to write, if any.
    pub(crate) proxy_protocol: Option<u8>,
}

/// TLS towards a server: the client configuration (no ALPN: the bytes are the client's) and the
/// name to greet and check.
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(crate) struct BackendTls {
    pub(crate) connector: tokio_rustls::TlsConnector,
    pub(crate) server_name: rustls::pki_types::ServerName<'static>,
}

#[cfg(feature = "tls")]
impl std::fmt::Debug for BackendTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Without the `tls` feature no server is reached over TLS.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub(crate) enum BackendTls {}

/// Why a server could not be reached.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DialError {
    /// The service has no server to pick.
    #[error("the service has no server")]
    NoServer,
    /// Connecting timed out.
    #[error("connecting to {0} timed out")]
    Timeout(String),
    /// Connecting, writing the PROXY header or the TLS handshake failed.
    #[error("connecting to {address}: {source}")]
    Io {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// A connection to a server, plain or TLS.
pub(crate) enum Backend {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// How long a TLS handshake with a server may take.
#[cfg(feature = "tls")]
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TcpService {
    /// The server the next connection goes to, with how to dial it.
    pub(crate) fn pick(&self) -> Option<(&TcpServer, &DialSettings)> {
        match self {
            TcpService::Balancer(lb) => {
                let index = lb.turns.next_where(|i| lb.up[i].load(Ordering::Relaxed))?;
                Some((&lb.servers[index], &lb.dial))
            }
            TcpService::Weighted(w) if w.follows_health => {
                w.services[w.turns.next_where(|i| w.services[i].is_up())?].pick()
            }
            TcpService::Weighted(w) => w.services[w.turns.next()?].pick(),
        }
    }

    /// Whether some server of the service may take connections.
    pub(crate) fn is_up(&self) -> bool {
        match self {
            TcpService::Balancer(lb) => lb.up.iter().any(|up| up.load(Ordering::Relaxed)),
            TcpService::Weighted(w) => w.services.iter().any(TcpService::is_up),
        }
    }

    /// Whether some server of the service is reached with a PROXY protocol header.
    pub(crate) fn writes_proxy_header(&self) -> bool {
        match self {
            TcpService::Balancer(lb) => lb.dial.proxy_protocol.is_some(),
            TcpService::Weighted(w) => w.services.iter().any(TcpService::writes_proxy_header),
        }
    }

    /// Picks a server and connects to it for a client connection from `client` (to `local`, the
    /// address it reached, when a PROXY protocol header is written: see [`Self::writes_proxy_header`]).
    pub(crate) async fn connect(
        &self,
        client: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<(Backend, Option<Duration>), DialError> {
        let (server, dial) = self.pick().ok_or(DialError::NoServer)?;
        let proxied = local.map(|local| (client, local));
        let backend = server.connect(&server.address, dial, proxied).await?;
        Ok((backend, dial.termination_delay))
    }
}

impl TcpServer {
    /// Connects to `address` (the server's, or its health-check port) as `dial` says, writing a PROXY
    /// header for `proxied` (client and local address) when the transport sends one.
    pub(crate) async fn connect(
        &self,
        address: &str,
        dial: &DialSettings,
        proxied: Option<(SocketAddr, SocketAddr)>,
    ) -> Result<Backend, DialError> {
        let io = |source| DialError::Io {
            address: address.to_owned(),
            source,
        };
        let connecting = TcpStream::connect(address);
        let mut stream = match dial.timeout {
            Some(limit) => tokio::time::timeout(limit, connecting)
                .await
                .map_err(|_| DialError::Timeout(address.to_owned()))?,
            None => connecting.await,
        }
        .map_err(io)?;
        let _ = stream.set_nodelay(true);
        if let Some(period) = dial.keep_alive {
            let keep_alive = socket2::TcpKeepalive::new().with_time(period).with_interval(period);
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keep_alive);
        }
        if let (Some(version), Some((client, local))) = (dial.proxy_protocol, proxied) {
            let header = ProxyHeader::new(version, client, local);
            stream.write_all(header.as_bytes()).await.map_err(io)?;
        }
        let backend = match &self.tls {
            None => Backend::Plain(stream),
            #[cfg(feature = "tls")]
            Some(tls) => {
                // Boxed: the handshake's state would otherwise size every connection's task.
                let handshake = Box::pin(tls.connector.connect(tls.server_name.clone(), stream));
                let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
                    .await
                    .map_err(|_| DialError::Timeout(address.to_owned()))?
                    .map_err(io)?;
                Backend::Tls(Box::new(stream))
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
        };
        Ok(backend)
    }
}
