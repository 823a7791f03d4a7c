//! UDP sessions: the datagrams of one client address go to one server through a socket of their own,
//! and the server's answers go back to the client from the entrypoint's address, until neither side
//! sent anything for the entrypoint's `udp.timeout`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// The largest UDP payload.
pub(super) const MAX_DATAGRAM: usize = 65_535;

/// One client's session.
#[derive(Debug)]
pub(super) struct Session {
    /// Connected to the server.
    pub(super) server: UdpSocket,
    /// When a datagram last went either way, in milliseconds since the sessions' epoch.
    last: AtomicU64,
}

/// The open sessions of one UDP entrypoint, by client address.
#[derive(Debug)]
pub(super) struct Sessions {
    open: Mutex<HashMap<SocketAddr, Arc<Session>>>,
    epoch: Instant,
    timeout: Duration,
}

impl Sessions {
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            timeout,
        }
    }

    /// The session of `client`, if one is open.
    pub(super) fn get(&self, client: &SocketAddr) -> Option<Arc<Session>> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(client)
            .cloned()
    }

    /// Opens a session for `client` towards `server` and starts passing the server's answers back
    /// through `listener`, until the session is idle for the timeout or `stop` is cancelled.
    pub(super) async fn open(
        self: &Arc<Self>,
        client: SocketAddr,
        server: &str,
        listener: &Arc<UdpSocket>,
        stop: &CancellationToken,
    ) -> std::io::Result<Arc<Session>> {
        let target = tokio::net::lookup_host(server).await?.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "the server address resolves to nothing")
        })?;
        let local: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(target).await?;
        let session = Arc::new(Session {
            server: socket,
            last: AtomicU64::new(self.now()),
        });
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(client, Arc::clone(&session));
        tokio::spawn(Arc::clone(self).answers(client, Arc::clone(&session), Arc::clone(listener), stop.clone()));
        Ok(session)
    }

    /// Notes traffic on a session.
    pub(super) fn touch(&self, session: &Session) {
        session.last.store(self.now(), Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long the session may still stay idle; zero when it has been idle for the timeout.
    fn remaining(&self, session: &Session) -> Duration {
        let idle = Duration::from_millis(self.now().saturating_sub(session.last.load(Ordering::Relaxed)));
        self.timeout.saturating_sub(idle)
    }

    /// Passes the server's answers to the client until the session times out, then closes it.
    async fn answers(
        self: Arc<Self>,
        client: SocketAddr,
        session: Arc<Session>,
        listener: Arc<UdpSocket>,
        stop: CancellationToken,
    ) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let remaining = self.remaining(&session);
            if remaining.is_zero() {
                break;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                received = tokio::time::timeout(remaining, session.server.recv(&mut buf)) => match received {
                    Ok(Ok(n)) => {
                        self.touch(&session);
                        let _ = listener.send_to(&buf[..n], client).await;
                    }
                    // A refused datagram (ICMP) or another error: the server is gone for this session.
                    Ok(Err(_)) => break,
                    // Idle so far: the loop checks whether the client kept the session alive.
                    Err(_) => {}
                },
            }
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.get(&client).is_some_and(|s| Arc::ptr_eq(s, &session)) {
            open.remove(&client);
        }
    }
}
