//! Traefik's `providers.kubernetesIngress` settings: endpoint and token, namespaces, labelSelector,
//! ingressClass, throttleDuration.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, ingress, ready, rule, service, slice, within};
use switchyard_config::{Format, KubernetesIngressOptions, StaticConfig, load_str};
use switchyard_kubernetes::IngressProvider;
use switchyard_test_apiserver::ApiServer;

fn options(server: &ApiServer, token_file: &std::path::Path) -> KubernetesIngressOptions {
    let yaml = format!(
        "providers:
  kubernetesIngress:
    endpoint: {}
    token: {}
    namespaces: [shop, blog]
    labelSelector: expose=yes
    ingressClass: edge
    throttleDuration: 300ms
    allowEmptyServices: true
",
        server.url(),
        token_file.display()
    );
    let config: StaticConfig = load_str(&yaml, Format::Yaml, "traefik.yml").unwrap().value;
    config.providers.kubernetes_ingress.unwrap()
}

fn labelled_ingress(namespace: &str, name: &str, class: &str, expose: &str) -> Value {
    let mut object = ingress(
        namespace,
        name,
        json!({"rules": [rule(&format!("{name}.test"), &[("Prefix", "/", "app", "http")])]}),
    );
    object["metadata"]["labels"] = json!({"expose": expose});
    object["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": class});
    object
}

fn routers(cluster: &Cluster) -> Vec<String> {
    let snapshot = cluster.gateway.snapshot();
    snapshot
        .published()
        .runtime
        .config
        .http
        .routers
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_settings_select_what_is_watched_and_handled() {
    let server = ApiServer::start().await;
    server.require_token(Some("s3cret"));
    let token_file = std::env::temp_dir().join(format!("switchyard-k8s-token-{}", std::process::id()));
    std::fs::write(&token_file, "s3cret\n").unwrap();
    for namespace in ["shop", "blog", "other"] {
        server.apply(service(namespace, "app", &[("http", 80)]));
    }
    server.apply(labelled_ingress("shop", "shop", "edge", "yes"));
    server.apply(labelled_ingress("blog", "unlabelled", "edge", "no"));
    server.apply(labelled_ingress("blog", "other-class", "traefik", "yes"));
    server.apply(labelled_ingress("other", "other-namespace", "edge", "yes"));
    let provider = IngressProvider::from_static(&options(&server, &token_file));
    let cluster = Cluster::start_provider(server, provider).await;
    cluster.published().await;
    within(Duration::from_secs(15), || async { !routers(&cluster).is_empty() })
        .await
        .unwrap();
    assert_eq!(routers(&cluster), ["shop-shop-shop-test@kubernetes"]);

    // Throttled: after a publication, the next one waits for throttleDuration (300 ms).
    cluster.server.apply(labelled_ingress("blog", "blog", "edge", "yes"));
    within(Duration::from_secs(15), || async { routers(&cluster).len() == 2 })
        .await
        .unwrap();
    let published = std::time::Instant::now();
    cluster.server.apply(labelled_ingress("shop", "shop2", "edge", "yes"));
    within(Duration::from_secs(15), || async { routers(&cluster).len() == 3 })
        .await
        .unwrap();
    let waited = published.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "the next change came {waited:?} after a publication"
    );
    std::fs::remove_file(&token_file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_reported_and_nothing_is_published() {
    let server = ApiServer::start().await;
    server.require_token(Some("right"));
    let provider = IngressProvider::endpoint(server.url(), "wrong", None);
    let cluster = Cluster::start_provider(server, provider).await;
    within(Duration::from_secs(15), || async {
        let snapshot = cluster.gateway.snapshot();
        let status = snapshot
            .published()
            .providers
            .get("kubernetes")
            .cloned()
            .unwrap_or_default();
        status.last_error.as_deref().is_some_and(|e| e.contains("Unauthorized")) && !status.published
    })
    .await
    .expect("401 reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_names_the_server_and_the_token() {
    let server = ApiServer::start().await;
    server.require_token(Some("from-kubeconfig"));
    server.apply(service("default", "app", &[("http", 80)]));
    server.apply(ingress(
        "default",
        "app",
        json!({"rules": [rule("app.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    let kubeconfig = std::env::temp_dir().join(format!("switchyard-kubeconfig-{}", std::process::id()));
    let yaml = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {}
users:
- name: tester
  user:
    token: from-kubeconfig
contexts:
- name: test
  context:
    cluster: test
    user: tester
current-context: test
",
        server.url()
    );
    std::fs::write(&kubeconfig, yaml).unwrap();
    let provider = IngressProvider::kubeconfig(&kubeconfig).allow_empty_services(true);
    let cluster = Cluster::start_provider(server, provider).await;
    within(Duration::from_secs(15), || async {
        routers(&cluster) == ["default-app-app-test@kubernetes"]
    })
    .await
    .expect("the cluster named in the kubeconfig is watched");
    std::fs::remove_file(&kubeconfig).unwrap();
}

/// A CA and a certificate it signed for 127.0.0.1, as PEM: (CA, chain, key).
fn api_server_certificate() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_endpoint_is_verified_with_cert_auth_file_path() {
    let (ca, cert, key) = api_server_certificate();
    let dir = tempfile_dir();
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, ca).unwrap();

    // Without the CA the API server's certificate is not trusted: reported, nothing published.
    let untrusted = ApiServer::start_tls(&cert, &key).await;
    let provider = IngressProvider::endpoint(untrusted.url(), "s3cret", None);
    let cluster = Cluster::start_provider(untrusted, provider).await;
    within(Duration::from_secs(15), || async {
        let snapshot = cluster.gateway.snapshot();
        let status = snapshot
            .published()
            .providers
            .get("kubernetes")
            .cloned()
            .unwrap_or_default();
        status.last_error.is_some() && !status.published
    })
    .await
    .expect("an untrusted API server certificate is reported");

    // With certAuthFilePath and the token, the provider lists and routes.
    let server = ApiServer::start_tls(&cert, &key).await;
    assert!(server.url().starts_with("https://"));
    server.require_token(Some("s3cret"));
    server.apply(service("default", "app", &[("http", 80)]));
    server.apply(slice("default", "app", "app-abc", "http", 8080, &ready(&["127.0.0.1"])));
    server.apply(ingress(
        "default",
        "app",
        json!({"rules": [rule("app.test", &[("Prefix", "/", "app", "http")])]}),
    ));
    let provider = IngressProvider::endpoint(server.url(), "s3cret", Some(ca_file));
    let cluster = Cluster::start_provider(server, provider).await;
    let read = within(Duration::from_secs(15), || async { !routers(&cluster).is_empty() }).await;
    let snapshot = cluster.gateway.snapshot();
    let status = snapshot.published().providers.get("kubernetes").cloned();
    read.unwrap_or_else(|_| panic!("the Ingress is read over HTTPS: {status:?}"));
    assert_eq!(routers(&cluster), ["default-app-app-test@kubernetes"]);
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-k8s-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_provider_references_are_refused_outside_cross_provider_namespaces() {
    let cluster = Cluster::start(|p| p.allow_empty_services(true).cross_provider_namespaces(["platform"])).await;
    for namespace in ["platform", "shop"] {
        cluster.server.apply(service(namespace, "app", &[("http", 80)]));
        let mut object = ingress(
            namespace,
            "web",
            json!({"rules": [rule(&format!("{namespace}.test"), &[("Prefix", "/", "app", "http")])]}),
        );
        object["metadata"]["annotations"] = json!({"traefik.ingress.kubernetes.io/router.middlewares": "auth@file"});
        cluster.server.apply(object);
    }
    within(Duration::from_secs(15), || async {
        cluster.warnings().iter().any(|w| w.contains("Ingress shop/web: `annotation router.middlewares`: refers to another provider, and namespace `shop` is not in crossProviderNamespaces"))
    })
    .await
    .unwrap_or_else(|_| panic!("{:?}", cluster.warnings()));
    // The allowed namespace's router is published (and disabled by the aggregator, since no file
    // provider defines auth@file); the refused one is not published at all.
    let snapshot = cluster.gateway.snapshot();
    let disabled: Vec<&String> = snapshot.published().runtime.disabled.routers.keys().collect();
    assert_eq!(disabled, ["platform-web-platform-test@kubernetes"]);
    assert!(routers(&cluster).is_empty());
}
