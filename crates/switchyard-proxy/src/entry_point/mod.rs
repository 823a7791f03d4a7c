//! EntryPoints: listening sockets that serve HTTP/1.1, h2c and (with TLS) h2 through the router.
//!
//! Each accepted connection may start with a PROXY protocol header, then a TLS handshake (told from
//! plain HTTP by its first byte); HTTP/2 is chosen by ALPN over TLS and by its connection preface in
//! plain text. HTTP/1.1 is served by hyper ([`http1`]), HTTP/2 on the `h2` crate ([`http2`]), both able
//! to pass a backend's informational answers on.

mod body_deadline;
mod control_frames;
mod http1;
pub(crate) mod http2;
pub(crate) use body_deadline::BodyReadTimeout;
mod proxy_protocol;
mod settings;
#[cfg(feature = "tls")]
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use http2::Http2Settings;
use proxy_protocol::{Header, ProxyProtocol};
pub use settings::EntryPointError;

/// How long a PROXY protocol header may take when no request-head timeout is configured.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) use settings::EntryPointSettings;

use crate::connection::{Connection, EntryPointContext};

/// The first bytes of the HTTP/2 connection preface (`PRI * HTTP/2.0`), which no HTTP/1 request starts
/// with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// A bound entrypoint, ready to serve.
pub(crate) struct EntryPointServer {
    name: String,
    listener: TcpListener,
    context: Arc<EntryPointContext>,
    protocols: Arc<Protocols>,
    proxy_protocol: Option<Arc<ProxyProtocol>>,
    header_timeout: Duration,
    accept_grace: Duration,
    grace: Duration,
    /// `transport.maxConnections`.
    max_connections: Option<usize>,
}

/// How connections speak HTTP.
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: Http2Settings,
}

impl EntryPointServer {
    pub(crate) fn bind(
        name: &str,
        settings: EntryPointSettings,
        context: Arc<EntryPointContext>,
    ) -> Result<Self, EntryPointError> {
        let listener = listen(settings.address, settings.reuse_port).map_err(|source| EntryPointError::Bind {
            name: name.to_owned(),
            address: settings.address,
            source,
        })?;
        Ok(Self {
            name: name.to_owned(),
            listener,
            context,
            protocols: Arc::new(Protocols {
                http1: settings.http1(),
                http2: settings.http2(),
            }),
            proxy_protocol: settings.proxy_protocol.clone().map(Arc::new),
            header_timeout: settings.header_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT),
            accept_grace: settings.accept_grace,
            grace: settings.grace,
            max_connections: settings.max_connections,
        })
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub(crate) fn context(&self) -> &Arc<EntryPointContext> {
        &self.context
    }

    /// Accepts and serves connections until `shutdown`; then keeps accepting for
    /// `requestAcceptGraceTimeout`, asks every connection to finish its in-flight requests and close,
    /// and closes what is left after `graceTimeOut`.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let drain = CancellationToken::new();
        let mut connections = JoinSet::new();
        let accept_until = async {
            shutdown.cancelled().await;
            tokio::time::sleep(self.accept_grace).await;
        };
        tokio::pin!(accept_until);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => self.serve(stream, peer, &drain, &mut connections),
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(target: "switchyard::entrypoint", entry_point = %self.name, %error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                () = &mut accept_until => break,
            }
            while connections.try_join_next().is_some() {}
        }
        drop(self.listener);
        tracing::debug!(target: "switchyard::entrypoint", entry_point = %self.name, open = connections.len(), "draining");
        drain.cancel();
        let drained = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(self.grace, drained).await.is_err() {
            tracing::warn!(
                target: "switchyard::entrypoint",
                entry_point = %self.name,
                open = connections.len(),
                "grace period over; closing the remaining connections"
            );
            connections.abort_all();
        }
        while connections.join_next().await.is_some() {}
    }

    fn serve(&self, mut stream: TcpStream, peer: SocketAddr, drain: &CancellationToken, connections: &mut JoinSet<()>) {
        if let Some(max) = self.max_connections {
            while connections.try_join_next().is_some() {}
            if connections.len() >= max {
                // Closed at once: the client sees the connection end before any byte, and nothing of
                // it is kept.
                tracing::debug!(target: "switchyard::entrypoint", entry_point = %self.name, %peer, max, "maxConnections reached: connection closed");
                return;
            }
        }
        let _ = stream.set_nodelay(true);
        let context = Arc::clone(&self.context);
        let protocols = Arc::clone(&self.protocols);
        let proxy_protocol = self.proxy_protocol.clone();
        let header_timeout = self.header_timeout;
        let drain = drain.clone();
        #[cfg(feature = "metrics")]
        let open = (self.context.observer.as_ref())
            .and_then(|o| o.metrics())
            .map(|metrics| metrics.open_connection(&self.name, "TCP"));
        connections.spawn(async move {
            #[cfg(feature = "metrics")]
            let _open = open;
            let Some(client) = client_of(proxy_protocol.as_deref(), &mut stream, peer, header_timeout).await else {
                return;
            };
            let served = ServedBy {
                protocols: &protocols,
                drain,
                header_timeout,
                peer,
            };
            served.accept(stream, context, client).await;
        });
    }
}

/// The client's address: the peer's, or the one a PROXY protocol header gives; `None` when the header
/// is refused.
async fn client_of(
    proxy_protocol: Option<&ProxyProtocol>,
    stream: &mut TcpStream,
    peer: SocketAddr,
    header_timeout: Duration,
) -> Option<SocketAddr> {
    let Some(proxy) = proxy_protocol else {
        return Some(peer);
    };
    match proxy.accept(stream, peer, header_timeout).await {
        Ok(Header::Client(client)) => Some(client),
        Ok(Header::Absent | Header::Local) => Some(peer),
        Err(error) => {
            tracing::debug!(target: "switchyard::entrypoint", %peer, %error, "connection refused");
            None
        }
    }
}

/// What serving one connection needs from its entrypoint.
struct ServedBy<'a> {
    protocols: &'a Protocols,
    drain: CancellationToken,
    header_timeout: Duration,
    peer: SocketAddr,
}

impl ServedBy<'_> {
    /// Sorts a new connection out (a TCP router's, else TLS or plain, HTTP/2 or HTTP/1.1) and serves it.
    async fn accept(self, stream: TcpStream, context: Arc<EntryPointContext>, client: SocketAddr) {
        let Some(stream) = crate::tcp::route(stream, &context, client, self.header_timeout).await else {
            return;
        };
        #[cfg(feature = "tls")]
        match tls::starts_handshake(&stream, self.header_timeout).await {
            Some(true) => {
                let accepting = Box::pin(tls::accept(stream, &context, self.peer, self.header_timeout));
                let Some((stream, session, h2)) = accepting.await else {
                    return;
                };
                let connection = Connection::new(context, client, true).with_session(session);
                return Box::pin(self.serve(stream, connection, h2)).await;
            }
            Some(false) => {}
            None => return,
        }
        let Some(h2) = starts_with_h2_preface(&stream, self.header_timeout).await else {
            return;
        };
        // Boxed, as the TLS branch's: HTTP's large connection state is allocated only for connections
        // that reach it, so a connection a TCP router takes spawns and moves a small future.
        Box::pin(self.serve(stream, Connection::new(context, client, false), h2)).await;
    }

    /// Serves HTTP/2 or HTTP/1.1 on a connection until it closes or the gateway drains it.
    async fn serve<S>(self, stream: S, connection: Connection, h2: bool)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let ended = if h2 {
            http2::serve(
                stream,
                connection,
                self.protocols.http2,
                self.header_timeout,
                self.drain,
            )
            .await
            .map_err(|e| e.to_string())
        } else {
            http1::serve(stream, connection, &self.protocols.http1, self.drain)
                .await
                .map_err(|e| e.to_string())
        };
        if let Err(error) = ended {
            tracing::debug!(target: "switchyard::entrypoint", %peer, %error, "connection ended with an error");
        }
    }
}

/// Whether a plain connection opens with the HTTP/2 preface (h2c by prior knowledge), looking without
/// consuming; `None` when the client closed or sent too little in time.
async fn starts_with_h2_preface(stream: &TcpStream, wait: Duration) -> Option<bool> {
    let look = async {
        let mut first = [0u8; 16];
        loop {
            let n = stream.peek(&mut first).await.ok()?;
            if n == 0 {
                return None;
            }
            if first[..n] != H2_PREFACE[..n] {
                return Some(false);
            }
            if n == H2_PREFACE.len() {
                return Some(true);
            }
            // A preface cut short so far: wait for the rest without spinning.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(wait, look).await.ok().flatten()
}

/// Binds a listening socket; an unspecified IPv6 address falls back to IPv4 where IPv6 is unavailable.
fn listen(address: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    match bind(address, reuse_port) {
        Err(_) if address.ip() == std::net::Ipv6Addr::UNSPECIFIED => {
            bind(SocketAddr::from(([0, 0, 0, 0], address.port())), reuse_port)
        }
        other => other,
    }
}

fn bind(address: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.bind(address)?;
    socket.listen(1024)
}
