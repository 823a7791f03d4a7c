//! A Traefik user's static and dynamic files, unchanged, run through the facade route the same way;
//! editing the dynamic file changes routing live.
#![cfg(feature = "file")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{PATIENCE, backend};
use switchyard::config::StaticConfig;

async fn get(addr: SocketAddr, host: &str, path: &str) -> (u16, String) {
    support::get(addr, path, &[("host", host)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_static_and_dynamic_files_route_and_reload() {
    let blue = backend("blue").await;
    let green = backend("green").await;
    let dir = tempfile::tempdir().unwrap();
    let dynamic = dir.path().join("dynamic.yml");
    let write_dynamic = |target: SocketAddr| {
        let yaml = format!(
            "http:\n  routers:\n    app:\n      rule: Host(`app.example`) && PathPrefix(`/v1`)\n      service: app\n      entryPoints: [web]\n  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: http://{target}\n"
        );
        std::fs::write(&dynamic, yaml).unwrap();
    };
    write_dynamic(blue);
    let static_file = dir.path().join("traefik.yml");
    std::fs::write(
        &static_file,
        format!(
            "entryPoints:\n  web:\n    address: 127.0.0.1:0\nproviders:\n  providersThrottleDuration: 0s\n  file:\n    filename: {}\n    watch: true\n",
            dynamic.display()
        ),
    )
    .unwrap();

    let gateway = support::start(&static_file, 1).await;
    let addr = gateway.local_addr("web").unwrap();

    assert_eq!(get(addr, "app.example", "/v1/users").await, (200, "blue".into()));
    assert_eq!(get(addr, "other.example", "/v1/users").await.0, 404);

    let generation = gateway.snapshot().generation();
    write_dynamic(green);
    let deadline = Instant::now() + PATIENCE;
    tokio::time::timeout(PATIENCE, gateway.wait_for(|s| s.generation() > generation))
        .await
        .expect("the configuration goes live");
    loop {
        if get(addr, "app.example", "/v1").await.1 == "green" {
            break;
        }
        assert!(Instant::now() < deadline, "the edited file never went live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.shutdown().await;
}

#[cfg(feature = "kubernetes")]
#[test]
fn the_kubernetes_crd_provider_is_built_from_the_static_configuration() {
    let yaml = "providers:\n  kubernetesCRD:\n    endpoint: http://127.0.0.1:9\n    allowCrossNamespace: true\n";
    let config: StaticConfig = switchyard::config::load_str(yaml, switchyard::config::Format::Yaml, "traefik.yml")
        .unwrap()
        .value;
    assert!(switchyard::gateway_from_static(&config).is_ok());
}

#[cfg(not(feature = "kubernetes"))]
#[test]
fn the_kubernetes_crd_provider_needs_the_kubernetes_feature() {
    let yaml = "providers:\n  kubernetesCRD: {}\n";
    let config: StaticConfig = switchyard::config::load_str(yaml, switchyard::config::Format::Yaml, "traefik.yml")
        .unwrap()
        .value;
    let error = switchyard::gateway_from_static(&config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "providers.kubernetesCRD is configured, but switchyard was built without the `kubernetes` feature"
    );
}

#[test]
fn the_gateway_api_provider_needs_the_kubernetes_feature() {
    let yaml = "providers:\n  kubernetesGateway: {}\n";
    let config: StaticConfig = switchyard::config::load_str(yaml, switchyard::config::Format::Yaml, "traefik.yml")
        .unwrap()
        .value;
    let built = switchyard::gateway_from_static(&config);
    if cfg!(feature = "kubernetes") {
        assert!(built.is_ok());
    } else {
        assert_eq!(
            built.err().map(|e| e.to_string()).as_deref(),
            Some(
                "providers.kubernetesGateway is configured, but switchyard was built without the `kubernetes` feature"
            )
        );
    }
}

/// A backend answering with its name and the path it received.
async fn path_backend(name: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| async move {
                let text = format!("{name} {}", req.uri().path());
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middlewares_and_weighted_services_from_a_traefik_dynamic_file() {
    let blue = path_backend("blue").await;
    let green = path_backend("green").await;
    let dir = tempfile::tempdir().unwrap();
    let dynamic = dir.path().join("dynamic.yml");
    // The shape of Traefik's documentation examples; the password of `test` is `test`.
    let yaml = format!(
        r#"http:
  routers:
    shop-api:
      rule: "Host(`shop.example`) && PathPrefix(`/api`)"
      service: split
      middlewares: [strip-api, auth, secure]
      entryPoints: [web]
  middlewares:
    strip-api:
      stripPrefix:
        prefixes: ["/api"]
    auth:
      basicAuth:
        users:
          - "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
    secure:
      headers:
        frameDeny: true
        customResponseHeaders:
          X-Served-By: "switchyard"
  services:
    split:
      weighted:
        services:
          - name: blue
            weight: 3
          - name: green
            weight: 1
    blue:
      loadBalancer:
        servers:
          - url: "http://{blue}"
    green:
      loadBalancer:
        servers:
          - url: "http://{green}"
"#
    );
    std::fs::write(&dynamic, yaml).unwrap();
    let static_file = dir.path().join("traefik.yml");
    let static_yaml = format!(
        "entryPoints:\n  web:\n    address: 127.0.0.1:0\nproviders:\n  providersThrottleDuration: 0s\n  file:\n    filename: {}\n",
        dynamic.display()
    );
    std::fs::write(&static_file, static_yaml).unwrap();
    let gateway = support::start(&static_file, 1).await;
    let snapshot = gateway.snapshot();
    assert!(snapshot.report().errors().next().is_none(), "{:?}", snapshot.report());
    let addr = gateway.local_addr("web").unwrap();

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let send = |auth: Option<&'static str>| {
        let mut request = http::Request::get(format!("http://{addr}/api/orders")).header("host", "shop.example");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        client.request(request.body(Empty::new()).unwrap())
    };
    let refused = send(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Basic realm=\"traefik\"");

    let mut answers = Vec::new();
    for _ in 0..8 {
        let response = send(Some("Basic dGVzdDp0ZXN0")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        assert_eq!(response.headers()["x-served-by"], "switchyard");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        answers.push(String::from_utf8_lossy(&body).into_owned());
    }
    assert_eq!(
        answers.iter().filter(|a| *a == "blue /orders").count(),
        6,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| *a == "green /orders").count(),
        2,
        "{answers:?}"
    );
    gateway.shutdown().await;
}
