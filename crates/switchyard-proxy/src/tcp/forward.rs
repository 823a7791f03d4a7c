//! Forwarding bytes both ways between a client and a backend, with TCP half-close: when one side ends
//! its writing, the other side's writing half is shut (its peer sees the end of the stream) while the
//! opposite direction goes on, for `terminationDelay` at most, as in Traefik.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The buffer of each direction: 32 KiB halves the reads and writes of bulk transfers against tokio's
/// default 8 KiB, while a short connection still costs little.
const BUFFER: usize = 32 * 1024;

/// How many bytes went each way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forwarded {
    /// From the client to the backend.
    pub(crate) up: u64,
    /// From the backend to the client.
    pub(crate) down: u64,
}

/// A stream split into a reading and a writing half that can be used at once.
pub(crate) trait IntoHalves {
    type Read: AsyncRead + Unpin;
    type Write: AsyncWrite + Unpin;
    fn into_halves(self) -> (Self::Read, Self::Write);
}

impl IntoHalves for TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;

    /// Plain sockets split without a lock between the halves.
    fn into_halves(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

#[cfg(feature = "tls")]
impl IntoHalves for tokio_rustls::server::TlsStream<TcpStream> {
    type Read = tokio::io::ReadHalf<Self>;
    type Write = tokio::io::WriteHalf<Self>;

    fn into_halves(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
}

#[cfg(feature = "tls")]
impl IntoHalves for tokio_rustls::client::TlsStream<TcpStream> {
    type Read = tokio::io::ReadHalf<Self>;
    type Write = tokio::io::WriteHalf<Self>;

    fn into_halves(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
}

/// Copies `client` to `backend` and back until both directions end. When one direction ends (end of
/// stream or error), the other may go on for `termination_delay` (`None`: without limit).
pub(crate) async fn forward<C, B>(client: C, backend: B, termination_delay: Option<Duration>) -> Forwarded
where
    C: IntoHalves,
    B: IntoHalves,
{
    let (client_read, mut client_write) = client.into_halves();
    let (backend_read, mut backend_write) = backend.into_halves();
    let mut client_read = BufReader::with_capacity(BUFFER, client_read);
    let mut backend_read = BufReader::with_capacity(BUFFER, backend_read);
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
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let copied = tokio::io::copy_buf(from, to).await;
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
