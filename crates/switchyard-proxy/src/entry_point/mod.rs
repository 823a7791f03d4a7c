//! EntryPoints: listening sockets that serve HTTP/1.1, h2c and (with TLS) h2 through the router.

mod settings;

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

pub use settings::EntryPointError;
pub(crate) use settings::Settings;

use crate::body::RequestBody;
use crate::router::{Connection, EntryPointContext};

/// A bound entrypoint, ready to serve.
pub(crate) struct EntryPointServer {
    name: String,
    listener: TcpListener,
    context: Arc<EntryPointContext>,
    builder: auto::Builder<TokioExecutor>,
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

    fn serve(&self, stream: TcpStream, peer: SocketAddr, graceful: &GracefulShutdown, connections: &mut JoinSet<()>) {
        let _ = stream.set_nodelay(true);
        let connection = Arc::new(Connection::new(Arc::clone(&self.context), peer.ip(), false));
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let connection = Arc::clone(&connection);
            async move { Ok::<_, Infallible>(connection.handle(req.map(RequestBody::from)).await) }
        });
        let serving = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let serving = graceful.watch(serving);
        connections.spawn(async move {
            if let Err(error) = serving.await {
                tracing::debug!(target: "switchyard::entrypoint", %peer, %error, "connection ended with an error");
            }
        });
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
