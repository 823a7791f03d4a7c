//! EntryPoints: listening sockets that serve HTTP/1.1, h2c and (with TLS) h2 through the router.

mod proxy_protocol;
mod settings;
#[cfg(feature = "tls")]
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use proxy_protocol::{Header, ProxyProtocol};
pub use settings::EntryPointError;

/// How long a PROXY protocol header may take when no request-head timeout is configured.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) use settings::Settings;

use crate::router::{Connection, EntryPointContext};
use switchyard_middleware::RequestBody;

/// A bound entrypoint, ready to serve.
pub(crate) struct EntryPointServer {
    name: String,
    listener: TcpListener,
    context: Arc<EntryPointContext>,
    builder: auto::Builder<TokioExecutor>,
    proxy_protocol: Option<Arc<ProxyProtocol>>,
    header_timeout: Duration,
    accept_grace: Duration,
    grace: Duration,
}

impl EntryPointServer {
    pub(crate) fn bind(
        name: &str,
        settings: Settings,
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
            builder: settings.builder(),
            proxy_protocol: settings.proxy_protocol.clone().map(Arc::new),
            header_timeout: settings.header_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT),
            accept_grace: settings.accept_grace,
            grace: settings.grace,
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
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let accept_until = async {
            shutdown.cancelled().await;
            tokio::time::sleep(self.accept_grace).await;
        };
        tokio::pin!(accept_until);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => self.serve(stream, peer, &graceful, &mut connections),
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
        if tokio::time::timeout(self.grace, graceful.shutdown()).await.is_err() {
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

    fn serve(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
        graceful: &GracefulShutdown,
        connections: &mut JoinSet<()>,
    ) {
        let _ = stream.set_nodelay(true);
        let context = Arc::clone(&self.context);
        let builder = self.builder.clone();
        let proxy_protocol = self.proxy_protocol.clone();
        let header_timeout = self.header_timeout;
        let watcher = graceful.watcher();
        connections.spawn(async move {
            let client = match &proxy_protocol {
                None => peer,
                Some(proxy) => match proxy.accept(&mut stream, peer, header_timeout).await {
                    Ok(Header::Client(client)) => client,
                    Ok(Header::Absent | Header::Local) => peer,
                    Err(error) => {
                        tracing::debug!(target: "switchyard::entrypoint", %peer, %error, "connection refused");
                        return;
                    }
                },
            };
            #[cfg(feature = "tls")]
            match tls::starts_handshake(&stream, header_timeout).await {
                Some(true) => {
                    let Some((stream, session)) = tls::accept(stream, &context, peer, header_timeout).await else {
                        return;
                    };
                    let connection = Connection::new(context, client.ip(), true).with_session(session);
                    serve_http(stream, connection, &builder, watcher, peer).await;
                    return;
                }
                Some(false) => {}
                None => return,
            }
            let connection = Connection::new(context, client.ip(), false);
            serve_http(stream, connection, &builder, watcher, peer).await;
        });
    }
}

/// Serves HTTP/1.1 or HTTP/2 (by preface) on a connection until it closes or the gateway drains it.
async fn serve_http<S>(
    stream: S,
    connection: Connection,
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = Arc::new(connection);
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let connection = Arc::clone(&connection);
        async move { Ok::<_, Infallible>(connection.handle(req.map(RequestBody::from)).await) }
    });
    let serving = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    if let Err(error) = watcher.watch(serving.into_owned()).await {
        tracing::debug!(target: "switchyard::entrypoint", %peer, %error, "connection ended with an error");
    }
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
