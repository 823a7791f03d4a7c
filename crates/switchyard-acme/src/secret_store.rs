//! A Kubernetes Secret as the storage replicas share: the `acme.json` document under the key
//! `acme.json`, and a lease in the Secret's annotations so that one replica orders at a time.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::runtime::Handle;

use crate::AcmeError;
use crate::storage::{Storage, StorageLock, StoredData};

/// The Secret's data key holding Traefik's `acme.json` document.
pub const SECRET_DATA_KEY: &str = "acme.json";
/// The annotation naming the replica that holds the lock.
const HOLDER: &str = "switchyard.io/acme-lock-holder";
/// The annotation saying until when (Unix seconds) the lock holds, so that a crashed holder's lock ends.
const UNTIL: &str = "switchyard.io/acme-lock-until";

/// One Secret shared by replicas (with the `kubernetes` feature): reads and writes replace the whole
/// Secret with its `resourceVersion`, so a concurrent change is never lost; the lock is a lease in
/// the Secret's annotations (holder and expiry), taken with the same optimistic concurrency, so that
/// only one replica orders while the others wait and read what it stored.
///
/// It needs `get`, `create` and `update` on the Secret. Its methods block on the tokio runtime it
/// was created in: call them off the async threads (the resolvers do).
///
/// ```no_run
/// use std::sync::Arc;
/// use switchyard_acme::{CertResolvers, SecretStore};
///
/// # async fn run(static_config: switchyard_config::StaticConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let client = kube::Client::try_default().await?;
/// let store = SecretStore::new(client, "edge", "switchyard-acme");
/// let resolvers = CertResolvers::from_static(&static_config, Arc::default())?.with_storage("le", Arc::new(store));
/// # drop(resolvers); Ok(()) }
/// ```
#[derive(Clone)]
pub struct SecretStore {
    api: Api<Secret>,
    name: String,
    holder: String,
    lease: Duration,
    runtime: Handle,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("name", &self.name)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl SecretStore {
    /// The Secret `name` in `namespace` (created on the first write). Must be called within a tokio
    /// runtime.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            holder: holder_id(),
            lease: Duration::from_secs(600),
            runtime: Handle::current(),
        }
    }

    /// The Secret a static configuration names (`kubernetesSecret`), reached through its `endpoint`
    /// (with `token` and `certAuthFilePath`), else through the pod's service account. Must be called
    /// within a tokio runtime. `key_path` names the option in errors.
    pub(crate) fn from_static(
        settings: &switchyard_config::KubernetesSecret,
        key_path: &str,
    ) -> Result<Self, AcmeError> {
        let config = |key: &str, reason: String| AcmeError::Config {
            key_path: format!("{key_path}.{key}"),
            reason,
        };
        if settings.namespace.is_empty() || settings.name.is_empty() {
            return Err(config("name", "the Secret's namespace and name are required".into()));
        }
        if Handle::try_current().is_err() {
            return Err(config(
                "name",
                "the gateway must be built within a tokio runtime".into(),
            ));
        }
        let mut client_config = if settings.endpoint.is_empty() {
            kube::Config::incluster().map_err(|e| {
                config(
                    "endpoint",
                    format!("no endpoint, and the pod's service account cannot be used: {e}"),
                )
            })?
        } else {
            let uri = settings
                .endpoint
                .parse()
                .map_err(|e: http::uri::InvalidUri| config("endpoint", e.to_string()))?;
            kube::Config::new(uri)
        };
        let token = match std::fs::read_to_string(&settings.token) {
            Ok(content) if !settings.token.is_empty() => content.trim().to_owned(),
            _ => settings.token.clone(),
        };
        if !token.is_empty() {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| config("token", "not a valid header value".into()))?;
            client_config.headers.push((http::header::AUTHORIZATION, value));
        }
        if !settings.cert_auth_file_path.is_empty() {
            client_config.root_cert_file = Some(settings.cert_auth_file_path.clone().into());
        }
        let client = kube::Client::try_from(client_config).map_err(|e| config("endpoint", e.to_string()))?;
        Ok(Self::new(client, &settings.namespace, &settings.name))
    }

    /// How long a lock holds unless released (default 10 minutes): a replica that dies while
    /// ordering blocks the others this long at most.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    fn error(&self, error: impl std::fmt::Display) -> AcmeError {
        AcmeError::Storage {
            location: format!("secret {}", self.name),
            reason: error.to_string(),
        }
    }

    fn get(&self) -> Result<Option<Secret>, AcmeError> {
        self.runtime
            .block_on(self.api.get_opt(&self.name))
            .map_err(|e| self.error(e))
    }

    /// Creates or replaces the Secret; `Ok(false)` when another writer came first (409).
    fn write(&self, secret: &Secret, exists: bool) -> Result<bool, AcmeError> {
        let params = PostParams::default();
        let result = if exists {
            self.runtime
                .block_on(self.api.replace(&self.name, &params, secret))
                .map(drop)
        } else {
            self.runtime.block_on(self.api.create(&params, secret)).map(drop)
        };
        match result {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(self.error(error)),
        }
    }

    fn empty(&self) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }
}

impl Storage for SecretStore {
    fn load(&self) -> Result<StoredData, AcmeError> {
        let Some(secret) = self.get()? else {
            return Ok(StoredData::new());
        };
        match secret.data.as_ref().and_then(|d| d.get(SECRET_DATA_KEY)) {
            Some(ByteString(bytes)) if !bytes.is_empty() => serde_json::from_slice(bytes).map_err(|e| self.error(e)),
            _ => Ok(StoredData::new()),
        }
    }

    fn save(&self, data: &StoredData) -> Result<(), AcmeError> {
        let text = serde_json::to_vec_pretty(data).map_err(|e| self.error(e))?;
        for _ in 0..5 {
            let current = self.get()?;
            let exists = current.is_some();
            let mut secret = current.unwrap_or_else(|| self.empty());
            secret
                .data
                .get_or_insert_with(BTreeMap::new)
                .insert(SECRET_DATA_KEY.to_owned(), ByteString(text.clone()));
            if self.write(&secret, exists)? {
                return Ok(());
            }
        }
        Err(self.error("the Secret kept changing while being written"))
    }

    fn try_lock(&self) -> Result<Option<StorageLock>, AcmeError> {
        let current = self.get()?;
        let exists = current.is_some();
        let mut secret = current.unwrap_or_else(|| self.empty());
        let annotations = secret.metadata.annotations.get_or_insert_with(BTreeMap::new);
        let holder = annotations.get(HOLDER).cloned().unwrap_or_default();
        let until = annotations.get(UNTIL).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0);
        // Held, by another replica or by this one: the lock is not re-entrant. A replica that took it
        // again before its own release (which runs in the background) landed would otherwise have
        // that release end the lock it holds anew, letting another replica order the same domain.
        if !holder.is_empty() && until > unix_now() {
            return Ok(None);
        }
        annotations.insert(HOLDER.to_owned(), self.holder.clone());
        annotations.insert(UNTIL.to_owned(), (unix_now() + self.lease.as_secs()).to_string());
        if !self.write(&secret, exists)? {
            return Ok(None);
        }
        Ok(Some(StorageLock::new(Release(self.clone()))))
    }
}

/// Ends the lease when the lock is dropped (in the background; an unreleased lease expires).
struct Release(SecretStore);

impl Drop for Release {
    fn drop(&mut self) {
        let store = self.0.clone();
        self.0.runtime.spawn_blocking(move || {
            for _ in 0..5 {
                let Ok(Some(mut secret)) = store.get() else { return };
                let annotations = secret.metadata.annotations.get_or_insert_with(BTreeMap::new);
                if annotations.get(HOLDER) != Some(&store.holder) {
                    return;
                }
                annotations.remove(HOLDER);
                annotations.remove(UNTIL);
                if store.write(&secret, true).unwrap_or(true) {
                    return;
                }
            }
        });
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A name for this replica: the host name and a random suffix (two gateways in one process differ).
fn holder_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(unix_now());
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "switchyard".into());
    format!("{host}-{:016x}", hasher.finish())
}
