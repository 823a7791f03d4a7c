//! DNS-01: the [`DnsProvider`] trait that sets and removes the `_acme-challenge` TXT record, and
//! [`HttpReq`], a webhook provider compatible with lego's `httpreq`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;

use crate::AcmeError;
use crate::client::hyper_client;

/// A future returned by [`DnsProvider`] methods.
pub type DnsFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AcmeError>> + Send + 'a>>;

/// Sets and removes the TXT records of DNS-01 challenges. `fqdn` is the record's name with a
/// trailing dot (`_acme-challenge.example.com.`), `value` the record's text.
///
/// A resolver whose `dnsChallenge.provider` names a provider registered from Rust uses it; `httpreq`
/// is built in (see [`HttpReq`]).
///
/// ```
/// use std::sync::Mutex;
/// use switchyard_acme::{DnsFuture, DnsProvider};
///
/// #[derive(Debug, Default)]
/// struct Recorded(Mutex<Vec<(String, String)>>);
///
/// impl DnsProvider for Recorded {
///     fn present<'a>(&'a self, fqdn: &'a str, value: &'a str) -> DnsFuture<'a> {
///         self.0.lock().unwrap().push((fqdn.to_owned(), value.to_owned()));
///         Box::pin(async { Ok(()) })
///     }
///     fn cleanup<'a>(&'a self, fqdn: &'a str, _value: &'a str) -> DnsFuture<'a> {
///         self.0.lock().unwrap().retain(|(name, _)| name != fqdn);
///         Box::pin(async { Ok(()) })
///     }
/// }
/// ```
pub trait DnsProvider: Send + Sync + fmt::Debug + 'static {
    /// Publishes the TXT record `fqdn` with `value`.
    fn present<'a>(&'a self, fqdn: &'a str, value: &'a str) -> DnsFuture<'a>;

    /// Removes the TXT record `fqdn` with `value`.
    fn cleanup<'a>(&'a self, fqdn: &'a str, value: &'a str) -> DnsFuture<'a>;
}

/// lego's `httpreq` provider: `POST <endpoint>/present` and `POST <endpoint>/cleanup` with the JSON
/// body `{"fqdn": "_acme-challenge.example.com.", "value": "..."}`, with HTTP basic authentication
/// when a user name is set. A small service of your own (or one of the many written for lego) turns
/// these calls into changes at your DNS host.
///
/// From the environment, as lego reads it: `HTTPREQ_ENDPOINT` (required), `HTTPREQ_USERNAME`,
/// `HTTPREQ_PASSWORD`; `HTTPREQ_MODE=RAW` is not supported.
///
/// ```
/// use switchyard_acme::HttpReq;
///
/// let provider = HttpReq::new("http://127.0.0.1:8055/dns".parse().unwrap()).basic_auth("acme", "secret");
/// # drop(provider);
/// ```
pub struct HttpReq {
    endpoint: http::Uri,
    credentials: Option<String>,
    client: Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>>,
}

impl fmt::Debug for HttpReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpReq")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl HttpReq {
    /// Calls the webhook at `endpoint` (`http` or `https`; HTTPS trusts the system's roots).
    pub fn new(endpoint: http::Uri) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        Self {
            endpoint,
            credentials: None,
            client: hyper_client(roots),
        }
    }

    /// Sends HTTP basic authentication.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.credentials = Some(format!("Basic {encoded}"));
        self
    }

    /// The provider lego's environment variables describe.
    pub fn from_env() -> Result<Self, AcmeError> {
        let config = |reason: String| AcmeError::Config {
            key_path: "dnsChallenge.provider (httpreq)".into(),
            reason,
        };
        if std::env::var("HTTPREQ_MODE").is_ok_and(|m| !m.is_empty()) {
            return Err(config("HTTPREQ_MODE=RAW is not supported".into()));
        }
        let endpoint = std::env::var("HTTPREQ_ENDPOINT").map_err(|_| config("HTTPREQ_ENDPOINT is not set".into()))?;
        let endpoint = endpoint
            .parse()
            .map_err(|e| config(format!("HTTPREQ_ENDPOINT `{endpoint}`: {e}")))?;
        let provider = Self::new(endpoint);
        Ok(match std::env::var("HTTPREQ_USERNAME") {
            Ok(user) if !user.is_empty() => {
                provider.basic_auth(&user, &std::env::var("HTTPREQ_PASSWORD").unwrap_or_default())
            }
            _ => provider,
        })
    }

    async fn call(&self, action: &str, fqdn: &str, value: &str) -> Result<(), AcmeError> {
        let failed = |reason: String| AcmeError::Challenge {
            challenge: "dns-01",
            domain: fqdn.to_owned(),
            reason,
        };
        let url = format!("{}/{action}", self.endpoint.to_string().trim_end_matches('/'));
        let body = serde_json::json!({ "fqdn": fqdn, "value": value }).to_string();
        let mut request = http::Request::post(&url).header(http::header::CONTENT_TYPE, "application/json");
        if let Some(credentials) = &self.credentials {
            request = request.header(http::header::AUTHORIZATION, credentials);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| failed(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| failed(format!("{url}: {e}")))?;
        let status = response.status();
        let text = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            Err(failed(format!(
                "{url} answered {status}: {}",
                String::from_utf8_lossy(&text)
            )))
        }
    }
}

impl DnsProvider for HttpReq {
    fn present<'a>(&'a self, fqdn: &'a str, value: &'a str) -> DnsFuture<'a> {
        Box::pin(self.call("present", fqdn, value))
    }

    fn cleanup<'a>(&'a self, fqdn: &'a str, value: &'a str) -> DnsFuture<'a> {
        Box::pin(self.call("cleanup", fqdn, value))
    }
}
