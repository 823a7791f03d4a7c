//! Connecting to the API server: an explicit endpoint and token, a kubeconfig, or the service account.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::KubernetesError;

/// Lists and watches ask the server for `timeoutSeconds=290`: reads must be allowed to last longer.
const READ_TIMEOUT: Duration = Duration::from_secs(320);

/// How to reach the API server.
#[derive(Clone)]
pub(crate) enum Connection {
    /// In the cluster: the service account; outside: `KUBECONFIG` or `~/.kube/config`.
    Infer,
    /// Traefik's `endpoint`, `token` and `certAuthFilePath`.
    Endpoint {
        url: String,
        token: String,
        ca_file: Option<PathBuf>,
    },
    /// A kubeconfig file, with its current context.
    Kubeconfig(PathBuf),
    /// A client built by the application.
    Client(Client),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Infer => f.write_str("Infer"),
            Connection::Endpoint { url, ca_file, .. } => f
                .debug_struct("Endpoint")
                .field("url", url)
                .field("ca_file", ca_file)
                .finish_non_exhaustive(),
            Connection::Kubeconfig(path) => f.debug_tuple("Kubeconfig").field(path).finish(),
            Connection::Client(_) => f.write_str("Client"),
        }
    }
}

impl Connection {
    /// Builds the client.
    pub(crate) async fn client(&self) -> Result<Client, KubernetesError> {
        let mut config = match self {
            Connection::Client(client) => return Ok(client.clone()),
            Connection::Endpoint { url, token, ca_file } => endpoint_config(url, token, ca_file.clone())?,
            Connection::Kubeconfig(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(|err| KubernetesError::Config(err.to_string()))?;
                Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|err| KubernetesError::Config(err.to_string()))?
            }
            Connection::Infer if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                Config::incluster().map_err(|err| KubernetesError::Config(err.to_string()))?
            }
            Connection::Infer => Config::infer()
                .await
                .map_err(|err| KubernetesError::Config(err.to_string()))?,
        };
        config.read_timeout = Some(READ_TIMEOUT);
        // The client's own retries of 429, 503 and 504 back off up to 1,000 s over 15 attempts, during
        // which a watch neither reports nor restarts: the watches retry with their own short back-off.
        config.default_retry = false;
        Client::try_from(config).map_err(KubernetesError::Client)
    }
}

fn endpoint_config(url: &str, token: &str, ca_file: Option<PathBuf>) -> Result<Config, KubernetesError> {
    let uri = url
        .parse()
        .map_err(|err: http::uri::InvalidUri| KubernetesError::Setting {
            setting: "endpoint",
            reason: err.to_string(),
        })?;
    let mut config = Config::new(uri);
    // Traefik's `token` is the token itself; a path to a file holding it is read too.
    let token = match std::fs::read_to_string(token) {
        Ok(content) if !token.is_empty() => content.trim().to_owned(),
        _ => token.to_owned(),
    };
    if !token.is_empty() {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| KubernetesError::Setting {
                setting: "token",
                reason: "not a valid header value".into(),
            })?;
        config.headers.push((http::header::AUTHORIZATION, value));
    }
    config.root_cert_file = ca_file;
    Ok(config)
}
