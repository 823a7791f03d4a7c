//! The HTTPS client towards the CA (and webhook DNS providers), over the workspace's rustls with ring.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::RootCertStore;

use crate::AcmeError;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A hyper client trusting `roots`, for `http` and `https` URLs.
pub(crate) fn hyper_client<B>(roots: RootCertStore) -> Client<Https, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let config = rustls::ClientConfig::builder_with_provider(switchyard_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("ring supports the default versions: {e}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The roots that authenticate the CA server: `caCertificates` (and Traefik's
/// `LEGO_CA_CERTIFICATES`, paths separated by `,` or `:`), plus the system's when none are given or
/// `caSystemCertPool` is set.
pub(crate) fn ca_roots(files: &[String], system: bool, key_path: &str) -> Result<RootCertStore, AcmeError> {
    let mut paths: Vec<String> = files.to_vec();
    if let Ok(env) = std::env::var("LEGO_CA_CERTIFICATES") {
        paths.extend(env.split([',', ':']).filter(|p| !p.is_empty()).map(str::to_owned));
    }
    let mut roots = RootCertStore::empty();
    for (i, path) in paths.iter().enumerate() {
        let certificates = switchyard_tls::certificates(path).map_err(|e| AcmeError::Config {
            key_path: format!("{key_path}.caCertificates[{i}]"),
            reason: e.to_string(),
        })?;
        for certificate in certificates {
            roots.add(certificate).map_err(|e| AcmeError::Config {
                key_path: format!("{key_path}.caCertificates[{i}]"),
                reason: e.to_string(),
            })?;
        }
    }
    if paths.is_empty() || system {
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    }
    Ok(roots)
}

/// instant-acme's HTTP client: hyper with our rustls configuration and a timeout per exchange.
pub(crate) struct AcmeHttp {
    client: Client<Https, BodyWrapper<Bytes>>,
    timeout: Duration,
}

impl AcmeHttp {
    pub(crate) fn new(roots: RootCertStore, timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            client: hyper_client(roots),
            timeout,
        })
    }
}

/// A shared [`AcmeHttp`] as instant-acme's boxed client.
pub(crate) struct SharedHttp(pub(crate) Arc<AcmeHttp>);

impl HttpClient for SharedHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let response = self.0.client.request(req);
        let timeout = self.0.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, response).await {
                Ok(Ok(response)) => Ok(BytesResponse::from(response)),
                Ok(Err(e)) => Err(instant_acme::Error::Other(Box::new(e))),
                Err(_) => Err(instant_acme::Error::Str("the CA did not answer within clientTimeout")),
            }
        })
    }
}
