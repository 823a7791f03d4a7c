//! The TLS side of HTTPS backends: a transport's client configuration, shared by its pools, and the
//! target each pool greets. Without the `tls` feature both types are empty: they cannot be built, and
//! HTTPS backends are refused.

#[cfg(feature = "tls")]
pub(crate) use enabled::{ClientTls, TlsTarget};

/// A transport's TLS client configuration (the `tls` feature is off: there is none).
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientTls {}

/// A backend's TLS settings (the `tls` feature is off: there are none).
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub(crate) enum TlsTarget {}

/// Why a transport cannot carry HTTPS: the option at fault (empty for the transport as a whole) and
/// the problem.
#[derive(Debug, Clone)]
pub(crate) struct TlsFailure {
    pub(crate) option: String,
    pub(crate) problem: switchyard_config::Problem,
}

#[cfg(not(feature = "tls"))]
impl ClientTls {
    /// Without the `tls` feature no transport carries HTTPS.
    pub(crate) fn from_config(_transport: &switchyard_config::ServersTransport) -> Result<Self, TlsFailure> {
        Err(TlsFailure {
            option: String::new(),
            problem: switchyard_config::Problem::Unsupported(
                "HTTPS backends need switchyard's `tls` feature, which this build does not have".into(),
            ),
        })
    }

    /// Never called: no value exists.
    pub(crate) fn target(&self, _host: &str) -> Result<TlsTarget, String> {
        match *self {}
    }

    /// Never called: no value exists.
    pub(crate) fn id(&self) -> u64 {
        match *self {}
    }
}

#[cfg(feature = "tls")]
mod enabled {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use rustls::ClientConfig;
    use rustls::pki_types::ServerName;
    use switchyard_config::ServersTransport;
    use switchyard_tls::TlsError;
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::client::TlsStream;

    /// How long a TLS handshake with a backend may take (Go's `TLSHandshakeTimeout` in Traefik).
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// Numbers each build of a client configuration.
    static BUILDS: AtomicU64 = AtomicU64::new(0);

    /// A transport's TLS client configuration, built once per compiled transport. Two are equal when
    /// they are the same build, so pools are kept exactly while their transport is unchanged.
    #[derive(Debug, Clone)]
    pub(crate) struct ClientTls {
        id: u64,
        config: Arc<ClientConfig>,
        /// The same, offering only `http/1.1` by ALPN: for upgrades (WebSocket), which HTTP/2 cannot carry.
        http1: Arc<ClientConfig>,
        server_name: Option<ServerName<'static>>,
    }

    impl PartialEq for ClientTls {
        fn eq(&self, other: &Self) -> bool {
            self.id == other.id
        }
    }

    impl Eq for ClientTls {}

    impl ClientTls {
        /// Reads a transport's TLS options.
        pub(crate) fn from_config(transport: &ServersTransport) -> Result<Self, super::TlsFailure> {
            let build = || -> Result<Self, TlsError> {
                let config = switchyard_tls::client_config(transport)?;
                let server_name = match transport.server_name.as_str() {
                    "" => None,
                    _ => Some(switchyard_tls::server_name(transport, "")?),
                };
                let mut http1 = ClientConfig::clone(&config);
                http1.alpn_protocols = vec![b"http/1.1".to_vec()];
                let id = BUILDS.fetch_add(1, Ordering::Relaxed);
                Ok(Self {
                    id,
                    config,
                    http1: Arc::new(http1),
                    server_name,
                })
            };
            build().map_err(|error| match error {
                TlsError::Option { option, reason } => super::TlsFailure {
                    option,
                    problem: switchyard_config::Problem::Invalid(reason),
                },
                other => super::TlsFailure {
                    option: String::new(),
                    problem: switchyard_config::Problem::Invalid(other.to_string()),
                },
            })
        }

        /// Which build this is: pools are keyed by it.
        pub(crate) fn id(&self) -> u64 {
            self.id
        }

        /// What a pool to `host` needs: `serverName`, else the host itself.
        pub(crate) fn target(&self, host: &str) -> Result<TlsTarget, String> {
            let server_name = match &self.server_name {
                Some(name) => name.clone(),
                None => ServerName::try_from(host.to_owned())
                    .map_err(|_| format!("`{host}` is not a valid TLS server name; set serverName"))?,
            };
            Ok(TlsTarget {
                connector: TlsConnector::from(Arc::clone(&self.config)),
                http1: TlsConnector::from(Arc::clone(&self.http1)),
                server_name,
            })
        }
    }

    /// The TLS settings of the connections to one backend.
    #[derive(Clone)]
    pub(crate) struct TlsTarget {
        connector: TlsConnector,
        http1: TlsConnector,
        server_name: ServerName<'static>,
    }

    impl std::fmt::Debug for TlsTarget {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("TlsTarget")
                .field("server_name", &self.server_name)
                .finish_non_exhaustive()
        }
    }

    impl TlsTarget {
        /// Runs the TLS handshake over a connected socket, offering only `http/1.1` when `http1`.
        pub(crate) async fn handshake(&self, tcp: TcpStream, http1: bool) -> std::io::Result<TlsStream<TcpStream>> {
            let connector = if http1 { &self.http1 } else { &self.connector };
            let handshake = connector.connect(self.server_name.clone(), tcp);
            tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
        }
    }

    /// Whether the handshake settled on HTTP/2 (ALPN `h2`).
    pub(crate) fn negotiated_h2(stream: &TlsStream<TcpStream>) -> bool {
        stream.get_ref().1.alpn_protocol() == Some(b"h2")
    }
}

#[cfg(feature = "tls")]
pub(crate) use enabled::negotiated_h2;
