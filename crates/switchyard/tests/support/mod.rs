//! What the facade's tests share: a backend on loopback and a gateway started from a static file.
#![allow(dead_code, reason = "each test binary uses its own part")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchyard::RunningGateway;
use switchyard::config::{StaticConfig, load_file};
use switchyard::proxy::Snapshot;

/// How long something that must happen may take on a loaded machine: a bound for failing.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// A backend on 127.0.0.1 that answers every request 200 with `answer`.
pub async fn backend(answer: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(move |_req| async move {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(answer.as_bytes()))))
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

/// The gateway of a Traefik static file (every key known), once `web` routes `routes` plain routes.
pub async fn start(static_file: &Path, routes: usize) -> RunningGateway {
    start_when(static_file, move |s| s.route_count("web").plain == routes).await
}

/// The gateway of a Traefik static file (every key known), once its live snapshot is `ready`.
pub async fn start_when(static_file: &Path, ready: impl FnMut(&Snapshot) -> bool) -> RunningGateway {
    let config = load_file::<StaticConfig>(static_file).unwrap();
    assert!(config.unknown_keys.is_empty(), "{:?}", config.unknown_keys);
    let gateway = switchyard::gateway_from_static(&config.value)
        .unwrap()
        .start()
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, gateway.wait_for(ready))
        .await
        .expect("the configuration goes live");
    gateway
}

/// `GET path` from `addr` over plain HTTP with `headers`: the status and the body as text.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut request = http::Request::get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client.request(request.body(Empty::new()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
