//! A small Kubernetes API server on loopback, for tests that run a real client (kube-rs) against
//! objects the test controls.
//!
//! It stores any resource as JSON, by group, version, resource, namespace and name, and serves what
//! clients and their watchers need, following the API conventions:
//!
//! - discovery (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`);
//! - get and list, with `metadata.resourceVersion` on lists and `labelSelector` (equality, set and
//!   existence requirements);
//! - watch (`?watch=true&resourceVersion=N`): newline-delimited `ADDED`, `MODIFIED`, `DELETED`
//!   events, `BOOKMARK`s when `allowWatchBookmarks=true`, an in-stream `ERROR` with a `410 Gone`
//!   `Status` for a version older than the kept history, and streams that end after `timeoutSeconds`;
//! - `PUT` and `PATCH` of the `/status` subresource (409 on a stale `resourceVersion`);
//! - `metadata.generation`, 1 at creation and bumped by changes to anything but the metadata and the
//!   status (so a status write leaves it), and `creationTimestamp`s one second apart in creation
//!   order, as the Gateway API's `observedGeneration` and route precedence need;
//! - `POST` (create; 409 `AlreadyExists`) and `PUT` (replace; 409 `Conflict` on a stale
//!   `resourceVersion`) of whole objects, as `coordination.k8s.io/v1` Leases for leader election and
//!   the ACME Secret store need; [`ApiServer::writes`] counts the writes clients made to an object;
//! - `PATCH` of whole objects (as JSON merge patches), as `events.k8s.io/v1` Event series need;
//!   [`ApiServer::list`] returns the Events (or any kind) clients created, for assertions.
//!
//! The test changes objects while clients watch ([`ApiServer::apply`], [`ApiServer::delete`]), ends
//! watches ([`ApiServer::drop_watches`]), forgets history so resumed watches get `410 Gone`
//! ([`ApiServer::compact`]), fails watch requests ([`ApiServer::fail_watches`]) and stops and restarts
//! the server on the same port ([`ApiServer::restart`]), keeping its objects as etcd would.
//!
//! ```
//! use serde_json::json;
//! use switchyard_test_apiserver::ApiServer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let server = ApiServer::start().await;
//! server.apply(json!({
//!     "apiVersion": "v1", "kind": "Service",
//!     "metadata": {"namespace": "default", "name": "web"},
//!     "spec": {"ports": [{"port": 80}]},
//! }));
//! assert!(server.get("Service", "default", "web").is_some());
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! server.delete("Service", "default", "web");
//! assert!(server.get("Service", "default", "web").is_none());
//! # }
//! ```
//!
//! Every list is answered in one page (the API lets a server ignore `limit`); field selectors,
//! and deleting objects over HTTP are not served. Authentication is a bearer token, when required
//! ([`ApiServer::require_token`]).

mod error;
mod merge_patch;
mod query;
mod resource;
mod selector;
mod serve;
mod store;
mod watch_body;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use error::ApiError;
pub use resource::ResourceType;
pub use serve::Access;

use store::{ObjectKey, Store};

/// The kinds every server knows from the start, so that lists and watches of them work before any
/// object exists.
const BUILT_IN: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "Endpoints"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "IngressClass"),
    ("coordination.k8s.io/v1", "Lease"),
    ("events.k8s.io/v1", "Event"),
];

/// State shared by the connections.
pub(crate) struct Shared {
    store: Mutex<Store>,
    fail_watches: Mutex<Option<u16>>,
    watch_limit: Mutex<Option<Duration>>,
    token: Mutex<Option<String>>,
    accesses: Mutex<Vec<Access>>,
    /// Writes clients made over HTTP, by object (any subresource).
    writes: Mutex<std::collections::BTreeMap<ObjectKey, usize>>,
}

impl Shared {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn injected_watch_failure(&self) -> Option<u16> {
        *self
            .fail_watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a request may proceed: any request when no token is required, else one bearing it.
    pub(crate) fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        let token = self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        token
            .as_ref()
            .is_none_or(|token| authorization == Some(format!("Bearer {token}").as_bytes()))
    }

    /// Counts a write a client made to the object at `key`.
    pub(crate) fn wrote(&self, key: &ObjectKey) {
        let mut writes = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *writes.entry(key.clone()).or_default() += 1;
    }

    pub(crate) fn record(&self, access: Access) {
        let mut accesses = self.accesses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !accesses.contains(&access) {
            accesses.push(access);
        }
    }

    pub(crate) fn watch_limit(&self) -> Option<Duration> {
        *self
            .watch_limit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn groups(&self) -> Value {
        let store = self.store();
        let mut groups: Vec<(String, String)> = store
            .types()
            .filter(|t| !t.group.is_empty())
            .map(|t| (t.group.clone(), t.version.clone()))
            .collect();
        groups.dedup();
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(group, version)| {
                let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
                json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    pub(crate) fn resources(&self, group: &str, version: &str) -> Value {
        let store = self.store();
        let resources: Vec<Value> = store
            .types()
            .filter(|t| t.group == group && t.version == version)
            .flat_map(|t| {
                let main = json!({
                    "name": t.plural, "singularName": t.kind.to_lowercase(), "namespaced": t.namespaced,
                    "kind": t.kind, "verbs": ["get", "list", "watch"],
                });
                let status = json!({
                    "name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
                    "kind": t.kind, "verbs": ["get", "patch", "update"],
                });
                [main, status]
            })
            .collect();
        let group_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
    }
}

/// The API server: objects, history and open watches, served on `127.0.0.1` on a port chosen at the
/// first start and kept across restarts.
///
/// ```
/// use serde_json::json;
/// use switchyard_test_apiserver::ApiServer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = ApiServer::start().await;
/// let stored = server.apply(json!({
///     "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
///     "metadata": {"namespace": "default", "name": "web"},
///     "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
/// }));
/// assert_eq!(stored["metadata"]["resourceVersion"], "1");
/// server.restart().await; // same port, same objects, every connection cut
/// assert_eq!(server.revision(), 1);
/// # }
/// ```
pub struct ApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<JoinHandle<()>>>,
    /// Set when the server speaks HTTPS ([`start_tls`](ApiServer::start_tls)).
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Starts a server on `127.0.0.1`, on a port the system picks.
    ///
    /// # Panics
    /// If no loopback port can be bound: tests cannot run then.
    pub async fn start() -> Self {
        Self::start_serving(None).await
    }

    /// Starts a server speaking HTTPS with a certificate chain and key (PEM), as a real API server
    /// does: clients then need the CA (`certAuthFilePath`, a kubeconfig's
    /// `certificate-authority-data`) to connect.
    ///
    /// # Panics
    /// If the certificate or key cannot be used, or no loopback port can be bound.
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        use rustls_pki_types::pem::PemObject;
        let chain = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("a PEM certificate chain");
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM private key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("default TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a certificate matching its key");
        Self::start_serving(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start_serving(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let mut store = Store::default();
        for (api_version, kind) in BUILT_IN {
            store.register(ResourceType::of(api_version, kind));
        }
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            fail_watches: Mutex::new(None),
            watch_limit: Mutex::new(None),
            token: None.into(),
            accesses: Mutex::default(),
            writes: Mutex::default(),
        });
        let server = Self {
            addr,
            shared,
            running: Mutex::new(None),
            tls,
        };
        server.serve(listener);
        server
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` when started with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// How many writes (create, replace, status update or patch) clients made over HTTP to the object
    /// of this kind, namespace (empty for cluster-wide kinds) and name; changes the test made with
    /// [`apply`](Self::apply) do not count.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchyard_test_apiserver::ApiServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = ApiServer::start().await;
    /// server.apply(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}));
    /// assert_eq!(server.writes("Service", "default", "web"), 0);
    /// # }
    /// ```
    pub fn writes(&self, kind: &str, namespace: &str, name: &str) -> usize {
        let resource = match self.shared.store().resource_of_kind(kind) {
            Some(resource) => (resource.group.clone(), resource.plural.clone()),
            None => return 0,
        };
        let key = ObjectKey {
            resource,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let writes = self
            .shared
            .writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        writes.get(&key).copied().unwrap_or(0)
    }

    /// The current resource version (the number of changes so far).
    pub fn revision(&self) -> u64 {
        self.shared.store().revision()
    }

    /// Makes a resource type known (a custom resource, say), so that it can be listed and watched
    /// before any object of it exists. Applying an object registers its type too.
    ///
    /// ```
    /// use switchyard_test_apiserver::{ApiServer, ResourceType};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = ApiServer::start().await;
    /// server.register(ResourceType::of("traefik.io/v1alpha1", "IngressRoute"));
    /// // GET /apis/traefik.io/v1alpha1/ingressroutes now answers an empty IngressRouteList.
    /// # }
    /// ```
    pub fn register(&self, resource: ResourceType) {
        self.shared.store().register(resource);
    }

    /// Creates or replaces an object (its `apiVersion`, `kind`, `metadata.name`, and
    /// `metadata.namespace` for namespaced kinds, where `default` is assumed) and returns it as stored,
    /// with its new `resourceVersion`. Watches see `ADDED` or `MODIFIED`.
    ///
    /// # Panics
    /// If the object has no `apiVersion`, `kind` or `metadata.name`: a mistake in the test.
    pub fn apply(&self, mut object: Value) -> Value {
        let api_version = object["apiVersion"]
            .as_str()
            .expect("the object has an apiVersion")
            .to_owned();
        let kind = object["kind"].as_str().expect("the object has a kind").to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .expect("the object has a name")
            .to_owned();
        let mut store = self.shared.store();
        let resource = store
            .resource_of_kind(&kind)
            .filter(|t| t.api_version() == api_version)
            .cloned()
            .unwrap_or_else(|| ResourceType::of(&api_version, &kind));
        store.register(resource.clone());
        let namespace = if resource.namespaced {
            let namespace = object["metadata"]["namespace"].as_str().unwrap_or("default").to_owned();
            object["metadata"]["namespace"] = json!(namespace);
            namespace
        } else {
            String::new()
        };
        let key = ObjectKey {
            resource: (resource.group, resource.plural),
            namespace,
            name,
        };
        store.put(key, object)
    }

    /// Deletes an object of a kind applied or registered before; returns whether it existed. Watches
    /// see `DELETED`.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let mut store = self.shared.store();
        let Some(key) = Self::key(&store, kind, namespace, name) else {
            return false;
        };
        store.remove(&key).is_some()
    }

    /// An object as stored now.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.shared.store();
        let key = Self::key(&store, kind, namespace, name)?;
        store.get(&key).cloned()
    }

    /// Every object of a kind applied, registered or built in (`Event`, `Ingress`), in one namespace
    /// or in all (`None`), by namespace and name: what clients created, for assertions.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchyard_test_apiserver::ApiServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = ApiServer::start().await;
    /// assert!(server.list("Event", None).is_empty());
    /// server.apply(json!({
    ///     "apiVersion": "events.k8s.io/v1", "kind": "Event",
    ///     "metadata": {"namespace": "default", "name": "web.1"},
    ///     "type": "Warning", "reason": "InvalidConfiguration", "note": "the rule is empty",
    /// }));
    /// assert_eq!(server.list("Event", Some("default"))[0]["reason"], "InvalidConfiguration");
    /// # }
    /// ```
    pub fn list(&self, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let store = self.shared.store();
        let Some(resource) = store.resource_of_kind(kind) else {
            return Vec::new();
        };
        let key = (resource.group.clone(), resource.plural.clone());
        store.list(&key, namespace, &selector::Selector::default())
    }

    fn key(store: &Store, kind: &str, namespace: &str, name: &str) -> Option<ObjectKey> {
        let resource = store.resource_of_kind(kind)?;
        Some(ObjectKey {
            resource: (resource.group.clone(), resource.plural.clone()),
            namespace: if resource.namespaced {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        })
    }

    /// Every distinct access to a resource so far (verb, group, resource, namespace), in the order first
    /// seen: what a client's RBAC must allow.
    ///
    /// ```
    /// use switchyard_test_apiserver::ApiServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = ApiServer::start().await;
    /// assert!(server.accesses().is_empty());
    /// # }
    /// ```
    pub fn accesses(&self) -> Vec<Access> {
        self.shared
            .accesses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Ends every open watch stream (cleanly, as when `timeoutSeconds` runs out); clients resume from
    /// their last resource version.
    pub fn drop_watches(&self) {
        self.shared.store().drop_watches();
    }

    /// The number of watch streams open now.
    pub fn open_watches(&self) -> usize {
        self.shared.store().open_watches()
    }

    /// Sends a `BOOKMARK` at the current resource version to every watch that allows bookmarks.
    pub fn bookmark(&self) {
        self.shared.store().bookmark();
    }

    /// Forgets the change history: a watch resuming from any version before now gets an in-stream
    /// `ERROR` event with a `410 Gone` status, and its client must list again.
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// Answers every new watch request with this HTTP status (a `Status` body) until called with
    /// `None`, as an overloaded or misbehaving API server might.
    pub fn fail_watches(&self, status: Option<u16>) {
        *self
            .shared
            .fail_watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
    }

    /// Requires `Authorization: Bearer {token}` on every request (401 otherwise), or nothing with `None`.
    pub fn require_token(&self, token: Option<&str>) {
        *self
            .shared
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token.map(str::to_owned);
    }

    /// Ends every watch stream after at most `limit`, whatever `timeoutSeconds` asked for.
    pub fn limit_watches(&self, limit: Option<Duration>) {
        *self
            .shared
            .watch_limit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = limit;
    }

    /// Stops serving: the port is closed and every connection cut. Objects are kept.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = running {
            task.abort();
            let _ = task.await;
        }
        self.shared.store().drop_watches();
    }

    /// Serves again on the same port after [`stop`](Self::stop).
    ///
    /// # Panics
    /// If the port cannot be bound again.
    pub async fn resume(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("bind the same port again");
        self.serve(listener);
    }

    /// [`stop`](Self::stop), then [`resume`](Self::resume).
    pub async fn restart(&self) {
        self.stop().await;
        self.resume().await;
    }

    fn serve(&self, listener: TcpListener) {
        let shared = Arc::clone(&self.shared);
        let tls = self.tls.clone();
        let task = tokio::spawn(async move {
            // Dropping the set when this task is aborted cuts every connection.
            let mut connections = JoinSet::new();
            let mut bookmarks = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let shared = Arc::clone(&shared);
                        let tls = tls.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                let shared = Arc::clone(&shared);
                                async move { Ok::<_, std::convert::Infallible>(serve::handle(shared, request).await) }
                            });
                            let http = hyper::server::conn::http1::Builder::new();
                            match tls {
                                None => {
                                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                                }
                                Some(acceptor) => {
                                    if let Ok(stream) = acceptor.accept(stream).await {
                                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                                    }
                                }
                            }
                        });
                    }
                    _ = bookmarks.tick() => shared.store().bookmark(),
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        *self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(task) = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}
