//! Graceful shutdown: stop accepting, let in-flight requests finish, close what outlives the grace period.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use support::{Backend, TestGateway, client, get, route, static_config_with};
use tokio::net::TcpStream;

#[tokio::test]
async fn in_flight_requests_finish_and_new_connections_are_refused() {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let url = gateway.url("/slow/500");
    let addr = gateway.addr;
    let in_flight = tokio::spawn(async move { get(&client(), &url, None).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    gateway.gateway.shutdown().await;
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "shutdown waited for the request"
    );
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn requests_outliving_the_grace_period_are_cut() {
    let backend = Backend::start("b").await;
    let config = static_config_with(|web| {
        web.transport.life_cycle.grace_time_out = switchyard_config::Duration::from_millis(200);
    });
    let gateway = TestGateway::start_with(config, route("PathPrefix(`/`)", &[backend.url()])).await;
    let url = gateway.url("/slow/5000");
    let in_flight = tokio::spawn(async move {
        let request = http::Request::get(url).body(support::full("")).unwrap();
        client().request(request).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    gateway.gateway.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the request was cut at the end of the grace period"
    );
}
