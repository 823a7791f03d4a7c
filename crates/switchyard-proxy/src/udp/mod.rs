//! UDP entrypoints (an address ending in `/udp`) and Traefik's `udp` routers and services.
//!
//! An entrypoint has one router (no rules: a datagram carries nothing to route by); the datagrams of
//! each client address form a session that goes to one server, picked by the router's service when
//! the session opens, and lasts until nothing went either way for the entrypoint's `udp.timeout`
//! (3 s by default). A reload sends new sessions by the new configuration; open sessions keep their
//! server.

mod service;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::snapshot::SnapshotHandle;
pub(crate) use service::UdpService;
use session::{MAX_DATAGRAM, Sessions};

/// A bound UDP entrypoint.
pub(crate) struct UdpEntryPoint {
    name: String,
    index: usize,
    socket: Arc<UdpSocket>,
    snapshots: SnapshotHandle,
    sessions: Arc<Sessions>,
}

impl UdpEntryPoint {
    /// Binds the entrypoint's socket.
    pub(crate) fn bind(
        name: &str,
        index: usize,
        address: SocketAddr,
        timeout: Duration,
        snapshots: SnapshotHandle,
    ) -> std::io::Result<Self> {
        let socket = std::net::UdpSocket::bind(address).or_else(|error| match address {
            SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
                std::net::UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], address.port())))
            }
            _ => Err(error),
        })?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            name: name.to_owned(),
            index,
            socket: Arc::new(UdpSocket::from_std(socket)?),
            snapshots,
            sessions: Arc::new(Sessions::new(timeout)),
        })
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Receives datagrams until `shutdown`, each passed on in its client's session.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (n, client) = tokio::select! {
                () = shutdown.cancelled() => break,
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok(received) => received,
                    // An ICMP error about an earlier answer, say: nothing to do for the next datagram.
                    Err(_) => continue,
                },
            };
            let session = match self.sessions.get(&client) {
                Some(session) => session,
                None => match self.open(client, &shutdown).await {
                    Some(session) => session,
                    None => continue,
                },
            };
            self.sessions.touch(&session);
            let _ = session.server.send(&buf[..n]).await;
        }
    }

    /// Opens a session for a new client with the server the current configuration picks.
    async fn open(&self, client: SocketAddr, stop: &CancellationToken) -> Option<Arc<session::Session>> {
        let server = {
            let snapshot = self.snapshots.load();
            let service = snapshot.udp.get(self.index)?.as_ref()?;
            service.pick()?.to_owned()
        };
        match self.sessions.open(client, &server, &self.socket, stop).await {
            Ok(session) => Some(session),
            Err(error) => {
                tracing::debug!(target: "switchyard::udp", entry_point = %self.name, %client, %server, %error, "no session");
                None
            }
        }
    }
}
