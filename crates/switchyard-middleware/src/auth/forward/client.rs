//! The pooled client that talks to the authentication server: plain HTTP, or HTTPS with the `tls`
//! feature (`forwardAuth.tls`: `ca`, `cert`/`key`, `insecureSkipVerify`).

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use switchyard_config::ClientTls;

use crate::MiddlewareError;

/// How long an idle connection to the authentication server is kept.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// A client for one authentication server.
pub(super) enum AuthClient {
    Http(Client<HttpConnector, Full<Bytes>>),
    #[cfg(feature = "tls")]
    Https(Client<https::HttpsConnector, Full<Bytes>>),
}

impl AuthClient {
    /// The client for `address`, checking `tls` when set (as Traefik, the options only matter for an
    /// `https://` address).
    pub(super) fn new(address: &Uri, tls: Option<&ClientTls>) -> Result<Self, MiddlewareError> {
        let tls = tls.filter(|tls| **tls != ClientTls::default());
        #[cfg(feature = "tls")]
        if let Some(client) = Self::https(address, tls)? {
            return Ok(client);
        }
        #[cfg(not(feature = "tls"))]
        refuse_tls(address, tls)?;
        Ok(Self::Http(builder().build(HttpConnector::new())))
    }

    /// The client for an `https://` address; `tls` is checked whatever the address.
    #[cfg(feature = "tls")]
    fn https(address: &Uri, tls: Option<&ClientTls>) -> Result<Option<Self>, MiddlewareError> {
        let config = match tls {
            Some(tls) => Some(switchyard_tls::auth_client_config(tls).map_err(tls_error)?),
            None => None,
        };
        if address.scheme() != Some(&http::uri::Scheme::HTTPS) {
            return Ok(None);
        }
        let config = match config {
            Some(config) => config,
            None => switchyard_tls::auth_client_config(&ClientTls::default()).map_err(tls_error)?,
        };
        let connector = https::HttpsConnector::new(config);
        Ok(Some(Self::Https(builder().build(connector))))
    }

    pub(super) async fn request(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        match self {
            Self::Http(client) => client.request(req).await,
            #[cfg(feature = "tls")]
            Self::Https(client) => client.request(req).await,
        }
    }
}

/// Without the `tls` feature, TLS options and `https://` addresses are refused.
#[cfg(not(feature = "tls"))]
fn refuse_tls(address: &Uri, tls: Option<&ClientTls>) -> Result<(), MiddlewareError> {
    if tls.is_some() || address.scheme() == Some(&http::uri::Scheme::HTTPS) {
        let field = if tls.is_some() { "tls" } else { "address" };
        return Err(MiddlewareError::invalid(
            field,
            "TLS to the authentication server needs switchyard's `tls` feature, which this build does not have",
        ));
    }
    Ok(())
}

fn builder() -> hyper_util::client::legacy::Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder.pool_timer(TokioTimer::new()).pool_idle_timeout(IDLE_TIMEOUT);
    builder
}

#[cfg(feature = "tls")]
fn tls_error(error: switchyard_tls::TlsError) -> MiddlewareError {
    match error {
        switchyard_tls::TlsError::Option { option, reason } => {
            MiddlewareError::invalid(format!("tls.{option}"), reason)
        }
        other => MiddlewareError::invalid("tls", other.to_string()),
    }
}

#[cfg(feature = "tls")]
mod https {
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use http::Uri;
    use hyper::rt::{Read, ReadBufCursor, Write};
    use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::client::TlsStream;
    use tokio_rustls::rustls::ClientConfig;
    use tokio_rustls::rustls::pki_types::ServerName;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// TCP by `HttpConnector`, then TLS greeting the address's host.
    #[derive(Clone)]
    pub(in crate::auth::forward) struct HttpsConnector {
        http: HttpConnector,
        tls: TlsConnector,
    }

    impl HttpsConnector {
        pub(in crate::auth::forward) fn new(config: Arc<ClientConfig>) -> Self {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            Self {
                http,
                tls: TlsConnector::from(config),
            }
        }
    }

    impl tower::Service<Uri> for HttpsConnector {
        type Response = TlsIo;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<TlsIo, BoxError>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            self.http.poll_ready(cx).map_err(Into::into)
        }

        fn call(&mut self, uri: Uri) -> Self::Future {
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = ServerName::try_from(host.to_owned());
            let connecting = self.http.call(uri);
            let tls = self.tls.clone();
            Box::pin(async move {
                let name = name?;
                let tcp = connecting.await?.into_inner();
                Ok(TlsIo(TokioIo::new(tls.connect(name, tcp).await?)))
            })
        }
    }

    /// A TLS connection as hyper's client wants it.
    pub(in crate::auth::forward) struct TlsIo(TokioIo<TlsStream<TcpStream>>);

    impl Connection for TlsIo {
        fn connected(&self) -> Connected {
            Connected::new()
        }
    }

    impl Read for TlsIo {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
        }
    }

    impl Write for TlsIo {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().0).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
        }
    }
}
