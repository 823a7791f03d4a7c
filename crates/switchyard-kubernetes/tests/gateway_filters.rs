//! HTTPRoute filters through the gateway: request and response header modifiers, redirects, URL
//! rewrites, mirrors, CORS and per-backend filters, checked on what pods receive and clients get.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::sync::atomic::Ordering;

use http::StatusCode;
use serde_json::{Value, json};
use support::gateway::{backend, gateway, http_listener, http_route, send, start};
use support::{Cluster, Pods, ready, service, slice, within};

async fn echo(cluster: &Cluster, name: &str) -> Pods {
    let pods = Pods::start_echo(name, 1).await;
    cluster.server.apply(service("default", name, &[("http", 80)]));
    let endpoints = ready(&pods.first(1));
    cluster.server.apply(slice(
        "default",
        name,
        &format!("{name}-x"),
        "http",
        pods.port,
        &endpoints,
    ));
    pods
}

/// A rule on `path` with these filters, to Service `app`.
fn rule(path: &str, filters: Value) -> Value {
    json!({"matches": [{"path": {"value": path}}], "filters": filters, "backendRefs": [backend("app", 80, 1)]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_change_requests_and_answers() {
    let cluster = start(|p| p).await;
    let _app = echo(&cluster, "app").await;
    let copy = echo(&cluster, "copy").await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let rules = json!([
        rule("/set", json!([{"type": "RequestHeaderModifier",
            "requestHeaderModifier": {"set": [{"name": "X-Test", "value": "set"}], "remove": ["X-Forwarded-Prefix"]}}])),
        rule("/answer", json!([{"type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"add": [{"name": "X-Answer", "value": "yes"}]}}])),
        rule("/moved", json!([{"type": "RequestRedirect",
            "requestRedirect": {"scheme": "https", "hostname": "new.test", "statusCode": 301}}])),
        rule("/port", json!([{"type": "RequestRedirect", "requestRedirect": {"port": 8443}}])),
        rule("/old", json!([{"type": "RequestRedirect",
            "requestRedirect": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}}])),
        rule("/prefix/one", json!([{"type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/one"}}}])),
        rule("/strip", json!([{"type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}])),
        rule("/full", json!([{"type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/replaced"}}}])),
        rule("/mirrored", json!([{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "copy", "port": 80}}}])),
        rule("/cors", json!([{"type": "CORS", "cors": {"allowOrigins": ["https://*.shop.test"], "allowMethods": ["GET", "PUT"]}}])),
        {"matches": [{"path": {"value": "/per-backend"}}], "backendRefs": [{"name": "app", "port": 80,
            "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "X-Test", "value": "backend"}]}}]}]},
    ]);
    cluster.server.apply(http_route(
        "default",
        "filters",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["f.test"], "rules": rules}),
    ));
    cluster
        .routes_to("f.test", "/per-backend", "app-0 /per-backend backend")
        .await;
    let request = |method: &'static str, path: &'static str, headers: &'static [(&'static str, &'static str)]| {
        send(&cluster.client, cluster.addr, method, "f.test", path, headers)
    };

    let (_, body, _) = request("GET", "/set", &[("x-test", "client"), ("x-forwarded-prefix", "/p")]).await;
    assert_eq!(body, "app-0 /set set -");
    let (status, _, headers) = request("GET", "/answer", &[]).await;
    assert_eq!((status, headers["x-answer"].to_str().unwrap()), (StatusCode::OK, "yes"));

    let (status, _, headers) = request("GET", "/moved/x?q=1", &[]).await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(headers["location"], "https://new.test/moved/x?q=1");
    let (status, _, headers) = request("GET", "/port/x", &[]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(headers["location"], "http://f.test:8443/port/x");
    let (status, _, headers) = request("GET", "/old/page", &[]).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://f.test") && location.ends_with("/new/page"),
        "{location}"
    );

    for (path, received) in [
        ("/prefix/one/two", "/one/two"),
        ("/prefix/one", "/one"),
        ("/strip/three", "/three"),
        ("/strip", "/"),
        ("/full/any/thing", "/replaced"),
    ] {
        let (_, body, _) = send(&cluster.client, cluster.addr, "GET", "f.test", path, &[]).await;
        assert_eq!(body.split(' ').nth(1), Some(received), "{path}: {body}");
    }

    let (status, body, _) = request("GET", "/mirrored", &[]).await;
    assert_eq!((status, body.split(' ').next()), (StatusCode::OK, Some("app-0")));
    within(support::LIVE_TIMEOUT, || async {
        copy.hits.load(Ordering::Relaxed) >= 1
    })
    .await
    .expect("the mirror received a copy");

    let origin = [("origin", "https://a.shop.test")];
    let (_, _, headers) = send(&cluster.client, cluster.addr, "GET", "f.test", "/cors", &origin).await;
    assert_eq!(headers["access-control-allow-origin"], "https://a.shop.test");
    let (_, _, headers) = send(
        &cluster.client,
        cluster.addr,
        "GET",
        "f.test",
        "/cors",
        &[("origin", "https://evil.test")],
    )
    .await;
    assert!(headers.get("access-control-allow-origin").is_none(), "{headers:?}");
}

/// A pod that answers `slow` after `delay`.
async fn slow_pod(cluster: &Cluster, delay: std::time::Duration) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(b"slow"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    cluster.server.apply(service("default", "slow", &[("http", 80)]));
    cluster
        .server
        .apply(slice("default", "slow", "slow-x", "http", port, &ready(&["127.0.0.1"])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_timeouts_bound_the_backend_answer() {
    let cluster = start(|p| p).await;
    slow_pod(&cluster, std::time::Duration::from_millis(700)).await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let slow = |path: &str, timeouts: Value| json!({"matches": [{"path": {"value": path}}], "timeouts": timeouts, "backendRefs": [backend("slow", 80, 1)]});
    cluster.server.apply(http_route(
        "default",
        "timeouts",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["t.test"], "rules": [
            slow("/patient", json!({"request": "5s"})),
            slow("/hasty", json!({"request": "2s", "backendRequest": "200ms"})),
            slow("/unbounded", json!({"request": "0s"})),
        ]}),
    ));
    cluster.routes_to("t.test", "/patient", "slow").await;
    assert_eq!(cluster.get("t.test", "/hasty").await.0, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        cluster.get("t.test", "/unbounded").await,
        (StatusCode::OK, "slow".to_owned())
    );
}

/// A pod that answers its headers at once, then `chunks` chunks `gap` apart.
async fn trickling_pod(cluster: &Cluster, chunks: usize, gap: std::time::Duration) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| async move {
                    let (sender, receiver) = tokio::sync::mpsc::channel::<
                        Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>,
                    >(1);
                    tokio::spawn(async move {
                        for _ in 0..chunks {
                            tokio::time::sleep(gap).await;
                            let chunk = hyper::body::Frame::data(bytes::Bytes::from_static(b"x"));
                            if sender.send(Ok(chunk)).await.is_err() {
                                return;
                            }
                        }
                    });
                    let body = http_body_util::StreamBody::new(ReceiverStream(receiver));
                    Ok::<_, std::convert::Infallible>(http::Response::new(body))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    cluster.server.apply(service("default", "trickle", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "trickle",
        "trickle-x",
        "http",
        port,
        &ready(&["127.0.0.1"]),
    ));
}

/// An mpsc receiver as a stream of body frames.
struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_util::Stream for ReceiverStream<T> {
    type Item = T;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeouts_cover_the_whole_response() {
    use http_body_util::BodyExt;

    let cluster = start(|p| p).await;
    // Headers at once, then 12 chunks 100 ms apart: 1.2 s to the end of the body.
    trickling_pod(&cluster, 12, std::time::Duration::from_millis(100)).await;
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let rule = |path: &str, timeouts: Value| json!({"matches": [{"path": {"value": path}}], "timeouts": timeouts, "backendRefs": [backend("trickle", 80, 1)]});
    cluster.server.apply(http_route(
        "default",
        "trickle",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["w.test"], "rules": [
            rule("/bounded", json!({"request": "500ms"})),
            rule("/patient", json!({"request": "10s"})),
        ]}),
    ));
    cluster.routes_to("w.test", "/patient", "xxxxxxxxxxxx").await;
    let request = http::Request::get(format!("http://{}/bounded", cluster.addr))
        .header("host", "w.test")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let started = std::time::Instant::now();
    let response = cluster.client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the headers came in time");
    let body = response.into_body().collect().await;
    assert!(body.is_err(), "the body was cut off at the deadline: {body:?}");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_millis(1_100), "cut off after {took:?}");
}
