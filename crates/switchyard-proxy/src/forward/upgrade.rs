//! Tunnelling a connection that switched protocols (WebSocket and other `Upgrade`s).

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Copies bytes both ways between the client and the backend once both sides have switched.
pub(super) async fn tunnel(client: OnUpgrade, backend: OnUpgrade) {
    let (client, backend) = match tokio::try_join!(client, backend) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(target: "switchyard::proxy", %error, "upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut backend = TokioIo::new(backend);
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
        tracing::debug!(target: "switchyard::proxy", %error, "upgraded connection ended");
    }
}
