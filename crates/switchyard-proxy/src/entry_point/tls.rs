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
    let (stream, options) = match tokio::time::timeout(wait, handshake(stream, context)).await {
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
    let session = session_of(&stream, options);
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    Some((stream, session, h2))
}

/// The handshake: the configuration chosen from the ClientHello's server name, and the TLS options
/// it comes from.
async fn handshake(stream: TcpStream, context: &EntryPointContext) -> Result<(TlsStream<TcpStream>, u32), String> {
    let local_ip = stream.local_addr().ok().map(|a| a.ip());
    let start = LazyConfigAcceptor::new(Acceptor::default(), stream)
        .await
        .map_err(|e| format!("reading the ClientHello: {e}"))?;
    #[cfg(feature = "acme")]
    if let Some(config) = acme_challenge(&start, context) {
        // The validation server only checks the certificate; nothing is served on this connection.
        let mut stream = start.into_stream(config).await.map_err(|e| e.to_string())?;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
        return Err("answered an ACME TLS-ALPN-01 challenge".into());
    }
    let (options, config) = {
        let snapshot = context.snapshots.load();
        let hello = start.client_hello();
        let tls = snapshot.tls.as_ref().ok_or("no configuration compiled yet")?;
        tls.for_server_name(context.index, hello.server_name(), local_ip)
            .ok_or_else(|| format!("the TLS options for {:?} are invalid", hello.server_name()))?
    };
    let stream = start.into_stream(config).await.map_err(|e| e.to_string())?;
    Ok((stream, options))
}

/// The configuration answering a pending TLS-ALPN-01 challenge, when the client offers `acme-tls/1`
/// for a name being validated; other handshakes never get it.
#[cfg(feature = "acme")]
fn acme_challenge(
    start: &tokio_rustls::StartHandshake<TcpStream>,
    context: &EntryPointContext,
) -> Option<Arc<rustls::ServerConfig>> {
    let hello = start.client_hello();
    if !hello.alpn()?.any(|p| p == switchyard_tls::ACME_TLS_ALPN) {
        return None;
    }
    let name = hello.server_name()?;
    let snapshot = context.snapshots.load();
    snapshot.tls.as_ref()?.server.store().issued()?.challenge_config(name)
}

/// What requests learn of the connection's TLS session.
fn session_of(stream: &TlsStream<TcpStream>, options: u32) -> TlsSession {
    let peer_certificates = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| PeerCertificates::new(chain.iter().map(|c| c.as_ref().to_vec())));
    let connection = stream.get_ref().1;
    TlsSession {
        options,
        peer_certificates,
        version: connection.protocol_version().and_then(version_name),
        cipher: connection
            .negotiated_cipher_suite()
            .and_then(|s| cipher_name(s.suite())),
        server_name: connection.server_name().map(Into::into),
    }
}

/// A TLS version as Traefik names it in logs and metrics (`1.3`).
fn version_name(version: rustls::ProtocolVersion) -> Option<&'static str> {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => Some("1.3"),
        rustls::ProtocolVersion::TLSv1_2 => Some("1.2"),
        _ => None,
    }
}

/// A cipher suite by its IANA name, as Go (and so Traefik) writes it: rustls' `TLS13_` prefix is
/// `TLS_`.
fn cipher_name(suite: rustls::CipherSuite) -> Option<&'static str> {
    match suite {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => Some("TLS_AES_128_GCM_SHA256"),
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => Some("TLS_AES_256_GCM_SHA384"),
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => Some("TLS_CHACHA20_POLY1305_SHA256"),
        other => other.as_str(),
    }
}
