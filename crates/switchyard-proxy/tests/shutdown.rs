//! Graceful shutdown: stop accepting, let in-flight requests finish, close what outlives the grace period.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use support::{Backend, PATIENCE, TestGateway, client, eventually, get, route, static_config_with};
use tokio::net::TcpStream;

#[tokio::test]
async fn in_flight_requests_finish_and_new_connections_are_refused() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let (url, addr) = (gateway.url("/held"), gateway.addr);
    let in_flight = tokio::spawn(async move { get(&client(), &url, None).await });
    backend.wait_for_requests(1).await;

    let shutdown = tokio::spawn(gateway.gateway.shutdown());
    eventually("the listener closing while a request is in flight", async || {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    // Time for a shutdown that did not wait for the request to end.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!shutdown.is_finished(), "shutdown waits for the request in flight");
    assert!(!in_flight.is_finished(), "the request is held by the backend");

    backend.release(1);
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
    tokio::time::timeout(PATIENCE, shutdown)
        .await
        .expect("shutdown ends once the request is answered")
        .unwrap();
}

#[tokio::test]
async fn requests_outliving_the_grace_period_are_cut() {
    let backend = Backend::start("b").await;
    let grace = Duration::from_millis(200);
    let config = static_config_with(|web| {
        web.transport.life_cycle.grace_time_out = switchyard_config::Duration::from(grace);
    });
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;
    let url = gateway.url("/held");
    let in_flight = tokio::spawn(async move {
        let request = http::Request::get(url).body(support::full("")).unwrap();
        client().request(request).await
    });
    backend.wait_for_requests(1).await;

    // The backend never answers: only the end of the grace period can end the shutdown.
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, gateway.gateway.shutdown())
        .await
        .expect("the request outliving the grace period is cut");
    assert!(started.elapsed() >= grace, "cut after {:?}", started.elapsed());
    let error = in_flight.await.unwrap().unwrap_err();
    let cause = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<hyper::Error>());
    assert!(
        cause.is_some_and(hyper::Error::is_incomplete_message),
        "the connection closes under the request: {error:?}"
    );
}
