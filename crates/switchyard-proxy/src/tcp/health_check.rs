//! Active health checks of TCP servers, as Traefik's TCP health check: connect with the servers
//! transport (TLS included, no PROXY header), optionally send a payload and expect an answer, within a
//! timeout. A server that fails gets no new connection until it passes again; healthy servers are
//! checked every `interval`, unhealthy ones every `unhealthyInterval`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::service::{Backend, DialSettings, TcpBalancer, TcpServer};

/// A load balancer's health check, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthCheck {
    /// The port to check instead of the server's.
    pub(crate) port: Option<u16>,
    pub(crate) send: Box<[u8]>,
    pub(crate) expect: Box<[u8]>,
    pub(crate) interval: Duration,
    pub(crate) unhealthy_interval: Duration,
    pub(crate) timeout: Duration,
}

/// Checks the servers of `balancer` until it is dropped (no snapshot and no connection uses it).
/// Without a tokio runtime (a compilation outside the gateway), nothing is checked.
pub(crate) fn spawn(balancer: &Arc<TcpBalancer>, check: HealthCheck) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(run(Arc::downgrade(balancer), check));
    }
}

async fn run(balancer: Weak<TcpBalancer>, check: HealthCheck) {
    let Some(count) = balancer.upgrade().map(|lb| lb.servers.len()) else {
        return;
    };
    let mut due = vec![Instant::now() + check.interval; count];
    loop {
        let Some(&wake) = due.iter().min() else { return };
        tokio::time::sleep_until(wake).await;
        let Some(lb) = balancer.upgrade() else { return };
        for (index, when) in due.iter_mut().enumerate() {
            if *when > Instant::now() {
                continue;
            }
            let server = &lb.servers[index];
            let healthy = probe(server, &lb.dial, &check).await;
            let was = lb.up[index].swap(healthy, Ordering::Relaxed);
            if was != healthy {
                let status = if healthy { "UP" } else { "DOWN" };
                tracing::warn!(target: "switchyard::tcp", server = %server.address, status, "TCP health check");
            }
            *when = Instant::now()
                + if healthy {
                    check.interval
                } else {
                    check.unhealthy_interval
                };
        }
    }
}

/// One check of one server.
async fn probe(server: &TcpServer, dial: &DialSettings, check: &HealthCheck) -> bool {
    let address = match check.port {
        Some(port) => {
            let host = server
                .address
                .rsplit_once(':')
                .map_or(server.address.as_str(), |(host, _)| host);
            format!("{host}:{port}")
        }
        None => server.address.clone(),
    };
    let dial = DialSettings {
        timeout: Some(check.timeout),
        proxy_protocol: None,
        ..dial.clone()
    };
    let attempt = async {
        match server.connect(&address, &dial, None).await.ok()? {
            Backend::Plain(stream) => exchange(stream, check).await,
            #[cfg(feature = "tls")]
            Backend::Tls(stream) => exchange(*stream, check).await,
        }
    };
    matches!(tokio::time::timeout(check.timeout, attempt).await, Ok(Some(())))
}

/// Sends the payload and reads the expected answer, if the check has them.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, check: &HealthCheck) -> Option<()> {
    if !check.send.is_empty() {
        stream.write_all(&check.send).await.ok()?;
    }
    if !check.expect.is_empty() {
        let mut answer = vec![0u8; check.expect.len()];
        stream.read_exact(&mut answer).await.ok()?;
        if *answer != *check.expect {
            return None;
        }
    }
    Some(())
}
