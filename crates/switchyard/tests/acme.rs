//! ACME certificate resolvers against a real CA: Pebble (with pebble-challtestsrv as its DNS), the
//! gateway answering its HTTP-01, TLS-ALPN-01 and DNS-01 challenges on loopback, and real TLS clients
//! verifying what is served against Pebble's root.
#![cfg(feature = "acme")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod pebble;
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
#[cfg(feature = "kubernetes")]
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pebble::{ChallTestSrv, Pebble, PebbleOptions, PebblePlan, client_config, https_request, served_leaf};
use switchyard::RunningGateway;
use switchyard::acme::{CertResolvers, HttpReq, Storage, StoredData};
use switchyard::config::{
    DynamicConfig, Eab, EntryPointTls, Format, MemoryHandle, MemoryProvider, StaticConfig, Status, TlsDomain, load_str,
};

/// Orders on a loaded machine: a bound for failing.
const ORDER_PATIENCE: Duration = Duration::from_secs(60);

/// How a test's resolver `le` proves names.
#[derive(Clone, Copy)]
enum Challenge {
    Http,
    Tls,
    Dns,
}

/// A CA, its DNS, and the static configuration gateways of one test share.
struct Lab {
    dir: tempfile::TempDir,
    dns: ChallTestSrv,
    plan: Option<PebblePlan>,
    pebble: Option<Pebble>,
    directory: String,
    api_ca: String,
    backend: SocketAddr,
}

impl Lab {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let dns = ChallTestSrv::start(dir.path());
        let plan = PebblePlan::new(dir.path());
        Self {
            directory: plan.directory.clone(),
            api_ca: plan.api_ca.display().to_string(),
            dir,
            dns,
            plan: Some(plan),
            pebble: None,
            backend: support::backend("served by the app").await,
        }
    }

    fn storage(&self) -> String {
        self.dir.path().join("acme.json").display().to_string()
    }

    /// The static configuration: `web` redirecting to `websecure`, and the resolver `le`.
    fn static_config(&self, challenge: Challenge) -> StaticConfig {
        let challenge = match challenge {
            Challenge::Http => "httpChallenge: {entryPoint: web}",
            Challenge::Tls => "tlsChallenge: {}",
            Challenge::Dns => &format!("dnsChallenge: {{provider: httpreq, resolvers: ['{}']}}", self.dns.dns),
        };
        let yaml = format!(
            r#"
entryPoints:
  web:
    address: 127.0.0.1:0
    http:
      redirections:
        entryPoint: {{to: websecure, scheme: https}}
  websecure:
    address: 127.0.0.1:0
certificatesResolvers:
  le:
    acme:
      email: ops@example.com
      caServer: {directory}
      caCertificates: ["{api_ca}"]
      storage: {storage}
      keyType: EC384
      {challenge}
"#,
            directory = self.directory,
            api_ca = self.api_ca,
            storage = self.storage(),
        );
        let loaded = load_str::<StaticConfig>(&yaml, Format::Yaml, "traefik.yml").unwrap();
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        loaded.value
    }

    /// A started gateway with no routers yet, its DNS-01 provider pointed at challtestsrv.
    async fn gateway(&self, config: &StaticConfig) -> (RunningGateway, MemoryHandle) {
        self.gateway_with_storage(config, None).await
    }

    /// Like [`gateway`](Self::gateway), with the resolver `le` keeping its state in `storage`.
    async fn gateway_with_storage(
        &self,
        config: &StaticConfig,
        storage: Option<Arc<dyn Storage>>,
    ) -> (RunningGateway, MemoryHandle) {
        let (provider, handle) = MemoryProvider::new("test", DynamicConfig::default());
        let mut gateway = switchyard::gateway_from_static(config)
            .unwrap()
            .provider(provider)
            .throttle(Duration::ZERO);
        if let Some(storage) = storage {
            let resolvers = CertResolvers::from_static(config, Arc::default()).unwrap();
            gateway = gateway.with_cert_resolvers(resolvers.with_storage("le", storage));
        }
        let resolvers = gateway
            .cert_resolvers()
            .expect("the static configuration has resolvers");
        resolvers.renewal_check_interval(Duration::from_millis(500));
        let webhook = httpreq_adapter(self.dns.management).await;
        resolvers.dns_provider("httpreq", Arc::new(HttpReq::new(webhook.parse().unwrap())));
        (gateway.start().await.unwrap(), handle)
    }

    /// Starts Pebble, validating on `gateway`'s entrypoints.
    fn start_pebble(&mut self, gateway: &RunningGateway, options: &PebbleOptions) {
        let web = gateway.local_addr("web").unwrap().port();
        let websecure = gateway.local_addr("websecure").unwrap().port();
        let plan = self.plan.take().expect("one Pebble per test");
        self.pebble = Some(plan.start(self.dns.dns, web, websecure, options));
    }

    fn pebble(&self) -> &Pebble {
        self.pebble.as_ref().unwrap()
    }

    /// Routers on `websecure`: `(name, rule, tls)` (no `tls` section when empty).
    fn routes(&self, routers: &[(&str, &str, &str)]) -> DynamicConfig {
        let mut yaml = String::from("http:\n  routers:\n");
        for (name, rule, tls) in routers {
            yaml.push_str(&format!(
                "    {name}:\n      rule: \"{rule}\"\n      entryPoints: [websecure]\n      service: app\n"
            ));
            if !tls.is_empty() {
                yaml.push_str(&format!("      tls: {tls}\n"));
            }
        }
        yaml.push_str(&format!(
            "  services:\n    app:\n      loadBalancer:\n        servers: [{{url: 'http://{}'}}]\n",
            self.backend
        ));
        load_str::<DynamicConfig>(&yaml, Format::Yaml, "dynamic.yml")
            .unwrap()
            .value
    }

    /// A client trusting Pebble's root only.
    async fn client(&self) -> Arc<rustls::ClientConfig> {
        client_config([self.pebble().root().await])
    }

    /// Waits until `gateway` serves `name` with a certificate Pebble's root verifies, and returns it.
    async fn served(&self, gateway: &RunningGateway, name: &str) -> rustls::pki_types::CertificateDer<'static> {
        let client = self.client().await;
        let addr = gateway.local_addr("websecure").unwrap();
        let deadline = tokio::time::Instant::now() + ORDER_PATIENCE;
        loop {
            match served_leaf(addr, name, Arc::clone(&client)).await {
                Ok(leaf) => return leaf,
                Err(error) if tokio::time::Instant::now() > deadline => panic!(
                    "{name} is not served with a certificate from Pebble: {error}\nfailures: {:?}\npebble:\n{}",
                    gateway.cert_resolvers().unwrap().failures(),
                    self.pebble().log()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

/// lego's httpreq webhook in front of challtestsrv's management API (`/present` → `/set-txt`,
/// `/cleanup` → `/clear-txt`): the DNS-01 provider users run, against the CA's DNS.
async fn httpreq_adapter(challtestsrv: SocketAddr) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| async move {
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let call: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let (target, forwarded) = match path.as_str() {
                    "/present" => (
                        "set-txt",
                        serde_json::json!({"host": call["fqdn"], "value": call["value"]}),
                    ),
                    _ => ("clear-txt", serde_json::json!({"host": call["fqdn"]})),
                };
                let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
                let request = hyper::Request::post(format!("http://{challtestsrv}/{target}"))
                    .body(Full::new(Bytes::from(forwarded.to_string())))
                    .unwrap();
                let status = client.request(request).await.unwrap().status();
                let mut response = hyper::Response::new(Full::new(Bytes::new()));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    format!("http://{addr}")
}

fn stored(path: &str) -> StoredData {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn orders(gateway: &RunningGateway) -> u64 {
    gateway.cert_resolvers().unwrap().orders_placed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_is_answered_ahead_of_the_redirection_and_the_certificate_verifies_against_pebbles_root() {
    let mut lab = Lab::new().await;
    let (gateway, routes) = lab.gateway(&lab.static_config(Challenge::Http)).await;
    lab.start_pebble(&gateway, &PebbleOptions::default());
    // Before any order, the name gets the generated default certificate, which Pebble's root does not sign.
    let client = lab.client().await;
    let websecure = gateway.local_addr("websecure").unwrap();
    assert!(
        served_leaf(websecure, "http01.example", Arc::clone(&client))
            .await
            .is_err()
    );

    routes.set(lab.routes(&[("app", "Host(`http01.example`)", "{certResolver: le}")]));
    lab.served(&gateway, "http01.example").await;
    let (status, body) = https_request(websecure, "http01.example", "/", client).await.unwrap();
    assert_eq!((status, body.as_str()), (200, "served by the app"));
    assert_eq!(orders(&gateway), 1);
    // The redirection still applies to everything that is not a pending challenge.
    let (status, _) = support::get(
        gateway.local_addr("web").unwrap(),
        "/.well-known/acme-challenge/gone",
        &[("host", "http01.example")],
    )
    .await;
    assert_eq!(status, 301);
    let data = stored(&lab.storage());
    let certificate = &data["le"].certificates[0];
    assert_eq!(certificate.domain.main, "http01.example");
    assert!(String::from_utf8_lossy(&certificate.certificate).starts_with("-----BEGIN CERTIFICATE-----"));
    let account = data["le"].switchyard_account.as_ref().unwrap();
    assert!(account.registration.as_ref().unwrap().uri.starts_with("https://"));
    assert_eq!(account.email, "ops@example.com");
    assert!(
        data["le"].account.is_none(),
        "Traefik's own account field is left to Traefik"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(lab.storage()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_is_answered_in_the_handshake_and_other_connections_are_served() {
    let mut lab = Lab::new().await;
    let (gateway, routes) = lab.gateway(&lab.static_config(Challenge::Tls)).await;
    lab.start_pebble(&gateway, &PebbleOptions::default());
    routes.set(lab.routes(&[(
        "app",
        "Host(`alpn.example`) || Host(`www.alpn.example`)",
        "{certResolver: le}",
    )]));
    let leaf = lab.served(&gateway, "www.alpn.example").await;
    assert_eq!(
        leaf,
        lab.served(&gateway, "alpn.example").await,
        "one certificate for the rule's hosts"
    );
    let websecure = gateway.local_addr("websecure").unwrap();
    let (status, _) = https_request(websecure, "alpn.example", "/", lab.client().await)
        .await
        .unwrap();
    assert_eq!(status, 200);
    // A client offering only acme-tls/1 without a pending challenge is not answered with a challenge.
    let mut config = (*lab.client().await).clone();
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    assert!(served_leaf(websecure, "alpn.example", Arc::new(config)).await.is_err());
    assert_eq!(orders(&gateway), 1);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_through_the_httpreq_webhook_orders_a_wildcard() {
    let mut lab = Lab::new().await;
    let (gateway, routes) = lab.gateway(&lab.static_config(Challenge::Dns)).await;
    lab.start_pebble(&gateway, &PebbleOptions::default());
    routes.set(lab.routes(&[(
        "app",
        "HostRegexp(`^.+\\\\.wild\\\\.example$`)",
        "{certResolver: le, domains: [{main: 'wild.example', sans: ['*.wild.example']}]}",
    )]));
    let leaf = lab.served(&gateway, "anything.wild.example").await;
    assert_eq!(leaf, lab.served(&gateway, "wild.example").await);
    assert_eq!(orders(&gateway), 1);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_the_same_storage_serves_the_stored_certificate_without_ordering() {
    let mut lab = Lab::new().await;
    // DNS-01, so that the restarted gateway (on other ports) can order too.
    let config = lab.static_config(Challenge::Dns);
    let (first, routes) = lab.gateway(&config).await;
    lab.start_pebble(&first, &PebbleOptions::default());
    let dynamic = lab.routes(&[("app", "Host(`again.example`)", "{certResolver: le}")]);
    routes.set(dynamic.clone());
    let leaf = lab.served(&first, "again.example").await;
    assert_eq!(orders(&first), 1);
    first.shutdown().await;

    let (second, routes) = lab.gateway(&config).await;
    routes.set(dynamic);
    assert_eq!(lab.served(&second, "again.example").await, leaf);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(orders(&second), 0, "the stored certificate serves: no new order");
    // A new name is ordered with the stored account, not a new registration.
    let account = |data: &StoredData| data["le"].switchyard_account.clone().unwrap();
    let registered = account(&stored(&lab.storage()));
    routes.set(lab.routes(&[
        ("app", "Host(`again.example`)", "{certResolver: le}"),
        ("new", "Host(`new.example`)", "{certResolver: le}"),
    ]));
    lab.served(&second, "new.example").await;
    assert_eq!(orders(&second), 1);
    assert_eq!(account(&stored(&lab.storage())), registered);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_certificates_duration_renews_and_the_new_certificate_serves_from_the_next_handshake() {
    let mut lab = Lab::new().await;
    // Pebble's certificates last 5 minutes; with certificatesDuration 1h renewal starts 20 minutes
    // before expiry, so each certificate is due as soon as it is issued.
    let mut config = lab.static_config(Challenge::Tls);
    config
        .certificates_resolvers
        .get_mut("le")
        .unwrap()
        .acme
        .as_mut()
        .unwrap()
        .certificates_duration = 1;
    let (gateway, routes) = lab.gateway(&config).await;
    let options = PebbleOptions {
        validity: 300,
        ..PebbleOptions::default()
    };
    lab.start_pebble(&gateway, &options);
    routes.set(lab.routes(&[("app", "Host(`renew.example`)", "{certResolver: le}")]));
    let first = lab.served(&gateway, "renew.example").await;
    let deadline = tokio::time::Instant::now() + ORDER_PATIENCE;
    let renewed = loop {
        let leaf = lab.served(&gateway, "renew.example").await;
        if leaf != first {
            break leaf;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no renewal: {:?}",
            gateway.cert_resolvers().unwrap().failures()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(renewed, first);
    assert!(orders(&gateway) >= 2);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_order_is_reported_with_the_cas_problem_while_other_routers_serve() {
    let mut lab = Lab::new().await;
    let (gateway, routes) = lab.gateway(&lab.static_config(Challenge::Http)).await;
    let options = PebbleOptions {
        blocked: vec!["blocked.example".into()],
        ..PebbleOptions::default()
    };
    lab.start_pebble(&gateway, &options);
    routes.set(lab.routes(&[
        ("refused", "Host(`shop.blocked.example`)", "{certResolver: le}"),
        ("fine", "Host(`fine.example`)", "{certResolver: le}"),
        ("unknown", "Host(`unknown.example`)", "{certResolver: nope}"),
    ]));
    lab.served(&gateway, "fine.example").await;
    let resolvers = gateway.cert_resolvers().unwrap();
    let deadline = tokio::time::Instant::now() + ORDER_PATIENCE;
    while resolvers.failures().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the refusal is reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failure = &resolvers.failures()[0];
    assert_eq!(failure.domain.main, "shop.blocked.example");
    assert_eq!(
        failure.kind, "urn:ietf:params:acme:error:rejectedIdentifier",
        "{failure:?}"
    );
    assert!(failure.detail.contains("blocked.example"), "{failure:?}");
    // The router naming an unknown resolver is off, and only it.
    let snapshot = gateway.snapshot();
    let routers = &snapshot.report().routers;
    let unknown = &routers["unknown@test"];
    assert_eq!(unknown.status, Status::Disabled, "{unknown:?}");
    assert!(
        unknown.errors[0].to_string().contains("no certificate resolver `nope`"),
        "{unknown:?}"
    );
    assert_eq!(routers["fine@test"].status, Status::Enabled);
    assert_eq!(
        routers["refused@test"].status,
        Status::Enabled,
        "it serves on with the default certificate"
    );
    let (status, body) = https_request(
        gateway.local_addr("websecure").unwrap(),
        "fine.example",
        "/",
        lab.client().await,
    )
    .await
    .unwrap();
    assert_eq!((status, body.as_str()), (200, "served by the app"));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_one_file_store_order_each_certificate_once() {
    let mut lab = Lab::new().await;
    let config = lab.static_config(Challenge::Dns);
    let (one, routes_one) = lab.gateway(&config).await;
    let (two, routes_two) = lab.gateway(&config).await;
    lab.start_pebble(&one, &PebbleOptions::default());
    let dynamic = lab.routes(&[
        ("a", "Host(`a.shared.example`)", "{certResolver: le}"),
        ("b", "Host(`b.shared.example`)", "{certResolver: le}"),
    ]);
    routes_one.set(dynamic.clone());
    routes_two.set(dynamic);
    for name in ["a.shared.example", "b.shared.example"] {
        let leaf = lab.served(&one, name).await;
        assert_eq!(
            lab.served(&two, name).await,
            leaf,
            "both replicas serve the one certificate"
        );
    }
    assert_eq!(
        orders(&one) + orders(&two),
        2,
        "one order per domain across the replicas"
    );
    assert_eq!(stored(&lab.storage())["le"].certificates.len(), 2);
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entrypoints_cert_resolver_and_domains_apply_to_routers_without_tls_of_their_own() {
    let mut lab = Lab::new().await;
    let mut config = lab.static_config(Challenge::Tls);
    config.entry_points.get_mut("websecure").unwrap().http.tls = Some(EntryPointTls {
        cert_resolver: "le".into(),
        domains: vec![TlsDomain {
            main: "entry.example".into(),
            sans: vec!["www.entry.example".into()],
        }],
        ..EntryPointTls::default()
    });
    let (gateway, routes) = lab.gateway(&config).await;
    lab.start_pebble(&gateway, &PebbleOptions::default());
    routes.set(lab.routes(&[("app", "PathPrefix(`/`)", "")]));
    let leaf = lab.served(&gateway, "www.entry.example").await;
    assert_eq!(lab.served(&gateway, "entry.example").await, leaf);
    let (status, body) = https_request(
        gateway.local_addr("websecure").unwrap(),
        "entry.example",
        "/",
        lab.client().await,
    )
    .await
    .unwrap();
    assert_eq!((status, body.as_str()), (200, "served by the app"));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_renewal_keeps_the_current_certificate_serving_and_is_reported() {
    let mut lab = Lab::new().await;
    let mut config = lab.static_config(Challenge::Http);
    config
        .certificates_resolvers
        .get_mut("le")
        .unwrap()
        .acme
        .as_mut()
        .unwrap()
        .certificates_duration = 1;
    let (gateway, routes) = lab.gateway(&config).await;
    let options = PebbleOptions {
        validity: 300,
        ..PebbleOptions::default()
    };
    lab.start_pebble(&gateway, &options);
    routes.set(lab.routes(&[("app", "Host(`keep.example`)", "{certResolver: le}")]));
    lab.served(&gateway, "keep.example").await;
    let client = lab.client().await;
    // The CA goes away: every renewal (due at once) fails.
    lab.pebble = None;
    let resolvers = gateway.cert_resolvers().unwrap();
    let deadline = tokio::time::Instant::now() + ORDER_PATIENCE;
    while resolvers.failures().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the failed renewal is reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(resolvers.failures()[0].domain.main, "keep.example");
    let websecure = gateway.local_addr("websecure").unwrap();
    let (status, body) = https_request(websecure, "keep.example", "/", client).await.unwrap();
    assert_eq!((status, body.as_str()), (200, "served by the app"));
    gateway.shutdown().await;
}

#[cfg(feature = "kubernetes")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_one_kubernetes_secret_order_each_certificate_once() {
    use switchyard::acme::{SecretStore, kube};
    use switchyard_test_apiserver::ApiServer;

    let server = ApiServer::start().await;
    let secret = || -> Arc<dyn Storage> {
        let client = kube::Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
        Arc::new(SecretStore::new(client, "edge", "switchyard-acme"))
    };
    let mut lab = Lab::new().await;
    let config = lab.static_config(Challenge::Dns);
    let (one, routes_one) = lab.gateway_with_storage(&config, Some(secret())).await;
    let (two, routes_two) = lab.gateway_with_storage(&config, Some(secret())).await;
    lab.start_pebble(&one, &PebbleOptions::default());
    let dynamic = lab.routes(&[
        ("a", "Host(`a.secret.example`)", "{certResolver: le}"),
        ("b", "Host(`b.secret.example`)", "{certResolver: le}"),
    ]);
    routes_one.set(dynamic.clone());
    routes_two.set(dynamic);
    for name in ["a.secret.example", "b.secret.example"] {
        let leaf = lab.served(&one, name).await;
        assert_eq!(
            lab.served(&two, name).await,
            leaf,
            "both replicas serve the one certificate"
        );
    }
    assert_eq!(
        orders(&one) + orders(&two),
        2,
        "one order per domain across the replicas"
    );
    let stored = server
        .get("Secret", "edge", "switchyard-acme")
        .expect("the Secret is written");
    assert!(stored["data"]["acme.json"].is_string());
    assert!(!Path::new(&lab.storage()).exists(), "the file storage is not used");
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_bound_with_eab_when_the_ca_requires_it() {
    let mut lab = Lab::new().await;
    let hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let mut config = lab.static_config(Challenge::Tls);
    config
        .certificates_resolvers
        .get_mut("le")
        .unwrap()
        .acme
        .as_mut()
        .unwrap()
        .eab = Some(Eab {
        kid: "kid-1".into(),
        hmac_encoded: hmac.into(),
    });
    let (gateway, routes) = lab.gateway(&config).await;
    let options = PebbleOptions {
        eab: Some(("kid-1".into(), hmac.into())),
        ..PebbleOptions::default()
    };
    lab.start_pebble(&gateway, &options);
    routes.set(lab.routes(&[("app", "Host(`bound.example`)", "{certResolver: le}")]));
    lab.served(&gateway, "bound.example").await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_eab_the_ca_refuses_the_account_and_says_why() {
    let mut lab = Lab::new().await;
    let (gateway, routes) = lab.gateway(&lab.static_config(Challenge::Tls)).await;
    let options = PebbleOptions {
        eab: Some((
            "kid-1".into(),
            "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W".into(),
        )),
        ..PebbleOptions::default()
    };
    lab.start_pebble(&gateway, &options);
    routes.set(lab.routes(&[("app", "Host(`unbound.example`)", "{certResolver: le}")]));
    let resolvers = gateway.cert_resolvers().unwrap();
    let deadline = tokio::time::Instant::now() + ORDER_PATIENCE;
    while resolvers.failures().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the refusal is reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failure = &resolvers.failures()[0];
    assert_eq!(
        failure.kind, "urn:ietf:params:acme:error:externalAccountRequired",
        "{failure:?}"
    );
    assert_eq!(resolvers.orders_placed(), 0, "no account, no order");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_router_terminating_tls_orders_its_host_sni_name() {
    let mut lab = Lab::new().await;
    let (gateway, routes) = lab.gateway(&lab.static_config(Challenge::Http)).await;
    lab.start_pebble(&gateway, &PebbleOptions::default());
    // The TCP router terminates TLS and forwards the plaintext to the app (which speaks HTTP/1.1).
    let yaml = format!(
        "tcp:\n  routers:\n    db:\n      rule: \"HostSNI(`tcp.example`)\"\n      entryPoints: [websecure]\n      service: app\n      tls: {{certResolver: le}}\n    \
         pass:\n      rule: \"HostSNI(`pass.example`)\"\n      entryPoints: [websecure]\n      service: app\n      tls: {{passthrough: true, certResolver: le}}\n  \
         services:\n    app:\n      loadBalancer:\n        servers: [{{address: '{}'}}]\n",
        lab.backend
    );
    let tcp = load_str::<DynamicConfig>(&yaml, Format::Yaml, "dynamic.yml")
        .unwrap()
        .value;
    routes.set(tcp);
    let leaf = lab.served(&gateway, "tcp.example").await;
    assert!(!leaf.is_empty());
    let websecure = gateway.local_addr("websecure").unwrap();
    let (status, body) = https_request(websecure, "tcp.example", "/", lab.client().await)
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "served by the app"));
    assert_eq!(orders(&gateway), 1, "the passthrough router orders nothing");
    let report = gateway.snapshot().report().clone();
    let pass = &report.tcp.routers["pass@test"].errors;
    assert!(
        pass.iter()
            .any(|e| e.to_string().contains("passthrough router does not terminate TLS")),
        "{pass:?}"
    );
    gateway.shutdown().await;
}

/// The resolver `le` of a static configuration, to adjust.
fn resolver(config: &mut StaticConfig) -> &mut switchyard::config::Acme {
    config
        .certificates_resolvers
        .get_mut("le")
        .unwrap()
        .acme
        .as_mut()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa2048_key_type_serves_a_certificate_with_an_rsa_2048_key() {
    let mut lab = Lab::new().await;
    let mut config = lab.static_config(Challenge::Tls);
    resolver(&mut config).key_type = "RSA2048".into();
    let (gateway, routes) = lab.gateway(&config).await;
    lab.start_pebble(&gateway, &PebbleOptions::default());
    routes.set(lab.routes(&[("app", "Host(`rsa.example`)", "{certResolver: le}")]));
    let leaf = lab.served(&gateway, "rsa.example").await;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).unwrap();
    match parsed.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(key) => assert_eq!(key.key_size(), 2048),
        other => panic!("the served key is not RSA: {other:?}"),
    }
    let stored = stored(&lab.storage());
    let key = String::from_utf8_lossy(&stored["le"].certificates[0].key).into_owned();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    let report = gateway.snapshot().report().clone();
    assert!(
        !report.general.iter().any(|e| e.key_path.ends_with(".keyType")),
        "{:?}",
        report.general
    );
    gateway.shutdown().await;
}

/// The Common Name of a certificate's subject.
fn common_name(certificate: &[u8]) -> String {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).unwrap();
    let name = parsed.subject().iter_common_name().next().unwrap();
    name.as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preferred_chain_is_fetched_from_the_cas_alternates_and_served() {
    let mut lab = Lab::new().await;
    // DNS-01, so that Pebble can start first: the preferred chain is named after one of its roots.
    let plan = lab.plan.take().unwrap();
    let options = PebbleOptions {
        alternate_roots: 2,
        ..PebbleOptions::default()
    };
    lab.pebble = Some(plan.start(lab.dns.dns, pebble::free_port(), pebble::free_port(), &options));
    let default_root = lab.pebble().root_at(0).await;
    let preferred_root = lab.pebble().root_at(2).await;
    let preferred = common_name(&preferred_root);
    assert_ne!(preferred, common_name(&default_root));
    let mut config = lab.static_config(Challenge::Dns);
    resolver(&mut config).preferred_chain = preferred.clone();
    let (gateway, routes) = lab.gateway(&config).await;
    routes.set(lab.routes(&[("app", "Host(`chain.example`)", "{certResolver: le}")]));

    let websecure = gateway.local_addr("websecure").unwrap();
    let preferring = client_config([preferred_root]);
    let deadline = tokio::time::Instant::now() + ORDER_PATIENCE;
    while let Err(error) = served_leaf(websecure, "chain.example", Arc::clone(&preferring)).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no chain to the preferred root: {error}\nfailures: {:?}",
            gateway.cert_resolvers().unwrap().failures()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The default chain is not what serves: a client trusting only the default root refuses it.
    let error = served_leaf(websecure, "chain.example", client_config([default_root]))
        .await
        .unwrap_err();
    assert!(error.contains("UnknownIssuer"), "{error}");
    let data = stored(&lab.storage());
    let chain = String::from_utf8_lossy(&data["le"].certificates[0].certificate).into_owned();
    use rustls::pki_types::pem::PemObject;
    let top = rustls::pki_types::CertificateDer::pem_slice_iter(chain.as_bytes())
        .last()
        .unwrap()
        .unwrap();
    let (_, top) = x509_parser::parse_x509_certificate(top.as_ref()).unwrap();
    assert_eq!(
        top.issuer().iter_common_name().next().unwrap().as_str().unwrap(),
        preferred
    );
    assert_eq!(orders(&gateway), 1);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_a_resolver_does_not_apply_are_in_the_snapshots_report() {
    let lab = Lab::new().await;
    let mut config = lab.static_config(Challenge::Tls);
    resolver(&mut config).profile = "shortlived".into();
    resolver(&mut config).ca_server_name = "ca.example".into();
    let (gateway, routes) = lab.gateway(&config).await;
    routes.set(lab.routes(&[("app", "Host(`report.example`)", "{certResolver: le}")]));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gateway.snapshot().published().runtime.config.http.routers.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the routes are published");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = gateway.snapshot().report().clone();
    let unsupported: Vec<&str> = report
        .general
        .iter()
        .filter(|e| matches!(e.problem, switchyard::config::Problem::Unsupported(_)))
        .map(|e| e.key_path.as_str())
        .collect();
    assert_eq!(
        unsupported,
        [
            "certificatesResolvers.le.acme.profile",
            "certificatesResolvers.le.acme.caServerName"
        ],
        "{:?}",
        report.general
    );
    gateway.shutdown().await;
}

/// A DNS provider that says it set the record and sets nothing.
#[derive(Debug)]
struct Forgetful;

impl switchyard::acme::DnsProvider for Forgetful {
    fn present<'a>(&'a self, _fqdn: &'a str, _value: &'a str) -> switchyard::acme::DnsFuture<'a> {
        Box::pin(async { Ok(()) })
    }
    fn cleanup<'a>(&'a self, _fqdn: &'a str, _value: &'a str) -> switchyard::acme::DnsFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

/// Waits for the first failed order of `gateway` and returns its detail.
async fn first_failure(gateway: &RunningGateway) -> switchyard::acme::OrderFailure {
    let resolvers = gateway.cert_resolvers().unwrap();
    let deadline = tokio::time::Instant::now() + ORDER_PATIENCE;
    while resolvers.failures().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the order fails");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    resolvers.failures().remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns01_record_the_resolvers_do_not_see_fails_the_order_before_the_ca_validates() {
    let mut lab = Lab::new().await;
    let (gateway, routes) = lab.gateway(&lab.static_config(Challenge::Dns)).await;
    let resolvers = gateway.cert_resolvers().unwrap();
    resolvers.dns_provider("httpreq", Arc::new(Forgetful));
    resolvers.dns_propagation_timeout(Duration::from_secs(2));
    lab.start_pebble(&gateway, &PebbleOptions::default());
    routes.set(lab.routes(&[("app", "Host(`unseen.example`)", "{certResolver: le}")]));
    let failure = first_failure(&gateway).await;
    assert_eq!(failure.kind, "", "not the CA's refusal: {failure:?}");
    assert!(
        failure
            .detail
            .contains("_acme-challenge.unseen.example. was not seen by")
            && failure.detail.contains(&lab.dns.dns.to_string()),
        "{failure:?}"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_require_all_rns_every_resolver_must_see_the_record() {
    let mut lab = Lab::new().await;
    // A resolver that never answers, beside challtestsrv.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = lab.static_config(Challenge::Dns);
    let dns = resolver(&mut config).dns_challenge.as_mut().unwrap();
    dns.resolvers.insert(0, silent.local_addr().unwrap().to_string());
    let mut strict = config.clone();
    let strict_dns = resolver(&mut strict).dns_challenge.as_mut().unwrap();
    strict_dns.propagation = Some(switchyard::config::Propagation {
        require_all_rns: true,
        ..Default::default()
    });

    // One resolver seeing the record is enough by default.
    let (gateway, routes) = lab.gateway(&config).await;
    lab.start_pebble(&gateway, &PebbleOptions::default());
    routes.set(lab.routes(&[("app", "Host(`one.example`)", "{certResolver: le}")]));
    lab.served(&gateway, "one.example").await;
    gateway.shutdown().await;

    let other = lab.dir.path().join("strict.json").display().to_string();
    resolver(&mut strict).storage = other;
    let (gateway, routes) = lab.gateway(&strict).await;
    gateway
        .cert_resolvers()
        .unwrap()
        .dns_propagation_timeout(Duration::from_secs(3));
    routes.set(lab.routes(&[("app", "Host(`all.example`)", "{certResolver: le}")]));
    let failure = first_failure(&gateway).await;
    assert!(failure.detail.contains("was not seen by"), "{failure:?}");
    assert!(
        failure.detail.contains(&silent.local_addr().unwrap().to_string()),
        "{failure:?}"
    );
    gateway.shutdown().await;
}

#[cfg(feature = "kubernetes")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_secret_named_in_the_static_configuration_is_the_storage() {
    use switchyard::acme::{SecretStore, kube};
    use switchyard_test_apiserver::ApiServer;

    let server = ApiServer::start().await;
    let mut lab = Lab::new().await;
    let mut config = lab.static_config(Challenge::Tls);
    resolver(&mut config).kubernetes_secret = Some(switchyard::config::KubernetesSecret {
        namespace: "edge".into(),
        name: "from-static".into(),
        endpoint: server.url(),
        ..Default::default()
    });
    let (gateway, routes) = lab.gateway(&config).await;
    lab.start_pebble(&gateway, &PebbleOptions::default());
    routes.set(lab.routes(&[("app", "Host(`static-secret.example`)", "{certResolver: le}")]));
    let leaf = lab.served(&gateway, "static-secret.example").await;
    let client = kube::Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
    let store = SecretStore::new(client, "edge", "from-static");
    let data = tokio::task::spawn_blocking(move || store.load())
        .await
        .unwrap()
        .unwrap();
    let chain = String::from_utf8_lossy(&data["le"].certificates[0].certificate).into_owned();
    use rustls::pki_types::pem::PemObject;
    let first = rustls::pki_types::CertificateDer::pem_slice_iter(chain.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first, leaf, "the served certificate is the Secret's");
    assert!(!Path::new(&lab.storage()).exists(), "the file storage is not used");
    gateway.shutdown().await;
}
