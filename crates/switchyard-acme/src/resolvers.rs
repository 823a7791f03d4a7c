//! The certificate resolvers of a gateway: which names each must cover, the certificates served for
//! them, and the background task that loads, orders and renews them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use instant_acme::{Account, ExternalAccountKey, NewAccount};
use rustls_pki_types::PrivatePkcs8KeyDer;
use switchyard_config::{StaticConfig, UnsupportedOption};
use switchyard_tls::IssuedCertificates;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::client::{AcmeHttp, SharedHttp};
use crate::order::{Chains, Solvers, obtain};
use crate::settings::{ChallengeKind, ResolverSettings};
use crate::storage::{Registration, StoredAccount, StoredCertificate, StoredData};
use crate::{AcmeError, DnsProvider, Domain, FileStore, Http01Tokens, HttpReq, Storage};

/// The first wait after a failed order; it doubles on each failure up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_secs(30);
const BACKOFF_MAX: Duration = Duration::from_secs(24 * 3600);
/// The least wait after the CA says `rateLimited`.
const RATE_LIMITED: Duration = Duration::from_secs(3600);
/// How long a DNS-01 record may take to reach the resolvers checked (lego's default).
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a replica waiting for another one's order looks at the storage again.
const WAITING_POLL: Duration = Duration::from_millis(500);

/// An order that failed, with the CA's problem document when it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFailure {
    /// The resolver's name.
    pub resolver: String,
    /// The names ordered.
    pub domain: Domain,
    /// The problem type (`urn:ietf:params:acme:error:rejectedIdentifier`); empty when the failure was
    /// not the CA's answer.
    pub kind: String,
    /// What went wrong.
    pub detail: String,
}

/// One resolver: its settings, its storage, its account once known.
struct Resolver {
    settings: ResolverSettings,
    storage: Arc<dyn Storage>,
    http: Arc<AcmeHttp>,
}

/// What is known of one certificate being served.
#[derive(Default)]
struct Held {
    not_after: Option<SystemTime>,
    served: Vec<u8>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

/// A gateway's ACME certificate resolvers (`certificatesResolvers.<name>.acme`).
///
/// Routers say which names they need with [`want`](Self::want) (the gateway does it on every
/// configuration change); [`run`](Self::run) serves stored certificates, orders what is missing or
/// due for renewal, and puts each certificate in the [`IssuedCertificates`] the TLS entrypoints read,
/// so that it serves from the next handshake. Replicas that share a storage take its lock before
/// ordering: one orders, the others wait and read the certificate from the storage.
///
/// ```
/// use std::sync::Arc;
/// use switchyard_acme::{CertResolvers, Domain};
/// use switchyard_config::{Format, StaticConfig, load_str};
///
/// let dir = tempfile::tempdir().unwrap();
/// let yaml = format!(
///     "certificatesResolvers:\n  le:\n    acme:\n      storage: {}\n      tlsChallenge: {{}}\n",
///     dir.path().join("acme.json").display()
/// );
/// let config: StaticConfig = load_str(&yaml, Format::Yaml, "traefik.yml").unwrap().value;
/// let resolvers = CertResolvers::from_static(&config, Arc::default()).unwrap();
/// assert!(resolvers.contains("le"));
/// resolvers.want([("le".to_owned(), vec![Domain::new("example.com", ["www.example.com"])])].into());
/// assert_eq!(resolvers.orders_placed(), 0, "nothing runs until `run`");
/// ```
pub struct CertResolvers {
    resolvers: BTreeMap<String, Resolver>,
    unsupported: Vec<UnsupportedOption>,
    issued: Arc<IssuedCertificates>,
    http01: Arc<Http01Tokens>,
    dns: Mutex<HashMap<String, Arc<dyn DnsProvider>>>,
    wanted: watch::Sender<BTreeMap<String, BTreeSet<Domain>>>,
    held: Mutex<HashMap<String, Held>>,
    accounts: tokio::sync::Mutex<HashMap<String, Account>>,
    orders: AtomicU64,
    failures: Mutex<BTreeMap<String, OrderFailure>>,
    poll: Mutex<Duration>,
    propagation_timeout: Mutex<Duration>,
}

impl std::fmt::Debug for CertResolvers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertResolvers")
            .field("resolvers", &self.resolvers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl CertResolvers {
    /// The resolvers of a static configuration, serving into `issued`. Options without effect are
    /// kept with their key paths ([`unsupported`](Self::unsupported)); a resolver that cannot work
    /// (no challenge, unreadable `caCertificates`, ...) is an error.
    pub fn from_static(config: &StaticConfig, issued: Arc<IssuedCertificates>) -> Result<Self, AcmeError> {
        let mut stores: HashMap<String, Arc<dyn Storage>> = HashMap::new();
        let mut resolvers = BTreeMap::new();
        let mut unsupported = Vec::new();
        for (name, resolver) in &config.certificates_resolvers {
            unsupported.extend(resolver.unsupported(name));
            let Some(acme) = &resolver.acme else { continue };
            let settings = ResolverSettings::new(name, acme)?;
            let storage = match &acme.kubernetes_secret {
                Some(secret) => secret_store(name, secret, &mut stores, &mut unsupported)?,
                None => None,
            };
            let storage = match storage {
                Some(storage) => storage,
                None => Arc::clone(
                    stores
                        .entry(settings.storage.clone())
                        .or_insert_with(|| Arc::new(FileStore::new(&settings.storage))),
                ),
            };
            let http = AcmeHttp::new(settings.roots.clone(), settings.timeout);
            resolvers.insert(
                name.clone(),
                Resolver {
                    settings,
                    storage,
                    http,
                },
            );
        }
        Ok(Self {
            resolvers,
            unsupported,
            issued,
            http01: Arc::default(),
            dns: Mutex::new(HashMap::new()),
            wanted: watch::Sender::new(BTreeMap::new()),
            held: Mutex::new(HashMap::new()),
            accounts: tokio::sync::Mutex::new(HashMap::new()),
            orders: AtomicU64::new(0),
            failures: Mutex::new(BTreeMap::new()),
            poll: Mutex::new(Duration::from_secs(60)),
            propagation_timeout: Mutex::new(PROPAGATION_TIMEOUT),
        })
    }

    /// The options of the resolvers that are read but have no effect, with their key paths; the
    /// gateway puts them in every snapshot's report (`general`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchyard_acme::CertResolvers;
    /// use switchyard_config::{Format, StaticConfig, load_str};
    ///
    /// let yaml = "certificatesResolvers:\n  le:\n    acme:\n      profile: shortlived\n      tlsChallenge: {}\n";
    /// let config: StaticConfig = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
    /// let resolvers = CertResolvers::from_static(&config, Arc::default()).unwrap();
    /// assert_eq!(resolvers.unsupported()[0].key_path, "certificatesResolvers.le.acme.profile");
    /// ```
    pub fn unsupported(&self) -> &[UnsupportedOption] {
        &self.unsupported
    }

    /// Uses `storage` instead of the `storage` file for the resolver `name` (a store of your own:
    /// a database, an object store, a Kubernetes Secret).
    pub fn with_storage(mut self, name: &str, storage: Arc<dyn Storage>) -> Self {
        if let Some(resolver) = self.resolvers.get_mut(name) {
            resolver.storage = storage;
        }
        self
    }

    /// Registers a DNS provider under the name `dnsChallenge.provider` gives (`httpreq` is built in,
    /// from lego's environment variables, unless registered here).
    pub fn dns_provider(&self, name: &str, provider: Arc<dyn DnsProvider>) {
        self.dns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), provider);
    }

    /// How often certificates are checked for renewal (default: every minute).
    pub fn renewal_check_interval(&self, every: Duration) {
        *self.poll.lock().unwrap_or_else(PoisonError::into_inner) = every;
    }

    /// How long a DNS-01 record may take to be seen by the resolvers checked before the CA is told
    /// to validate (default: a minute); the order fails after that.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use switchyard_acme::CertResolvers;
    /// use switchyard_config::{Format, StaticConfig, load_str};
    ///
    /// let yaml = "certificatesResolvers:\n  le:\n    acme:\n      dnsChallenge: {provider: httpreq, resolvers: ['192.0.2.53:53']}\n";
    /// let config: StaticConfig = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
    /// let resolvers = CertResolvers::from_static(&config, Arc::default()).unwrap();
    /// resolvers.dns_propagation_timeout(Duration::from_secs(300));
    /// assert!(resolvers.supports_wildcards("le"));
    /// ```
    pub fn dns_propagation_timeout(&self, timeout: Duration) {
        *self.propagation_timeout.lock().unwrap_or_else(PoisonError::into_inner) = timeout;
    }

    /// Whether a resolver of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.resolvers.contains_key(name)
    }

    /// Whether the resolver `name` can order wildcard names (it uses DNS-01).
    pub fn supports_wildcards(&self, name: &str) -> bool {
        self.resolvers
            .get(name)
            .is_some_and(|r| matches!(r.settings.challenge, ChallengeKind::Dns01 { .. }))
    }

    /// The entrypoints that answer HTTP-01 challenges.
    pub fn http_challenge_entry_points(&self) -> BTreeSet<String> {
        self.resolvers
            .values()
            .filter_map(|r| match &r.settings.challenge {
                ChallengeKind::Http01 { entry_point, .. } => Some(entry_point.clone()),
                _ => None,
            })
            .collect()
    }

    /// The pending HTTP-01 challenges, which those entrypoints answer.
    pub fn http01(&self) -> &Arc<Http01Tokens> {
        &self.http01
    }

    /// The certificates served (and the TLS-ALPN-01 challenges answered).
    pub fn issued(&self) -> &Arc<IssuedCertificates> {
        &self.issued
    }

    /// The names each resolver must cover, replacing what was wanted before.
    pub fn want(&self, wanted: BTreeMap<String, Vec<Domain>>) {
        let wanted: BTreeMap<String, BTreeSet<Domain>> = wanted
            .into_iter()
            .filter(|(name, _)| self.contains(name))
            .map(|(name, domains)| (name, domains.into_iter().collect()))
            .collect();
        self.wanted.send_if_modified(|current| {
            let changed = *current != wanted;
            *current = wanted.clone();
            changed
        });
    }

    /// How many orders this gateway placed with CAs (renewals included).
    pub fn orders_placed(&self) -> u64 {
        self.orders.load(Ordering::Relaxed)
    }

    /// The orders whose last attempt failed, with the CA's problem.
    pub fn failures(&self) -> Vec<OrderFailure> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.values().cloned().collect()
    }

    /// Loads, orders and renews until `stop` is cancelled.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut wanted = self.wanted.subscribe();
        loop {
            let current = wanted.borrow_and_update().clone();
            let mut waiting = false;
            for (name, domains) in &current {
                for domain in domains {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        step = self.ensure(name, domain) => waiting |= step,
                    }
                }
            }
            let pause = if waiting {
                WAITING_POLL
            } else {
                *self.poll.lock().unwrap_or_else(PoisonError::into_inner)
            };
            tokio::select! {
                () = stop.cancelled() => return,
                changed = wanted.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Makes `domain` served by a valid certificate of the resolver `name`; `true` when another
    /// replica holds the storage lock, so the certificate is still to come.
    async fn ensure(&self, name: &str, domain: &Domain) -> bool {
        let Some(resolver) = self.resolvers.get(name) else {
            return false;
        };
        let id = format!("{name}/{domain}");
        if !self.needs_work(&id, resolver) {
            return false;
        }
        let storage = Arc::clone(&resolver.storage);
        match blocking(move || storage.load()).await {
            Ok(data) => {
                if self.serve_stored(&id, name, domain, &data, resolver) {
                    return false;
                }
            }
            Err(error) => tracing::warn!(target: "switchyard::acme", %error, "reading the ACME storage failed"),
        }
        let storage = Arc::clone(&resolver.storage);
        let lock = match blocking(move || storage.try_lock()).await {
            Ok(Some(lock)) => lock,
            Ok(None) => return true,
            Err(error) => {
                self.failed(&id, name, domain, &error);
                return false;
            }
        };
        let storage = Arc::clone(&resolver.storage);
        let mut data = match blocking(move || storage.load()).await {
            Ok(data) => data,
            Err(error) => {
                self.failed(&id, name, domain, &error);
                return false;
            }
        };
        if self.serve_stored(&id, name, domain, &data, resolver) {
            return false;
        }
        match self.order(name, domain, resolver, &mut data).await {
            Ok(()) => {
                self.succeeded(&id);
                self.serve_stored(&id, name, domain, &data, resolver);
            }
            Err(error) => self.failed(&id, name, domain, &error),
        }
        drop(lock);
        false
    }

    /// Whether `id` has no valid certificate served (or one due for renewal) and is not backing off.
    fn needs_work(&self, id: &str, resolver: &Resolver) -> bool {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(held) = held.get(id) else { return true };
        if held.retry_at.is_some_and(|at| at > Instant::now()) {
            return false;
        }
        held.not_after.is_none_or(|t| due(t, resolver.settings.renew_before))
    }

    /// Serves the stored certificate for `domain` if there is one; `true` when it is not due for
    /// renewal.
    fn serve_stored(&self, id: &str, name: &str, domain: &Domain, data: &StoredData, resolver: &Resolver) -> bool {
        let Some(stored) = data.get(name).and_then(|r| {
            r.certificates
                .iter()
                .find(|c| Domain::new(&c.domain.main, &c.domain.sans) == *domain)
        }) else {
            return false;
        };
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = held.entry(id.to_owned()).or_default();
        if entry.served != stored.certificate {
            let chain = String::from_utf8_lossy(&stored.certificate);
            let key = String::from_utf8_lossy(&stored.key);
            if let Err(error) = self.issued.insert_pem(id, &chain, &key) {
                tracing::warn!(target: "switchyard::acme", domain = %domain, %error, "a stored certificate cannot serve");
                return false;
            }
            entry.not_after = not_after(&stored.certificate);
            entry.served.clone_from(&stored.certificate);
            tracing::info!(target: "switchyard::acme", resolver = name, domain = %domain, "serving the certificate from the storage");
        }
        entry.not_after.is_some_and(|t| !due(t, resolver.settings.renew_before))
    }

    /// Orders a certificate for `domain` and records it in `data` and the storage (the lock is held).
    async fn order(
        &self,
        name: &str,
        domain: &Domain,
        resolver: &Resolver,
        data: &mut StoredData,
    ) -> Result<(), AcmeError> {
        let account = self.account(name, resolver, data).await?;
        let dns = match &resolver.settings.challenge {
            ChallengeKind::Dns01 { provider, .. } => Some(self.dns_provider_named(provider)?),
            _ => None,
        };
        let solvers = Solvers {
            http01: &self.http01,
            issued: &self.issued,
            dns,
            propagation_timeout: *self.propagation_timeout.lock().unwrap_or_else(PoisonError::into_inner),
        };
        self.orders.fetch_add(1, Ordering::Relaxed);
        tracing::info!(target: "switchyard::acme", resolver = name, domain = %domain, "ordering a certificate");
        let key = data
            .get(name)
            .and_then(|r| r.switchyard_account.as_ref())
            .map(|a| a.private_key.clone())
            .unwrap_or_default();
        let chains = Chains {
            http: &resolver.http,
            key: &key,
        };
        let issued = obtain(&account, domain, &resolver.settings, &solvers, &chains).await?;
        let certificates = &mut data.entry(name.to_owned()).or_default().certificates;
        certificates.retain(|c| Domain::new(&c.domain.main, &c.domain.sans) != *domain);
        certificates.push(StoredCertificate {
            domain: domain.clone(),
            certificate: issued.chain.into_bytes(),
            key: issued.key.into_bytes(),
            store: "default".into(),
        });
        let storage = Arc::clone(&resolver.storage);
        let snapshot = data.clone();
        blocking(move || storage.save(&snapshot)).await?;
        tracing::info!(target: "switchyard::acme", resolver = name, domain = %domain, "certificate obtained");
        Ok(())
    }

    fn dns_provider_named(&self, provider: &str) -> Result<Arc<dyn DnsProvider>, AcmeError> {
        let mut providers = self.dns.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = providers.get(provider) {
            return Ok(Arc::clone(found));
        }
        if provider == "httpreq" {
            let built: Arc<dyn DnsProvider> = Arc::new(HttpReq::from_env()?);
            providers.insert(provider.to_owned(), Arc::clone(&built));
            return Ok(built);
        }
        Err(AcmeError::Config {
            key_path: "dnsChallenge.provider".into(),
            reason: format!("no DNS provider `{provider}` (built in: httpreq; others are registered from Rust)"),
        })
    }

    /// The resolver's account: cached, else restored from the storage, else registered (and stored).
    async fn account(&self, name: &str, resolver: &Resolver, data: &mut StoredData) -> Result<Account, AcmeError> {
        let mut accounts = self.accounts.lock().await;
        if let Some(account) = accounts.get(name) {
            return Ok(account.clone());
        }
        let settings = &resolver.settings;
        let http = || Box::new(SharedHttp(Arc::clone(&resolver.http)));
        let stored = data.get(name).and_then(|r| r.switchyard_account.clone());
        if let Some(stored) = stored.filter(|a| a.email == settings.email) {
            let uri = stored.registration.as_ref().map(|r| r.uri.clone()).unwrap_or_default();
            let key = PrivatePkcs8KeyDer::from(stored.private_key.clone());
            let restored = Account::builder_with_http(http())
                .from_parts(uri.clone(), key, settings.directory.clone())
                .await;
            match restored {
                Ok(account) if !uri.is_empty() => {
                    accounts.insert(name.to_owned(), account.clone());
                    return Ok(account);
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(target: "switchyard::acme", resolver = name, %error, "the stored account cannot be used; registering a new one");
                }
            }
        }
        let contact = (!settings.email.is_empty()).then(|| format!("mailto:{}", settings.email));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let eab = settings
            .eab
            .as_ref()
            .map(|(kid, hmac)| ExternalAccountKey::new(kid.clone(), hmac));
        let new = NewAccount {
            contact: &contacts,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, credentials) = Account::builder_with_http(http())
            .create(&new, settings.directory.clone(), eab.as_ref())
            .await?;
        let entry = data.entry(name.to_owned()).or_default();
        entry.switchyard_account = Some(StoredAccount {
            email: settings.email.clone(),
            registration: Some(Registration {
                body: serde_json::json!({ "status": "valid", "contact": contacts }),
                uri: account.id().to_owned(),
            }),
            private_key: credentials.private_key().secret_pkcs8_der().to_vec(),
            key_type: "EC256".into(),
        });
        accounts.insert(name.to_owned(), account.clone());
        Ok(account)
    }

    /// Forgets the failures of `id` after an order succeeded.
    fn succeeded(&self, id: &str) {
        if let Some(held) = self.held.lock().unwrap_or_else(PoisonError::into_inner).get_mut(id) {
            held.backoff = Duration::ZERO;
            held.retry_at = None;
        }
        self.failures.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    fn failed(&self, id: &str, name: &str, domain: &Domain, error: &AcmeError) {
        let (kind, detail) = match error {
            AcmeError::Problem { kind, detail } => (kind.clone(), detail.clone()),
            other => (String::new(), other.to_string()),
        };
        tracing::warn!(target: "switchyard::acme", resolver = name, domain = %domain, problem_type = %kind, %detail, "ordering a certificate failed; the current certificate (if any) keeps serving");
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = held.entry(id.to_owned()).or_default();
        entry.backoff = (entry.backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        let wait = if kind.ends_with(":rateLimited") {
            entry.backoff.max(RATE_LIMITED)
        } else {
            entry.backoff
        };
        entry.retry_at = Some(Instant::now() + wait);
        self.failures.lock().unwrap_or_else(PoisonError::into_inner).insert(
            id.to_owned(),
            OrderFailure {
                resolver: name.to_owned(),
                domain: domain.clone(),
                kind,
                detail,
            },
        );
    }
}

/// The store of `kubernetesSecret`, one per Secret; with no `kubernetes` feature, reported (the file
/// serves).
fn secret_store(
    name: &str,
    secret: &switchyard_config::KubernetesSecret,
    stores: &mut HashMap<String, Arc<dyn Storage>>,
    unsupported: &mut Vec<UnsupportedOption>,
) -> Result<Option<Arc<dyn Storage>>, AcmeError> {
    let key_path = format!("certificatesResolvers.{name}.acme.kubernetesSecret");
    #[cfg(feature = "kubernetes")]
    {
        let _ = unsupported;
        let id = format!("secret:{}/{}", secret.namespace, secret.name);
        if let Some(store) = stores.get(&id) {
            return Ok(Some(Arc::clone(store)));
        }
        let store: Arc<dyn Storage> = Arc::new(crate::SecretStore::from_static(secret, &key_path)?);
        stores.insert(id, Arc::clone(&store));
        Ok(Some(store))
    }
    #[cfg(not(feature = "kubernetes"))]
    {
        let _ = (secret, stores);
        unsupported.push(UnsupportedOption {
            key_path,
            reason: "a Secret store needs switchyard's `kubernetes` feature: the `storage` file is used",
        });
        Ok(None)
    }
}

/// Whether a certificate expiring at `not_after` is due for renewal.
fn due(not_after: SystemTime, renew_before: Duration) -> bool {
    SystemTime::now() + renew_before >= not_after
}

/// The expiry of a PEM chain's leaf.
fn not_after(chain_pem: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(chain_pem).ok()?;
    let leaf = switchyard_tls::certificates(text).ok()?.into_iter().next()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let seconds = u64::try_from(parsed.validity().not_after.timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AcmeError> + Send + 'static,
) -> Result<T, AcmeError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(AcmeError::Storage {
            location: "storage".into(),
            reason: format!("the storage task failed: {e}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::{Format, load_str};

    #[cfg(not(feature = "kubernetes"))]
    #[test]
    fn a_kubernetes_secret_without_the_feature_is_reported_and_the_file_serves() {
        let yaml = "certificatesResolvers:\n  le:\n    acme:\n      tlsChallenge: {}\n      kubernetesSecret: {namespace: edge, name: acme}\n";
        let config: StaticConfig = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
        let resolvers = CertResolvers::from_static(&config, Arc::default()).unwrap();
        let paths: Vec<&str> = resolvers.unsupported().iter().map(|u| u.key_path.as_str()).collect();
        assert_eq!(paths, ["certificatesResolvers.le.acme.kubernetesSecret"]);
        assert!(resolvers.contains("le"));
    }

    #[cfg(feature = "kubernetes")]
    #[tokio::test]
    async fn a_kubernetes_secret_needs_a_namespace_and_a_name() {
        let yaml = "certificatesResolvers:\n  le:\n    acme:\n      tlsChallenge: {}\n      kubernetesSecret: {name: acme, endpoint: 'http://127.0.0.1:1'}\n";
        let config: StaticConfig = load_str(yaml, Format::Yaml, "traefik.yml").unwrap().value;
        let error = CertResolvers::from_static(&config, Arc::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("certificatesResolvers.le.acme.kubernetesSecret.name:"),
            "{error}"
        );
    }
}
