//! Forwarding bytes both ways between a client and a backend, with TCP half-close: when one side ends
//! its writing, the other side's writing half is shut (its peer sees the end of the stream) while the
//! opposite direction goes on, for `terminationDelay` at most, as in Traefik.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// How many bytes went each way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forwarded {
    /// From the client to the backend.
    pub(crate) up: u64,
    /// From the backend to the client.
    pub(crate) down: u64,
}

/// Copies `client` to `backend` and back until both directions end. When one direction ends (end of
/// stream or error), the other may go on for `termination_delay` (`None`: without limit).
pub(crate) async fn forward<C, B>(client: C, backend: B, termination_delay: Option<Duration>) -> Forwarded
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut backend_read, mut backend_write) = tokio::io::split(backend);
    let up = one_way(&mut client_read, &mut backend_write);
    let down = one_way(&mut backend_read, &mut client_write);
    tokio::pin!(up, down);
    let mut forwarded = Forwarded::default();
    tokio::select! {
        sent = &mut up => {
            forwarded.up = sent;
            forwarded.down = finish(down, termination_delay).await;
        }
        sent = &mut down => {
            forwarded.down = sent;
            forwarded.up = finish(up, termination_delay).await;
        }
    }
    forwarded
}

/// Copies until the end of `from`, then shuts the writing half of `to`: its peer sees the end too.
async fn one_way<R, W>(from: &mut R, to: &mut W) -> u64
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let copied = tokio::io::copy(from, to).await;
    let _ = to.shutdown().await;
    copied.unwrap_or(0)
}

/// Lets the remaining direction finish within `delay`.
async fn finish(direction: impl Future<Output = u64>, delay: Option<Duration>) -> u64 {
    match delay {
        Some(delay) => tokio::time::timeout(delay, direction).await.unwrap_or(0),
        None => direction.await,
    }
}
