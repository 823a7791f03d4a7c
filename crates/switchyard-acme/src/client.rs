//! The HTTPS client towards the CA (and webhook DNS providers), over the workspace's rustls with ring.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
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

/// instant-acme's HTTP client: hyper with our rustls configuration and a timeout per exchange. It
/// keeps the alternate chains (`Link: <…>;rel="alternate"`) the CA names when it serves a
/// certificate, which instant-acme does not read.
pub(crate) struct AcmeHttp {
    client: Client<Https, BodyWrapper<Bytes>>,
    timeout: Duration,
    alternates: Mutex<HashMap<String, Vec<String>>>,
}

impl AcmeHttp {
    pub(crate) fn new(roots: RootCertStore, timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            client: hyper_client(roots),
            timeout,
            alternates: Mutex::new(HashMap::new()),
        })
    }

    /// The alternate chains named when `url` (a certificate) was fetched, forgotten once taken.
    pub(crate) fn take_alternates(&self, url: &str) -> Vec<String> {
        let mut alternates = self.alternates.lock().unwrap_or_else(PoisonError::into_inner);
        alternates.remove(url).unwrap_or_default()
    }

    /// Sends `request` within `clientTimeout` and reads the whole answer.
    pub(crate) async fn send(
        &self,
        request: http::Request<BodyWrapper<Bytes>>,
    ) -> Result<(http::response::Parts, Bytes), AcmeError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| AcmeError::Protocol(e.to_string()))?;
            let (parts, body) = response.into_parts();
            Ok((parts, crate::chains::collect(body).await?))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(AcmeError::Protocol("the CA did not answer within clientTimeout".into())))
    }

    /// Keeps the alternate chains a response to `url` names.
    fn record_alternates(&self, url: String, headers: &http::HeaderMap) {
        let links: Vec<String> = headers
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(crate::chains::alternate_links)
            .collect();
        if !links.is_empty() {
            let mut alternates = self.alternates.lock().unwrap_or_else(PoisonError::into_inner);
            alternates.insert(url, links);
        }
    }
}

/// A shared [`AcmeHttp`] as instant-acme's boxed client.
pub(crate) struct SharedHttp(pub(crate) Arc<AcmeHttp>);

impl HttpClient for SharedHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let url = req.uri().to_string();
        let response = self.0.client.request(req);
        let http = Arc::clone(&self.0);
        Box::pin(async move {
            match tokio::time::timeout(http.timeout, response).await {
                Ok(Ok(response)) => {
                    http.record_alternates(url, response.headers());
                    Ok(BytesResponse::from(response))
                }
                Ok(Err(e)) => Err(instant_acme::Error::Other(Box::new(e))),
                Err(_) => Err(instant_acme::Error::Str("the CA did not answer within clientTimeout")),
            }
        })
    }
}
