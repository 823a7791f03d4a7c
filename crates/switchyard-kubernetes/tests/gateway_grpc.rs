//! GRPCRoutes: methods and headers routed in their own precedence to pods that speak h2c; an
//! HTTPRoute with the same hostname on the listener is refused while the older GRPCRoute holds it.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use support::gateway::{backend, condition, eventually, gateway, http_listener, http_route, parent_condition, start};
use support::{Cluster, Pods, ready, service, slice};
use tokio::net::TcpListener;

/// An h2c gRPC server answering `{name} {HTTP version} {path}` with a gRPC content type and status.
async fn grpc_pod(cluster: &Cluster, name: &'static str) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let text = format!("{name} {:?} {}", request.version(), request.uri().path());
                    let mut response = Response::new(Full::new(Bytes::from(text)));
                    response
                        .headers_mut()
                        .insert("content-type", "application/grpc".parse().unwrap());
                    response.headers_mut().insert("grpc-status", "0".parse().unwrap());
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    cluster.server.apply(service("default", name, &[("grpc", 50051)]));
    cluster.server.apply(slice(
        "default",
        name,
        &format!("{name}-x"),
        "grpc",
        port,
        &ready(&["127.0.0.1"]),
    ));
}

/// A gRPC call over h2c to the gateway: the status and body.
async fn call(cluster: &Cluster, host: &str, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(cluster.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::post(format!("http://{host}{path}"))
        .version(Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from_static(b"\0\0\0\0\0"))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A call (path, headers) and the answer expected.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

fn grpc_route(name: &str, rules: Value) -> Value {
    let mut route = http_route(
        "default",
        name,
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["grpc.test"], "rules": rules}),
    );
    route["kind"] = json!("GRPCRoute");
    route
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_routes_reach_h2c_pods_in_their_own_precedence() {
    let cluster = start(|p| p).await;
    for name in ["say", "echo", "any", "canary"] {
        grpc_pod(&cluster, name).await;
    }
    let web = Pods::start("web", 1).await;
    cluster.server.apply(service("default", "web", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "web",
        "web-x",
        "http",
        web.port,
        &ready(&web.first(1)),
    ));
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    let to = |service: &str| json!([backend(service, 50051, 1)]);
    cluster.server.apply(grpc_route(
        "echo",
        json!([
            {"backendRefs": to("any")},
            {"matches": [{"method": {"service": "echo.Echo"}}], "backendRefs": to("echo")},
            {"matches": [{"method": {"service": "echo.Echo", "method": "Say"}}], "backendRefs": to("say")},
            {"matches": [{"method": {"service": "echo.Echo"}, "headers": [{"name": "x-env", "value": "canary"}]}],
             "backendRefs": to("canary")},
        ]),
    ));
    let site = |host: &str| {
        http_route(
            "default",
            "site",
            json!({"parentRefs": [{"name": "edge"}], "hostnames": [host], "rules": [{"backendRefs": [backend("web", 80, 1)]}]}),
        )
    };
    cluster.server.apply(site("grpc.test"));
    support::within(support::LIVE_TIMEOUT, || async {
        call(&cluster, "grpc.test", "/echo.Echo/Say", &[])
            .await
            .1
            .starts_with("say ")
    })
    .await
    .unwrap_or_else(|_| panic!("the GRPCRoute never routed: {:?}", cluster.warnings()));

    let table: &[Case] = &[
        ("/echo.Echo/Say", &[], "say HTTP/2.0 /echo.Echo/Say"),
        ("/echo.Echo/Other", &[], "echo HTTP/2.0 /echo.Echo/Other"),
        // A longer service or method outranks header matches.
        ("/echo.Echo/Say", &[("x-env", "canary")], "say HTTP/2.0 /echo.Echo/Say"),
        (
            "/echo.Echo/Other",
            &[("x-env", "canary")],
            "canary HTTP/2.0 /echo.Echo/Other",
        ),
        ("/other.Service/Call", &[], "any HTTP/2.0 /other.Service/Call"),
    ];
    for (path, headers, expected) in table {
        let (status, body) = call(&cluster, "grpc.test", path, headers).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, *expected),
            "{path} {headers:?}"
        );
    }
    // The HTTPRoute with the same hostname on the listener is refused: the GRPCRoute is older.
    eventually(&cluster.server, "HTTPRoute", "default", "site", |s| {
        parent_condition(s, "Accepted") == ("False".into(), "HostnameConflict".into())
    })
    .await;
    let (status, _) = cluster.get("grpc.test", "/echo.Echo/Say").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    eventually(&cluster.server, "GRPCRoute", "default", "echo", |s| {
        parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
    })
    .await;
    eventually(&cluster.server, "Gateway", "default", "edge", |s| {
        let web = &s["listeners"][0];
        web["attachedRoutes"] == 1 && condition(&web["conditions"], "Programmed")["status"] == "True"
    })
    .await;
    // On another hostname it is accepted, beside the GRPCRoute.
    cluster.server.apply(site("web.test"));
    cluster.routes_to("web.test", "/", "web-0").await;
    eventually(&cluster.server, "HTTPRoute", "default", "site", |s| {
        parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
    })
    .await;
    eventually(&cluster.server, "Gateway", "default", "edge", |s| {
        s["listeners"][0]["attachedRoutes"] == 2
    })
    .await;
    let (status, body) = call(&cluster, "grpc.test", "/echo.Echo/Say", &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "say HTTP/2.0 /echo.Echo/Say"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_http_route_keeps_a_wildcard_hostname_from_a_grpc_route() {
    let cluster = start(|p| p).await;
    grpc_pod(&cluster, "say").await;
    let web = Pods::start("web", 1).await;
    cluster.server.apply(service("default", "web", &[("http", 80)]));
    cluster.server.apply(slice(
        "default",
        "web",
        "web-x",
        "http",
        web.port,
        &ready(&web.first(1)),
    ));
    cluster
        .server
        .apply(gateway("default", "edge", json!([http_listener("web", "")])));
    cluster.server.apply(http_route(
        "default",
        "shop",
        json!({"parentRefs": [{"name": "edge"}], "hostnames": ["*.shop.test"], "rules": [{"backendRefs": [backend("web", 80, 1)]}]}),
    ));
    cluster.routes_to("a.shop.test", "/", "web-0").await;
    let grpc = |name: &str, host: &str| {
        let mut route = grpc_route(name, json!([{"backendRefs": [backend("say", 50051, 1)]}]));
        route["spec"]["hostnames"] = json!([host]);
        route
    };
    // Covered by the HTTPRoute's wildcard: refused. Another hostname: accepted.
    cluster.server.apply(grpc("covered", "a.shop.test"));
    cluster.server.apply(grpc("apart", "grpc.other.test"));
    eventually(&cluster.server, "GRPCRoute", "default", "covered", |s| {
        parent_condition(s, "Accepted") == ("False".into(), "HostnameConflict".into())
    })
    .await;
    eventually(&cluster.server, "GRPCRoute", "default", "apart", |s| {
        parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
    })
    .await;
    // A status can be written before the configuration it goes with is live.
    support::within(support::LIVE_TIMEOUT, || async {
        call(&cluster, "grpc.other.test", "/echo.Echo/Say", &[]).await
            == (StatusCode::OK, "say HTTP/2.0 /echo.Echo/Say".to_owned())
    })
    .await
    .expect("the GRPCRoute on another hostname serves");
    let (_, body) = call(&cluster, "a.shop.test", "/echo.Echo/Say", &[]).await;
    assert_eq!(body, "web-0", "the HTTPRoute keeps a.shop.test");
    // Once the HTTPRoute is gone, the GRPCRoute gets the hostname.
    assert!(cluster.server.delete("HTTPRoute", "default", "shop"));
    eventually(&cluster.server, "GRPCRoute", "default", "covered", |s| {
        parent_condition(s, "Accepted") == ("True".into(), "Accepted".into())
    })
    .await;
    support::within(support::LIVE_TIMEOUT, || async {
        call(&cluster, "a.shop.test", "/echo.Echo/Say", &[]).await.1 == "say HTTP/2.0 /echo.Echo/Say"
    })
    .await
    .expect("the GRPCRoute serves a.shop.test once the HTTPRoute is gone");
}
