//! The TLS side of an entrypoint: tell a TLS handshake from plain HTTP, pick the configuration by
//! server name from the current snapshot, and run the handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::Acceptor;
use switchyard_middleware::PeerCertificates;
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::connection::{EntryPointContext, TlsSession};

/// The first byte of a TLS record carrying a handshake message.
const HANDSHAKE_RECORD: u8 = 0x16;

/// Whether the client opens with a TLS handshake (`Some(true)`) or plain HTTP (`Some(false)`); `None`
/// when it closed or sent nothing in time. Looks without consuming, as Traefik does, so one entrypoint
/// serves both.
pub(super) async fn starts_handshake(stream: &TcpStream, wait: Duration) -> Option<bool> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(wait, stream.peek(&mut first)).await {
        Ok(Ok(1)) => Some(first[0] == HANDSHAKE_RECORD),
        _ => None,
    }
}

/// Runs the server side of a handshake with the configuration the current snapshot gives the
/// client's server name on this entrypoint; says whether ALPN settled on HTTP/2.
pub(super) async fn accept(
    stream: TcpStream,
    context: &Arc<EntryPointContext>,
    peer: SocketAddr,
    wait: Duration,
) -> Option<(TlsStream<TcpStream>, TlsSession, bool)> {
    let local_ip = stream.local_addr().ok().map(|a| a.ip());
    let handshake = async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), stream)
            .await
            .map_err(|e| format!("reading the ClientHello: {e}"))?;
        let chosen = {
            let snapshot = context.snapshots.load();
            let hello = start.client_hello();
            let tls = snapshot.tls.as_ref().ok_or("no configuration compiled yet")?;
            tls.for_server_name(context.index, hello.server_name(), local_ip)
                .ok_or_else(|| format!("the TLS options for {:?} are invalid", hello.server_name()))?
        };
        let (options, config) = chosen;
        let stream = start.into_stream(config).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((stream, options))
    };
    let (stream, options) = match tokio::time::timeout(wait, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => {
            tracing::debug!(target: "switchyard::entrypoint", %peer, %error, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(target: "switchyard::entrypoint", %peer, "TLS handshake timed out");
            return None;
        }
    };
    let session = stream.get_ref().1;
    let peer_certificates = session
        .peer_certificates()
        .map(|chain| PeerCertificates::new(chain.iter().map(|c| c.as_ref().to_vec())));
    let h2 = session.alpn_protocol() == Some(b"h2");
    Some((
        stream,
        TlsSession {
            options,
            peer_certificates,
        },
        h2,
    ))
}
