//! Forwarding bytes both ways between a client and a backend, with TCP half-close: when one side ends
//! its writing, the other side's writing half is shut (its peer sees the end of the stream) while the
//! opposite direction goes on, for `terminationDelay` at most, as in Traefik.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first buffer of each direction: enough for the exchanges of a short connection.
const FIRST_BUFFER: usize = 8 * 1024;
/// The buffer of a direction once a read has filled the first one: 32 KiB quarters the reads and
/// writes of bulk transfers against 8 KiB. Neither is zeroed.
const BULK_BUFFER: usize = 32 * 1024;

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

    /// Ends the writing half once both directions are done and the connection is about to close:
    /// by default a shutdown (a TLS stream sends its close_notify).
    fn end(write: &mut Self::Write) -> impl Future<Output = ()> {
        async {
            let _ = write.shutdown().await;
        }
    }

    /// Drops the writing half once the connection is done.
    fn release(write: Self::Write) {
        drop(write);
    }
}

impl IntoHalves for TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;

    /// Plain sockets split without a lock between the halves.
    fn into_halves(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }

    /// Nothing to send: closing the socket sends the FIN, which saves a `shutdown` call.
    async fn end(_write: &mut Self::Write) {}

    /// Without the `shutdown` the half would make when dropped.
    fn release(write: Self::Write) {
        write.forget();
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
/// stream or error), its writing half is shut (the peer sees the end of the stream) and the other
/// direction may go on for `termination_delay` (`None`: without limit).
pub(crate) async fn forward<C, B>(client: C, backend: B, termination_delay: Option<Duration>) -> Forwarded
where
    C: IntoHalves,
    B: IntoHalves,
{
    let (mut client_read, mut client_write) = client.into_halves();
    let (mut backend_read, mut backend_write) = backend.into_halves();
    let first_done = AtomicBool::new(false);
    let mut forwarded = Forwarded::default();
    {
        let up = one_way::<_, B>(&mut client_read, &mut backend_write, &first_done);
        let down = one_way::<_, C>(&mut backend_read, &mut client_write, &first_done);
        tokio::pin!(up, down);
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
    }
    C::release(client_write);
    B::release(backend_write);
    forwarded
}

/// Copies until the end of `from`. The first direction to end shuts the writing half of `to` (its
/// peer sees the end too, while the other direction goes on); the second ends it as the connection
/// closes.
async fn one_way<R, S>(from: &mut R, to: &mut S::Write, first_done: &AtomicBool) -> u64
where
    R: AsyncRead + Unpin,
    S: IntoHalves,
{
    let mut buffer = BytesMut::with_capacity(FIRST_BUFFER);
    let mut copied = 0;
    loop {
        buffer.clear();
        match from.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                if to.write_all(&buffer).await.is_err() || to.flush().await.is_err() {
                    break;
                }
                copied += read as u64;
                if read == buffer.capacity() && read < BULK_BUFFER {
                    buffer = BytesMut::with_capacity(BULK_BUFFER);
                }
            }
        }
    }
    if first_done.swap(true, Ordering::Relaxed) {
        S::end(to).await;
    } else {
        let _ = to.shutdown().await;
    }
    copied
}

/// Lets the remaining direction finish within `delay`.
async fn finish(direction: impl Future<Output = u64>, delay: Option<Duration>) -> u64 {
    match delay {
        Some(delay) => tokio::time::timeout(delay, direction).await.unwrap_or(0),
        None => direction.await,
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let near = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (far, _) = listener.accept().await.unwrap();
        (near, far)
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
    }

    #[tokio::test]
    async fn bulk_bytes_cross_both_ways_intact_past_the_first_buffer_and_both_ends_see_the_close() {
        // client <-> (client_side | forward | backend_side) <-> backend
        let (mut client, client_side) = pair().await;
        let (backend_side, mut backend) = pair().await;
        let forwarding = tokio::spawn(forward(client_side, backend_side, None));
        let up = pattern(3 * 1024 * 1024 + 17, 0x5a);
        let down = pattern(1024 * 1024 + 3, 0xa5);

        let (up_sent, down_sent) = (up.clone(), down.clone());
        let client_task = tokio::spawn(async move {
            client.write_all(&up_sent).await.unwrap();
            client.shutdown().await.unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut got = Vec::new();
        backend.read_to_end(&mut got).await.unwrap();
        assert!(
            got == up,
            "the backend got {} bytes, not the {} sent",
            got.len(),
            up.len()
        );
        // Half-closed by the client: the backend still answers, then closes.
        backend.write_all(&down_sent).await.unwrap();
        drop(backend);

        let back = client_task.await.unwrap();
        assert!(
            back == down,
            "the client got {} bytes, not the {} sent",
            back.len(),
            down.len()
        );
        let forwarded = forwarding.await.unwrap();
        assert_eq!(
            forwarded,
            Forwarded {
                up: up.len() as u64,
                down: down.len() as u64
            }
        );
    }

    #[tokio::test]
    async fn a_backend_that_closes_first_ends_the_client_side_too() {
        let (mut client, client_side) = pair().await;
        let (backend_side, mut backend) = pair().await;
        let forwarding = tokio::spawn(forward(client_side, backend_side, Some(Duration::from_secs(5))));
        backend.write_all(b"bye").await.unwrap();
        drop(backend);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        drop(client);
        let forwarded = tokio::time::timeout(Duration::from_secs(5), forwarding)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(forwarded, Forwarded { up: 0, down: 3 });
    }
}
