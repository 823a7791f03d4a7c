//! One request through an entrypoint's router in process, without sockets: what the entrypoint does
//! before routing (host, path normalization and sanitization), routing, and a route that answers at
//! once (`noop@internal`). The load test (`benches/load/run.sh`) measures the same path end to end,
//! with the sockets and the backend.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::Request;
use http_body::Body;
use switchyard_config::{DynamicConfig, EntryPoint, MemoryProvider, Router, StaticConfig};
use switchyard_proxy::{Gateway, RouterService};
use tower::ServiceExt;

fn main() {
    divan::main();
}

/// Runs a future that never waits (the noop route answers without I/O).
fn finish<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// A gateway with one catch-all router answering from `noop@internal`, and its `web` router.
fn router() -> (tokio::runtime::Runtime, RouterService) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let service = runtime.block_on(async {
        let mut static_config = StaticConfig::default();
        static_config
            .entry_points
            .insert("web".into(), EntryPoint::new("127.0.0.1:0"));
        let mut dynamic = DynamicConfig::default();
        dynamic
            .http
            .routers
            .insert("all".into(), Router::new("PathPrefix(`/`)", "noop@internal"));
        let (provider, _handle) = MemoryProvider::new("bench", dynamic);
        let gateway = Gateway::new(&static_config)
            .provider(provider)
            .throttle(std::time::Duration::ZERO)
            .start()
            .await
            .expect("the gateway starts");
        gateway.wait_for(|s| s.generation() > 0).await;
        let service = gateway.service("web").expect("the web entrypoint");
        std::mem::forget(gateway);
        service
    });
    (runtime, service)
}

fn request(service: &RouterService, target: &str) -> u16 {
    let req = Request::get(target)
        .header("host", "example.com")
        .header("user-agent", "wrk")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("a request");
    let response = finish(service.clone().oneshot(req)).expect("infallible");
    assert!(response.body().is_end_stream());
    response.status().as_u16()
}

#[divan::bench(args = ["/", "/api/users?page=2", "/api/v1/users/42/orders/7?page=2&sort=asc"])]
fn clean_path(bencher: divan::Bencher, target: &str) {
    let (_runtime, service) = router();
    bencher.bench_local(|| request(&service, divan::black_box(target)));
}

#[divan::bench(args = ["/api/./users//42/../42", "/api/%75sers/%2e%2e/users", "/api\\users"])]
fn path_to_clean(bencher: divan::Bencher, target: &str) {
    let (_runtime, service) = router();
    bencher.bench_local(|| request(&service, divan::black_box(target)));
}
