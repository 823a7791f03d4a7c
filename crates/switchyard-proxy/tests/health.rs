//! Active and passive health checks with real backends that stop and come back.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use support::{Backend, TestGateway, client, eventually, get, route};
use switchyard_config::{Duration as ConfigDuration, PassiveHealthCheck, ServerHealthCheck, ServiceKind};
use tokio::net::TcpListener;

fn load_balancer(config: &mut switchyard_config::DynamicConfig) -> &mut switchyard_config::LoadBalancer {
    match &mut config.http.services.get_mut("s").unwrap().kind {
        ServiceKind::LoadBalancer(lb) => lb,
        _ => unreachable!("route() builds a load balancer"),
    }
}

/// Answers of `n` sequential requests, by body.
async fn answers(gateway: &TestGateway, n: usize) -> Vec<String> {
    let client = client();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(&client, &gateway.url("/"), None).await.2);
    }
    out
}

#[tokio::test]
async fn active_checks_take_a_stopped_server_out_and_bring_it_back() {
    let steady = Backend::start("steady").await;
    let flaky = Backend::start("flaky").await;
    let flaky_addr = flaky.addr;
    let mut config = route("PathPrefix(`/`)", &[steady.url(), flaky.url()]);
    load_balancer(&mut config).health_check = Some(ServerHealthCheck {
        path: "/health".into(),
        interval: ConfigDuration::from(Duration::from_millis(100)),
        timeout: ConfigDuration::from(Duration::from_millis(500)),
        ..ServerHealthCheck::default()
    });
    let gateway = TestGateway::start(config).await;
    assert!(answers(&gateway, 4).await.contains(&"flaky".to_owned()));

    flaky.stop();
    eventually("the stopped server out of rotation", async || {
        answers(&gateway, 4).await.iter().all(|a| a == "steady")
    })
    .await;
    // Out of rotation, no request fails while it is down.
    assert!(answers(&gateway, 10).await.iter().all(|a| a == "steady"));

    let listener = TcpListener::bind(flaky_addr).await.unwrap();
    let _back = Backend::serve(listener, "flaky");
    eventually("the server back in rotation", async || {
        answers(&gateway, 4).await.contains(&"flaky".to_owned())
    })
    .await;
}

/// The statuses other than 200 among the answers to `n` sequential requests.
async fn failures(gateway: &TestGateway, n: usize) -> Vec<u16> {
    let client = client();
    let mut out = Vec::new();
    for _ in 0..n {
        let status = get(&client, &gateway.url("/"), None).await.0;
        if status != 200 {
            out.push(status.as_u16());
        }
    }
    out
}

#[tokio::test]
async fn passive_checks_bench_a_failing_server_for_the_failure_window() {
    let steady = Backend::start("steady").await;
    // A port with nothing listening: every request to it fails.
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    let mut config = route("PathPrefix(`/`)", &[steady.url(), format!("http://{gone_addr}")]);
    // Long enough for twenty requests on a loaded machine to fall within it.
    let window = Duration::from_secs(2);
    load_balancer(&mut config).passive_health_check = Some(PassiveHealthCheck {
        failure_window: ConfigDuration::from(window),
        max_failed_attempts: 1,
    });
    let gateway = TestGateway::start(config).await;
    assert_eq!(
        failures(&gateway, 20).await,
        [502],
        "one failure benches the server; the rest go to the steady one"
    );

    // After the window the server is tried again (and fails again, once).
    tokio::time::sleep(window).await;
    assert_eq!(failures(&gateway, 10).await, [502]);
}

#[tokio::test]
async fn with_no_healthy_server_the_service_answers_503() {
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    let mut config = route("PathPrefix(`/app`)", &[format!("http://{gone_addr}")]);
    load_balancer(&mut config).health_check = Some(ServerHealthCheck {
        interval: ConfigDuration::from(Duration::from_millis(50)),
        ..ServerHealthCheck::default()
    });
    let api = switchyard_config::Router::new("PathPrefix(`/api`)", switchyard_proxy::API_SERVICE);
    config.http.routers.insert("api".into(), api);
    let gateway = TestGateway::start(config).await;
    eventually("the service without a healthy server answering 503", async || {
        get(&client(), &gateway.url("/app"), None).await.0 == 503
    })
    .await;
    let (_, _, body) = get(&client(), &gateway.url("/api/http/services/s@test"), None).await;
    assert!(
        body.contains(&format!("\"serverStatus\":{{\"http://{gone_addr}\":\"DOWN\"}}")),
        "{body}"
    );
}

/// An h2c server implementing `grpc.health.v1.Health/Check`, answering `status` (1 = SERVING).
async fn grpc_health_server(status: u8) -> std::net::SocketAddr {
    use http_body_util::BodyExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| async move {
                let answer = if req.uri().path() == "/grpc.health.v1.Health/Check" {
                    vec![0, 0, 0, 0, 2, 0x08, status]
                } else {
                    Vec::new()
                };
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().unwrap());
                let frames = vec![
                    Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(bytes::Bytes::from(answer))),
                    Ok(hyper::body::Frame::trailers(trailers)),
                ];
                let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed();
                let mut response = http::Response::new(body);
                response
                    .headers_mut()
                    .insert("content-type", "application/grpc".parse().unwrap());
                Ok::<_, std::convert::Infallible>(response)
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn grpc_probes_read_the_serving_status() {
    let serving = grpc_health_server(1).await;
    let not_serving = grpc_health_server(2).await;
    let mut config = route(
        "PathPrefix(`/app`)",
        &[format!("h2c://{serving}"), format!("h2c://{not_serving}")],
    );
    load_balancer(&mut config).health_check = Some(ServerHealthCheck {
        mode: switchyard_config::HealthCheckMode::Grpc,
        interval: ConfigDuration::from(Duration::from_millis(50)),
        ..ServerHealthCheck::default()
    });
    let api = switchyard_config::Router::new("PathPrefix(`/api`)", switchyard_proxy::API_SERVICE);
    config.http.routers.insert("api".into(), api);
    let gateway = TestGateway::start(config).await;
    let expected = format!("\"h2c://{not_serving}\":\"DOWN\"");
    eventually("the server not serving reported down", async || {
        get(&client(), &gateway.url("/api/http/services/s@test"), None)
            .await
            .2
            .contains(&expected)
    })
    .await;
    let (_, _, body) = get(&client(), &gateway.url("/api/http/services/s@test"), None).await;
    assert!(body.contains(&format!("\"h2c://{serving}\":\"UP\"")), "{body}");
}
